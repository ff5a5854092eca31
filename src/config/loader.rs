//! What a kind's table uses while it turns itself into checks: errors at a span, `${VAR}`,
//! paths relative to the inventory, the shared trust stores.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use super::common::{CheckMeta, CommonKeys, PinsWritten, ProtocolTlsKeys, TrustKeys};
use super::error::ConfigError;
use super::settings::{CertKeys, Settings, MAX_RETRIES};
use super::values::{self, Proxy};
use crate::certs::{CertLimits, ClientIdentity, Pin, ProtocolTls, Trust};
use crate::secrets::{percent_decode, percent_encode, Secrets, MIN_SUBSTRING_SECRET};

/// One kind's inventory table (`[[endpoint]]`, `[[server]]`, ...), as written.
pub(crate) trait Table {
    /// What the table plans: the kind's probe.
    type Probe;
    /// Validates the table and turns it into checks (a `[[server]]` makes one per port).
    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<Self::Probe>>, ConfigError>;
}

/// One check as a table planned it, with where its name stands in the file.
#[derive(Debug)]
pub(crate) struct Planned<P> {
    pub meta: CheckMeta,
    pub probe: P,
    pub name_span: Range<usize>,
    /// `depends_on` with its places in the file, for errors about unknown names and cycles.
    pub depends_on: Vec<Spanned<String>>,
}

impl<P> Planned<P> {
    /// The same check with its probe wrapped (by the registry, into `Probe`).
    pub fn map<Q>(self, wrap: impl FnOnce(P) -> Q) -> Planned<Q> {
        Planned { meta: self.meta, probe: wrap(self.probe), name_span: self.name_span, depends_on: self.depends_on }
    }
}

/// Whether a value is one `${VAR}` and nothing else (spaces aside).
fn is_one_variable(value: &str) -> bool {
    let Some(name) = value.trim().strip_prefix("${").and_then(|rest| rest.strip_suffix('}')) else { return false };
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What an unset `${VAR}` stands as while the inventory is planned: a word valid in a URL's
/// host, user, password, path or query, in a header, and as an argument.
const UNSET: &str = "unset";

/// The environment `${VAR}` reads from: the process's, or a test's.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a table needs while it turns itself into checks.
pub(crate) struct Loader<'a> {
    path: &'a Path,
    source: &'a str,
    dir: PathBuf,
    env: Env<'a>,
    pub settings: Settings,
    secrets: Secrets,
    /// Said once on stderr by `check` and `validate`; never holds a value.
    warned: Vec<String>,
    /// Each `${VAR}` that is not set, and where: all are reported at once, in file order.
    missing: Vec<(Range<usize>, String)>,
    trusts: HashMap<(Option<PathBuf>, Vec<Pin>), Arc<Trust>>,
}

impl<'a> Loader<'a> {
    pub fn new(path: &'a Path, source: &'a str, env: Env<'a>, settings: Settings) -> Self {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self {
            path,
            source,
            dir,
            env,
            settings,
            secrets: Secrets::default(),
            warned: Vec::new(),
            missing: Vec::new(),
            trusts: HashMap::new(),
        }
    }

    /// The secrets every `${VAR}` expanded to, and warnings for the user, once all tables
    /// are planned.
    pub fn finish(self) -> (Secrets, Vec<String>) {
        (self.secrets, self.warned)
    }

    /// The `${VAR}`s not set so far, with their places.
    pub fn missing(&self) -> &[(Range<usize>, String)] {
        &self.missing
    }

    /// An error at `span` of the inventory.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.source, span, message)
    }

    /// Expands `${VAR}` from the environment and remembers the values as secrets.
    pub fn expand(&mut self, value: &Spanned<String>) -> Result<String, ConfigError> {
        self.expand_with(value, &str::to_owned)
    }

    /// Expands `${VAR}`, each value written as `render` puts it (percent-encoded in a URL,
    /// so a password like `p@ss/w=rd` stays a password and never changes the host).
    pub fn expand_with(
        &mut self,
        value: &Spanned<String>,
        render: &dyn Fn(&str) -> String,
    ) -> Result<String, ConfigError> {
        // A variable that is not set stands as a placeholder, so planning goes on and every
        // missing one is reported at once (or, for `ack`, `list` and `history`, none is).
        let unset = std::cell::RefCell::new(Vec::new());
        let env = self.env;
        let lookup = |name: &str| {
            env(name).or_else(|| {
                unset.borrow_mut().push(name.to_owned());
                Some(UNSET.to_owned())
            })
        };
        let (text, used) =
            values::expand_vars(value.get_ref(), &lookup, render).map_err(|why| self.error(value.span(), why))?;
        let unset = unset.into_inner();
        for (name, secret) in used.iter().filter(|(name, _)| !unset.contains(name)) {
            self.remember_secret(name, secret);
        }
        self.missing.extend(unset.into_iter().map(|name| (value.span(), name)));
        Ok(text)
    }

    /// Expands `${VAR}` in a URL key. A value that is one `${VAR}` and nothing else is the
    /// whole URL, taken verbatim (a `DATABASE_URL` as operators keep them); a `${VAR}` inside
    /// a written URL is percent-encoded into the part it stands in, so a password like
    /// `p@ss/w=rd` stays a password and never changes the host. Either way the URL's password
    /// is remembered as a secret, as written and decoded, beside the whole value.
    ///
    /// `None` when the whole URL's variable is not set: there is no URL to judge, so the
    /// caller plans with a stand-in, and the missing variable is what `check` names (not
    /// "the URL has no scheme", which would send a new user looking in the wrong place).
    pub fn expand_url(&mut self, value: &Spanned<String>) -> Result<Option<String>, ConfigError> {
        let missing_before = self.missing.len();
        let text = match is_one_variable(value.get_ref()) {
            true => self.expand(value)?,
            false => self.expand_with(value, &percent_encode)?,
        };
        if is_one_variable(value.get_ref()) && self.missing.len() > missing_before {
            return Ok(None);
        }
        if let Some(password) = reqwest::Url::parse(text.trim()).ok().and_then(|u| u.password().map(str::to_owned)) {
            self.secrets.add(&percent_decode(&password));
            self.secrets.add(&password);
        }
        Ok(Some(text))
    }

    /// The value of the environment variable `name` (for `env = [...]` on commands): a secret.
    pub fn env_var(&mut self, name: &Spanned<String>) -> Result<String, ConfigError> {
        let Some(value) = (self.env)(name.get_ref()) else {
            self.missing.push((name.span(), name.get_ref().clone()));
            return Ok(UNSET.to_owned());
        };
        self.remember_secret(name.get_ref(), &value);
        Ok(value)
    }

    /// A user and password that travel as HTTP basic authentication: their base64 is then
    /// redacted whole (a password written in the inventory itself is hidden this way too).
    pub fn basic_auth(&mut self, user: &str, password: &str) {
        self.secrets.add_basic_auth(user, password);
    }

    pub fn remember_secret(&mut self, name: &str, value: &str) {
        self.remember_as(&format!("${{{name}}}"), value);
    }

    /// Expands a key whose whole value is a secret even when written in the inventory itself
    /// (an SNMP community, a USM password): the value is remembered whole, so the cleaning
    /// step hides it wherever it shows. A value that is one `${VAR}` is remembered by
    /// `expand` already; one that is not set is not remembered (its placeholder is no secret).
    pub fn expand_secret(&mut self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        let missing = self.missing.len();
        let text = self.expand(value)?;
        let raw = value.get_ref().trim();
        let one_var = raw.starts_with("${") && raw.ends_with('}') && raw.matches("${").count() == 1;
        if self.missing.len() == missing && !one_var {
            self.remember_as(&format!("the {key} written in the inventory"), &text);
        }
        Ok(text)
    }

    fn remember_as(&mut self, what: &str, value: &str) {
        if self.secrets.add(value) && !self.warned.iter().any(|w| w.contains(what)) {
            self.warned.push(format!(
                "{what} is shorter than {MIN_SUBSTRING_SECRET} characters: it is hidden in reports only \
                 where it stands alone as a word; use a longer secret"
            ));
        }
    }

    /// A path from the inventory: relative paths are relative to the inventory file, so the
    /// same inventory works from cron, systemd and an interactive shell alike.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    /// The trust store for TLS: the system's CAs plus `ca_file`, read and checked now, and
    /// the `pin`s a served key must match.
    pub fn trust(&mut self, keys: TrustKeys<'_>) -> Result<Arc<Trust>, ConfigError> {
        let path = keys.ca_file.map(|f| self.resolve_path(f.get_ref()));
        let mut pins = Vec::new();
        if let Some(written) = keys.pin {
            let texts = match written.get_ref() {
                PinsWritten::One(one) => std::slice::from_ref(one),
                PinsWritten::Many(many) => many.as_slice(),
            };
            for text in texts {
                pins.extend(Pin::parse(text).map_err(|why| self.error(written.span(), why))?);
            }
            if pins.is_empty() {
                return Err(self.error(written.span(), "pin lists no key"));
            }
        }
        let key = (path, pins);
        if let Some(trust) = self.trusts.get(&key) {
            return Ok(trust.clone());
        }
        let trust = match (&key.0, keys.ca_file) {
            (Some(p), Some(spanned)) => Trust::with_ca_file(p).map_err(|why| self.error(spanned.span(), why))?,
            _ => Trust::system(),
        };
        let trust = Arc::new(trust.pinned(key.1.clone()));
        self.trusts.insert(key, trust.clone());
        Ok(trust)
    }

    /// A table's own certificate thresholds, falling back to `[settings]`'s.
    pub fn cert_limits(&self, keys: CertKeys<'_>) -> Result<CertLimits, ConfigError> {
        keys.limits(self.settings.cert).map_err(|(span, why)| self.error(span, why))
    }

    /// TLS for a protocol that is not HTTP, or `None` without `tls = true`. Certificates and
    /// keys are read now, so a wrong path is a config error rather than a failed check.
    pub fn protocol_tls(&mut self, keys: ProtocolTlsKeys<'_>) -> Result<Option<ProtocolTls>, ConfigError> {
        if !keys.tls {
            if let Some(key) = keys.client_cert.or(keys.client_key) {
                return Err(self.error(key.span(), "client_cert and client_key need tls = true"));
            }
            if let Some(pin) = keys.trust.pin {
                return Err(self.error(pin.span(), "pin needs tls = true"));
            }
            return Ok(None);
        }
        let host = self.host(keys.host)?;
        let server_name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| self.error(keys.host.span(), format!("{host:?} is not a valid host name for TLS")))?;
        let limits = self.cert_limits(CertKeys {
            warn_days: keys.cert_warn_days,
            crit_days: keys.cert_crit_days,
            ..CertKeys::default()
        })?;
        let client = self.client_identity(keys.client_cert, keys.client_key)?;
        Ok(Some(ProtocolTls { trust: self.trust(keys.trust)?, client, server_name, limits }))
    }

    /// `client_cert` and `client_key`: both or neither.
    fn client_identity(
        &self,
        cert: Option<&Spanned<String>>,
        key: Option<&Spanned<String>>,
    ) -> Result<Option<ClientIdentity>, ConfigError> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                ClientIdentity::from_pem_files(&self.resolve_path(cert.get_ref()), &self.resolve_path(key.get_ref()))
                    .map(Some)
                    .map_err(|why| self.error(cert.span(), why))
            }
            (Some(one), None) | (None, Some(one)) => {
                Err(self.error(one.span(), "client_cert and client_key go together: give both"))
            }
        }
    }

    /// `min_tls` of a table, else of `[settings]`: "1.2" or "1.3".
    pub fn min_tls(&self, own: Option<&Spanned<String>>) -> Result<Option<String>, ConfigError> {
        let Some(value) = own.or(self.settings.min_tls.as_ref()) else { return Ok(None) };
        match value.get_ref().trim() {
            v @ ("1.2" | "1.3") => Ok(Some(v.to_owned())),
            _ => Err(self.error(value.span(), "min_tls is \"1.2\" or \"1.3\"")),
        }
    }

    /// A URL written without its scheme (`url = "127.0.0.1:8080/health"`), which the URL
    /// parser calls "relative URL without a base": said in words, with what to write. Only
    /// the text as written is quoted (a `${VAR}` stays a placeholder), never `expanded`.
    pub fn without_scheme(&self, raw: &Spanned<String>, expanded: &str) -> Option<ConfigError> {
        let (written, expanded) = (raw.get_ref().trim(), expanded.trim());
        if expanded.is_empty() || expanded.contains("://") || expanded.contains(char::is_whitespace) {
            return None;
        }
        Some(
            self.error(
                raw.span(),
                format!("the URL has no scheme: write \"http://{written}\" or \"https://{written}\""),
            ),
        )
    }

    /// `[settings] heartbeat`: an http(s) URL, `${VAR}` expanded (it is a secret).
    pub fn heartbeat(&mut self) -> Result<Option<reqwest::Url>, ConfigError> {
        let Some(raw) = self.settings.heartbeat.clone() else { return Ok(None) };
        // Unset: the run refuses, naming the variable.
        let Some(text) = self.expand_url(&raw)? else { return Ok(None) };
        if let Some(error) = self.without_scheme(&raw, &text) {
            return Err(error);
        }
        let url = reqwest::Url::parse(text.trim())
            .map_err(|e| self.error(raw.span(), format!("invalid heartbeat URL: {e}")))?;
        match url.scheme() {
            "http" | "https" if url.host_str().is_some() => Ok(Some(url)),
            _ => Err(self
                .error(raw.span(), "heartbeat is an http:// or https:// URL, like \"https://hc-ping.com/${HC_UUID}\"")),
        }
    }

    /// How HTTP checks reach servers: the table's own `proxy`, else `[settings]`'s, else
    /// directly, like every other probe (environment variables are not followed silently).
    pub fn proxy(&mut self, own: Option<&Spanned<String>>) -> Result<Proxy, ConfigError> {
        let Some(raw) = own.or(self.settings.proxy.as_ref()).cloned() else { return Ok(Proxy::Direct) };
        if raw.get_ref().trim() == "env" {
            return Ok(Proxy::Environment);
        }
        // Unset: the run refuses, naming the variable.
        let Some(text) = self.expand_url(&raw)? else { return Ok(Proxy::Direct) };
        let url =
            reqwest::Url::parse(text.trim()).map_err(|e| self.error(raw.span(), format!("invalid proxy URL: {e}")))?;
        if let Some(port) = url.port() {
            values::Port::new(port).map_err(|why| self.error(raw.span(), why))?;
        }
        match url.scheme() {
            "http" | "https" if url.host_str().is_some() => Ok(Proxy::Url(url)),
            _ => {
                Err(self
                    .error(raw.span(), "proxy is \"http://host:port\" (or \"env\" for the environment's HTTP_PROXY)"))
            }
        }
    }

    /// A host name or address from the inventory, trimmed; empty is an error.
    pub fn host(&self, host: &Spanned<String>) -> Result<String, ConfigError> {
        let trimmed = host.get_ref().trim();
        if trimmed.is_empty() {
            return Err(self.error(host.span(), "host cannot be empty"));
        }
        Ok(trimmed.to_owned())
    }

    /// The one check of a table that makes one check, named after the table.
    pub fn single<P>(&self, common: &CommonKeys, target: String, probe: P) -> Result<Vec<Planned<P>>, ConfigError> {
        Ok(vec![self.check(common, common.name.get_ref().clone(), target, probe)?])
    }

    /// Builds a check from the common keys and what the table worked out.
    pub fn check<P>(
        &self,
        common: &CommonKeys,
        name: String,
        target: String,
        probe: P,
    ) -> Result<Planned<P>, ConfigError> {
        if common.name.get_ref().trim().is_empty() {
            return Err(self.error(common.name.span(), "a check's name cannot be empty"));
        }
        if let Some(r) = common.retries.as_ref().filter(|r| *r.get_ref() > MAX_RETRIES) {
            return Err(
                self.error(r.span(), format!("retries is at most {MAX_RETRIES}; flakiness beyond that is an outage"))
            );
        }
        Ok(Planned {
            meta: CheckMeta::new(common, name, target),
            probe,
            name_span: common.name.span(),
            depends_on: common.depends_on.clone(),
        })
    }
}
