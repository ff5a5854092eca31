//! `[[sql]]`: the database answers, and data is still flowing in ("lab results arriving").
//!
//! One query, run read-only: the first column of the first row is judged (its age, its text)
//! and the rows are counted, up to a bound. PostgreSQL speaks through tokio-postgres
//! ([`postgres`]); MariaDB and MySQL through a small client of our own ([`mysql`]), as no
//! maintained crate takes our own rustls configuration. Both connect over a TCP stream made
//! here, within the check's budget, and both do TLS with rounds' own `ClientConfig`, so the
//! certificate is recorded and judged as on `[[tls]]` (trust, pins, days left, revocation).
//!
//! Ages are computed by the database itself (its own clock, its session's time zone for a
//! timestamp written without one), so a clock difference between this host and the database
//! never reads as stale data.

mod mysql;
mod postgres;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use toml::Spanned;

use crate::certs::{self, CertLimits, Recorder, Trust};
use crate::config::values::{HumanDuration, Port};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Outcome, Status};
use crate::probe::crl::revocation_verdict;
use crate::probe::kind::{Budget, RunProbe};
use crate::secrets::percent_decode;

check_table! {
    /// `[[sql]]` as written in the inventory.
    pub(crate) struct SqlTable with certificate {
        /// postgres://user:password@host:5432/db or mysql://user:password@host:3306/db
        /// (mariadb:// too); usually a whole `${VAR}`.
        url: Spanned<String>,
        /// Default "SELECT 1".
        query: Option<Spanned<String>>,
        /// The first column of the first row is a timestamp: older than this fails.
        max_age: Option<Spanned<HumanDuration>>,
        /// Older than this warns.
        warn_age: Option<Spanned<HumanDuration>>,
        /// Fewer rows fail.
        min_rows: Option<Spanned<u64>>,
        /// More rows fail.
        max_rows: Option<Spanned<u64>>,
        /// The first column of the first row, as text, must be this.
        equals: Option<String>,
        /// disable | require | verify-full (default: the URL's sslmode, else require).
        tls: Option<Spanned<String>>,
    }
}

/// The most rows ever read of one answer: counting stops there.
const MAX_ROWS_READ: u64 = 100_000;
/// A timestamp this far ahead of the database's clock is still "now" (a row written by an
/// application server whose clock runs a little ahead).
const FUTURE_TOLERANCE: f64 = 5.0;
/// At most this much of a server's own message reaches the detail.
const MAX_SHOWN: usize = 200;

/// The database engines `[[sql]]` speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Postgres,
    Mysql,
}

impl Engine {
    fn of_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::Mysql),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::Mysql => 3306,
        }
    }
}

/// `tls = ...`: libpq's meanings. `require` encrypts and shows the certificate without
/// judging its chain or name; `verify-full` judges it as `[[tls]]` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Disable,
    Require,
    VerifyFull,
}

impl TlsMode {
    /// A value of `tls`, of libpq's `sslmode` or of MySQL's `ssl-mode`. `prefer` and `allow`
    /// count as require (rounds never falls back to plain text silently); `verify-ca` as
    /// verify-full (never weaker than written).
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => Some(Self::Disable),
            "require" | "required" | "prefer" | "preferred" | "allow" => Some(Self::Require),
            "verify-full" | "verify-identity" | "verify-ca" => Some(Self::VerifyFull),
            _ => None,
        }
    }
}

impl Table for SqlTable {
    type Probe = SqlProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<SqlProbe>>, ConfigError> {
        let common = self.common();
        let expect = self.expectations(loader)?;
        let query = self.query.as_ref().map_or("SELECT 1", |q| q.get_ref().trim()).to_owned();
        if query.is_empty() {
            let span = self.query.as_ref().map(Spanned::span).unwrap_or_default();
            return Err(loader.error(span, "query is empty: leave it out for SELECT 1"));
        }
        if let Some(v) = &self.min_tls {
            return Err(loader.error(v.span(), "min_tls is for TLS ports; a database upgrades a plain connection"));
        }
        let Some(text) = loader.expand_url(&self.url)? else {
            // The variable is not set: `check` refuses to run and names it; `list` and `ack`
            // show the check by what was written.
            let probe = SqlProbe { engine: Engine::Postgres, server: None, query, expect };
            return loader.single(&common, self.url.get_ref().trim().to_owned(), probe);
        };
        let (engine, server, target) = self.server(loader, &text)?;
        loader.single(&common, target, SqlProbe { engine, server: Some(server), query, expect })
    }
}

impl SqlTable {
    fn expectations(&self, loader: &Loader) -> Result<Expect, ConfigError> {
        let max_age = self.max_age.as_ref().map(|m| m.get_ref().0);
        if let Some(warn) = &self.warn_age {
            match max_age {
                None => return Err(loader.error(warn.span(), "warn_age needs max_age")),
                Some(max) if warn.get_ref().0 >= max => {
                    return Err(loader.error(warn.span(), "warn_age must be less than max_age"))
                }
                Some(_) => {}
            }
        }
        let min_rows = self.min_rows.as_ref().map(|m| *m.get_ref());
        if let (Some(max), Some(min)) = (&self.max_rows, min_rows) {
            if *max.get_ref() < min {
                return Err(loader.error(max.span(), format!("max_rows is below min_rows ({min})")));
            }
        }
        for value in [&self.min_rows, &self.max_rows].into_iter().flatten() {
            if *value.get_ref() >= MAX_ROWS_READ {
                return Err(loader.error(value.span(), format!("rounds counts at most {MAX_ROWS_READ} rows")));
            }
        }
        Ok(Expect {
            max_age,
            warn_age: self.warn_age.as_ref().map(|w| w.get_ref().0),
            min_rows,
            max_rows: self.max_rows.as_ref().map(|m| *m.get_ref()),
            equals: self.equals.clone(),
        })
    }

    /// The server, account and TLS from the expanded URL, and the target shown (the URL
    /// without its password). Errors never quote the expanded URL: it holds a password.
    fn server(&self, loader: &mut Loader, text: &str) -> Result<(Engine, Server, String), ConfigError> {
        let span = self.url.span();
        let url = reqwest::Url::parse(text.trim()).map_err(|e| {
            loader.error(span.clone(), format!("invalid URL: {e}; write it like \"postgres://user:password@host/db\""))
        })?;
        let Some(engine) = Engine::of_scheme(url.scheme()) else {
            return Err(loader.error(
                span,
                format!(
                    "unsupported database {:?}: url is postgres://, mysql:// or mariadb:// (Microsoft SQL Server is not \
                     supported)",
                    url.scheme()
                ),
            ));
        };
        let host = match url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']')) {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => return Err(loader.error(span, "the URL names no host")),
        };
        let port = match url.port() {
            Some(p) => Port::new(p).map_err(|why| loader.error(span.clone(), why))?.0,
            None => engine.default_port(),
        };
        let user = percent_decode(url.username());
        if user.is_empty() {
            return Err(loader.error(span, "the URL names no user: write scheme://user:password@host/db"));
        }
        let password = url.password().map(percent_decode).unwrap_or_default();
        let path = url.path().trim_start_matches('/');
        if path.contains('/') || url.fragment().is_some() {
            return Err(loader.error(span, "the URL's path is the database name only, like /lab"));
        }
        let database = Some(percent_decode(path)).filter(|d| !d.is_empty());
        let mut written_mode = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" | "ssl-mode" | "ssl_mode" => {
                    let mode = TlsMode::parse(&value).ok_or_else(|| {
                        loader.error(span.clone(), format!("the URL's {key} {value:?} is not one rounds knows"))
                    })?;
                    written_mode = Some(mode);
                }
                other => {
                    return Err(loader.error(
                        span.clone(),
                        format!(
                        "the URL's {other:?} is not a parameter rounds takes: give ca_file, tls and timeout as keys"
                    ),
                    ))
                }
            }
        }
        let mode = match &self.tls {
            Some(t) => TlsMode::parse(t.get_ref())
                .filter(|_| matches!(t.get_ref().trim(), "disable" | "require" | "verify-full"))
                .ok_or_else(|| loader.error(t.span(), "tls is \"disable\", \"require\" or \"verify-full\""))?,
            None => written_mode.unwrap_or(TlsMode::Require),
        };
        let tls = match mode {
            TlsMode::Disable => {
                if let Some(key) = self.ca_file.as_ref().map(Spanned::span).or(self.pin.as_ref().map(Spanned::span)) {
                    return Err(loader.error(key, "ca_file and pin need TLS: tls is \"disable\" here"));
                }
                None
            }
            TlsMode::Require | TlsMode::VerifyFull => {
                let server_name = ServerName::try_from(host.clone())
                    .map_err(|_| loader.error(span.clone(), format!("{host:?} is not a valid host name for TLS")))?;
                Some(SqlTls {
                    verify: mode == TlsMode::VerifyFull,
                    trust: loader.trust(self.trust_keys())?,
                    limits: loader.cert_limits(self.cert_keys())?,
                    check_revocation: self.check_revocation,
                    server_name,
                })
            }
        };
        let shown_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let target =
            format!("{}://{}@{shown_host}:{port}/{}", url.scheme(), url.username(), url.path().trim_start_matches('/'));
        Ok((engine, Server { host, port, user, password, database, tls }, target))
    }
}

/// What the answer must show.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expect {
    pub max_age: Option<Duration>,
    pub warn_age: Option<Duration>,
    pub min_rows: Option<u64>,
    pub max_rows: Option<u64>,
    pub equals: Option<String>,
}

impl Expect {
    /// How many rows to read at most: one past max_rows, enough for min_rows, at least one.
    fn row_bound(&self) -> u64 {
        let over = self.max_rows.map_or(1, |m| m.saturating_add(1));
        over.max(self.min_rows.unwrap_or(1)).clamp(1, MAX_ROWS_READ)
    }

    /// Whether the first value must be there (a timestamp, or text to compare).
    fn needs_value(&self) -> bool {
        self.max_age.is_some() || self.equals.is_some()
    }
}

/// Where the database is and who logs in. The password never reaches `Debug` or a report.
pub(crate) struct Server {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: Option<String>,
    pub tls: Option<SqlTls>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct SqlTls {
    /// verify-full: the chain and name are judged; require: only shown (and pins applied).
    pub verify: bool,
    pub trust: Arc<Trust>,
    pub limits: CertLimits,
    pub check_revocation: bool,
    pub server_name: ServerName<'static>,
}

#[derive(Debug)]
pub(crate) struct SqlProbe {
    pub engine: Engine,
    /// `None` when the URL's variable is not set (the run refuses to start then).
    pub server: Option<Server>,
    pub query: String,
    pub expect: Expect,
}

/// What the engines are given for one check.
pub(super) struct Ask<'a> {
    pub server: &'a Server,
    pub query: &'a str,
    /// Read at most this many rows.
    pub row_bound: u64,
    /// Ask the database for the first value's age.
    pub want_age: bool,
    /// Ask for the first value's text (`equals`); engines that read text anyway give it always.
    pub want_text: bool,
    /// Our TLS configuration (recording), when TLS is on.
    pub tls: Option<Arc<ClientConfig>>,
    /// Set once logged in: a timeout after it is "while querying".
    pub connected: &'a AtomicBool,
    pub budget: Budget,
}

impl Ask<'_> {
    /// The database's own limit for one statement: well inside the check's, so the server
    /// stops the work itself (no query left running) and says so before we give up.
    pub fn statement_timeout(&self) -> Duration {
        let left = self.budget.step_remaining();
        left.saturating_sub(left / 5 + Duration::from_millis(50)).max(Duration::from_millis(1))
    }
}

/// What the query answered.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    /// Rows read (at most the bound).
    pub rows: u64,
    pub first: First,
}

/// The first column of the first row.
#[derive(Debug, Default)]
pub(crate) enum First {
    #[default]
    NoRow,
    Null,
    Value {
        text: String,
        /// Seconds since the value, by the database's clock, when asked for; `Err` when the
        /// value is not a timestamp.
        age: Option<Result<f64, String>>,
    },
}

/// Why the check failed: before the connection (and its TLS) was up, or after.
#[derive(Debug)]
pub(super) enum Failed {
    Connecting(String),
    Connected(String),
}

/// The words for a server without TLS when TLS is asked for.
pub(super) const NO_TLS: &str =
    "the database does not offer TLS; write tls = \"disable\" if it is reached over a trusted network";

/// A server's own message, short and on one line.
pub(super) fn shown(text: &str) -> String {
    text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_SHOWN).collect()
}

impl RunProbe for SqlProbe {
    fn kind(&self) -> &'static str {
        "sql"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let Some(server) = &self.server else { return Outcome::fail("the url's environment variable is not set") };
        let start = tokio::time::Instant::now();
        let connecting =
            tokio::time::timeout_at(budget.step_deadline(), super::net::connect(&server.host, server.port));
        let stream = match connecting.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(why)) => return Outcome::fail(why),
            Err(_) => return Outcome::fail(format!("timeout while connecting: no connection in {}", budget.limit())),
        };
        let (answer, recorder) = self.ask(server, stream, budget).await;
        let verdict = recorder.as_deref().and_then(|r| self.verdict(server, r));
        match (answer, verdict) {
            (Ok(answer), _) => {
                let outcome = judge(&self.expect, &answer, start.elapsed());
                self.with_certificate(server, outcome, recorder.as_deref(), budget).await
            }
            // A certificate that fails is why the TLS connection failed.
            (Err(Failed::Connecting(_)), Some(v)) if v.status.is_failure() => Outcome::fail(v.text),
            (Err(Failed::Connected(why)), Some(v)) => v.joined_to(Outcome::fail(why)),
            (Err(Failed::Connecting(why) | Failed::Connected(why)), _) => Outcome::fail(why),
        }
    }
}

impl SqlProbe {
    /// Logs in and runs the query before the step deadline; the recorder holds the
    /// certificate shown over TLS.
    async fn ask(
        &self,
        server: &Server,
        stream: tokio::net::TcpStream,
        budget: Budget,
    ) -> (Result<Answer, Failed>, Option<Arc<Recorder>>) {
        let (tls, recorder) = match &server.tls {
            None => (None, None),
            Some(t) => {
                let made = match t.verify {
                    true => t.trust.recording_config(),
                    false => t.trust.recording_config_unverified(),
                };
                match made {
                    Ok((config, recorder)) => (Some(Arc::new(config)), Some(recorder)),
                    Err(why) => return (Err(Failed::Connecting(why)), None),
                }
            }
        };
        let connected = AtomicBool::new(false);
        let ask = Ask {
            server,
            query: &self.query,
            row_bound: self.expect.row_bound(),
            want_age: self.expect.max_age.is_some(),
            want_text: self.expect.equals.is_some(),
            tls,
            connected: &connected,
            budget,
        };
        let work = async {
            match self.engine {
                Engine::Postgres => postgres::ask(&ask, stream).await,
                Engine::Mysql => mysql::ask(&ask, stream).await,
            }
        };
        let answer = match tokio::time::timeout_at(budget.step_deadline(), work).await {
            Ok(answer) => answer,
            Err(_) if connected.load(Ordering::Relaxed) => {
                Err(Failed::Connected(format!("timeout while querying: no answer in {}", budget.limit())))
            }
            Err(_) => Err(Failed::Connecting(format!(
                "timeout while connecting: the database did not finish logging in within {}",
                budget.limit()
            ))),
        };
        (answer, recorder)
    }

    /// The certificate's verdict: under `require`, chain and name problems are not held
    /// against it (libpq's meaning); dates, weak keys and pins still are.
    fn verdict(&self, server: &Server, recorder: &Recorder) -> Option<certs::CertVerdict> {
        let tls = server.tls.as_ref()?;
        let mut handshake = recorder.single()?;
        let pin_refuses = handshake.chain.first().is_some_and(|leaf| tls.trust.pin_refuses(leaf));
        let unverified = !tls.verify && !pin_refuses && handshake.error.take().is_some();
        let mut verdict = certs::assess(&handshake, tls.limits, SystemTime::now());
        if unverified {
            verdict.text.push_str(" (not verified: tls = \"require\")");
        }
        Some(verdict)
    }

    /// The outcome with the certificate's verdict joined, over TLS.
    async fn with_certificate(
        &self,
        server: &Server,
        outcome: Outcome,
        recorder: Option<&Recorder>,
        budget: Budget,
    ) -> Outcome {
        let (Some(tls), Some(recorder)) = (&server.tls, recorder) else { return outcome };
        let Some(verdict) = self.verdict(server, recorder) else {
            return Outcome::new(
                outcome.status.worst(Status::Warn),
                format!("{}; no certificate seen", outcome.detail),
            );
        };
        let joined = verdict.joined_to(outcome);
        if !tls.check_revocation {
            return joined;
        }
        let Some(handshake) = recorder.single() else { return joined };
        let (revocation, words) = revocation_verdict(&tls.trust, &handshake.chain, budget).await;
        let facts = joined.facts.clone();
        Outcome::new(joined.status.worst(revocation), format!("{}; {words}", joined.detail)).with_facts(facts)
    }
}

/// Judges an answer: the first value (no rows, age, text), then the row count.
pub(crate) fn judge(expect: &Expect, answer: &Answer, elapsed: Duration) -> Outcome {
    let took = human::duration(elapsed);
    let mut said = Vec::new();
    let mut status = Status::Pass;
    if expect.needs_value() {
        let (text, age) = match &answer.first {
            First::NoRow => return Outcome::fail(format!("no rows: the query returned none ({took})")),
            First::Null => return Outcome::fail(format!("no rows: the query answered NULL ({took})")),
            First::Value { text, age } => (text, age),
        };
        if let Some(expected) = &expect.equals {
            if text != expected {
                return Outcome::fail(format!("the query answered {:?}, expected {expected:?}", shown(text)));
            }
            said.push(format!("answered {expected:?}"));
        }
        if let Some(max) = expect.max_age {
            let age = match age {
                Some(Ok(age)) => *age,
                Some(Err(why)) => return Outcome::fail(why.clone()),
                None => return Outcome::fail("the database did not say how old the value is"),
            };
            let (phrase, age_status) = age_words(age, max, expect.warn_age);
            status = status.worst(age_status);
            said.push(phrase);
        }
    }
    let rows = answer.rows;
    let row_words = |n: u64| if n == 1 { "1 row".to_owned() } else { format!("{n} rows") };
    if let Some(max) = expect.max_rows.filter(|max| rows > *max) {
        return Outcome::fail(format!("more than max_rows ({max}) rows: {} or more", row_words(rows)));
    }
    if let Some(min) = expect.min_rows.filter(|min| rows < *min) {
        return Outcome::fail(format!("only {} (min_rows {min})", row_words(rows)));
    }
    if expect.min_rows.is_some() || expect.max_rows.is_some() {
        said.push(row_words(rows));
    }
    match said.is_empty() {
        true => Outcome::new(status, format!("answered in {took}")),
        false => Outcome::new(status, format!("{}, {took}", said.join(", "))),
    }
}

/// "newest row 3 min old (limit 15 min)", and whether that passes, warns or fails.
fn age_words(age: f64, max: Duration, warn: Option<Duration>) -> (String, Status) {
    if age < -FUTURE_TOLERANCE {
        let ahead = human::age(Duration::from_secs_f64((-age).min(1e9)));
        return (
            format!("newest row is {ahead} in the future (clock skew between writer and database?)"),
            Status::Warn,
        );
    }
    let age = Duration::from_secs_f64(age.clamp(0.0, 1e12));
    let (shown_age, limit) = (human::age(age), human::limit(max));
    if age > max {
        return (format!("newest row {shown_age} old (limit {limit})"), Status::Fail);
    }
    match warn.filter(|w| age > *w) {
        Some(w) => (format!("newest row {shown_age} old (warn_age {}, limit {limit})", human::limit(w)), Status::Warn),
        None => (format!("newest row {shown_age} old (limit {limit})"), Status::Pass),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(age: f64) -> Answer {
        Answer { rows: 1, first: First::Value { text: "x".into(), age: Some(Ok(age)) } }
    }

    #[test]
    fn ages_are_judged_against_the_limits() {
        let expect = Expect {
            max_age: Some(Duration::from_secs(900)),
            warn_age: Some(Duration::from_secs(600)),
            ..Expect::default()
        };
        let ms = Duration::from_millis(4);
        let pass = judge(&expect, &value(180.0), ms);
        assert_eq!((pass.status, pass.detail.as_str()), (Status::Pass, "newest row 3 min old (limit 15 min), 4.0 ms"));
        assert_eq!(judge(&expect, &value(700.0), ms).status, Status::Warn);
        let stale = judge(&expect, &value(4000.0), ms);
        assert_eq!(
            (stale.status, stale.detail.as_str()),
            (Status::Fail, "newest row 66 min old (limit 15 min), 4.0 ms")
        );
        let future = judge(&expect, &value(-3600.0), ms);
        assert_eq!(future.status, Status::Warn);
        assert!(future.detail.contains("in the future"), "{}", future.detail);
        assert_eq!(judge(&expect, &value(-1.0), ms).status, Status::Pass);
        let null = judge(&expect, &Answer { rows: 1, first: First::Null }, ms);
        assert_eq!((null.status, null.detail.as_str()), (Status::Fail, "no rows: the query answered NULL (4.0 ms)"));
        assert_eq!(judge(&expect, &Answer::default(), ms).status, Status::Fail);
    }

    #[test]
    fn rows_and_text_are_judged() {
        let ms = Duration::from_millis(12);
        let plain = judge(&Expect::default(), &Answer::default(), ms);
        assert_eq!((plain.status, plain.detail.as_str()), (Status::Pass, "answered in 12 ms"));
        let expect = Expect { min_rows: Some(2), max_rows: Some(3), ..Expect::default() };
        assert_eq!(expect.row_bound(), 4);
        assert_eq!(judge(&expect, &Answer { rows: 1, ..Answer::default() }, ms).detail, "only 1 row (min_rows 2)");
        assert_eq!(judge(&expect, &Answer { rows: 2, ..Answer::default() }, ms).status, Status::Pass);
        assert_eq!(judge(&expect, &Answer { rows: 4, ..Answer::default() }, ms).status, Status::Fail);
        let equals = Expect { equals: Some("ok".into()), ..Expect::default() };
        let text = |t: &str| Answer { rows: 1, first: First::Value { text: t.into(), age: None } };
        assert_eq!(judge(&equals, &text("ok"), ms).status, Status::Pass);
        let wrong = judge(&equals, &text("degraded\x1b[31m"), ms);
        assert_eq!(
            (wrong.status, wrong.detail.as_str()),
            (Status::Fail, "the query answered \"degraded [31m\", expected \"ok\"")
        );
    }

    #[test]
    fn tls_modes_follow_libpq() {
        assert_eq!(TlsMode::parse("prefer"), Some(TlsMode::Require));
        assert_eq!(TlsMode::parse("allow"), Some(TlsMode::Require));
        assert_eq!(TlsMode::parse("VERIFY_IDENTITY"), Some(TlsMode::VerifyFull));
        assert_eq!(TlsMode::parse("verify-ca"), Some(TlsMode::VerifyFull));
        assert_eq!(TlsMode::parse("DISABLED"), Some(TlsMode::Disable));
        assert_eq!(TlsMode::parse("sometimes"), None);
    }
}
