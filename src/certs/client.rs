//! The one constructor of every HTTP client rounds builds (checks, CRL downloads, the
//! heartbeat), and the name lookups they share with every other probe.
//!
//! A client is described by a [`ClientSpec`]: everything its builder uses, and nothing else.
//! The same value is the key of the clients' cache ([`super::Trust::http_client`]), so two
//! checks share a client only when every setting it was built with is the same. Clients go
//! straight to their server unless the inventory names a proxy: `HTTP_PROXY` and friends in
//! rounds' own environment are read only where a check says `proxy = "env"`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// How HTTP clients reach their servers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Proxy {
    /// Straight to the server, like every other probe: the default.
    Direct,
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, as curl reads them.
    Environment,
    /// Through this proxy (may hold a password: shown without it).
    Url(reqwest::Url),
}

impl Proxy {
    /// "proxy http://proxy:3128/" as a detail names it (no user or password), or `None` when
    /// direct.
    pub fn shown(&self) -> Option<String> {
        match self {
            Proxy::Direct => None,
            Proxy::Environment => Some("the environment's proxy".into()),
            Proxy::Url(url) => {
                let mut shown = url.clone();
                // Only fails for URLs that cannot have userinfo, which then have none to hide.
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                Some(format!("proxy {shown}"))
            }
        }
    }
}

/// Written by hand: a proxy URL may hold a password.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shown() {
            None => f.write_str("Direct"),
            Some(shown) => f.write_str(&shown),
        }
    }
}

/// Everything an HTTP client is built from, besides the trust store that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientSpec {
    /// The server (`https://host:port`) or the use ("CRL downloads"): one client each, so
    /// a recorder holds only the handshakes of the server it is asked about.
    pub server: String,
    pub proxy: Proxy,
    /// How long a connection may take to be accepted.
    pub connect_timeout: Option<Duration>,
    /// How long a whole request may take (where the caller does not bound it itself).
    pub timeout: Option<Duration>,
}

impl ClientSpec {
    /// A direct client for `server`, with no timeouts of its own.
    pub fn direct(server: impl Into<String>) -> Self {
        Self { server: server.into(), proxy: Proxy::Direct, connect_timeout: None, timeout: None }
    }

    /// The client this spec describes, verifying TLS with `tls`.
    pub(super) fn build(&self, tls: rustls::ClientConfig) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(SystemResolver))
            // Enough idle connections for reuse at the default concurrency, few enough
            // that many servers never exhaust the open-file limit.
            .pool_max_idle_per_host(16)
            .user_agent(concat!("rounds/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = self.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = self.timeout {
            builder = builder.timeout(t);
        }
        builder = match &self.proxy {
            Proxy::Direct => builder.no_proxy(),
            // reqwest reads the environment's proxy variables unless told not to.
            Proxy::Environment => builder,
            Proxy::Url(url) => {
                let proxy = reqwest::Proxy::all(url.as_str()).map_err(|e| format!("invalid proxy: {e}"))?;
                builder.no_proxy().proxy(proxy)
            }
        };
        builder.build().map_err(|e| format!("cannot set up an HTTP client: {e}"))
    }
}

/// A name the system resolver could not turn into addresses: a type of its own, so callers
/// (and reqwest's error chain, through [`SystemResolver`]) recognise it without reading text.
#[derive(Debug)]
pub(crate) struct LookupError {
    pub host: String,
    /// getaddrinfo's reason, in its words ("Name or service not known").
    pub reason: String,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve {}: {}", self.host, self.reason)
    }
}

impl std::error::Error for LookupError {}

impl LookupError {
    pub fn new(host: &str, error: &io::Error) -> Self {
        Self { host: host.to_owned(), reason: lookup_reason(error) }
    }
}

/// getaddrinfo's reason. std only offers it inside a formatted message
/// ("failed to lookup address information: REASON"), so this is the one place that takes
/// the text apart; nothing branches on it.
pub(crate) fn lookup_reason(error: &io::Error) -> String {
    let text = error.to_string();
    match text.split_once("address information: ") {
        Some((_, reason)) => reason.to_owned(),
        None => text,
    }
}

/// Resolves `host` through the system resolver (/etc/hosts, nsswitch, DNS), as the clinic's
/// own programs on this machine would.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, LookupError> {
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(e) => Err(LookupError::new(host, &e)),
    }
}

/// The system resolver for reqwest: the same lookups as every other probe, and failures
/// that arrive in reqwest's error chain as a [`LookupError`].
#[derive(Debug, Default)]
pub(crate) struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_is_named_without_its_password() {
        let url = reqwest::Url::parse("http://user:canary-pw@proxy.clinic:3128/").unwrap();
        assert_eq!(Proxy::Url(url.clone()).shown().as_deref(), Some("proxy http://proxy.clinic:3128/"));
        assert!(!format!("{:?}", ClientSpec { proxy: Proxy::Url(url), ..ClientSpec::direct("x") }).contains("canary"));
        assert_eq!(Proxy::Direct.shown(), None);
    }

    /// The cache key is the builder's input: a setting that differs makes another client.
    #[test]
    fn specs_differing_in_any_setting_are_different_keys() {
        let base = ClientSpec::direct("https://mirth:8443");
        let other_timeout = ClientSpec { connect_timeout: Some(Duration::from_secs(2)), ..base.clone() };
        let other_proxy = ClientSpec { proxy: Proxy::Environment, ..base.clone() };
        let set: std::collections::HashSet<ClientSpec> = [base.clone(), other_timeout, other_proxy, base].into();
        assert_eq!(set.len(), 3);
    }
}
