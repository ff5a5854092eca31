//! `[[maintenance]]`: windows in which named checks are probed but shown `maint`, never
//! failing the gate.
//!
//! Either a fixed span (`from`/`until`: RFC 3339 with an offset, or a local date and time
//! with `timezone`) or a weekly window (`weekly = "Sun 01:00-03:00"` in `timezone`). Time
//! zones come from jiff and the IANA database, so a weekly window keeps its wall-clock hours
//! across a DST change.

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::loader::Loader;
use super::selector::Selector;

/// `[[maintenance]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaintenanceTable {
    /// Check names (a `[[server]]`'s name means all its ports) or `tag:x`.
    checks: Spanned<Vec<Spanned<String>>>,
    from: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    weekly: Option<Spanned<String>>,
    /// An IANA time zone like "America/Chicago"; default: this machine's.
    timezone: Option<Spanned<String>>,
    reason: String,
}

/// When a window is open.
#[derive(Debug, Clone)]
pub(crate) enum When {
    Between(Timestamp, Timestamp),
    /// Every `day` from `start` to `end` (which may pass midnight), in `tz`.
    Weekly {
        day: Weekday,
        start: Time,
        end: Time,
        tz: TimeZone,
    },
}

/// A validated maintenance window.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// The selectors as written (names, table names, `tag:x`), with their places.
    pub checks: Vec<Selector>,
    /// The names of the checks they select, filled in once the whole inventory is known.
    pub covers: Vec<String>,
    pub when: When,
    pub reason: String,
}

impl MaintenanceTable {
    pub fn window(self, loader: &Loader) -> Result<Window, ConfigError> {
        let tz = match &self.timezone {
            Some(name) => TimeZone::get(name.get_ref().trim()).map_err(|_| {
                loader.error(
                    name.span(),
                    format!("{:?} is not a time zone; use an IANA name like \"America/Chicago\"", name.get_ref()),
                )
            })?,
            None => TimeZone::system(),
        };
        if self.checks.get_ref().is_empty() {
            return Err(loader.error(self.checks.span(), "checks needs at least one check name or \"tag:NAME\""));
        }
        let when = match (&self.from, &self.until, &self.weekly) {
            (Some(from), Some(until), None) => {
                let (start, end) = (moment(loader, from, &tz)?, moment(loader, until, &tz)?);
                if end <= start {
                    return Err(loader.error(until.span(), "until must be after from"));
                }
                When::Between(start, end)
            }
            (None, None, Some(weekly)) => parse_weekly(weekly.get_ref())
                .map(|(day, start, end)| When::Weekly { day, start, end, tz })
                .ok_or_else(|| {
                    loader.error(weekly.span(), "weekly looks like \"Sun 01:00-03:00\" (a day, then a time range)")
                })?,
            _ => {
                return Err(loader.error(
                    self.checks.span(),
                    "a maintenance window needs from and until, or weekly (with an optional timezone)",
                ))
            }
        };
        let checks = self
            .checks
            .get_ref()
            .iter()
            .map(|text| Selector::spanned(text).map_err(|why| loader.error(text.span(), why)))
            .collect::<Result<_, _>>()?;
        Ok(Window { checks, covers: Vec::new(), when, reason: self.reason })
    }
}

/// RFC 3339 with an offset, or a local "2026-11-29 01:00" / "2026-11-29T01:00" in `tz`.
fn moment(loader: &Loader, text: &Spanned<String>, tz: &TimeZone) -> Result<Timestamp, ConfigError> {
    let raw = text.get_ref().trim();
    if let Ok(t) = raw.parse::<Timestamp>() {
        return Ok(t);
    }
    raw.replacen(' ', "T", 1)
        .parse::<DateTime>()
        .ok()
        .and_then(|local| local.to_zoned_datetime(tz.clone()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            loader.error(text.span(), "write a time like \"2026-11-29T01:00:00-06:00\" or \"2026-11-29 01:00\"")
        })
}

/// "Sun 01:00-03:00".
fn parse_weekly(text: &str) -> Option<(Weekday, Time, Time)> {
    let (day, range) = text.trim().split_once(' ')?;
    let day = match day.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    let (start, end) = range.trim().split_once('-')?;
    let time = |t: &str| format!("{}:00", t.trim()).parse::<Time>().ok();
    Some((day, time(start)?, time(end)?))
}

impl Window {
    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        match &self.when {
            When::Between(start, end) => *start <= now && now < *end,
            When::Weekly { day, start, end, tz } => {
                let local = now.to_zoned_datetime(tz.clone());
                let (today, time) = (local.weekday(), local.time());
                if start < end {
                    today == *day && *start <= time && time < *end
                } else {
                    // Past midnight: "Sat 23:00-01:00".
                    (today == *day && time >= *start) || (today == day.next() && time < *end)
                }
            }
        }
    }

    /// The next time the window is open, when that begins within `ahead` of `now` (or it is
    /// open now): its start and end. Weekly windows are found to the minute.
    pub fn next_span(&self, now: Timestamp, ahead: jiff::SignedDuration) -> Option<(Timestamp, Timestamp)> {
        let horizon = now.checked_add(ahead).unwrap_or(Timestamp::MAX);
        if let When::Between(start, end) = self.when {
            return (end > now && start <= horizon).then_some((start, end));
        }
        let minute = jiff::SignedDuration::from_mins(1);
        let mut start = now;
        while !self.is_open(start) {
            start = start.checked_add(minute).ok()?;
            if start > horizon {
                return None;
            }
        }
        // A weekly window lasts less than a day and a half.
        let mut end = start;
        while self.is_open(end) && end < start.checked_add(jiff::SignedDuration::from_hours(48)).ok()? {
            end = end.checked_add(minute).ok()?;
        }
        Some((start, end))
    }

    /// Whether a fixed window is over at `now` (weekly windows come back).
    pub fn has_ended(&self, now: Timestamp) -> bool {
        matches!(self.when, When::Between(_, end) if end <= now)
    }

    /// "until 03:00 America/Chicago" or "until 2026-11-29 09:00 UTC", for a detail line.
    pub fn until_text(&self) -> String {
        match &self.when {
            When::Between(_, end) => format!("until {}", crate::human::moment(to_system_time(*end))),
            When::Weekly { end, tz, .. } => {
                format!("until {:02}:{:02} {}", end.hour(), end.minute(), tz.iana_name().unwrap_or("local time"))
            }
        }
    }
}

/// A jiff timestamp as the rest of rounds keeps time.
pub(crate) fn to_system_time(t: Timestamp) -> std::time::SystemTime {
    let secs = t.as_second();
    match u64::try_from(secs) {
        Ok(s) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
        Err(_) => std::time::UNIX_EPOCH - std::time::Duration::from_secs(secs.unsigned_abs()),
    }
}

/// The other way round; instants jiff cannot hold (beyond year 9999) are clamped.
pub(crate) fn to_timestamp(t: std::time::SystemTime) -> Timestamp {
    Timestamp::from_second(crate::human::unix_seconds(t)).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(text: &str, tz: &str) -> Window {
        let (day, start, end) = parse_weekly(text).unwrap();
        Window {
            checks: vec![],
            covers: vec![],
            when: When::Weekly { day, start, end, tz: TimeZone::get(tz).unwrap() },
            reason: "r".into(),
        }
    }

    fn at(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    /// Sun 01:00-03:00 local time, the Sundays US and EU clocks change: the window keeps its
    /// wall-clock hours, so its UTC instants move with the offset.
    #[test]
    fn weekly_windows_keep_local_hours_across_dst_changes() {
        let chicago = weekly("Sun 01:00-03:00", "America/Chicago");
        // 2026-03-08, US DST starts at 02:00 local (CST -6 -> CDT -5).
        assert!(chicago.is_open(at("2026-03-08T07:30:00Z")), "01:30 CST");
        assert!(chicago.is_open(at("2026-03-08T07:59:00Z")), "01:59 CST");
        assert!(!chicago.is_open(at("2026-03-08T08:00:00Z")), "03:00 CDT: the window has ended");
        // A normal winter Sunday: 01:00-03:00 CST is 07:00-09:00 UTC.
        assert!(chicago.is_open(at("2026-01-11T08:30:00Z")));
        assert!(!chicago.is_open(at("2026-01-11T09:00:00Z")));
        let berlin = weekly("Sun 01:00-03:00", "Europe/Berlin");
        // 2026-10-25, EU DST ends at 03:00 CEST -> 02:00 CET: 01:00 CEST is 23:00 UTC Saturday.
        assert!(berlin.is_open(at("2026-10-24T23:30:00Z")), "01:30 CEST");
        assert!(berlin.is_open(at("2026-10-25T01:30:00Z")), "02:30 CET, after the change");
        assert!(!berlin.is_open(at("2026-10-25T02:00:00Z")), "03:00 CET");
        assert!(!berlin.is_open(at("2026-10-25T22:59:00Z")), "Sunday evening");
    }

    #[test]
    fn windows_past_midnight() {
        let w = weekly("Sat 23:00-01:00", "UTC");
        assert!(w.is_open(at("2026-11-28T23:30:00Z")));
        assert!(w.is_open(at("2026-11-29T00:30:00Z")));
        assert!(!w.is_open(at("2026-11-29T01:00:00Z")));
        assert!(parse_weekly("Funday 01:00-02:00").is_none());
    }
}
