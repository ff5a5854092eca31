//! The table people read at shift start, and cron mails.

use comfy_table::{presets, Cell, Color, ContentArrangement, Table};

use super::reporter::{summary_line, ReportOptions, Reporter};
use crate::human;
use crate::outcome::Status;
use crate::runner::results::RunReport;

/// Narrower terminals get the table unwrapped: long lines beat unreadable columns.
const MIN_WRAP_WIDTH: u16 = 60;

pub(crate) struct TableReporter {
    pub options: ReportOptions,
}

impl Reporter for TableReporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let mut table = Table::new();
        if self.options.color {
            // Box drawing and colour on a terminal, wrapped to its width when that is known
            // and sane: a pty that reports 0 columns would squeeze every cell to one letter.
            table.load_style(presets::UTF8_FULL_CONDENSED).enforce_styling();
            if table.width().is_some_and(|w| w >= MIN_WRAP_WIDTH) {
                table.set_content_arrangement(ContentArrangement::Dynamic);
            }
        } else {
            // Plain ASCII when piped: mail clients and log viewers mangle box drawing.
            table.load_style(presets::ASCII_FULL_CONDENSED).force_no_tty();
        }
        table.set_header(["status", "check", "kind", "target", "detail", "time"]);
        for r in &report.results {
            table.add_row(vec![
                self.status_cell(r.status),
                Cell::new(&r.meta.name),
                Cell::new(r.kind),
                Cell::new(&r.meta.target),
                Cell::new(&r.detail),
                Cell::new(human::duration(r.duration)),
            ]);
        }
        let summary = summary_line(report);
        let mut out = String::new();
        if self.options.summary_first {
            out.push_str(&summary);
            out.push('\n');
        }
        if !report.results.is_empty() {
            out.push_str(&table.to_string());
            out.push('\n');
        }
        if !self.options.summary_first {
            out.push_str(&summary);
            out.push('\n');
        }
        out.into_bytes()
    }
}

impl TableReporter {
    /// Upper case, so a failure stands out even without colour.
    fn status_cell(&self, status: Status) -> Cell {
        let cell = Cell::new(status.as_str().to_uppercase());
        if !self.options.color {
            return cell;
        }
        cell.fg(match status {
            Status::Pass => Color::Green,
            Status::Warn => Color::Yellow,
            Status::Fail => Color::Red,
        })
    }
}
