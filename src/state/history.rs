//! The run log beside the state file, and the shift record made from it.
//!
//! One JSON line per run: its version, when, how long, every check that did not pass with
//! its detail (already redacted: details never hold a secret), and for a run a signal
//! stopped, which checks did not finish. Trimmed on write when due: once the oldest line is
//! more than [`TRIM_GRACE`] past [`RETENTION`], the entries older than [`RETENTION`] go, and
//! once the file grows past [`MAX_LOG_BYTES`] it is cut to half of that; trimming keeps each
//! line as written (a newer rounds' lines too).
//!
//! A check that did not finish is neither a failure nor a recovery, and a run a signal
//! stopped never ends a problem: only a run that completed and saw the check pass does.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::store::{from_unix, to_unix, VERSION};
use crate::files::{self, Access};
use crate::outcome::Status;
use crate::runner::results::{RunReport, Stop};

/// How long runs are kept: a month of shifts.
pub(crate) const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// About a month of a 200-check inventory run every 10 minutes with a few problems.
pub(crate) const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// One line of the run log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// The line's format ([`VERSION`]); lines of rounds 0.1 have none, and are version 1.
    #[serde(default = "first_version")]
    pub version: u32,
    /// When the run started (Unix seconds).
    pub at: u64,
    pub duration_ms: u64,
    pub checks: usize,
    /// The checks that ran, when not all did (`--only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// Every check that did not pass.
    pub problems: Vec<Problem>,
    /// The signal that stopped the run before every check finished ("SIGINT").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The checks that had not finished when it stopped: neither failed nor recovered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<String>,
    /// Records of a later version, kept as they are.
    #[serde(flatten)]
    pub more: serde_json::Map<String, serde_json::Value>,
}

fn first_version() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Problem {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

impl RunRecord {
    pub fn of(report: &RunReport, all_ran: bool) -> Self {
        let problems = report
            .results()
            .iter()
            .filter(|r| !r.status.is_healthy() && !r.unfinished)
            .map(|r| Problem { name: r.meta.name.clone(), status: r.status, detail: r.detail.clone() })
            .collect();
        let stopped = match report.stopped() {
            Some(Stop::Signal(name)) => Some(name.to_owned()),
            Some(Stop::Deadline) | None => None,
        };
        RunRecord {
            version: VERSION,
            at: to_unix(report.started_at()),
            duration_ms: u64::try_from(report.duration().as_millis()).unwrap_or(u64::MAX),
            checks: report.results().len(),
            only: (!all_ran).then(|| report.results().iter().map(|r| r.meta.name.clone()).collect()),
            problems,
            stopped,
            unfinished: report.results().iter().filter(|r| r.unfinished).map(|r| r.meta.name.clone()).collect(),
            more: serde_json::Map::new(),
        }
    }

    /// Whether `name` was probed to the end in this run.
    fn ran(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
            && !self.unfinished.iter().any(|n| n == name)
    }

    /// Whether this run may end a problem of `name`: it completed, and probed it.
    fn could_end(&self, name: &str) -> bool {
        self.stopped.is_none() && self.ran(name)
    }
}

/// The run log that belongs to the state file at `state`.
pub(crate) fn log_path(state: &Path) -> PathBuf {
    state.with_extension("log.jsonl")
}

/// Appends `record` (a [`RunRecord`] or a [`Mark`]; the caller holds the state lock) as one
/// `O_APPEND` write, then trims the log when due (see [`trim_due`]). A normal run writes its
/// line and reads the log's first line, never the whole log: with 30 days of five-minute
/// runs, parsing all of it on every run was a third of a run's work.
pub(crate) fn append<T: Serialize>(log: &Path, record: &T, now: SystemTime) -> io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
    line.push(b'\n');
    let mut file = files::open_own(log, true)?;
    file.write_all(&line)?;
    let size = file.metadata()?.len();
    drop(file);
    if trim_due(log, size, now)? {
        rotate(log, read_lines(log)?, now)?;
    }
    Ok(())
}

/// How far past [`RETENTION`] the oldest line may be before the log is trimmed: trimming
/// rewrites the whole log (and syncs it), so it is done once a day rather than on every run.
/// The log holds at most a day more than [`RETENTION`].
pub(crate) const TRIM_GRACE: Duration = Duration::from_secs(86_400);

/// The lines at the log's start looked at for the oldest time: damaged lines (a run killed
/// mid-write) are passed over. A log with no time in as many lines is trimmed, which leaves
/// only lines with a time.
const HEAD_LINES: usize = 16;

/// Whether the log of `size` bytes is due for trimming at `now`: it grew past
/// [`MAX_LOG_BYTES`] (the size from `fstat`), or its oldest line is more than [`TRIM_GRACE`]
/// past [`RETENTION`]. Lines are appended in time order, so the oldest is the first with a
/// time; only the log's head is read for it.
fn trim_due(log: &Path, size: u64, now: SystemTime) -> io::Result<bool> {
    if size > MAX_LOG_BYTES {
        return Ok(true);
    }
    Ok(match oldest_time(log)? {
        Some(at) => from_unix(at) + RETENTION + TRIM_GRACE < now,
        None => true,
    })
}

/// The time of the first line in the log's head that has one (see [`HEAD_LINES`]).
fn oldest_time(log: &Path) -> io::Result<Option<u64>> {
    use std::io::BufRead;
    let mut head = io::BufReader::new(files::open_own_read(log)?.take(MAX_READ_BYTES));
    let mut line = Vec::new();
    for _ in 0..HEAD_LINES {
        line.clear();
        if head.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(at) = time_of(&line) {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// The `at` of one log line, `None` for a damaged line.
fn time_of(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct At {
        at: u64,
    }
    serde_json::from_slice::<At>(line).ok().map(|a| a.at)
}

/// Keeps the runs within [`RETENTION`], and at most half of [`MAX_LOG_BYTES`] of them, each
/// line as it was written.
fn rotate(log: &Path, lines: Vec<(u64, String)>, now: SystemTime) -> io::Result<()> {
    let cutoff = to_unix(now).saturating_sub(RETENTION.as_secs());
    let mut lines: Vec<String> = lines.into_iter().filter(|(at, _)| *at >= cutoff).map(|(_, l)| l).collect();
    let mut total: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let mut drop = 0;
    while total > MAX_LOG_BYTES / 2 && drop < lines.len() {
        total -= lines[drop].len() as u64 + 1;
        drop += 1;
    }
    let kept: String = lines.drain(drop..).flat_map(|l| [l, "\n".to_owned()]).collect();
    files::replace(log, kept.as_bytes(), Access::Private)
}

/// A run log is read up to this size: rotation keeps it well below.
const MAX_READ_BYTES: u64 = 8 * MAX_LOG_BYTES;

/// The log's text; each line with its time, leaving out damaged lines.
fn read_lines(log: &Path) -> io::Result<Vec<(u64, String)>> {
    let bytes = files::read_own(log, MAX_READ_BYTES)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().filter_map(|l| time_of(l.as_bytes()).map(|at| (at, l.to_owned()))).collect())
}

/// What a person wrote into the shift record: a note (`rounds note`), or the moment a
/// handover was made (`rounds handover`, the start of the next one's window). A line with
/// `kind`; a line without one is a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Mark {
    pub version: u32,
    pub kind: MarkKind,
    /// When it was written (Unix seconds).
    pub at: u64,
    /// Who wrote it (`--by`, else the person behind sudo, else the login name).
    pub by: String,
    /// The note as typed: cleaned when shown, like every text read from the log.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// `--check` as written, and the checks it named then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Records of a later version, kept as they are.
    #[serde(flatten)]
    pub more: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MarkKind {
    Note,
    Handover,
}

impl Mark {
    pub fn new(kind: MarkKind, at: SystemTime, by: String) -> Mark {
        Mark {
            version: VERSION,
            kind,
            at: to_unix(at),
            by,
            text: String::new(),
            check: None,
            checks: Vec::new(),
            more: serde_json::Map::new(),
        }
    }
}

/// What the run log holds: its runs and marks, oldest first, and how many lines were passed
/// over.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    pub records: Vec<RunRecord>,
    /// Notes and handovers.
    pub marks: Vec<Mark>,
    /// Lines that are damaged (a run killed mid-write) or of a newer rounds.
    pub passed_over: usize,
}

/// Every run in the log that this rounds can read, migrated to [`VERSION`], oldest first.
pub(crate) fn read(log: &Path) -> io::Result<Runs> {
    let bytes = files::read_own(log, MAX_READ_BYTES)?;
    Ok(parse(&String::from_utf8_lossy(&bytes)))
}

/// The newest records only, from the last `bytes` of the log: for what needs the recent
/// runs (the status page's usual interval) without parsing 30 days of them. Also whether
/// older lines were left out.
pub(crate) fn read_recent(log: &Path, bytes: u64) -> io::Result<(Runs, bool)> {
    let (tail, cut) = files::read_own_tail(log, bytes)?;
    let text = String::from_utf8_lossy(&tail);
    // A tail that begins inside a line: that line is not whole, and is left out.
    let whole = match cut {
        true => text.split_once('\n').map_or("", |(_, rest)| rest),
        false => &text,
    };
    Ok((parse(whole), cut))
}

fn parse(text: &str) -> Runs {
    let mut runs = Runs::default();
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default = "first_version")]
        version: u32,
        kind: Option<serde_json::Value>,
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let read = match serde_json::from_str::<Kind>(line) {
            Ok(Kind { version, .. }) if version > VERSION => false,
            Ok(Kind { kind: None, .. }) => {
                serde_json::from_str::<RunRecord>(line).map(|record| runs.records.push(migrate(record))).is_ok()
            }
            Ok(Kind { kind: Some(_), .. }) => serde_json::from_str::<Mark>(line).map(|m| runs.marks.push(m)).is_ok(),
            Err(_) => false,
        };
        runs.passed_over += usize::from(!read);
    }
    runs.records.sort_by_key(|r| r.at);
    runs.marks.sort_by_key(|m| m.at);
    runs
}

impl Runs {
    /// When the last handover was made, if the log still holds it.
    pub fn last_handover(&self) -> Option<u64> {
        self.marks.iter().rev().find(|m| m.kind == MarkKind::Handover).map(|m| m.at)
    }

    /// The notes written from `since` on, oldest first; a note written before a handover
    /// in that handover's second was in that handover.
    pub fn notes_since(&self, since: u64) -> impl Iterator<Item = &Mark> {
        let handed_over = self.marks.iter().rposition(|m| m.kind == MarkKind::Handover && m.at <= since);
        let after = handed_over.map_or(0, |i| i + 1);
        self.marks[after..].iter().filter(move |m| m.kind == MarkKind::Note && m.at >= since)
    }
}

/// A run log line of an older version, as this version records it. Version 1 had no
/// `stopped` or `unfinished` (an interrupted run left its unfinished checks out): read as
/// a completed run, as rounds 0.1 did.
fn migrate(record: RunRecord) -> RunRecord {
    RunRecord { version: VERSION, ..record }
}

/// One problem from its first failing run to the first run that saw the check pass again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Episode {
    pub check: String,
    /// The worst status seen during the episode.
    pub status: Status,
    pub began: u64,
    /// `None`: still open at the last run.
    pub ended: Option<u64>,
    /// The detail of the last failing run.
    pub detail: String,
}

/// The problems of `runs` that were open at some point at or after `since`, for the checks
/// named `only` (or all checks): each with when it began and when it ended.
pub(crate) fn episodes(runs: &[RunRecord], since: u64, only: Option<&[String]>) -> Vec<Episode> {
    let mut open: Vec<Episode> = Vec::new();
    let mut done: Vec<Episode> = Vec::new();
    for run in runs {
        // Close what this run saw pass.
        let mut still_open = Vec::new();
        for episode in open.drain(..) {
            let failing = run.problems.iter().any(|p| p.name == episode.check);
            if run.could_end(&episode.check) && !failing {
                done.push(Episode { ended: Some(run.at), ..episode });
            } else {
                still_open.push(episode);
            }
        }
        open = still_open;
        for problem in &run.problems {
            if only.is_some_and(|names| !names.contains(&problem.name)) || !problem.status.meaning().in_shift_record {
                continue;
            }
            match open.iter_mut().find(|e| e.check == problem.name) {
                Some(episode) => {
                    episode.status = episode.status.worst(problem.status);
                    episode.detail = problem.detail.clone();
                }
                None => open.push(Episode {
                    check: problem.name.clone(),
                    status: problem.status,
                    began: run.at,
                    ended: None,
                    detail: problem.detail.clone(),
                }),
            }
        }
    }
    done.retain(|e| e.ended.is_some_and(|end| end >= since));
    done.extend(open);
    done.sort_by_key(|e| (e.ended.is_some(), std::cmp::Reverse(e.status.rank()), e.began));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(at: u64, problems: &[(&str, Status)]) -> RunRecord {
        RunRecord {
            version: VERSION,
            at,
            duration_ms: 100,
            checks: 5,
            only: None,
            stopped: None,
            unfinished: Vec::new(),
            more: serde_json::Map::new(),
            problems: problems
                .iter()
                .map(|(n, s)| Problem { name: (*n).into(), status: *s, detail: format!("{n} down") })
                .collect(),
        }
    }

    #[test]
    fn episodes_begin_at_the_first_failure_and_end_at_the_first_pass() {
        let runs = [
            run(100, &[]),
            run(200, &[("EHR", Status::Warn)]),
            run(300, &[("EHR", Status::Fail), ("PACS", Status::Fail)]),
            run(400, &[("PACS", Status::Fail)]),
        ];
        let all = episodes(&runs, 0, None);
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].check.as_str(), all[0].began, all[0].ended), ("PACS", 300, None));
        assert_eq!(
            (all[1].check.as_str(), all[1].status, all[1].began, all[1].ended),
            ("EHR", Status::Fail, 200, Some(400))
        );
        assert!(episodes(&runs, 401, None).iter().all(|e| e.check == "PACS"), "ended before the window");
        assert_eq!(episodes(&runs, 0, Some(&["EHR".to_owned()])).len(), 1);
    }

    #[test]
    fn a_partial_run_that_did_not_probe_a_check_does_not_end_its_problem() {
        let mut partial = run(300, &[]);
        partial.only = Some(vec!["other".into()]);
        let runs = [run(200, &[("EHR", Status::Fail)]), partial];
        assert_eq!(episodes(&runs, 0, None)[0].ended, None);
    }

    #[test]
    fn the_log_is_rotated_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log.jsonl");
        let now = from_unix(100 * 86_400);
        append(&log, &run(to_unix(now) - 40 * 86_400, &[("old", Status::Fail)]), now).unwrap();
        append(&log, &run(to_unix(now), &[("new", Status::Fail)]), now).unwrap();
        let kept = read(&log).unwrap().records;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].problems[0].name, "new");
    }

    /// A normal append adds its line to the same file and leaves the old bytes alone; a log
    /// whose oldest line is past retention by less than the grace is not rewritten, by more
    /// it is trimmed to the retention.
    #[test]
    fn a_normal_append_does_not_rewrite_the_log_and_an_old_one_is_trimmed() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log.jsonl");
        let now = to_unix(from_unix(100 * 86_400));
        let just_past = now - RETENTION.as_secs() - 3_600;
        let lines: String =
            (0..50u64).map(|i| serde_json::to_string(&run(just_past + i * 60, &[])).unwrap() + "\n").collect();
        std::fs::write(&log, &lines).unwrap();
        let inode = std::fs::metadata(&log).unwrap().ino();
        append(&log, &run(now, &[("new", Status::Fail)]), from_unix(now)).unwrap();
        let after = std::fs::read_to_string(&log).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().ino(), inode, "the same file, not replaced");
        assert!(after.starts_with(&lines), "the old bytes unchanged");
        assert_eq!(after.lines().count(), 51, "only the new line added");
        let later = now + TRIM_GRACE.as_secs();
        append(&log, &run(later, &[]), from_unix(later)).unwrap();
        assert_ne!(std::fs::metadata(&log).unwrap().ino(), inode, "trimmed through a replace");
        let kept = read(&log).unwrap().records;
        assert_eq!(kept.iter().map(|r| r.at).collect::<Vec<_>>(), [now, later], "only the last 30 days");
    }

    /// A log past its size cap is cut to half of it, its newest lines kept, even when none
    /// is old.
    #[test]
    fn a_log_past_its_size_cap_is_cut_to_half() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log.jsonl");
        let now = 100 * 86_400;
        let detail = "x".repeat(1000);
        let line = |at: u64| {
            let mut r = run(at, &[("EHR", Status::Fail)]);
            r.problems[0].detail = detail.clone();
            serde_json::to_string(&r).unwrap() + "\n"
        };
        let count = MAX_LOG_BYTES / line(now).len() as u64 + 10;
        let text: String = (0..count).map(|i| line(now - count + i)).collect();
        std::fs::write(&log, &text).unwrap();
        append(&log, &run(now, &[]), from_unix(now)).unwrap();
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(size <= MAX_LOG_BYTES / 2 && size > MAX_LOG_BYTES / 2 - 2 * 1100, "{size}");
        let kept = read(&log).unwrap().records;
        assert_eq!(kept.last().map(|r| r.at), Some(now), "the newest kept");
        assert_eq!(read(&log).unwrap().passed_over, 0);
    }

    /// A damaged first line (a run killed mid-write) is passed over for the oldest time,
    /// and kept until the log is trimmed.
    #[test]
    fn a_damaged_first_line_is_passed_over_for_the_oldest_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log.jsonl");
        let now = 100 * 86_400;
        let text = format!("{{\"at\":12,\"dur\n{}", serde_json::to_string(&run(now - 60, &[])).unwrap() + "\n");
        std::fs::write(&log, &text).unwrap();
        append(&log, &run(now, &[]), from_unix(now)).unwrap();
        let after = std::fs::read_to_string(&log).unwrap();
        assert!(after.starts_with(&text), "not trimmed: {after}");
        assert_eq!(read(&log).unwrap().passed_over, 1);
    }

    /// Ctrl-C during a run: what finished is recorded, and no problem ends in that run.
    #[test]
    fn an_interrupted_run_never_ends_a_problem() {
        let mut stopped = run(300, &[]);
        stopped.stopped = Some("SIGINT".into());
        stopped.unfinished = vec!["PACS".into()];
        let runs =
            [run(200, &[("EHR", Status::Fail), ("PACS", Status::Fail)]), stopped, run(400, &[("PACS", Status::Fail)])];
        let all = episodes(&runs, 0, None);
        let ended = |name: &str| all.iter().find(|e| e.check == name).map(|e| e.ended);
        assert_eq!(ended("PACS"), Some(None));
        assert_eq!(ended("EHR"), Some(Some(400)), "ended by the next completed run that saw it pass");
    }

    /// The newest runs come from the log's tail alone, whole lines only.
    #[test]
    fn the_recent_runs_are_read_from_the_tail_in_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("st.log.jsonl");
        let lines: String = (0..1000u64).map(|i| serde_json::to_string(&run(i * 300, &[])).unwrap() + "\n").collect();
        std::fs::write(&log, &lines).unwrap();
        let (recent, cut) = read_recent(&log, 4096).unwrap();
        assert!(recent.records.len() > 20 && recent.records.len() < 100, "{}", recent.records.len());
        assert_eq!(recent.passed_over, 0, "the cut first line is left out, not counted as damaged");
        assert_eq!(recent.records.last().map(|r| r.at), Some(999 * 300));
        assert!(cut, "older lines were left out");
        let (all, cut) = read_recent(&log, 1 << 30).unwrap();
        assert_eq!((all.records.len(), cut), (1000, false), "a short file is read whole");
    }

    /// The run log of rounds 0.1 (tests/data/state-v1) is read and migrated; rotation keeps
    /// each line as written, a newer rounds' lines too.
    #[test]
    fn a_version_1_log_is_read_and_rotation_keeps_lines_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("st.log.jsonl");
        let newer = "{\"version\":9,\"at\":1796315500,\"shape\":\"new\"}\n";
        let text = format!("{}{newer}", include_str!("../../tests/data/state-v1/st.log.jsonl"));
        std::fs::write(&log, &text).unwrap();
        let runs = read(&log).unwrap();
        assert_eq!((runs.records.len(), runs.passed_over), (2, 1));
        assert!(runs.records.iter().all(|r| r.version == VERSION && r.stopped.is_none()));
        assert_eq!(runs.records[0].problems.len(), 2);
        assert_eq!(runs.records[1].only.as_deref(), Some(&["root".to_owned()][..]));
        let lines = read_lines(&log).unwrap();
        rotate(&log, lines, from_unix(1_796_400_000)).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), text);
    }
}
