//! The run log beside the state file, and the shift record made from it.
//!
//! One JSON line per run: when, how long, and every check that did not pass with its
//! detail (already redacted: details never hold a secret). Rotated on write: entries older
//! than [`RETENTION`] go, and the file never grows past [`MAX_LOG_BYTES`].

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::store::{from_unix, to_unix, write_atomic};
use crate::outcome::Status;
use crate::runner::results::RunReport;

/// How long runs are kept: a month of shifts.
pub(crate) const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// About a month of a 200-check inventory run every 10 minutes with a few problems.
pub(crate) const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// One line of the run log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// When the run started (Unix seconds).
    pub at: u64,
    pub duration_ms: u64,
    pub checks: usize,
    /// The checks that ran, when not all did (`--only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// Every check that did not pass.
    pub problems: Vec<Problem>,
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
            .results
            .iter()
            .filter(|r| r.status != Status::Pass && !r.unfinished)
            .map(|r| Problem { name: r.meta.name.clone(), status: r.status, detail: r.detail.clone() })
            .collect();
        RunRecord {
            at: to_unix(report.started_at),
            duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
            checks: report.results.len(),
            only: (!all_ran).then(|| report.results.iter().map(|r| r.meta.name.clone()).collect()),
            problems,
        }
    }

    /// Whether `name` was probed in this run.
    fn ran(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// The run log that belongs to the state file at `state`.
pub(crate) fn log_path(state: &Path) -> PathBuf {
    state.with_extension("log.jsonl")
}

/// Appends `record` (the caller holds the state lock), then rotates when due.
pub(crate) fn append(log: &Path, record: &RunRecord, now: SystemTime) -> io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
    line.push(b'\n');
    OpenOptions::new().create(true).append(true).open(log)?.write_all(&line)?;
    let size = fs::metadata(log)?.len();
    let oldest = read(log).first().map(|r| r.at);
    let expired = oldest.is_some_and(|at| from_unix(at) + RETENTION < now);
    if size > MAX_LOG_BYTES || expired {
        rotate(log, now)?;
    }
    Ok(())
}

/// Keeps the runs within [`RETENTION`], and at most half of [`MAX_LOG_BYTES`] of them.
fn rotate(log: &Path, now: SystemTime) -> io::Result<()> {
    let cutoff = to_unix(now).saturating_sub(RETENTION.as_secs());
    let mut lines: Vec<Vec<u8>> =
        read(log).into_iter().filter(|r| r.at >= cutoff).filter_map(|r| serde_json::to_vec(&r).ok()).collect();
    let mut total: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let mut drop = 0;
    while total > MAX_LOG_BYTES / 2 && drop < lines.len() {
        total -= lines[drop].len() as u64 + 1;
        drop += 1;
    }
    let kept: Vec<u8> = lines
        .drain(drop..)
        .flat_map(|mut l| {
            l.push(b'\n');
            l
        })
        .collect();
    write_atomic(log, &kept)
}

/// Every readable run in the log, oldest first; a damaged line (a run killed mid-write) is
/// passed over.
pub(crate) fn read(log: &Path) -> Vec<RunRecord> {
    let Ok(text) = fs::read_to_string(log) else { return Vec::new() };
    let mut runs: Vec<RunRecord> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    runs.sort_by_key(|r| r.at);
    runs
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
            if run.ran(&episode.check) && !failing {
                done.push(Episode { ended: Some(run.at), ..episode });
            } else {
                still_open.push(episode);
            }
        }
        open = still_open;
        for problem in &run.problems {
            if only.is_some_and(|names| !names.contains(&problem.name)) || problem.status == Status::Skip {
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
            at,
            duration_ms: 100,
            checks: 5,
            only: None,
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
        let kept = read(&log);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].problems[0].name, "new");
    }
}
