//! What the runner hands on: one [`CheckResult`] per check, and the [`RunReport`] of a run.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::CheckMeta;
use crate::outcome::{exit, Facts, Outcome, Status};
use crate::secrets::{printable, Secrets, MAX_DETAIL_CHARS};

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
    /// The probe found a failure that the check's `severity = "warning"` shows as `Warn`:
    /// still not a working system (the staff page never calls it "Working").
    pub failed_below_severity: bool,
}

/// How a check's status compares with the previous run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trend {
    pub previous: Option<Status>,
    /// When the current state began: the first failing run of a problem, the recovery.
    pub since: SystemTime,
    pub change: Change,
    /// The run before saw the check in a maintenance window (the state kept the verdict from
    /// before it): a problem still open now is news again, "still failing after maintenance".
    pub after_maintenance: bool,
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
        let failed = outcome.status.is_failure();
        let outcome = outcome.with_severity(meta.severity);
        Self {
            meta: meta.clone(),
            kind,
            status: outcome.status,
            detail: outcome.detail,
            duration,
            trend: None,
            failed_below_severity: failed && !outcome.status.is_failure(),
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
            *s.count_mut(r.status) += 1;
        }
        s
    }

    /// How many results have `status`.
    pub fn count(&self, status: Status) -> usize {
        // One mapping from status to field: count_mut's, on a copy.
        let mut copy = *self;
        *copy.count_mut(status)
    }

    fn count_mut(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Pass => &mut self.pass,
            Status::Skip => &mut self.skip,
            Status::Ack => &mut self.ack,
            Status::Maint => &mut self.maint,
            Status::Warn => &mut self.warn,
            Status::Fail => &mut self.fail,
        }
    }
}

/// A whole run on its way through the stages (see `app::check`): probed, excused (acks,
/// maintenance), compared with the state, stamped. Not renderable: [`RunReport::clean`] makes
/// the [`CleanReport`] reporters take, and nothing adds text after it.
#[derive(Debug, Clone)]
pub(crate) struct RunReport {
    started_at: SystemTime,
    duration: Duration,
    /// Of every check that ran, whether or not it is shown.
    summary: Summary,
    /// The exit code of the whole run without and with `--strict`.
    exit_codes: (u8, u8),
    /// The results to show, in inventory order, whatever order the checks finished in.
    results: Vec<CheckResult>,
    /// When the previous run whose state this one compares with ended, if state is kept.
    previous_run: Option<SystemTime>,
    /// What exactly was checked, for a stored report to say so.
    audit: Audit,
    /// Why the run ended early, if it did.
    stopped: Option<Stop>,
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
        let m = r.status.meaning();
        (plain.max(m.exit_code), strict.max(m.strict_exit_code))
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

    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Of every check that ran, whether or not it is shown.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// The results to show, in inventory order.
    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    /// When the previous run this one is compared with ended, if state is kept.
    pub fn previous_run(&self) -> Option<SystemTime> {
        self.previous_run
    }

    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Whether any check that ran is shown with `--quiet` (so cron mails).
    pub fn needs_attention(&self) -> bool {
        Status::ALL.iter().any(|&s| s.meaning().shown_when_quiet && self.summary.count(s) > 0)
    }

    /// How many results are new problems since the previous run.
    pub fn new_problems(&self) -> usize {
        self.results.iter().filter(|r| r.trend.as_ref().is_some_and(|t| t.change == Change::New)).count()
    }

    /// For the stages that change results (acks and maintenance, trends); call
    /// [`RunReport::recount`] after changing a status.
    pub fn results_mut(&mut self) -> &mut [CheckResult] {
        &mut self.results
    }

    /// Counts and exit codes again, after statuses changed (acknowledgements, maintenance).
    pub fn recount(&mut self) {
        self.summary = Summary::of(&self.results);
        self.exit_codes = exit_codes(&self.results);
    }

    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    pub fn set_stopped(&mut self, stopped: Option<Stop>) {
        self.stopped = stopped;
    }

    pub fn set_previous_run(&mut self, previous_run: Option<SystemTime>) {
        self.previous_run = previous_run;
    }

    pub fn set_audit(&mut self, audit: Audit) {
        self.audit = audit;
    }

    /// The exit code, from every check that ran (a filter never changes it).
    pub fn exit_code(&self, strict: bool) -> u8 {
        if strict {
            self.exit_codes.1
        } else {
            self.exit_codes.0
        }
    }

    /// The last stage before rendering, and the only way to a renderable report: every text
    /// that can reach an output (details with the acknowledgement notes and maintenance
    /// reasons put in front of them, names, targets, hints, runbooks, the audit) is redacted,
    /// then escaped, then capped, by [`clean_text`]. Nothing is added after it.
    pub fn clean(mut self, secrets: &Secrets) -> CleanReport {
        let line = |text: &mut String| *text = clean_text(text, secrets, usize::MAX);
        let capped = |text: &mut String| *text = clean_text(text, secrets, MAX_DETAIL_CHARS);
        for r in &mut self.results {
            // Taken apart field by field: a text added to a result, its metadata or the audit
            // does not compile until it is decided here.
            let CheckResult {
                meta,
                kind: _,
                status: _,
                detail,
                duration: _,
                trend: _,
                facts: _,
                unfinished: _,
                failed_below_severity: _,
            } = r;
            let CheckMeta {
                name,
                group,
                target,
                severity: _,
                tags,
                timeout: _,
                depends_on,
                retries: _,
                retry_delay: _,
                hint,
                runbook,
                public_name,
                hidden: _,
            } = meta;
            capped(detail);
            [name, target, public_name].into_iter().chain(group).chain(tags).chain(depends_on).for_each(line);
            [hint, runbook].into_iter().flatten().for_each(capped);
        }
        let Audit { version, host, inventory, inventory_sha256 } = &mut self.audit;
        [version, host, inventory, inventory_sha256].into_iter().for_each(line);
        CleanReport(self)
    }
}

/// The one cleaning step for any text rounds shows, in this order: secrets redacted, then
/// every control, bidirectional and line-separator character escaped, then at most
/// `max_chars` characters. Reports, `rounds history`, `rounds ack --list` and the progress
/// line all go through it.
pub(crate) fn clean_text(text: &str, secrets: &Secrets, max_chars: usize) -> String {
    printable(&secrets.redact(text), max_chars)
}

/// A run that passed [`RunReport::clean`]: what reporters render. Read-only but for the
/// `--quiet` filter, which removes results and adds no text.
#[derive(Debug, Clone)]
pub(crate) struct CleanReport(RunReport);

/// Reading a clean report: everything [`RunReport`] lets one read, nothing it lets one change.
impl std::ops::Deref for CleanReport {
    type Target = RunReport;

    fn deref(&self) -> &RunReport {
        &self.0
    }
}

impl CleanReport {
    /// `--quiet`: keeps only the results shown when quiet; summary and exit code stay.
    pub fn keep_only_attention(&mut self) {
        self.0.results.retain(|r| r.status.meaning().shown_when_quiet);
    }

    /// `--quiet` for people: as [`CleanReport::keep_only_attention`], and the checks that
    /// recovered since the last run too, so the mail can say which came back.
    pub fn keep_attention_and_recoveries(&mut self) {
        let recovered =
            |r: &CheckResult| r.trend.as_ref().is_some_and(|t| matches!(t.change, Change::Recovered { .. }));
        self.0.results.retain(|r| r.status.meaning().shown_when_quiet || recovered(r));
    }

    /// A notifier's share of the run: only the checks `keep` picks, counted alone (a webhook
    /// for the lab is told nothing of the other checks, not even how many failed).
    pub fn keep_only(&mut self, keep: impl Fn(&CheckResult) -> bool) {
        self.0.results.retain(|r| keep(r));
        self.0.summary = Summary::of(&self.0.results);
        self.0.exit_codes = exit_codes(&self.0.results);
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
                public_name: name.into(),
                hidden: false,
            },
            kind: "endpoint",
            status,
            detail: detail.into(),
            duration: Duration::from_millis(12),
            trend: None,
            facts: Facts::default(),
            unfinished: false,
            failed_below_severity: false,
        }
    }

    fn report(statuses: &[Status]) -> CleanReport {
        RunReport::new(SystemTime::now(), Duration::ZERO, statuses.iter().map(|s| result("x", *s, "")).collect())
            .clean(&Secrets::default())
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
        assert_eq!(s, Summary { total: 4, pass: 2, warn: 1, fail: 1, ..Summary::default() });
    }

    #[test]
    fn quiet_filter_keeps_summary_and_exit_code() {
        let mut r = report(&[Status::Pass, Status::Fail]);
        r.keep_only_attention();
        assert_eq!(r.results().len(), 1);
        assert_eq!(r.summary().total, 2);
        assert_eq!(r.exit_code(false), exit::CRITICAL);
    }
}
