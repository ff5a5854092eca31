//! Reading a whole inventory (`checks.toml`) into ready-to-run checks.
//!
//! Sits above the kind registry: the file's shape comes from [`crate::probe::InventoryFile`],
//! each table plans itself with the `config` toolkit, and this module adds what spans
//! tables: file order, unique names, and the run's settings and secrets.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Env, Loader, Planned, Settings};
use crate::probe::{Check, InventoryFile, Probe};
use crate::secrets::Secrets;

/// The loaded inventory.
#[derive(Debug)]
pub(crate) struct Inventory {
    pub path: PathBuf,
    pub settings: Settings,
    /// In the order they appear in the file.
    pub checks: Vec<Check>,
    pub secrets: Secrets,
}

/// Reads and validates the inventory at `path`, taking `${VAR}` values from the process
/// environment.
pub(crate) fn load(path: &Path) -> Result<Inventory, ConfigError> {
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
pub(crate) fn parse(path: &Path, source: &str, env: Env) -> Result<Inventory, ConfigError> {
    let mut file: InventoryFile = toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
    let settings = std::mem::take(&mut file.settings).settings(path, source)?;
    let mut loader = Loader::new(path, source, env, settings);
    let mut planned = file.plan(&mut loader)?;
    // Each kind is its own array in TOML; the file's order is the order people wrote.
    planned.sort_by_key(|p| p.name_span.start);
    reject_duplicate_names(&loader, &planned)?;
    let (settings, secrets) = loader.finish();
    Ok(Inventory { path: path.to_owned(), settings, checks: planned.into_iter().map(Check::from).collect(), secrets })
}

fn reject_duplicate_names(loader: &Loader, planned: &[Planned<Probe>]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &Range<usize>> = HashMap::new();
    for p in planned {
        if let Some(first) = seen.insert(&p.meta.name, &p.name_span) {
            let first_line = loader.line_of(first.start);
            return Err(loader.error(
                p.name_span.clone(),
                format!(
                    "duplicate check name {:?} (first used on line {first_line}); names must be unique",
                    p.meta.name
                ),
            ));
        }
    }
    Ok(())
}
