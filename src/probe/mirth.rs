//! `[[mirth]]`: the interface engine's channels (Mirth Connect, NextGen Connect, BridgeLink,
//! which share one REST API): each watched channel is deployed and STARTED, its queue is
//! under the limit, and its error count has not grown since the last run.
//!
//! An MLLP port can acknowledge while 400 lab results sit queued behind a paused channel;
//! only the engine's own dashboard says so. This reads the same statuses the Administrator's
//! dashboard shows: `GET /api/channels/statuses`, after `POST /api/users/_login` (the
//! session cookie), or with basic authentication where the engine or a proxy in front of it
//! takes it. Every request carries `X-Requested-With`, which the engine requires since 3.12,
//! and `Accept: application/json`. A session is logged out at the end: the engine keeps an
//! idle API session for a very long time, and a check every five minutes would pile them up.
//!
//! The JSON is the engine's XStream model converted from XML, with its quirks: a list of one
//! is an object rather than an array, an empty list is an empty string, and numbers may come
//! as strings. [`channels`] reads all of those.
//!
//! New errors are counted against the last run's counts, kept in the state file
//! ([`Recall`]); error counts that went down (statistics reset, channel redeployed) count
//! from zero.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use toml::Spanned;

use crate::certs::{ClientSpec, Trust};
use crate::config::common::{PinsWritten, TrustKeys};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Facts, Outcome, Recall, Status};
use crate::probe::http::{describe_reqwest, parse_url, status_text};
use crate::probe::kind::{Budget, RunProbe};
use crate::secrets::percent_encode;

/// A statuses answer for a few hundred channels with their connectors is some hundred
/// kilobytes; a server streaming more is cut off rather than filling memory.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Any value will do: the engine only requires the header to be present (a CSRF guard).
const REQUESTED_WITH: &str = "rounds";

check_table! {
    /// `[[mirth]]` as written in the inventory.
    pub(crate) struct MirthTable {
        /// The engine's API base: "https://mirth.clinic.local:8443".
        base: Spanned<String>,
        /// An engine user allowed to view channels; use `${VAR}` for both.
        username: Spanned<String>,
        password: Spanned<String>,
        /// "session" (the default: log in, then the session cookie) or "basic".
        login: Option<Spanned<String>>,
        /// The channels to watch, by name; default: every deployed channel.
        channels: Option<Vec<Spanned<String>>>,
        /// More messages queued on a channel fails the check.
        max_queued: Option<u64>,
        /// More new errors on a channel since the last run fails the check.
        max_new_errors: Option<u64>,
        /// CAs for the engine's certificate (it is often the engine's own self-signed one).
        ca_file: Option<Spanned<String>>,
        /// The engine's key, "sha256//<base64>" (or a list), as with `[[endpoint]]`.
        pin: Option<Spanned<PinsWritten>>,
    }
}

impl Table for MirthTable {
    type Probe = MirthProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<MirthProbe>>, ConfigError> {
        let common = self.common();
        let mut base = parse_url(loader, &self.base)?;
        if base.username() != "" || base.password().is_some() || base.query().is_some() {
            return Err(loader.error(self.base.span(), "base is the engine's address only: give username and password"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let login = match self.login.as_ref().map(|l| (l, l.get_ref().as_str())) {
            None | Some((_, "session")) => Login::Session,
            Some((_, "basic")) => Login::Basic,
            Some((l, _)) => return Err(loader.error(l.span(), "login is \"session\" (the default) or \"basic\"")),
        };
        let channels = match self.channels {
            Some(list) if list.is_empty() => {
                return Err(loader.error(self.base.span(), "channels is empty: leave it out to watch every channel"))
            }
            Some(list) => Some(list.into_iter().map(Spanned::into_inner).collect()),
            None => None,
        };
        let (username, password) = (loader.expand(&self.username)?, loader.expand(&self.password)?);
        loader.basic_auth(&username, &password);
        let probe = MirthProbe {
            base,
            username,
            password,
            login,
            channels,
            max_queued: self.max_queued,
            max_new_errors: self.max_new_errors,
            trust: loader.trust(TrustKeys { ca_file: self.ca_file.as_ref(), pin: self.pin.as_ref() })?,
        };
        // The target is the base as written: `${VAR}` stays a placeholder.
        loader.single(&common, self.base.get_ref().clone(), probe)
    }
}

/// How rounds authenticates to the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Login {
    /// `POST /api/users/_login`, the session cookie, `POST /api/users/_logout`.
    Session,
    /// `Authorization: Basic` on the one request.
    Basic,
}

pub(crate) struct MirthProbe {
    /// The API base, without credentials: also the check's target.
    base: Url,
    username: String,
    password: String,
    login: Login,
    channels: Option<Vec<String>>,
    max_queued: Option<u64>,
    max_new_errors: Option<u64>,
    trust: Arc<Trust>,
}

impl std::fmt::Debug for MirthProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirthProbe")
            .field("base", &self.base.as_str())
            .field("login", &self.login)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// One channel as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Channel {
    pub id: String,
    pub name: String,
    pub state: String,
    /// `None` when the answer does not say: then nothing is judged on it, and a limit set
    /// on it warns rather than passes.
    pub queued: Option<u64>,
    pub errors: Option<u64>,
}

impl RunProbe for MirthProbe {
    fn kind(&self) -> &'static str {
        "mirth"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        self.run_recalling(budget, None).await
    }

    async fn run_recalling(&self, budget: Budget, earlier: Option<&Recall>) -> Outcome {
        let start = tokio::time::Instant::now();
        let read = tokio::time::timeout_at(budget.step_deadline(), self.read_statuses(budget)).await;
        let channels = match read {
            Ok(Ok(channels)) => channels,
            Ok(Err(why)) => return Outcome::fail(why),
            Err(_) => return Outcome::fail(format!("the engine did not answer in {}", budget.limit())),
        };
        let elapsed = human::duration(start.elapsed());
        self.judge(&channels, earlier, &elapsed)
    }
}

impl MirthProbe {
    fn client(&self, budget: Budget) -> Result<reqwest::Client, String> {
        // Interface engines sit on the clinic's own network: never through a proxy.
        let spec = ClientSpec {
            connect_timeout: Some(budget.timeout),
            ..ClientSpec::direct(self.base.origin().ascii_serialization())
        };
        let (client, _) = self.trust.http_client(&spec)?;
        Ok(client)
    }

    fn url(&self, path: &str) -> Result<Url, String> {
        self.base.join(path).map_err(|e| format!("cannot build the API URL: {e}"))
    }

    /// Logs in (when by session), reads the statuses, and logs out again.
    async fn read_statuses(&self, budget: Budget) -> Result<Vec<Channel>, String> {
        let client = self.client(budget)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert("x-requested-with", HeaderValue::from_static(REQUESTED_WITH));
        let session = match self.login {
            Login::Session => Some(self.log_in(&client, &headers).await?),
            Login::Basic => None,
        };
        let mut request = client.get(self.url("api/channels/statuses")?).headers(headers.clone());
        request = match &session {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request.basic_auth(&self.username, Some(&self.password)),
        };
        let read = self.statuses(request).await;
        if let Some(cookie) = session {
            // The answer is in hand; a failed logout only leaves a session to expire.
            let logout = client.post(self.url("api/users/_logout")?).headers(headers).header(COOKIE, cookie);
            let _ = tokio::time::timeout(Duration::from_secs(2), logout.send()).await;
        }
        read
    }

    /// `POST /api/users/_login`; the session cookie to send with the next requests.
    async fn log_in(&self, client: &reqwest::Client, headers: &HeaderMap) -> Result<HeaderValue, String> {
        let form = format!("username={}&password={}", percent_encode(&self.username), percent_encode(&self.password));
        let response = client
            .post(self.url("api/users/_login")?)
            .headers(headers.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| describe_reqwest(&e))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                return Err("the engine refused the login: wrong username or password".to_owned())
            }
            StatusCode::NOT_FOUND => return Err(no_api(&self.base)),
            other => return Err(format!("the login answered {}", status_text(other))),
        }
        let cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next().filter(|pair| pair.trim_start().starts_with("JSESSIONID=")));
        let cookie =
            cookie.ok_or("the login succeeded, but the engine set no session cookie (try login = \"basic\")")?;
        HeaderValue::from_str(cookie.trim()).map_err(|_| "the engine's session cookie is not a valid header".to_owned())
    }

    /// Sends the statuses request and reads the channels from the answer.
    async fn statuses(&self, request: reqwest::RequestBuilder) -> Result<Vec<Channel>, String> {
        let mut response = request.send().await.map_err(|e| describe_reqwest(&e))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                return Err(match self.login {
                    Login::Basic => {
                        "the engine refused basic authentication (wrong password, or use login = \"session\")"
                            .to_owned()
                    }
                    Login::Session => "the engine refused the session it had just opened".to_owned(),
                })
            }
            StatusCode::FORBIDDEN => {
                return Err("the engine's user may not view channel statuses (403 Forbidden)".to_owned())
            }
            StatusCode::NOT_FOUND => return Err(no_api(&self.base)),
            other => return Err(format!("the channel statuses answered {}", status_text(other))),
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe_reqwest(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(format!("the channel statuses run past {} without ending", human::size(MAX_BODY as u64)));
            }
        }
        let json: Value = serde_json::from_slice(&body)
            .map_err(|_| "the channel statuses are not JSON (is this a Mirth or NextGen Connect API?)".to_owned())?;
        channels(&json)
    }

    /// The verdict over the watched channels: every problem is named, the worst decides.
    fn judge(&self, all: &[Channel], earlier: Option<&Recall>, elapsed: &str) -> Outcome {
        let watched: Vec<&Channel> = match &self.channels {
            None => all.iter().collect(),
            Some(names) => all.iter().filter(|c| names.contains(&c.name)).collect(),
        };
        let mut status = Status::Pass;
        let mut problems = Vec::new();
        let mut flag = |s: Status, text: String| {
            status = status.worst(s);
            problems.push(text);
        };
        for missing in self.channels.iter().flatten().filter(|n| !all.iter().any(|c| &c.name == *n)) {
            flag(Status::Fail, format!("'{missing}' is not deployed"));
        }
        for channel in &watched {
            match channel.state.as_str() {
                "STARTED" => {}
                // On its way somewhere: said, but not yet a failure.
                "STARTING" | "DEPLOYING" | "SYNCING" => {
                    flag(Status::Warn, format!("'{}' is {}", channel.name, channel.state))
                }
                state => flag(Status::Fail, format!("'{}' is {state}", channel.name)),
            }
            match (self.max_queued, channel.queued) {
                (Some(limit), Some(queued)) if queued > limit => {
                    flag(Status::Fail, format!("{queued} messages queued on '{}', limit {limit}", channel.name))
                }
                (Some(_), None) => flag(Status::Warn, format!("'{}' reports no queue: not checked", channel.name)),
                _ => {}
            }
            if self.max_new_errors.is_some() && channel.errors.is_none() {
                flag(Status::Warn, format!("'{}' reports no statistics: new errors not checked", channel.name));
            }
            if let Some((new, since)) = new_errors(channel, earlier) {
                if self.max_new_errors.is_some_and(|limit| new > limit) {
                    let errors = if new == 1 { "1 new error".to_owned() } else { format!("{new} new errors") };
                    flag(Status::Fail, format!("{errors} on '{}' since {}", channel.name, human::moment(since)));
                }
            }
        }
        let counters = all.iter().filter_map(|c| Some((counter_key(c), c.errors?))).collect();
        let facts = Facts { counters, ..Facts::default() };
        if watched.is_empty() && problems.is_empty() {
            return Outcome::fail(format!("the engine answered in {elapsed}, but has no channel deployed"))
                .with_facts(facts);
        }
        if !status.is_healthy() {
            return Outcome::new(status, problems.join("; ")).with_facts(facts);
        }
        Outcome::pass(self.summary(&watched, earlier, elapsed)).with_facts(facts)
    }

    /// "3 channels STARTED, 12 messages queued, no new errors since 2026-11-25 06:30 UTC".
    fn summary(&self, watched: &[&Channel], earlier: Option<&Recall>, elapsed: &str) -> String {
        let count = match watched.len() {
            1 => format!("'{}' STARTED", watched[0].name),
            n => format!("{n} channels STARTED"),
        };
        let queued: u64 = watched.iter().filter_map(|c| c.queued).sum();
        let queued = if queued == 1 { "1 message queued".to_owned() } else { format!("{queued} messages queued") };
        let new: Vec<(u64, std::time::SystemTime)> = watched.iter().filter_map(|c| new_errors(c, earlier)).collect();
        let errors = match (new.first(), new.iter().map(|(n, _)| n).sum::<u64>()) {
            (None, _) => "error counts recorded for the next run".to_owned(),
            (Some((_, since)), 0) => format!("no new errors since {}", human::moment(*since)),
            (Some((_, since)), n) => format!("{n} new errors since {} (within the limit)", human::moment(*since)),
        };
        format!("engine answered in {elapsed}: {count}, {queued}, {errors}")
    }
}

/// The key under which a channel's error count is remembered: its id, which survives a
/// rename.
fn counter_key(channel: &Channel) -> String {
    format!("errors {}", channel.id)
}

/// Errors since the last run that counted this channel, and when that was; a count that went
/// down (statistics reset, channel redeployed) counts from zero.
fn new_errors(channel: &Channel, earlier: Option<&Recall>) -> Option<(u64, std::time::SystemTime)> {
    let earlier = earlier?;
    let (errors, before) = (channel.errors?, *earlier.counters.get(&counter_key(channel))?);
    let new = if errors >= before { errors - before } else { errors };
    Some((new, earlier.at))
}

fn no_api(base: &Url) -> String {
    format!("no engine API at {}api (the Administrator's port, usually 8443?)", crate::probe::http::shown_url(base))
}

/// The channels of a `GET /api/channels/statuses` answer: `{"list": {"dashboardStatus":
/// [...]}}`, where a single channel comes as an object and none as `""` or `null`.
fn channels(json: &Value) -> Result<Vec<Channel>, String> {
    let Some(list) = json.get("list") else {
        return Err("the channel statuses have no list: not a Mirth or NextGen Connect answer".into());
    };
    let statuses = match list {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) if s.trim().is_empty() => return Ok(Vec::new()),
        Value::Object(map) => map.get("dashboardStatus").map(one_or_many).unwrap_or_default(),
        _ => return Err("the channel statuses' list is not a list".into()),
    };
    statuses.into_iter().map(channel).collect()
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        single => vec![single],
    }
}

/// A number that XStream's JSON may give as a number or as a string.
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn channel(status: &Value) -> Result<Channel, String> {
    let text = |key: &str| status.get(key).and_then(Value::as_str).map(str::to_owned);
    let name = text("name").ok_or("a channel status without a name")?;
    let state = text("state").ok_or_else(|| format!("the status of '{name}' has no state"))?;
    // An ERROR entry is missing when the engine has counted none; no statistics at all is
    // not knowing.
    let errors = match status.get("statistics") {
        Some(statistics) => {
            let entries = statistics.get("entry").map(one_or_many).unwrap_or_default();
            let error = entries
                .into_iter()
                .find(|e| e.as_object().is_some_and(|o| o.values().any(|v| v.as_str() == Some("ERROR"))));
            let count = error.map_or(Some(0), |entry| number(entry.get("long")));
            Some(count.ok_or_else(|| format!("the error count of '{name}' is not a number"))?)
        }
        None => None,
    };
    Ok(Channel {
        id: text("channelId").unwrap_or_else(|| name.clone()),
        queued: number(status.get("queued")),
        errors,
        name,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape NextGen Connect 4.x answers with (XStream model converted to JSON): two
    /// channels, the second PAUSED with a queue.
    const TWO_CHANNELS: &str = r#"{"list":{"dashboardStatus":[
        {"@class":"com.mirth.connect.model.DashboardStatus","channelId":"a1","name":"ADT to LIS","state":"STARTED",
         "statistics":{"@class":"java.util.EnumMap","@enum-type":"com.mirth.connect.donkey.model.message.Status",
           "entry":[{"com.mirth.connect.donkey.model.message.Status":"RECEIVED","long":120},
                    {"com.mirth.connect.donkey.model.message.Status":"ERROR","long":3}]},
         "queued":0,"statusType":"CHANNEL"},
        {"@class":"com.mirth.connect.model.DashboardStatus","channelId":"b2","name":"ORU from lab","state":"PAUSED",
         "statistics":{"entry":{"com.mirth.connect.donkey.model.message.Status":"RECEIVED","long":"40"}},
         "queued":"412","statusType":"CHANNEL"}]}}"#;

    #[test]
    fn xstream_json_quirks_are_read() {
        let read = channels(&serde_json::from_str(TWO_CHANNELS).unwrap()).unwrap();
        assert_eq!(
            read[0],
            Channel {
                id: "a1".into(),
                name: "ADT to LIS".into(),
                state: "STARTED".into(),
                queued: Some(0),
                errors: Some(3)
            }
        );
        assert_eq!((read[1].queued, read[1].errors, read[1].state.as_str()), (Some(412), Some(0), "PAUSED"));
        let single = r#"{"list":{"dashboardStatus":{"channelId":"c","name":"Only","state":"STOPPED"}}}"#;
        assert_eq!(channels(&serde_json::from_str(single).unwrap()).unwrap().len(), 1);
        assert!(channels(&serde_json::from_str(r#"{"list":""}"#).unwrap()).unwrap().is_empty());
        assert!(channels(&serde_json::from_str(r#"{"channels":[]}"#).unwrap()).is_err());
    }

    #[test]
    fn fewer_errors_than_before_count_from_zero() {
        let channel =
            Channel { id: "a".into(), name: "A".into(), state: "STARTED".into(), queued: Some(0), errors: Some(2) };
        let at = std::time::UNIX_EPOCH;
        let recall = |n| Recall { at, counters: [(counter_key(&channel), n)].into() };
        assert_eq!(new_errors(&channel, Some(&recall(5))), Some((2, at)));
        assert_eq!(new_errors(&channel, Some(&recall(1))), Some((1, at)));
        assert_eq!(new_errors(&channel, None), None);
    }

    /// An answer that does not say a channel's queue or error count is not a pass on them.
    #[test]
    fn limits_on_counts_the_engine_does_not_give_warn() {
        let json = r#"{"list":{"dashboardStatus":{"channelId":"c","name":"Bare","state":"STARTED"}}}"#;
        let bare = channels(&serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!((bare[0].queued, bare[0].errors), (None, None));
        let probe = MirthProbe {
            base: Url::parse("https://mirth.clinic.local:8443/").unwrap(),
            username: "u".into(),
            password: "p".into(),
            login: Login::Session,
            channels: None,
            max_queued: Some(50),
            max_new_errors: Some(0),
            trust: Arc::new(Trust::system()),
        };
        let outcome = probe.judge(&bare, None, "5 ms");
        assert_eq!(outcome.status, Status::Warn);
        assert_eq!(
            outcome.detail,
            "'Bare' reports no queue: not checked; 'Bare' reports no statistics: new errors not checked"
        );
        assert!(outcome.facts.counters.is_empty());
        let unjudged = MirthProbe { max_queued: None, max_new_errors: None, ..probe };
        assert_eq!(unjudged.judge(&bare, None, "5 ms").status, Status::Pass);
    }
}
