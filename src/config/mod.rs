//! Reading the inventory (`checks.toml`) into ready-to-run checks.
//!
//! Every kind of check has its own table (`[[endpoint]]`, `[[server]]`, ...) whose keys are
//! defined next to its probe, in `src/probe/<kind>.rs`. This module owns what all tables share:
//! the `[settings]` table, the common keys (`name`, `severity`, `tags`, `timeout`), `${VAR}`
//! expansion, paths relative to the inventory, and the rule that names are unique.
//!
//! All errors are [`ConfigError`]s naming file, line and column, so `rounds validate` can be
//! run before an inventory change is trusted with the morning.

mod error;
pub mod values;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use self::error::{ConfigError, Location};
use self::values::HumanDuration;
use crate::certs::{CertLimits, Trust};
use crate::check::{Check, Severity};
use crate::probe::{backup, command, dicom, disk, dns, fhir, hl7, http, process, system, tcp, tls, Probe};
use crate::secrets::Secrets;

/// The default per-check timeout. Long enough for a slow EHR login page, short enough that
/// a hung server costs the morning seconds, not minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes in flight at once. Far above what a clinic inventory needs, far below what makes
/// a small firewall or the local resolver drop connections.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The loaded inventory.
#[derive(Debug)]
pub struct Inventory {
    pub path: PathBuf,
    pub settings: Settings,
    /// In the order they appear in the file.
    pub checks: Vec<Check>,
    pub secrets: Secrets,
}

/// `[settings]`, with defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub concurrency: usize,
    pub cert: CertLimits,
}

/// The inventory file as written. Each `Vec` is one kind's `[[table]]` array.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(default)]
    settings: SettingsTable,
    #[serde(default)]
    endpoint: Vec<http::EndpointTable>,
    #[serde(default)]
    server: Vec<tcp::ServerTable>,
    #[serde(default)]
    tls: Vec<tls::TlsTable>,
    #[serde(default)]
    backup: Vec<backup::BackupTable>,
    #[serde(default)]
    disk: Vec<disk::DiskTable>,
    #[serde(default)]
    fhir: Vec<fhir::FhirTable>,
    #[serde(default)]
    command: Vec<command::CommandTable>,
    #[serde(default)]
    hl7: Vec<hl7::Hl7Table>,
    #[serde(default)]
    system: Vec<system::SystemTable>,
    #[serde(default)]
    process: Vec<process::ProcessTable>,
    #[serde(default)]
    dns: Vec<dns::DnsTable>,
    #[serde(default)]
    dicom: Vec<dicom::DicomTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsTable {
    timeout: Option<HumanDuration>,
    concurrency: Option<Spanned<usize>>,
    cert_warn_days: Option<u32>,
    cert_crit_days: Option<Spanned<u32>>,
}

/// The keys every check table has. Each table struct repeats these four fields (serde's
/// `flatten` cannot be combined with `deny_unknown_fields`) and hands them over here.
pub struct CommonKeys {
    pub name: Spanned<String>,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub timeout: Option<HumanDuration>,
}

/// One kind's inventory table (`[[endpoint]]`, `[[server]]`, ...), as written.
pub trait Table {
    /// Validates the table and turns it into checks (a `[[server]]` makes one per port).
    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned>, ConfigError>;
}

fn plan_all<T: Table>(tables: Vec<T>, loader: &mut Loader, planned: &mut Vec<Planned>) -> Result<(), ConfigError> {
    for table in tables {
        planned.extend(table.plan(loader)?);
    }
    Ok(())
}

/// One check as a table planned it, with where its name stands in the file.
pub struct Planned {
    pub check: Check,
    pub name_span: Range<usize>,
}

/// What a table needs while it turns itself into checks.
pub struct Loader<'a> {
    path: &'a Path,
    source: &'a str,
    dir: PathBuf,
    env: &'a dyn Fn(&str) -> Option<String>,
    pub settings: Settings,
    secrets: Secrets,
    trusts: HashMap<Option<PathBuf>, Arc<Trust>>,
}

impl Loader<'_> {
    /// An error at `span` of the inventory.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.source, span, message)
    }

    /// Expands `${VAR}` from the environment and remembers the values as secrets.
    pub fn expand(&mut self, value: &Spanned<String>) -> Result<String, ConfigError> {
        let (text, used) =
            values::expand_vars(value.get_ref(), self.env).map_err(|why| self.error(value.span(), why))?;
        used.into_iter().for_each(|v| self.secrets.add(v));
        Ok(text)
    }

    /// A path from the inventory: relative paths are relative to the inventory file, so the
    /// same inventory works from cron, systemd and an interactive shell alike.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    /// The trust store for TLS: the system's CAs plus `ca_file`, read and checked now.
    pub fn trust(&mut self, ca_file: Option<&Spanned<String>>) -> Result<Arc<Trust>, ConfigError> {
        let path = ca_file.map(|f| self.resolve_path(f.get_ref()));
        if let Some(trust) = self.trusts.get(&path) {
            return Ok(trust.clone());
        }
        let trust = match (&path, ca_file) {
            (Some(p), Some(spanned)) => Trust::with_ca_file(p).map_err(|why| self.error(spanned.span(), why))?,
            _ => Trust::system(),
        };
        let trust = Arc::new(trust);
        self.trusts.insert(path, trust.clone());
        Ok(trust)
    }

    /// A table's own certificate thresholds (`cert_warn_days`, `cert_crit_days`), falling
    /// back to `[settings]`.
    pub fn cert_limits(&self, warn: Option<u32>, crit: Option<u32>) -> CertLimits {
        let defaults = self.settings.cert;
        CertLimits { warn_days: warn.unwrap_or(defaults.warn_days), crit_days: crit.unwrap_or(defaults.crit_days) }
    }

    /// A host name or address from the inventory, trimmed; empty is an error.
    pub fn host(&self, host: &Spanned<String>) -> Result<String, ConfigError> {
        let trimmed = host.get_ref().trim();
        if trimmed.is_empty() {
            return Err(self.error(host.span(), "host cannot be empty"));
        }
        Ok(trimmed.to_owned())
    }

    /// The one check of a table that makes one check, named after the table.
    pub fn single(&self, common: &CommonKeys, target: String, probe: Probe) -> Result<Vec<Planned>, ConfigError> {
        Ok(vec![self.check(common, common.name.get_ref().clone(), target, probe)?])
    }

    /// Builds a check from the common keys and what the table worked out.
    pub fn check(
        &self,
        common: &CommonKeys,
        name: String,
        target: String,
        probe: Probe,
    ) -> Result<Planned, ConfigError> {
        if common.name.get_ref().trim().is_empty() {
            return Err(self.error(common.name.span(), "a check's name cannot be empty"));
        }
        let group = (name != *common.name.get_ref()).then(|| common.name.get_ref().clone());
        Ok(Planned {
            check: Check {
                name,
                group,
                target,
                severity: common.severity,
                tags: common.tags.clone(),
                timeout: common.timeout.map(|t| t.0),
                probe,
            },
            name_span: common.name.span(),
        })
    }
}

/// Reads and validates the inventory at `path`, taking `${VAR}` values from the process
/// environment.
pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file (give another with --config or ROUNDS_CONFIG)".to_owned(),
            _ => format!("cannot read: {e}"),
        };
        ConfigError::whole_file(path, why)
    })?;
    parse(path, &source, &|name| std::env::var(name).ok())
}

/// Parses an inventory from text; `env` supplies `${VAR}` values.
pub fn parse(path: &Path, source: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Inventory, ConfigError> {
    let file: InventoryFile = toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
    let mut loader = Loader {
        path,
        source,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        env,
        settings: settings(path, source, file.settings)?,
        secrets: Secrets::default(),
        trusts: HashMap::new(),
    };

    let mut planned = Vec::new();
    plan_all(file.endpoint, &mut loader, &mut planned)?;
    plan_all(file.server, &mut loader, &mut planned)?;
    plan_all(file.tls, &mut loader, &mut planned)?;
    plan_all(file.backup, &mut loader, &mut planned)?;
    plan_all(file.disk, &mut loader, &mut planned)?;
    plan_all(file.fhir, &mut loader, &mut planned)?;
    plan_all(file.command, &mut loader, &mut planned)?;
    plan_all(file.hl7, &mut loader, &mut planned)?;
    plan_all(file.system, &mut loader, &mut planned)?;
    plan_all(file.process, &mut loader, &mut planned)?;
    plan_all(file.dns, &mut loader, &mut planned)?;
    plan_all(file.dicom, &mut loader, &mut planned)?;
    // Each kind is its own array in TOML; the file's order is the order people wrote.
    planned.sort_by_key(|p| p.name_span.start);
    reject_duplicate_names(&loader, &planned)?;

    Ok(Inventory {
        path: path.to_owned(),
        settings: loader.settings,
        checks: planned.into_iter().map(|p| p.check).collect(),
        secrets: loader.secrets,
    })
}

fn settings(path: &Path, source: &str, table: SettingsTable) -> Result<Settings, ConfigError> {
    let mut cert = CertLimits::default();
    if let Some(w) = table.cert_warn_days {
        cert.warn_days = w;
    }
    if let Some(c) = &table.cert_crit_days {
        cert.crit_days = *c.get_ref();
        if cert.crit_days > cert.warn_days {
            return Err(ConfigError::at(path, source, c.span(), "cert_crit_days must not be more than cert_warn_days"));
        }
    }
    let concurrency = match table.concurrency {
        Some(c) if *c.get_ref() == 0 => {
            return Err(ConfigError::at(path, source, c.span(), "concurrency must be at least 1"));
        }
        Some(c) => c.into_inner(),
        None => DEFAULT_CONCURRENCY,
    };
    Ok(Settings { timeout: table.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0), concurrency, cert })
}

fn reject_duplicate_names(loader: &Loader, planned: &[Planned]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &Range<usize>> = HashMap::new();
    for p in planned {
        if let Some(first) = seen.insert(&p.check.name, &p.name_span) {
            let first_line = loader.source[..first.start].matches('\n').count() + 1;
            return Err(loader.error(
                p.name_span.clone(),
                format!(
                    "duplicate check name {:?} (first used on line {first_line}); names must be unique",
                    p.check.name
                ),
            ));
        }
    }
    Ok(())
}
