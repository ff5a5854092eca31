//! `[[restic]]`: the newest snapshot in a restic repository is fresh enough.
//!
//! A backup file's modification time is no proof of a good backup; the repository's own
//! record is. A kind of its own (not a `[[backup]]` option): restic has a repository, a
//! password and filters that files do not. rounds runs `restic snapshots --json --latest 1`
//! (with `--host`, `--path`, `--tag`) without a cache and with stdin closed, and judges the
//! newest snapshot's time; optionally `restic check` too. The repository and password reach
//! restic through its environment (`RESTIC_REPOSITORY`, `RESTIC_PASSWORD`), never its argv.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::RwLock;
use toml::Spanned;

use crate::config::values::HumanDuration;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::Outcome;
use crate::probe::exec::run_tool;
use crate::probe::freshness::judge_age;
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[restic]]` as written in the inventory.
    pub(crate) struct ResticTable {
        /// The repository: a path, or sftp:, rest:, s3: ... (may use `${VAR}`).
        repository: Spanned<String>,
        /// The password (use `${VAR}`), or a file holding it.
        password: Option<Spanned<String>>,
        password_file: Option<Spanned<String>>,
        /// Only snapshots of this host, path, tag.
        host: Option<String>,
        path: Option<String>,
        tag: Option<String>,
        /// Older than this: fail.
        max_age: HumanDuration,
        /// Older than this: warn.
        warn_age: Option<Spanned<HumanDuration>>,
        /// Also run `restic check` (with `--read-data-subset` if given, like "5%").
        #[serde(default)]
        check: bool,
        read_data_subset: Option<String>,
        /// The restic program; default `restic` from PATH.
        program: Option<String>,
    }
}

impl Table for ResticTable {
    type Probe = ResticProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<ResticProbe>>, ConfigError> {
        let common = self.common();
        // The repository goes to restic through its environment, never its argv: `ps` shows
        // argv to every user, and a rest:/s3: location may hold a password.
        let mut env = vec![("RESTIC_REPOSITORY".to_owned(), loader.expand(&self.repository)?)];
        match (&self.password, &self.password_file) {
            (Some(p), None) => env.push(("RESTIC_PASSWORD".to_owned(), loader.expand(p)?)),
            (None, Some(f)) => {
                env.push(("RESTIC_PASSWORD_FILE".to_owned(), loader.resolve_path(f.get_ref()).display().to_string()))
            }
            (None, None) => {
                return Err(loader.error(self.repository.span(), "restic needs password = \"${VAR}\" or password_file"))
            }
            (Some(p), Some(_)) => return Err(loader.error(p.span(), "give password or password_file, not both")),
        }
        if let Some(warn) = self.warn_age.as_ref().filter(|w| w.get_ref().0 >= self.max_age.0) {
            return Err(loader.error(warn.span(), "warn_age must be less than max_age"));
        }
        let mut filters = Vec::new();
        for (flag, value) in [("--host", &self.host), ("--path", &self.path), ("--tag", &self.tag)] {
            if let Some(v) = value {
                filters.extend([flag.to_owned(), v.clone()]);
            }
        }
        let probe = ResticProbe {
            program: PathBuf::from(self.program.as_deref().unwrap_or("restic")),
            env,
            filters,
            max_age: self.max_age.0,
            warn_age: self.warn_age.map(|w| w.into_inner().0),
            check: self.check.then(|| self.read_data_subset.clone()),
        };
        // The target is the repository as written: `${VAR}` stays a placeholder.
        loader.single(&common, self.repository.get_ref().clone(), probe)
    }
}

pub(crate) struct ResticProbe {
    pub program: PathBuf,
    /// RESTIC_REPOSITORY, and RESTIC_PASSWORD or RESTIC_PASSWORD_FILE: secrets.
    pub env: Vec<(String, String)>,
    pub filters: Vec<String>,
    pub max_age: Duration,
    pub warn_age: Option<Duration>,
    /// `Some(subset)` to run `restic check` too.
    pub check: Option<Option<String>>,
}

impl std::fmt::Debug for ResticProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResticProbe")
            .field("program", &self.program)
            .field("filters", &self.filters)
            .finish_non_exhaustive()
    }
}

/// One snapshot as `restic snapshots --json` lists it.
#[derive(Deserialize)]
struct Snapshot {
    time: String,
    hostname: String,
    short_id: String,
}

impl RunProbe for ResticProbe {
    fn kind(&self) -> &'static str {
        "restic"
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        let mut args = vec!["--no-cache".to_owned(), "snapshots".into()];
        args.extend(["--json".to_owned(), "--latest".into(), "1".into()]);
        args.extend(self.filters.iter().cloned());
        let repository = self.env.iter().find(|(name, _)| name == "RESTIC_REPOSITORY");
        let lock = repository_lock(repository.map_or("", |(_, location)| location));
        let listed = {
            let _shared = lock.read().await;
            self.restic(&args).await
        };
        let outcome = match listed {
            Ok(stdout) => self.judge(&stdout, SystemTime::now()),
            Err(why) => return Outcome::fail(why),
        };
        match &self.check {
            Some(subset) if !outcome.status.is_failure() => {
                let mut args = vec!["--no-cache".to_owned(), "check".into()];
                if let Some(subset) = subset {
                    args.push(format!("--read-data-subset={subset}"));
                }
                let _exclusive = lock.write().await;
                match self.restic(&args).await {
                    Ok(_) => Outcome { detail: format!("{}; restic check passed", outcome.detail), ..outcome },
                    Err(why) => Outcome::fail(format!("{}; but restic check failed: {why}", outcome.detail)),
                }
            }
            _ => outcome,
        }
    }
}

/// rounds' own restic runs on one repository must not lock each other out: `restic check`
/// takes the repository's exclusive lock, and fails ("locked by another restic process")
/// while another check of the same run lists that repository's snapshots. So listings share
/// the repository and a check waits for them, all within each check's timeout. Keyed by the
/// repository as the inventory expands it; never shown.
fn repository_lock(repository: &str) -> Arc<RwLock<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<RwLock<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    locks.entry(repository.to_owned()).or_default().clone()
}

impl ResticProbe {
    /// Runs restic; `Err` says why it failed in words.
    async fn restic(&self, args: &[String]) -> Result<Vec<u8>, String> {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let done = run_tool(&self.program, args, &env)
            .await
            .map_err(|e| format!("cannot run {}: {}", self.program.display(), super::net::describe_io(&e)))?;
        if done.status.success() {
            return Ok(done.stdout);
        }
        Err(explain(done.status.code(), &String::from_utf8_lossy(&done.stderr)))
    }

    fn judge(&self, stdout: &[u8], now: SystemTime) -> Outcome {
        let snapshots: Vec<Snapshot> = match serde_json::from_slice(stdout) {
            Ok(s) => s,
            Err(e) => return Outcome::fail(format!("restic's answer is not the JSON expected ({e})")),
        };
        let newest = snapshots
            .iter()
            .filter_map(|s| s.time.parse::<jiff::Timestamp>().ok().map(|t| (crate::config::to_system_time(t), s)))
            .max_by_key(|(t, _)| *t);
        let Some((time, snapshot)) = newest else {
            let filtered = if self.filters.is_empty() { "" } else { " matching the filters" };
            return Outcome::fail(format!("the repository holds no snapshot{filtered}"));
        };
        judge_age(
            &format!("snapshot {} of {}", snapshot.short_id, snapshot.hostname),
            time,
            now,
            self.max_age,
            self.warn_age,
        )
    }
}

/// restic's failures in words: 0.17+ says which by exit code (10 no repository, 11 locked,
/// 12 wrong password); older versions (Debian 12 ships 0.14) exit 1, and only their message
/// tells, so that is read too.
fn explain(code: Option<i32>, stderr: &str) -> String {
    let said = |needle: &str| stderr.contains(needle);
    match code {
        Some(10) => "no repository at this location".into(),
        Some(11) => "the repository is locked by another restic process".into(),
        Some(12) => "wrong password for the repository".into(),
        _ if said("wrong password or no key found") => "wrong password for the repository".into(),
        _ if said("Is there a repository at the following location") => "no repository at this location".into(),
        _ if said("repository is already locked") => "the repository is locked by another restic process".into(),
        _ => {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            format!("restic failed (exit code {}): {}", code.map_or("none".into(), |c| c.to_string()), last.trim())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_words_for_old_and_new_restic() {
        assert_eq!(explain(Some(12), ""), "wrong password for the repository");
        assert_eq!(explain(Some(1), "Fatal: wrong password or no key found\n"), "wrong password for the repository");
        assert_eq!(
            explain(Some(1), "Fatal: unable to open config file: stat /x/config: no such file\nIs there a repository at the following location?\n/x\n"),
            "no repository at this location"
        );
        assert_eq!(explain(Some(1), "Fatal: boom\n"), "restic failed (exit code 1): Fatal: boom");
    }
}
