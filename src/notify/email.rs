//! `kind = "email"`: one message per run and notifier, plain text and HTML
//! (multipart/alternative), over SMTP with STARTTLS or implicit TLS, never in plain text.
//!
//! lettre writes the message (RFC 5322 headers, RFC 2047 for a non-ASCII subject, MIME parts
//! in quoted-printable or base64, so no server needs 8BITMIME) and speaks SMTP inside TLS.
//! The plain-text part of `smtp://` is ours ([`StartTls::Smtp`], as `[[tls]] starttls`
//! speaks it): a server that does not offer STARTTLS gets EHLO and nothing else, and plain
//! text queued behind the server's go-ahead is refused (lettre would read it as the server's
//! first answer inside TLS). The handshake is ours too: certificates are judged against the
//! system's CAs plus `ca_file`, as every other TLS connection of rounds.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::message::Message;
use super::payload;
use crate::certs::Trust;
use crate::config::Email;
use crate::probe::starttls::{StartTls, NOT_OFFERED};

/// Sends `message` to `email`'s server; the caller bounds it in time (`timeout` is for the
/// words). The error says why in words, never with the password.
pub(super) async fn send(
    message: &Message,
    email: &Email,
    trust: &Arc<Trust>,
    timeout: Duration,
) -> Result<(), String> {
    let mail = compose(message, email)?;
    let server = format!("the mail server {}:{}", email.host, email.port);
    let session = secure_session(email, trust, &server).await?;
    let hello = hello_name(&message.host);
    let smtp_error = |e: lettre::transport::smtp::Error| describe(&e, &server, timeout);
    let mut connection =
        AsyncSmtpConnection::connect_with_transport(Box::new(session), &hello).await.map_err(smtp_error)?;
    if let Some((user, password)) = &email.login {
        let credentials = Credentials::new(user.clone(), password.clone());
        connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials).await.map_err(smtp_error)?;
    }
    connection.send(mail.envelope(), &mail.formatted()).await.map_err(smtp_error)?;
    // Delivered once the server took the message; a lost QUIT changes nothing.
    let _ = connection.quit().await;
    Ok(())
}

/// A TCP connection to the server, made TLS (after STARTTLS for `smtp://`), its
/// certificate judged by `trust`.
async fn secure_session(email: &Email, trust: &Arc<Trust>, server: &str) -> Result<Session, String> {
    let mut tcp = TcpStream::connect((email.host.as_str(), email.port))
        .await
        .map_err(|e| format!("{server}: {}", crate::probe::net::describe_io(&e)))?;
    if !email.implicit_tls {
        StartTls::Smtp.upgrade(&mut tcp).await.map_err(|why| match why.starts_with(NOT_OFFERED) {
            true => format!(
                "{server} does not offer STARTTLS: nothing was sent (rounds never sends a password or mail in \
                 plain text; use smtps:// if the server takes TLS from the start){}",
                why.strip_prefix(NOT_OFFERED).unwrap_or_default()
            ),
            false => format!("{server}: {why}"),
        })?;
    }
    let (config, _recorder) = trust.recording_config()?;
    let name = rustls::pki_types::ServerName::try_from(email.host.clone())
        .map_err(|_| format!("{server}: {:?} is not a host name TLS can check", email.host))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {server} failed: {}", handshake_words(&e)))?;
    // After STARTTLS the server does not greet again; lettre waits for a greeting first.
    let greeting = if email.implicit_tls { Vec::new() } else { b"220 TLS is up\r\n".to_vec() };
    Ok(Session { greeting, inner: tls })
}

/// The TLS session lettre speaks SMTP in, after a greeting of ours when the server's came
/// before STARTTLS.
#[derive(Debug)]
struct Session {
    greeting: Vec<u8>,
    inner: TlsStream<TcpStream>,
}

impl AsyncRead for Session {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.greeting.is_empty() {
            let n = self.greeting.len().min(buf.remaining());
            buf.put_slice(&self.greeting[..n]);
            self.greeting.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Session {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Session {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.get_ref().0.peer_addr()
    }
}

/// The message: From, To, Subject (the title, with the host), Date, Message-ID, and the
/// text as plain text and as HTML.
pub(super) fn compose(message: &Message, email: &Email) -> Result<lettre::Message, String> {
    let mut builder = lettre::Message::builder()
        .from(email.from.clone())
        .subject(message.title.as_str())
        .message_id(Some(message_id(&email.from)))
        .user_agent(format!("rounds {}", env!("CARGO_PKG_VERSION")));
    for to in &email.to {
        builder = builder.to(to.clone());
    }
    let text = payload::text(message);
    let html = html(message);
    builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("the message could not be written: {e}"))
}

/// `<random@the sender's domain>` (RFC 5322 3.6.4): unique without naming this machine.
fn message_id(from: &Mailbox) -> String {
    let mut bytes = [0u8; 16];
    // Without randomness (never seen), the time still makes it unique enough.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = now.as_nanos().to_be_bytes();
    }
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("<{id}.rounds@{}>", from.email.domain())
}

/// The same lines as the plain text, HTML-escaped (a check's words never become markup).
fn html(message: &Message) -> String {
    let escape = crate::report::html_escape;
    let title = escape(&message.title);
    let items: String = payload::lines(message).iter().map(|line| format!("<li>{}</li>\n", escape(line))).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n<h2>{title}</h2>\n<ul>\n{items}</ul>\n<p><small>Sent by rounds.</small></p>\n</body></html>\n"
    )
}

/// EHLO names this machine when its name is a plain host name, else an address literal.
fn hello_name(host: &str) -> ClientId {
    let plain = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    match plain {
        true => ClientId::Domain(host.to_owned()),
        false => ClientId::default(),
    }
}

/// An SMTP failure inside TLS in the words a person needs: a refused login, a refused
/// sender or recipient, no login method in common, no answer.
fn describe(error: &lettre::transport::smtp::Error, server: &str, timeout: Duration) -> String {
    if let Some(code) = error.status() {
        let said = reply_text(error);
        return match u16::from(code) {
            535 => format!("{server} refused the username or password (535{said})"),
            code @ (530 | 534 | 538) => format!("{server} wants another login first ({code}{said})"),
            code @ (550 | 551 | 553 | 554) => format!("{server} refused the sender or a recipient ({code}{said})"),
            other => format!("{server} answered {other}{said}"),
        };
    }
    if error.is_timeout() {
        return format!("no answer from {server} in {}", crate::human::limit(timeout));
    }
    let chain = crate::probe::net::causes(error);
    if let Some(io) = chain.iter().find_map(|c| c.downcast_ref::<std::io::Error>()) {
        return format!("{server}: {}", crate::probe::net::describe_io(io));
    }
    let words = error.to_string();
    if words.contains("No compatible authentication mechanism") {
        return format!("{server} offers no login method rounds knows (PLAIN or LOGIN)");
    }
    format!("{server}: {words}")
}

/// ", 5.7.8 Authentication credentials invalid": the server's own words after the code.
fn reply_text(error: &lettre::transport::smtp::Error) -> String {
    let words = error.to_string();
    // lettre says "permanent error (535): <the server's text>".
    match words.split_once("): ") {
        Some((_, text)) if !text.trim().is_empty() => format!(": {}", text.trim()),
        _ => String::new(),
    }
}

/// Why the TLS handshake failed: the certificate's problem, else the socket's.
fn handshake_words(error: &std::io::Error) -> String {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => tls_words(tls),
        None => crate::probe::net::describe_io(error),
    }
}

/// A certificate problem as [[tls]] would say it, shortly.
fn tls_words(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "its certificate is not trusted (unknown issuer): add its CA as ca_file".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "its certificate is for another name than the one in smtp".into()
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "its certificate has expired".into()
        }
        rustls::Error::InvalidCertificate(other) => format!("its certificate is not trusted ({other:?})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_name_is_a_plain_host_name_or_an_address_literal() {
        assert_eq!(hello_name("rounds-01.clinic.local").to_string(), "rounds-01.clinic.local");
        assert_eq!(hello_name("").to_string(), ClientId::default().to_string());
        assert_eq!(hello_name("bad name\r\nMAIL").to_string(), ClientId::default().to_string());
    }

    #[test]
    fn a_message_id_names_the_senders_domain() {
        let from: Mailbox = "rounds <rounds@clinic.local>".parse().unwrap();
        let id = message_id(&from);
        assert!(id.starts_with('<') && id.ends_with(".rounds@clinic.local>"), "{id}");
        assert_ne!(id, message_id(&from));
    }
}
