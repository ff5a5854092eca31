//! `[settings]`: defaults for the whole run.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::values::{lifetime_share, Timeout};
use crate::certs::CertLimits;

/// The default per-check timeout. Long enough for a slow EHR login page, short enough that
/// a hung server costs the morning seconds, not minutes.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes in flight at once. Far above what a clinic inventory needs, far below what makes
/// a small firewall or the local resolver drop connections.
pub(crate) const DEFAULT_CONCURRENCY: usize = 64;

/// Probes in flight at most, whatever is asked (the CLI's limit too).
pub(crate) const MAX_CONCURRENCY: usize = 100_000;

/// More attempts than this only hide an outage.
pub(crate) const MAX_RETRIES: u32 = 10;

/// Between attempts of a flaky check: long enough for a dropped packet's retransmission.
pub(crate) const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(500);

/// `[settings]`, with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub timeout: Duration,
    pub concurrency: usize,
    pub cert: CertLimits,
    /// `proxy` as written; each HTTP table reads it through `Loader::proxy`.
    pub proxy: Option<Spanned<String>>,
    /// Further attempts after a failure, for checks without their own `retries`.
    pub retries: u32,
    pub retry_delay: Duration,
    /// The whole run ends by then: checks still running fail.
    pub deadline: Option<Duration>,
    /// Where the state between runs is kept, as written (relative to the inventory).
    pub state: Option<String>,
    /// The heartbeat URL as written (it holds a secret); expanded by `inventory`.
    pub heartbeat: Option<Spanned<String>>,
    /// Each heartbeat ping's own timeout.
    pub heartbeat_timeout: Option<Duration>,
    /// The lowest TLS version servers may still accept, for checks without their own.
    pub min_tls: Option<Spanned<String>>,
}

/// The certificate thresholds as written: a table's (`[[endpoint]]`, `[[fhir]]`, `[[tls]]`
/// declare them with `check_table!`'s `with certificate`) or `[settings]`' (the same keys
/// with the same types), judged by the one [`CertKeys::limits`].
#[derive(Default)]
pub(crate) struct CertKeys<'a> {
    pub warn_days: Option<u32>,
    pub crit_days: Option<&'a Spanned<u32>>,
    pub warn: Option<&'a Spanned<String>>,
    pub crit: Option<&'a Spanned<String>>,
    pub max_validity_days: Option<u32>,
}

impl CertKeys<'_> {
    /// These thresholds over `defaults`: days (`cert_warn_days`, `cert_crit_days`; the fail
    /// threshold may not be above the warn one), shares of the lifetime (`cert_warn =
    /// "25%"`, which replace the days), and `max_validity_days`. `Err`: where, and why.
    pub fn limits(&self, defaults: CertLimits) -> Result<CertLimits, (Range<usize>, String)> {
        // A check that sets its own days is judged in days, whatever shares [settings] has.
        let inherit_shares = self.warn_days.is_none() && self.crit_days.is_none();
        let share = |own: Option<&Spanned<String>>, default: Option<f64>| match own {
            Some(text) => lifetime_share(text.get_ref()).map(Some).map_err(|why| (text.span(), why.to_owned())),
            None => Ok(default.filter(|_| inherit_shares)),
        };
        let limits = CertLimits {
            warn_days: self.warn_days.unwrap_or(defaults.warn_days),
            crit_days: self.crit_days.map_or(defaults.crit_days, |c| *c.get_ref()),
            warn_percent: share(self.warn, defaults.warn_percent)?,
            crit_percent: share(self.crit, defaults.crit_percent)?,
            max_validity_days: self.max_validity_days.or(defaults.max_validity_days),
        };
        if let Some(c) = self.crit_days.filter(|_| limits.crit_days > limits.warn_days) {
            let why = format!(
                "cert_crit_days ({}) must not be more than cert_warn_days ({}): fail at fewer days left than you warn",
                limits.crit_days, limits.warn_days
            );
            return Err((c.span(), why));
        }
        if let (Some(why), Some(span)) = (limits.shares_out_of_order(), self.crit) {
            return Err((span.span(), why));
        }
        Ok(limits)
    }
}

/// The certificate thresholds, declared once with one type each, for `[settings]` and for
/// every table that judges a certificate (`check_table!`'s `with certificate`): writes
/// `$then! { $head { $fields <the thresholds> } }` and the struct's `cert_keys()`, which
/// [`CertKeys::limits`] judges. A new threshold is one field here and one in [`CertKeys`].
macro_rules! with_cert_thresholds {
    (
        $then:ident {
            $(#[$meta:meta])*
            $vis:vis struct $name:ident
        } {
            $($fields:tt)*
        }
    ) => {
        $then! {
            $(#[$meta])*
            $vis struct $name {
                $($fields)*
                cert_warn_days: Option<u32>,
                cert_crit_days: Option<toml::Spanned<u32>>,
                /// Shares of the lifetime left, like "25%" and "10%": replace the day thresholds.
                cert_warn: Option<toml::Spanned<String>>,
                cert_crit: Option<toml::Spanned<String>>,
                /// A leaf valid for longer than this fails (CA/B Forum: 200 days from 2026).
                max_validity_days: Option<u32>,
                /// "1.2": fail when the server still completes a TLS 1.0 or 1.1 handshake
                /// ("1.3": 1.2 too); the negotiated version and cipher are then said.
                min_tls: Option<toml::Spanned<String>>,
            }
        }

        impl $name {
            /// The certificate thresholds as written, for [`CertKeys::limits`].
            fn cert_keys(&self) -> $crate::config::settings::CertKeys<'_> {
                $crate::config::settings::CertKeys {
                    warn_days: self.cert_warn_days,
                    crit_days: self.cert_crit_days.as_ref(),
                    warn: self.cert_warn.as_ref(),
                    crit: self.cert_crit.as_ref(),
                    max_validity_days: self.max_validity_days,
                }
            }
        }
    };
}
pub(crate) use with_cert_thresholds;

/// A struct as written, for [`with_cert_thresholds!`]'s `[settings]`.
macro_rules! plain_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        $vis struct $name { $($fields)* }
    };
}

with_cert_thresholds! {
    plain_struct {
        /// `[settings]` as written; the certificate thresholds are every check's default.
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct SettingsTable
    } {
        timeout: Option<Timeout>,
        concurrency: Option<Spanned<usize>>,
        proxy: Option<Spanned<String>>,
        retries: Option<Spanned<u32>>,
        retry_delay: Option<Timeout>,
        deadline: Option<Timeout>,
        state: Option<String>,
        heartbeat: Option<Spanned<String>>,
        heartbeat_timeout: Option<Timeout>,
    }
}

impl SettingsTable {
    /// Validates the table and applies the defaults.
    pub fn settings(self, path: &Path, source: &str) -> Result<Settings, ConfigError> {
        let cert = self
            .cert_keys()
            .limits(CertLimits::default())
            .map_err(|(span, why)| ConfigError::at(path, source, span, why))?;
        let concurrency = match self.concurrency {
            Some(c) if *c.get_ref() == 0 => {
                return Err(ConfigError::at(path, source, c.span(), "concurrency must be at least 1"));
            }
            Some(c) if *c.get_ref() > MAX_CONCURRENCY => {
                let why = format!("concurrency is at most {MAX_CONCURRENCY}; the open-file limit caps it lower anyway");
                return Err(ConfigError::at(path, source, c.span(), why));
            }
            Some(c) => c.into_inner(),
            None => DEFAULT_CONCURRENCY,
        };
        if let Some(r) = self.retries.as_ref().filter(|r| *r.get_ref() > MAX_RETRIES) {
            return Err(ConfigError::at(path, source, r.span(), format!("retries is at most {MAX_RETRIES}")));
        }
        Ok(Settings {
            timeout: self.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
            concurrency,
            cert,
            proxy: self.proxy,
            retries: self.retries.map_or(0, |r| r.into_inner()),
            retry_delay: self.retry_delay.map_or(DEFAULT_RETRY_DELAY, |d| d.0),
            deadline: self.deadline.map(|d| d.0),
            state: self.state,
            heartbeat: self.heartbeat,
            heartbeat_timeout: self.heartbeat_timeout.map(|d| d.0),
            min_tls: self.min_tls,
        })
    }
}
