//! `[[notify]]`: who is told when something changes (Teams, Slack, ntfy, a webhook, email).
//!
//! Read here with file:line:col errors; what is news and how it travels is `crate::notify`'s.
//! The URL, the ntfy token, the webhook secret and the SMTP password are secrets: remembered
//! for redaction and never shown (the `Debug` of [`Notifier`] leaves them out).

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
    url: Option<Spanned<String>>,
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
    /// Email: `smtp://host[:port]` (STARTTLS, required) or `smtps://host[:port]` (TLS).
    smtp: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Which service a notifier speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotifyKind {
    Teams,
    Slack,
    Ntfy,
    Webhook,
    Email,
}

/// Where a notifier's message goes.
#[derive(Clone)]
pub(crate) enum Target {
    /// Teams, Slack, ntfy and webhooks: a URL, POSTed to.
    Http(reqwest::Url),
    Email(Email),
}

/// A mail server and the message's addresses.
#[derive(Clone)]
pub(crate) struct Email {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte. `smtp://`: STARTTLS, required before AUTH and
    /// before any mail (a server that does not offer it gets nothing).
    pub implicit_tls: bool,
    /// The account and its password, for AUTH; `None`: a relay that takes mail without.
    pub login: Option<(String, String)>,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
}

/// STARTTLS on the submission port (RFC 6409) unless the URL names another.
const SUBMISSION_PORT: u16 = 587;
/// Implicit TLS (RFC 8314).
const SUBMISSIONS_PORT: u16 = 465;

/// Which changes a notifier is told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct On {
    pub new: bool,
    pub recovered: bool,
    pub still_failing: bool,
}

/// Each kind as it is written: the one list.
const KINDS: [(&str, NotifyKind); 5] = [
    ("teams", NotifyKind::Teams),
    ("slack", NotifyKind::Slack),
    ("ntfy", NotifyKind::Ntfy),
    ("webhook", NotifyKind::Webhook),
    ("email", NotifyKind::Email),
];

/// A validated `[[notify]]`.
#[derive(Clone)]
pub(crate) struct Notifier {
    pub name: String,
    pub kind: NotifyKind,
    pub target: Target,
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

/// Written by hand: the URL, token, secret and password are secrets.
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
        let written = self.kind.get_ref().trim();
        let Some(&(_, kind)) = KINDS.iter().find(|(word, _)| *word == written) else {
            let words: Vec<_> = KINDS.iter().map(|(word, _)| *word).collect();
            return Err(
                loader.error(self.kind.span(), format!("unknown notifier kind {written:?}: {}", words.join(", ")))
            );
        };
        let target = match kind {
            NotifyKind::Email => Target::Email(self.email(loader)?),
            _ => Target::Http(self.http_url(loader, kind)?),
        };
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
            target,
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

/// The keys of one kind that another kind does not take.
const EMAIL_KEYS: &str = "smtp, username, password, from and to";

impl NotifyTable {
    /// Teams, Slack, ntfy, webhook: the URL, a secret however it was written.
    fn http_url(&self, loader: &mut Loader, kind: NotifyKind) -> Result<reqwest::Url, ConfigError> {
        let email_key = [&self.smtp, &self.username, &self.password, &self.from].into_iter().flatten().next();
        let email_key = email_key.map(Spanned::span).or_else(|| self.to.as_ref().map(Spanned::span));
        if let Some(span) = email_key {
            return Err(loader.error(span, format!("{EMAIL_KEYS} are for kind \"email\" only")));
        }
        let Some(written) = &self.url else {
            return Err(loader.error(self.kind.span(), format!("kind {:?} needs url", kind_word(kind))));
        };
        // Unset: the run refuses, naming the variable.
        let text = loader.expand_url(written)?.unwrap_or_else(|| "http://unset/".to_owned());
        // The URL is a secret however it was written (a Teams or Slack URL is its own key).
        loader.remember_secret("url", text.trim());
        // Never the URL's text in the error: it is a secret.
        reqwest::Url::parse(text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| loader.error(written.span(), "url is an http:// or https:// URL"))
    }

    /// Email: the server, the login and the addresses, every address checked now.
    fn email(&self, loader: &mut Loader) -> Result<Email, ConfigError> {
        if let Some(url) = &self.url {
            return Err(loader.error(url.span(), "kind \"email\" takes smtp = \"smtp://host:587\", not url"));
        }
        if let Some(proxy) = &self.proxy {
            return Err(
                loader.error(proxy.span(), "proxy is for HTTP notifiers: mail goes straight to its smtp server")
            );
        }
        let missing = |key: &str, example: &str| {
            loader.error(self.kind.span(), format!("kind \"email\" needs {key}, like {key} = {example}"))
        };
        let smtp = self.smtp.as_ref().ok_or_else(|| missing("smtp", "\"smtp://mail.clinic.local:587\""))?;
        let from = self.from.as_ref().ok_or_else(|| missing("from", "\"rounds <rounds@clinic.local>\""))?;
        let to = self.to.as_ref().ok_or_else(|| missing("to", "[\"it@clinic.local\"]"))?;
        let (host, port, implicit_tls) = smtp_server(loader, smtp)?;
        let login = match (&self.username, &self.password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                let user = loader.expand(user)?.trim().to_owned();
                let secret = loader.expand(password)?;
                // Written in the inventory itself, it is hidden all the same (a `${VAR}` is
                // remembered by `expand`).
                if !password.get_ref().contains("${") {
                    loader.remember_secret("password", &secret);
                }
                Some((user, secret))
            }
            (Some(user), None) => {
                return Err(loader.error(user.span(), "username needs a password, like password = \"${SMTP_PASSWORD}\""))
            }
            (None, Some(password)) => return Err(loader.error(password.span(), "password needs a username")),
        };
        let from = mailbox(loader, from, "from")?;
        if to.get_ref().is_empty() {
            return Err(loader.error(to.span(), "to lists no address"));
        }
        let to = to.get_ref().iter().map(|address| mailbox(loader, address, "to")).collect::<Result<_, _>>()?;
        Ok(Email { host, port, implicit_tls, login, from, to })
    }
}

/// `smtp://host[:port]` or `smtps://host[:port]`: (host, port, implicit TLS).
fn smtp_server(loader: &mut Loader, written: &Spanned<String>) -> Result<(String, u16, bool), ConfigError> {
    const FORM: &str = "smtp is smtp://host[:port] (STARTTLS, port 587) or smtps://host[:port] (TLS, port 465)";
    // Unset: the run refuses, naming the variable.
    let Some(text) = loader.expand_url(written)? else { return Ok(("unset".to_owned(), 587, false)) };
    let url = reqwest::Url::parse(text.trim()).map_err(|_| loader.error(written.span(), FORM))?;
    let implicit_tls = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        "smtp+plain" | "smtp+insecure" => {
            return Err(loader.error(
                written.span(),
                "rounds sends mail only over TLS: smtp:// with STARTTLS or smtps:// (no plain-text SMTP)",
            ))
        }
        _ => return Err(loader.error(written.span(), FORM)),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(loader.error(written.span(), "give the account as username and password, not in the smtp URL"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(loader.error(written.span(), FORM));
    }
    let host = url.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned());
    let host = host.filter(|h| !h.is_empty()).ok_or_else(|| loader.error(written.span(), FORM))?;
    let port = url.port().unwrap_or(if implicit_tls { SUBMISSIONS_PORT } else { SUBMISSION_PORT });
    Ok((host, port, implicit_tls))
}

/// One address, `rounds <rounds@clinic.local>` or `it@clinic.local`, checked at load time.
fn mailbox(loader: &mut Loader, written: &Spanned<String>, key: &str) -> Result<lettre::message::Mailbox, ConfigError> {
    let text = loader.expand(written)?;
    text.trim().parse().map_err(|why| {
        loader.error(
            written.span(),
            format!("{key}: {:?} is not a mail address ({why}); write it as \"it@clinic.local\" or \"Name <it@clinic.local>\"", written.get_ref()),
        )
    })
}

/// The word a notifier kind is written as.
fn kind_word(kind: NotifyKind) -> &'static str {
    KINDS.iter().find(|(_, k)| *k == kind).map_or("", |(word, _)| word)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[derive(Deserialize)]
    struct File {
        notify: Vec<NotifyTable>,
    }

    /// The notifier `[[notify]]` plans from `body`, or its error as `rounds validate` prints it.
    fn plan(body: &str) -> Result<Notifier, String> {
        let source = format!("[[notify]]\nname = \"practice manager\"\n{body}\n");
        let path = Path::new("checks.toml");
        let env = |name: &str| (name == "SMTP_PASSWORD").then(|| "canary-smtp-password".to_owned());
        let settings = super::super::settings::SettingsTable::default().settings(path, &source).expect("settings");
        let mut loader = Loader::new(path, &source, &env, settings);
        let mut file: File = toml::from_str(&source).map_err(|e| e.to_string())?;
        let table = file.notify.pop().expect("one table");
        table.notifier(&mut loader).map_err(|e| e.to_string())
    }

    const EMAIL: &str =
        "kind = \"email\"\nsmtp = \"smtp://mail.clinic.local\"\nfrom = \"rounds <rounds@clinic.local>\"\n\
                         to = [\"manager@clinic.local\"]";

    #[test]
    fn an_email_notifier_reads_its_server_addresses_and_login() {
        let n =
            plan(&format!("{EMAIL}\nusername = \"rounds@clinic.local\"\npassword = \"${{SMTP_PASSWORD}}\"")).unwrap();
        let Target::Email(email) = &n.target else { panic!("an email target") };
        assert_eq!((email.host.as_str(), email.port, email.implicit_tls), ("mail.clinic.local", 587, false));
        assert_eq!(email.from.to_string(), "rounds <rounds@clinic.local>");
        assert_eq!(
            email.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            Some(("rounds@clinic.local", "canary-smtp-password"))
        );
        assert!(!format!("{n:?}").contains("canary"), "{n:?}");
        let n = plan(&EMAIL.replace("smtp://mail.clinic.local", "smtps://[::1]")).unwrap();
        let Target::Email(email) = &n.target else { panic!("an email target") };
        assert_eq!((email.host.as_str(), email.port, email.implicit_tls), ("::1", 465, true));
    }

    /// Every load-time error of an email notifier, in one reviewed snapshot.
    #[test]
    fn email_load_time_errors() {
        let without = |key: &str| EMAIL.lines().filter(|l| !l.starts_with(key)).collect::<Vec<_>>().join("\n");
        let cases = [
            ("no smtp", without("smtp")),
            ("no from", without("from")),
            ("no to", without("to")),
            ("empty to", EMAIL.replace("[\"manager@clinic.local\"]", "[]")),
            ("bad from", EMAIL.replace("rounds <rounds@clinic.local>", "rounds at the clinic")),
            ("bad to", EMAIL.replace("manager@clinic.local", "manager@")),
            ("http smtp", EMAIL.replace("smtp://mail.clinic.local", "http://mail.clinic.local")),
            ("plain smtp", EMAIL.replace("smtp://mail.clinic.local", "smtp+plain://mail.clinic.local")),
            ("login in url", EMAIL.replace("smtp://mail", "smtp://me:pw@mail")),
            ("url on email", format!("{EMAIL}\nurl = \"https://x.example/\"")),
            ("username alone", format!("{EMAIL}\nusername = \"rounds\"")),
            ("password alone", format!("{EMAIL}\npassword = \"${{SMTP_PASSWORD}}\"")),
            ("proxy", format!("{EMAIL}\nproxy = \"http://127.0.0.1:3128\"")),
            ("smtp on slack", "kind = \"slack\"\nurl = \"https://h/\"\nsmtp = \"smtp://mail\"".to_owned()),
            ("slack without url", "kind = \"slack\"".to_owned()),
        ];
        let mut out = String::new();
        for (what, body) in cases {
            let error = plan(&body).err().unwrap_or_else(|| panic!("{what}: no error"));
            assert!(!error.contains("canary"), "{what}: {error}");
            out.push_str(&format!("--- {what}\n{error}\n"));
        }
        insta::assert_snapshot!(out);
    }
}
