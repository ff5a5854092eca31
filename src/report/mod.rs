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
mod wrap;

pub use self::handover::HandoverFormat;
pub(crate) use self::handover::{html_escape, Handover, Sources};
pub(crate) use self::html::{status_page, PageInput};
pub(crate) use self::reporter::{summary_line, ReportOptions, Reporter};
pub use self::shift::HistoryFormat;
pub(crate) use self::shift::{render_shift, ShiftRecord};
pub(crate) use self::table::{CELL_GROUP, MAIL_WIDTH};
pub(crate) use self::wrap::{keep_within, spaces};

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

    /// The short names `--output SHORT:FILE` also takes (`--format` takes only the names).
    fn short_names(self) -> &'static [&'static str] {
        match self {
            Format::Table => &["txt", "text"],
            Format::Junit => &["xml"],
            Format::Prometheus => &["prom"],
            Format::Markdown => &["md"],
            Format::Html => &["htm"],
            Format::Json | Format::Nagios => &[],
        }
    }

    /// The format `name` means in `--output NAME:FILE`: a `--format` name or one of its
    /// short names (`prom`, `md`, `xml`, `txt`), in any case.
    pub(crate) fn named(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        <Format as clap::ValueEnum>::from_str(&name, true)
            .ok()
            .or_else(|| Format::all().iter().copied().find(|f| f.short_names().contains(&name.as_str())))
    }

    /// Every name a format goes by, for messages: "table (txt, text), json, ...".
    pub(crate) fn names() -> Vec<String> {
        Format::all()
            .iter()
            .filter_map(|f| clap::ValueEnum::to_possible_value(f).map(|v| (f.short_names(), v)))
            .map(|(short, v)| match short.is_empty() {
                true => v.get_name().to_owned(),
                false => format!("{} ({})", v.get_name(), short.join(", ")),
            })
            .collect()
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
        Format::Markdown => Box::new(markdown::MarkdownReporter { options }),
        Format::Html => Box::new(html::StatusPageReporter),
    }
}

#[cfg(test)]
mod tests;
