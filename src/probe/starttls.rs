//! `starttls` on `[[tls]]`: the short plain-text exchange that turns a mail, directory or
//! database connection into TLS, after which the certificate is judged as on a TLS port.
//!
//! Every exchange is bounded: lines are capped at [`MAX_LINE`] bytes, a reply at
//! [`MAX_LINES`] lines, an LDAP answer at [`MAX_LDAP`] bytes; the caller runs it inside the
//! check's budget. Whatever the server sends after agreeing is refused: plain text queued
//! ahead of the TLS handshake is the STARTTLS command-injection attack.

use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use toml::Spanned;

use crate::config::{ConfigError, Loader};

/// The protocols `starttls` upgrades, as written in the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartTls {
    Smtp,
    Imap,
    Pop3,
    Ldap,
    Postgres,
}

const NAMES: [(&str, StartTls); 5] = [
    ("smtp", StartTls::Smtp),
    ("imap", StartTls::Imap),
    ("pop3", StartTls::Pop3),
    ("ldap", StartTls::Ldap),
    ("postgres", StartTls::Postgres),
];

/// The longest line a server may send during the exchange.
const MAX_LINE: usize = 1024;
/// The most lines one reply may have (an EHLO answer lists a dozen extensions).
const MAX_LINES: usize = 64;
/// The largest LDAP ExtendedResponse accepted.
const MAX_LDAP: usize = 4096;
/// At most this much of a server's own words reaches the detail.
const MAX_SHOWN: usize = 160;

/// The words for a server that does not do StartTLS at all.
pub(crate) const NOT_OFFERED: &str = "the server does not offer STARTTLS";

/// RFC 4511 ExtendedRequest for StartTLS (RFC 4513 section 3): messageID 1, requestName
/// 1.3.6.1.4.1.1466.20037.
const LDAP_STARTTLS: [u8; 31] = *b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037";

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const PG_SSLREQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl StartTls {
    /// `starttls = "smtp"`, or an error at the value naming what is accepted.
    pub fn parse(loader: &Loader, written: &Spanned<String>) -> Result<Self, ConfigError> {
        let value = written.get_ref().trim().to_ascii_lowercase();
        NAMES.iter().find(|(name, _)| *name == value).map(|(_, p)| *p).ok_or_else(|| {
            let names = NAMES.iter().map(|(n, _)| format!("{n:?}")).collect::<Vec<_>>().join(", ");
            loader.error(written.span(), format!("starttls is one of {names}"))
        })
    }

    pub fn name(self) -> &'static str {
        NAMES.iter().find(|(_, p)| *p == self).map_or("?", |(n, _)| n)
    }

    /// Speaks the protocol on `stream` up to the point where the TLS handshake begins.
    /// The caller bounds it in time.
    pub async fn upgrade(self, stream: &mut TcpStream) -> Result<(), String> {
        let local = stream.local_addr().map(|a| a.ip()).ok();
        let mut plain = Plain { stream, buf: Vec::new() };
        match self {
            Self::Smtp => smtp(&mut plain, local).await?,
            Self::Imap => imap(&mut plain).await?,
            Self::Pop3 => pop3(&mut plain).await?,
            Self::Ldap => ldap(&mut plain).await?,
            Self::Postgres => postgres(&mut plain).await?,
        }
        plain.finished()
    }
}

/// The plain connection with what was read but not yet used.
struct Plain<'a> {
    stream: &'a mut TcpStream,
    buf: Vec<u8>,
}

impl Plain<'_> {
    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 1024];
        let n = self.stream.read(&mut chunk).await.map_err(|e| super::net::describe_io(&e))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One line, without its CR LF.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                if end > MAX_LINE {
                    break;
                }
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_owned());
            }
            if self.buf.len() > MAX_LINE {
                break;
            }
            self.fill().await?;
        }
        Err(format!("the server sent a line longer than {MAX_LINE} bytes"))
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).await.map_err(|e| super::net::describe_io(&e))
    }

    /// The upgrade is agreed: nothing may be waiting ahead of the server's TLS.
    fn finished(self) -> Result<(), String> {
        match self.buf.is_empty() {
            true => Ok(()),
            false => {
                Err("the server sent plain text after agreeing to STARTTLS (refused: it could be injected)".into())
            }
        }
    }
}

/// A server's own words, short and without control characters.
fn shown(text: &str) -> String {
    text.trim().chars().filter(|c| !c.is_control()).take(MAX_SHOWN).collect()
}

// --- SMTP (RFC 3207) ---

/// One SMTP reply line: its code, whether more lines follow ("250-"), and its text.
fn smtp_line(line: &str) -> Option<(u16, bool, &str)> {
    let code = line.get(..3).filter(|c| c.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()?;
    match line.as_bytes().get(3) {
        None => Some((code, false, "")),
        Some(b' ') => Some((code, false, &line[4..])),
        Some(b'-') => Some((code, true, &line[4..])),
        Some(_) => None,
    }
}

/// A whole (multi-line) reply: its code and the text of every line.
async fn smtp_reply(plain: &mut Plain<'_>) -> Result<(u16, Vec<String>), String> {
    let mut texts = Vec::new();
    for _ in 0..MAX_LINES {
        let line = plain.line().await?;
        let Some((code, more, text)) = smtp_line(&line) else {
            return Err(format!("not an SMTP reply: {:?}", shown(&line)));
        };
        texts.push(text.to_owned());
        if !more {
            return Ok((code, texts));
        }
    }
    Err(format!("the server sent a reply of more than {MAX_LINES} lines"))
}

/// Whether an EHLO reply's lines (after the greeting line) list STARTTLS.
fn ehlo_offers_starttls(texts: &[String]) -> bool {
    texts.iter().skip(1).any(|t| t.split_whitespace().next().is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS")))
}

/// The EHLO argument: our own address as an address literal (RFC 5321 section 4.1.3).
fn ehlo_name(local: Option<IpAddr>) -> String {
    match local {
        Some(IpAddr::V4(ip)) => format!("[{ip}]"),
        Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        None => "[127.0.0.1]".into(),
    }
}

async fn smtp(plain: &mut Plain<'_>, local: Option<IpAddr>) -> Result<(), String> {
    let (code, texts) = smtp_reply(plain).await?;
    if code != 220 {
        return Err(format!("the server refused the session: {code} {}", shown(&texts.join(" "))));
    }
    plain.send(format!("EHLO {}\r\n", ehlo_name(local)).as_bytes()).await?;
    let (code, texts) = smtp_reply(plain).await?;
    if code != 250 {
        // A server without ESMTP has no extensions, STARTTLS among them.
        let text = shown(texts.first().map_or("", String::as_str));
        return Err(format!("{NOT_OFFERED} (it refused EHLO: {code} {text})"));
    }
    if !ehlo_offers_starttls(&texts) {
        return Err(NOT_OFFERED.into());
    }
    plain.send(b"STARTTLS\r\n").await?;
    match smtp_reply(plain).await? {
        (220, _) => Ok(()),
        (code, texts) => Err(format!("the server refused STARTTLS: {code} {}", shown(&texts.join(" ")))),
    }
}

// --- IMAP (RFC 3501 section 6.2.1) ---

/// What an IMAP line says: `Some(Ok)` for "TAG OK", `Some(Err)` for "TAG NO/BAD",
/// `None` for anything else (untagged data before the answer).
fn imap_tagged<'a>(line: &'a str, tag: &str) -> Option<Result<(), &'a str>> {
    let (first, rest) = line.split_once(' ')?;
    if first != tag {
        return None;
    }
    let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
    match word.to_ascii_uppercase().as_str() {
        "OK" => Some(Ok(())),
        _ => Some(Err(text)),
    }
}

/// The greeting: `Ok` for "* OK", an error in words otherwise.
fn imap_greeting(line: &str) -> Result<(), String> {
    let mut words = line.splitn(3, ' ');
    let (star, word, text) = (words.next(), words.next().map(str::to_ascii_uppercase), words.next().unwrap_or(""));
    match (star, word.as_deref()) {
        (Some("*"), Some("OK")) => Ok(()),
        (Some("*"), Some("PREAUTH")) => {
            Err("the server greets as already logged in, where STARTTLS is not allowed".into())
        }
        (Some("*"), Some("BYE")) => Err(format!("the server refused the session: {}", shown(text))),
        _ => Err(format!("not an IMAP greeting: {:?}", shown(line))),
    }
}

async fn imap(plain: &mut Plain<'_>) -> Result<(), String> {
    imap_greeting(&plain.line().await?)?;
    plain.send(b"a1 STARTTLS\r\n").await?;
    for _ in 0..MAX_LINES {
        let line = plain.line().await?;
        match imap_tagged(&line, "a1") {
            Some(Ok(())) => return Ok(()),
            Some(Err(text)) => return Err(format!("{NOT_OFFERED} (it answered: {})", shown(text))),
            None => continue,
        }
    }
    Err(format!("no answer to STARTTLS in {MAX_LINES} lines"))
}

// --- POP3 (RFC 2595 section 4) ---

/// `Ok` for "+OK ...", the text of "-ERR ..." as `Err`, `None` for anything else.
fn pop3_status(line: &str) -> Option<Result<(), &str>> {
    let (word, text) = line.split_once(' ').unwrap_or((line, ""));
    match word.to_ascii_uppercase().as_str() {
        "+OK" => Some(Ok(())),
        "-ERR" => Some(Err(text)),
        _ => None,
    }
}

async fn pop3(plain: &mut Plain<'_>) -> Result<(), String> {
    let line = plain.line().await?;
    match pop3_status(&line) {
        Some(Ok(())) => {}
        Some(Err(text)) => return Err(format!("the server refused the session: {}", shown(text))),
        None => return Err(format!("not a POP3 greeting: {:?}", shown(&line))),
    }
    plain.send(b"STLS\r\n").await?;
    let line = plain.line().await?;
    match pop3_status(&line) {
        Some(Ok(())) => Ok(()),
        Some(Err(text)) => Err(format!("{NOT_OFFERED} (it answered: {})", shown(text))),
        None => Err(format!("not a POP3 answer: {:?}", shown(&line))),
    }
}

// --- LDAP (RFC 4511 section 4.14) ---

/// A BER element: its tag, its contents, and what follows it.
type Element<'a> = (u8, &'a [u8], &'a [u8]);

/// One BER element at the start of `buf`. `Ok(None)`: more bytes
/// are needed. Definite lengths of up to four bytes only, as LDAP uses.
fn ber(buf: &[u8]) -> Result<Option<Element<'_>>, String> {
    let (Some(&tag), Some(&first)) = (buf.first(), buf.get(1)) else { return Ok(None) };
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err("not an LDAP answer (a length BER does not allow here)".into());
        }
        let Some(bytes) = buf.get(2..2 + n) else { return Ok(None) };
        (2 + n, bytes.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b)))
    };
    if len > MAX_LDAP {
        return Err(format!("the server's LDAP answer is longer than {MAX_LDAP} bytes"));
    }
    Ok(buf.get(header..header + len).map(|contents| (tag, contents, &buf[header + len..])))
}

/// A complete ExtendedResponse: its result code and diagnostic message.
fn ldap_extended_response(message: &[u8]) -> Result<(u32, String), String> {
    let malformed = || "the server's answer to StartTLS is not an LDAP ExtendedResponse".to_owned();
    let (0x30, body, _) = ber(message)?.ok_or_else(malformed)? else { return Err(malformed()) };
    let (0x02, id, body) = ber(body)?.ok_or_else(malformed)? else { return Err(malformed()) };
    let (0x78, response, _) = ber(body)?.ok_or_else(malformed)? else { return Err(malformed()) };
    let (0x0a, code, rest) = ber(response)?.ok_or_else(malformed)? else { return Err(malformed()) };
    if code.is_empty() || code.len() > 4 {
        return Err(malformed());
    }
    let code = code.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b));
    let text = match ber(rest)? {
        Some((0x04, _matched, rest)) => match ber(rest)? {
            Some((0x04, text, _)) => shown(&String::from_utf8_lossy(text)),
            _ => String::new(),
        },
        _ => String::new(),
    };
    // messageID 0 is the server's Notice of Disconnection, not our answer.
    if id != [1] {
        return Err(format!(
            "the server ended the session (result {code}{})",
            if text.is_empty() { String::new() } else { format!(": {text}") }
        ));
    }
    Ok((code, text))
}

async fn ldap(plain: &mut Plain<'_>) -> Result<(), String> {
    plain.send(&LDAP_STARTTLS).await?;
    let end = loop {
        match ber(&plain.buf)? {
            Some((_, _, rest)) => break plain.buf.len() - rest.len(),
            None => plain.fill().await?,
        }
    };
    let message: Vec<u8> = plain.buf.drain(..end).collect();
    match ldap_extended_response(&message)? {
        (0, _) => Ok(()),
        // protocolError: the server does not know the StartTLS operation.
        (2, text) => Err(format!(
            "{NOT_OFFERED} (result 2{})",
            if text.is_empty() { String::new() } else { format!(": {text}") }
        )),
        (code, text) => Err(format!(
            "the server refused StartTLS (result {code}{})",
            if text.is_empty() { String::new() } else { format!(": {text}") }
        )),
    }
}

// --- PostgreSQL (protocol section 54.2.10, SSLRequest) ---

/// The one-byte answer to SSLRequest.
fn postgres_answer(byte: u8) -> Result<(), String> {
    match byte {
        b'S' => Ok(()),
        b'N' => Err(format!("{NOT_OFFERED} (ssl is off)")),
        b'E' => Err("the server refused the SSLRequest with an error (a server older than 7.0?)".into()),
        other => Err(format!("not a PostgreSQL server (it answered byte {other:#04x})")),
    }
}

async fn postgres(plain: &mut Plain<'_>) -> Result<(), String> {
    plain.send(&PG_SSLREQUEST).await?;
    plain.fill().await?;
    let byte = plain.buf.remove(0);
    postgres_answer(byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ldap_request_is_the_one_rfc_4511_describes() {
        let (tag, body, rest) = ber(&LDAP_STARTTLS).unwrap().unwrap();
        assert_eq!((tag, rest.len()), (0x30, 0));
        let (tag, id, body) = ber(body).unwrap().unwrap();
        assert_eq!((tag, id), (0x02, &[1u8][..]));
        let (tag, request, _) = ber(body).unwrap().unwrap();
        assert_eq!(tag, 0x77);
        let (tag, name, _) = ber(request).unwrap().unwrap();
        assert_eq!((tag, name), (0x80, &b"1.3.6.1.4.1.1466.20037"[..]));
    }

    #[test]
    fn ldap_answers() {
        let success = b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00";
        assert_eq!(ldap_extended_response(success), Ok((0, String::new())));
        let refused = b"\x30\x0f\x02\x01\x01\x78\x0a\x0a\x01\x02\x04\x00\x04\x03no\x07";
        assert_eq!(ldap_extended_response(refused), Ok((2, "no".into())));
        let notice = b"\x30\x0c\x02\x01\x00\x78\x07\x0a\x01\x34\x04\x00\x04\x00";
        assert!(ldap_extended_response(notice).unwrap_err().contains("ended the session (result 52"));
        assert!(ber(b"\x30\x85\x01\x02\x03\x04\x05").is_err(), "five length bytes");
        assert!(ber(b"\x30\x84\x00\x01\x00\x00").unwrap_err().contains("longer than"));
        assert_eq!(ber(b"\x30\x05\x01").unwrap(), None, "more bytes needed");
    }

    #[test]
    fn smtp_lines_and_ehlo() {
        assert_eq!(smtp_line("250-STARTTLS"), Some((250, true, "STARTTLS")));
        assert_eq!(smtp_line("220 mail ESMTP"), Some((220, false, "mail ESMTP")));
        assert_eq!(smtp_line("250"), Some((250, false, "")));
        assert_eq!(smtp_line("25x ok"), None);
        assert_eq!(smtp_line("250_x"), None);
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ehlo_offers_starttls(&texts(&["mail", "SIZE 10", "starttls"])));
        assert!(!ehlo_offers_starttls(&texts(&["STARTTLS is what the greeting says", "SIZE 10"])));
        assert!(!ehlo_offers_starttls(&texts(&["mail", "XSTARTTLS"])));
        assert_eq!(ehlo_name(Some("::1".parse().unwrap())), "[IPv6:::1]");
    }

    #[test]
    fn imap_pop3_postgres_answers() {
        assert_eq!(imap_tagged("a1 OK Begin TLS", "a1"), Some(Ok(())));
        assert_eq!(imap_tagged("a1 BAD unknown command", "a1"), Some(Err("unknown command")));
        assert_eq!(imap_tagged("* CAPABILITY IMAP4rev1", "a1"), None);
        assert!(imap_greeting("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready").is_ok());
        assert!(imap_greeting("* PREAUTH hi").unwrap_err().contains("logged in"));
        assert!(imap_greeting("+OK pop").is_err());
        assert_eq!(pop3_status("+OK Begin TLS"), Some(Ok(())));
        assert_eq!(pop3_status("-ERR no"), Some(Err("no")));
        assert_eq!(pop3_status("* OK"), None);
        assert!(postgres_answer(b'S').is_ok());
        assert!(postgres_answer(b'N').unwrap_err().starts_with(NOT_OFFERED));
    }

    #[test]
    fn shown_text_has_no_control_characters() {
        assert_eq!(shown(" a\x1b[31mb\u{7}\u{85} "), "a[31mb");
        assert_eq!(shown(&"x".repeat(1000)).len(), MAX_SHOWN);
    }

    proptest! {
        #[test]
        fn fuzz_starttls_text_replies(line in "\\PC{0,80}|[0-9]{3}[ -].{0,20}|a1 [A-Z]{2,3} .{0,10}|[+-][A-Z]{2,3} .{0,10}") {
            let _ = smtp_line(&line);
            let _ = imap_tagged(&line, "a1");
            let _ = imap_greeting(&line);
            let _ = pop3_status(&line);
            prop_assert!(shown(&line).chars().all(|c| !c.is_control()));
        }

        #[test]
        fn fuzz_starttls_ldap_answers(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = ber(&bytes);
            if let Err(why) = ldap_extended_response(&bytes) {
                prop_assert!(why.chars().all(|c| !c.is_control()));
            }
        }

        #[test]
        fn fuzz_starttls_ldap_shaped_answers(
            code in proptest::collection::vec(proptest::num::u8::ANY, 0..6),
            text in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            id in 0u8..3,
        ) {
            let mut response = vec![0x0a, code.len() as u8];
            response.extend(&code);
            response.extend([0x04, 0x00, 0x04, text.len() as u8]);
            response.extend(&text);
            let mut body = vec![0x02, 0x01, id, 0x78, response.len() as u8];
            body.extend(&response);
            let mut message = vec![0x30, body.len() as u8];
            message.extend(&body);
            match ldap_extended_response(&message) {
                Ok((_, shown)) => prop_assert!(id == 1 && !code.is_empty() && code.len() <= 4 && shown.chars().all(|c| !c.is_control())),
                Err(why) => prop_assert!(id != 1 || code.is_empty() || code.len() > 4, "{why}"),
            }
        }
    }
}
