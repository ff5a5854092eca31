//! What the runner hands on: one [`CheckResult`] per check, and the [`RunReport`] of a run.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::CheckMeta;
use crate::outcome::{exit, Facts, Outcome, Status};

/// One finished check, as reporters see it.
#[derive(Debug, Clone)]
pub(crate) struct CheckResult {
    pub meta: CheckMeta,
    pub kind: &'static str,
    /// After severity: a failed `severity = "warning"` check is `Warn` here.
    pub status: Status,
    pub detail: String,
    pub duration: Duration,
    /// Against the previous run, when state is kept (see `crate::state`).
    pub trend: Option<Trend>,
    /// The numbers behind the detail, for machine formats.
    pub facts: Facts,
    /// Interrupted before it finished: reported, but not remembered as a verdict.
    pub unfinished: bool,
}

/// How a check's status compares with the previous run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trend {
    pub previous: Option<Status>,
    /// When the current state began: the first failing run of a problem, the recovery.
    pub since: SystemTime,
    pub change: Change,
}

/// What a person on the next shift needs to know first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Was passing or absent, now warns or fails.
    New,
    /// Was a problem, still is.
    Ongoing,
    /// Was a problem, passes now; down for this long.
    Recovered { down_for: Duration },
    /// Nothing to say: still passing, or skipped.
    Steady,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Ongoing => "ongoing",
            Change::Recovered { .. } => "recovered",
            Change::Steady => "steady",
        }
    }
}

impl CheckResult {
    pub fn new(meta: &CheckMeta, kind: &'static str, outcome: Outcome, duration: Duration) -> Self {
        let outcome = outcome.with_severity(meta.severity);
        Self {
            meta: meta.clone(),
            kind,
            status: outcome.status,
            detail: outcome.detail,
            duration,
            trend: None,
            facts: outcome.facts,
            unfinished: false,
        }
    }
}

/// Why a run ended before every check finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The `--deadline` passed.
    Deadline,
    /// A signal (SIGINT, SIGTERM, SIGHUP) asked rounds to stop; its name, like "SIGINT".
    Signal(&'static str),
}

impl CheckResult {
    /// "Restart the engine (runbook: https://wiki/hl7)": the next step, for the reports that
    /// show one under a failing or warning check.
    pub fn next_step(&self) -> Option<String> {
        match (&self.meta.hint, &self.meta.runbook) {
            (Some(hint), Some(runbook)) => Some(format!("{hint} (runbook: {runbook})")),
            (Some(hint), None) => Some(hint.clone()),
            (None, Some(runbook)) => Some(format!("runbook: {runbook}")),
            (None, None) => None,
        }
    }
}

/// Counts of results by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Summary {
    pub total: usize,
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
    pub ack: usize,
    pub maint: usize,
}

impl Summary {
    fn of(results: &[CheckResult]) -> Self {
        let mut s = Summary { total: results.len(), ..Summary::default() };
        for r in results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Skip => s.skip += 1,
                Status::Ack => s.ack += 1,
                Status::Maint => s.maint += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
            }
        }
        s
    }
}

/// A whole run: what reporters render and what the exit code is computed from.
#[derive(Debug, Clone)]
pub(crate) struct RunReport {
    pub started_at: SystemTime,
    pub duration: Duration,
    /// Of every check that ran, whether or not it is shown.
    pub summary: Summary,
    /// The exit code of the whole run without and with `--strict`.
    exit_codes: (u8, u8),
    /// The results to show, in inventory order, whatever order the checks finished in.
    pub results: Vec<CheckResult>,
    /// When the previous run whose state this one compares with ended, if state is kept.
    pub previous_run: Option<SystemTime>,
    /// What exactly was checked, for a stored report to say so.
    pub audit: Audit,
    /// Why the run ended early, if it did.
    pub stopped: Option<Stop>,
}

/// Which rounds checked which inventory where: stamped on every machine format, so a stored
/// report says exactly what was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Audit {
    pub version: String,
    pub host: String,
    pub inventory: String,
    /// SHA-256 of the inventory file's bytes, in hex.
    pub inventory_sha256: String,
}

/// The exit code without and with `--strict`: the worst any status asks for.
fn exit_codes(results: &[CheckResult]) -> (u8, u8) {
    results.iter().fold((exit::OK, exit::OK), |(plain, strict), r| {
        let c = r.status.consequence();
        (plain.max(c.exit_code), strict.max(c.strict_exit_code))
    })
}

impl RunReport {
    pub fn new(started_at: SystemTime, duration: Duration, results: Vec<CheckResult>) -> Self {
        let exit_codes = exit_codes(&results);
        Self {
            stopped: None,
            started_at,
            duration,
            summary: Summary::of(&results),
            exit_codes,
            results,
            previous_run: None,
            audit: Audit::default(),
        }
    }

    /// Counts and exit codes again, after statuses changed (acknowledgements, maintenance).
    pub fn recount(&mut self) {
        self.summary = Summary::of(&self.results);
        self.exit_codes = exit_codes(&self.results);
    }

    /// The exit code, from every check that ran (a filter never changes it).
    pub fn exit_code(&self, strict: bool) -> u8 {
        if strict {
            self.exit_codes.1
        } else {
            self.exit_codes.0
        }
    }

    /// Whether any check needs a person's attention.
    pub fn needs_attention(&self) -> bool {
        self.summary.total > self.summary.pass
    }

    /// How many results are new problems since the previous run.
    pub fn new_problems(&self) -> usize {
        self.results.iter().filter(|r| r.trend.as_ref().is_some_and(|t| t.change == Change::New)).count()
    }

    /// `--quiet`: keeps only the results that need attention; summary and exit code stay.
    pub fn keep_only_attention(&mut self) {
        self.results.retain(|r| r.status.consequence().needs_attention);
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::outcome::Severity;

    pub(crate) fn result(name: &str, status: Status, detail: &str) -> CheckResult {
        CheckResult {
            meta: CheckMeta {
                name: name.into(),
                group: None,
                target: "https://ehr.example.org/health".into(),
                severity: Severity::Critical,
                tags: vec!["ehr".into()],
                timeout: None,
                depends_on: vec![],
                retries: None,
                retry_delay: None,
                hint: None,
                runbook: None,
            },
            kind: "endpoint",
            status,
            detail: detail.into(),
            duration: Duration::from_millis(12),
            trend: None,
            facts: Facts::default(),
            unfinished: false,
        }
    }

    fn report(statuses: &[Status]) -> RunReport {
        RunReport::new(SystemTime::now(), Duration::ZERO, statuses.iter().map(|s| result("x", *s, "")).collect())
    }

    #[test]
    fn exit_codes_follow_the_worst_status() {
        assert_eq!(report(&[Status::Pass]).exit_code(false), exit::OK);
        assert_eq!(report(&[Status::Pass, Status::Warn]).exit_code(false), exit::OK);
        assert_eq!(report(&[Status::Warn]).exit_code(true), exit::WARNINGS);
        assert_eq!(report(&[Status::Warn, Status::Fail]).exit_code(true), exit::CRITICAL);
        assert_eq!(report(&[Status::Fail]).exit_code(false), exit::CRITICAL);
    }

    #[test]
    fn summary_counts_each_status() {
        let s = report(&[Status::Pass, Status::Fail, Status::Pass, Status::Warn]).summary;
        assert_eq!(s, Summary { total: 4, pass: 2, warn: 1, fail: 1, ..Summary::default() });
    }

    #[test]
    fn quiet_filter_keeps_summary_and_exit_code() {
        let mut r = report(&[Status::Pass, Status::Fail]);
        r.keep_only_attention();
        assert_eq!(r.results.len(), 1);
        assert_eq!(r.summary.total, 2);
        assert_eq!(r.exit_code(false), exit::CRITICAL);
    }
}
