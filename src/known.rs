//! Living with known problems: acknowledgements and maintenance windows.
//!
//! A gate that fails every morning for the same known broken label printer gets ignored,
//! and then it misses the real outage. An acknowledgement (`rounds ack`, kept in
//! `acks.toml` beside the inventory, a file a team reviews in git) turns a failing check
//! into `ack` until a date; a `[[maintenance]]` window turns the checks it names into
//! `maint` while it is open. Both are shown, counted apart, and never fail the gate; an
//! acknowledgement whose date has passed fails loudly again.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{to_system_time, to_timestamp, CheckMeta, ConfigError, Selector, Window};
use crate::human;
use crate::outcome::Status;
use crate::runner::results::RunReport;

/// One acknowledgement, as `acks.toml` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    /// A check's name, a `[[server]]`'s name (all its ports), or `tag:x` (several checks).
    pub check: Selector,
    pub until: Until,
    pub note: String,
    /// Who acknowledged it (the person, also under sudo), and when (RFC 3339).
    pub by: String,
    pub at: String,
    /// The names of the checks it covers, once [`AcksFile::resolve`] has seen the inventory.
    pub covers: Vec<String>,
}

/// Until when an acknowledgement holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Through the end of this day, in this machine's time zone (`--until 2026-12-05`).
    EndOf(Date),
    /// Until this moment (`--until 2026-12-05T08:00:00-06:00`).
    Moment(Timestamp),
}

impl Until {
    /// A date, an RFC 3339 moment, or a local date and time (in this machine's zone).
    pub fn parse(text: &str) -> Result<Until, String> {
        let text = text.trim();
        if let Ok(t) = text.parse::<Timestamp>() {
            return Ok(Until::Moment(t));
        }
        if let Ok(date) = text.parse::<Date>() {
            return Ok(Until::EndOf(date));
        }
        text.replacen(' ', "T", 1)
            .parse::<DateTime>()
            .ok()
            .and_then(|local| local.to_zoned_datetime(TimeZone::system()).ok())
            .map(|z| Until::Moment(z.timestamp()))
            .ok_or_else(|| format!("{text:?} is not a date; write it like 2026-12-01 or 2026-12-01T08:00:00-06:00"))
    }

    /// The moment it ends: for a date, the next midnight here.
    pub fn ends(&self) -> Timestamp {
        match *self {
            Until::Moment(t) => t,
            Until::EndOf(date) => date
                .tomorrow()
                .ok()
                .and_then(|next| {
                    next.to_datetime(jiff::civil::Time::midnight()).to_zoned_datetime(TimeZone::system()).ok()
                })
                .map_or(Timestamp::MAX, |z| z.timestamp()),
        }
    }

    /// "until the end of 2026-12-05", "until 2026-12-05": the date as it was entered.
    pub fn until_text(&self) -> String {
        match self {
            Until::EndOf(date) => format!("until the end of {date}"),
            Until::Moment(t) => format!("until {}", human::date(to_system_time(*t))),
        }
    }

    /// As `ack --list` shows it: "until the end of 2026-12-05", "until 2026-12-05T14:00:00Z".
    pub fn listed(&self) -> String {
        match self {
            Until::EndOf(_) => self.until_text(),
            Until::Moment(t) => format!("until {t}"),
        }
    }

    /// "expired at the end of 2026-12-05", "expired on 2026-12-05".
    pub fn expired_text(&self) -> String {
        match self {
            Until::EndOf(date) => format!("expired at the end of {date}"),
            Until::Moment(t) => format!("expired on {}", human::date(to_system_time(*t))),
        }
    }

    /// As `acks.toml` keeps it: a TOML date, or an offset date-time.
    fn to_toml(self) -> Result<toml::value::Datetime, String> {
        self.to_string().parse().map_err(|e: toml::value::DatetimeParseError| e.to_string())
    }
}

impl fmt::Display for Until {
    /// "2026-12-05" or "2026-12-05T14:00:00Z", as `ack --list` and `acks.toml` show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Until::EndOf(date) => write!(f, "{date}"),
            Until::Moment(t) => write!(f, "{t}"),
        }
    }
}

/// `[[ack]]` as written (by `rounds ack` or by hand). `until` is a TOML date or date-time,
/// or the same in quotes (what rounds wrote before it wrote dates).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckTable {
    check: Spanned<String>,
    until: Spanned<toml::Value>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcksIn {
    #[serde(default)]
    ack: Vec<AckTable>,
}

/// `[[ack]]` as `rounds ack` writes it.
#[derive(Serialize)]
struct AckOut<'a> {
    check: String,
    until: toml::value::Datetime,
    note: &'a str,
    by: &'a str,
    at: &'a str,
}

#[derive(Serialize)]
struct AcksOut<'a> {
    ack: Vec<AckOut<'a>>,
}

/// `acks.toml`, read: its acknowledgements, and its text for errors at their places.
#[derive(Debug, Default)]
pub(crate) struct AcksFile {
    pub path: PathBuf,
    source: String,
    pub acks: Vec<Ack>,
}

impl AcksFile {
    /// An error at `span` of the file (its first line when there is no place).
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        match span {
            Some(span) => ConfigError::at(&self.path, &self.source, span, message),
            None => ConfigError::whole_file(&self.path, message),
        }
    }

    /// Works out which checks each acknowledgement covers. One that covers none (a typo, a
    /// renamed check) is an error at its place, with the closest names; a bare word that is
    /// only a tag is refused too (several checks need `tag:`).
    pub fn resolve<'a, I>(&mut self, checks: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = &'a CheckMeta>,
        I::IntoIter: Clone,
    {
        let checks = checks.into_iter();
        for i in 0..self.acks.len() {
            let ack = &self.acks[i];
            let found = ack.check.select_acknowledged(checks.clone(), "the acknowledgement of").map_err(|why| {
                let fix = format!("{why}; correct it, or remove it with rounds ack --remove {:?}", ack.check.text());
                self.error(ack.check.span.clone(), fix)
            })?;
            let covers = found.into_iter().filter_map(|n| checks.clone().nth(n)).map(|c| c.name.clone()).collect();
            self.acks[i].covers = covers;
        }
        Ok(())
    }
}

/// "Now" for acknowledgements and windows: the clock, or `ROUNDS_NOW` (RFC 3339), which the
/// tests use to stand on a given day (a DST change, an expired acknowledgement).
pub(crate) fn now() -> SystemTime {
    std::env::var("ROUNDS_NOW")
        .ok()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(SystemTime::now, to_system_time)
}

/// `--acks PATH`, else `acks.toml` beside the inventory.
pub(crate) fn acks_path(inventory: &Path, flag: Option<&Path>) -> PathBuf {
    flag.map_or_else(|| inventory.with_file_name("acks.toml"), Path::to_path_buf)
}

/// The acknowledgements at `path`; none when the file does not exist. Errors name the
/// file, line and column.
pub(crate) fn read_acks(path: &Path) -> Result<AcksFile, ConfigError> {
    let source = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(AcksFile { path: path.to_owned(), ..AcksFile::default() })
        }
        Err(e) => return Err(ConfigError::whole_file(path, format!("cannot read: {e}"))),
    };
    let file: AcksIn = toml::from_str(&source).map_err(|e| ConfigError::from_toml(path, &source, &e))?;
    let mut acks = Vec::with_capacity(file.ack.len());
    for table in file.ack {
        let at = |span: Range<usize>, why: String| ConfigError::at(path, &source, span, why);
        let check = Selector::spanned(&table.check).map_err(|why| at(table.check.span(), why))?;
        let until = match table.until.get_ref() {
            toml::Value::String(text) => Until::parse(text),
            toml::Value::Datetime(d) => Until::parse(&d.to_string()),
            _ => Err("until is a date, like until = 2026-12-01, or a moment, like 2026-12-01T08:00:00-06:00".into()),
        }
        .map_err(|why| at(table.until.span(), why))?;
        acks.push(Ack { check, until, note: table.note, by: table.by, at: table.at, covers: Vec::new() });
    }
    Ok(AcksFile { path: path.to_owned(), source, acks })
}

/// Writes `acks` to `path` atomically, with a comment saying what the file is.
pub(crate) fn write_acks(path: &Path, acks: &[Ack]) -> io::Result<()> {
    let out = acks
        .iter()
        .map(|a| {
            let until = a.until.to_toml().map_err(io::Error::other)?;
            Ok(AckOut { check: a.check.text(), until, note: &a.note, by: &a.by, at: &a.at })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let body = toml::to_string(&AcksOut { ack: out }).map_err(io::Error::other)?;
    let text = format!(
        "# Acknowledged problems for rounds: each [[ack]] turns a failing check into `ack` until\n\
         # its date. Written by `rounds ack`; keep it in git and review it like the inventory.\n\n{body}"
    );
    crate::files::replace(path, text.as_bytes(), crate::files::Access::Umask)
}

/// Who is acknowledging: the person, not `root` when they went through sudo (`SUDO_USER`),
/// else the login name (`USER`, `LOGNAME`, or the login uid's name when those say root).
pub(crate) fn who() -> String {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(person) = var("SUDO_USER").filter(|u| u != "root") {
        return person;
    }
    let user = var("USER").or_else(|| var("LOGNAME"));
    match user {
        Some(u) if u != "root" => u,
        other => login_uid_name().or(other).unwrap_or_else(|| "unknown".into()),
    }
}

/// The name of the user who logged in (`/proc/self/loginuid`, kept across `su` and `sudo`).
fn login_uid_name() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/loginuid").ok()?.trim().parse::<u32>().ok()?;
    if uid == u32::MAX {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid && uid != 0).then(|| name.to_owned())
    })
}

/// Applies the open windows and the acknowledgements to `report` at `now`.
pub(crate) fn apply(report: &mut RunReport, acks: &[Ack], windows: &[Window], now: SystemTime) {
    let stamp = to_timestamp(now);
    let open: Vec<&Window> = windows.iter().filter(|w| w.is_open(stamp)).collect();
    for result in report.results_mut() {
        let covering: Vec<&&Window> = open.iter().filter(|w| w.covers.contains(&result.meta.name)).collect();
        if !covering.is_empty() {
            // Overlapping windows merge: every reason is said, with the latest end.
            let reasons: Vec<String> = covering.iter().map(|w| format!("{}, {}", w.reason, w.until_text())).collect();
            result.detail = format!("maintenance ({}): {}", reasons.join("; "), result.detail);
            result.status = Status::Maint;
            continue;
        }
        let Some(ack) = acks.iter().find(|a| a.covers.contains(&result.meta.name)) else {
            continue;
        };
        let until = ack.until.ends();
        let failing = result.status.meaning().may_be_acknowledged;
        if until > stamp && failing {
            let left = (until.as_second() - stamp.as_second()).max(0) as u64;
            result.detail = format!(
                "acknowledged by {} {} ({} left): {}; {}",
                ack.by,
                ack.until.until_text(),
                human::age(std::time::Duration::from_secs(left)),
                ack.note,
                result.detail
            );
            result.status = Status::Ack;
        } else if result.status.is_healthy() {
            result.detail = format!(
                "{}; passes again: its acknowledgement can be removed (rounds ack --remove {:?})",
                result.detail,
                ack.check.text()
            );
        } else if failing {
            result.detail =
                format!("the acknowledgement {} ({}): {}", ack.until.expired_text(), ack.note, result.detail);
        }
    }
    report.recount();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_a_date_or_a_moment() {
        let date = Until::parse("2026-12-01").unwrap();
        assert_eq!(date, Until::EndOf(Date::constant(2026, 12, 1)));
        assert_eq!(date.until_text(), "until the end of 2026-12-01");
        assert_eq!(date.expired_text(), "expired at the end of 2026-12-01");
        assert!(date.ends() > "2026-12-01T09:00:00Z".parse().unwrap(), "the end of the day, in any zone");
        let moment = Until::parse("2026-12-01T08:00:00-06:00").unwrap();
        assert_eq!(moment.to_string(), "2026-12-01T14:00:00Z");
        assert!(Until::parse("next week").unwrap_err().contains("not a date"));
    }

    #[test]
    fn acks_toml_takes_dates_datetimes_and_quoted_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acks.toml");
        let text = "[[ack]]\ncheck = \"a\"\nuntil = 2099-12-01\n\n[[ack]]\ncheck = \"b\"\nuntil = 2099-12-01T08:00:00Z\n\n\
                    [[ack]]\ncheck = \"c\"\nuntil = \"2099-12-01\"\n\n[[ack]]\ncheck = \"tag:lab\"\nuntil = \"2099-12-01T08:00:00Z\"\n";
        std::fs::write(&path, text).unwrap();
        let file = read_acks(&path).unwrap();
        let until: Vec<Until> = file.acks.iter().map(|a| a.until).collect();
        let moment = Until::Moment("2099-12-01T08:00:00Z".parse().unwrap());
        let date = Until::EndOf(Date::constant(2099, 12, 1));
        assert_eq!(until, [date, moment, date, moment]);
        assert_eq!(file.acks[3].check.text(), "tag:lab");
        // Written back, dates stay dates.
        write_acks(&path, &file.acks).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.contains("until = 2099-12-01\n") && written.contains("check = \"tag:lab\""), "{written}");
        let shown = |acks: &[Ack]| acks.iter().map(|a| (a.check.text(), a.until)).collect::<Vec<_>>();
        assert_eq!(shown(&read_acks(&path).unwrap().acks), shown(&file.acks));

        std::fs::write(&path, "[[ack]]\ncheck = \"a\"\nuntil = \"soon\"\n").unwrap();
        let e = read_acks(&path).unwrap_err().to_string();
        assert!(e.contains("acks.toml:3:9: \"soon\" is not a date"), "{e}");
        std::fs::write(&path, "[[ack]]\ncheck = \"a\"\nuntill = 2099-12-01\n").unwrap();
        let e = read_acks(&path).unwrap_err().to_string();
        assert!(e.contains("acks.toml:3:1:") && e.contains("did you mean `until`?"), "{e}");
    }
}
