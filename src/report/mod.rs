//! Reporters turn a finished run into bytes. They never probe, never print, never filter
//! and never pick the exit code: the app filters (`--quiet`) before, writes what they
//! return, and takes the exit code from the report.
//!
//! To add a format: write `<format>.rs` with a struct implementing [`Reporter`], add a
//! [`Format`] variant, and one arm in [`reporter_for`].

mod handover;
mod html;
mod json;
mod junit;
mod markdown;
mod nagios;
mod prometheus;
mod reporter;
mod shift;
mod table;

pub use self::handover::HandoverFormat;
pub(crate) use self::handover::{Handover, Sources};
pub(crate) use self::html::{status_page, PageInput};
pub(crate) use self::reporter::{summary_line, ReportOptions, Reporter};
pub use self::shift::HistoryFormat;
pub(crate) use self::shift::{render_shift, ShiftRecord};
pub(crate) use self::table::MAIL_WIDTH;

/// Output formats, as `--format` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people; coloured on a terminal, plain when piped.
    Table,
    /// One JSON document for scripts and dashboards (schema: schema/report.schema.json).
    Json,
    /// JUnit XML for CI systems.
    Junit,
    /// Prometheus text format, for node_exporter's textfile collector.
    Prometheus,
    /// One Nagios/Icinga plugin: status line, perfdata, long output; plugin exit codes.
    Nagios,
    /// A Markdown report for an email body or a ticket.
    Markdown,
    /// The status page for staff: plain sentences, 30 days, self-contained ([status_page]).
    Html,
}

impl Format {
    /// Formats people read: with `--quiet`, nothing at all is printed when all passed.
    /// Machine formats always print a whole, valid document.
    pub(crate) fn is_for_people(self) -> bool {
        match self {
            Format::Table | Format::Markdown => true,
            Format::Json | Format::Junit | Format::Prometheus | Format::Nagios | Format::Html => false,
        }
    }

    /// Every format, as `--format` lists them.
    pub(crate) fn all() -> &'static [Format] {
        <Format as clap::ValueEnum>::value_variants()
    }

    /// The file name extensions that ask for this format (`--output FILE`).
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Table => &["txt"],
            Format::Json => &["json"],
            Format::Junit => &["xml"],
            Format::Prometheus => &["prom"],
            Format::Nagios => &[],
            Format::Markdown => &["md", "markdown"],
            Format::Html => &["html", "htm"],
        }
    }

    /// The format a file name asks for, by its extension (`--output FILE`).
    pub(crate) fn for_file(path: &std::path::Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?;
        Format::all().iter().copied().find(|f| f.extensions().contains(&extension))
    }
}

pub(crate) fn reporter_for(format: Format, options: ReportOptions) -> Box<dyn Reporter> {
    match format {
        Format::Table => Box::new(table::TableReporter { options }),
        Format::Json => Box::new(json::JsonReporter),
        Format::Junit => Box::new(junit::JunitReporter),
        Format::Prometheus => Box::new(prometheus::PrometheusReporter),
        Format::Nagios => Box::new(nagios::NagiosReporter),
        Format::Markdown => Box::new(markdown::MarkdownReporter),
        Format::Html => Box::new(html::StatusPageReporter),
    }
}

#[cfg(test)]
mod tests;
