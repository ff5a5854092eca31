//! What every format implements, and the pieces formats share.

use std::fmt::Write as _;

use crate::human;
use crate::runner::results::{Change, RunReport};

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
}

/// Turns a finished run into bytes. Pure: no probing, no printing, no filtering (the app
/// filters before), no exit code (the report has it).
pub(crate) trait Reporter {
    fn render(&self, report: &RunReport) -> Vec<u8>;
}

/// "2 failed, 1 warning, 37 passed in 1.2 s".
pub(crate) fn summary_line(report: &RunReport) -> String {
    let s = report.summary;
    let mut parts = Vec::new();
    if s.fail > 0 {
        parts.push(format!("{} failed", s.fail));
    }
    if s.warn > 0 {
        parts.push(format!("{} warning{}", s.warn, if s.warn == 1 { "" } else { "s" }));
    }
    if s.skip > 0 {
        parts.push(format!("{} skipped", s.skip));
    }
    if s.ack > 0 {
        parts.push(format!("{} acknowledged", s.ack));
    }
    if s.maint > 0 {
        parts.push(format!("{} in maintenance", s.maint));
    }
    if s.pass > 0 || parts.is_empty() {
        parts.push(format!("{} passed", s.pass));
    }
    let mut line = format!("{} in {}", parts.join(", "), human::duration(report.duration));
    if let Some(previous) = report.previous_run {
        let new = report.new_problems();
        let recovered = report
            .results
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
