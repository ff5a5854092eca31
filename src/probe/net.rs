//! Network helpers shared by kinds: resolving, connecting, socket errors in words.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::kind::Budget;

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

/// Resolves `host:port` and connects to the first address that answers.
pub(crate) async fn connect(host: &str, port: u16) -> Result<tokio::net::TcpStream, String> {
    let addrs = resolve(host, port).await.map_err(|e| e.to_string())?;
    let mut last = format!("{host} resolved to no address");
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = describe_io(&e),
        }
    }
    Err(last)
}

/// [`connect`], giving up a moment before the budget runs out: "no connection in 3 s" says
/// that the server never accepted, which a general "no answer" would not.
pub(crate) async fn connect_within(host: &str, port: u16, budget: Budget) -> Result<tokio::net::TcpStream, String> {
    match tokio::time::timeout_at(budget.step_deadline(), connect(host, port)).await {
        Ok(connected) => connected,
        Err(_) => Err(format!("no connection in {}", budget.limit())),
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

/// The errors under `error`, outermost first: libraries wrap the reason a person needs
/// ("connection refused") under their own ("error sending request").
pub(crate) fn causes<'a>(error: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| cause.source()).collect()
}

/// A socket error in plain words.
pub(crate) fn describe_io(e: &io::Error) -> String {
    if let Some(alert) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        use rustls::AlertDescription as A;
        match alert {
            rustls::Error::AlertReceived(A::CertificateRequired) => {
                return "the server requires a client certificate (give client_cert and client_key)".into()
            }
            rustls::Error::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => {
                return "the server rejected our client certificate".into()
            }
            _ => {}
        }
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
