//! The toolkit every kind's table is built with.
//!
//! Each kind of check has its own table (`[[endpoint]]`, `[[server]]`, ...), defined next to
//! its probe in `src/probe/<kind>.rs` with [`check_table!`]. This module owns what all
//! tables share, and knows no kind:
//!
//! * [`common`]: the common keys (`name`, `severity`, `tags`, `timeout`) and [`CheckMeta`];
//! * [`loader`]: [`Loader`], which tables use for errors, `${VAR}`, paths and trust stores;
//! * [`settings`]: `[settings]` and its defaults;
//! * [`values`]: durations, sizes, thresholds, `${VAR}` expansion;
//! * [`selector`]: how `--only`, `depends_on`, maintenance, acks and history name checks;
//! * [`error`]: [`ConfigError`], always with file, line and column where there is one.
//!
//! Reading a whole inventory is `crate::inventory`'s job, above the kind registry.

pub(crate) mod common;
mod error;
mod loader;
mod maintenance;
mod notify;
mod selector;
pub(crate) mod settings;
mod status_page;
pub(crate) mod values;

pub(crate) use self::common::{check_table, CheckMeta, ProtocolTlsKeys};
pub(crate) use self::error::ConfigError;
pub(crate) use self::loader::{Env, Loader, Planned, Table};
pub(crate) use self::maintenance::{to_system_time, to_timestamp, MaintenanceTable, Window};
pub(crate) use self::notify::{Email, Notifier, NotifyKind, NotifyTable, On, Target};
pub(crate) use self::selector::Selector;
pub(crate) use self::settings::{Settings, SettingsTable};
pub(crate) use self::status_page::{StatusPage, StatusPageTable};
