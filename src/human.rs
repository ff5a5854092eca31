//! Numbers as people read them in a detail line: "12 ms", "31 h", "4.2 GiB".

use std::time::{Duration, SystemTime};

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

/// A moment as a shift log writes it: "2026-11-24 22:10 UTC". UTC, so that a record reads
/// the same wherever it is pasted.
pub(crate) fn moment(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "))
}

/// A moment in RFC 3339, for machines.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
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
    fn limits_keep_the_unit_the_user_wrote() {
        assert_eq!(limit(Duration::from_secs(26 * 3600)), "26 h");
        assert_eq!(limit(Duration::from_secs(5)), "5 s");
        assert_eq!(limit(Duration::from_millis(800)), "800 ms");
        assert_eq!(limit(Duration::from_secs(600)), "10 min");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(1024 * 1024), "1.0 MiB");
    }
}
