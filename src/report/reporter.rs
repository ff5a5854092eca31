//! What every format implements, and the pieces formats share.

use std::fmt::Write as _;

use crate::human;
use crate::outcome::Status;
use crate::runner::results::{Change, CleanReport};

/// How the report is shown, decided by flags and by where stdout goes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReportOptions {
    /// ANSI colours: only on a terminal, never with `--no-color` or `NO_COLOR`.
    pub color: bool,
    /// Output read as mail or a log (not a terminal): the summary comes first.
    pub summary_first: bool,
    /// Columns to fit: the terminal's, or the mail width when piped; `None` leaves the
    /// table unwrapped.
    pub width: Option<u16>,
    /// `--wide`: every column, whatever the width.
    pub wide: bool,
    /// `--quiet`: what is left is shown once, under "Needs attention" (no table).
    pub quiet: bool,
}

/// Turns a finished run into bytes. Pure: no probing, no printing, no filtering (the app
/// filters before), no exit code (the report has it).
pub(crate) trait Reporter {
    fn render(&self, report: &CleanReport) -> Vec<u8>;
}

/// "2 failed, 1 warning, 37 passed in 1.2 s".
pub(crate) fn summary_line(report: &CleanReport) -> String {
    let s = report.summary();
    let mut parts = Vec::new();
    for &status in Status::ALL {
        let (one, many) = status.meaning().summary;
        // "0 passed" rather than nothing at all.
        let last_word = status.is_healthy() && parts.is_empty();
        match s.count(status) {
            0 if !last_word => {}
            1 => parts.push(format!("1 {one}")),
            n => parts.push(format!("{n} {many}")),
        }
    }
    let mut line = format!("{} in {}", parts.join(", "), human::duration(report.duration()));
    if let Some(previous) = report.previous_run() {
        let new = report.new_problems();
        let recovered = report
            .results()
            .iter()
            .filter(|r| r.trend.as_ref().is_some_and(|t| matches!(t.change, Change::Recovered { .. })))
            .count();
        let mut news = vec![match new {
            0 => "no new problem".to_owned(),
            1 => "1 new problem".to_owned(),
            n => format!("{n} new problems"),
        }];
        if recovered > 0 {
            news.push(format!("{recovered} recovered"));
        }
        let _ = write!(line, "; {} since the last run at {}", news.join(", "), human::moment(previous));
    }
    line
}
