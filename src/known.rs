//! Living with known problems: acknowledgements and maintenance windows.
//!
//! A gate that fails every morning for the same known broken label printer gets ignored,
//! and then it misses the real outage. An acknowledgement (`rounds ack`, kept in
//! `acks.toml` beside the inventory, a file a team reviews in git) turns a failing check
//! into `ack` until a date; a `[[maintenance]]` window turns the checks it names into
//! `maint` while it is open. Both are shown, counted apart, and never fail the gate; an
//! acknowledgement whose date has passed fails loudly again.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{to_timestamp, CheckMeta, Window};
use crate::human;
use crate::outcome::Status;
use crate::runner::results::RunReport;

/// One acknowledgement, as `acks.toml` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ack {
    pub check: String,
    /// RFC 3339: the acknowledgement holds until then.
    pub until: String,
    pub note: String,
    /// Who acknowledged it (`$USER`), and when (RFC 3339).
    pub by: String,
    pub at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AcksFile {
    #[serde(default, rename = "ack")]
    acks: Vec<Ack>,
}

/// "Now" for acknowledgements and windows: the clock, or `ROUNDS_NOW` (RFC 3339), which the
/// tests use to stand on a given day (a DST change, an expired acknowledgement).
pub(crate) fn now() -> SystemTime {
    std::env::var("ROUNDS_NOW")
        .ok()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(SystemTime::now, crate::config::to_system_time)
}

/// `--acks PATH`, else `acks.toml` beside the inventory.
pub(crate) fn acks_path(inventory: &Path, flag: Option<&Path>) -> PathBuf {
    flag.map_or_else(|| inventory.with_file_name("acks.toml"), Path::to_path_buf)
}

/// The acknowledgements at `path`; none when the file does not exist.
pub(crate) fn read_acks(path: &Path) -> Result<Vec<Ack>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    toml::from_str::<AcksFile>(&text).map(|f| f.acks).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

/// Writes `acks` to `path` atomically, with a comment saying what the file is.
pub(crate) fn write_acks(path: &Path, acks: &[Ack]) -> io::Result<()> {
    let body = toml::to_string(&AcksFile { acks: acks.to_vec() }).map_err(io::Error::other)?;
    let text = format!(
        "# Acknowledged problems for rounds: each [[ack]] turns a failing check into `ack` until\n\
         # its date. Written by `rounds ack`; keep it in git and review it like the inventory.\n\n{body}"
    );
    crate::files::replace(path, text.as_bytes(), crate::files::Access::Umask)
}

/// `--until` as people write it: a date ("2026-12-01", through the end of that day here) or
/// an RFC 3339 moment.
pub(crate) fn parse_until(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.trim().parse::<Timestamp>() {
        return Ok(t);
    }
    let date: Date = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a date; write it like 2026-12-01 or 2026-12-01T08:00:00-06:00"))?;
    let next_midnight = date.tomorrow().map_err(|e| e.to_string())?.to_datetime(jiff::civil::Time::midnight());
    next_midnight.to_zoned_datetime(TimeZone::system()).map(|z| z.timestamp()).map_err(|e| e.to_string())
}

/// Whether `selector` (a name, a table name, or `tag:x`) names the check.
pub(crate) fn selects(meta: &CheckMeta, selector: &str) -> bool {
    match selector.strip_prefix("tag:") {
        Some(tag) => meta.tags.iter().any(|t| t == tag),
        None => meta.name == selector || meta.group.as_deref() == Some(selector),
    }
}

/// Applies the open windows and the acknowledgements to `report` at `now`.
pub(crate) fn apply(report: &mut RunReport, acks: &[Ack], windows: &[Window], now: SystemTime) {
    let stamp = to_timestamp(now);
    let open: Vec<&Window> = windows.iter().filter(|w| w.is_open(stamp)).collect();
    for result in report.results_mut() {
        let covering: Vec<&&Window> =
            open.iter().filter(|w| w.checks.iter().any(|sel| selects(&result.meta, sel))).collect();
        if !covering.is_empty() {
            // Overlapping windows merge: every reason is said, with the latest end.
            let reasons: Vec<String> = covering.iter().map(|w| format!("{}, {}", w.reason, w.until_text())).collect();
            result.detail = format!("maintenance ({}): {}", reasons.join("; "), result.detail);
            result.status = Status::Maint;
            continue;
        }
        let Some(ack) =
            acks.iter().find(|a| a.check == result.meta.name || result.meta.group.as_deref() == Some(&a.check))
        else {
            continue;
        };
        let until = ack.until.parse::<Timestamp>().ok();
        let failing = result.status.meaning().may_be_acknowledged;
        match until {
            Some(until) if until > stamp && failing => {
                let left = (until.as_second() - stamp.as_second()).max(0) as u64;
                result.detail = format!(
                    "acknowledged by {} until {} ({} left): {}; {}",
                    ack.by,
                    human::date(crate::config::to_system_time(until)),
                    human::age(std::time::Duration::from_secs(left)),
                    ack.note,
                    result.detail
                );
                result.status = Status::Ack;
            }
            Some(_) if result.status.is_healthy() => {
                result.detail = format!(
                    "{}; passes again: its acknowledgement can be removed (rounds ack --remove {:?})",
                    result.detail, ack.check
                );
            }
            Some(until) if failing => {
                result.detail = format!(
                    "the acknowledgement expired on {} ({}): {}",
                    human::date(crate::config::to_system_time(until)),
                    ack.note,
                    result.detail
                );
            }
            _ => {}
        }
    }
    report.recount();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_a_date_or_a_moment() {
        assert!(parse_until("2026-12-01").is_ok());
        assert_eq!(parse_until("2026-12-01T08:00:00-06:00").unwrap().to_string(), "2026-12-01T14:00:00Z");
        assert!(parse_until("next week").unwrap_err().contains("not a date"));
    }
}
