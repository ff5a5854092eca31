//! `[[pgbackrest]]`: a PostgreSQL stanza's newest pgBackRest backup is fresh enough and the
//! stanza is healthy.
//!
//! A kind of its own, like `[[restic]]` and `[[borg]]`: the repository's own record is the
//! proof, not a file's time. rounds runs `pgbackrest --stanza=NAME --output=json info` (with
//! `--config` and `--repo` when given) with stdin closed, and reads the stanza's status code
//! (0 ok, 1 missing stanza path, 2 no valid backups, ...), whether a backup is running, and
//! the newest backup's stop time. pgBackRest keeps the JSON "stable unless a bug is found".

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use toml::Spanned;

use crate::config::values::HumanDuration;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::{Outcome, Status};
use crate::probe::exec::run_tool;
use crate::probe::freshness::judge_age;
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[pgbackrest]]` as written in the inventory.
    pub(crate) struct PgbackrestTable {
        /// The stanza (pgBackRest's name for one PostgreSQL cluster's backups).
        stanza: Spanned<String>,
        /// Older than this: fail.
        max_age: HumanDuration,
        /// Older than this: warn.
        warn_age: Option<Spanned<HumanDuration>>,
        /// pgbackrest.conf to use, relative to the inventory; default pgBackRest's own.
        config: Option<Spanned<String>>,
        /// Only this repository (`--repo`), when the stanza has several.
        repo: Option<u32>,
        /// The pgbackrest program; default `pgbackrest` from PATH.
        program: Option<String>,
    }
}

impl Table for PgbackrestTable {
    type Probe = PgbackrestProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<PgbackrestProbe>>, ConfigError> {
        let common = self.common();
        let stanza = self.stanza.get_ref().trim().to_owned();
        if stanza.is_empty() || stanza.starts_with('-') {
            return Err(loader.error(self.stanza.span(), "stanza is the name of a pgBackRest stanza, like \"main\""));
        }
        if let Some(warn) = self.warn_age.as_ref().filter(|w| w.get_ref().0 >= self.max_age.0) {
            return Err(loader.error(warn.span(), "warn_age must be less than max_age"));
        }
        let mut args = vec![format!("--stanza={stanza}"), "--output=json".into()];
        if let Some(config) = &self.config {
            args.push(format!("--config={}", loader.resolve_path(config.get_ref()).display()));
        }
        if let Some(repo) = self.repo {
            args.push(format!("--repo={repo}"));
        }
        args.push("info".into());
        let probe = PgbackrestProbe {
            program: PathBuf::from(self.program.as_deref().unwrap_or("pgbackrest")),
            args,
            stanza: stanza.clone(),
            max_age: self.max_age.0,
            warn_age: self.warn_age.map(|w| w.into_inner().0),
        };
        loader.single(&common, format!("stanza {stanza}"), probe)
    }
}

#[derive(Debug)]
pub(crate) struct PgbackrestProbe {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub stanza: String,
    pub max_age: Duration,
    pub warn_age: Option<Duration>,
}

/// One stanza of `pgbackrest info --output=json` (an array of these).
#[derive(Deserialize)]
struct Stanza {
    name: String,
    status: StanzaStatus,
    #[serde(default)]
    backup: Vec<Backup>,
}

#[derive(Deserialize)]
struct StanzaStatus {
    code: i64,
    message: String,
    lock: Option<Lock>,
}

#[derive(Deserialize)]
struct Lock {
    backup: Option<Held>,
}

#[derive(Deserialize)]
struct Held {
    held: bool,
}

#[derive(Deserialize)]
struct Backup {
    label: String,
    #[serde(rename = "type")]
    kind: String,
    timestamp: Timestamps,
    /// Page checksum errors found while backing up (pgBackRest 2.36+).
    #[serde(default)]
    error: bool,
}

#[derive(Deserialize)]
struct Timestamps {
    stop: i64,
}

impl RunProbe for PgbackrestProbe {
    fn kind(&self) -> &'static str {
        "pgbackrest"
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        let done = match run_tool(&self.program, &self.args, &[]).await {
            Ok(done) => done,
            Err(e) => {
                return Outcome::fail(format!("cannot run {}: {}", self.program.display(), super::net::describe_io(&e)))
            }
        };
        if !done.status.success() {
            let stderr = String::from_utf8_lossy(&done.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
            return Outcome::fail(format!("pgbackrest failed: {last}"));
        }
        self.judge(&done.stdout, SystemTime::now())
    }
}

impl PgbackrestProbe {
    fn judge(&self, stdout: &[u8], now: SystemTime) -> Outcome {
        let stanzas: Vec<Stanza> = match serde_json::from_slice(stdout) {
            Ok(s) => s,
            Err(e) => return Outcome::fail(format!("pgbackrest's answer is not the JSON expected ({e})")),
        };
        let Some(stanza) = stanzas.iter().find(|s| s.name == self.stanza) else {
            return Outcome::fail(format!("pgbackrest knows no stanza {:?}", self.stanza));
        };
        match stanza.status.code {
            0 => {}
            1 => {
                return Outcome::fail("no such stanza in the repository (missing stanza path): was stanza-create run?")
            }
            2 => return Outcome::fail("the stanza has no valid backup"),
            code => return Outcome::fail(format!("stanza status {code}: {}", stanza.status.message)),
        }
        let newest = stanza.backup.iter().max_by_key(|b| b.timestamp.stop);
        let Some(newest) = newest else { return Outcome::fail("the stanza has no backup") };
        let Ok(stopped) = jiff::Timestamp::from_second(newest.timestamp.stop).map(crate::config::to_system_time) else {
            return Outcome::fail(format!("backup {} has an unreadable stop time", newest.label));
        };
        let outcome =
            judge_age(&format!("{} backup {}", newest.kind, newest.label), stopped, now, self.max_age, self.warn_age);
        let mut notes = Vec::new();
        if newest.error {
            notes.push("it found page checksum errors in the database (see pgbackrest info)");
        }
        if stanza.status.lock.as_ref().and_then(|l| l.backup.as_ref()).is_some_and(|b| b.held) {
            notes.push("a backup is running now");
        }
        if notes.is_empty() {
            return outcome;
        }
        let status = match newest.error {
            true => outcome.status.worst(Status::Warn),
            false => outcome.status,
        };
        Outcome { status, detail: format!("{}; {}", outcome.detail, notes.join("; ")), ..outcome }
    }
}
