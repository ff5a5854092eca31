//! `[[borg]]`: the newest archive in a Borg repository is fresh enough (and, if asked, the
//! repository is encrypted).
//!
//! rounds runs `borg list --json --last 1`, which also says the repository's encryption
//! mode. Borg asks questions on a terminal in some cases (an unknown unencrypted or a
//! relocated repository); stdin is closed and each documented `BORG_*` answer variable is
//! set, so a question can never hang or fail a run: access is allowed, and
//! `require_encryption` decides about encryption. The repository and passphrase reach borg
//! through its environment (`BORG_REPO`, `BORG_PASSPHRASE`), never its argv. Its failures
//! are judged by their class (`msgid` under `--log-json`, borg 1.1 to 1.4), never by their
//! wording; a class rounds has no words for is said with borg's own line.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use toml::Spanned;

use crate::config::values::HumanDuration;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::Outcome;
use crate::probe::exec::run_tool;
use crate::probe::freshness::judge_age;
use crate::probe::kind::{Budget, RunProbe};

/// Borg's documented answers to its interactive questions, so none is ever asked.
const ANSWERS: [(&str, &str); 4] = [
    ("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes"),
    ("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes"),
    ("BORG_CHECK_I_KNOW_WHAT_I_AM_DOING", "NO"),
    ("BORG_DELETE_I_KNOW_WHAT_I_AM_DOING", "NO"),
];

check_table! {
    /// `[[borg]]` as written in the inventory.
    pub(crate) struct BorgTable {
        /// The repository: a path or ssh://... (may use `${VAR}`).
        repository: Spanned<String>,
        /// The passphrase (use `${VAR}`); not needed for an unencrypted repository.
        passphrase: Option<Spanned<String>>,
        /// Only archives whose name matches this glob, like "ehr-*".
        glob: Option<String>,
        /// Older than this: fail.
        max_age: HumanDuration,
        /// Older than this: warn.
        warn_age: Option<Spanned<HumanDuration>>,
        /// Fail an unencrypted repository.
        #[serde(default)]
        require_encryption: bool,
        /// The borg program; default `borg` from PATH.
        program: Option<String>,
    }
}

impl Table for BorgTable {
    type Probe = BorgProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<BorgProbe>>, ConfigError> {
        let common = self.common();
        // Through BORG_REPO, never argv: `ps` shows argv to every user.
        let repository = loader.expand(&self.repository)?;
        let passphrase = match &self.passphrase {
            Some(p) => Some(loader.expand(p)?),
            None => None,
        };
        if let Some(warn) = self.warn_age.as_ref().filter(|w| w.get_ref().0 >= self.max_age.0) {
            return Err(loader.error(warn.span(), "warn_age must be less than max_age"));
        }
        let probe = BorgProbe {
            program: PathBuf::from(self.program.as_deref().unwrap_or("borg")),
            repository,
            passphrase,
            glob: self.glob,
            max_age: self.max_age.0,
            warn_age: self.warn_age.map(|w| w.into_inner().0),
            require_encryption: self.require_encryption,
        };
        loader.single(&common, self.repository.get_ref().clone(), probe)
    }
}

pub(crate) struct BorgProbe {
    pub program: PathBuf,
    /// May hold a secret (`${VAR}`): passed as BORG_REPO, never in argv.
    pub repository: String,
    /// A secret.
    pub passphrase: Option<String>,
    pub glob: Option<String>,
    pub max_age: Duration,
    pub warn_age: Option<Duration>,
    pub require_encryption: bool,
}

impl std::fmt::Debug for BorgProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BorgProbe").field("program", &self.program).field("glob", &self.glob).finish_non_exhaustive()
    }
}

/// What `borg list --json` says.
#[derive(Deserialize)]
struct Listing {
    archives: Vec<Archive>,
    encryption: Option<Encryption>,
}

#[derive(Deserialize)]
struct Archive {
    name: String,
    /// Local time without an offset, as borg 1.x writes it.
    start: String,
}

#[derive(Deserialize)]
struct Encryption {
    mode: String,
}

impl RunProbe for BorgProbe {
    fn kind(&self) -> &'static str {
        "borg"
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        // --log-json: each error comes with its class (`msgid`), which is what is judged.
        let mut args = vec!["--log-json".to_owned(), "list".into(), "--json".into(), "--last".into(), "1".into()];
        if let Some(glob) = &self.glob {
            args.extend(["--glob-archives".to_owned(), glob.clone()]);
        }
        let mut env: Vec<(&str, &str)> = ANSWERS.to_vec();
        env.push(("BORG_REPO", &self.repository));
        if let Some(p) = &self.passphrase {
            env.push(("BORG_PASSPHRASE", p));
        }
        let done = match run_tool(&self.program, &args, &env).await {
            Ok(done) => done,
            Err(e) => {
                return Outcome::fail(format!("cannot run {}: {}", self.program.display(), super::net::describe_io(&e)))
            }
        };
        if !done.status.success() {
            return Outcome::fail(explain(&String::from_utf8_lossy(&done.stderr)));
        }
        self.judge(&done.stdout, SystemTime::now())
    }
}

impl BorgProbe {
    fn judge(&self, stdout: &[u8], now: SystemTime) -> Outcome {
        let listing: Listing = match serde_json::from_slice(stdout) {
            Ok(l) => l,
            Err(e) => return Outcome::fail(format!("borg's answer is not the JSON expected ({e})")),
        };
        let mode = listing.encryption.map_or_else(|| "unknown".to_owned(), |e| e.mode);
        if self.require_encryption && mode == "none" {
            return Outcome::fail("the repository is not encrypted (require_encryption = true)");
        }
        let newest =
            listing.archives.iter().filter_map(|a| local_time(&a.start).map(|t| (t, a))).max_by_key(|(t, _)| *t);
        let Some((time, archive)) = newest else {
            return Outcome::fail("the repository holds no archive");
        };
        let outcome = judge_age(&format!("archive {}", archive.name), time, now, self.max_age, self.warn_age);
        Outcome { detail: format!("{}, encryption {mode}", outcome.detail), ..outcome }
    }
}

/// Borg 1.x's "2026-11-25T10:27:21.000000", local time on the machine that ran it.
fn local_time(text: &str) -> Option<SystemTime> {
    let local: jiff::civil::DateTime = text.parse().ok()?;
    let zoned = local.to_zoned_datetime(jiff::tz::TimeZone::system()).ok()?;
    Some(crate::config::to_system_time(zoned.timestamp()))
}

/// One line of what borg writes on stderr under `--log-json`.
#[derive(Deserialize)]
struct LogLine {
    levelname: Option<String>,
    /// The error's class, stable across versions (borg 1.1+): "Repository.DoesNotExist".
    msgid: Option<String>,
    message: Option<String>,
}

/// Borg's failure in words, judged by the class of its error (`msgid` under `--log-json`),
/// never by its wording: a repository rounds may not write fails with `LockFailed`
/// ("Permission denied" in its message), not as if another borg held it. A class without
/// words of ours, or no class at all, is said with borg's own first line.
fn explain(stderr: &str) -> String {
    let logged: Vec<LogLine> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let error = |l: &&LogLine| matches!(l.levelname.as_deref(), Some("ERROR" | "CRITICAL"));
    let first_line = |m: &str| m.lines().next().unwrap_or_default().trim().to_owned();
    if let Some(classed) = logged.iter().filter(error).find(|l| l.msgid.is_some()) {
        let said = first_line(classed.message.as_deref().unwrap_or_default());
        return match classed.msgid.as_deref().unwrap_or_default() {
            "Repository.DoesNotExist" => "no repository at this location".into(),
            "Repository.InvalidRepository" => format!("no borg repository at this location: {said}"),
            "PassphraseWrong" => "wrong passphrase for the repository".into(),
            "NoPassphraseFailure" | "PasswordRetriesExceeded" => {
                "the repository is encrypted and no passphrase was given (passphrase = \"${VAR}\")".into()
            }
            "LockTimeout" => "the repository is locked by another borg process".into(),
            // Even listing takes a lock: borg must be able to write the repository's folder.
            "LockFailed" => {
                format!("borg cannot take the repository's lock (it must write there even to list): {said}")
            }
            other => format!("borg failed ({other}): {said}"),
        };
    }
    // No class: borg's last error, or the last line that is not part of its log (ssh's own).
    let unlogged = stderr.lines().filter(|l| serde_json::from_str::<LogLine>(l).is_err());
    let last = logged
        .iter()
        .filter(error)
        .filter_map(|l| l.message.as_deref().map(first_line))
        .chain(unlogged.map(|l| l.trim().to_owned()))
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| "no message".into());
    format!("borg failed: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian's borg 1.2.4 writes under --log-json, cut to what is read.
    #[test]
    fn failures_are_judged_by_their_class() {
        let log = |msgid: &str, message: &str| {
            format!(
                "{{\"type\": \"log_message\", \"message\": {message:?}, \"levelname\": \"ERROR\", \"msgid\": {msgid:?}}}\n"
            )
        };
        let denied = "Failed to create/acquire the lock /srv/borg/lock.exclusive ([Errno 13] Permission denied: \
                      '/srv/borg/lock.exclusive.tmp').";
        let traceback = "{\"type\": \"log_message\", \"message\": \"Traceback (most recent call last):\\n  File\", \"levelname\": \"ERROR\"}\n";
        assert_eq!(
            explain(&(log("LockFailed", denied) + traceback)),
            format!("borg cannot take the repository's lock (it must write there even to list): {denied}")
        );
        let classes = [
            (
                "LockTimeout",
                "Failed to create/acquire the lock x (timeout).",
                "the repository is locked by another borg process",
            ),
            ("Repository.DoesNotExist", "Repository /x does not exist.", "no repository at this location"),
            ("PassphraseWrong", "passphrase ... is incorrect.", "wrong passphrase for the repository"),
            (
                "Archive.DoesNotExist",
                "Archive x does not exist",
                "borg failed (Archive.DoesNotExist): Archive x does not exist",
            ),
        ];
        for (msgid, message, said) in classes {
            assert_eq!(explain(&log(msgid, message)), said, "{msgid}");
        }
        // Words alone decide nothing: a lock named in a line without a class is quoted.
        let unclassed = "Remote: Failed to create/acquire the lock /srv/borg/lock.exclusive (timeout).";
        assert_eq!(explain(&format!("{unclassed}\n")), format!("borg failed: {unclassed}"));
        assert_eq!(explain(""), "borg failed: no message");
    }
}
