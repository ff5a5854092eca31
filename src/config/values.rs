//! The value types of the inventory: durations, sizes, free-space thresholds.
//!
//! Each parses itself during deserialization, so a bad value is reported by toml with the
//! exact span of the value, and everything past config sees only valid numbers.

use std::fmt;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer};

/// A duration written as people write them: "10s", "800ms", "26h", "1h 30m".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub Duration);

/// Longer than this is a typo (and would overflow the clock arithmetic).
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);
/// A timeout longer than a day is a hang with extra steps.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Parses a human duration: more than zero, at most `max` (`max_words` says it in words).
pub(crate) fn parse_duration(text: &str, max: Duration, max_words: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(v) if v.is_zero() => Err("a duration must be more than zero".into()),
        Ok(v) if v > max => Err(format!("{text:?} is too long: at most {max_words}")),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("invalid duration {text:?} ({e}); write it like \"10s\", \"800ms\" or \"26h\"")),
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text, MAX_DURATION, "100 years").map(Self).map_err(de::Error::custom)
    }
}

/// "25%": a share of a certificate's lifetime, from 0 to 100 (`cert_warn`, `cert_crit`).
pub(crate) fn lifetime_share(text: &str) -> Result<f64, &'static str> {
    text.trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or("write a share of the certificate's lifetime, like \"25%\"")
}

/// A timeout, deadline or delay: a human duration of at most a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeout(pub Duration);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text, MAX_TIMEOUT, "24h").map(Self).map_err(de::Error::custom)
    }
}

/// A TCP or UDP port a server listens on: 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Port(pub u16);

impl Port {
    /// `n` as a port a server listens on: 0 is not one (the same rule for a `port` key and
    /// a port inside a URL).
    pub fn new(n: u16) -> Result<Self, &'static str> {
        match n {
            0 => Err("port 0 is not a port a server listens on; ports run from 1 to 65535"),
            n => Ok(Self(n)),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Port::new(u16::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// A number of bytes: "1 MiB", "500 KB", "4GiB", or a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size(pub u64);

/// A number written without its unit ("95"): bytes by accident, so it is refused. Zero
/// needs no unit.
fn without_unit(text: &str) -> Option<&str> {
    let number = text.trim();
    let is_number = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    (is_number && number.parse::<f64>().is_ok_and(|n| n != 0.0)).then_some(number)
}

impl Size {
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(n) = without_unit(text) {
            return Err(format!("size {text:?} has no unit; write it like \"{n} GiB\", \"{n} MiB\" or \"{n} B\""));
        }
        text.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Self(b.as_u64()))
            .map_err(|_| format!("invalid size {text:?}; write it like \"1 MiB\", \"500 KB\" or \"5 GiB\""))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size like \"1 MiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                Size::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size).map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A limit on an amount of bytes: a share of the whole ("10%") or a size ("5 GiB").
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Threshold {
    Percent(f64),
    Bytes(u64),
}

impl Threshold {
    /// Whether `used` bytes out of `total` are more than this threshold.
    pub fn is_exceeded_by(&self, used: u64, total: u64) -> bool {
        match *self {
            Threshold::Percent(p) => total > 0 && (used as f64) * 100.0 > p * (total as f64),
            Threshold::Bytes(b) => used > b,
        }
    }

    /// Whether this threshold is lower than `other`, when the two can be compared (both
    /// shares, or both sizes).
    pub(crate) fn is_below(&self, other: &Threshold) -> bool {
        match (*self, *other) {
            (Threshold::Percent(a), Threshold::Percent(b)) => a < b,
            (Threshold::Bytes(a), Threshold::Bytes(b)) => a < b,
            _ => false,
        }
    }

    /// Whether `free` bytes out of `total` are at or above this threshold.
    pub fn is_above(&self, free: u64, total: u64) -> bool {
        match *self {
            Threshold::Percent(p) => total == 0 || (free as f64) * 100.0 >= p * (total as f64),
            Threshold::Bytes(b) => free >= b,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Percent(p) => write!(f, "{p}%"),
            Threshold::Bytes(b) => f.write_str(&crate::human::size(*b)),
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            return match number.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(Threshold::Percent(p)),
                _ => Err(de::Error::custom(format!(
                    "invalid percentage {text:?}; write a number from 0 to 100 followed by %, like \"10%\""
                ))),
            };
        }
        if let Some(n) = without_unit(text) {
            return Err(de::Error::custom(format!(
                "{text:?} has no unit; write a share like \"{n}%\" or a size like \"{n} GiB\""
            )));
        }
        Size::parse(text).map(|s| Threshold::Bytes(s.0)).map_err(|_| {
            de::Error::custom(format!(
                "invalid free space {text:?}; write a share like \"10%\" or a size like \"5 GiB\""
            ))
        })
    }
}

pub(crate) use crate::certs::Proxy;

/// A `${NAME}` and the value it expanded to: a secret.
pub(crate) type Expanded = (String, String);

/// Replaces every `${VAR}` in `text` with `render(value)`, the value taken from `lookup`.
///
/// Returns the expanded text and the variables used (their values are secrets), or the
/// name of the first variable that is unset or malformed; never a value.
pub(crate) fn expand_vars(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    render: &dyn Fn(&str) -> String,
) -> Result<(String, Vec<Expanded>), String> {
    let mut out = String::with_capacity(text.len());
    let mut values = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| "unterminated `${`: write variables as ${NAME}".to_owned())?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid variable name {name:?} in ${{...}}"));
        }
        let value = lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&render(&value));
        values.push((name.to_owned(), value));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn expands_known_variables_and_reports_them_as_secrets() {
        let (text, secrets) = expand_vars("Bearer ${TOKEN}", &env, &str::to_owned).unwrap();
        assert_eq!(text, "Bearer s3cret");
        assert_eq!(secrets, vec![("TOKEN".to_owned(), "s3cret".to_owned())]);
    }

    #[test]
    fn names_the_missing_variable() {
        let err = expand_vars("a ${NOPE} b", &env, &str::to_owned).unwrap_err();
        assert!(err.contains("NOPE"), "{err}");
        assert!(expand_vars("a ${TOKEN", &env, &str::to_owned).is_err());
    }

    #[test]
    fn free_space_thresholds() {
        assert!(Threshold::Percent(10.0).is_above(11, 100));
        assert!(!Threshold::Percent(10.0).is_above(9, 100));
        assert!(!Threshold::Bytes(1000).is_above(999, 10_000));
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(Size::parse("1 MiB").unwrap(), Size(1 << 20));
        assert_eq!(Size::parse("2KiB").unwrap(), Size(2048));
        assert!(Size::parse("lots").is_err());
        assert_eq!(Size::parse("10 B").unwrap(), Size(10));
        assert_eq!(Size::parse("0").unwrap(), Size(0));
    }

    #[test]
    fn a_size_or_share_without_a_unit_is_refused() {
        assert!(Size::parse("95").unwrap_err().contains("has no unit; write it like \"95 GiB\""));
        let threshold =
            |text: &str| toml::Value::String(text.into()).try_into::<Threshold>().map_err(|e| e.to_string());
        let err = threshold("95").unwrap_err();
        assert!(err.contains("\"95\" has no unit; write a share like \"95%\" or a size like \"95 GiB\""), "{err}");
        assert_eq!(threshold(" 95 % ").unwrap(), Threshold::Percent(95.0));
        assert_eq!(threshold("0").unwrap(), Threshold::Bytes(0));
    }
}
