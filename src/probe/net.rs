//! Network helpers shared by kinds: resolving, connecting, socket errors in words.

use std::io;

use super::kind::Budget;
pub(crate) use crate::certs::{lookup_reason, resolve, LookupError};

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
