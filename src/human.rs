//! Numbers as people read them in a detail line: "12 ms", "31 h", "4.2 GiB".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A latency or elapsed time: sub-millisecond precision where it matters, whole units above.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.000_05 {
        "under 0.1 ms".into()
    } else if secs < 0.01 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 1.0 {
        format!("{:.0} ms", secs * 1e3)
    } else if secs < 10.0 {
        trim_zero(format!("{secs:.1}")) + " s"
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else {
        age(d)
    }
}

/// An age, rounded down to the unit a person thinks in: "45 min", "31 h", "3 days".
/// Rounding down matters: a backup 26 h 50 min old against a 26 h limit is shown as
/// "26 h old, limit 26 h" only together with a verdict computed on exact values.
pub(crate) fn age(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        7_200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// How long something lasted, to the minute: "2 h 10 min", "45 min", "3 days 4 h".
pub(crate) fn span(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    let two = |big: u64, unit: &str, small: u64, small_unit: &str| match small {
        0 => format!("{big} {unit}"),
        _ => format!("{big} {unit} {small} {small_unit}"),
    };
    match secs {
        0..=119 => format!("{secs} s"),
        120..=3_599 => format!("{minutes} min"),
        3_600..=172_799 => two(secs / 3600, "h", minutes, "min"),
        _ => two(days, "days", hours, "h"),
    }
}

/// A limit the user wrote, shown the way they would write it ("26 h", "5 s", "800 ms").
pub(crate) fn limit(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs == 0 {
        return format!("{} ms", d.as_millis());
    }
    if secs.is_multiple_of(86_400) && secs >= 172_800 {
        format!("{} days", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs.is_multiple_of(60) && secs >= 120 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// Seconds since 1970 (negative before), whatever side of the epoch `t` is on.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The calendar date and time of `t` in UTC; `None` outside the years -9999 to 9999, which
/// only a forged or broken certificate would carry.
fn civil(t: SystemTime) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds(t)).ok()
}

/// "2026-11-29": the form that reads the same in every locale.
pub(crate) fn date(t: SystemTime) -> String {
    match civil(t) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => "a date out of range".into(),
    }
}

/// A moment as a shift log writes it: "2026-11-24 22:10 UTC". UTC, so that a record reads
/// the same wherever it is pasted.
pub(crate) fn moment(t: SystemTime) -> String {
    match civil(t) {
        Some(d) => format!("{} {:02}:{:02} UTC", date(t), d.hour(), d.minute()),
        None => "a moment out of range".into(),
    }
}

/// A moment in RFC 3339, for machines: "2026-11-24T22:10:00Z".
pub(crate) fn rfc3339(t: SystemTime) -> String {
    match civil(t) {
        Some(d) => format!("{}T{:02}:{:02}:{:02}Z", date(t), d.hour(), d.minute(), d.second()),
        None => "1970-01-01T00:00:00Z".into(),
    }
}

/// RFC 3339 with milliseconds: "2026-11-24T22:10:00.012Z".
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let millis = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
    let whole = rfc3339(t);
    format!("{}.{millis:03}Z", whole.trim_end_matches('Z'))
}

/// A size in binary units, as `df -h` and file managers show them.
pub(crate) fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

fn trim_zero(s: String) -> String {
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_micros(400)), "0.4 ms");
        assert_eq!(duration(Duration::from_micros(20)), "under 0.1 ms");
        assert_eq!(duration(Duration::from_millis(12)), "12 ms");
        assert_eq!(duration(Duration::from_millis(1200)), "1.2 s");
        assert_eq!(duration(Duration::from_secs(5)), "5 s");
    }

    #[test]
    fn ages_round_down_to_a_human_unit() {
        assert_eq!(age(Duration::from_secs(31 * 3600 + 59 * 60)), "31 h");
        assert_eq!(age(Duration::from_secs(45 * 60)), "45 min");
        assert_eq!(age(Duration::from_secs(3 * 86_400 + 5)), "3 days");
    }

    #[test]
    fn spans_say_hours_and_minutes() {
        assert_eq!(span(Duration::from_secs(2 * 3600 + 10 * 60 + 59)), "2 h 10 min");
        assert_eq!(span(Duration::from_secs(5 * 3600)), "5 h");
        assert_eq!(span(Duration::from_secs(45 * 60)), "45 min");
        assert_eq!(span(Duration::from_secs(90)), "90 s");
        assert_eq!(span(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)), "3 days 4 h");
    }

    #[test]
    fn limits_keep_the_unit_the_user_wrote() {
        assert_eq!(limit(Duration::from_secs(26 * 3600)), "26 h");
        assert_eq!(limit(Duration::from_secs(5)), "5 s");
        assert_eq!(limit(Duration::from_millis(800)), "800 ms");
        assert_eq!(limit(Duration::from_secs(600)), "10 min");
    }

    #[test]
    fn dates_before_1970_and_far_ahead_never_panic() {
        let before = UNIX_EPOCH - Duration::from_secs(86_400 * 365);
        assert_eq!(date(before), "1969-01-01");
        assert_eq!(rfc3339(before), "1969-01-01T00:00:00Z");
        assert_eq!(moment(UNIX_EPOCH + Duration::from_secs(1_795_608_000)), "2026-11-25 12:00 UTC");
        assert_eq!(date(UNIX_EPOCH + Duration::from_secs(400_000_000_000)), "a date out of range");
        assert_eq!(rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_795_000_000_012)), "2026-11-18T11:06:40.012Z");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(1024 * 1024), "1.0 MiB");
    }
}
