//! Reporters turn a finished run into bytes. They never probe, never print, never filter
//! and never pick the exit code: the app filters (`--quiet`) before, writes what they
//! return, and takes the exit code from the report.
//!
//! To add a format: write `<format>.rs` with a struct implementing [`Reporter`], add a
//! [`Format`] variant, and one arm in [`reporter_for`].

mod json;
mod reporter;
mod shift;
mod table;

pub(crate) use self::reporter::{ReportOptions, Reporter};
pub use self::shift::HistoryFormat;
pub(crate) use self::shift::{render_shift, ShiftRecord};
pub(crate) use self::table::MAIL_WIDTH;

/// Output formats, as `--format` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people; coloured on a terminal, plain when piped.
    Table,
    /// One JSON document for scripts and dashboards.
    Json,
}

impl Format {
    /// Formats people read: with `--quiet`, nothing at all is printed when all passed.
    /// Machine formats always print a whole, valid document.
    pub(crate) fn is_for_people(self) -> bool {
        match self {
            Format::Table => true,
            Format::Json => false,
        }
    }
}

pub(crate) fn reporter_for(format: Format, options: ReportOptions) -> Box<dyn Reporter> {
    match format {
        Format::Table => Box::new(table::TableReporter { options }),
        Format::Json => Box::new(json::JsonReporter),
    }
}

#[cfg(test)]
mod tests;
