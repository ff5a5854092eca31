//! The end-of-shift handover (`rounds handover`): what is still open, what happened this
//! shift, what is coming up, the shift's notes and its runs, for the colleague who takes over.
//!
//! Gathered from the run log (episodes, notes, runs), the state (what the last run saw of
//! certificates and backups), the acknowledgements and the maintenance windows; rendered as
//! one list of sections, the same in every format. Every text passes [`clean_text`]: the run
//! log and `acks.toml` are files people write.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::config::{to_system_time, to_timestamp, Window};
use crate::human;
use crate::known::Ack;
use crate::runner::results::clean_text;
use crate::secrets::{Secrets, MAX_DETAIL_CHARS};
use crate::state::history::{Episode, Mark, RunRecord};
use crate::state::{from_unix, Seen};

/// Formats of the handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HandoverFormat {
    /// Plain text to paste into the shift log or a mail.
    Table,
    /// Markdown, for a ticket or a wiki.
    Markdown,
    /// One self-contained HTML page (no script, no request to anywhere).
    Html,
}

/// How far ahead acknowledgements that end are shown.
const ACKS_AHEAD: Duration = Duration::from_secs(2 * 86_400);
/// How far ahead maintenance is shown.
const MAINTENANCE_AHEAD: Duration = Duration::from_secs(86_400);
/// When a state written before rounds kept each check's warning time: certificates expiring
/// this soon are shown (the default warning days).
const CERTS_AHEAD: Duration = Duration::from_secs(30 * 86_400);
/// How many backups, those closest to their age limit first.
const BACKUPS_SHOWN: usize = 3;

/// Everything a handover is made of; the app reads the files, this decides what to say.
pub(crate) struct Sources<'a> {
    pub inventory: &'a Path,
    /// The window, in Unix seconds.
    pub since: u64,
    pub now: SystemTime,
    pub runs: &'a [RunRecord],
    /// The notes written in the window.
    pub notes: Vec<&'a Mark>,
    pub episodes: &'a [Episode],
    /// Acknowledgements, resolved against the inventory.
    pub acks: &'a [Ack],
    pub windows: &'a [Window],
    /// What the state remembers of each check (certificates, backups).
    pub seen: Vec<Seen<'a>>,
}

/// One line of a section: a label (a check, a time) and what is said of it, and maybe a
/// second line (an acknowledgement's note).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    label: String,
    text: String,
    more: Option<String>,
}

impl Item {
    fn new(label: impl Into<String>, text: impl Into<String>) -> Item {
        Item { label: label.into(), text: text.into(), more: None }
    }

    /// Through the one cleaning step: no control character, capped.
    fn cleaned(self) -> Item {
        let clean = |s: &str| clean_text(s, &Secrets::default(), MAX_DETAIL_CHARS);
        Item { label: clean(&self.label), text: clean(&self.text), more: self.more.as_deref().map(clean) }
    }
}

struct Section {
    title: &'static str,
    items: Vec<Item>,
    /// Said when there are no items.
    none: &'static str,
}

/// The handover as a document: a heading and its sections, in order.
pub(crate) struct Handover {
    heading: String,
    sections: Vec<Section>,
}

fn moment(secs: u64) -> String {
    human::moment(from_unix(secs))
}

fn lasted(secs: u64) -> String {
    human::age(Duration::from_secs(secs))
}

impl Handover {
    pub fn gather(s: &Sources) -> Handover {
        let until = crate::state::to_unix(s.now);
        let in_window: Vec<&RunRecord> = s.runs.iter().filter(|r| r.at >= s.since).collect();
        let heading =
            format!("Handover for {}, {} to {}", s.inventory.display(), moment(s.since), human::moment(s.now));
        let sections = vec![
            Section { title: "Still open", items: still_open(s, until), none: "Nothing was open at the last run." },
            Section {
                title: "What happened this shift",
                items: s
                    .episodes
                    .iter()
                    .filter_map(|e| {
                        let end = e.ended?;
                        let text = format!(
                            "{} from {} to {} ({}): {}",
                            e.status.as_str().to_uppercase(),
                            moment(e.began),
                            moment(end),
                            lasted(end.saturating_sub(e.began)),
                            e.detail
                        );
                        Some(Item::new(&e.check, text))
                    })
                    .collect(),
                none: "No problem ended this shift.",
            },
            Section { title: "Coming up", items: coming_up(s), none: "Nothing coming up." },
            Section {
                title: "Notes",
                items: s
                    .notes
                    .iter()
                    .map(|n| {
                        let about =
                            if n.checks.is_empty() { String::new() } else { format!(" on {}", n.checks.join(", ")) };
                        Item::new(format!("{} {}{about}", moment(n.at), n.by), &n.text)
                    })
                    .collect(),
                none: "No notes this shift.",
            },
            Section { title: "Runs", items: runs(&in_window), none: "No run this shift." },
        ];
        let sections = sections
            .into_iter()
            .map(|sec| Section { items: sec.items.into_iter().map(Item::cleaned).collect(), ..sec })
            .collect();
        Handover { heading: clean_text(&heading, &Secrets::default(), usize::MAX), sections }
    }

    pub fn render(&self, format: HandoverFormat) -> Vec<u8> {
        match format {
            HandoverFormat::Table => self.text(),
            HandoverFormat::Markdown => self.markdown(),
            HandoverFormat::Html => self.html(),
        }
        .into_bytes()
    }

    fn text(&self) -> String {
        let mut out = format!("{}\n", self.heading);
        for section in &self.sections {
            out += &format!("\n{} ({}):\n", section.title, section.items.len());
            if section.items.is_empty() {
                out += &format!("  {}\n", section.none);
            }
            for item in &section.items {
                out += &format!("  {}: {}\n", item.label, item.text);
                if let Some(more) = &item.more {
                    out += &format!("    {more}\n");
                }
            }
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!("# {}\n", markdown_escape(&self.heading));
        for section in &self.sections {
            out += &format!("\n## {} ({})\n\n", section.title, section.items.len());
            if section.items.is_empty() {
                out += &format!("{}\n", section.none);
            }
            for item in &section.items {
                out += &format!("- **{}**: {}", markdown_escape(&item.label), markdown_escape(&item.text));
                if let Some(more) = &item.more {
                    out += &format!("  \n  {}", markdown_escape(more));
                }
                out.push('\n');
            }
        }
        out
    }

    fn html(&self) -> String {
        let mut body = format!("<h1>{}</h1>\n", html_escape(&self.heading));
        for section in &self.sections {
            body += &format!("<section>\n<h2>{} ({})</h2>\n", section.title, section.items.len());
            if section.items.is_empty() {
                body += &format!("<p>{}</p>\n", section.none);
            } else {
                body += "<ul>\n";
                for item in &section.items {
                    body += &format!("<li><strong>{}</strong>: {}", html_escape(&item.label), html_escape(&item.text));
                    if let Some(more) = &item.more {
                        body += &format!("<br><span class=\"more\">{}</span>", html_escape(more));
                    }
                    body += "</li>\n";
                }
                body += "</ul>\n";
            }
            body += "</section>\n";
        }
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{HANDOVER_CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
            html_escape(&self.heading)
        )
    }
}

const HANDOVER_CSS: &str = "body{font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:0;\
line-height:1.5}main{max-width:60rem;margin:0 auto;padding:1rem}h1{font-size:1.4rem}h2{font-size:1.15rem;\
border-bottom:1px solid #767676;margin-top:1.5rem}li{margin:.4rem 0;overflow-wrap:anywhere}.more{color:#3d3d3d}";

/// Problems open at the last run, with their acknowledgement.
fn still_open(s: &Sources, until: u64) -> Vec<Item> {
    let now = to_timestamp(s.now);
    s.episodes
        .iter()
        // Maintenance is not a problem left open.
        .filter(|e| e.ended.is_none() && e.status.meaning().is_problem)
        .map(|e| {
            let text = format!(
                "{} since {} ({}): {}",
                e.status.as_str().to_uppercase(),
                moment(e.began),
                lasted(until.saturating_sub(e.began)),
                e.detail
            );
            // The run log's detail says the acknowledgement when the last run applied it.
            let ack = s.acks.iter().find(|a| a.until.ends() > now && a.covers.contains(&e.check));
            let ack = ack.filter(|a| a.note.is_empty() || !e.detail.contains(&a.note));
            let more = ack.map(|a| {
                let by = if a.by.is_empty() { "someone" } else { a.by.as_str() };
                let note = if a.note.is_empty() { "(no note)" } else { a.note.as_str() };
                format!("acknowledged by {by} {}: {note}", a.until.until_text())
            });
            Item { more, ..Item::new(&e.check, text) }
        })
        .collect()
}

/// Acknowledgements that end soon, maintenance soon, certificates within their check's
/// warning time, the backups closest to their age limit: soonest first, backups last.
fn coming_up(s: &Sources) -> Vec<Item> {
    let now = to_timestamp(s.now);
    let mut dated: Vec<(u64, Item)> = Vec::new();
    for a in s.acks {
        let ends = a.until.ends();
        if ends > now && to_system_time(ends) <= s.now + ACKS_AHEAD {
            let label = format!("Acknowledgement of {}", a.check.text());
            let text = format!("ends {}; the check fails again after that unless it is fixed", moment(secs(ends)));
            dated.push((secs(ends), Item::new(label, text)));
        }
    }
    for w in s.windows {
        let Some((start, end)) = w.next_span(now, to_jiff_span(MAINTENANCE_AHEAD)) else { continue };
        let when = if start <= now {
            format!("in maintenance until {}", moment(secs(end)))
        } else {
            format!("from {} until {}", moment(secs(start)), moment(secs(end)))
        };
        let label = format!("Maintenance of {}", w.covers.join(", "));
        dated.push((secs(start), Item::new(label, format!("{when}: {}", w.reason))));
    }
    let now_secs = crate::state::to_unix(s.now);
    for seen in &s.seen {
        let Some(expires) = seen.cert_not_after.filter(|_| within_warning(seen, now_secs)) else { continue };
        let text = if expires <= now_secs {
            format!("certificate expired {} (seen at the last run)", moment(expires))
        } else {
            format!("certificate expires {}, in {} (seen at the last run)", moment(expires), lasted(expires - now_secs))
        };
        dated.push((expires, Item::new(seen.name, text)));
    }
    dated.sort_by_key(|(at, _)| *at);
    let mut backups: Vec<&Seen> = s.seen.iter().filter(|b| b.backup_age.is_some()).collect();
    backups.sort_by(|a, b| nearness_to_limit(b).total_cmp(&nearness_to_limit(a)));
    let backups = backups.into_iter().take(BACKUPS_SHOWN).map(|b| {
        let age = b.backup_age.unwrap_or_default();
        let limit = match b.backup_max_age {
            Some(max) => format!(", limit {} ({:.0}% of it)", human::limit(max), nearness_to_limit(b) * 100.0),
            None => String::new(),
        };
        let text = format!("newest backup {} old{limit} at the last run ({})", human::age(age), b.status.as_str());
        Item::new(b.name, text)
    });
    dated.into_iter().map(|(_, item)| item).chain(backups).collect()
}

/// Whether the certificate the last run saw is within its check's own warning time now.
fn within_warning(seen: &Seen, now: u64) -> bool {
    let ahead = CERTS_AHEAD.as_secs();
    let warns_from = seen.cert_warns_from.or_else(|| seen.cert_not_after.map(|t| t.saturating_sub(ahead)));
    warns_from.is_some_and(|from| from <= now)
}

/// How much of its age limit a backup has used (1.0 is at the limit); without a known
/// limit, its age in days, so old backups still come first among those.
fn nearness_to_limit(seen: &Seen) -> f64 {
    let age = seen.backup_age.unwrap_or_default().as_secs_f64();
    match seen.backup_max_age.filter(|m| !m.is_zero()) {
        Some(max) => age / max.as_secs_f64(),
        None => age / 86_400.0,
    }
}

fn secs(t: jiff::Timestamp) -> u64 {
    crate::state::to_unix(to_system_time(t))
}

fn to_jiff_span(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

/// How many runs, the first and the last, and any that did not finish.
fn runs(in_window: &[&RunRecord]) -> Vec<Item> {
    let (Some(first), Some(last)) = (in_window.first(), in_window.last()) else { return Vec::new() };
    let mut items = vec![Item::new(
        format!("{} runs", in_window.len()),
        format!("first {}, last {}", moment(first.at), moment(last.at)),
    )];
    for run in in_window.iter().filter(|r| r.stopped.is_some() || !r.unfinished.is_empty()) {
        let how = run.stopped.as_deref().map_or_else(|| "did not finish".to_owned(), |s| format!("stopped by {s}"));
        let names = if run.unfinished.is_empty() {
            String::new()
        } else {
            format!("; unfinished: {}", run.unfinished.join(", "))
        };
        items.push(Item::new(format!("Run at {}", moment(run.at)), format!("{how}{names}")));
    }
    items
}

/// Text inside a Markdown paragraph: every character Markdown could take as syntax is
/// escaped (CommonMark allows a backslash before any ASCII punctuation).
pub(crate) fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' | '&' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text inside an HTML element or a quoted attribute: HTML5 reads XML's escapes, and a
/// character no document may hold is shown escaped.
pub(crate) fn html_escape(text: &str) -> String {
    super::junit::xml(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_leave_no_markup() {
        assert_eq!(html_escape("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&apos;");
        assert_eq!(markdown_escape("**x** | [y](z) <b>"), "\\*\\*x\\*\\* \\| \\[y\\](z) \\<b\\>");
    }
}
