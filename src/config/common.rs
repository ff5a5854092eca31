//! The keys every check table shares, declared once.
//!
//! serde's `flatten` would be the obvious way to share fields, but it cannot be combined with
//! `deny_unknown_fields` and it loses `toml::Spanned` positions. So [`check_table!`] writes
//! the common fields into each kind's table struct, and [`CommonKeys`] carries them out.
//!
//! To add a common key (`hint = "..."`): one field in the macro below, the same field in
//! [`CommonKeys`] and in [`CheckMeta`], and one line in each conversion (`depends_on`,
//! `retries`, `retry_delay`, `hint` and `runbook` were added this way). Nothing else in the
//! crate changes until something uses the key.

use std::time::Duration;

use toml::Spanned;

use super::values::Timeout;
use crate::outcome::Severity;

/// Declares a kind's inventory table: the common keys (`name`, `severity`, `tags`,
/// `timeout`) followed by the kind's own fields, with `deny_unknown_fields` so a typo is an
/// error with a did-you-mean over all of them.
macro_rules! check_table {
    // A table of a protocol that may run over TLS (`[[hl7]]`, `[[dicom]]`, `[[worklist]]`):
    // its own keys, then the TLS keys, declared once here, and `protocol_tls_keys()`.
    (
        $(#[$meta:meta])*
        $vis:vis struct $table:ident with protocol_tls {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $crate::config::common::check_table! {
            $(#[$meta])*
            $vis struct $table {
                $( $(#[$field_meta])* $field : $ty, )*
                /// Over TLS (the service's TLS port, or stunnel in front of it); the
                /// certificate is judged as by [[tls]].
                #[serde(default)]
                tls: bool,
                ca_file: Option<toml::Spanned<String>>,
                /// For peers that require mutual TLS: our certificate (PEM) and its key,
                /// relative to the inventory.
                client_cert: Option<toml::Spanned<String>>,
                client_key: Option<toml::Spanned<String>>,
                /// The server's key (see `with certificate`).
                pin: Option<toml::Spanned<$crate::config::common::PinsWritten>>,
                cert_warn_days: Option<u32>,
                cert_crit_days: Option<toml::Spanned<u32>>,
            }
        }

        impl $table {
            /// The TLS keys, for `Loader::protocol_tls`.
            fn protocol_tls_keys(&self) -> $crate::config::common::ProtocolTlsKeys<'_> {
                $crate::config::common::ProtocolTlsKeys {
                    tls: self.tls,
                    host: &self.host,
                    trust: $crate::config::common::TrustKeys { ca_file: self.ca_file.as_ref(), pin: self.pin.as_ref() },
                    client_cert: self.client_cert.as_ref(),
                    client_key: self.client_key.as_ref(),
                    cert_warn_days: self.cert_warn_days,
                    cert_crit_days: self.cert_crit_days.as_ref(),
                }
            }
        }
    };
    // A table that judges a server's certificate (`[[endpoint]]`, `[[fhir]]`, `[[tls]]`): its
    // own keys, `ca_file`, `pin` and `check_revocation`, then the thresholds `[settings]`
    // shares (`with_cert_thresholds!`), each declared once with one type, `cert_keys()` and
    // `trust_keys()`.
    (
        $(#[$meta:meta])*
        $vis:vis struct $table:ident with certificate {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $crate::config::settings::with_cert_thresholds! {
            check_table {
                $(#[$meta])*
                $vis struct $table
            } {
                $( $(#[$field_meta])* $field : $ty, )*
                /// Extra trusted CA (PEM), relative to the inventory file; a server's own
                /// certificate listed there is trusted as that server's.
                ca_file: Option<toml::Spanned<String>>,
                /// The server's key: "sha256//<base64>" (curl's --pinnedpubkey), or a list.
                pin: Option<toml::Spanned<$crate::config::common::PinsWritten>>,
                /// Download the leaf's CRL and fail a revoked certificate; a CRL that cannot
                /// be had or trusted is a warning.
                #[serde(default)]
                check_revocation: bool,
            }
        }

        impl $table {
            /// Whom the table trusts, for `Loader::trust`.
            fn trust_keys(&self) -> $crate::config::common::TrustKeys<'_> {
                $crate::config::common::TrustKeys { ca_file: self.ca_file.as_ref(), pin: self.pin.as_ref() }
            }

            /// Every certificate key as written, for a kind that connects as `[[endpoint]]`
            /// does (`Connection::plan`); kinds with a handshake of their own take the parts.
            #[allow(dead_code)]
            fn certificate_keys(&self) -> $crate::config::common::CertificateKeys<'_> {
                $crate::config::common::CertificateKeys {
                    trust: self.trust_keys(),
                    certs: self.cert_keys(),
                    min_tls: self.min_tls.as_ref(),
                    check_revocation: self.check_revocation,
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $table:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $table {
            /// Unique in the inventory; how people and `--only` refer to the check.
            name: toml::Spanned<String>,
            #[serde(default)]
            severity: $crate::outcome::Severity,
            #[serde(default)]
            tags: Vec<String>,
            timeout: Option<$crate::config::values::Timeout>,
            /// Checks that must not fail first (names, or `tag:x`); when one does, this one
            /// is skipped rather than probed.
            #[serde(default)]
            depends_on: Vec<toml::Spanned<String>>,
            /// Further attempts after a failure, all within the timeout.
            retries: Option<toml::Spanned<u32>>,
            retry_delay: Option<$crate::config::values::Timeout>,
            /// The next step for the person on shift when this check fails or warns.
            hint: Option<String>,
            /// Where the full procedure is written down (a URL or a path).
            runbook: Option<String>,
            /// What staff call it on the status page (default: the check's name, or its
            /// server's); checks sharing one are one row there.
            public_name: Option<String>,
            /// `public = false` keeps the check off the status page.
            public: Option<bool>,
            $( $(#[$field_meta])* $field : $ty, )*
        }

        impl $table {
            /// The common keys, for `Loader::check`.
            fn common(&self) -> $crate::config::common::CommonKeys {
                $crate::config::common::CommonKeys {
                    name: self.name.clone(),
                    severity: self.severity,
                    tags: self.tags.clone(),
                    timeout: self.timeout,
                    depends_on: self.depends_on.clone(),
                    retries: self.retries.clone(),
                    retry_delay: self.retry_delay,
                    hint: self.hint.clone(),
                    runbook: self.runbook.clone(),
                    public_name: self.public_name.clone(),
                    public: self.public,
                }
            }
        }
    };
}
pub(crate) use check_table;

/// The TLS keys of a protocol that is not HTTP, as written (see `check_table!`'s
/// `with protocol_tls`): `tls`, `ca_file`, `client_cert`/`client_key` for mutual TLS, and
/// the day thresholds.
pub(crate) struct ProtocolTlsKeys<'a> {
    pub tls: bool,
    /// The table's `host`: the name the certificate must carry.
    pub host: &'a Spanned<String>,
    pub trust: TrustKeys<'a>,
    pub client_cert: Option<&'a Spanned<String>>,
    pub client_key: Option<&'a Spanned<String>>,
    pub cert_warn_days: Option<u32>,
    pub cert_crit_days: Option<&'a Spanned<u32>>,
}

/// Whom a table trusts, as written: `ca_file` and `pin`.
#[derive(Default, Clone, Copy)]
pub(crate) struct TrustKeys<'a> {
    pub ca_file: Option<&'a Spanned<String>>,
    pub pin: Option<&'a Spanned<PinsWritten>>,
}

/// The `with certificate` keys of one table, as written (see `certificate_keys`).
pub(crate) struct CertificateKeys<'a> {
    pub trust: TrustKeys<'a>,
    pub certs: crate::config::settings::CertKeys<'a>,
    pub min_tls: Option<&'a Spanned<String>>,
    pub check_revocation: bool,
}

/// `pin = "sha256//..."`, or a list of them (the next key alongside the current one, while
/// a certificate is being replaced).
#[derive(serde::Deserialize, Clone, Debug)]
#[serde(untagged, expecting = "pin must be \"sha256//<base64>\" (as curl --pinnedpubkey) or a list of them")]
pub(crate) enum PinsWritten {
    One(String),
    Many(Vec<String>),
}

/// The common keys of one table, as written.
#[derive(Debug, Clone)]
pub(crate) struct CommonKeys {
    pub name: Spanned<String>,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub timeout: Option<Timeout>,
    pub depends_on: Vec<Spanned<String>>,
    pub retries: Option<Spanned<u32>>,
    pub retry_delay: Option<Timeout>,
    pub hint: Option<String>,
    pub runbook: Option<String>,
    pub public_name: Option<String>,
    pub public: Option<bool>,
}

/// Everything about a check except its probe: what reporters, the runner and `--only` use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CheckMeta {
    /// Unique in the inventory. For a `[[server]]` it is `NAME:PORT`.
    pub name: String,
    /// The inventory table's own name when one table makes several checks (`[[server]]`),
    /// so `--only pacs-01` selects all of that server's ports.
    pub group: Option<String>,
    /// What is probed, as shown to people. Never holds an expanded secret.
    pub target: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// This check's own timeout; `None` means the run's default.
    pub timeout: Option<Duration>,
    /// `depends_on` as written (names and `tag:x`); resolved by `inventory`.
    pub depends_on: Vec<String>,
    /// This check's own `retries` and `retry_delay`; `None` means `[settings]`'.
    pub retries: Option<u32>,
    pub retry_delay: Option<Duration>,
    /// What to do when it fails, and where the procedure is (`hint`, `runbook`).
    pub hint: Option<String>,
    pub runbook: Option<String>,
    /// `public_name`, else the server's name, else the check's: its row on the status page.
    pub public_name: String,
    /// `public = false`: kept off the status page.
    pub hidden: bool,
}

impl CheckMeta {
    /// A check named `name` (the table's name, or `NAME:PORT`) made by the table `common`.
    pub fn new(common: &CommonKeys, name: String, target: String) -> Self {
        let group = (name != *common.name.get_ref()).then(|| common.name.get_ref().clone());
        Self {
            name,
            group,
            target,
            severity: common.severity,
            tags: common.tags.clone(),
            timeout: common.timeout.map(|t| t.0),
            depends_on: common.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
            retries: common.retries.as_ref().map(|r| *r.get_ref()),
            retry_delay: common.retry_delay.map(|d| d.0),
            hint: common.hint.clone().filter(|h| !h.trim().is_empty()),
            runbook: common.runbook.clone().filter(|r| !r.trim().is_empty()),
            public_name: common
                .public_name
                .clone()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| common.name.get_ref().clone()),
            hidden: common.public == Some(false),
        }
    }
}
