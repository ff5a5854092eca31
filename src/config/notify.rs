//! `[[notify]]`: who is told when something changes (Teams, Slack, ntfy, a webhook).
//!
//! Read here with file:line:col errors; what is news and how it travels is `crate::notify`'s.
//! The URL, the ntfy token and the webhook secret are secrets: remembered for redaction and
//! never shown (the `Debug` of [`Notifier`] leaves them out).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::loader::Loader;
use super::selector::Selector;
use crate::certs::Proxy;
use crate::outcome::Severity;

/// A notifier waits this long for its service by default.
pub(crate) const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REMIND_EVERY: Duration = Duration::from_secs(30 * 86_400);

/// `[[notify]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyTable {
    name: Spanned<String>,
    kind: Spanned<String>,
    url: Spanned<String>,
    on: Option<Vec<Spanned<String>>>,
    remind_every: Option<Spanned<String>>,
    #[serde(default)]
    checks: Vec<Spanned<String>>,
    min_severity: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    proxy: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    secret: Option<Spanned<String>>,
    /// A private CA the service's certificate is issued by (a self-hosted ntfy).
    ca_file: Option<Spanned<String>>,
}

/// Which service a notifier speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotifyKind {
    Teams,
    Slack,
    Ntfy,
    Webhook,
}

/// Which changes a notifier is told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct On {
    pub new: bool,
    pub recovered: bool,
    pub still_failing: bool,
}

/// A validated `[[notify]]`.
#[derive(Clone)]
pub(crate) struct Notifier {
    pub name: String,
    pub kind: NotifyKind,
    pub url: reqwest::Url,
    pub on: On,
    /// Ongoing problems are told again at most this often (with `still_failing`); every run
    /// when unset.
    pub remind_every: Option<Duration>,
    /// Empty: every check.
    pub checks: Vec<Selector>,
    /// The names of the checks `checks` selects, filled in once the whole inventory is known;
    /// `None` for every check.
    pub covers: Option<Vec<String>>,
    /// Only checks at least this severe (`Critical` lets only critical checks through).
    pub min_severity: Severity,
    pub timeout: Duration,
    pub proxy: Proxy,
    pub token: Option<String>,
    pub secret: Option<String>,
    /// The system's CAs, plus `ca_file`'s.
    pub trust: std::sync::Arc<crate::certs::Trust>,
}

/// Written by hand: the URL, token and secret are secrets.
impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("on", &self.on)
            .field("timeout", &self.timeout)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl NotifyTable {
    pub fn notifier(self, loader: &mut Loader) -> Result<Notifier, ConfigError> {
        let name = self.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(loader.error(self.name.span(), "a notifier needs a name"));
        }
        let kind = match self.kind.get_ref().trim() {
            "teams" => NotifyKind::Teams,
            "slack" => NotifyKind::Slack,
            "ntfy" => NotifyKind::Ntfy,
            "webhook" => NotifyKind::Webhook,
            "email" => return Err(loader.error(self.kind.span(), "kind \"email\" is not supported yet")),
            other => {
                return Err(loader.error(
                    self.kind.span(),
                    format!("unknown notifier kind {other:?}: teams, slack, ntfy or webhook"),
                ))
            }
        };
        let text = loader.expand(&self.url)?;
        // The URL is a secret however it was written (a Teams or Slack URL is its own key).
        loader.remember_secret("url", text.trim());
        // Never the URL's text in the error: it is a secret.
        let url = reqwest::Url::parse(text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| loader.error(self.url.span(), "url is an http:// or https:// URL"))?;
        let mut on = On::default();
        let written = self
            .on
            .unwrap_or_else(|| vec![Spanned::new(0..0, "new".to_owned()), Spanned::new(0..0, "recovered".to_owned())]);
        for item in &written {
            match item.get_ref().trim() {
                "new" => on.new = true,
                "recovered" => on.recovered = true,
                "still_failing" => on.still_failing = true,
                _ => return Err(loader.error(item.span(), "on takes \"new\", \"recovered\" and \"still_failing\"")),
            }
        }
        let duration = |loader: &Loader, text: &Spanned<String>, max, words, key: &str| {
            super::values::parse_duration(text.get_ref(), max, words)
                .map_err(|why| loader.error(text.span(), format!("{key}: {why}")))
        };
        let remind_every = match &self.remind_every {
            Some(t) if !on.still_failing => {
                return Err(loader.error(t.span(), "remind_every needs \"still_failing\" in on"));
            }
            Some(t) => Some(duration(loader, t, MAX_REMIND_EVERY, "30days", "remind_every")?),
            None => None,
        };
        let timeout = match &self.timeout {
            Some(t) => duration(loader, t, MAX_NOTIFY_TIMEOUT, "2m", "timeout")?,
            None => DEFAULT_NOTIFY_TIMEOUT,
        };
        let min_severity = match &self.min_severity {
            None => Severity::Warning,
            Some(s) => match s.get_ref().trim() {
                "critical" => Severity::Critical,
                "warning" => Severity::Warning,
                _ => return Err(loader.error(s.span(), "min_severity is \"critical\" or \"warning\"")),
            },
        };
        let checks = self
            .checks
            .iter()
            .map(|text| Selector::spanned(text).map_err(|why| loader.error(text.span(), why)))
            .collect::<Result<_, _>>()?;
        let proxy = loader.proxy(self.proxy.as_ref())?;
        let trust = loader.trust(super::common::TrustKeys { ca_file: self.ca_file.as_ref(), pin: None })?;
        let mut only_for = |value: &Option<Spanned<String>>, wanted: NotifyKind, key: &str| match value {
            Some(v) if kind != wanted => Err(loader.error(v.span(), format!("{key} is for kind {wanted:?} only"))),
            Some(v) => loader.expand(v).map(Some),
            None => Ok(None),
        };
        let token = only_for(&self.token, NotifyKind::Ntfy, "token")?;
        let secret = only_for(&self.secret, NotifyKind::Webhook, "secret")?;
        Ok(Notifier {
            name,
            kind,
            url,
            on,
            remind_every,
            checks,
            covers: None,
            min_severity,
            timeout,
            proxy,
            token,
            secret,
            trust,
        })
    }
}
