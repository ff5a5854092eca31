//! Probes: one file per kind of check, and the registry below that lists them all.
//!
//! Each `<kind>.rs` holds the kind's inventory table (its TOML keys, declared with
//! `config::check_table!`, and their validation in `Table::plan`) and its ready-to-run probe
//! (which implements [`kind::RunProbe`]). Kinds import only from below: `config`, `certs`,
//! `outcome`, and the helpers here in [`kind`] and [`net`]. Nothing imports this file but
//! the layers above it (`inventory`, `runner`).
//!
//! **To add a kind:** write `src/probe/<kind>.rs`, then add one line to [`kinds!`] below
//! (and `pub(crate) mod <kind>;`). The line makes the `Probe` variant, its `kind()`, `run()`
//! and timeout wording, the `[[<kind>]]` field of the inventory file and its plan call.

pub(crate) mod backup;
pub(crate) mod borg;
pub(crate) mod command;
pub(crate) mod crl;
pub(crate) mod dicom;
pub(crate) mod dimse;
pub(crate) mod disk;
pub(crate) mod dns;
pub(crate) mod endpoint;
pub(crate) mod exec;
pub(crate) mod fhir;
pub(crate) mod freshness;
pub(crate) mod hl7;
pub(crate) mod http;
pub(crate) mod kind;
pub(crate) mod ldap;
pub(crate) mod legacy_tls;
pub(crate) mod metrics;
pub(crate) mod mirth;
pub(crate) mod net;
pub(crate) mod ntp;
pub(crate) mod pgbackrest;
pub(crate) mod ping;
pub(crate) mod posture;
pub(crate) mod printer;
pub(crate) mod process;
pub(crate) mod restic;
pub(crate) mod server;
pub(crate) mod snmp;
pub(crate) mod sql;
pub(crate) mod starttls;
pub(crate) mod system;
pub(crate) mod tls;
pub(crate) mod ups;
pub(crate) mod worklist;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{CheckMeta, ConfigError, Loader, MaintenanceTable, Planned, SettingsTable, Table};
use crate::outcome::{Outcome, Recall};
use kind::{Budget, RunProbe};

/// The registry: one line per kind, `Variant: toml_key => module::Table`, then in brackets the
/// other kinds its table makes, as reports name them (`[[server]]` makes `ping` checks).
macro_rules! kinds {
    ($($variant:ident : $key:ident => $table:ty $([$($derived:literal),*])?),* $(,)?) => {
        /// Every kind a report can name: each table's own, then the ones tables derive. The
        /// JSON Schema's list and the every-kind test are checked against it.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const KINDS: &[&str] = &[$(stringify!($key),)* $($($($derived,)*)?)*];

        /// Every `[[table]]` of the inventory that makes checks.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const TABLES: &[&str] = &[$(stringify!($key)),*];

        /// Every kind of check. An enum rather than trait objects: the set of kinds is closed
        /// and comes from the inventory.
        #[derive(Debug)]
        pub(crate) enum Probe {
            $($variant(<$table as Table>::Probe),)*
        }

        /// The inventory file as written: `[settings]` and one `[[table]]` array per kind.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct InventoryFile {
            #[serde(default)]
            pub settings: SettingsTable,
            /// Windows in which checks are shown `maint` (not a kind: they name checks).
            #[serde(default)]
            pub maintenance: Vec<MaintenanceTable>,
            /// `[[notify]]`: who is told of changes (not a kind: they name checks).
            #[serde(default)]
            pub notify: Vec<$crate::config::NotifyTable>,
            /// `[status_page]` (top file only): the page `--output html:PATH` writes.
            pub status_page: Option<toml::Spanned<$crate::config::StatusPageTable>>,
            /// Other inventory files to merge: globs relative to this file.
            #[serde(default)]
            pub include: Vec<toml::Spanned<String>>,
            $(#[serde(default)] $key: Vec<$table>,)*
        }

        impl InventoryFile {
            /// Plans every table of every kind, in kind order (the caller sorts by position).
            pub fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<Probe>>, ConfigError> {
                let mut planned = Vec::new();
                $(
                    for table in self.$key {
                        planned.extend(table.plan(loader)?.into_iter().map(|p| p.map(Probe::$variant)));
                    }
                )*
                Ok(planned)
            }
        }

        impl Probe {
            /// The kind as reports name it.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Probe::$variant(p) => p.kind(),)*
                }
            }

            /// Runs the probe. Each kind's future is boxed: unboxed, this future would be as
            /// large as the largest kind's (a command's output buffers, a DICOM association),
            /// and every one of a thousand queued checks would carry that size. Measured:
            /// peak RSS with 1,000 endpoints went from about 12 MiB to 24 MiB without the boxes.
            pub fn run<'a>(
                &'a self,
                budget: Budget,
                earlier: Option<&'a Recall>,
            ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
                match self {
                    $(Probe::$variant(p) => Box::pin(p.run_recalling(budget, earlier)),)*
                }
            }

            /// What to say when the whole probe ran out of time.
            pub fn timed_out(&self, timeout: Duration) -> Outcome {
                match self {
                    $(Probe::$variant(p) => p.timed_out(timeout),)*
                }
            }
        }
    };
}

kinds! {
    Endpoint: endpoint => endpoint::EndpointTable,
    Server: server => server::ServerTable ["ping", "closed-port"],
    Tls: tls => tls::TlsTable,
    Backup: backup => backup::BackupTable,
    Disk: disk => disk::DiskTable,
    Fhir: fhir => fhir::FhirTable,
    Command: command => command::CommandTable,
    Hl7: hl7 => hl7::Hl7Table,
    System: system => system::SystemTable,
    Process: process => process::ProcessTable,
    Dns: dns => dns::DnsTable,
    Dicom: dicom => dicom::DicomTable,
    Worklist: worklist => worklist::WorklistTable,
    Mirth: mirth => mirth::MirthTable,
    Restic: restic => restic::ResticTable,
    Borg: borg => borg::BorgTable,
    Pgbackrest: pgbackrest => pgbackrest::PgbackrestTable,
    Ntp: ntp => ntp::NtpTable,
    Ldap: ldap => ldap::LdapTable,
    Ups: ups => ups::UpsTable,
    Metrics: metrics => metrics::MetricsTable,
    Printer: printer => printer::PrinterTable,
    Sql: sql => sql::SqlTable,
    Snmp: snmp => snmp::SnmpTable,
}

/// One thing to probe, ready to run: everything in it has been validated.
#[derive(Debug)]
pub(crate) struct Check {
    pub meta: CheckMeta,
    pub probe: Probe,
    /// Indices (in the run's list) of the checks this one depends on.
    pub deps: Vec<usize>,
    /// What the check counted at the last run that counted, from the state file.
    pub earlier: Option<Recall>,
}

impl Check {
    pub fn kind(&self) -> &'static str {
        self.probe.kind()
    }
}
