//! `[[metrics]]`: what a machine's Prometheus exporter says (windows_exporter on servers
//! rounds cannot log into, node_exporter on Linux ones): named series must exist and hold
//! values within limits.
//!
//! Built on the endpoint probe, like `[[fhir]]`: TLS, certificate days, redirects, timeouts
//! and secrets in headers behave exactly as on `[[endpoint]]`; only the body is judged here.
//! The text exposition format (`name{label="value",...} value [timestamp]`, `#` comments)
//! is read by a small hand-written parser: rounds needs only the samples, and the body it
//! reads is capped by `max_body`.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{HeaderValue, ACCEPT};
use serde::Deserialize;
use toml::Spanned;

use crate::config::values::{HumanDuration, Size};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::endpoint::{Connection, EndpointProbe};
use crate::probe::http::{parse_headers, parse_url, BodyJudge};
use crate::probe::kind::{Budget, RunProbe};

/// A Windows server's windows_exporter with every collector is a few MiB; more is not one.
const MAX_METRICS: u64 = 16 * 1024 * 1024;
/// The text exposition format, version 0.0.4: what every exporter serves by default.
const TEXT_FORMAT: &str = "text/plain;version=0.0.4;q=1.0,*/*;q=0.1";

check_table! {
    /// `[[metrics]]` as written in the inventory.
    pub(crate) struct MetricsTable with certificate {
        /// The exporter's metrics URL, like "http://ehr-app01:9182/metrics"; may use `${VAR}`.
        url: Spanned<String>,
        /// What must hold: `{ series = 'name{label="v"}', equals / min / max = ... }`.
        expect: Spanned<Vec<ExpectWritten>>,
        #[serde(default)]
        headers: BTreeMap<Spanned<String>, Spanned<String>>,
        /// "http://host:port" to go through a proxy, "env" for the environment's; default direct.
        proxy: Option<Spanned<String>>,
        warn_latency: Option<HumanDuration>,
        max_body: Option<Size>,
    }
}

/// One expectation as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectWritten {
    series: Spanned<String>,
    equals: Option<Spanned<toml::Value>>,
    min: Option<Spanned<toml::Value>>,
    max: Option<Spanned<toml::Value>>,
}

impl Table for MetricsTable {
    type Probe = MetricsProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<MetricsProbe>>, ConfigError> {
        let common = self.common();
        let url = parse_url(loader, &self.url)?;
        if self.expect.get_ref().is_empty() {
            return Err(loader.error(self.expect.span(), "expect needs at least one { series = ..., min/max/equals }"));
        }
        let mut expectations = Vec::new();
        for written in self.expect.get_ref() {
            expectations.push(Expectation::plan(loader, written)?);
        }
        let (mut headers, secret_headers) = parse_headers(loader, &self.headers)?;
        headers.entry(ACCEPT).or_insert(HeaderValue::from_static(TEXT_FORMAT));
        let connection = Connection::plan(loader, self.certificate_keys(), self.proxy.as_ref())?;
        let probe = EndpointProbe::judged_get(
            url,
            (headers, secret_headers),
            (self.max_body.map_or(MAX_METRICS, |s| s.0), Arc::new(Expectations(expectations))),
            self.warn_latency.map(|d| d.0),
            connection,
        );
        // The target is the URL as written: `${TOKEN}` stays a placeholder.
        let target = self.url.get_ref().clone();
        loader.single(&common, target, MetricsProbe { endpoint: probe })
    }
}

/// An exporter's metrics URL, fetched as `[[endpoint]]` fetches and judged by its samples.
#[derive(Debug)]
pub(crate) struct MetricsProbe {
    endpoint: EndpointProbe,
}

impl RunProbe for MetricsProbe {
    fn kind(&self) -> &'static str {
        "metrics"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        self.endpoint.run(budget).await
    }
}

/// How a limit was written, so values are shown the same way ("20.0 GiB", not 21474836480).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Plain,
    Bytes,
    Seconds,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            _ if !value.is_finite() => format!("{value}"),
            Unit::Bytes if (0.0..u64::MAX as f64).contains(&value) => human::size(value as u64),
            Unit::Seconds if (0.0..1e12).contains(&value) => human::duration(std::time::Duration::from_secs_f64(value)),
            _ => format!("{value}"),
        }
    }
}

/// A series as named in the inventory or in an answer: its name and labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    name: String,
    labels: Vec<(String, String)>,
}

impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        write!(f, "{{{}}}", labels.join(","))
    }
}

impl Series {
    /// Whether `sample` is this series: the same name, and every label given here with the
    /// same value (the sample may have more).
    fn selects(&self, sample: &Series) -> bool {
        self.name == sample.name && self.labels.iter().all(|want| sample.labels.contains(want))
    }
}

#[derive(Debug)]
struct Expectation {
    series: Series,
    equals: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    unit: Unit,
}

impl Expectation {
    fn plan(loader: &Loader, written: &ExpectWritten) -> Result<Self, ConfigError> {
        let series = parse_series(written.series.get_ref().trim())
            .filter(|(_, rest)| rest.trim().is_empty())
            .map(|(series, _)| series)
            .ok_or_else(|| {
                loader.error(
                    written.series.span(),
                    "series is a metric name with optional labels, like 'node_filesystem_avail_bytes{mountpoint=\"/\"}'",
                )
            })?;
        let mut unit = Unit::Plain;
        let mut number = |key: &Option<Spanned<toml::Value>>| -> Result<Option<f64>, ConfigError> {
            let Some(value) = key else { return Ok(None) };
            let (n, u) = limit_value(value.get_ref()).map_err(|why| loader.error(value.span(), why))?;
            if u != Unit::Plain {
                unit = u;
            }
            Ok(Some(n))
        };
        let (equals, min, max) = (number(&written.equals)?, number(&written.min)?, number(&written.max)?);
        if equals.is_none() && min.is_none() && max.is_none() {
            return Err(loader.error(written.series.span(), "give equals, min or max for this series"));
        }
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err(loader.error(written.series.span(), "min is above max: no value could hold"));
            }
        }
        Ok(Self { series, equals, min, max, unit })
    }

    /// How far `value` is outside the limits (0 within; infinite for NaN).
    fn excess(&self, value: f64) -> f64 {
        if value.is_nan() {
            return f64::INFINITY;
        }
        let off = |limit: Option<f64>, beyond: f64| limit.map_or(0.0, |_| beyond.max(0.0));
        off(self.equals, self.equals.map_or(0.0, |e| (value - e).abs()))
            + off(self.min, self.min.map_or(0.0, |m| m - value))
            + off(self.max, self.max.map_or(0.0, |m| value - m))
    }

    /// How close `value` is to a limit, for naming the worst of several that hold.
    fn margin(&self, value: f64) -> f64 {
        let gaps = [self.min.map(|m| value - m), self.max.map(|m| m - value), self.equals.map(|_| 0.0)];
        gaps.into_iter().flatten().fold(f64::INFINITY, f64::min)
    }

    /// Why `value` does not hold, or `None` when it does.
    fn broken(&self, value: f64) -> Option<String> {
        let show = |v: f64| self.unit.show(v);
        if value.is_nan() {
            return Some("NaN, not a number to compare".into());
        }
        if let Some(e) = self.equals.filter(|e| value != *e) {
            return Some(format!("{}, expected {}", show(value), show(e)));
        }
        if let Some(m) = self.min.filter(|m| value < *m) {
            return Some(format!("{}, below {}", show(value), show(m)));
        }
        if let Some(m) = self.max.filter(|m| value > *m) {
            return Some(format!("{}, above {}", show(value), show(m)));
        }
        None
    }

    fn judge(&self, samples: &[(Series, f64)]) -> Result<String, String> {
        let matching: Vec<&(Series, f64)> = samples.iter().filter(|(s, _)| self.series.selects(s)).collect();
        if matching.is_empty() {
            return Err(match closest(&self.series, samples) {
                Some(near) => format!("no series {}; the closest is {near}", self.series),
                None => format!("no series {}; the exporter sent no samples", self.series),
            });
        }
        let several = matching.len() > 1;
        let named = |s: &Series, what: String| match several {
            true => format!("{s} = {what}"),
            false => format!("{} = {what}", self.series),
        };
        let worst_failing = matching
            .iter()
            .filter(|(_, v)| self.broken(*v).is_some())
            .max_by(|a, b| self.excess(a.1).total_cmp(&self.excess(b.1)));
        if let Some((series, value)) = worst_failing {
            let failing = matching.iter().filter(|(_, v)| self.broken(*v).is_some()).count();
            let why = named(series, self.broken(*value).unwrap_or_default());
            return Err(match several {
                true => format!("{failing} of {} series {} fail; worst {why}", matching.len(), self.series),
                false => why,
            });
        }
        let worst = matching.iter().min_by(|a, b| self.margin(a.1).total_cmp(&self.margin(b.1)));
        let (series, value) = worst.map_or((&self.series, f64::NAN), |(s, v)| (s, *v));
        Ok(match several {
            true => format!(
                "{} series {} hold, the nearest a limit {}",
                matching.len(),
                self.series,
                named(series, self.unit.show(value))
            ),
            false => named(series, self.unit.show(value)),
        })
    }
}

/// The series that reads most like `wanted`: among those of its name when there are any,
/// else the closest metric name. Names first keeps this cheap on an exporter with tens of
/// thousands of series (an edit distance per distinct name, not per series).
fn closest(wanted: &Series, samples: &[(Series, f64)]) -> Option<String> {
    let distance = |a: &str, b: &str| strsim::levenshtein(a, b);
    let text = wanted.to_string();
    let same_name = samples.iter().map(|(s, _)| s).filter(|s| s.name == wanted.name);
    if let Some(near) = same_name.min_by_key(|s| distance(&text, &s.to_string())) {
        return Some(near.to_string());
    }
    let names: std::collections::BTreeSet<&str> = samples.iter().map(|(s, _)| s.name.as_str()).collect();
    names.into_iter().min_by_key(|n| distance(&wanted.name, n)).map(str::to_owned)
}

/// `min = "20 GiB"`, `max = "10m"`, `equals = 1`: a number, and how it was written.
fn limit_value(value: &toml::Value) -> Result<(f64, Unit), String> {
    match value {
        toml::Value::Integer(i) => Ok((*i as f64, Unit::Plain)),
        toml::Value::Float(f) if f.is_finite() => Ok((*f, Unit::Plain)),
        toml::Value::Boolean(b) => Ok((f64::from(u8::from(*b)), Unit::Plain)),
        toml::Value::String(s) => {
            // Sizes end in B ("20 GiB", "500 KB"); "10m" is ten minutes, not ten megabytes.
            if s.trim().ends_with(['B', 'b']) {
                if let Ok(size) = s.trim().parse::<bytesize::ByteSize>() {
                    return Ok((size.as_u64() as f64, Unit::Bytes));
                }
            }
            match humantime::parse_duration(s.trim()) {
                Ok(d) => Ok((d.as_secs_f64(), Unit::Seconds)),
                Err(_) => Err(format!("{s:?} is not a number, a size (\"20 GiB\") or a duration (\"10m\")")),
            }
        }
        _ => Err("a limit is a number, a size like \"20 GiB\" or a duration like \"10m\"".into()),
    }
}

/// Every expectation of one check, judged on the exporter's answer.
#[derive(Debug)]
struct Expectations(Vec<Expectation>);

impl BodyJudge for Expectations {
    fn judge(&self, body: &[u8]) -> Result<Option<String>, String> {
        let text = String::from_utf8_lossy(body);
        let samples = parse_samples(&text);
        let mut held = Vec::new();
        let mut broken = Vec::new();
        for expectation in &self.0 {
            match expectation.judge(&samples) {
                Ok(text) => held.push(text),
                Err(why) => broken.push(why),
            }
        }
        match broken.is_empty() {
            true => Ok(Some(held.join("; "))),
            false => Err(broken.join("; ")),
        }
    }
}

/// Every sample of a text exposition: lines that do not read as one (comments, blank
/// lines, garbage) are skipped.
pub(crate) fn parse_samples(text: &str) -> Vec<(Series, f64)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let (series, rest) = parse_series(line.trim_start())?;
            let value = rest.split_whitespace().next()?;
            Some((series, parse_value(value)?))
        })
        .collect()
}

/// A sample value: a float, `NaN`, `+Inf` or `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t if t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => t.parse().ok(),
        _ => None,
    }
}

/// `name{label="value",...}` at the start of `text`, and what follows it.
fn parse_series(text: &str) -> Option<(Series, &str)> {
    let is_name =
        |c: char, first: bool| c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit());
    let end = text.char_indices().find(|(i, c)| !is_name(*c, *i == 0)).map_or(text.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = text[..end].to_owned();
    let mut rest = &text[end..];
    let mut labels = Vec::new();
    if let Some(inside) = rest.strip_prefix('{') {
        rest = inside.trim_start();
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let key_end =
                rest.char_indices().find(|(i, c)| !is_name(*c, *i == 0) || *c == ':').map_or(rest.len(), |(i, _)| i);
            if key_end == 0 {
                return None;
            }
            let key = rest[..key_end].to_owned();
            let after_key = rest[key_end..].trim_start().strip_prefix('=')?.trim_start().strip_prefix('"')?;
            let (value, after_value) = label_value(after_key)?;
            labels.push((key, value));
            rest = after_value.trim_start();
            rest = rest.strip_prefix(',').map_or(rest, str::trim_start);
        }
    }
    Some((Series { name, labels }, rest))
}

/// A label value after its opening quote: `\\`, `\"` and `\n` escaped; and what follows
/// the closing quote.
fn label_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP windows_service_state The state of the service
# TYPE windows_service_state gauge
windows_service_state{name="MirthConnect",state="running"} 1
windows_service_state{name="MirthConnect",state="stopped"} 0
windows_logical_disk_free_bytes{volume="C:"} 5.36870912e+10
windows_logical_disk_free_bytes{volume="D:"} 1.073741824e+10
windows_logical_disk_free_bytes{volume="E:"} 3.2212254720e+10
node_load1 0.5 1700000000000
odd_value{path="C:\\temp \"x\"\nnext"} NaN
"#;

    fn expect(series: &str, equals: Option<f64>, min: Option<f64>, max: Option<f64>, unit: Unit) -> Expectation {
        let series = parse_series(series).unwrap().0;
        Expectation { series, equals, min, max, unit }
    }

    #[test]
    fn reads_samples_with_labels_escapes_and_timestamps() {
        let samples = parse_samples(EXPOSITION);
        assert_eq!(samples.len(), 7);
        assert_eq!(samples[5].0.to_string(), "node_load1");
        assert_eq!(samples[5].1, 0.5);
        assert_eq!(samples[6].0.labels[0].1, "C:\\temp \"x\"\nnext");
        assert!(samples[6].1.is_nan());
    }

    #[test]
    fn labels_given_must_all_match_others_may_exist() {
        let samples = parse_samples(EXPOSITION);
        let running =
            expect(r#"windows_service_state{name="MirthConnect",state="running"}"#, Some(1.0), None, None, Unit::Plain);
        assert_eq!(
            running.judge(&samples),
            Ok(r#"windows_service_state{name="MirthConnect",state="running"} = 1"#.into())
        );
        let stopped = expect(r#"windows_service_state{state="stopped"}"#, Some(1.0), None, None, Unit::Plain);
        assert!(stopped.judge(&samples).unwrap_err().ends_with("= 0, expected 1"));
    }

    #[test]
    fn several_series_each_hold_and_the_worst_is_named() {
        let samples = parse_samples(EXPOSITION);
        let gib = 1024.0 * 1024.0 * 1024.0;
        let disks = expect("windows_logical_disk_free_bytes", None, Some(20.0 * gib), None, Unit::Bytes);
        assert_eq!(
            disks.judge(&samples),
            Err(r#"1 of 3 series windows_logical_disk_free_bytes fail; worst windows_logical_disk_free_bytes{volume="D:"} = 10.0 GiB, below 20.0 GiB"#.into())
        );
        let fine = expect("windows_logical_disk_free_bytes", None, Some(5.0 * gib), None, Unit::Bytes);
        assert!(fine
            .judge(&samples)
            .unwrap()
            .contains(r#"nearest a limit windows_logical_disk_free_bytes{volume="D:"} = 10.0 GiB"#));
    }

    #[test]
    fn a_missing_series_names_the_closest() {
        let samples = parse_samples(EXPOSITION);
        let typo = expect(r#"windows_service_state{name="MirthConect"}"#, Some(1.0), None, None, Unit::Plain);
        let why = typo.judge(&samples).unwrap_err();
        assert!(why.contains(r#"the closest is windows_service_state{name="MirthConnect","#), "{why}");
        assert!(expect("x", Some(1.0), None, None, Unit::Plain).judge(&[]).unwrap_err().contains("no samples"));
        let name = expect("windows_logical_disk_fre_bytes", None, Some(1.0), None, Unit::Plain);
        assert_eq!(
            name.judge(&samples),
            Err("no series windows_logical_disk_fre_bytes; the closest is windows_logical_disk_free_bytes".into())
        );
    }

    #[test]
    fn nan_never_holds() {
        let samples = parse_samples(EXPOSITION);
        let odd = expect("odd_value", None, None, Some(10.0), Unit::Plain);
        assert!(odd.judge(&samples).unwrap_err().contains("NaN"));
    }

    #[test]
    fn limits_take_units() {
        let v = |s: &str| limit_value(&toml::Value::String(s.into()));
        assert_eq!(v("20 GiB"), Ok((20.0 * 1024.0 * 1024.0 * 1024.0, Unit::Bytes)));
        assert_eq!(v("10m"), Ok((600.0, Unit::Seconds)));
        assert!(v("lots").is_err());
        assert_eq!(limit_value(&toml::Value::Integer(3)), Ok((3.0, Unit::Plain)));
    }

    proptest::proptest! {
        /// Fuzzing: any exposition is read and judged without a panic, exposition-shaped
        /// text too.
        #[test]
        fn fuzz_expositions_never_panic(
            lines in proptest::collection::vec("([a-z_:]{1,8}(\\{([a-z]{1,3}=\"[ -~]{0,6}\",?){0,3}\\}?)? ?[-+0-9.eNaIf]{0,8}|[ -~]{0,30}|# [ -~]{0,10})", 0..20),
            selector in "[a-z_]{1,8}(\\{[a-z]{1,3}=\"[a-z]{0,3}\"\\})?",
        ) {
            let text = lines.join("\n");
            let samples = parse_samples(&text);
            if let Some((series, _)) = parse_series(&selector) {
                let e = Expectation { series, equals: None, min: Some(0.0), max: Some(1.0), unit: Unit::Bytes };
                let _ = e.judge(&samples);
            }
        }
    }
}
