//! What rounds remembers between runs, for the person on the next shift.
//!
//! One small JSON file per inventory holds each check's last status and since when it has
//! held; a run compares with it (new, ongoing, recovered) and writes it back. Beside it, an
//! append-only run log ([`history`]) is the shift record.
//!
//! Writes are atomic and never through a link ([`crate::files`]), and locked (`flock` on a
//! `.lock` file beside it): two runs at once never corrupt the file; one waits briefly or
//! skips writing and says so. Both files are private (0600, or 0660 in a setgid folder).
//!
//! # One versioned design
//! The state file and every line of the run log carry `version` ([`VERSION`], one number for
//! both). Reading an older version migrates it ([`migrate`], one step per version): a format
//! change never wipes a clinic's history. Only a damaged file means a fresh start (a copy is
//! kept as `<state>.damaged`); a file of a newer rounds is left as it is and this run is not
//! saved there. Records a later version adds go in new keys that an older reader keeps
//! untouched when it rewrites the file (`more`): `days` in each check's entry (the compact
//! per-day record of the status page) came so, and `outbox` at the top (notifications waiting
//! to be delivered, [`keep_outbox`]) came so. A run log line records the run's `stopped` signal and its `unfinished`
//! checks when it was interrupted.
//!
//! Sits above the runner (it annotates a [`RunReport`]) and below the app; reporters only
//! see the annotations.

pub(crate) mod history;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::outcome::{ForStaff, Recall, Status};
use crate::runner::results::{Change, RunReport, Trend};

pub(crate) use self::store::{from_unix, to_unix, Locked, VERSION};
use crate::files::{self, Access};

/// Said in the file, so a file of another program or a later version is recognised.
const FORMAT: &str = "rounds-state";
/// Far above any real state (a few hundred checks): a bigger file is not ours.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// The state file as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    format: String,
    version: u32,
    /// The inventory it belongs to (absolute).
    inventory: String,
    /// When the last run that wrote it started (Unix seconds).
    last_run: Option<u64>,
    checks: BTreeMap<String, Entry>,
    /// Records of a later version, kept as they are.
    #[serde(flatten)]
    more: serde_json::Map<String, serde_json::Value>,
}

/// Seconds checked, and seconds of those working, in one day. Maintenance and runs that
/// did not check it count for neither.
pub(crate) type Day = [u64; 2];

/// Days kept per check: 30 whole days and today. 200 checks keep about 200 KB.
pub(crate) const DAYS_KEPT: usize = 31;
/// A run is credited the time since the run before, up to this: a machine that was off
/// for a night does not make the night count.
const MAX_CREDIT: u64 = 3600;

/// The local date of `secs`, as the per-day record keys it.
pub(crate) fn day_of(secs: u64) -> String {
    let at = jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX)).unwrap_or(jiff::Timestamp::MAX);
    at.to_zoned_datetime(jiff::tz::TimeZone::system()).date().to_string()
}

/// Adds `credit` seconds of a run to today's record, and forgets the oldest days.
fn add_day(days: &mut BTreeMap<String, Day>, now: u64, credit: u64, status: Status) {
    let Some(worked) = status.meaning().for_staff.worked() else { return };
    if credit == 0 {
        return;
    }
    let day = days.entry(day_of(now)).or_default();
    day[0] += credit;
    day[1] += if worked { credit } else { 0 };
    while days.len() > DAYS_KEPT {
        days.pop_first();
    }
}

/// One check's remembered state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    status: Status,
    /// When this status (or, for warn and fail, this problem) began (Unix seconds).
    since: u64,
    /// What the check last counted ([`Facts::counters`](crate::outcome::Facts)), and when
    /// (Unix seconds): kept through runs that could not count (the engine was down), so
    /// growth is always measured from the last real count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    counters: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counted_at: Option<u64>,
    /// What the last run that saw them recorded: when the served certificate expires (Unix
    /// seconds) and how old the newest backup was (seconds), for `rounds handover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cert_not_after: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backup_age: Option<u64>,
    /// When that certificate starts to warn (Unix seconds) and the backup's age limit
    /// (seconds), by the check's own settings: how near each is to trouble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cert_warns_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backup_max_age: Option<u64>,
    /// Per local day ("2026-12-03"), for the status page: the seconds it was checked and
    /// the seconds of those it worked ([`Day`]); the last [`DAYS_KEPT`] days.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    days: BTreeMap<String, Day>,
    /// The last run saw the check in a maintenance window (`status` is still the verdict
    /// from before it): the first run after the window tells a problem still open.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    in_maintenance: bool,
    /// Records of a later version, kept as they are.
    #[serde(flatten)]
    more: serde_json::Map<String, serde_json::Value>,
}

/// Where the state of the inventory at `inventory` is kept by default:
/// `$XDG_STATE_HOME/rounds/`, else `~/.local/state/rounds/`, one file per inventory. A HOME
/// of `/` (systemd's DynamicUser, some containers) is no home: `None`, not `/.local/state`.
pub(crate) fn default_path(inventory: &Path) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty() && v != "/")?).join(".local/state"),
    };
    let absolute = std::fs::canonicalize(inventory).unwrap_or_else(|_| inventory.to_owned());
    let stem = inventory.file_stem().map_or_else(|| "checks".into(), |s| s.to_string_lossy().into_owned());
    Some(base.join("rounds").join(format!("{stem}-{:016x}.json", fnv1a(absolute.to_string_lossy().as_bytes()))))
}

/// A stable hash of the inventory's path (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

impl State {
    /// Reads the state at `path`; a missing file is a first run, a damaged one a fresh
    /// start with a warning (pushed to `warnings`). `None`, with a warning, for a state that
    /// must be left as it is (a newer rounds', unreadable): no trends, and nothing saved.
    pub fn read(path: &Path, warnings: &mut Vec<String>) -> Option<State> {
        match load(path) {
            Ok(state) => Some(state),
            Err(unusable) => {
                warnings.push(unusable.to_string());
                matches!(unusable, Unusable::Damaged(_)).then(State::default)
            }
        }
    }

    /// Notifications waiting to be delivered (`outbox`), as stored.
    pub fn outbox(&self) -> Option<&serde_json::Value> {
        self.more.get(OUTBOX)
    }

    /// When the run that wrote this state started.
    pub fn last_run(&self) -> Option<SystemTime> {
        self.last_run.map(from_unix)
    }

    /// What `check` counted at the last run that counted, for the probe to compare with.
    pub fn recall(&self, check: &str) -> Option<Recall> {
        let entry = self.checks.get(check)?;
        let at = from_unix(entry.counted_at?);
        Some(Recall { at, counters: entry.counters.clone() })
    }

    /// What the last run saw of each check's certificate and backup, by check name.
    pub fn seen(&self) -> impl Iterator<Item = Seen<'_>> {
        self.checks.iter().map(|(name, e)| Seen {
            name,
            status: e.status,
            cert_not_after: e.cert_not_after,
            cert_warns_from: e.cert_warns_from,
            backup_age: e.backup_age.map(Duration::from_secs),
            backup_max_age: e.backup_max_age.map(Duration::from_secs),
        })
    }

    /// Compares each result with the remembered state and records the trend on it.
    pub fn annotate(&self, report: &mut RunReport) {
        let now = report.started_at();
        report.set_previous_run(self.last_run());
        for result in report.results_mut() {
            let before = self.checks.get(&result.meta.name);
            result.trend = Some(trend(before, result.status, now));
        }
    }

    /// This state with `report`'s results written in: checks that did not run (`--only`)
    /// keep their entries, and skipped checks keep what was known before them. With
    /// `all_ran`, checks no longer in the inventory are forgotten.
    pub fn updated(mut self, report: &RunReport, inventory: &Path, all_ran: bool) -> State {
        let now = report.started_at();
        let credit = self.last_run.map_or(0, |last| to_unix(now).saturating_sub(last).min(MAX_CREDIT));
        if all_ran {
            self.checks.retain(|name, _| report.results().iter().any(|r| r.meta.name == *name));
        }
        for result in report.results() {
            // Skipped, in maintenance or interrupted: nothing new is known about the check.
            if result.status.meaning().keeps_previous_verdict || result.unfinished {
                let in_maintenance = matches!(result.status.meaning().for_staff, ForStaff::Maintenance);
                if let Some(entry) = self.checks.get_mut(&result.meta.name).filter(|_| in_maintenance) {
                    entry.in_maintenance = true;
                }
                // But what a check in maintenance counted is its count: errors made during
                // the work are not news after it.
                let entry = self.checks.get_mut(&result.meta.name);
                if let Some(entry) = entry.filter(|_| !result.facts.counters.is_empty() && !result.unfinished) {
                    entry.counters = result.facts.counters.clone();
                    entry.counted_at = Some(to_unix(now));
                }
                continue;
            }
            let before = self.checks.get(&result.meta.name);
            let since = trend(before, result.status, now).since;
            let (counters, counted_at) = match (&result.facts.counters, before) {
                (counted, _) if !counted.is_empty() => (counted.clone(), Some(to_unix(now))),
                (_, Some(before)) => (before.counters.clone(), before.counted_at),
                (_, None) => (BTreeMap::new(), None),
            };
            let more = before.map(|e| e.more.clone()).unwrap_or_default();
            let mut days = before.map(|e| e.days.clone()).unwrap_or_default();
            // A failure its severity softened to a warning did not work, for the staff page.
            let as_staff_see_it = if result.failed_below_severity { Status::Fail } else { result.status };
            add_day(&mut days, to_unix(now), credit, as_staff_see_it);
            let facts = &result.facts;
            let entry = Entry {
                status: result.status,
                since: to_unix(since),
                counters,
                counted_at,
                cert_not_after: facts.cert_not_after.map(to_unix),
                backup_age: facts.backup_age.map(|age| age.as_secs()),
                cert_warns_from: facts.cert_warns_from.map(to_unix),
                backup_max_age: facts.backup_max_age.map(|age| age.as_secs()),
                days,
                in_maintenance: false,
                more,
            };
            self.checks.insert(result.meta.name.clone(), entry);
        }
        self.format = FORMAT.into();
        self.version = VERSION;
        self.inventory = inventory.display().to_string();
        self.last_run = Some(to_unix(now));
        self
    }
}

/// A check as the state remembers it, for what is coming up at a handover.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'a> {
    pub name: &'a str,
    pub status: Status,
    /// Unix seconds.
    pub cert_not_after: Option<u64>,
    /// Unix seconds; `None` in a state written before rounds kept it.
    pub cert_warns_from: Option<u64>,
    pub backup_age: Option<Duration>,
    pub backup_max_age: Option<Duration>,
}

/// Why a state file is not used as it stands.
#[derive(Debug)]
enum Unusable {
    /// Not readable as a rounds state: replaced by a fresh start (a copy is kept).
    Damaged(String),
    /// Of a newer rounds, unreadable, or not a file of ours: left as it is.
    Untouchable(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Damaged(why) | Unusable::Untouchable(why) => f.write_str(why),
        }
    }
}

/// The state at `path`, migrated to [`VERSION`]; a missing file is a first run.
fn load(path: &Path) -> Result<State, Unusable> {
    let shown = path.display();
    let bytes = match files::read_own(path, MAX_STATE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) if files::is_refused(&e) => return Err(Unusable::Untouchable(e.to_string())),
        Err(e) => {
            return Err(Unusable::Untouchable(format!(
                "cannot read the state file {shown}: {e}; trends are not shown and this run is not saved there"
            )))
        }
    };
    let damaged = || {
        Unusable::Damaged(format!("the state file {shown} is not a rounds state file or is damaged; starting fresh (the old one is kept as {shown}.damaged)"))
    };
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| damaged())?;
    let version = match (doc.get("format").and_then(|f| f.as_str()), doc.get("version").and_then(|v| v.as_u64())) {
        (Some(FORMAT), Some(version)) if version >= 1 => version,
        _ => return Err(damaged()),
    };
    if version > u64::from(VERSION) {
        return Err(Unusable::Untouchable(format!(
            "the state file {shown} was written by a newer rounds (version {version}); it is left as it is, and this run is not saved there"
        )));
    }
    serde_json::from_value(migrate(doc, version)).map_err(|_| damaged())
}

/// Takes a state file of version `from` to [`VERSION`], one step per version. A step may
/// reshape the document; it never drops what the older version recorded.
fn migrate(mut doc: serde_json::Value, from: u64) -> serde_json::Value {
    for version in from..u64::from(VERSION) {
        // 1 -> 2: the same records; version 2 only adds keys (in the run log).
        doc["version"] = (version + 1).into();
    }
    doc
}

/// Refuses, before a run, a state file, lock or run log that is not rounds' own regular
/// file (a planted link): the error names the path.
pub(crate) fn check_paths(path: &Path) -> std::io::Result<()> {
    for own in [path.to_owned(), store::lock_path(path), history::log_path(path)] {
        files::refuse_planted(&own)?;
    }
    Ok(())
}

/// A warning saying `what` failed, or `e` itself when something was planted where rounds
/// keeps its files (that fails the run).
fn warning_unless_refused(e: std::io::Error, what: &str) -> std::io::Result<String> {
    if files::is_refused(&e) {
        return Err(e);
    }
    Ok(format!("{what}: {e}"))
}

/// How long a run waits for another run that is writing the same state.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// Writes `report` into the state at `path` and appends it to the run log, under the lock.
/// Returns what went wrong, as warnings: remembering never fails a run, except where a link
/// or another file stands where rounds keeps its own (`Err`, naming the path).
pub(crate) fn remember(
    path: &Path,
    report: &RunReport,
    inventory: &Path,
    all_ran: bool,
) -> std::io::Result<Remembered> {
    let mut warnings = Vec::new();
    let _lock = match Locked::acquire(path, LOCK_PATIENCE) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            warnings.push(format!(
                "another rounds run is writing {}; this run's results were not saved there",
                path.display()
            ));
            return Ok(Remembered { warnings, days: None });
        }
        Err(e) => {
            let what = format!("cannot keep state in {}", path.display());
            warnings.push(warning_unless_refused(e, &what)? + "; use --state PATH or --no-state");
            return Ok(Remembered { warnings, days: None });
        }
    };
    // Read again under the lock: another run may have written since this one started.
    let state = match load(path) {
        Ok(state) => Some(state),
        Err(Unusable::Damaged(_)) => {
            if let Ok(bytes) = files::read_own(path, MAX_STATE_BYTES) {
                let mut kept = path.as_os_str().to_owned();
                kept.push(".damaged");
                let _ = files::replace(Path::new(&kept), &bytes, Access::Private);
            }
            Some(State::default())
        }
        // Said once already, when the run began.
        Err(Unusable::Untouchable(_)) => None,
    };
    let mut days = None;
    if let Some(state) = state {
        let state = state.updated(report, inventory, all_ran);
        let written = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| files::replace(path, &bytes, Access::Private));
        match written {
            Ok(()) => days = Some(state.checks.into_iter().map(|(name, e)| (name, e.days)).collect()),
            Err(e) => {
                warnings.push(warning_unless_refused(e, &format!("cannot write the state file {}", path.display()))?)
            }
        }
    }
    let log = history::log_path(path);
    if let Err(e) = history::append(&log, &history::RunRecord::of(report, all_ran), report.started_at()) {
        warnings.push(warning_unless_refused(e, &format!("cannot write the run log {}", log.display()))?);
    }
    Ok(Remembered { warnings, days })
}

/// Each check's per-day record, by check name.
pub(crate) type CheckDays = BTreeMap<String, BTreeMap<String, Day>>;

/// What [`remember`] did: what went wrong, as warnings, and the per-day records it wrote
/// (`None` when it wrote none), so the status page need not read the file again.
#[derive(Debug, Default)]
pub(crate) struct Remembered {
    pub warnings: Vec<String>,
    pub days: Option<CheckDays>,
}

/// The key of notifications waiting to be delivered, at the top of the state.
const OUTBOX: &str = "outbox";

/// Keeps `outbox` in the state at `path` (removes it when `None`), under the lock. Returns
/// what went wrong, as warnings; a state that is not usable is left as it is.
pub(crate) fn keep_outbox(path: &Path, outbox: Option<serde_json::Value>) -> Vec<String> {
    let mut warnings = Vec::new();
    let lock = match Locked::acquire(path, LOCK_PATIENCE) {
        Ok(Some(lock)) => lock,
        Ok(None) | Err(_) => {
            warnings.push(format!("cannot keep undelivered notifications in {}", path.display()));
            return warnings;
        }
    };
    if let Ok(mut state) = load(path) {
        if state.outbox().is_none() && outbox.is_none() {
            return warnings;
        }
        match outbox {
            Some(value) => state.more.insert(OUTBOX.into(), value),
            None => state.more.remove(OUTBOX),
        };
        let written = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| files::replace(path, &bytes, Access::Private));
        if let Err(e) = written {
            warnings.push(format!("cannot write the state file {}: {e}", path.display()));
        }
    }
    drop(lock);
    warnings
}

/// What the status page needs from the state at `path`: each check's days (`written`, what
/// this run just wrote, else read from the file: this run wrote none), and the usual
/// interval between recent complete runs (the median of the last 20), from the run log.
pub(crate) fn page_record(path: &Path, written: Option<CheckDays>) -> PageRecord {
    let days = written.unwrap_or_else(|| {
        let mut warnings = Vec::new();
        State::read(path, &mut warnings)
            .map(|s| s.checks.into_iter().map(|(name, e)| (name, e.days)).collect())
            .unwrap_or_default()
    });
    PageRecord { days, usual_interval: usual_interval(&history::log_path(path)) }
}

/// Gaps between complete runs the usual interval is the median of.
const USUAL_GAPS: usize = 20;

/// The median of the last [`USUAL_GAPS`] gaps between complete runs in the run log `log`.
/// They are in the newest lines: its tail is read, from 8 KiB (a hundred runs of a quiet
/// inventory) doubling up to 1 MiB while too few runs are in it (long lines of problems).
fn usual_interval(log: &Path) -> Option<Duration> {
    let mut tail: u64 = 8 * 1024;
    let starts = loop {
        let Ok((recent, cut)) = history::read_recent(log, tail) else { return None };
        let starts: Vec<u64> = recent.records.iter().filter(|r| r.only.is_none()).map(|r| r.at).collect();
        if starts.len() > USUAL_GAPS || !cut || tail >= 1024 * 1024 {
            break starts;
        }
        tail *= 2;
    };
    let mut gaps: Vec<u64> = starts.windows(2).rev().take(USUAL_GAPS).map(|w| w[1].saturating_sub(w[0])).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).filter(|g| **g > 0).map(|g| Duration::from_secs(*g))
}

/// See [`page_record`].
#[derive(Debug, Default)]
pub(crate) struct PageRecord {
    pub days: BTreeMap<String, BTreeMap<String, Day>>,
    pub usual_interval: Option<Duration>,
}

/// Appends a note or a handover to the run log beside the state at `path`, under the lock;
/// never through a planted link.
pub(crate) fn write_mark(path: &Path, mark: &history::Mark) -> std::io::Result<()> {
    check_paths(path)?;
    let Some(_lock) = Locked::acquire(path, LOCK_PATIENCE)? else {
        return Err(std::io::Error::other(format!(
            "another rounds run is writing {}; try again in a moment",
            path.display()
        )));
    };
    history::append(&history::log_path(path), mark, from_unix(mark.at))
}

/// An acknowledged check still fails underneath: the problem goes on (the status table says).
fn is_problem(status: Status) -> bool {
    status.meaning().is_problem
}

/// The trend of a check now at `status`, given what was remembered.
fn trend(before: Option<&Entry>, status: Status, now: SystemTime) -> Trend {
    let previous = before.map(|e| e.status);
    let was_problem = before.is_some_and(|e| is_problem(e.status));
    let since_before = before.map_or(now, |e| from_unix(e.since));
    let after_maintenance = before.is_some_and(|e| e.in_maintenance);
    let (change, since) = match (was_problem, status) {
        (_, Status::Skip | Status::Maint) => (Change::Steady, since_before),
        (false, Status::Warn | Status::Fail | Status::Ack) => (Change::New, now),
        (true, Status::Warn | Status::Fail | Status::Ack) => (Change::Ongoing, since_before),
        (true, Status::Pass) => {
            (Change::Recovered { down_for: now.duration_since(since_before).unwrap_or(Duration::ZERO) }, now)
        }
        (false, Status::Pass) => (Change::Steady, if before.is_some() { since_before } else { now }),
    };
    Trend { previous, since, change, after_maintenance }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::results::CheckResult;

    const HOUR: Duration = Duration::from_secs(3600);

    fn entry(status: Status, since: SystemTime) -> Entry {
        Entry {
            status,
            since: to_unix(since),
            counters: BTreeMap::new(),
            counted_at: None,
            cert_not_after: None,
            backup_age: None,
            cert_warns_from: None,
            backup_max_age: None,
            days: BTreeMap::new(),
            in_maintenance: false,
            more: Default::default(),
        }
    }

    #[test]
    fn trends_follow_the_status_across_runs() {
        let now = from_unix(1_795_608_000);
        let earlier = now - 3 * HOUR;
        assert_eq!(trend(None, Status::Fail, now).change, Change::New);
        assert_eq!(trend(Some(&entry(Status::Pass, earlier)), Status::Warn, now).change, Change::New);
        let ongoing = trend(Some(&entry(Status::Fail, earlier)), Status::Fail, now);
        assert_eq!((ongoing.change, ongoing.since), (Change::Ongoing, earlier));
        let back = trend(Some(&entry(Status::Fail, earlier)), Status::Pass, now);
        assert_eq!((back.change, back.since), (Change::Recovered { down_for: 3 * HOUR }, now));
        assert_eq!(trend(Some(&entry(Status::Pass, earlier)), Status::Pass, now).since, earlier);
        let skipped = trend(Some(&entry(Status::Fail, earlier)), Status::Skip, now);
        assert_eq!((skipped.change, skipped.since), (Change::Steady, earlier));
    }

    /// Failing, then in a maintenance window (the verdict kept), then failing after it: the
    /// first run after the window says so once; a skip is no maintenance.
    #[test]
    fn a_problem_open_through_a_maintenance_window_is_marked_after_it() {
        let path = Path::new("checks.toml");
        let run = |state: State, at: u64, status: Status| {
            let report = RunReport::new(from_unix(at), Duration::ZERO, vec![counted(status, None)]);
            let mark = trend(state.checks.get("engine"), status, from_unix(at)).after_maintenance;
            (state.updated(&report, path, true), mark)
        };
        let (state, _) = run(State::default(), 1_000, Status::Fail);
        let (state, mark) = run(state, 2_000, Status::Maint);
        assert!(!mark);
        assert_eq!(state.checks["engine"].status, Status::Fail, "the verdict from before is kept");
        let (state, mark) = run(state, 3_000, Status::Maint);
        assert!(mark, "still inside the window");
        let (state, mark) = run(state, 4_000, Status::Fail);
        assert!(mark, "the first run after the window");
        let ongoing = trend(state.checks.get("engine"), Status::Fail, from_unix(5_000));
        assert!(!ongoing.after_maintenance && ongoing.change == Change::Ongoing, "once");
        let (state, _) = run(state, 5_000, Status::Skip);
        assert!(!trend(state.checks.get("engine"), Status::Fail, from_unix(6_000)).after_maintenance);
    }

    fn counted(status: Status, errors: Option<u64>) -> CheckResult {
        let meta = crate::config::CheckMeta {
            name: "engine".into(),
            group: None,
            target: "t".into(),
            severity: crate::outcome::Severity::default(),
            tags: Vec::new(),
            timeout: None,
            depends_on: Vec::new(),
            retries: None,
            retry_delay: None,
            hint: None,
            runbook: None,
            public_name: "engine".into(),
            hidden: false,
        };
        let counters = errors.map(|n| [("errors a".to_owned(), n)].into()).unwrap_or_default();
        let outcome = crate::outcome::Outcome::new(status, "d")
            .with_facts(crate::outcome::Facts { counters, ..Default::default() });
        CheckResult::new(&meta, "mirth", outcome, Duration::ZERO)
    }

    /// Counts are kept through a run that could not count (the engine was down), and a
    /// check in maintenance still records what it counted.
    #[test]
    fn counters_survive_runs_that_could_not_count() {
        let path = Path::new("checks.toml");
        let run = |state: State, at: u64, result: CheckResult| {
            state.updated(&RunReport::new(from_unix(at), Duration::ZERO, vec![result]), path, true)
        };
        let state = run(State::default(), 1_000, counted(Status::Pass, Some(5)));
        assert_eq!(
            state.recall("engine"),
            Some(Recall { at: from_unix(1_000), counters: [("errors a".into(), 5)].into() })
        );
        let state = run(state, 2_000, counted(Status::Fail, None));
        assert_eq!(state.recall("engine").map(|r| (r.at, r.counters["errors a"])), Some((from_unix(1_000), 5)));
        let state = run(state, 3_000, counted(Status::Maint, Some(9)));
        assert_eq!(state.recall("engine").map(|r| (r.at, r.counters["errors a"])), Some((from_unix(3_000), 9)));
        assert_eq!(state.recall("other"), None);
    }

    /// What a handover needs of certificates and backups is kept with the limits of the
    /// check that saw them, and read back as it was written.
    #[test]
    fn certificates_and_backups_are_kept_with_their_own_limits() {
        let mut result = counted(Status::Pass, None);
        result.facts.cert_not_after = Some(from_unix(9_000));
        result.facts.cert_warns_from = Some(from_unix(5_000));
        result.facts.backup_age = Some(HOUR);
        result.facts.backup_max_age = Some(26 * HOUR);
        let state = State::default().updated(
            &RunReport::new(from_unix(1_000), Duration::ZERO, vec![result]),
            Path::new("checks.toml"),
            true,
        );
        let text = serde_json::to_string(&state).unwrap();
        let read: State = serde_json::from_str(&text).unwrap();
        let seen: Vec<Seen> = read.seen().collect();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].cert_not_after, seen[0].cert_warns_from), (Some(9_000), Some(5_000)));
        assert_eq!((seen[0].backup_age, seen[0].backup_max_age), (Some(HOUR), Some(26 * HOUR)));
    }

    /// Each run adds the time since the run before (at most an hour) to today: as working
    /// when it passed or warned, as checked only when it failed; maintenance and skipped
    /// runs count for neither. Only the last 31 days are kept.
    #[test]
    fn the_per_day_record_counts_checked_and_working_time() {
        let path = Path::new("checks.toml");
        let at = |secs: u64, status: Status, state: State| {
            state.updated(&RunReport::new(from_unix(secs), Duration::ZERO, vec![counted(status, None)]), path, true)
        };
        let noon = 1_796_299_200;
        let mut state = at(noon, Status::Pass, State::default());
        assert!(state.checks["engine"].days.is_empty(), "a first run has no time before it");
        for (later, status) in
            [(300, Status::Pass), (600, Status::Fail), (900, Status::Maint), (1200, Status::Warn), (9000, Status::Skip)]
        {
            state = at(noon + later, status, state);
        }
        state = at(noon + 9000 + 7200, Status::Fail, state);
        assert_eq!(state.checks["engine"].days[&day_of(noon)], [300 + 300 + 300 + 3600, 300 + 300]);
        let mut days = BTreeMap::new();
        for d in 0..40 {
            add_day(&mut days, noon + d * 86_400, 60, Status::Pass);
        }
        assert_eq!(days.len(), DAYS_KEPT);
        assert_eq!(days.keys().next(), Some(&day_of(noon + 9 * 86_400)));
    }

    #[test]
    fn damaged_and_foreign_files_start_fresh_and_a_newer_one_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        for text in ["{\"format\":\"rounds-state\",\"vers", "{\"format\":\"other\",\"version\":1}", "[1,2]"] {
            std::fs::write(&path, text).unwrap();
            let mut warnings = Vec::new();
            let state = State::read(&path, &mut warnings).unwrap();
            assert!(state.checks.is_empty());
            assert_eq!(warnings.len(), 1, "{text}");
        }
        std::fs::write(&path, "{\"format\":\"rounds-state\",\"version\":9,\"inventory\":\"x\",\"checks\":{}}").unwrap();
        let mut warnings = Vec::new();
        assert!(State::read(&path, &mut warnings).is_none(), "left as it is");
        assert!(warnings[0].contains("newer rounds"), "{warnings:?}");
    }

    /// A state file of rounds 0.1 (version 1, written by it: tests/data/state-v1) is read
    /// and migrated, not wiped; keys of a later version survive a rewrite.
    #[test]
    fn a_version_1_file_is_migrated_and_later_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("st.json");
        std::fs::write(&path, include_str!("../../tests/data/state-v1/st.json")).unwrap();
        let mut warnings = Vec::new();
        let state = State::read(&path, &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(state.version, VERSION);
        assert_eq!(state.checks.len(), 4);
        assert_eq!(state.checks["impossible"].status, Status::Fail);
        assert_eq!(state.checks["impossible"].since, 1_796_315_363);
        assert_eq!(state.recall("Mirth engine").map(|r| r.counters["errors 5f1c"]), Some(3));

        let mut doc: serde_json::Value = serde_json::to_value(&state).unwrap();
        doc["outbox"] = serde_json::json!([{"to": "pager"}]);
        doc["checks"]["root"]["weeks"] = serde_json::json!({"2026-W49": "pass"});
        std::fs::write(&path, doc.to_string()).unwrap();
        let state = State::read(&path, &mut warnings).unwrap();
        let report = RunReport::new(from_unix(1_796_400_000), Duration::ZERO, vec![counted(Status::Pass, None)]);
        let rewritten = serde_json::to_value(state.updated(&report, Path::new("checks.toml"), false)).unwrap();
        assert_eq!(rewritten["outbox"][0]["to"], "pager");
        assert_eq!(rewritten["checks"]["root"]["weeks"]["2026-W49"], "pass");
        assert_eq!(rewritten["version"], VERSION);
    }

    /// The usual interval is the median of the last 20 gaps, however long the log's lines:
    /// runs with many problems write lines of kilobytes, and the tail read grows until it
    /// holds 21 runs.
    #[test]
    fn the_usual_interval_comes_from_the_last_twenty_gaps_even_with_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("st.log.jsonl");
        let line = |at: u64, problems: usize| {
            let problems = (0..problems)
                .map(|i| history::Problem {
                    name: format!("check {i}"),
                    status: Status::Fail,
                    detail: "connection refused by the server at the far end".into(),
                })
                .collect();
            let record = history::RunRecord {
                version: VERSION,
                at,
                duration_ms: 100,
                checks: 200,
                only: None,
                problems,
                stopped: None,
                unfinished: Vec::new(),
                more: serde_json::Map::new(),
            };
            serde_json::to_string(&record).unwrap() + "\n"
        };
        // 40 runs five minutes apart, then the last three 15 minutes apart: the median of
        // the last 20 gaps is five minutes (three gaps alone would say 15).
        let mut at = 1_000_000;
        let mut starts = Vec::new();
        for gap in std::iter::repeat_n(300, 40).chain(std::iter::repeat_n(900, 3)) {
            at += gap;
            starts.push(at);
        }
        for problems in [0, 40] {
            let text: String = starts.iter().map(|&at| line(at, problems)).collect();
            std::fs::write(&log, &text).unwrap();
            assert!(problems == 0 || text.len() / starts.len() > 2048, "lines of {} bytes", text.len() / starts.len());
            let state = dir.path().join("st.json");
            assert_eq!(page_record(&state, None).usual_interval, Some(Duration::from_secs(300)), "{problems} problems");
        }
    }
}
