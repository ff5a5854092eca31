//! The shift record (`rounds history`): every problem of the recent runs, for the shift log.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::wrap::wrap;
use crate::human;
use crate::runner::results::clean_text;
use crate::secrets::{Secrets, MAX_DETAIL_CHARS};
use crate::state::from_unix;
use crate::state::history::{Episode, Mark, RunRecord};

/// Formats of the shift record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    /// Plain text to paste into the shift log.
    Table,
    /// One JSON document.
    Json,
    /// A Markdown table, for a ticket or a wiki.
    Markdown,
}

/// What `rounds history` shows.
pub(crate) struct ShiftRecord<'a> {
    pub inventory: &'a Path,
    pub runs: &'a [RunRecord],
    /// The window, in Unix seconds.
    pub since: u64,
    pub until: u64,
    pub episodes: &'a [Episode],
    /// The notes written in the window (`rounds note`), oldest first.
    pub notes: &'a [&'a Mark],
}

impl ShiftRecord<'_> {
    fn runs_in_window(&self) -> usize {
        self.runs.iter().filter(|r| r.at >= self.since).count()
    }

    fn heading(&self) -> String {
        format!(
            "Shift record for {}, {} to {} ({} run{})",
            clean_text(&self.inventory.display().to_string(), &Secrets::default(), usize::MAX),
            human::moment(from_unix(self.since)),
            human::moment(from_unix(self.until)),
            self.runs_in_window(),
            if self.runs_in_window() == 1 { "" } else { "s" }
        )
    }
}

/// Renders the record; pure, like every reporter. The run log is a file anyone in the
/// state folder's group may have written, and it holds acknowledgement notes as typed: every
/// text read from it passes the same cleaning step as a report's.
/// The text is wrapped to `width` columns (the terminal's, or the mail width when piped).
pub(crate) fn render_shift(record: &ShiftRecord, format: HistoryFormat, width: Option<u16>) -> Vec<u8> {
    let episodes: Vec<Episode> = record.episodes.iter().map(cleaned).collect();
    let clean = |t: &str| clean_text(t, &Secrets::default(), MAX_DETAIL_CHARS);
    let notes: Vec<Mark> = record
        .notes
        .iter()
        .map(|n| Mark {
            by: clean(&n.by),
            text: clean(&n.text),
            checks: n.checks.iter().map(|c| clean(c)).collect(),
            ..(*n).clone()
        })
        .collect();
    let shown: Vec<&Mark> = notes.iter().collect();
    let record = ShiftRecord { episodes: &episodes, notes: &shown, ..*record };
    let mut out = match format {
        HistoryFormat::Table => text(&record, width),
        HistoryFormat::Markdown => markdown(&record),
        HistoryFormat::Json => json(&record),
    };
    if format != HistoryFormat::Json && !record.notes.is_empty() {
        out.push_str(if format == HistoryFormat::Markdown { "\n### Notes\n\n" } else { "\nNotes:\n" });
        for n in record.notes {
            let line = note_line(n);
            match format {
                HistoryFormat::Markdown => out += &format!("- {}\n", super::handover::markdown_escape(&line)),
                _ => out += &format!("  {line}\n"),
            }
        }
    }
    out.into_bytes()
}

/// "2026-11-24 22:10 UTC anna on PACS:104: replaced the cable".
fn note_line(n: &Mark) -> String {
    let about = if n.checks.is_empty() { String::new() } else { format!(" on {}", n.checks.join(", ")) };
    format!("{} {}{about}: {}", human::moment(from_unix(n.at)), n.by, n.text)
}

/// An episode as it may be shown: its texts through [`clean_text`] (no secret is known here:
/// the log holds details redacted when they were written).
fn cleaned(e: &Episode) -> Episode {
    let secrets = Secrets::default();
    Episode {
        check: clean_text(&e.check, &secrets, usize::MAX),
        detail: clean_text(&e.detail, &secrets, MAX_DETAIL_CHARS),
        ..e.clone()
    }
}

/// "since 2026-11-25 02:10 UTC (4 h)" or "2026-11-24 22:10 UTC to 23:40 UTC (1 h 30 min)".
fn span(e: &Episode, until: u64) -> (String, String) {
    let began = human::moment(from_unix(e.began));
    match e.ended {
        None => (format!("since {began}"), lasted(until.saturating_sub(e.began))),
        Some(end) => (format!("{began} to {}", human::moment(from_unix(end))), lasted(end.saturating_sub(e.began))),
    }
}

fn lasted(secs: u64) -> String {
    human::age(Duration::from_secs(secs))
}

fn text(record: &ShiftRecord, width: Option<u16>) -> String {
    let mut out = wrap(&record.heading(), width, "", "");
    let (open, closed): (Vec<&Episode>, Vec<&Episode>) = record.episodes.iter().partition(|e| e.ended.is_none());
    if record.episodes.is_empty() {
        out.push_str("No problems.\n");
        return out;
    }
    for (title, list) in [("Still open", &open), ("Resolved", &closed)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({}):", list.len());
        for e in list {
            let (when, how_long) = span(e, record.until);
            let status = format!("  {:<4}  ", e.status.as_str().to_uppercase());
            out += &wrap(&format!("{}  {when} ({how_long}): {}", e.check, e.detail), width, &status, "        ");
        }
    }
    out
}

/// Pipes and line breaks inside a cell would break the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown(record: &ShiftRecord) -> String {
    let mut out = format!("## {}\n\n", record.heading());
    if record.episodes.is_empty() {
        out.push_str("No problems.\n");
        return out;
    }
    out.push_str("| Check | Status | Began | Ended | Lasted | Detail |\n|---|---|---|---|---|---|\n");
    for e in record.episodes {
        let ended = e.ended.map_or_else(|| "still open".to_owned(), |end| human::moment(from_unix(end)));
        let lasted = lasted(e.ended.unwrap_or(record.until).saturating_sub(e.began));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {lasted} | {} |",
            cell(&e.check),
            e.status.as_str(),
            human::moment(from_unix(e.began)),
            ended,
            cell(&e.detail)
        );
    }
    out
}

#[derive(Serialize)]
struct EpisodeJson<'a> {
    check: &'a str,
    status: &'a str,
    began: String,
    ended: Option<String>,
    lasted_seconds: u64,
    open: bool,
    detail: &'a str,
}

fn json(record: &ShiftRecord) -> String {
    let episodes: Vec<EpisodeJson> = record
        .episodes
        .iter()
        .map(|e| EpisodeJson {
            check: &e.check,
            status: e.status.as_str(),
            began: human::rfc3339(from_unix(e.began)),
            ended: e.ended.map(|end| human::rfc3339(from_unix(end))),
            lasted_seconds: e.ended.unwrap_or(record.until).saturating_sub(e.began),
            open: e.ended.is_none(),
            detail: &e.detail,
        })
        .collect();
    let doc = serde_json::json!({
        "version": 1,
        "inventory": clean_text(&record.inventory.display().to_string(), &Secrets::default(), usize::MAX),
        "from": human::rfc3339(from_unix(record.since)),
        "to": human::rfc3339(from_unix(record.until)),
        "runs": record.runs_in_window(),
        "episodes": episodes,
        "notes": record.notes.iter().map(|n| serde_json::json!({
            "at": human::rfc3339(from_unix(n.at)), "by": n.by, "checks": n.checks, "text": n.text,
        })).collect::<Vec<_>>(),
    });
    // Plain strings and numbers: serializing cannot fail.
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}
