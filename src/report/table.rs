//! The table people read at shift start, and cron mails.
//!
//! On a terminal: the table fitted to its width (the detail column gets the room, words are
//! not cut), then "Needs attention", "Recovered", then the summary. Piped (cron mail): the
//! summary with host and date first, then "Needs attention" and "Recovered", then all results
//! in plain ASCII. Every line, prose or table, is at most the terminal's width, or
//! [`MAIL_WIDTH`] piped, broken between words (see `wrap`). Under `--quiet` the table is left
//! out: what is left is listed once.

use comfy_table::{presets, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width};

use super::reporter::{summary_line, ReportOptions, Reporter};
use super::wrap::{keep_within, spaces, wrap};
use crate::human;
use crate::outcome::Status;
use crate::runner::results::{Change, CheckResult, CleanReport};

/// Piped output is read in mail clients: no line wider than this.
pub(crate) const MAIL_WIDTH: u16 = 100;
/// Below this many columns the kind and target columns make way for the detail.
const NARROW: u16 = 120;
/// The widest group kept on one line inside a table cell ("4.2 GiB", "13:00 UTC),").
pub(crate) const CELL_GROUP: usize = 12;
/// A terminal narrower than this (or one that reports 0 columns) gets the table unwrapped.
const MIN_WRAP_WIDTH: u16 = 40;

pub(crate) struct TableReporter {
    pub options: ReportOptions,
}

impl Reporter for TableReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let width = self.options.width.filter(|w| *w >= MIN_WRAP_WIDTH);
        let mut summary = summary_line(report);
        if self.options.summary_first {
            let host = report.audit().host.as_str();
            if !host.is_empty() {
                summary = format!("rounds on {host}, {}: {summary}", human::moment(report.started_at()));
            }
        }
        let summary = wrap(&summary, width, "", "");
        // Under --quiet every result left is in "Needs attention" (or came back): the table
        // would list each problem a second time.
        let table = (!self.options.quiet && !report.results().is_empty()).then(|| self.table(report) + "\n");
        let mut sections: Vec<String> = Vec::new();
        let sections_between = [attention(report, width), back(report, width)].into_iter().filter(|s| !s.is_empty());
        if self.options.summary_first {
            sections.push(summary);
            sections.extend(sections_between);
            sections.extend(table.map(|t| format!("All results:\n{t}")));
        } else {
            sections.extend(table);
            sections.extend(sections_between);
            sections.push(summary);
        }
        sections.join("\n").into_bytes()
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
            // "70 B" and "4.2 GiB" are never cut in two by the layout.
            row.extend([Cell::new(keep_within(&r.detail, CELL_GROUP)), Cell::new(human::duration(r.duration))]);
            table.add_row(row);
        }
        if width.is_some() {
            // The check's name may wrap, but never below a readable width.
            if let Some(column) = table.column_mut(1) {
                column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(16)));
            }
        }
        spaces(&table.to_string())
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
/// with since when, wrapped to `width` under its status.
fn attention(report: &CleanReport, width: Option<u16>) -> String {
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
        let status = format!("  {:<4}  ", r.status.as_str().to_uppercase());
        out += &wrap(&format!("{}{when}: {}", r.meta.name, r.detail), width, &status, INDENT);
        if let Some(next) = r.next_step() {
            out += &wrap(&next, width, &format!("{INDENT}next: "), &format!("{INDENT}      "));
        }
    }
    out
}

/// Continuation lines start under the check's name.
const INDENT: &str = "        ";

/// "Recovered": each check that was a problem at the last run and passes now, and how long
/// it was down, so a mail that says "1 recovered" says which.
fn back(report: &CleanReport, width: Option<u16>) -> String {
    let mut out = String::new();
    for r in report.results() {
        if let Some(Change::Recovered { down_for }) = r.trend.as_ref().map(|t| t.change) {
            let status = format!("  {:<4}  ", r.status.as_str().to_uppercase());
            out += &wrap(&format!("{}: back after {}", r.meta.name, human::span(down_for)), width, &status, INDENT);
        }
    }
    match out.is_empty() {
        true => out,
        false => format!("Recovered:\n{out}"),
    }
}
