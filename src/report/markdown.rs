//! A Markdown report for an email body or a ticket: title, summary, "Needs attention", then
//! every check in a table, pipes and line breaks inside cells escaped.

use std::fmt::Write as _;

use super::reporter::{summary_line, ReportOptions, Reporter};
use crate::human;
use crate::runner::results::{Change, CleanReport};

pub(crate) struct MarkdownReporter {
    pub options: ReportOptions,
}

impl Reporter for MarkdownReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let a = report.audit();
        let mut out = format!(
            "# rounds on {}, {}\n\n**{}**\n",
            cell(&a.host),
            human::moment(report.started_at()),
            summary_line(report)
        );
        let attention: Vec<_> = report.results().iter().filter(|r| r.status.meaning().needs_attention).collect();
        if !attention.is_empty() {
            out.push_str("\n## Needs attention\n\n");
            let mut sorted = attention;
            sorted.sort_by_key(|r| std::cmp::Reverse(r.status.rank()));
            for r in sorted {
                let _ = writeln!(
                    out,
                    "- **{}** {}: {}",
                    r.status.as_str().to_uppercase(),
                    inline(&r.meta.name),
                    inline(&r.detail)
                );
                if let Some(next) = r.next_step() {
                    let _ = writeln!(out, "  - next: {}", inline(&next));
                }
            }
        }
        let mut back = String::new();
        for r in report.results() {
            if let Some(Change::Recovered { down_for }) = r.trend.as_ref().map(|t| t.change) {
                let _ = writeln!(back, "- **PASS** {}: back after {}", inline(&r.meta.name), human::span(down_for));
            }
        }
        if !back.is_empty() {
            let _ = write!(out, "\n## Recovered\n\n{back}");
        }
        // Under --quiet every result left is listed above: no table repeating them.
        let all = if self.options.quiet { &[][..] } else { report.results() };
        if !all.is_empty() {
            out.push_str(
                "\n## All checks\n\n| Status | Check | Kind | Target | Detail | Time |\n|---|---|---|---|---|---|\n",
            );
        }
        for r in all {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.status.as_str().to_uppercase(),
                cell(&r.meta.name),
                r.kind,
                cell(&r.meta.target),
                cell(&r.detail),
                human::duration(r.duration)
            );
        }
        let _ = writeln!(
            out,
            "\n_rounds {}, inventory `{}` (sha256 `{}`)_",
            a.version,
            a.inventory.replace('`', "'"),
            a.inventory_sha256
        );
        out.into_bytes()
    }
}

/// Text inside a table cell: a pipe would end the cell, a line break the row.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// Text in running Markdown: no line breaks, and no emphasis or links by accident.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}
