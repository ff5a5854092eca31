//! The table people read at shift start, and cron mails.
//!
//! On a terminal: the table fitted to its width (the detail column gets the room, words are
//! not cut), then "Needs attention", then the summary. Piped (cron mail): the summary with
//! host and date first, then "Needs attention" one check per line (readable in a
//! proportional font), then all results in plain ASCII no wider than [`MAIL_WIDTH`].

use std::fmt::Write as _;

use comfy_table::{presets, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width};

use super::reporter::{summary_line, ReportOptions, Reporter};
use crate::human;
use crate::outcome::Status;
use crate::runner::results::{Change, CheckResult, CleanReport};

/// Piped output is read in mail clients: no line wider than this.
pub(crate) const MAIL_WIDTH: u16 = 100;
/// Below this many columns the kind and target columns make way for the detail.
const NARROW: u16 = 120;
/// A terminal narrower than this (or one that reports 0 columns) gets the table unwrapped.
const MIN_WRAP_WIDTH: u16 = 40;

pub(crate) struct TableReporter {
    pub options: ReportOptions,
}

impl Reporter for TableReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let summary = summary_line(report);
        let attention = attention(report);
        let mut out = String::new();
        if self.options.summary_first {
            let header = match report.audit().host.as_str() {
                "" => String::new(),
                host => format!("rounds on {host}, {}: ", human::moment(report.started_at())),
            };
            let _ = writeln!(out, "{header}{summary}");
            if !attention.is_empty() {
                let _ = write!(out, "\n{attention}");
            }
            if !report.results().is_empty() {
                let _ = writeln!(out, "\nAll results:\n{}", self.table(report));
            }
        } else {
            if !report.results().is_empty() {
                let _ = writeln!(out, "{}", self.table(report));
            }
            if !attention.is_empty() {
                let _ = write!(out, "\n{attention}\n");
            }
            let _ = writeln!(out, "{summary}");
        }
        out.into_bytes()
    }
}

impl TableReporter {
    fn table(&self, report: &CleanReport) -> String {
        let mut table = Table::new();
        if self.options.color {
            table.load_style(presets::UTF8_FULL_CONDENSED).enforce_styling();
        } else {
            // Plain ASCII: mail clients and log viewers mangle box drawing.
            table.load_style(presets::ASCII_FULL_CONDENSED).force_no_tty();
        }
        let width = self.options.width.filter(|w| *w >= MIN_WRAP_WIDTH);
        let roomy = self.options.wide || width.is_none_or(|w| w >= NARROW);
        if let Some(width) = width {
            table.set_width(width).set_content_arrangement(ContentArrangement::Dynamic);
        }
        let mut header = vec!["status", "check"];
        if roomy {
            header.extend(["kind", "target"]);
        }
        header.extend(["detail", "time"]);
        table.set_header(header);
        for r in report.results() {
            let mut row = vec![self.status_cell(r), Cell::new(&r.meta.name)];
            if roomy {
                row.extend([Cell::new(r.kind), Cell::new(&r.meta.target)]);
            }
            row.extend([Cell::new(&r.detail), Cell::new(human::duration(r.duration))]);
            table.add_row(row);
        }
        if width.is_some() {
            // The check's name may wrap, but never below a readable width.
            if let Some(column) = table.column_mut(1) {
                column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(16)));
            }
        }
        table.to_string()
    }

    /// Upper case, so a failure stands out even without colour; with state, a marker for
    /// what changed ("FAIL new", "PASS back").
    fn status_cell(&self, r: &CheckResult) -> Cell {
        let marker = match r.trend.as_ref().map(|t| t.change) {
            Some(Change::New) => " new",
            Some(Change::Recovered { .. }) => " back",
            Some(Change::Ongoing | Change::Steady) | None => "",
        };
        let cell = Cell::new(format!("{}{marker}", r.status.as_str().to_uppercase()));
        if !self.options.color {
            return cell;
        }
        cell.fg(match r.status {
            Status::Pass => Color::Green,
            Status::Skip => Color::Blue,
            Status::Maint => Color::Cyan,
            Status::Ack => Color::Magenta,
            Status::Warn => Color::Yellow,
            Status::Fail => Color::Red,
        })
    }
}

/// "Needs attention": every failing and warning check, worst first, new before ongoing,
/// one line each with since when.
fn attention(report: &CleanReport) -> String {
    let mut shown: Vec<&CheckResult> = report.results().iter().filter(|r| r.status.meaning().needs_attention).collect();
    if shown.is_empty() {
        return String::new();
    }
    shown.sort_by_key(|r| {
        let is_new = r.trend.as_ref().is_some_and(|t| t.change == Change::New);
        (std::cmp::Reverse(r.status.rank()), !is_new)
    });
    let mut out = String::from("Needs attention:\n");
    for r in shown {
        let when = match &r.trend {
            Some(t) if t.change == Change::New => " (new)".to_owned(),
            Some(t) if t.change == Change::Ongoing => {
                let lasting = report.started_at().duration_since(t.since).unwrap_or_default();
                format!(" (since {}, {})", human::moment(t.since), human::age(lasting))
            }
            _ => String::new(),
        };
        let _ = writeln!(out, "  {:<4}  {}{when}: {}", r.status.as_str().to_uppercase(), r.meta.name, r.detail);
        if let Some(next) = r.next_step() {
            let _ = writeln!(out, "        next: {next}");
        }
    }
    out
}
