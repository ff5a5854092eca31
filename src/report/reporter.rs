//! What every format implements, and the pieces formats share.

use crate::human;
use crate::runner::results::RunReport;

/// How the report is shown, decided by flags and by where stdout goes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReportOptions {
    /// ANSI colours: only on a terminal, never with `--no-color` or `NO_COLOR`.
    pub color: bool,
    /// Output read as mail or a log (not a terminal): the summary comes first.
    pub summary_first: bool,
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
    if s.pass > 0 || parts.is_empty() {
        parts.push(format!("{} passed", s.pass));
    }
    format!("{} in {}", parts.join(", "), human::duration(report.duration))
}
