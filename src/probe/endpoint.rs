//! `[[endpoint]]`: an HTTP or HTTPS URL answers as expected, and its certificate is healthy.
//!
//! Redirects are followed here, hop by hop, rather than by reqwest: that is how every hop's
//! certificate is judged, a loop is named as a loop, and credentials are not forwarded to
//! another host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION, COOKIE, LOCATION};
use reqwest::tls::TlsInfo;
use reqwest::{Method, Response, StatusCode, Url};
use rustls::pki_types::ServerName;
use serde::Deserialize;
use toml::Spanned;

use crate::certs::{self, CertLimits, ClientSpec, HttpClient, Trust};
use crate::config::common::CertificateKeys;
use crate::config::values::{HumanDuration, Proxy, Size};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Facts, Outcome, Status};
use crate::probe::crl::revocation_verdict;
use crate::probe::http::{
    contains, describe_reqwest, dns_failure, join_or, judge_certificates, malformed_status_line, parse_headers,
    parse_url, shown_url, status_code_by_hand, status_text, BodyJudge, JsonAssertions, Shown,
};
use crate::probe::kind::{Budget, RunProbe};
use crate::probe::legacy_tls::{legacy_for_url, Legacy};
use crate::probe::posture::HeaderRules;

/// Read at most this much of a body by default: enough for any health page, and a cap on
/// memory when a server streams without end.
pub(crate) const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
/// Browsers allow about 20; a health URL that needs more than 5 is misconfigured.
pub(crate) const DEFAULT_MAX_REDIRECTS: usize = 5;

#[derive(Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum MethodKey {
    #[default]
    Get,
    Head,
}

check_table! {
    /// `[[endpoint]]` as written in the inventory.
    pub(crate) struct EndpointTable with certificate {
        /// `http://` or `https://`; may use `${VAR}`.
        url: Spanned<String>,
        #[serde(default)]
        method: MethodKey,
        /// Accepted status codes; default any 2xx.
        expect_status: Option<Spanned<Vec<u16>>>,
        /// Text that must appear in the body (within `max_body`).
        contains: Option<String>,
        /// Request headers; values may use `${VAR}` for tokens.
        #[serde(default)]
        headers: BTreeMap<Spanned<String>, Spanned<String>>,
        max_redirects: Option<usize>,
        max_body: Option<Size>,
        warn_latency: Option<HumanDuration>,
        /// "http://host:port" to go through a proxy, "env" for the environment's; default direct.
        proxy: Option<Spanned<String>>,
        /// JSON Pointer -> expected value, checked on the body parsed as JSON.
        json: Option<BTreeMap<Spanned<String>, toml::Value>>,
        /// Headers the answer must carry: a value, or "*" for any.
        #[serde(default)]
        expect_headers: BTreeMap<Spanned<String>, String>,
        /// Strict-Transport-Security with a max-age of at least 180 days.
        #[serde(default)]
        require_hsts: bool,
        /// On an http:// URL: it must redirect to https:// on the same host.
        require_https: Option<Spanned<bool>>,
    }
}

impl Table for EndpointTable {
    type Probe = EndpointProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<EndpointProbe>>, ConfigError> {
        let common = self.common();
        let url = parse_url(loader, &self.url)?;
        let (headers, secret_headers) = parse_headers(loader, &self.headers)?;
        let expect_status = match &self.expect_status {
            Some(codes) => Some(validate_status_codes(loader, codes)?),
            None => None,
        };
        let body_judge = match &self.json {
            Some(pairs) => Some(Arc::new(JsonAssertions::from_table(loader, pairs)?) as Arc<dyn BodyJudge>),
            None => None,
        };
        let header_rules = HeaderRules::from_table(
            loader,
            &self.expect_headers,
            self.require_hsts,
            self.require_https.as_ref(),
            &url,
        )?;
        let min_tls = Legacy::required(loader, self.min_tls.as_ref())?;
        let cert_limits = loader.cert_limits(self.cert_keys())?;
        let trust = loader.trust(self.trust_keys())?;
        let probe = EndpointProbe {
            min_tls,
            check_revocation: self.check_revocation,
            body_judge,
            header_rules,
            url,
            method: match self.method {
                MethodKey::Get => Method::GET,
                MethodKey::Head => Method::HEAD,
            },
            expect_status,
            contains: self.contains.filter(|c| !c.is_empty()),
            headers,
            secret_headers,
            max_redirects: self.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS),
            max_body: self.max_body.map_or(DEFAULT_MAX_BODY, |s| s.0),
            warn_latency: self.warn_latency.map(|d| d.0),
            trust,
            proxy: loader.proxy(self.proxy.as_ref())?,
            cert_limits,
            request_body: None,
        };
        // The target is the URL as written: `${TOKEN}` stays a placeholder.
        let target = self.url.get_ref().clone();
        loader.single(&common, target, probe)
    }
}

fn validate_status_codes(loader: &Loader, codes: &Spanned<Vec<u16>>) -> Result<Vec<u16>, ConfigError> {
    if codes.get_ref().is_empty() {
        return Err(loader.error(codes.span(), "expect_status needs at least one status code"));
    }
    match codes.get_ref().iter().find(|c| !(100..=599).contains(*c)) {
        Some(bad) => Err(loader.error(codes.span(), format!("{bad} is not an HTTP status code (100-599)"))),
        None => Ok(codes.get_ref().clone()),
    }
}

#[derive(Clone)]
pub(crate) struct EndpointProbe {
    /// May hold secrets (`${VAR}` in user, password, path or query): see the `Debug` below.
    pub url: Url,
    pub method: Method,
    pub expect_status: Option<Vec<u16>>,
    pub contains: Option<String>,
    pub headers: HeaderMap,
    /// Headers whose values came from `${VAR}`: dropped when a redirect leaves the origin.
    pub secret_headers: Vec<HeaderName>,
    pub max_redirects: usize,
    pub max_body: u64,
    pub warn_latency: Option<Duration>,
    pub trust: Arc<Trust>,
    pub proxy: Proxy,
    pub cert_limits: CertLimits,
    /// A kind-specific verdict on the body: JSON assertions, a FHIR CapabilityStatement.
    pub body_judge: Option<Arc<dyn BodyJudge>>,
    /// Security headers and the https redirect the answer must show.
    pub header_rules: HeaderRules,
    /// TLS versions the https server must refuse (`min_tls`).
    pub min_tls: Option<Vec<Legacy>>,
    /// Whether the last https hop's certificate is checked against its CRL.
    pub check_revocation: bool,
    /// What a POST sends (an IPP request for `[[printer]]`); never sent once a 303 turns
    /// the request into a GET.
    pub request_body: Option<Vec<u8>>,
}

/// How a table `with certificate` connects, planned: whom it trusts, through which proxy,
/// the certificate limits, the TLS versions the server must refuse, the revocation check.
pub(crate) struct Connection {
    pub trust: Arc<Trust>,
    pub proxy: Proxy,
    pub cert_limits: CertLimits,
    pub min_tls: Option<Vec<Legacy>>,
    pub check_revocation: bool,
}

impl Connection {
    pub(crate) fn plan(
        loader: &mut Loader,
        keys: CertificateKeys<'_>,
        proxy: Option<&Spanned<String>>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            trust: loader.trust(keys.trust)?,
            proxy: loader.proxy(proxy)?,
            cert_limits: loader.cert_limits(keys.certs)?,
            min_tls: Legacy::required(loader, keys.min_tls)?,
            check_revocation: keys.check_revocation,
        })
    }
}

impl EndpointProbe {
    /// A GET that must answer 200 with a body `judge` accepts (read up to `max_body`),
    /// everything else as on `[[endpoint]]`: how `[[fhir]]` and `[[metrics]]` build on it.
    pub(crate) fn judged_get(
        url: Url,
        (headers, secret_headers): (HeaderMap, Vec<HeaderName>),
        (max_body, judge): (u64, Arc<dyn BodyJudge>),
        warn_latency: Option<Duration>,
        connection: Connection,
    ) -> Self {
        let Connection { trust, proxy, cert_limits, min_tls, check_revocation } = connection;
        EndpointProbe {
            url,
            method: Method::GET,
            expect_status: Some(vec![200]),
            contains: None,
            headers,
            secret_headers,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_body,
            warn_latency,
            trust,
            proxy,
            cert_limits,
            body_judge: Some(judge),
            header_rules: HeaderRules::default(),
            min_tls,
            check_revocation,
            request_body: None,
        }
    }
}

/// Written by hand so that no expanded secret can be printed by accident: the URL without
/// userinfo and query values, header names only.
impl std::fmt::Debug for EndpointProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("EndpointProbe")
            .field("url", &shown_url(&self.url))
            .field("method", &self.method)
            .field("headers", &headers)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// The final response of a request, after redirects.
struct Answer {
    status: StatusCode,
    /// The final response's headers, for the security posture (only kept when judged).
    headers: HeaderMap,
    body: Body,
    elapsed: Duration,
    /// Every URL visited, the first included.
    hops: Vec<Url>,
    /// The certificate every https hop showed.
    shown: Vec<Shown>,
}

/// What was read of a body: never more than `max_body`.
struct Body {
    /// The first `max_body` bytes (empty when no assertion needs them).
    kept: Vec<u8>,
    /// Whether the body went on past `max_body`; it was not read further.
    cut: bool,
    /// The whole body's size, when the server said (Content-Length).
    total: Option<u64>,
}

impl RunProbe for EndpointProbe {
    fn kind(&self) -> &'static str {
        "endpoint"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let answer = match self.fetch(budget).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        let http = self.judge_answer(&answer);
        let outcome = match judge_certificates(&answer.shown, self.cert_limits) {
            Some(cert) => Outcome::new(http.status.worst(cert.status), format!("{}; {}", http.detail, cert.text))
                .with_facts(cert.facts(http.facts)),
            None => http,
        };
        let outcome = match self.check_revocation {
            true => self.with_revocation(outcome, &answer, budget).await,
            false => outcome,
        };
        // The last hop's server is the one people reach: its protocol versions count.
        match (&self.min_tls, answer.hops.last().filter(|u| u.scheme() == "https")) {
            (Some(versions), Some(url)) => legacy_for_url(outcome, versions, url, &self.trust, budget).await,
            _ => outcome,
        }
    }
}

impl EndpointProbe {
    /// `outcome` with the revocation verdict on the last https hop's certificate added.
    async fn with_revocation(&self, outcome: Outcome, answer: &Answer, budget: Budget) -> Outcome {
        let last_https = answer.hops.last().is_some_and(|u| u.scheme() == "https");
        let chain = answer
            .shown
            .last()
            .filter(|_| last_https)
            .and_then(|hop| hop.recorder.handshakes_with(&hop.leaf).into_iter().next())
            .map(|handshake| handshake.chain);
        let (status, words) = match chain {
            Some(chain) => revocation_verdict(&self.trust, &chain, budget).await,
            None => (Status::Warn, "revocation not checked: the last answer did not come over https".to_owned()),
        };
        Outcome { status: outcome.status.worst(status), detail: format!("{}; {words}", outcome.detail), ..outcome }
    }

    /// The shared client for `url`'s server: one per server, proxy, timeout and trust store.
    ///
    /// Its connect timeout is a little shorter than the check's, so "no connection in 3 s"
    /// (reqwest's connect timeout) and "connected, but no answer in 3 s" (ours, later) can
    /// be told apart.
    fn client_for(&self, url: &Url, budget: Budget) -> Result<HttpClient, String> {
        let spec = ClientSpec {
            server: url.origin().ascii_serialization(),
            proxy: self.proxy.clone(),
            connect_timeout: Some(budget.timeout.mul_f32(0.8)),
            timeout: None,
        };
        self.trust.http_client(&spec)
    }

    async fn fetch(&self, budget: Budget) -> Result<Answer, Outcome> {
        let start = tokio::time::Instant::now();
        let no_answer = || Outcome::fail(format!("connected, but no answer in {}", budget.limit()));
        let mut hops = vec![self.url.clone()];
        let mut shown: Vec<Shown> = Vec::new();
        let mut method = self.method.clone();
        let mut headers = self.headers.clone();
        loop {
            let url = hops.last().cloned().unwrap_or_else(|| self.url.clone());
            let (client, recorder) = self.client_for(&url, budget).map_err(Outcome::fail)?;
            let mut request = client.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some(body) = self.request_body.as_ref().filter(|_| method == Method::POST) {
                request = request.body(body.clone());
            }
            let request = request.send();
            let response = match tokio::time::timeout_at(budget.step_deadline(), request).await {
                Err(_) => return Err(no_answer()),
                Ok(Err(e)) => return Err(self.request_failed(&e, &url, &headers, budget).await),
                Ok(Ok(r)) => r,
            };
            if let Some(leaf) = response.extensions().get::<TlsInfo>().and_then(TlsInfo::peer_certificate) {
                let server = format!("{}:{}", tls_name(&url), url.port_or_known_default().unwrap_or(443));
                let hop = Shown { server, recorder, leaf: leaf.to_vec() };
                if !shown.contains(&hop) {
                    shown.push(hop);
                }
            }
            if let Some(next) = redirect_target(&response, &url) {
                if hops.contains(&next) {
                    return Err(Outcome::fail(format!("redirect loop: {}", loop_path(&hops, &next))));
                }
                if hops.len() > self.max_redirects {
                    return Err(Outcome::fail(format!(
                        "too many redirects: more than {} (last to {})",
                        self.max_redirects,
                        shown_url(&next)
                    )));
                }
                if next.origin() != url.origin() {
                    self.drop_credentials(&mut headers);
                }
                if response.status() == StatusCode::SEE_OTHER {
                    method = Method::GET;
                }
                hops.push(next);
                continue;
            }
            let status = response.status();
            let final_headers =
                if self.header_rules.is_empty() { HeaderMap::new() } else { response.headers().clone() };
            let body = match tokio::time::timeout_at(budget.step_deadline(), self.read_body(response)).await {
                Err(_) => {
                    let took = human::limit(budget.timeout);
                    return Err(Outcome::fail(format!(
                        "{} but the body was still arriving after {took}",
                        status_text(status)
                    )));
                }
                Ok(Err(e)) => {
                    return Err(Outcome::fail(format!(
                        "{} but reading the body failed: {}",
                        status_text(status),
                        describe_reqwest(&e)
                    )))
                }
                Ok(Ok(body)) => body,
            };
            return Ok(Answer { status, headers: final_headers, body, elapsed: start.elapsed(), hops, shown });
        }
    }

    fn drop_credentials(&self, headers: &mut HeaderMap) {
        headers.remove(AUTHORIZATION);
        headers.remove(COOKIE);
        for name in &self.secret_headers {
            headers.remove(name);
        }
    }

    /// Reads the body up to `max_body`; a larger body is not read further.
    /// Reads the body up to `max_body` and stops there: a check asks about the start of a
    /// page, and a server streaming without end costs at most `max_body` of memory. With no
    /// assertion on the body nothing is kept at all.
    async fn read_body(&self, mut response: Response) -> Result<Body, reqwest::Error> {
        let total = response.content_length();
        let keep = self.contains.is_some() || self.body_judge.is_some();
        let mut body = Body { kept: Vec::new(), cut: total.is_some_and(|len| len > self.max_body), total };
        if body.cut && !keep {
            return Ok(body);
        }
        let limit = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        let mut seen: usize = 0;
        while let Some(chunk) = response.chunk().await? {
            let room = limit.saturating_sub(seen);
            if keep {
                body.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            seen = seen.saturating_add(chunk.len());
            if seen > limit {
                body.cut = true;
                break;
            }
        }
        Ok(body)
    }

    /// "in the first 1.0 MiB of a 64.0 MiB body", for an assertion that looked only there.
    fn where_looked(&self, body: &Body) -> String {
        let of = body.total.map_or_else(|| "a larger body".to_owned(), |t| format!("a {} body", human::size(t)));
        format!("in the first {} of {of}", human::size(self.max_body))
    }

    fn judge_answer(&self, answer: &Answer) -> Outcome {
        let facts = Facts { latency_warn: self.warn_latency, ..Facts::default() };
        self.judge_response(answer).with_facts(facts)
    }

    fn judge_response(&self, answer: &Answer) -> Outcome {
        let mut text = format!("{} in {}", status_text(answer.status), human::duration(answer.elapsed));
        if let Some(proxy) = self.proxy.shown() {
            text.push_str(&format!(" via {proxy}"));
        }
        if answer.hops.len() > 1 {
            let n = answer.hops.len() - 1;
            let last = answer.hops.last().map(shown_url).unwrap_or_default();
            text.push_str(&format!(" (after {n} redirect{}, at {last})", if n == 1 { "" } else { "s" }));
        }
        if !self.status_expected(answer.status) {
            let expected = match &self.expect_status {
                None => "2xx".to_owned(),
                Some(codes) => join_or(codes),
            };
            let why = self.body_judge.as_ref().and_then(|j| j.explain_error(&answer.body.kept));
            let why = why.map(|w| format!(": {w}")).unwrap_or_default();
            return Outcome::fail(format!("{}, expected {expected}{why}", status_text(answer.status)));
        }
        if let Err(why) = self.header_rules.judge(&answer.headers, &answer.hops) {
            return Outcome::fail(format!("{text}, but {why}"));
        }
        let body = &answer.body;
        let mut warns = false;
        if let Some(needle) = &self.contains {
            if !contains(&body.kept, needle.as_bytes()) {
                return Outcome::fail(match body.cut {
                    false => format!("{text}, but the body does not contain {needle:?}"),
                    true => format!(
                        "{text}, but {needle:?} was not found {}; raise max_body to look further",
                        self.where_looked(body)
                    ),
                });
            }
        }
        if let Some(judge) = &self.body_judge {
            if body.cut {
                return Outcome::fail(format!(
                    "{text}, but the body is larger than max_body ({}), so it cannot be judged; raise max_body",
                    human::size(self.max_body)
                ));
            }
            match judge.judge_warning(&body.kept) {
                Err(why) => return Outcome::fail(format!("{text}, but {why}")),
                Ok((Some(extra), warned)) => {
                    text = format!("{text}: {extra}");
                    warns |= warned;
                }
                Ok((None, warned)) => warns |= warned,
            }
        }
        match self.warn_latency {
            Some(limit) if answer.elapsed > limit => {
                Outcome::warn(format!("{text}, slower than {}", human::limit(limit)))
            }
            _ if warns => Outcome::warn(text),
            _ => Outcome::pass(text),
        }
    }

    fn status_expected(&self, status: StatusCode) -> bool {
        match &self.expect_status {
            Some(codes) => codes.contains(&status.as_u16()),
            None => status.is_success(),
        }
    }

    /// Why a request failed, and through which proxy when there is one: a refused connection
    /// may be the proxy's.
    async fn request_failed(&self, error: &reqwest::Error, url: &Url, headers: &HeaderMap, budget: Budget) -> Outcome {
        let outcome = self.why_request_failed(error, url, headers, budget).await;
        match self.proxy.shown() {
            Some(proxy) => Outcome { detail: format!("{} (via {proxy})", outcome.detail), ..outcome },
            None => outcome,
        }
    }

    async fn why_request_failed(
        &self,
        error: &reqwest::Error,
        url: &Url,
        headers: &HeaderMap,
        budget: Budget,
    ) -> Outcome {
        if error.is_connect() && error.is_timeout() {
            return Outcome::fail(format!("no connection in {}", budget.limit()));
        }
        let described = describe_reqwest(error);
        if let Some(reason) = dns_failure(error) {
            let host = url.host_str().unwrap_or_default();
            return Outcome::fail(format!("DNS lookup failed for {host}: {reason}"));
        }
        if malformed_status_line(error) && self.proxy == Proxy::Direct {
            if let Some(code) = self.status_code_by_hand(url, headers, budget).await {
                return Outcome::fail(format!("{code}, with a malformed reason phrase"));
            }
        }
        if url.scheme() == "https" && described != "connection refused" {
            if let Some(why) = self.diagnose_tls(url).await {
                return Outcome::fail(why);
            }
        }
        Outcome::fail(described)
    }

    /// The status code of `url`'s answer, read by hand after hyper refused its status line:
    /// the same request (method, path, and this hop's `headers`: none dropped for another
    /// origin come back) on a connection of its own.
    async fn status_code_by_hand(&self, url: &Url, headers: &HeaderMap, budget: Budget) -> Option<u16> {
        let host = tls_name(url);
        let mut request = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.method,
            path_and_query(url),
            url.authority()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {}\r\n", value.to_str().ok()?));
        }
        request.push_str("\r\n");
        let read = async {
            let stream = super::net::connect(&host, url.port_or_known_default()?).await.ok()?;
            if url.scheme() != "https" {
                return status_code_by_hand(stream, request.as_bytes()).await;
            }
            let server_name = ServerName::try_from(host.clone()).ok()?;
            let (_, tls) = certs::connect_tls(&self.trust, None, stream, server_name).await.ok()?;
            status_code_by_hand(tls.ok()?, request.as_bytes()).await
        };
        tokio::time::timeout_at(budget.step_deadline(), read).await.ok().flatten()
    }

    /// Why the certificate of `url` was rejected, from a handshake of its own: the shared
    /// client's connection is gone by now, and only a private recorder says for sure which
    /// server showed which certificate. Runs only after a failure.
    async fn diagnose_tls(&self, url: &Url) -> Option<String> {
        let host = tls_name(url);
        let server_name = ServerName::try_from(host.clone()).ok()?;
        let stream = super::net::connect(&host, url.port_or_known_default()?).await.ok()?;
        let (seen, _) = certs::handshake(&self.trust, stream, server_name).await.ok()?;
        let handshake = seen.filter(|h| h.error.is_some())?;
        Some(certs::assess(&handshake, self.cert_limits, SystemTime::now()).text)
    }
}

/// The TLS server name for `url`'s host.
fn tls_name(url: &Url) -> String {
    // IPv6 hosts are bracketed in URLs ("[::1]") but not in TLS server names.
    url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned()
}

/// "/path?query" of `url`, as a request line names it.
fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Where a redirect response points, resolved against the URL that answered.
fn redirect_target(response: &Response, url: &Url) -> Option<Url> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    url.join(location).ok()
}

fn loop_path(hops: &[Url], again: &Url) -> String {
    let start = hops.iter().position(|h| h == again).unwrap_or(0);
    hops[start..].iter().chain(std::iter::once(again)).map(shown_url).collect::<Vec<_>>().join(" -> ")
}
