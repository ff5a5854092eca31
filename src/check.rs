//! The data that flows through the pipeline: checks going in, results coming out.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::probe::Probe;

/// How much a failure of this check matters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure stops the clinic: it fails the run (exit code 2).
    #[default]
    Critical,
    /// A failure is worth knowing but not worth waking anyone: shown as `warn`.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One thing to probe, ready to run: everything in it has been validated.
#[derive(Debug)]
pub struct Check {
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
    pub probe: Probe,
}

impl Check {
    pub fn kind(&self) -> &'static str {
        self.probe.kind()
    }

    /// `--only` selects a check by its name, its table's name, or one of its tags.
    pub fn is_selected_by(&self, selector: &str) -> bool {
        self.name == selector || self.group.as_deref() == Some(selector) || self.tags.iter().any(|t| t == selector)
    }
}

/// What a probe found, before severity is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// One line a tired person understands: what was seen, and the limit it crossed.
    pub detail: String,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self { status: Status::Pass, detail: detail.into() }
    }
    pub fn warn(detail: impl Into<String>) -> Self {
        Self { status: Status::Warn, detail: detail.into() }
    }
    pub fn fail(detail: impl Into<String>) -> Self {
        Self { status: Status::Fail, detail: detail.into() }
    }
}

/// One finished check, as reporters see it.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// After severity: a failed `severity = "warning"` check is `Warn` here.
    pub status: Status,
    pub detail: String,
    pub duration: Duration,
}

impl CheckResult {
    pub fn new(check: &Check, outcome: Outcome, duration: Duration) -> Self {
        let status = match (outcome.status, check.severity) {
            (Status::Fail, Severity::Warning) => Status::Warn,
            (status, _) => status,
        };
        Self {
            name: check.name.clone(),
            kind: check.kind(),
            target: check.target.clone(),
            severity: check.severity,
            tags: check.tags.clone(),
            status,
            detail: outcome.detail,
            duration,
        }
    }
}

/// Counts of results by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

/// A whole run: what reporters render and what the exit code is computed from.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub started_at: SystemTime,
    pub duration: Duration,
    /// In inventory order, whatever order the checks finished in.
    pub results: Vec<CheckResult>,
}

/// Exit codes are part of the interface: cron jobs and CI gates depend on them.
pub mod exit {
    /// No critical check failed (warnings allowed).
    pub const OK: u8 = 0;
    /// Only with `--strict`: some check warned.
    pub const WARNINGS: u8 = 1;
    /// At least one critical check failed.
    pub const CRITICAL: u8 = 2;
    /// rounds could not run: unreadable or invalid inventory, bad flags.
    pub const UNUSABLE: u8 = 3;
}

impl RunReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary { total: self.results.len(), ..Summary::default() };
        for r in &self.results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
            }
        }
        s
    }

    /// A failed check is always critical here: a failed `warning` check became `Warn`.
    pub fn exit_code(&self, strict: bool) -> u8 {
        let s = self.summary();
        if s.fail > 0 {
            exit::CRITICAL
        } else if strict && s.warn > 0 {
            exit::WARNINGS
        } else {
            exit::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Status) -> CheckResult {
        CheckResult {
            name: "x".into(),
            kind: "server",
            target: "t".into(),
            severity: Severity::Critical,
            tags: vec![],
            status,
            detail: String::new(),
            duration: Duration::ZERO,
        }
    }

    fn report(statuses: &[Status]) -> RunReport {
        RunReport {
            started_at: SystemTime::now(),
            duration: Duration::ZERO,
            results: statuses.iter().map(|s| result(*s)).collect(),
        }
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
        let s = report(&[Status::Pass, Status::Fail, Status::Pass, Status::Warn]).summary();
        assert_eq!(s, Summary { total: 4, pass: 2, warn: 1, fail: 1 });
    }
}
