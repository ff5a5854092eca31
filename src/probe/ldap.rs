//! `[[ldap]]`: the directory answers, the service account can bind, and a search finds the
//! entries it should ("I can't log in" starts here).
//!
//! The LDAP protocol is ldap3's, over a TCP connection made by `net` (so resolving and
//! socket errors read as for every kind) and, for ldaps:// and StartTLS, over our own rustls
//! configuration: the certificate is recorded and judged as by `[[tls]]`. Binds ask for the
//! password-policy response control (OpenLDAP's ppolicy), and Active Directory's bind
//! sub-codes ("data 52e") are read from the diagnostic message: a locked, expired or
//! disabled service account is said in words rather than as "invalid credentials".

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ldap3::controls::RawControl;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, StdStream};
use rustls::pki_types::ServerName;
use toml::Spanned;

use crate::certs::{self, CertLimits, Recorder, Trust};
use crate::config::values::Port;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Outcome, Status};
use crate::probe::crl::revocation_verdict;
use crate::probe::kind::{Budget, RunProbe};
use crate::probe::legacy_tls::{legacy_verdict, Legacy};

check_table! {
    /// `[[ldap]]` as written in the inventory.
    pub(crate) struct LdapTable with certificate {
        /// ldap://host[:389] or ldaps://host[:636].
        url: Spanned<String>,
        /// Upgrade ldap:// with StartTLS before binding.
        #[serde(default)]
        starttls: bool,
        /// Absent: an anonymous bind.
        bind_dn: Option<Spanned<String>>,
        password: Option<Spanned<String>>,
        /// Where to search; absent: the root DSE is read (the server answers searches).
        base: Option<Spanned<String>>,
        /// Default (objectClass=*).
        filter: Option<Spanned<String>>,
        /// base | one | sub (default sub).
        scope: Option<Spanned<String>>,
        /// Fewer entries fail (default 1).
        min_entries: Option<u32>,
        max_entries: Option<Spanned<u32>>,
    }
}

/// The password-policy request control (draft-behera-ldap-password-policy).
const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// The paged-results control (RFC 2696), and how many entries a page asks for.
const PAGED_OID: &str = "1.2.840.113556.1.4.319";
const PAGE_SIZE: u8 = 100;
/// What an operation hears when the connection is gone.
const CLOSED: &str = "the server closed the connection";
/// At most this much of a server's diagnostic message reaches the detail.
const MAX_DIAGNOSTIC: usize = 160;

impl Table for LdapTable {
    type Probe = LdapProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<LdapProbe>>, ConfigError> {
        let common = self.common();
        let written = self.url.get_ref().trim();
        let url_span = self.url.span();
        let url = reqwest::Url::parse(written).map_err(|e| {
            loader.error(url_span.clone(), format!("invalid URL: {e}; write it like \"ldaps://dc01.clinic.local\""))
        })?;
        let tls_scheme = match url.scheme() {
            "ldap" => false,
            "ldaps" => true,
            _ => return Err(loader.error(url_span.clone(), "url is ldap://host[:389] or ldaps://host[:636]")),
        };
        let host = match url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']')) {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => return Err(loader.error(url_span.clone(), "the URL names no host")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(loader.error(url_span.clone(), "give the account as bind_dn and password, not in the URL"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(
                loader.error(url_span.clone(), "the URL is the server only: give base, filter and scope as keys")
            );
        }
        let port = match url.port() {
            Some(p) => Port::new(p).map_err(|why| loader.error(url_span.clone(), why))?.0,
            None if tls_scheme => 636,
            None => 389,
        };
        if self.starttls && tls_scheme {
            return Err(
                loader.error(url_span.clone(), "starttls upgrades ldap://; ldaps:// is TLS from the start: drop one")
            );
        }
        let bind = match (&self.bind_dn, &self.password) {
            (None, None) => None,
            (Some(dn), Some(password)) => {
                Some(Bind { dn: loader.expand(dn)?.trim().to_owned(), password: loader.expand(password)? })
            }
            (Some(dn), None) => {
                return Err(loader.error(dn.span(), "bind_dn needs a password, like password = \"${LDAP_PASSWORD}\""))
            }
            (None, Some(p)) => {
                return Err(loader.error(p.span(), "password needs a bind_dn (without both, the bind is anonymous)"))
            }
        };
        let filter = self.filter.as_ref().map_or("(objectClass=*)", |f| f.get_ref().trim()).to_owned();
        if ldap3::parse_filter(&filter).is_err() {
            let span = self.filter.as_ref().map(Spanned::span).unwrap_or_default();
            return Err(loader.error(span, format!("{filter:?} is not an LDAP filter, like \"(objectClass=person)\"")));
        }
        let (base, scope) = match (&self.base, &self.scope) {
            (None, Some(s)) => return Err(loader.error(s.span(), "scope needs a base to search under")),
            (None, None) => (String::new(), Scope::Base),
            (Some(b), s) => (b.get_ref().trim().to_owned(), scope(loader, s.as_ref())?),
        };
        let min_entries = self.min_entries.unwrap_or(1);
        if let Some(max) = self.max_entries.as_ref().filter(|m| *m.get_ref() < min_entries) {
            return Err(loader.error(max.span(), format!("max_entries is below min_entries ({min_entries})")));
        }
        let tls = if tls_scheme || self.starttls {
            let server_name = ServerName::try_from(host.clone())
                .map_err(|_| loader.error(url_span.clone(), format!("{host:?} is not a valid host name for TLS")))?;
            if let Some(v) = self.min_tls.as_ref().filter(|_| self.starttls) {
                return Err(loader.error(v.span(), "min_tls is checked on ldaps:// only, not with StartTLS"));
            }
            Some(LdapTls {
                trust: loader.trust(self.trust_keys())?,
                limits: loader.cert_limits(self.cert_keys())?,
                check_revocation: self.check_revocation,
                // [settings] min_tls is for TLS ports: a legacy ClientHello sent to the plain
                // port of a StartTLS server would learn nothing, and must not read as refused.
                min_tls: match self.starttls {
                    true => None,
                    false => Legacy::required(loader, self.min_tls.as_ref())?,
                },
                sni: matches!(server_name, ServerName::DnsName(_)),
            })
        } else {
            if let Some(span) = self.ca_file.as_ref().map(Spanned::span).or(self.min_tls.as_ref().map(Spanned::span)) {
                return Err(loader.error(span, "ca_file and min_tls are for ldaps:// or starttls = true"));
            }
            None
        };
        let shown_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let target =
            format!("{}://{shown_host}:{port}{}", url.scheme(), if self.starttls { " (StartTLS)" } else { "" });
        let probe = LdapProbe {
            connect_url: format!("{}://{shown_host}:{port}", url.scheme()),
            host,
            port,
            starttls: self.starttls,
            tls,
            bind,
            base,
            scope,
            filter,
            min_entries,
            max_entries: self.max_entries.map(|m| m.into_inner()),
        };
        loader.single(&common, target, probe)
    }
}

fn scope(loader: &Loader, written: Option<&Spanned<String>>) -> Result<Scope, ConfigError> {
    match written.map(|s| s.get_ref().trim()) {
        None | Some("sub") => Ok(Scope::Subtree),
        Some("one") => Ok(Scope::OneLevel),
        Some("base") => Ok(Scope::Base),
        Some(_) => Err(loader.error(written.map(Spanned::span).unwrap_or_default(), "scope is base, one or sub")),
    }
}

/// Who binds. The password never reaches `Debug`, a report or a log.
pub(crate) struct Bind {
    pub dn: String,
    pub password: String,
}

impl std::fmt::Debug for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bind").field("dn", &self.dn).finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct LdapTls {
    pub trust: Arc<Trust>,
    pub limits: CertLimits,
    pub check_revocation: bool,
    /// The versions that must be refused (`min_tls`, ldaps:// only).
    pub min_tls: Option<Vec<Legacy>>,
    /// Whether the host is a name (sent as SNI) rather than an address.
    pub sni: bool,
}

#[derive(Debug)]
pub(crate) struct LdapProbe {
    /// scheme://host:port, for ldap3 (which takes the TLS server name from it).
    pub connect_url: String,
    pub host: String,
    pub port: u16,
    pub starttls: bool,
    pub tls: Option<LdapTls>,
    pub bind: Option<Bind>,
    pub base: String,
    pub scope: Scope,
    pub filter: String,
    pub min_entries: u32,
    pub max_entries: Option<u32>,
}

impl RunProbe for LdapProbe {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let start = tokio::time::Instant::now();
        let stream = match super::net::connect_within(&self.host, self.port, budget).await {
            Ok(s) => s,
            Err(why) => return Outcome::fail(why),
        };
        let (found, recorder) = self.connect_and_query(stream, budget).await;
        let verdict = recorder.as_deref().and_then(|r| self.verdict(r));
        match (found, verdict) {
            (Ok(found), _) => {
                let outcome = self.judge(found, start.elapsed());
                self.with_certificate(outcome, recorder.as_deref(), budget).await
            }
            // A certificate that fails is why the TLS connection failed.
            (Err(Failed::Connecting(_)), Some(v)) if v.status.is_failure() => Outcome::fail(v.text),
            (Err(Failed::Connected(why)), Some(v)) => v.joined_to(Outcome::fail(why)),
            (Err(Failed::Connecting(why) | Failed::Connected(why)), _) => Outcome::fail(why),
        }
    }
}

/// Why the check failed: before the connection (and its TLS) was up, or after.
#[derive(Debug)]
enum Failed {
    Connecting(String),
    Connected(String),
}

/// What the bind and the search found.
#[derive(Debug)]
pub(crate) struct Found {
    /// Password-policy warnings on a bind that worked ("password expires in 3 days").
    pub warning: Option<String>,
    pub entries: u32,
    /// The server stopped the search at its own size limit.
    pub size_limited: bool,
}

impl LdapProbe {
    /// Connects (TLS, StartTLS), binds and searches, all before the step deadline; the
    /// recorder holds the certificate shown over TLS.
    async fn connect_and_query(
        &self,
        stream: tokio::net::TcpStream,
        budget: Budget,
    ) -> (Result<Found, Failed>, Option<Arc<Recorder>>) {
        let mut settings = LdapConnSettings::new().set_starttls(self.starttls);
        let mut recorder = None;
        if let Some(tls) = &self.tls {
            match tls.trust.recording_config() {
                Ok((config, r)) => {
                    settings = settings.set_config(Arc::new(config));
                    recorder = Some(r);
                }
                Err(why) => return (Err(Failed::Connecting(why)), None),
            }
        }
        let work = async {
            let stream = stream.into_std().map_err(|e| Failed::Connecting(super::net::describe_io(&e)))?;
            let settings = settings.set_std_stream(StdStream::Tcp(stream));
            let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.connect_url)
                .await
                .map_err(|e| Failed::Connecting(self.connect_error(&e)))?;
            // The connection's driver ends when the last `Ldap` handle is dropped.
            let mut driver = tokio::spawn(async move {
                let _ = conn.drive().await;
            });
            let mut found = self.bind_and_search(&mut ldap).await;
            // ldap3 panics on its connection task when a message cannot be decoded; the
            // operation then only sees the connection gone. Say what happened.
            // (The task may still be unwinding when the operation hears of it: a moment's wait.)
            if found.as_ref().is_err_and(|why| why == CLOSED) {
                if let Ok(Err(e)) = tokio::time::timeout(Duration::from_millis(200), &mut driver).await {
                    if e.is_panic() {
                        found = Err("the server sent an LDAP message that cannot be decoded".to_owned());
                    }
                }
            }
            let _ = ldap.unbind().await;
            found.map_err(Failed::Connected)
        };
        let found = match tokio::time::timeout_at(budget.step_deadline(), work).await {
            Ok(found) => found,
            Err(_) => Err(Failed::Connected(format!("connected, but no LDAP answer in {}", budget.limit()))),
        };
        (found, recorder)
    }

    async fn bind_and_search(&self, ldap: &mut ldap3::Ldap) -> Result<Found, String> {
        let (dn, password) = self.bind.as_ref().map_or(("", ""), |b| (b.dn.as_str(), b.password.as_str()));
        let policy = RawControl { ctype: PPOLICY_OID.to_owned(), crit: false, val: None };
        let bound = ldap.with_controls(policy).simple_bind(dn, password).await.map_err(|e| describe_error(&e))?;
        let warning = password_policy(&bound).and_then(|p| p.warning());
        if bound.rc != 0 {
            return Err(bind_refused(&bound, self.bind.is_some()));
        }
        // Page by page (RFC 2696), as Active Directory answers at most 1,000 entries to one
        // plain search; counting stops one entry past max_entries.
        let (mut entries, mut cookie) = (0u32, Vec::new());
        loop {
            let mut search = ldap
                .with_controls(paged_control(PAGE_SIZE, &cookie))
                .streaming_search(&self.base, self.scope, &self.filter, vec!["1.1"])
                .await
                .map_err(|e| describe_error(&e))?;
            let before = entries;
            while let Some(entry) = search.next().await.map_err(|e| describe_error(&e))? {
                if !entry.is_ref() {
                    entries = entries.saturating_add(1);
                }
                if self.max_entries.is_some_and(|max| entries > max) {
                    return Ok(Found { warning, entries, size_limited: false });
                }
            }
            let done = search.finish().await;
            match done.rc {
                0 => {}
                4 => return Ok(Found { warning, entries, size_limited: true }),
                32 if self.base.is_empty() => return Err("the server does not show its root DSE".to_owned()),
                32 => return Err(format!("no such object: the base {:?} does not exist", self.base)),
                _ => return Err(format!("the search failed: {}", result_words(&done))),
            }
            cookie = next_page(&done).unwrap_or_default();
            if cookie.is_empty() {
                return Ok(Found { warning, entries, size_limited: false });
            }
            if entries == before {
                return Err("the server's paged results did not advance".to_owned());
            }
        }
    }

    fn judge(&self, found: Found, elapsed: std::time::Duration) -> Outcome {
        let who = match &self.bind {
            Some(b) => format!("bound as {}", account_name(&b.dn)),
            None => "bound anonymously".to_owned(),
        };
        let count = match found.entries {
            1 => "1 entry".to_owned(),
            n => format!("{n} entries"),
        };
        let took = human::duration(elapsed);
        let over = self.max_entries.filter(|max| found.entries > *max);
        let outcome = if let Some(max) = over {
            Outcome::fail(format!("{who}, but more than max_entries ({max}) match"))
        } else if found.size_limited {
            Outcome::fail(format!(
                "{who}, but the server's size limit stopped the search after {count}: narrow base or filter"
            ))
        } else if found.entries < self.min_entries {
            Outcome::fail(format!("{who}, but only {count} found (min_entries {})", self.min_entries))
        } else {
            Outcome::pass(format!("{who}, {count} in {took}"))
        };
        match found.warning {
            Some(w) => Outcome::new(outcome.status.worst(Status::Warn), format!("{}; {w}", outcome.detail)),
            None => outcome,
        }
    }

    fn verdict(&self, recorder: &Recorder) -> Option<certs::CertVerdict> {
        let tls = self.tls.as_ref()?;
        recorder.single().map(|h| certs::assess(&h, tls.limits, SystemTime::now()))
    }

    /// The outcome with the certificate's verdict joined, over TLS.
    async fn with_certificate(&self, outcome: Outcome, recorder: Option<&Recorder>, budget: Budget) -> Outcome {
        let (Some(tls), Some(recorder)) = (&self.tls, recorder) else { return outcome };
        let Some(handshake) = recorder.single() else {
            return Outcome::new(
                outcome.status.worst(Status::Warn),
                format!("{}; no certificate seen", outcome.detail),
            );
        };
        let verdict = certs::assess(&handshake, tls.limits, SystemTime::now());
        let mut joined = verdict.joined_to(outcome);
        if tls.check_revocation {
            let (revocation, words) = revocation_verdict(&tls.trust, &handshake.chain, budget).await;
            let facts = joined.facts.clone();
            joined =
                Outcome::new(joined.status.worst(revocation), format!("{}; {words}", joined.detail)).with_facts(facts);
        }
        let Some(versions) = &tls.min_tls else { return joined };
        let sni = tls.sni.then_some(self.host.as_str());
        match legacy_verdict(&self.host, self.port, sni, versions, budget).await {
            Some((legacy, why)) => {
                let facts = joined.facts.clone();
                Outcome::new(joined.status.worst(legacy), format!("{}; but {why}", joined.detail)).with_facts(facts)
            }
            None => joined,
        }
    }

    /// Why the connection (TCP, TLS or StartTLS) failed, in words.
    fn connect_error(&self, error: &LdapError) -> String {
        match error {
            LdapError::LdapResult { result } if self.starttls => {
                format!("StartTLS refused: {}", result_words(result))
            }
            LdapError::Io { source } if self.tls.is_some() => {
                format!("TLS handshake failed: {}", super::net::describe_io(source))
            }
            other => describe_error(other),
        }
    }
}

/// The account's own name: "svc-rounds" for "CN=svc-rounds,OU=Service,DC=clinic,DC=local";
/// a bind name without `=` (a UPN, "svc-rounds@clinic.local") is shown whole.
fn account_name(dn: &str) -> &str {
    let first = dn.split(',').next().unwrap_or(dn);
    match first.split_once('=') {
        Some((_, value)) if !value.trim().is_empty() => value.trim(),
        _ => dn,
    }
}

/// An ldap3 error in words.
fn describe_error(error: &LdapError) -> String {
    match error {
        LdapError::Io { source } => super::net::describe_io(source),
        LdapError::LdapResult { result } => result_words(result),
        LdapError::Timeout { .. } => "no answer in time".to_owned(),
        LdapError::EndOfStream | LdapError::ResultRecv { .. } | LdapError::OpSend { .. } => CLOSED.to_owned(),
        other => other.to_string(),
    }
}

/// Why a bind was refused: the password policy's reason, or Active Directory's sub-code,
/// or the result code, in words.
fn bind_refused(result: &LdapResult, as_account: bool) -> String {
    if let Some(error) = password_policy(result).and_then(|p| p.error) {
        return format!("the bind was refused: {}", policy_error(error));
    }
    if let Some(words) = ad_subcode(&result.text) {
        return format!("the bind was refused: {words}");
    }
    match (result.rc, as_account) {
        (49, true) => {
            "the bind was refused: invalid credentials (wrong bind_dn or password, or a locked account)".into()
        }
        (48 | 53, false) => {
            format!("anonymous binds are refused ({}): give bind_dn and password", result_words(result))
        }
        _ => format!("the bind was refused: {}", result_words(result)),
    }
}

/// An LDAP result code (RFC 4511 appendix A) in words, with the server's message.
fn result_words(result: &LdapResult) -> String {
    let words = match result.rc {
        1 => "operations error",
        2 => "protocol error",
        3 => "time limit exceeded",
        4 => "size limit exceeded",
        7 => "authentication method not supported",
        8 => "stronger authentication required",
        10 => "referral to another server",
        11 => "administrative limit exceeded",
        13 => "confidentiality required (use ldaps:// or starttls)",
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "server busy",
        52 => "server unavailable",
        53 => "server unwilling to perform",
        _ => "error",
    };
    let text: String = result.text.trim().chars().take(MAX_DIAGNOSTIC).collect();
    match text.is_empty() {
        true => format!("{words} (result {})", result.rc),
        false => format!("{words} (result {}: {text})", result.rc),
    }
}

/// Active Directory's bind sub-code, from a diagnostic message like
/// "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 52e, v3839".
pub(crate) fn ad_subcode(text: &str) -> Option<&'static str> {
    let code = text.split(", ").find_map(|part| part.trim().strip_prefix("data "))?;
    Some(match code.trim().to_ascii_lowercase().as_str() {
        "525" => "user not found (AD 525)",
        "52e" => "wrong password (AD 52e)",
        "530" => "the account may not log on at this time (AD 530)",
        "531" => "the account may not log on from this workstation (AD 531)",
        "532" => "the password has expired (AD 532)",
        "533" => "the account is disabled (AD 533)",
        "701" => "the account has expired (AD 701)",
        "773" => "the password must be changed before the next logon (AD 773)",
        "775" => "the account is locked out (AD 775)",
        _ => return None,
    })
}

/// The paged-results request control: `SEQUENCE { size INTEGER, cookie OCTET STRING }`.
/// Encoded here (ldap3's own adapter would panic on a malformed answer from the server).
fn paged_control(size: u8, cookie: &[u8]) -> RawControl {
    let mut cookie_tlv = vec![0x04];
    push_length(&mut cookie_tlv, cookie.len());
    cookie_tlv.extend_from_slice(cookie);
    let mut body = vec![0x02, 0x01, size];
    body.extend(cookie_tlv);
    let mut value = vec![0x30];
    push_length(&mut value, body.len());
    value.extend(body);
    RawControl { ctype: PAGED_OID.to_owned(), crit: false, val: Some(value) }
}

/// A BER definite length.
fn push_length(out: &mut Vec<u8>, length: usize) {
    match u8::try_from(length) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes: Vec<u8> = length.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
    }
}

/// The cookie for the next page, from a search's paged-results response control; `None`
/// when the server sent none (it does not page: all entries came at once).
pub(crate) fn next_page(result: &LdapResult) -> Option<Vec<u8>> {
    let control = result.ctrls.iter().find(|c| c.1.ctype == PAGED_OID)?;
    parse_paged(control.1.val.as_deref()?)
}

pub(crate) fn parse_paged(bytes: &[u8]) -> Option<Vec<u8>> {
    let (tag, body, _) = tlv(bytes)?;
    let (size_tag, _, rest) = tlv(body).filter(|_| tag == 0x30)?;
    let (cookie_tag, cookie, _) = tlv(rest).filter(|_| size_tag == 0x02)?;
    (cookie_tag == 0x04).then(|| cookie.to_vec())
}

/// The password-policy response control of a bind (draft-behera-ldap-password-policy 6.2).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Policy {
    /// Seconds before the password expires.
    pub expires_in: Option<u64>,
    /// Binds left after the password expired.
    pub grace_left: Option<u64>,
    /// Why the bind was refused.
    pub error: Option<u64>,
}

impl Policy {
    fn warning(&self) -> Option<String> {
        if let Some(grace) = self.grace_left {
            return Some(format!("the password has expired: {grace} grace logins left"));
        }
        let secs = self.expires_in?;
        Some(format!("the password expires in {}", human::age(std::time::Duration::from_secs(secs))))
    }
}

fn password_policy(result: &LdapResult) -> Option<Policy> {
    let control = result.ctrls.iter().find(|c| c.1.ctype == PPOLICY_OID)?;
    parse_policy(control.1.val.as_deref()?)
}

/// `PasswordPolicyResponseValue ::= SEQUENCE { warning [0] CHOICE { timeBeforeExpiration [0]
/// INTEGER, graceAuthNsRemaining [1] INTEGER } OPTIONAL, error [1] ENUMERATED OPTIONAL }`,
/// read by hand: a few bytes of BER, bounded by their own lengths.
pub(crate) fn parse_policy(bytes: &[u8]) -> Option<Policy> {
    let (tag, body, _) = tlv(bytes)?;
    if tag != 0x30 {
        return None;
    }
    let mut policy = Policy::default();
    let mut rest = body;
    while !rest.is_empty() {
        let (tag, value, after) = tlv(rest)?;
        match tag {
            0xa0 => {
                let (inner, number, _) = tlv(value)?;
                match inner {
                    0x80 => policy.expires_in = Some(unsigned(number)?),
                    0x81 => policy.grace_left = Some(unsigned(number)?),
                    _ => {}
                }
            }
            0x81 => policy.error = Some(unsigned(value)?),
            _ => {}
        }
        rest = after;
    }
    Some(policy)
}

/// One BER tag-length-value (short tags, definite lengths): the tag, the value, the rest.
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count].iter().fold(0usize, |n, b| n << 8 | usize::from(*b));
        (length, &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// A small non-negative BER integer.
fn unsigned(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 || bytes[0] & 0x80 != 0 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b)))
}

fn policy_error(code: u64) -> &'static str {
    match code {
        0 => "the password has expired",
        1 => "the account is locked",
        2 => "the password was reset and must be changed first",
        _ => "the password policy refuses it",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult { rc, matched: String::new(), text: text.into(), refs: vec![], ctrls: vec![] }
    }

    #[test]
    fn active_directory_sub_codes_are_said_in_words() {
        let text = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775, v3839";
        assert_eq!(bind_refused(&result(49, text), true), "the bind was refused: the account is locked out (AD 775)");
        assert_eq!(ad_subcode("AcceptSecurityContext error, data 52e, v4563"), Some("wrong password (AD 52e)"));
        for code in ["525", "52e", "530", "531", "532", "533", "701", "773", "775"] {
            assert!(ad_subcode(&format!("comment: x, data {code}, v1")).is_some(), "{code}");
        }
        assert_eq!(ad_subcode("data 999, v1"), None);
        assert!(bind_refused(&result(49, ""), true).contains("invalid credentials"));
    }

    #[test]
    fn password_policy_controls_are_read() {
        // error: accountLocked (1)
        assert_eq!(parse_policy(&[0x30, 0x03, 0x81, 0x01, 0x01]), Some(Policy { error: Some(1), ..Policy::default() }));
        // warning: timeBeforeExpiration 86400
        let warning = [0x30, 0x07, 0xa0, 0x05, 0x80, 0x03, 0x01, 0x51, 0x80];
        let policy = parse_policy(&warning).expect("parses");
        assert_eq!(policy.expires_in, Some(86_400));
        assert_eq!(policy.warning().as_deref(), Some("the password expires in 24 h"));
        assert_eq!(parse_policy(&[0x30, 0x05, 0x81]), None);
    }

    #[test]
    fn account_names_are_the_first_value() {
        assert_eq!(account_name("CN=svc-rounds,OU=Service,DC=clinic,DC=local"), "svc-rounds");
        assert_eq!(account_name("uid=svc,ou=people,dc=test"), "svc");
        assert_eq!(account_name("svc-rounds@clinic.local"), "svc-rounds@clinic.local");
    }

    #[test]
    fn paged_controls_round_trip() {
        let cookie = vec![7u8; 200];
        let control = paged_control(PAGE_SIZE, &cookie);
        let value = control.val.expect("a value");
        // Our request has the answer's shape: SEQUENCE { INTEGER, OCTET STRING }.
        assert_eq!(parse_paged(&value), Some(cookie));
        assert_eq!(parse_paged(&paged_control(PAGE_SIZE, &[]).val.expect("a value")), Some(Vec::new()));
        assert_eq!(parse_paged(&[0x30, 0x02, 0x02]), None);
    }

    proptest::proptest! {
        #[test]
        fn fuzz_paged_results_controls(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_paged(&bytes);
        }

        /// Whatever a server puts in the control, parsing never panics.
        #[test]
        fn fuzz_password_policy_controls(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_policy(&bytes).map(|p| p.warning());
        }

        #[test]
        fn fuzz_ad_diagnostics(text in ".{0,80}") {
            let _ = ad_subcode(&text);
        }
    }
}
