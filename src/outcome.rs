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
    /// Every severity.
    pub const ALL: &'static [Severity] = &[Severity::Critical, Severity::Warning];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// Declares [`Status`] and [`Status::ALL`] from one list, so the list cannot miss a variant.
macro_rules! statuses {
    ($($(#[$doc:meta])* $variant:ident),* $(,)?) => {
        /// The verdict of one check. Deliberately not `Ord`: "worst" is [`Status::rank`], stated.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum Status {
            $($(#[$doc])* $variant,)*
        }

        impl Status {
            /// Every status, in the order the summary line names them (the worst news first).
            pub const ALL: &'static [Status] = &[$(Status::$variant),*];
        }
    };
}

statuses! {
    Fail,
    Warn,
    /// Not probed: a check it depends on failed. Never changes the exit code by itself (the
    /// failed dependency does).
    Skip,
    /// A known problem someone acknowledged until a date: shown, but not failing the gate.
    Ack,
    /// Probed during a maintenance window: whatever it found, it does not fail the gate.
    Maint,
    Pass,
}

/// What a status means, for every question a layer asks about it. [`Status::meaning`] is the
/// one table: code elsewhere asks it a question instead of comparing statuses, so a new
/// status is decided here once and every reporter, the gate, acks and retries follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meaning {
    /// rounds saw the system healthy: the only status that may read as a pass anywhere.
    pub healthy: bool,
    /// The probe found it broken (before acks and maintenance excuse anything): retried,
    /// and its dependants are skipped.
    pub failed: bool,
    /// Shown with `--quiet` and in Nagios' long output (everything but a pass).
    pub shown_when_quiet: bool,
    /// A problem a person has to act on: listed under "Needs attention", named on the
    /// Nagios status line.
    pub needs_attention: bool,
    /// `rounds ack` can turn it into `ack` (and an expired acknowledgement says so).
    pub may_be_acknowledged: bool,
    /// The run is tried again after it (`retries`).
    pub retried: bool,
    /// A problem in the state file's sense: its first run opens "new", later ones are "ongoing".
    pub is_problem: bool,
    /// Not a verdict on the system (skipped, in maintenance): the state keeps the verdict
    /// from before rather than remember this one.
    pub keeps_previous_verdict: bool,
    /// Opens or continues an episode in `rounds history`.
    pub in_shift_record: bool,
    /// What the status page for staff says of it (`--output html:PATH`).
    pub for_staff: ForStaff,
    /// The Nagios plugin state this status asks for.
    pub nagios: NagiosState,
    /// The exit code this status asks for by itself.
    pub exit_code: u8,
    /// The same with `--strict`.
    pub strict_exit_code: u8,
    /// How the summary line counts it: "2 failed", "1 warning"...
    pub summary: (&'static str, &'static str),
}

/// A status as the staff status page words it: plain sentences, never a detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForStaff {
    /// "Working".
    Working,
    /// "Slow" for a latency warning, else "Working" (the page tells them apart).
    Warning,
    /// "Not working since 07:10".
    NotWorking,
    /// "Not working since 07:10 - IT knows and is working on it", with IT's message.
    NotWorkingKnown,
    /// "Planned maintenance until 12:00: reason"; its time does not count against it.
    Maintenance,
    /// "Not checked this time": never read as working.
    NotChecked,
}

impl ForStaff {
    /// Whether its time counts as working (`Some(true)`), not working, or not at all
    /// (maintenance, not checked) in the share of checked time a service worked.
    pub const fn worked(self) -> Option<bool> {
        match self {
            ForStaff::Working | ForStaff::Warning => Some(true),
            ForStaff::NotWorking | ForStaff::NotWorkingKnown => Some(false),
            ForStaff::Maintenance | ForStaff::NotChecked => None,
        }
    }
}

/// A Nagios/Icinga plugin state; ordered from OK to CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosState {
    Ok,
    Warning,
    Critical,
}

impl NagiosState {
    pub fn as_str(self) -> &'static str {
        match self {
            NagiosState::Ok => "OK",
            NagiosState::Warning => "WARNING",
            NagiosState::Critical => "CRITICAL",
        }
    }
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

    /// The one table of what each status means (see [`Meaning`]). Every answer is written out
    /// for every status, none inherited: a new status says what it is, field by field.
    pub const fn meaning(self) -> Meaning {
        match self {
            Status::Pass => Meaning {
                healthy: true,
                failed: false,
                shown_when_quiet: false,
                needs_attention: false,
                may_be_acknowledged: false,
                retried: false,
                is_problem: false,
                keeps_previous_verdict: false,
                in_shift_record: false,
                for_staff: ForStaff::Working,
                nagios: NagiosState::Ok,
                exit_code: exit::OK,
                strict_exit_code: exit::OK,
                summary: ("passed", "passed"),
            },
            // Shown (the person should know it was not checked), but the gate follows the
            // dependency that failed, and the state keeps what was known before.
            Status::Skip => Meaning {
                healthy: false,
                failed: false,
                shown_when_quiet: true,
                needs_attention: false,
                may_be_acknowledged: false,
                retried: false,
                is_problem: false,
                keeps_previous_verdict: true,
                in_shift_record: false,
                for_staff: ForStaff::NotChecked,
                nagios: NagiosState::Ok,
                exit_code: exit::OK,
                strict_exit_code: exit::OK,
                summary: ("skipped", "skipped"),
            },
            // Known and excused: listed (briefly) so nobody forgets them, never the gate.
            Status::Maint => Meaning {
                healthy: false,
                failed: false,
                shown_when_quiet: true,
                needs_attention: false,
                may_be_acknowledged: false,
                retried: false,
                is_problem: false,
                keeps_previous_verdict: true,
                in_shift_record: true,
                for_staff: ForStaff::Maintenance,
                nagios: NagiosState::Ok,
                exit_code: exit::OK,
                strict_exit_code: exit::OK,
                summary: ("in maintenance", "in maintenance"),
            },
            // Excused until a date, but still failing underneath: the problem goes on.
            Status::Ack => Meaning {
                healthy: false,
                failed: false,
                shown_when_quiet: true,
                needs_attention: false,
                may_be_acknowledged: false,
                retried: false,
                is_problem: true,
                keeps_previous_verdict: false,
                in_shift_record: true,
                for_staff: ForStaff::NotWorkingKnown,
                nagios: NagiosState::Ok,
                exit_code: exit::OK,
                strict_exit_code: exit::OK,
                summary: ("acknowledged", "acknowledged"),
            },
            // Worth a look; fails the gate only with --strict.
            Status::Warn => Meaning {
                healthy: false,
                failed: false,
                shown_when_quiet: true,
                needs_attention: true,
                may_be_acknowledged: true,
                retried: false,
                is_problem: true,
                keeps_previous_verdict: false,
                in_shift_record: true,
                for_staff: ForStaff::Warning,
                nagios: NagiosState::Warning,
                exit_code: exit::OK,
                strict_exit_code: exit::WARNINGS,
                summary: ("warning", "warnings"),
            },
            Status::Fail => Meaning {
                healthy: false,
                failed: true,
                shown_when_quiet: true,
                needs_attention: true,
                may_be_acknowledged: true,
                retried: true,
                is_problem: true,
                keeps_previous_verdict: false,
                in_shift_record: true,
                for_staff: ForStaff::NotWorking,
                nagios: NagiosState::Critical,
                exit_code: exit::CRITICAL,
                strict_exit_code: exit::CRITICAL,
                summary: ("failed", "failed"),
            },
        }
    }

    /// rounds saw it healthy ([`Meaning::healthy`]).
    pub const fn is_healthy(self) -> bool {
        self.meaning().healthy
    }

    /// The probe found it broken ([`Meaning::failed`]).
    pub const fn is_failure(self) -> bool {
        self.meaning().failed
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
    /// When that certificate starts to warn, by the check's own limits (`cert_warn_days` or
    /// `cert_warn`): what "expires within its warning days" means at a handover.
    pub cert_warns_from: Option<std::time::SystemTime>,
    /// The age of the newest backup file.
    pub backup_age: Option<std::time::Duration>,
    /// The age at which that backup fails (`max_age`): how close it is to its limit.
    pub backup_max_age: Option<std::time::Duration>,
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
        match severity {
            Severity::Warning if self.status.is_failure() => Self { status: Status::Warn, ..self },
            Severity::Warning | Severity::Critical => self,
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

    #[test]
    fn worst_follows_the_rank() {
        assert_eq!(Status::Pass.worst(Status::Fail), Status::Fail);
        assert_eq!(Status::Fail.worst(Status::Warn), Status::Fail);
        assert_eq!(Status::Warn.worst(Status::Pass), Status::Warn);
        for &a in Status::ALL {
            assert_eq!(a.worst(a), a);
        }
    }

    #[test]
    fn only_pass_is_healthy_and_hidden_when_quiet() {
        for &s in Status::ALL {
            let m = s.meaning();
            assert_eq!(m.healthy, s == Status::Pass, "{s:?}");
            assert_eq!(m.shown_when_quiet, !m.healthy, "{s:?}");
        }
    }

    #[test]
    fn every_status_is_listed_once_with_its_own_rank() {
        let mut ranks: Vec<u8> = Status::ALL.iter().map(|s| s.rank()).collect();
        ranks.sort_unstable();
        ranks.dedup();
        assert_eq!(ranks.len(), Status::ALL.len());
    }

    /// What the gate promises: nothing but a failure fails the run, a warning only with
    /// `--strict`, and a status that is not healthy never says OK to Nagios unless it is
    /// excused (skipped, acknowledged, in maintenance).
    #[test]
    fn the_table_keeps_the_gate_s_promises() {
        for &s in Status::ALL {
            let m = s.meaning();
            assert_eq!(m.exit_code == exit::CRITICAL, m.failed, "{s:?}");
            assert!(m.strict_exit_code >= m.exit_code, "{s:?}");
            assert_eq!(m.nagios != NagiosState::Ok, m.needs_attention, "{s:?}");
            assert!(!m.needs_attention || m.shown_when_quiet, "{s:?}");
            assert!(!(m.healthy && (m.is_problem || m.in_shift_record)), "{s:?}");
        }
    }

    #[test]
    fn a_failed_warning_check_warns() {
        let o = Outcome::fail("down").with_severity(Severity::Warning);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(Outcome::fail("down").with_severity(Severity::Critical).status, Status::Fail);
    }
}
