//! Reporters turn a finished run into bytes. They never probe, never print and never pick
//! the exit code: `main` writes what they return, and [`RunReport::exit_code`] decides.
//!
//! To add a format: write `<format>.rs` with a struct implementing [`Reporter`], add a
//! [`Format`] variant, and one arm in [`reporter_for`].

mod json;
mod table;

pub use self::json::JsonReporter;
pub use self::table::TableReporter;

use crate::check::RunReport;
use crate::human;

/// Output formats, as `--format` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people; coloured on a terminal, plain when piped.
    Table,
    /// One JSON document for scripts and dashboards.
    Json,
}

/// How the report is shown, decided by flags and by where stdout goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// ANSI colours: only on a terminal, never with `--no-color` or `NO_COLOR`.
    pub color: bool,
    /// Only checks that did not pass (and the summary).
    pub quiet: bool,
    /// Output read as mail or a log (not a terminal): the summary comes first.
    pub summary_first: bool,
}

pub trait Reporter {
    fn render(&self, report: &RunReport) -> Vec<u8>;
}

pub fn reporter_for(format: Format, options: ReportOptions) -> Box<dyn Reporter> {
    match format {
        Format::Table => Box::new(TableReporter { options }),
        Format::Json => Box::new(JsonReporter),
    }
}

/// "2 failed, 1 warning, 37 passed in 1.2 s".
pub fn summary_line(report: &RunReport) -> String {
    let s = report.summary();
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

#[cfg(test)]
mod tests;
