//! `[[printer]]`: a network printer or a CUPS queue as IPP reports it: its state, every
//! state reason in words, each supply's level and the jobs waiting.
//!
//! IPP (RFC 8010/8011) is a small binary request sent as an HTTP POST (`application/ipp`).
//! rounds writes its one Get-Printer-Attributes request by hand and reads the answer with a
//! bounded parser ([`parse_response`]): every length is checked against what is left, and the
//! whole answer is capped by `max_body` before it is read. The POST goes through
//! `[[endpoint]]`'s probe, so ipps:// is HTTPS with the certificate judged as on `[[tls]]`
//! (trust, days left, revocation), and timeouts and proxies behave as everywhere else.

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use toml::Spanned;

use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::Outcome;
use crate::probe::endpoint::{Connection, EndpointProbe};
use crate::probe::http::BodyJudge;
use crate::probe::kind::{Budget, RunProbe};

/// IPP's port for ipp:// and ipps:// alike (RFC 8010, RFC 7472).
pub(crate) const DEFAULT_PORT: u16 = 631;
/// A printer's full attribute set is a few tens of KiB; rounds asks for a handful.
const MAX_ANSWER: u64 = 1024 * 1024;
/// What rounds asks for.
const REQUESTED: [&str; 6] =
    ["printer-state", "printer-state-reasons", "marker-names", "marker-levels", "marker-types", "queued-job-count"];

check_table! {
    /// `[[printer]]` as written in the inventory.
    pub(crate) struct PrinterTable with certificate {
        /// "ipp://host/ipp/print" or "ipps://host/..." (port 631 unless given).
        url: Spanned<String>,
        /// Any supply (toner, ink, labels) below this share warns ("15%").
        warn_level: Option<Spanned<String>>,
        /// Any supply below this share fails ("5%").
        min_level: Option<Spanned<String>>,
        /// More jobs than this waiting warns.
        max_queued: Option<Spanned<u64>>,
        /// "http://host:port" to go through a proxy, "env" for the environment's; default direct.
        proxy: Option<Spanned<String>>,
    }
}

impl Table for PrinterTable {
    type Probe = PrinterProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<PrinterProbe>>, ConfigError> {
        let common = self.common();
        let (printer_uri, http_url) = ipp_url(self.url.get_ref()).map_err(|why| loader.error(self.url.span(), why))?;
        let share = |loader: &Loader, key: &Option<Spanned<String>>| match key {
            None => Ok(None),
            Some(s) => level_share(s.get_ref()).map(Some).map_err(|why| loader.error(s.span(), why)),
        };
        let warn_level = share(loader, &self.warn_level)?;
        let min_level = share(loader, &self.min_level)?;
        if let (Some(min), Some(warn), Some(w)) = (min_level, warn_level, &self.warn_level) {
            if warn < min {
                let why = format!("warn_level ({warn}%) is below min_level ({min}%): it would never warn");
                return Err(loader.error(w.span(), why));
            }
        }
        let limits = Limits {
            levels_asked: warn_level.is_some() || min_level.is_some(),
            warn_level: warn_level.unwrap_or(DEFAULT_WARN_LEVEL),
            min_level: min_level.unwrap_or(0.0),
            max_queued: self.max_queued.as_ref().map(|m| *m.get_ref()),
        };
        let connection = Connection::plan(loader, self.certificate_keys(), self.proxy.as_ref())?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/ipp"));
        let get = EndpointProbe::judged_get(
            http_url,
            (headers, Vec::new()),
            (MAX_ANSWER, Arc::new(limits)),
            None,
            connection,
        );
        let request = get_printer_attributes(&printer_uri);
        let endpoint = EndpointProbe { method: Method::POST, request_body: Some(request), ..get };
        loader.single(&common, printer_uri, PrinterProbe { endpoint })
    }
}

/// Supplies below this warn when no `warn_level` is given.
pub(crate) const DEFAULT_WARN_LEVEL: f64 = 10.0;

/// "15%" as a number from 0 to 100.
pub(crate) fn level_share(text: &str) -> Result<f64, &'static str> {
    text.trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or("write a share of a full supply, like \"15%\"")
}

/// The printer's URI as written (sent inside the request) and the HTTP URL it is served at.
fn ipp_url(text: &str) -> Result<(String, Url), String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("invalid URL: {e}"))?;
    let http = match url.scheme() {
        "ipp" => "http",
        "ipps" => "https",
        other => return Err(format!("unsupported URL scheme {other:?}; use ipp:// or ipps://")),
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("the URL has no host".into());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a printer URL holds no user or password".into());
    }
    let port = url.port().unwrap_or(DEFAULT_PORT);
    if port == 0 {
        return Err("port 0 is not a port".into());
    }
    let path = match url.path() {
        "" => "/",
        p => p,
    };
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let served = format!("{http}://{host}:{port}{path}{query}");
    let served = Url::parse(&served).map_err(|e| format!("invalid URL: {e}"))?;
    Ok((url.to_string(), served))
}

/// One Get-Printer-Attributes request (IPP/1.1, request-id 1) for `printer_uri`.
pub(crate) fn get_printer_attributes(printer_uri: &str) -> Vec<u8> {
    let mut out = vec![1, 1, 0x00, 0x0B, 0, 0, 0, 1, TAG_OPERATION];
    let mut attribute = |tag: u8, name: &str, value: &str| {
        out.push(tag);
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len().min(u16::MAX as usize) as u16).to_be_bytes());
        out.extend_from_slice(&value.as_bytes()[..value.len().min(u16::MAX as usize)]);
    };
    attribute(0x47, "attributes-charset", "utf-8");
    attribute(0x48, "attributes-natural-language", "en");
    attribute(0x45, "printer-uri", printer_uri);
    for (i, name) in REQUESTED.iter().enumerate() {
        attribute(0x44, if i == 0 { "requested-attributes" } else { "" }, name);
    }
    out.push(TAG_END);
    out
}

const TAG_OPERATION: u8 = 0x01;
const TAG_END: u8 = 0x03;
const TAG_BEGIN_COLLECTION: u8 = 0x34;
const TAG_END_COLLECTION: u8 = 0x37;

/// One attribute value as rounds reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Integer(i32),
    Text(String),
    Other,
}

/// An IPP answer: its status code and every top-level attribute with its values.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Answer {
    pub status: u16,
    pub attributes: Vec<(String, Vec<Value>)>,
}

impl Answer {
    fn get(&self, name: &str) -> Option<&[Value]> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    fn integers(&self, name: &str) -> Option<Vec<i32>> {
        self.get(name).map(|vs| vs.iter().map(|v| if let Value::Integer(i) = v { *i } else { -2 }).collect())
    }

    fn texts(&self, name: &str) -> Option<Vec<String>> {
        let text = |v: &Value| match v {
            Value::Text(t) => t.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Other => "?".into(),
        };
        self.get(name).map(|vs| vs.iter().map(text).collect())
    }
}

/// Reads an IPP answer (RFC 8010 section 3): the version, status code, request id, then
/// attribute groups up to end-of-attributes. Collections are skipped whole. Every length is
/// checked against what is left: a short or garbled answer is an error, never a panic.
pub(crate) fn parse_response(bytes: &[u8]) -> Result<Answer, String> {
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = at.checked_add(n).filter(|e| *e <= bytes.len()).ok_or("the IPP answer ends too early")?;
        let slice = &bytes[*at..end];
        *at = end;
        Ok(slice)
    };
    let head = take(&mut at, 8).map_err(|_| "the answer is not IPP (shorter than an IPP header)".to_owned())?;
    if head[0] == 0 || head[0] > 9 {
        return Err(format!("the answer is not IPP (version byte {})", head[0]));
    }
    let mut answer = Answer { status: u16::from_be_bytes([head[2], head[3]]), attributes: Vec::new() };
    let mut depth = 0usize;
    loop {
        let tag = *take(&mut at, 1)?.first().ok_or("the IPP answer ends too early")?;
        if tag == TAG_END {
            return Ok(answer);
        }
        if tag < 0x10 {
            // The start of another attribute group.
            continue;
        }
        let name_len = u16::from_be_bytes(take(&mut at, 2)?.try_into().map_err(|_| "bad name length")?);
        let name = String::from_utf8_lossy(take(&mut at, usize::from(name_len))?).into_owned();
        let value_len = u16::from_be_bytes(take(&mut at, 2)?.try_into().map_err(|_| "bad value length")?);
        let raw = take(&mut at, usize::from(value_len))?;
        match tag {
            TAG_BEGIN_COLLECTION => {
                depth += 1;
                continue;
            }
            TAG_END_COLLECTION => {
                depth = depth.checked_sub(1).ok_or("the IPP answer closes a collection it never opened")?;
                continue;
            }
            _ if depth > 0 => continue,
            _ => {}
        }
        let value = match tag {
            0x21 | 0x23 if raw.len() == 4 => Value::Integer(i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]])),
            0x41..=0x49 => Value::Text(String::from_utf8_lossy(raw).into_owned()),
            _ => Value::Other,
        };
        match (name.is_empty(), answer.attributes.last_mut()) {
            (true, Some((_, values))) => values.push(value),
            (true, None) => return Err("the IPP answer has a value without an attribute".into()),
            (false, _) => answer.attributes.push((name, vec![value])),
        }
    }
}

/// What a check asks of the printer.
#[derive(Debug)]
struct Limits {
    /// Whether warn_level or min_level was written: then a printer that reports no levels
    /// cannot be said to have enough.
    levels_asked: bool,
    warn_level: f64,
    min_level: f64,
    max_queued: Option<u64>,
}

/// How bad one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Fine,
    Warn,
    Fail,
}

/// A state reason in words, and how bad it is; `None` for one rounds does not know.
fn reason_words(keyword: &str) -> Option<(Severity, &'static str)> {
    use Severity::{Fail, Warn};
    Some(match keyword {
        "media-empty" => (Fail, "out of paper"),
        "media-jam" => (Fail, "paper jam"),
        "door-open" => (Fail, "a door is open"),
        "cover-open" => (Fail, "a cover is open"),
        "offline" => (Fail, "offline"),
        "shutdown" => (Fail, "shut down"),
        "paused" => (Fail, "paused"),
        "toner-empty" => (Fail, "out of toner"),
        "marker-supply-empty" => (Fail, "a supply is empty"),
        "marker-waste-full" => (Fail, "the waste container is full"),
        "input-tray-missing" => (Fail, "an input tray is missing"),
        "output-area-full" => (Fail, "the output tray is full"),
        "media-needed" => (Fail, "paper needed"),
        "spool-area-full" => (Fail, "the spool area is full"),
        "toner-low" => (Warn, "toner low"),
        "media-low" => (Warn, "paper low"),
        "marker-supply-low" => (Warn, "a supply is low"),
        "marker-waste-almost-full" => (Warn, "the waste container is almost full"),
        "output-area-almost-full" => (Warn, "the output tray is almost full"),
        "moving-to-paused" => (Warn, "pausing"),
        "connecting-to-device" => (Warn, "connecting to the device"),
        "timed-out" => (Warn, "timed out talking to the device"),
        "cups-waiting-for-job-completed" => (Severity::Fine, "finishing a job"),
        _ => return None,
    })
}

/// Every finding of one answer: (how bad, words).
fn findings(answer: &Answer, limits: &Limits) -> Vec<(Severity, String)> {
    let mut found = Vec::new();
    found.push(match answer.integers("printer-state").as_deref() {
        Some([3]) => (Severity::Fine, "idle".to_owned()),
        Some([4]) => (Severity::Fine, "printing".to_owned()),
        Some([5]) => (Severity::Fail, "stopped".to_owned()),
        Some(other) => (Severity::Warn, format!("unknown printer-state {other:?}")),
        None => (Severity::Warn, "no printer-state in the answer".to_owned()),
    });
    for reason in answer.texts("printer-state-reasons").unwrap_or_default() {
        if reason == "none" || reason.ends_with("-report") {
            continue;
        }
        let (base, error) = match (reason.strip_suffix("-error"), reason.strip_suffix("-warning")) {
            (Some(base), _) => (base, true),
            (None, Some(base)) => (base, false),
            (None, None) => (reason.as_str(), false),
        };
        found.push(match reason_words(base) {
            Some((severity, words)) => (severity, words.to_owned()),
            None if error => (Severity::Fail, format!("state reason {reason:?}")),
            None => (Severity::Warn, format!("unknown state reason {reason:?}")),
        });
    }
    found.extend(supplies(answer, limits));
    match (answer.integers("queued-job-count").as_deref(), limits.max_queued) {
        (Some([n]), Some(max)) if i64::from(*n) > i64::try_from(max).unwrap_or(i64::MAX) => {
            found.push((Severity::Warn, format!("{} queued, more than {max}", jobs(*n))))
        }
        (Some([n]), _) => found.push((Severity::Fine, format!("{} queued", jobs(*n)))),
        (_, Some(_)) => found.push((Severity::Warn, "queued-job-count not reported".to_owned())),
        (_, None) => {}
    }
    found
}

/// "1 job", "3 jobs".
fn jobs(n: i32) -> String {
    format!("{n} job{}", if n == 1 { "" } else { "s" })
}

/// Each supply's level ("black toner 6%"); waste containers count the other way.
fn supplies(answer: &Answer, limits: &Limits) -> Vec<(Severity, String)> {
    let levels = answer.integers("marker-levels").unwrap_or_default();
    let names = answer.texts("marker-names").unwrap_or_default();
    let types = answer.texts("marker-types").unwrap_or_default();
    if levels.is_empty() {
        return match limits.levels_asked {
            true => vec![(Severity::Warn, "the printer reports no supply levels".to_owned())],
            false => Vec::new(),
        };
    }
    let mut found = Vec::new();
    if names.len() != levels.len() {
        found.push((Severity::Warn, format!("{} supply names for {} levels", names.len(), levels.len())));
    }
    for (i, level) in levels.iter().enumerate() {
        let name = names.get(i).cloned().unwrap_or_else(|| format!("supply {}", i + 1));
        let kind = types.get(i).map(String::as_str).unwrap_or_default();
        let waste = kind.starts_with("waste-");
        let kind_words = kind.trim_start_matches("waste-").replace('-', " ");
        let label = match name.to_lowercase().contains(&kind_words) || kind_words.is_empty() {
            true => name,
            false => format!("{name} {kind_words}"),
        };
        if !(0..=100).contains(level) {
            // -1 unavailable, -2 unknown, -3 "some remaining" (RFC 3805): never 0%, never fine.
            found.push((Severity::Warn, format!("{label} level unknown")));
            continue;
        }
        let left = match waste {
            true => 100.0 - f64::from(*level),
            false => f64::from(*level),
        };
        let severity = if left < limits.min_level {
            Severity::Fail
        } else if left < limits.warn_level {
            Severity::Warn
        } else {
            Severity::Fine
        };
        found.push((severity, format!("{label} {level}%{}", if waste { " full" } else { "" })));
    }
    found
}

/// The IPP status codes a printer is likely to answer with, in words.
fn status_words(code: u16) -> String {
    let words = match code {
        0x0400 => "client-error-bad-request",
        0x0401 => "client-error-forbidden",
        0x0402 => "client-error-not-authenticated",
        0x0403 => "client-error-not-authorized",
        0x0406 => "client-error-not-found",
        0x0500 => "server-error-internal-error",
        0x0501 => "server-error-operation-not-supported",
        0x0502 => "server-error-service-unavailable",
        0x0503 => "server-error-version-not-supported",
        0x0507 => "server-error-busy",
        _ => "",
    };
    match words {
        "" => format!("IPP status 0x{code:04x}"),
        w => format!("IPP status 0x{code:04x} {w}"),
    }
}

impl BodyJudge for Limits {
    fn judge(&self, body: &[u8]) -> Result<Option<String>, String> {
        self.judge_warning(body).map(|(text, _)| text)
    }

    fn judge_warning(&self, body: &[u8]) -> Result<(Option<String>, bool), String> {
        let answer = parse_response(body)?;
        if answer.status > 0x00FF {
            return Err(format!("the printer answered {}", status_words(answer.status)));
        }
        let mut found = findings(&answer, self);
        // The worst first, so a cut-short line still says what matters.
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        let worst = found.first().map_or(Severity::Fine, |f| f.0);
        let text = found.into_iter().map(|(_, words)| words).collect::<Vec<_>>().join(", ");
        match worst {
            Severity::Fail => Err(text),
            Severity::Warn => Ok((Some(text), true)),
            Severity::Fine => Ok((Some(text), false)),
        }
    }
}

/// A printer's IPP attributes, fetched as `[[endpoint]]` fetches and judged here.
#[derive(Debug)]
pub(crate) struct PrinterProbe {
    endpoint: EndpointProbe,
}

impl RunProbe for PrinterProbe {
    fn kind(&self) -> &'static str {
        "printer"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        self.endpoint.run(budget).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a printer would send it: groups, integers, keywords, an unknown tag,
    /// a collection whose members must not leak into the attribute before it.
    fn answer_bytes(attrs: &[(u8, &str, &[u8])]) -> Vec<u8> {
        let mut out = vec![2, 0, 0, 0, 0, 0, 0, 1, TAG_OPERATION];
        let mut attr = |tag: u8, name: &str, value: &[u8]| {
            out.push(tag);
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value);
        };
        attr(0x47, "attributes-charset", b"utf-8");
        for (tag, name, value) in attrs {
            attr(*tag, name, value);
        }
        out.push(TAG_END);
        out
    }

    fn int(i: i32) -> [u8; 4] {
        i.to_be_bytes()
    }

    const LIMITS: Limits = Limits { levels_asked: true, warn_level: 15.0, min_level: 5.0, max_queued: Some(20) };

    fn judged(attrs: &[(u8, &str, &[u8])]) -> Result<(Option<String>, bool), String> {
        let mut bytes = answer_bytes(attrs);
        bytes.insert(9, 0x04); // a printer-attributes group
        LIMITS.judge_warning(&bytes)
    }

    #[test]
    fn the_request_is_get_printer_attributes() {
        let request = get_printer_attributes("ipp://127.0.0.1:631/ipp/print");
        assert_eq!(&request[..9], &[1, 1, 0, 0x0B, 0, 0, 0, 1, TAG_OPERATION]);
        assert_eq!(request.last(), Some(&TAG_END));
        let parsed = parse_response(&request).unwrap();
        assert_eq!(parsed.texts("printer-uri").unwrap(), vec!["ipp://127.0.0.1:631/ipp/print"]);
        assert_eq!(parsed.texts("requested-attributes").unwrap(), REQUESTED.to_vec());
    }

    #[test]
    fn urls_map_to_http_on_631() {
        let (uri, url) = ipp_url("ipp://lab-zebra.clinic.local/ipp/print").unwrap();
        assert_eq!(uri, "ipp://lab-zebra.clinic.local/ipp/print");
        assert_eq!(url.as_str(), "http://lab-zebra.clinic.local:631/ipp/print");
        assert_eq!(ipp_url("ipps://[::1]:8631/p").unwrap().1.as_str(), "https://[::1]:8631/p");
        assert!(ipp_url("http://x/ipp").unwrap_err().contains("ipp://"));
        assert!(ipp_url("ipp://u:p@x/").is_err());
    }

    #[test]
    fn idle_with_good_supplies_passes_and_names_them() {
        let (text, warned) = judged(&[
            (0x23, "printer-state", &int(3)),
            (0x44, "printer-state-reasons", b"none"),
            (0x42, "marker-names", b"Black"),
            (0x44, "marker-types", b"toner"),
            (0x21, "marker-levels", &int(62)),
            (0x21, "queued-job-count", &int(0)),
        ])
        .unwrap();
        assert_eq!(text.as_deref(), Some("idle, Black toner 62%, 0 jobs queued"));
        assert!(!warned);
    }

    #[test]
    fn stopped_and_jams_fail_low_toner_warns_report_is_ignored() {
        let stopped = judged(&[(0x23, "printer-state", &int(5))]).unwrap_err();
        assert!(stopped.contains("stopped"), "{stopped}");
        let jam = judged(&[(0x23, "printer-state", &int(4)), (0x44, "printer-state-reasons", b"media-jam-error")]);
        assert!(jam.unwrap_err().starts_with("paper jam"));
        let low = judged(&[
            (0x23, "printer-state", &int(3)),
            (0x44, "printer-state-reasons", b"toner-low-warning"),
            (0x44, "", b"media-empty-report"),
            (0x21, "marker-levels", &int(50)),
        ])
        .unwrap();
        assert!(low.1);
        assert_eq!(
            low.0.as_deref(),
            Some("toner low, 0 supply names for 1 levels, queued-job-count not reported, idle, supply 1 50%")
        );
        let odd = judged(&[(0x23, "printer-state", &int(3)), (0x44, "printer-state-reasons", b"fuser-over-temp")]);
        assert!(odd.unwrap().0.unwrap().contains("unknown state reason \"fuser-over-temp\""));
    }

    #[test]
    fn levels_unknown_warn_waste_counts_the_other_way() {
        let levels = |a: i32, b: i32| {
            judged(&[
                (0x23, "printer-state", &int(3)),
                (0x42, "marker-names", b"Black"),
                (0x42, "", b"Waste"),
                (0x44, "marker-types", b"toner"),
                (0x44, "", b"waste-toner"),
                (0x21, "marker-levels", &int(a)),
                (0x21, "", &int(b)),
                (0x21, "queued-job-count", &int(0)),
            ])
        };
        let unknown = levels(-2, 10).unwrap();
        assert!(unknown.1 && unknown.0.as_deref().unwrap().contains("Black toner level unknown"));
        assert!(levels(-3, 10).unwrap().1);
        assert!(levels(6, 10).unwrap().1);
        assert!(levels(4, 10).unwrap_err().contains("Black toner 4%"));
        assert!(levels(12, 10).unwrap().1);
        assert!(levels(50, 97).unwrap_err().contains("Waste toner 97% full"));
        assert!(levels(50, 90).unwrap().1);
        assert!(!levels(50, 10).unwrap().1);
    }

    #[test]
    fn queues_collections_and_errors() {
        let queued = judged(&[(0x23, "printer-state", &int(4)), (0x21, "queued-job-count", &int(23))]).unwrap();
        assert!(queued.1 && queued.0.unwrap().contains("23 jobs queued, more than 20"));
        let collection = judged(&[
            (0x23, "printer-state", &int(3)),
            (0x34, "media-col-default", b""),
            (0x4A, "", b"media-size"),
            (0x21, "", &int(9)),
            (0x37, "", b""),
            (0x21, "marker-levels", &int(80)),
            (0x21, "queued-job-count", &int(0)),
        ]);
        assert_eq!(
            collection.unwrap().0.as_deref(),
            Some("0 supply names for 1 levels, idle, supply 1 80%, 0 jobs queued")
        );
        let mut refused = answer_bytes(&[]);
        refused[2..4].copy_from_slice(&0x0406u16.to_be_bytes());
        assert_eq!(
            LIMITS.judge_warning(&refused).unwrap_err(),
            "the printer answered IPP status 0x0406 client-error-not-found"
        );
        assert!(parse_response(b"<html>").unwrap_err().contains("not IPP"));
        assert!(parse_response(&answer_bytes(&[])[..12]).is_err());
    }

    proptest::proptest! {
        /// Fuzzing: any bytes, and any well-framed answer cut or flipped anywhere, are read
        /// and judged without a panic.
        #[test]
        fn fuzz_answers_never_panic(
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            cut in 0usize..200,
            flip in (0usize..200, proptest::num::u8::ANY),
        ) {
            let _ = LIMITS.judge_warning(&noise);
            let mut framed = answer_bytes(&[
                (0x23, "printer-state", &int(3)),
                (0x44, "printer-state-reasons", b"media-low"),
                (0x21, "marker-levels", &int(-1)),
                (0x34, "c", b""),
                (0x37, "", b""),
            ]);
            let _ = LIMITS.judge_warning(&framed[..cut.min(framed.len())]);
            if let Some(byte) = framed.get_mut(flip.0) {
                *byte = flip.1;
            }
            let _ = LIMITS.judge_warning(&framed);
        }
    }
}
