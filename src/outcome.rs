//! The verdict types every layer shares: [`Status`], [`Severity`], [`Outcome`], exit codes.
//!
//! This file is the bottom of the dependency graph: it imports nothing of the crate, so
//! probes, the runner and reporters can all speak of a verdict without knowing each other.
//! What a status *means* (its rank, whether it needs a person's attention, how it moves the
//! exit code) is decided here and nowhere else: adding a status makes the compiler list
//! every `match` that has to decide about it.

use serde::{Deserialize, Serialize};

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

/// The verdict of one check. Deliberately not `Ord`: "worst" is [`Status::rank`], stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Not probed: a check it depends on failed. Never changes the exit code by itself (the
    /// failed dependency does).
    Skip,
    /// Probed during a maintenance window: whatever it found, it does not fail the gate.
    Maint,
    /// A known problem someone acknowledged until a date: shown, but not failing the gate.
    Ack,
    Warn,
    Fail,
}

/// What a status means for the person reading the report and for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consequence {
    /// Shown in quiet mode and in "needs attention".
    pub needs_attention: bool,
    /// The exit code this status asks for by itself.
    pub exit_code: u8,
    /// The same with `--strict`.
    pub strict_exit_code: u8,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Maint => "maint",
            Status::Ack => "ack",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// Higher is worse. When two verdicts meet (a hop's certificate and the page's status),
    /// the one with the higher rank wins.
    pub fn rank(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Maint => 1,
            Status::Skip => 2,
            Status::Ack => 3,
            Status::Warn => 4,
            Status::Fail => 5,
        }
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Status) -> Status {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// The one place that decides what needs attention and what fails the run.
    pub fn consequence(self) -> Consequence {
        match self {
            Status::Pass => Consequence { needs_attention: false, exit_code: exit::OK, strict_exit_code: exit::OK },
            // Shown (the person should know it was not checked), but the gate follows the
            // dependency that failed.
            Status::Skip => Consequence { needs_attention: true, exit_code: exit::OK, strict_exit_code: exit::OK },
            // Known and excused: listed (briefly) so nobody forgets them, never the gate.
            Status::Maint | Status::Ack => {
                Consequence { needs_attention: true, exit_code: exit::OK, strict_exit_code: exit::OK }
            }
            Status::Warn => {
                Consequence { needs_attention: true, exit_code: exit::OK, strict_exit_code: exit::WARNINGS }
            }
            Status::Fail => {
                Consequence { needs_attention: true, exit_code: exit::CRITICAL, strict_exit_code: exit::CRITICAL }
            }
        }
    }
}

/// What a probe found, before severity is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// One line a tired person understands: what was seen, and the limit it crossed.
    pub detail: String,
    /// Numbers behind the detail, for machine formats (Prometheus, Nagios perfdata).
    pub facts: Facts,
}

/// Measurements a probe can hand on besides its verdict. Each is `None` when the kind does
/// not measure it, or could not this time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// When the served certificate (the leaf, or the soonest in the chain) expires.
    pub cert_not_after: Option<std::time::SystemTime>,
    /// The age of the newest backup file.
    pub backup_age: Option<std::time::Duration>,
    /// Free space as a share of the filesystem (0 to 1).
    pub disk_free_ratio: Option<f64>,
    /// `warn_latency`, for performance data thresholds.
    pub latency_warn: Option<std::time::Duration>,
    /// Counts to remember until the next run, which is handed them as a [`Recall`] (the
    /// error count of each interface engine channel, to tell new errors from old ones).
    pub counters: std::collections::BTreeMap<String, u64>,
}

/// What a check counted at an earlier run ([`Facts::counters`]), and when; kept in the
/// state file between runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Recall {
    pub at: std::time::SystemTime,
    pub counters: std::collections::BTreeMap<String, u64>,
}

impl Outcome {
    pub fn new(status: Status, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), facts: Facts::default() }
    }
    pub fn pass(detail: impl Into<String>) -> Self {
        Self::new(Status::Pass, detail)
    }
    pub fn warn(detail: impl Into<String>) -> Self {
        Self::new(Status::Warn, detail)
    }
    pub fn fail(detail: impl Into<String>) -> Self {
        Self::new(Status::Fail, detail)
    }

    /// The same outcome with `facts`.
    pub fn with_facts(self, facts: Facts) -> Self {
        Self { facts, ..self }
    }

    /// After severity: a failed `severity = "warning"` check only warns.
    pub fn with_severity(self, severity: Severity) -> Self {
        match (self.status, severity) {
            (Status::Fail, Severity::Warning) => Self { status: Status::Warn, ..self },
            _ => self,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Status; 6] = [Status::Pass, Status::Maint, Status::Skip, Status::Ack, Status::Warn, Status::Fail];

    #[test]
    fn worst_follows_the_rank() {
        assert_eq!(Status::Pass.worst(Status::Fail), Status::Fail);
        assert_eq!(Status::Fail.worst(Status::Warn), Status::Fail);
        assert_eq!(Status::Warn.worst(Status::Pass), Status::Warn);
        for a in ALL {
            assert_eq!(a.worst(a), a);
        }
    }

    #[test]
    fn only_pass_needs_no_attention() {
        for s in ALL {
            assert_eq!(s.consequence().needs_attention, s != Status::Pass, "{s:?}");
        }
    }

    #[test]
    fn a_failed_warning_check_warns() {
        let o = Outcome::fail("down").with_severity(Severity::Warning);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(Outcome::fail("down").with_severity(Severity::Critical).status, Status::Fail);
    }
}
