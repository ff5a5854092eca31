//! HTTP pieces shared by `[[endpoint]]` and `[[fhir]]`: URLs and headers from the inventory,
//! judges of a response body, and reqwest's errors in plain words.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use toml::Spanned;

use crate::certs::{self, CertLimits, CertVerdict, Recorder};
use crate::config::values::Port;
use crate::config::{ConfigError, Loader};
use crate::outcome::Status;
use crate::probe::net::{causes, describe_io, LookupError};
use crate::secrets::percent_decode;

/// What a URL from an unset `${VAR}` stands as while the inventory is planned.
const UNSET_URL: &str = "http://unset/";

pub(crate) fn parse_url(loader: &mut Loader, raw: &Spanned<String>) -> Result<Url, ConfigError> {
    // A whole URL from one variable verbatim; a variable inside a written URL percent-encoded:
    // it can then only ever be the user, password, host, path segment or query value it
    // stands in, whatever characters it holds.
    let Some(expanded) = loader.expand_url(raw)? else {
        // The whole URL's variable is not set: `check` refuses and names it; `list`, `ack`
        // and `note` plan on with a stand-in.
        return Ok(Url::parse(UNSET_URL).expect("a valid URL"));
    };
    if let Some(error) = loader.without_scheme(raw, &expanded) {
        return Err(error);
    }
    // The error never quotes the expanded URL: it may hold a token.
    let url = Url::parse(expanded.trim()).map_err(|e| loader.error(raw.span(), format!("invalid URL: {e}")))?;
    if let Some(port) = url.port() {
        Port::new(port).map_err(|why| loader.error(raw.span(), why))?;
    }
    if let Some(password) = url.password() {
        // reqwest sends the userinfo as basic authentication, decoded.
        loader.basic_auth(&percent_decode(url.username()), &percent_decode(password));
    }
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err(loader.error(raw.span(), "the URL has no host")),
        other => Err(loader.error(raw.span(), format!("unsupported URL scheme {other:?}; use http:// or https://"))),
    }
}

pub(crate) fn parse_headers(
    loader: &mut Loader,
    raw: &BTreeMap<Spanned<String>, Spanned<String>>,
) -> Result<(HeaderMap, Vec<HeaderName>), ConfigError> {
    let mut headers = HeaderMap::new();
    let mut secret = Vec::new();
    for (key, value) in raw {
        let name = HeaderName::from_bytes(key.get_ref().as_bytes())
            .map_err(|_| loader.error(key.span(), format!("{:?} is not a valid header name", key.get_ref())))?;
        let expanded = loader.expand(value)?;
        let mut header = HeaderValue::from_str(&expanded)
            .map_err(|_| loader.error(value.span(), "header value holds characters not allowed in HTTP headers"))?;
        if expanded != *value.get_ref() {
            header.set_sensitive(true);
            secret.push(name.clone());
        }
        headers.insert(name, header);
    }
    Ok((headers, secret))
}

/// Judges a response body that arrived with an expected status.
pub(crate) trait BodyJudge: std::fmt::Debug + Send + Sync {
    /// `Ok(Some(text))` adds to the detail line; `Err(why)` fails the check.
    fn judge(&self, body: &[u8]) -> Result<Option<String>, String>;

    /// As `judge`, and whether what holds is still worth a warning (a printer's low toner).
    fn judge_warning(&self, body: &[u8]) -> Result<(Option<String>, bool), String> {
        self.judge(body).map(|text| (text, false))
    }

    /// What the body of an answer with an unexpected status says about why, if the kind
    /// knows how to read it (a FHIR OperationOutcome's diagnostics).
    fn explain_error(&self, _body: &[u8]) -> Option<String> {
        None
    }
}

/// `json = { "/status" = "pass" }`: values the body must hold at these JSON Pointers.
#[derive(Debug)]
pub(crate) struct JsonAssertions {
    pairs: Vec<(String, serde_json::Value)>,
}

impl JsonAssertions {
    pub(crate) fn from_table(
        loader: &Loader,
        table: &BTreeMap<Spanned<String>, toml::Value>,
    ) -> Result<Self, ConfigError> {
        let mut pairs = Vec::new();
        for (pointer, expected) in table {
            if !(pointer.get_ref().is_empty() || pointer.get_ref().starts_with('/')) {
                let why = format!("{:?} is not a JSON Pointer; they start with /, like \"/status\"", pointer.get_ref());
                return Err(loader.error(pointer.span(), why));
            }
            let expected = serde_json::to_value(expected)
                .map_err(|e| loader.error(pointer.span(), format!("cannot compare with this value: {e}")))?;
            pairs.push((pointer.get_ref().clone(), expected));
        }
        Ok(Self { pairs })
    }
}

impl BodyJudge for JsonAssertions {
    fn judge(&self, body: &[u8]) -> Result<Option<String>, String> {
        let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
        for (pointer, expected) in &self.pairs {
            match doc.pointer(pointer) {
                None => return Err(format!("JSON {pointer} is missing, expected {expected}")),
                Some(found) if found != expected => {
                    return Err(format!("JSON {pointer} is {found}, expected {expected}"))
                }
                Some(_) => {}
            }
        }
        Ok(None)
    }
}

/// "200 OK", "500 Internal Server Error".
pub(crate) fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

pub(crate) fn join_or(codes: &[u16]) -> String {
    let words: Vec<String> = codes.iter().map(u16::to_string).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The resolver's reason, when the request failed at DNS (the system resolver's error).
pub(crate) fn dns_failure(error: &reqwest::Error) -> Option<String> {
    causes(error).iter().find_map(|c| c.downcast_ref::<LookupError>()).map(|e| e.reason.clone())
}

/// reqwest's own message is only "error sending request"; the reason is at the end of the
/// source chain ("connection refused", "connection closed before message completed").
pub(crate) fn describe_reqwest(error: &reqwest::Error) -> String {
    let chain = causes(error);
    if let Some(io) = chain.iter().find_map(|c| c.downcast_ref::<std::io::Error>()) {
        if io.kind() != std::io::ErrorKind::Other {
            return describe_io(io);
        }
    }
    for hyper_error in chain.iter().filter_map(|c| c.downcast_ref::<hyper::Error>()) {
        if hyper_error.is_incomplete_message() {
            return "the server closed the connection without answering".into();
        }
        if hyper_error.is_parse() || hyper_error.is_parse_status() {
            return format!("the server's answer is not valid HTTP ({hyper_error})");
        }
    }
    match chain.last() {
        Some(root) => root.to_string(),
        None => error.to_string(),
    }
}

/// Whether reqwest failed because the status line could not be parsed (a control byte in the
/// reason phrase is enough for hyper).
pub(crate) fn malformed_status_line(error: &reqwest::Error) -> bool {
    causes(error).iter().filter_map(|c| c.downcast_ref::<hyper::Error>()).any(hyper::Error::is_parse_status)
}

/// The status code of the first line `stream` answers to `request`, read by hand: where
/// hyper refuses a status line for its reason phrase, the code in it still counts.
pub(crate) async fn status_code_by_hand(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    request: &[u8],
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.ok()?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    // A status line is short; a peer that sends more without a line end is not answering.
    while line.len() < 1024 && !line.ends_with(b"\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            break;
        }
        line.push(byte[0]);
    }
    // "HTTP/1.1 503 reason": the version, then exactly three digits and a space.
    let rest = line.strip_prefix(b"HTTP/1.")?.get(2..)?;
    let code = rest.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit))?;
    let code: u16 = std::str::from_utf8(code).ok()?.parse().ok()?;
    (rest.get(3).is_none_or(|b| *b == b' ' || *b == b'\r') && (100..=599).contains(&code)).then_some(code)
}

/// A URL as a report may show it: no user or password, and query and fragment values
/// replaced by `***` (a hop URL may carry a token a server put there, which no redaction list
/// knows; OAuth puts `#access_token=...` in the fragment). A fragment part without `=` is
/// hidden whole: unlike a query flag, it is often a token itself.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have userinfo, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let hide = |text: &str, bare: fn(&str) -> String| {
        let parts: Vec<String> = text
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}=***"),
                None => bare(pair),
            })
            .collect();
        parts.join("&")
    };
    if let Some(query) = url.query() {
        shown.set_query(Some(&hide(query, str::to_owned)));
    }
    if let Some(fragment) = url.fragment().filter(|f| !f.is_empty()) {
        shown.set_fragment(Some(&hide(fragment, |_| "***".to_owned())));
    }
    shown.to_string()
}

/// A leaf certificate one hop's connection showed, with the recorder of that server's
/// handshakes: together they name the chains this very server presented.
pub(crate) struct Shown {
    /// `host:port` of the hop, to name it when hops differ.
    pub server: String,
    pub recorder: Arc<Recorder>,
    pub leaf: Vec<u8>,
}

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.recorder, &other.recorder) && self.leaf == other.leaf
    }
}

/// The worst certificate among all https hops; which host it was is said when there were
/// several. A leaf no recorded handshake explains cannot be vouched for, so it is not a pass.
pub(crate) fn judge_certificates(shown: &[Shown], limits: CertLimits) -> Option<CertVerdict> {
    let now = SystemTime::now();
    let several_servers = shown.iter().any(|h| h.server != shown[0].server);
    let mut verdicts = Vec::new();
    for hop in shown {
        let seen = hop.recorder.handshakes_with(&hop.leaf);
        let mut hop_verdicts: Vec<CertVerdict> = seen.iter().map(|h| certs::assess(h, limits, now)).collect();
        if hop_verdicts.is_empty() {
            hop_verdicts.push(CertVerdict {
                status: Status::Warn,
                text: "the certificate was shown on a connection rounds did not see verified; cannot vouch for it"
                    .into(),
                days_left: None,
                not_after: None,
                warns_from: None,
            });
        }
        for mut verdict in hop_verdicts {
            if several_servers {
                verdict.text = format!("{}: {}", hop.server, verdict.text);
            }
            verdicts.push(verdict);
        }
    }
    verdicts.into_iter().max_by_key(|v| (v.status.rank(), std::cmp::Reverse(v.days_left)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_hide_userinfo_and_query_values() {
        let url = Url::parse("https://user:pw@ehr.example/a?token=abc&x=1&flag").unwrap();
        assert_eq!(shown_url(&url), "https://ehr.example/a?token=***&x=***&flag");
    }

    #[test]
    fn shown_urls_hide_fragment_values() {
        let url = Url::parse("https://sso.example/cb?x=1#access_token=abc&token_type=bearer").unwrap();
        assert_eq!(shown_url(&url), "https://sso.example/cb?x=***#access_token=***&token_type=***");
        let bare = Url::parse("https://sso.example/cb#eyJhbGciOiJIUzI1NiJ9").unwrap();
        assert_eq!(shown_url(&bare), "https://sso.example/cb#***");
    }

    #[test]
    fn lists_expected_codes_in_words() {
        assert_eq!(join_or(&[200]), "200");
        assert_eq!(join_or(&[200, 204]), "200 or 204");
        assert_eq!(join_or(&[200, 204, 301]), "200, 204 or 301");
    }

    #[test]
    fn finds_text_in_a_body() {
        assert!(contains(b"status: OK", b"OK"));
        assert!(!contains(b"status: down", b"OK"));
    }

    #[test]
    fn status_text_has_the_reason() {
        assert_eq!(status_text(StatusCode::INTERNAL_SERVER_ERROR), "500 Internal Server Error");
    }

    proptest::proptest! {
        /// Fuzzing: any body is judged by JSON assertions without a panic.
        #[test]
        fn fuzz_json_assertions_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512), pointer in "(/[a-z0-9~]{0,5}){0,4}") {
            let assertions = JsonAssertions { pairs: vec![(pointer, serde_json::json!("pass"))] };
            let _ = assertions.judge(&body);
            let text = String::from_utf8_lossy(&body);
            let _ = assertions.judge(text.as_bytes());
        }
    }
}
