//! `kind = "email"`: one message per run and notifier, plain text and HTML
//! (multipart/alternative), over SMTP with STARTTLS or implicit TLS, never in plain text.
//!
//! lettre writes the message (RFC 5322 headers, RFC 2047 for a non-ASCII subject, MIME parts
//! in quoted-printable or base64, so no server needs 8BITMIME) and speaks SMTP. With
//! `smtp://`, STARTTLS is required: a server that does not offer it gets EHLO and nothing
//! else, no AUTH, no mail. Certificates are judged against the system's CAs plus `ca_file`.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::message::Message;
use super::payload;
use crate::certs::Trust;
use crate::config::Email;

/// Sends `message` to `email`'s server within `timeout` (each step; the caller bounds the
/// whole). The error says why in words, never with the password.
pub(super) async fn send(message: &Message, email: &Email, trust: &Trust, timeout: Duration) -> Result<(), String> {
    let mail = compose(message, email)?;
    let transport = transport(email, trust, &message.host, timeout)?;
    match transport.send(mail).await {
        Ok(_) => Ok(()),
        Err(e) => Err(describe(&e, email, timeout)),
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

/// The SMTP client: STARTTLS required or implicit TLS, our trust, the login if any.
fn transport(
    email: &Email,
    trust: &Trust,
    host: &str,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(email.host.clone());
    for ca in trust.extra_cas() {
        let ca = Certificate::from_der(ca.to_vec()).map_err(|e| format!("ca_file: {e}"))?;
        tls = tls.add_root_certificate(ca);
    }
    let tls = tls.build_rustls().map_err(|e| format!("TLS could not be set up: {e}"))?;
    let tls = if email.implicit_tls { Tls::Wrapper(tls) } else { Tls::Required(tls) };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(email.host.as_str())
        .port(email.port)
        .tls(tls)
        .timeout(Some(timeout))
        .hello_name(hello_name(host));
    if let Some((user, password)) = &email.login {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
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

/// An SMTP failure in the words a person needs: refused login, refused relay, no
/// STARTTLS, an untrusted certificate, a closed port, no answer.
fn describe(error: &lettre::transport::smtp::Error, email: &Email, timeout: Duration) -> String {
    let server = format!("the mail server {}:{}", email.host, email.port);
    if let Some(code) = error.status() {
        let said = reply_text(error);
        return match u16::from(code) {
            535 => format!("{server} refused the username or password (535{said})"),
            530 | 534 | 538 => format!("{server} wants another login or TLS first ({}{said})", u16::from(code)),
            550 | 551 | 553 | 554 => format!("{server} refused the sender or a recipient ({}{said})", u16::from(code)),
            other => format!("{server} answered {other}{said}"),
        };
    }
    if error.is_timeout() {
        return format!("no answer from {server} in {}", crate::human::limit(timeout));
    }
    let chain = crate::probe::net::causes(error);
    if let Some(tls) = chain.iter().find_map(|c| c.downcast_ref::<rustls::Error>()) {
        return format!("TLS with {server} failed: {}", tls_words(tls));
    }
    if let Some(io) = chain.iter().find_map(|c| c.downcast_ref::<std::io::Error>()) {
        if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return format!("TLS with {server} failed: {}", tls_words(tls));
        }
        if io.kind() == std::io::ErrorKind::TimedOut {
            return format!("no answer from {server} in {}", crate::human::limit(timeout));
        }
        return format!("{server}: {}", crate::probe::net::describe_io(io));
    }
    let words = error.to_string();
    if words.contains("STARTTLS is not supported") {
        return format!(
            "{server} does not offer STARTTLS: nothing was sent (rounds never sends a password or mail in \
             plain text; use smtps:// if the server takes TLS from the start)"
        );
    }
    if words.contains("No compatible authentication mechanism") {
        return format!("{server} offers no login method rounds knows (PLAIN or LOGIN over TLS)");
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
