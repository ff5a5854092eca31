//! Reading a whole inventory (`checks.toml`) into ready-to-run checks.
//!
//! Sits above the kind registry: the file's shape comes from [`crate::probe::InventoryFile`],
//! each table plans itself with the `config` toolkit, and this module adds what spans
//! tables: file order, unique names, and the run's settings and secrets.

mod dependencies;
mod files;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use self::dependencies::resolve_dependencies;
use self::files::{included, read_source, Source};
use crate::config::{ConfigError, Env, Loader, Planned, Selector, Settings, Window};
use crate::heartbeat::Heartbeat;
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
    /// Things worth saying that do not stop the run (a short secret).
    pub warnings: Vec<String>,
    /// SHA-256 of the file's bytes, in hex, for the audit line of machine formats.
    pub sha256: String,
    /// Where to report that the run happened (`[settings] heartbeat`).
    pub heartbeat: Option<Heartbeat>,
    /// `[[maintenance]]` windows.
    pub windows: Vec<Window>,
    /// `[status_page]`.
    pub status_page: crate::config::StatusPage,
    /// `[[notify]]`: who is told of changes.
    pub notifiers: Vec<crate::config::Notifier>,
}

/// Reads and validates the inventory at `path`, taking `${VAR}` values from the process
/// environment.
pub(crate) fn load(path: &Path) -> Result<Inventory, ConfigError> {
    let source = read_source(path)?;
    parse(path, &source, &|name| std::env::var(name).ok())
}

/// The inventory's checks for `ack`, `list` and `history`, which must work for shift staff
/// without the secrets: a `${VAR}` that is not set is no error (its placeholder is never
/// probed with, and the checks' targets show `${VAR}` as written).
pub(crate) fn load_without_secrets(path: &Path) -> Result<Inventory, ConfigError> {
    let source = read_source(path)?;
    parse_with(path, &source, &|name| std::env::var(name).ok(), Vars::MayBeUnset)
}

/// Whether every `${VAR}` must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vars {
    MustBeSet,
    MayBeUnset,
}

/// `[settings] state` alone, for `rounds history`, which must work without the inventory's
/// `${VAR}`s set. `None` when unset or unreadable (the default place is used).
pub(crate) fn state_setting(path: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct OnlySettings {
        #[serde(default)]
        settings: Option<toml::Table>,
    }
    let text = std::fs::read_to_string(path).ok()?;
    let file: OnlySettings = toml::from_str(&text).ok()?;
    file.settings?.get("state")?.as_str().map(str::to_owned)
}

/// Parses an inventory from text; `env` supplies `${VAR}` values, and all must be set.
pub(crate) fn parse(path: &Path, source: &str, env: Env) -> Result<Inventory, ConfigError> {
    parse_with(path, source, env, Vars::MustBeSet)
}

fn parse_with(path: &Path, source: &str, env: Env, vars: Vars) -> Result<Inventory, ConfigError> {
    let mut top: InventoryFile = from_toml(path, source)?;
    let settings = std::mem::take(&mut top.settings).settings(path, source)?;
    let status_page = match top.status_page.take() {
        Some(table) => table.into_inner().status_page(path, source)?,
        None => crate::config::StatusPage::default(),
    };
    let mut files = vec![Source { path: path.to_owned(), text: source.to_owned() }];
    let mut parsed = vec![];
    for (path, text) in included(path, source, &std::mem::take(&mut top.include))? {
        let file: InventoryFile = from_toml(&path, &text)?;
        if !file.include.is_empty() {
            return Err(ConfigError::at(
                &path,
                &text,
                file.include[0].span(),
                "only the top inventory file may include others",
            ));
        }
        if let Some(page) = &file.status_page {
            return Err(ConfigError::at(
                &path,
                &text,
                page.span(),
                "[status_page] belongs in the top inventory file only",
            ));
        }
        if let Some(at) = files::settings_table(&text) {
            return Err(ConfigError::at(&path, &text, at, "[settings] belongs in the top inventory file only"));
        }
        files.push(Source { path, text });
        parsed.push(file);
    }
    parsed.insert(0, top);

    // Each file is planned with a loader of its own (errors and relative paths are the
    // file's), sharing the top file's settings; secrets and warnings are gathered.
    let mut planned: Vec<(usize, Planned<Probe>)> = Vec::new();
    let mut windows = Vec::new();
    let mut notifiers = Vec::new();
    let mut secrets = crate::secrets::Secrets::default();
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let mut heartbeat = None;
    for (index, mut file) in parsed.into_iter().enumerate() {
        let source = &files[index];
        let mut loader = Loader::new(&source.path, &source.text, env, settings.clone());
        for table in std::mem::take(&mut file.maintenance) {
            windows.push((index, table.window(&loader)?));
        }
        for table in std::mem::take(&mut file.notify) {
            notifiers.push((index, table.notifier(&mut loader)?));
        }
        let plan = file.plan(&mut loader).and_then(|p| {
            let beat_timeout = loader.settings.heartbeat_timeout.unwrap_or(crate::heartbeat::DEFAULT_TIMEOUT);
            if index == 0 {
                heartbeat = loader.heartbeat()?.map(|url| Heartbeat::new(url, beat_timeout));
            }
            Ok(p)
        });
        missing.extend(loader.missing().iter().map(|(span, name)| (index, span.clone(), name.clone())));
        // A placeholder for an unset variable may be what made a table invalid: the
        // variables are the error to fix first.
        let plan = match plan {
            Err(_) if vars == Vars::MustBeSet && !missing.is_empty() => return Err(unset_variables(&files, missing)),
            plan => plan?,
        };
        planned.extend(plan.into_iter().map(|p| (index, p)));
        let (file_secrets, file_warnings) = loader.finish();
        secrets.extend(file_secrets);
        warnings.extend(file_warnings);
    }
    if vars == Vars::MustBeSet && !missing.is_empty() {
        return Err(unset_variables(&files, missing));
    }
    // Each kind is its own array in TOML; the files' order, then each file's order, is the
    // order people wrote.
    planned.sort_by_key(|(file, p)| (*file, p.name_span.start));
    reject_duplicate_names(&files, &planned)?;
    if planned.is_empty() {
        // A gate must not go green because its file was truncated or emptied.
        return Err(ConfigError::whole_file(path, "the inventory defines no checks"));
    }
    let deps = resolve_dependencies(&files, &planned)?;
    let windows = windows
        .into_iter()
        .map(|(file, window)| cover(&files[file], window, planned.iter().map(|(_, p)| &p.meta)))
        .collect::<Result<_, _>>()?;
    let notifiers = notifiers
        .into_iter()
        .map(|(file, notifier)| notify_covers(&files[file], notifier, planned.iter().map(|(_, p)| &p.meta)))
        .collect::<Result<_, _>>()?;
    let checks = planned
        .into_iter()
        .zip(deps)
        .map(|((_, p), deps)| Check { meta: p.meta, probe: p.probe, deps, earlier: None })
        .collect();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    files.iter().for_each(|f| digest.update(f.text.as_bytes()));
    let sha256 = digest.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Inventory {
        path: path.to_owned(),
        settings,
        checks,
        secrets,
        warnings,
        sha256,
        heartbeat,
        windows,
        status_page,
        notifiers,
    })
}

/// One file of the inventory, as written; `include` after a table is said in words (TOML
/// would put it in that table, and call it an unknown key there).
fn from_toml(path: &Path, source: &str) -> Result<InventoryFile, ConfigError> {
    toml::from_str(source).map_err(|e| {
        let mut error = ConfigError::from_toml(path, source, &e);
        if e.message().starts_with("unknown field `include`") {
            error.message = "include must come first, before the first [table] or [[table]] (a key after a table header belongs to that table)".into();
        }
        error
    })
}

/// Every `${VAR}` that is not set, once each, in file order, with its file and line.
fn unset_variables(files: &[Source], mut missing: Vec<(usize, Range<usize>, String)>) -> ConfigError {
    missing.sort_by_key(|(file, span, _)| (*file, span.start));
    let mut seen: Vec<&str> = Vec::new();
    let mut places = Vec::new();
    for (file, span, name) in &missing {
        if !seen.contains(&name.as_str()) {
            seen.push(name);
            places.push(format!("${{{name}}} ({}:{})", files[*file].path.display(), files[*file].line_of(span.start)));
        }
    }
    let (first_file, first_span, first_name) = &missing[0];
    let message = match places.len() {
        1 => format!("environment variable {first_name} is not set"),
        n => format!("{n} environment variables are not set: {}", places.join(", ")),
    };
    files[*first_file].error(first_span.clone(), message)
}

/// The names of the checks a notifier's selectors name (none written: every check); one that
/// names nothing is an error at its place.
fn notify_covers<'a, I>(
    file: &Source,
    mut notifier: crate::config::Notifier,
    checks: I,
) -> Result<crate::config::Notifier, ConfigError>
where
    I: IntoIterator<Item = &'a crate::config::CheckMeta>,
    I::IntoIter: Clone,
{
    if notifier.checks.is_empty() {
        return Ok(notifier);
    }
    let checks = checks.into_iter();
    let mut covers = Vec::new();
    for selector in &notifier.checks {
        let found = selector.select(checks.clone());
        if found.is_empty() {
            let why = selector.nothing_selected(checks.clone(), "the notifier's");
            return Err(file.error(selector.span.clone().unwrap_or_default(), why));
        }
        covers.extend(found.into_iter().filter_map(|i| checks.clone().nth(i)).map(|c| c.name.clone()));
    }
    notifier.covers = Some(covers);
    Ok(notifier)
}

/// The names of the checks a maintenance window's selectors name; one that names nothing is
/// an error at its place.
fn cover<'a, I>(file: &Source, mut window: Window, checks: I) -> Result<Window, ConfigError>
where
    I: IntoIterator<Item = &'a crate::config::CheckMeta>,
    I::IntoIter: Clone,
{
    let checks = checks.into_iter();
    for selector in &window.checks {
        let found = selector.select(checks.clone());
        if found.is_empty() {
            let why = selector.nothing_selected(checks.clone(), "the maintenance window's");
            return Err(file.error(selector.span.clone().unwrap_or_default(), why));
        }
        for i in found {
            if let Some(check) = checks.clone().nth(i) {
                if !window.covers.contains(&check.name) {
                    window.covers.push(check.name.clone());
                }
            }
        }
    }
    Ok(window)
}

impl Inventory {
    /// `--only`: keeps the checks `selectors` name (by name, server name or tag) and,
    /// transitively, what they depend on. Returns the names added for their dependents; a
    /// selector that names nothing is an error with the closest names.
    pub fn select(&mut self, selectors: &[Selector]) -> Result<Vec<String>, String> {
        let mut keep = vec![false; self.checks.len()];
        for selector in selectors {
            let found = selector.select(self.checks.iter().map(|c| &c.meta));
            if found.is_empty() {
                return Err(selector.nothing_selected(self.checks.iter().map(|c| &c.meta), "--only"));
            }
            found.into_iter().for_each(|i| keep[i] = true);
        }
        let mut added = Vec::new();
        let mut stack: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
        while let Some(i) = stack.pop() {
            for &d in &self.checks[i].deps {
                if !keep[d] {
                    keep[d] = true;
                    added.push(format!("{} (needed by {})", self.checks[d].meta.name, self.checks[i].meta.name));
                    stack.push(d);
                }
            }
        }
        // Renumber: dependencies point into the new, shorter list.
        let mut new_index = vec![usize::MAX; keep.len()];
        let mut next = 0;
        for (i, kept) in keep.iter().enumerate() {
            if *kept {
                new_index[i] = next;
                next += 1;
            }
        }
        let checks = std::mem::take(&mut self.checks);
        self.checks = checks
            .into_iter()
            .zip(keep)
            .filter(|(_, kept)| *kept)
            .map(|(mut c, _)| {
                c.deps = c.deps.iter().map(|d| new_index[*d]).collect();
                c
            })
            .collect();
        Ok(added)
    }
}

fn reject_duplicate_names(files: &[Source], planned: &[(usize, Planned<Probe>)]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, (usize, &Range<usize>)> = HashMap::new();
    for (file, p) in planned {
        if let Some((first_file, first)) = seen.insert(&p.meta.name, (*file, &p.name_span)) {
            let first_place = &files[first_file];
            let line = first_place.line_of(first.start);
            let where_first = match first_file == *file {
                true => format!("line {line}"),
                false => format!("{} line {line}", first_place.path.display()),
            };
            return Err(files[*file].error(
                p.name_span.clone(),
                format!("duplicate check name {:?} (first used on {where_first}); names must be unique", p.meta.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret-token".to_owned())
    }

    /// The first line of the error for `toml`, or "ok".
    fn first_line(toml: &str) -> String {
        match parse(Path::new("checks.toml"), toml, &env) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string().lines().next().unwrap_or_default().to_owned(),
        }
    }

    /// Every validation message of every kind's table, in one reviewed snapshot.
    #[test]
    fn validation_messages() {
        let cases: &[(&str, &str)] = &[
            ("empty name", "[[server]]\nname = \" \"\nhost = \"h\"\nports = [1]"),
            ("empty host", "[[server]]\nname = \"s\"\nhost = \"\"\nports = [1]"),
            ("no ports", "[[server]]\nname = \"s\"\nhost = \"h\"\nports = []"),
            ("neither ports nor ping", "[[server]]\nname = \"s\"\nhost = \"h\""),
            ("dns host", "[[dns]]\nname = \"d\"\nhost = \"a b\""),
            ("dns expect", "[[dns]]\nname = \"d\"\nhost = \"a\"\nexpect = [\"x\"]"),
            ("dns server", "[[dns]]\nname = \"d\"\nhost = \"a\"\nserver = \"nope\""),
            ("dns name", "[[dns]]\nname = \"d\"\nhost = \"a..b\"\nserver = \"127.0.0.1\""),
            ("disk path", "[[disk]]\nname = \"d\"\npath = \"\""),
            ("command empty", "[[command]]\nname = \"c\"\nrun = []"),
            ("command program", "[[command]]\nname = \"c\"\nrun = [\" \"]"),
            ("process path", "[[process]]\nname = \"p\"\nprocess = \"/usr/bin/x\""),
            ("backup pattern", "[[backup]]\nname = \"b\"\npath = \".\"\npattern = \"[\"\nmax_age = \"1h\""),
            ("backup warn_age", "[[backup]]\nname = \"b\"\npath = \".\"\nmax_age = \"1h\"\nwarn_age = \"2h\""),
            ("endpoint url", "[[endpoint]]\nname = \"e\"\nurl = \"not a url\""),
            ("endpoint no host", "[[endpoint]]\nname = \"e\"\nurl = \"http://\""),
            ("endpoint scheme", "[[endpoint]]\nname = \"e\"\nurl = \"ftp://h/\""),
            ("header name", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\nheaders = { \"a b\" = \"x\" }"),
            ("header value", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\nheaders = { a = \"x\\ny\" }"),
            ("expect_status empty", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\nexpect_status = []"),
            ("expect_status range", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\nexpect_status = [99]"),
            ("json pointer", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\njson = { status = 1 }"),
            ("unset variable", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/${NOPE}\""),
            ("fhir url", "[[fhir]]\nname = \"f\"\nbase = \"ftp://h\""),
            ("ae title", "[[dicom]]\nname = \"d\"\nhost = \"h\"\nport = 104\ncalled_ae = \"THIS-TITLE-IS-TOO-LONG\""),
            ("load", "[[system]]\nname = \"s\"\nmax_load_per_cpu = 0.0"),
            ("hl7 type", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 1\nmessage_type = \"ADT\""),
            ("hl7 field", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 1\nsending_app = \"A|B\""),
            ("tls host", "[[tls]]\nname = \"t\"\nhost = \"a b\"\nport = 443"),
            ("ca_file", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 443\nca_file = \"/nonexistent/ca.pem\""),
            (
                "duplicate",
                "[[server]]\nname = \"s\"\nhost = \"h\"\nports = [1]\n[[tls]]\nname = \"s:1\"\nhost = \"h\"\nport = 1",
            ),
            ("settings crit", "[settings]\ncert_warn_days = 5\ncert_crit_days = 9"),
            ("settings concurrency", "[settings]\nconcurrency = 0"),
            ("typo", "[[endpoint]]\nname = \"e\"\nurll = \"http://h/\""),
            ("empty file", ""),
            ("comments only", "# nothing here yet\n[settings]\ntimeout = \"5s\"\n"),
            ("port 0 in ports", "[[server]]\nname = \"s\"\nhost = \"h\"\nports = [443, 0]"),
            ("port 0", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 0"),
            ("hl7 port 0", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 0"),
            ("dicom port 0", "[[dicom]]\nname = \"d\"\nhost = \"h\"\nport = 0"),
            ("dns server port 0", "[[dns]]\nname = \"d\"\nhost = \"a\"\nserver = \"127.0.0.1:0\""),
            ("port too large", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 70000"),
            ("ports as text", "[[server]]\nname = \"s\"\nhost = \"h\"\nports = \"443\""),
            ("tags as text", "[[server]]\nname = \"s\"\nhost = \"h\"\nports = [1]\ntags = \"ehr\""),
            ("ping as text", "[[server]]\nname = \"s\"\nhost = \"h\"\nping = \"yes\""),
            ("name as number", "[[server]]\nname = 5\nhost = \"h\"\nports = [1]"),
            (
                "check crit above warn",
                "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 443\ncert_warn_days = 10\ncert_crit_days = 20",
            ),
            ("check crit above settings warn", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 443\ncert_crit_days = 45"),
            (
                "warn_free below min_free",
                "[[disk]]\nname = \"d\"\npath = \"/\"\nmin_free = \"10%\"\nwarn_free = \"5%\"",
            ),
            ("proxy", "[settings]\nproxy = \"socks5://h:1080\"\n[[endpoint]]\nname = \"e\"\nurl = \"http://h/\""),
            ("command env unset", "[[command]]\nname = \"c\"\nrun = [\"true\"]\nenv = [\"NOPE\"]"),
            ("unknown dependency", "[[server]]\nname = \"core switch\"\nhost = \"h\"\nports = [22]\n[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 1\ndepends_on = [\"core swich\"]"),
            ("unknown tag", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 1\ndepends_on = [\"tag:network\"]"),
            ("cycle", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\ndepends_on = [\"b\"]\n[[tls]]\nname = \"b\"\nhost = \"h\"\nport = 1\ndepends_on = [\"a\"]"),
            ("self", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\ndepends_on = [\"a\"]"),
            ("too many retries", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\nretries = 50"),
            ("min_tls", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 443\nmin_tls = \"1.0\""),
            ("cert share", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 443\ncert_warn = \"lots\""),
            ("hl7 client cert alone", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 2575\ntls = true\nclient_cert = \"c.pem\""),
            ("hl7 client cert without tls", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 2575\nclient_key = \"k.pem\""),
            ("hl7 client cert missing", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 2575\ntls = true\nclient_cert = \"/nonexistent/c.pem\"\nclient_key = \"k.pem\""),
            ("pgbackrest stanza", "[[pgbackrest]]\nname = \"p\"\nstanza = \"--repo=9\"\nmax_age = \"1d\""),
            ("settings cert share", "[settings]\ncert_warn = \"120%\""),
            ("settings crit share above warn", "[settings]\ncert_warn = \"10%\"\ncert_crit = \"25%\""),
            ("min_ratio", "[[backup]]\nname = \"b\"\npath = \".\"\nmax_age = \"1h\"\nmin_ratio_to_previous = 2.0"),
            ("hl7 processing id", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 1\nprocessing_id = \"X\""),
            ("hl7 version", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 1\nversion = \"3.0\""),
            ("hl7 message file", "[[hl7]]\nname = \"h\"\nhost = \"h\"\nport = 1\nmessage_file = \"/nonexistent.hl7\""),
            ("worklist modality", "[[worklist]]\nname = \"w\"\nhost = \"h\"\nport = 104\nmodality = \"ct scanner\""),
            ("worklist station", "[[worklist]]\nname = \"w\"\nhost = \"h\"\nport = 104\nstation_ae = \"A\\\\B\""),
            ("worklist min items", "[[worklist]]\nname = \"w\"\nhost = \"h\"\nport = 104\nmin_items = -1"),
            ("dicom client cert without tls", "[[dicom]]\nname = \"d\"\nhost = \"h\"\nport = 104\nclient_cert = \"c.pem\""),
            ("mirth login", "[[mirth]]\nname = \"m\"\nbase = \"https://h:8443\"\nusername = \"u\"\npassword = \"p\"\nlogin = \"oauth\""),
            ("mirth credentials in base", "[[mirth]]\nname = \"m\"\nbase = \"https://u:p@h:8443\"\nusername = \"u\"\npassword = \"p\""),
            ("mirth no password", "[[mirth]]\nname = \"m\"\nbase = \"https://h:8443\"\nusername = \"u\""),
            ("maintenance without times", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\n[[maintenance]]\nchecks = [\"a\"]\nreason = \"r\""),
            ("maintenance bad zone", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\n[[maintenance]]\nchecks = [\"a\"]\nweekly = \"Sun 01:00-02:00\"\ntimezone = \"Mars/Olympus\"\nreason = \"r\""),
            ("url without scheme", "[[endpoint]]\nname = \"e\"\nurl = \"127.0.0.1:8080/health\""),
            ("fhir base without scheme", "[[fhir]]\nname = \"f\"\nbase = \"fhir.clinic.local/r4\""),
            ("min_free without unit", "[[disk]]\nname = \"d\"\npath = \"/\"\nmin_free = \"95\""),
            ("min_size without unit", "[[backup]]\nname = \"b\"\npath = \".\"\nmax_age = \"1h\"\nmin_size = \"95\""),
            ("two unset variables", "[[endpoint]]\nname = \"e\"\nurl = \"http://h/${NOPE_B}\"\n[[server]]\nname = \"s\"\nhost = \"h\"\nports = [1]\n[[command]]\nname = \"c\"\nrun = [\"true\"]\nenv = [\"NOPE_A\", \"NOPE_B\"]\n[[endpoint]]\nname = \"e2\"\nurl = \"http://h/\"\nheaders = { a = \"${NOPE_C}\" }"),
            ("include after a table", "[[disk]]\nname = \"d\"\npath = \"/\"\ninclude = [\"sites/*.toml\"]"),
            ("fhir check_revocation as text", "[[fhir]]\nname = \"f\"\nbase = \"https://h/\"\ncheck_revocation = \"yes\""),
            ("tls check_revocation as text", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 443\ncheck_revocation = \"yes\""),
            ("fhir check_revocation", "[[fhir]]\nname = \"f\"\nbase = \"https://h/\"\ncheck_revocation = true\nmin_tls = \"1.2\"\nmax_validity_days = 200"),
            ("maintenance names nothing", "[[tls]]\nname = \"PACS\"\nhost = \"h\"\nport = 1\n[[maintenance]]\nchecks = [\"pacs\"]\nweekly = \"Sun 01:00-02:00\"\nreason = \"r\""),
            ("maintenance empty tag", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\n[[maintenance]]\nchecks = [\"tag: \"]\nweekly = \"Sun 01:00-02:00\"\nreason = \"r\""),
            ("depends_on a tag by its bare name", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\ntags = [\"net\"]\n[[tls]]\nname = \"b\"\nhost = \"h\"\nport = 1\ndepends_on = [\"net\"]\n[[tls]]\nname = \"c\"\nhost = \"h\"\nport = 1\ndepends_on = [\"nett\"]"),
            ("maintenance bad weekly", "[[tls]]\nname = \"a\"\nhost = \"h\"\nport = 1\n[[maintenance]]\nchecks = [\"a\"]\nweekly = \"Sundays\"\nreason = \"r\""),
            ("ntp server with a scheme", "[[ntp]]\nname = \"n\"\nserver = \"ntp://h\""),
            ("ntp server with a port", "[[ntp]]\nname = \"n\"\nserver = \"h:123\""),
            ("ntp warn above max", "[[ntp]]\nname = \"n\"\nserver = \"h\"\nwarn_offset = \"2m\"\nmax_offset = \"1m\""),
            ("ntp max_stratum", "[[ntp]]\nname = \"n\"\nserver = \"h\"\nmax_stratum = 16"),
            ("ldap scheme", "[[ldap]]\nname = \"l\"\nurl = \"https://h\""),
            ("ldap url with a base", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h/dc=x??sub\""),
            ("ldap starttls on ldaps", "[[ldap]]\nname = \"l\"\nurl = \"ldaps://h\"\nstarttls = true"),
            ("ldap bind_dn alone", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\nbind_dn = \"cn=a\""),
            ("ldap password alone", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\npassword = \"p\""),
            ("ldap filter", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\nbase = \"dc=x\"\nfilter = \"(objectClass=person\""),
            ("ldap scope", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\nbase = \"dc=x\"\nscope = \"subtree\""),
            ("ldap max below min", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\nmin_entries = 5\nmax_entries = 2"),
            ("ldap ca_file without tls", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\nca_file = \"ca.pem\""),
            ("ldap min_tls with starttls", "[[ldap]]\nname = \"l\"\nurl = \"ldap://h\"\nstarttls = true\nmin_tls = \"1.2\""),
            ("sql scheme", "[[sql]]\nname = \"s\"\nurl = \"mssql://sa@h/lab\""),
            ("sql no user", "[[sql]]\nname = \"s\"\nurl = \"postgres://h/lab\""),
            ("sql url parameter", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab?sslrootcert=ca.pem\""),
            ("sql sslmode", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab?sslmode=sometimes\""),
            ("sql tls", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\ntls = \"prefer\""),
            ("sql warn_age alone", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\nwarn_age = \"10m\""),
            ("sql warn_age over max_age", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\nmax_age = \"5m\"\nwarn_age = \"10m\""),
            ("sql max_rows below min_rows", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\nmin_rows = 5\nmax_rows = 2"),
            ("sql pin without tls", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\ntls = \"disable\"\npin = \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\""),
            ("sql min_tls", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\nmin_tls = \"1.2\""),
            ("sql empty query", "[[sql]]\nname = \"s\"\nurl = \"postgres://u@h/lab\"\nquery = \" \""),
            ("snmp community missing", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nprofile = \"ups\""),
            ("snmp privacy without auth", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\nprivacy = \"aes128\"\nprivacy_password = \"${TOKEN}\"\nprofile = \"ups\""),
            ("snmp unknown profile", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\nprofile = \"switch\""),
            ("snmp interfaces missing", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\nprofile = \"interface\""),
            ("snmp interfaces empty", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\nprofile = \"interface\"\ninterfaces = []"),
            ("snmp neither profile nor oids", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\""),
            ("snmp version", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"1\"\ncommunity = \"${TOKEN}\"\nprofile = \"ups\""),
            ("snmp user on v2c", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\nuser = \"u\"\nprofile = \"ups\""),
            ("snmp community on v3", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\ncommunity = \"${TOKEN}\"\nprofile = \"ups\""),
            ("snmp v3 without user", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nprofile = \"ups\""),
            ("snmp auth protocol", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\nauth = \"sha3\"\nauth_password = \"${TOKEN}\"\nprofile = \"ups\""),
            ("snmp auth without password", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\nauth = \"sha256\"\nprofile = \"ups\""),
            ("snmp short password", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\nauth = \"sha256\"\nauth_password = \"short\"\nprofile = \"ups\""),
            ("snmp privacy protocol", "[[snmp]]\nname = \"s\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\nauth = \"sha\"\nauth_password = \"${TOKEN}\"\nprivacy = \"3des\"\nprivacy_password = \"${TOKEN}\"\nprofile = \"ups\""),
            ("snmp key of another profile", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\nprofile = \"ups\"\nmin_level = \"5%\""),
            ("snmp oid name", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\noids = [{ oid = \"sysUpTime.0\" }]"),
            ("snmp oid min as text", "[[snmp]]\nname = \"s\"\nhost = \"h\"\ncommunity = \"${TOKEN}\"\noids = [{ oid = \"1.3.6.1.2.1.1.3.0\", min = \"1\" }]"),
            ("snmp host with a port", "[[snmp]]\nname = \"s\"\nhost = \"h:161\"\ncommunity = \"${TOKEN}\"\nprofile = \"ups\""),
        ];
        let report: String = cases.iter().map(|(what, toml)| format!("{what}: {}\n", first_line(toml))).collect();
        insta::assert_snapshot!(report);
    }

    /// The canary is in a URL's password, a header and a command's environment; no `Debug`
    /// of the loaded inventory may print it.
    #[test]
    fn debug_of_the_inventory_shows_no_secret() {
        let toml = "[[endpoint]]\nname = \"e\"\nurl = \"https://u:${TOKEN}@h/?k=${TOKEN}\"\n\
                    headers = { Authorization = \"Bearer ${TOKEN}\" }\n\
                    [[command]]\nname = \"c\"\nrun = [\"true\"]\nenv = [\"TOKEN\"]\n";
        let inv = parse(Path::new("c.toml"), toml, &env).unwrap();
        let shown = format!("{inv:?} {inv:#?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("CommandProbe") && shown.contains("EndpointProbe"), "{shown}");
    }

    /// A URL key that is one `${VAR}` takes the variable verbatim as the whole URL; a `${VAR}`
    /// inside a written URL is percent-encoded. Either way the password is a secret, as
    /// written and decoded, and the target shows the URL without it.
    #[test]
    fn a_whole_url_comes_from_one_variable() {
        let env = |name: &str| match name {
            "LAB_DB_URL" => Some("postgres://lab:p%40ss%2Fword-4821@db.clinic.local/lab?sslmode=require".to_owned()),
            "LAB_DB_PASSWORD" => Some("p@ss/word-4821".to_owned()),
            "HOOK_URL" => Some("https://hc-ping.example/abc-123-uuid".to_owned()),
            _ => None,
        };
        let toml = "[settings]\nheartbeat = \"${HOOK_URL}\"\n\
                    [[sql]]\nname = \"whole\"\nurl = \"${LAB_DB_URL}\"\n\
                    [[sql]]\nname = \"part\"\nurl = \"mysql://lab:${LAB_DB_PASSWORD}@db.clinic.local/lab\"\n";
        let inv = parse(Path::new("c.toml"), toml, &env).unwrap();
        let targets: Vec<&str> = inv.checks.iter().map(|c| c.meta.target.as_str()).collect();
        assert_eq!(targets, ["postgres://lab@db.clinic.local:5432/lab", "mysql://lab@db.clinic.local:3306/lab"]);
        for written in ["p@ss/word-4821", "p%40ss%2Fword-4821"] {
            assert_eq!(inv.secrets.redact(&format!("saw {written} here")), "saw *** here", "{written}");
        }
        let shown = format!("{inv:?}");
        assert!(!shown.contains("word-4821"), "{shown}");
        // Percent-encoded, the heartbeat URL would have had no scheme and been refused.
        assert!(inv.heartbeat.is_some());
    }

    /// `[[snmp]]`'s community and USM passwords are secrets even when written in the file:
    /// redacted, out of `Debug`, and a short one is warned about by its key.
    #[test]
    fn snmp_secrets_written_in_the_file_are_secrets() {
        let toml = "[[snmp]]\nname = \"a\"\nhost = \"h\"\ncommunity = \"written-community\"\nprofile = \"ups\"\n\
                    [[snmp]]\nname = \"b\"\nhost = \"h\"\nversion = \"3\"\nuser = \"u\"\nauth = \"sha\"\n\
                    auth_password = \"written-auth-pw\"\nprivacy = \"aes\"\nprivacy_password = \"${TOKEN}\"\n\
                    profile = \"ups\"\n[[snmp]]\nname = \"c\"\nhost = \"h\"\ncommunity = \"xyzzy7\"\nprofile = \"ups\"\n";
        let inv = parse(Path::new("c.toml"), toml, &env).unwrap();
        let shown = format!("{:?} {:#?}", inv.checks, inv.checks);
        for secret in ["written-community", "written-auth-pw", "s3cret-token", "xyzzy7"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
            assert_eq!(inv.secrets.redact(&format!("said {secret} here")), "said *** here");
        }
        assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
        assert!(
            inv.warnings[0].starts_with("the community written in the inventory is shorter than 8 characters"),
            "{:?}",
            inv.warnings
        );
    }

    #[test]
    fn a_short_secret_is_a_warning_not_an_error() {
        let short = |name: &str| (name == "PIN").then(|| "x".to_owned());
        let toml = "[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\nheaders = { X-Pin = \"${PIN}\" }\n";
        let inv = parse(Path::new("c.toml"), toml, &short).unwrap();
        assert_eq!(inv.warnings.len(), 1);
        assert!(inv.warnings[0].starts_with("${PIN} is shorter than 8 characters"), "{:?}", inv.warnings);
    }

    #[test]
    fn a_valid_inventory_keeps_file_order_across_kinds() {
        let inv = parse(
            Path::new("c.toml"),
            "[[tls]]\nname = \"b\"\nhost = \"h\"\nport = 1\n[[server]]\nname = \"a\"\nhost = \"h\"\nports = [1, 2]\n",
            &env,
        )
        .unwrap();
        let names: Vec<&str> = inv.checks.iter().map(|c| c.meta.name.as_str()).collect();
        assert_eq!(names, ["b", "a:1", "a:2"]);
        assert_eq!(inv.checks[1].meta.group.as_deref(), Some("a"));
    }

    #[test]
    fn dependencies_resolve_by_name_group_and_tag_and_only_brings_them_along() {
        let toml = "[[server]]\nname = \"switch\"\nhost = \"h\"\nports = [22, 23]\ntags = [\"net\"]\n\
                    [[tls]]\nname = \"pacs\"\nhost = \"h\"\nport = 1\ndepends_on = [\"tag:net\"]\n\
                    [[tls]]\nname = \"viewer\"\nhost = \"h\"\nport = 1\ndepends_on = [\"pacs\"]\n\
                    [[tls]]\nname = \"other\"\nhost = \"h\"\nport = 1\n";
        let mut inv = parse(Path::new("c.toml"), toml, &env).unwrap();
        assert_eq!(inv.checks[2].deps, vec![0, 1]);
        assert_eq!(inv.checks[3].deps, vec![2]);
        let added = inv.select(&[Selector::parse("viewer").unwrap()]).unwrap();
        let names: Vec<&str> = inv.checks.iter().map(|c| c.meta.name.as_str()).collect();
        assert_eq!(names, ["switch:22", "switch:23", "pacs", "viewer"]);
        assert_eq!(inv.checks[3].deps, vec![2]);
        assert_eq!(added.len(), 3, "{added:?}");
    }

    proptest::proptest! {
        /// Fuzzing: any text as an inventory is loaded or refused with a located error.
        #[test]
        fn fuzz_any_text_is_loaded_or_refused(text in "\\PC{0,300}") {
            let _ = parse(Path::new("c.toml"), &text, &env).map_err(|e| e.to_string());
        }

        /// Fuzzing: inventories shaped like real ones, with odd values in every place.
        #[test]
        fn fuzz_inventory_shaped_text(
            kind in proptest::sample::select(crate::probe::TABLES),
            key in "[a-z_]{1,14}",
            value in "(\"[^\"\\\\]{0,20}\"|-?[0-9]{1,20}|\\[[0-9, ]{0,10}\\]|true|\\{\\})",
        ) {
            let text = format!("[[{kind}]]\nname = \"x\"\n{key} = {value}\n");
            let _ = parse(Path::new("c.toml"), &text, &env).map_err(|e| e.to_string());
        }
    }
}
