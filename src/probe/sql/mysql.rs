//! MariaDB and MySQL for `[[sql]]`: a small client of our own, as no maintained crate takes
//! rounds' own rustls `ClientConfig` (mysql_async builds its own from root certificate
//! files, so pins and the recorder could not apply) nor a TCP stream we connected.
//!
//! It speaks only what one read-only query needs (the client/server protocol as MariaDB and
//! MySQL document it): the v10 handshake, SSLRequest then TLS with our configuration,
//! `mysql_native_password` and `caching_sha2_password` (its full login only over TLS, where
//! the password may travel as written), AuthSwitchRequest, then COM_QUERY with a text result
//! set. Every packet is capped at [`MAX_PACKET`] bytes and every length is checked against
//! what is there ([`Reader`]); the parsers have `fuzz_*` targets. The caller bounds it in time.

use std::sync::atomic::Ordering;

use ring::digest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{shown, Answer, Ask, Failed, First, NO_TLS};

/// The largest packet read whole: a handshake, a column definition, the first row.
const MAX_PACKET: usize = 1024 * 1024;
/// Rows past the bound are read and dropped up to this many; beyond, the connection is
/// closed (the protocol cannot cancel a result set).
const MAX_DRAINED: u64 = 100_000;
/// The most columns an answer may have (MySQL's own limit is 4096).
const MAX_COLUMNS: u64 = 4096;
/// The longest text read as a timestamp ("2026-12-03 19:24:22.123456+05:30" is 32).
const MAX_TIMESTAMP: usize = 64;
/// utf8mb4_general_ci.
const CHARSET: u8 = 45;

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;

const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;

const NATIVE: &str = "mysql_native_password";
const CACHING_SHA2: &str = "caching_sha2_password";

/// A byte stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(super) async fn ask(ask: &Ask<'_>, stream: TcpStream) -> Result<Answer, Failed> {
    let mut conn = Conn { io: Box::new(stream), seq: 0, tls: false };
    let greeting = conn.read().await.map_err(Failed::Connecting)?;
    // A server at its connection limit (1040) says so instead of greeting.
    if greeting.first() == Some(&0xff) {
        return Err(Failed::Connecting(error_words(&parse_error(&greeting), ask)));
    }
    let hello = parse_handshake(&greeting).map_err(Failed::Connecting)?;
    let mut conn = conn.secure(ask, &hello).await.map_err(Failed::Connecting)?;
    conn.log_in(ask, &hello).await.map_err(Failed::Connecting)?;
    ask.connected.store(true, Ordering::Relaxed);
    let (answer, finished) =
        conn.query_read_only(ask, hello.server_version.contains("MariaDB")).await.map_err(Failed::Connected)?;
    // After a result set given up on, closing the connection is the only way to end it.
    if finished {
        let _ = conn.command(COM_QUIT, b"").await;
    }
    Ok(answer)
}

/// One connection: the stream and the sequence number of the next packet.
struct Conn {
    io: Box<dyn Io>,
    seq: u8,
    tls: bool,
}

impl Conn {
    /// One packet's payload, at most [`MAX_PACKET`] bytes.
    async fn read(&mut self) -> Result<Vec<u8>, String> {
        let (length, _) = self.header().await?;
        if length > MAX_PACKET {
            return Err(format!("the server sent a packet larger than {} KiB", MAX_PACKET / 1024));
        }
        let mut payload = vec![0u8; length];
        self.io.read_exact(&mut payload).await.map_err(|e| io_words(&e))?;
        Ok(payload)
    }

    /// A packet's header: its length, and its sequence number (the next one is ours).
    async fn header(&mut self) -> Result<(usize, u8), String> {
        let mut header = [0u8; 4];
        self.io.read_exact(&mut header).await.map_err(|e| io_words(&e))?;
        let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        self.seq = header[3].wrapping_add(1);
        Ok((length, header[3]))
    }

    /// Reads a packet whole if it is small (`Some`), else drops it (`None`, a long row).
    async fn read_or_skip(&mut self) -> Result<Option<Vec<u8>>, String> {
        let (length, _) = self.header().await?;
        if length <= MAX_PACKET {
            let mut payload = vec![0u8; length];
            self.io.read_exact(&mut payload).await.map_err(|e| io_words(&e))?;
            return Ok(Some(payload));
        }
        let mut left = length as u64;
        let mut sink = tokio::io::sink();
        let copied = tokio::io::copy(&mut (&mut self.io).take(left), &mut sink).await.map_err(|e| io_words(&e))?;
        left -= copied;
        match left {
            0 => Ok(None),
            _ => Err("the server closed the connection".into()),
        }
    }

    async fn write(&mut self, payload: &[u8]) -> Result<(), String> {
        let length = u32::try_from(payload.len()).ok().filter(|l| *l < 0xff_ffff).ok_or("a packet too long to send")?;
        let mut packet = Vec::with_capacity(payload.len() + 4);
        packet.extend_from_slice(&length.to_le_bytes()[..3]);
        packet.push(self.seq);
        packet.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.io.write_all(&packet).await.map_err(|e| io_words(&e))?;
        self.io.flush().await.map_err(|e| io_words(&e))
    }

    /// A command starts a new sequence.
    async fn command(&mut self, command: u8, body: &[u8]) -> Result<(), String> {
        self.seq = 0;
        let mut payload = Vec::with_capacity(body.len() + 1);
        payload.push(command);
        payload.extend_from_slice(body);
        self.write(&payload).await
    }

    /// SSLRequest and the TLS handshake, when the check asks for TLS.
    async fn secure(mut self, ask: &Ask<'_>, hello: &Handshake) -> Result<Conn, String> {
        let (Some(config), Some(tls)) = (&ask.tls, &ask.server.tls) else { return Ok(self) };
        if hello.capabilities & CLIENT_SSL == 0 {
            return Err(NO_TLS.to_owned());
        }
        let request = login_header(capabilities(ask, true));
        self.write(&request).await?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let secured = connector
            .connect(tls.server_name.clone(), self.io)
            .await
            .map_err(|e| format!("TLS handshake failed: {}", super::super::net::describe_io(&e)))?;
        let seq = self.seq;
        Ok(Conn { io: Box::new(secured), seq, tls: true })
    }

    /// HandshakeResponse41, then whatever the server's authentication asks for, to its OK.
    async fn log_in(&mut self, ask: &Ask<'_>, hello: &Handshake) -> Result<(), String> {
        let server = ask.server;
        let mut plugin = match hello.plugin.as_str() {
            CACHING_SHA2 => CACHING_SHA2,
            _ => NATIVE,
        };
        let mut nonce = hello.scramble.clone();
        let mut response = login_header(capabilities(ask, self.tls));
        response.extend_from_slice(server.user.as_bytes());
        response.push(0);
        let auth = scramble(plugin, server.password.as_bytes(), &nonce);
        response.push(u8::try_from(auth.len()).map_err(|_| "an authentication answer too long")?);
        response.extend_from_slice(&auth);
        if let Some(db) = &server.database {
            response.extend_from_slice(db.as_bytes());
            response.push(0);
        }
        response.extend_from_slice(plugin.as_bytes());
        response.push(0);
        self.write(&response).await?;
        for _ in 0..4 {
            let packet = self.read().await?;
            match packet.first() {
                Some(0x00) => return Ok(()),
                Some(0xff) => return Err(error_words(&parse_error(&packet), ask)),
                Some(0xfe) => {
                    let (name, data) = parse_auth_switch(&packet)?;
                    plugin = match name.as_str() {
                        NATIVE => NATIVE,
                        CACHING_SHA2 => CACHING_SHA2,
                        other => {
                            return Err(format!(
                                "the server asks for the authentication method {:?}, which rounds does not speak \
                                 (it speaks {NATIVE} and {CACHING_SHA2})",
                                shown(other)
                            ))
                        }
                    };
                    nonce = data;
                    let auth = scramble(plugin, server.password.as_bytes(), &nonce);
                    self.write(&auth).await?;
                }
                Some(0x01) if plugin == CACHING_SHA2 => match packet.get(1) {
                    // Fast authentication worked; the OK follows.
                    Some(3) => continue,
                    // Full authentication: the password itself, which only TLS may carry.
                    Some(4) if self.tls => {
                        let mut clear = server.password.as_bytes().to_vec();
                        clear.push(0);
                        self.write(&clear).await?;
                    }
                    Some(4) => {
                        return Err(format!(
                            "authentication failed for user {:?}: {CACHING_SHA2} needs a full login, which sends the \
                             password and so needs TLS (tls = \"require\")",
                            server.user
                        ))
                    }
                    _ => return Err("the server's authentication answer is not one rounds knows".into()),
                },
                _ => return Err("the server's authentication answer is not one rounds knows".into()),
            }
        }
        Err("the server's authentication did not finish".into())
    }

    /// The session read-only with a statement time limit, the query, then the value's age.
    async fn query_read_only(&mut self, ask: &Ask<'_>, mariadb: bool) -> Result<(Answer, bool), String> {
        let limit = ask.statement_timeout();
        let time_limit = match mariadb {
            true => format!("SET SESSION max_statement_time = {:.3}", limit.as_secs_f64()),
            false => format!("SET SESSION max_execution_time = {}", limit.as_millis()),
        };
        for setup in [time_limit.as_str(), "SET SESSION TRANSACTION READ ONLY", "START TRANSACTION READ ONLY"] {
            self.simple(setup, ask).await?;
        }
        let (mut answer, finished) = self.result_set(ask.query, ask.row_bound, ask).await?;
        if let (true, First::Value { text, age }) = (ask.want_age, &mut answer.first) {
            if !finished {
                return Err(format!(
                    "the query returns more than {MAX_DRAINED} rows; make it answer one (max(...), LIMIT 1)"
                ));
            }
            *age = Some(self.age_of(text, ask).await?);
        }
        if finished {
            self.simple("ROLLBACK", ask).await?;
        }
        Ok((answer, finished))
    }

    /// Seconds since `text` by the server's clock, read in the session's time zone.
    async fn age_of(&mut self, text: &str, ask: &Ask<'_>) -> Result<Result<f64, String>, String> {
        if text.len() > MAX_TIMESTAMP {
            return Ok(Err("the first column is not a timestamp (it is too long), so max_age cannot judge it".into()));
        }
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        let sql =
            format!("SELECT UNIX_TIMESTAMP(NOW(6)) - UNIX_TIMESTAMP(CAST(CAST(X'{hex}' AS CHAR) AS DATETIME(6)))");
        let (answer, _) = self.result_set(&sql, 1, ask).await?;
        Ok(match answer.first {
            First::Value { text: seconds, .. } => seconds
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("the database's age of the first value is not a number: {:?}", shown(&seconds))),
            _ => Err(format!("the first column is not a timestamp ({:?}), so max_age cannot judge it", shown(text))),
        })
    }

    /// A statement without rows (SET, START TRANSACTION, ROLLBACK).
    async fn simple(&mut self, sql: &str, ask: &Ask<'_>) -> Result<(), String> {
        self.result_set(sql, 1, ask).await.map(|_| ())
    }

    /// COM_QUERY and its answer: rows counted up to `bound`; `false` when the connection
    /// was given up on (more rows than [`MAX_DRAINED`]).
    async fn result_set(&mut self, sql: &str, bound: u64, ask: &Ask<'_>) -> Result<(Answer, bool), String> {
        self.command(COM_QUERY, sql.as_bytes()).await?;
        let first = self.read().await?;
        let columns = match first.first() {
            Some(0x00) => return Ok((Answer::default(), true)),
            Some(0xff) => return Err(error_words(&parse_error(&first), ask)),
            Some(0xfb) => return Err("the server asked for a local file (LOAD DATA LOCAL); refused".into()),
            _ => Reader::new(&first).lenenc().ok_or("the server's answer is not a MySQL result set")?,
        };
        if columns == 0 || columns > MAX_COLUMNS {
            return Err(format!("the answer has {columns} columns; rounds reads at most {MAX_COLUMNS}"));
        }
        for _ in 0..columns {
            self.read().await?;
        }
        if !is_eof(&self.read().await?) {
            return Err("the server's answer is not a MySQL result set (no end of columns)".into());
        }
        let mut answer = Answer::default();
        let mut seen = 0u64;
        loop {
            match self.read_or_skip().await? {
                Some(row) if is_eof(&row) => return Ok((answer, true)),
                Some(row) if row.first() == Some(&0xff) => return Err(error_words(&parse_error(&row), ask)),
                Some(row) if seen == 0 => {
                    answer.first = first_column(&row).ok_or("the server sent a row rounds cannot read")?;
                }
                Some(_) => {}
                None if seen == 0 => {
                    return Err(format!("the first row is larger than {} KiB", MAX_PACKET / 1024));
                }
                None => {}
            }
            seen += 1;
            answer.rows = seen.min(bound);
            if seen > bound.max(MAX_DRAINED) {
                return Ok((answer, false));
            }
        }
    }
}

fn io_words(e: &std::io::Error) -> String {
    super::super::net::describe_io(e)
}

/// What rounds says it can do.
fn capabilities(ask: &Ask<'_>, tls: bool) -> u32 {
    let mut caps =
        CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    if ask.server.database.is_some() {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    if tls {
        caps |= CLIENT_SSL;
    }
    caps
}

/// The start of SSLRequest and HandshakeResponse41: capabilities, packet size, charset.
fn login_header(capabilities: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&capabilities.to_le_bytes());
    out.extend_from_slice(&(MAX_PACKET as u32).to_le_bytes());
    out.push(CHARSET);
    out.extend_from_slice(&[0u8; 23]);
    out
}

/// The password answered to `nonce` as `plugin` wants it; nothing for an empty password.
fn scramble(plugin: &str, password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let nonce = nonce.strip_suffix(&[0]).unwrap_or(nonce);
    let (algorithm, salt_first) = match plugin {
        // SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))
        NATIVE => (&digest::SHA1_FOR_LEGACY_USE_ONLY, true),
        // SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)
        _ => (&digest::SHA256, false),
    };
    let stage1 = digest::digest(algorithm, password);
    let stage2 = digest::digest(algorithm, stage1.as_ref());
    let mut context = digest::Context::new(algorithm);
    match salt_first {
        true => {
            context.update(nonce);
            context.update(stage2.as_ref());
        }
        false => {
            context.update(stage2.as_ref());
            context.update(nonce);
        }
    }
    let mix = context.finish();
    stage1.as_ref().iter().zip(mix.as_ref()).map(|(a, b)| a ^ b).collect()
}

/// A bounded cursor over a packet: every read checks what is left.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Up to a NUL (consumed), or to the end.
    fn nul_terminated(&mut self) -> &'a [u8] {
        let end = self.bytes.iter().position(|b| *b == 0);
        let text = &self.bytes[..end.unwrap_or(self.bytes.len())];
        self.bytes = &self.bytes[end.map_or(self.bytes.len(), |e| e + 1)..];
        text
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// A length-encoded integer.
    fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.u16().map(u64::from),
            0xfd => self.take(3).map(|b| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16),
            0xfe => self.take(8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            _ => None,
        }
    }
}

/// The server's greeting (Protocol::HandshakeV10).
#[derive(Debug, PartialEq)]
pub(crate) struct Handshake {
    pub server_version: String,
    pub capabilities: u32,
    /// The 20-byte nonce authentication mixes the password with.
    pub scramble: Vec<u8>,
    pub plugin: String,
}

pub(crate) fn parse_handshake(packet: &[u8]) -> Result<Handshake, String> {
    let not = || "not a MySQL or MariaDB server (its greeting is not a handshake)".to_owned();
    let mut r = Reader::new(packet);
    match r.u8() {
        Some(10) => {}
        Some(0xff) => {
            return Err(format!("the server refused the connection: {}", shown(&parse_error(packet).message)))
        }
        _ => return Err(not()),
    }
    let server_version = String::from_utf8_lossy(r.nul_terminated()).into_owned();
    let _connection_id = r.u32().ok_or_else(not)?;
    let mut scramble = r.take(8).ok_or_else(not)?.to_vec();
    let _filler = r.u8().ok_or_else(not)?;
    let mut capabilities = u32::from(r.u16().ok_or_else(not)?);
    let mut plugin = String::new();
    if let (Some(_charset), Some(_status), Some(upper)) = (r.u8(), r.u16(), r.u16()) {
        capabilities |= u32::from(upper) << 16;
        let data_length = usize::from(r.u8().ok_or_else(not)?);
        r.take(10).ok_or_else(not)?;
        if capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let more = data_length.saturating_sub(8).max(13);
            let part = r.take(more.min(r.bytes.len())).ok_or_else(not)?;
            scramble.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
        }
        if capabilities & CLIENT_PLUGIN_AUTH != 0 {
            plugin = String::from_utf8_lossy(r.nul_terminated()).into_owned();
        }
    }
    if capabilities & CLIENT_PROTOCOL_41 == 0 {
        return Err(format!("the server ({}) is too old: it does not speak protocol 4.1", shown(&server_version)));
    }
    Ok(Handshake { server_version, capabilities, scramble, plugin })
}

/// An ERR packet: its code, SQL state and message.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ServerError {
    pub code: u16,
    pub message: String,
}

pub(crate) fn parse_error(packet: &[u8]) -> ServerError {
    let mut r = Reader::new(packet);
    let _marker = r.u8();
    let code = r.u16().unwrap_or(0);
    let mut rest = r.rest();
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        rest = &rest[6..];
    }
    ServerError { code, message: String::from_utf8_lossy(rest).into_owned() }
}

/// AuthSwitchRequest: the method and its nonce.
pub(crate) fn parse_auth_switch(packet: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut r = Reader::new(packet);
    let _marker = r.u8();
    let name = String::from_utf8_lossy(r.nul_terminated()).into_owned();
    Ok((name, r.rest().to_vec()))
}

/// An EOF packet (0xFE, shorter than 9 bytes; a row cannot start so).
fn is_eof(packet: &[u8]) -> bool {
    packet.first() == Some(&0xfe) && packet.len() < 9
}

/// The first column of a text row: NULL (0xFB) or a length-encoded string.
pub(crate) fn first_column(row: &[u8]) -> Option<First> {
    let mut r = Reader::new(row);
    if r.bytes.first() == Some(&0xfb) {
        return Some(First::Null);
    }
    let length = usize::try_from(r.lenenc()?).ok()?;
    let text = r.take(length)?;
    Some(First::Value { text: String::from_utf8_lossy(text).into_owned(), age: None })
}

/// A MariaDB/MySQL error code in words, with the server's own message.
fn error_words(error: &ServerError, ask: &Ask<'_>) -> String {
    let message = shown(&error.message);
    let user = &ask.server.user;
    match error.code {
        1045 => format!("authentication failed for user {user:?}: {message}"),
        1049 => format!("database does not exist: {message}"),
        1044 | 1142 | 1143 => format!("permission denied: {message} (grant SELECT to {user:?})"),
        1040 | 1203 => format!("too many connections: {message}"),
        1969 | 3024 | 1317 => {
            format!("timeout while querying: the database stopped the query at its time limit ({message})")
        }
        1792 => format!("the query tries to write, and rounds runs queries read-only: {message}"),
        1130 => format!("the database refuses connections from this host: {message}"),
        code => format!("the database refused the query: {message} (error {code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A greeting as MariaDB 10.11 sends it.
    fn greeting() -> Vec<u8> {
        let mut g = vec![10];
        g.extend_from_slice(b"5.5.5-10.11.6-MariaDB\0");
        g.extend_from_slice(&7u32.to_le_bytes());
        g.extend_from_slice(b"abcdefgh");
        g.push(0);
        let caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_SSL;
        g.extend_from_slice(&(caps as u16).to_le_bytes());
        g.push(45);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(b"ijklmnopqrst\0");
        g.extend_from_slice(b"mysql_native_password\0");
        g
    }

    #[test]
    fn a_greeting_is_read() {
        let hello = parse_handshake(&greeting()).expect("parses");
        assert_eq!(hello.scramble, b"abcdefghijklmnopqrst");
        assert_eq!(hello.plugin, NATIVE);
        assert!(hello.server_version.contains("MariaDB"));
        assert_ne!(hello.capabilities & CLIENT_SSL, 0);
        let refused = [0xff, 0x10, 0x04, b'T', b'o', b'o'];
        assert_eq!(parse_handshake(&refused).unwrap_err(), "the server refused the connection: Too");
        assert!(parse_handshake(b"HTTP/1.1 400").is_err());
    }

    #[test]
    fn native_passwords_scramble_as_the_server_checks() {
        // From the protocol's documentation: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))).
        let nonce = b"abcdefghijklmnopqrst";
        let answer = scramble(NATIVE, b"secret", nonce);
        let stage1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, b"secret");
        let stage2 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, stage1.as_ref());
        let mut salted = nonce.to_vec();
        salted.extend_from_slice(stage2.as_ref());
        let mix = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &salted);
        // The server recovers SHA1(pw) from the answer and checks its hash.
        let recovered: Vec<u8> = answer.iter().zip(mix.as_ref()).map(|(a, b)| a ^ b).collect();
        assert_eq!(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &recovered).as_ref(), stage2.as_ref());
        assert_eq!(answer.len(), 20);
        assert_eq!(scramble(CACHING_SHA2, b"secret", nonce).len(), 32);
        assert!(scramble(NATIVE, b"", nonce).is_empty());
    }

    #[test]
    fn errors_and_rows_are_read() {
        let err = [&[0xff, 0x19, 0x04][..], b"#42000Unknown database 'x'"].concat();
        assert_eq!(parse_error(&err), ServerError { code: 1049, message: "Unknown database 'x'".into() });
        assert!(matches!(first_column(&[0xfb]), Some(First::Null)));
        match first_column(&[2, b'o', b'k', 1, b'x']) {
            Some(First::Value { text, .. }) => assert_eq!(text, "ok"),
            other => panic!("{other:?}"),
        }
        assert!(first_column(&[5, b'o']).is_none());
        assert!(is_eof(&[0xfe, 0, 0, 2, 0]));
        assert_eq!(parse_auth_switch(b"\xfecaching_sha2_password\0nonce").unwrap().0, CACHING_SHA2);
    }

    proptest::proptest! {
        /// Whatever a server greets with, parsing never panics.
        #[test]
        fn fuzz_mysql_handshakes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = parse_handshake(&bytes);
        }

        #[test]
        fn fuzz_mysql_greetings_cut_anywhere(cut in 0usize..120, flip in 0usize..120, bit in 0u8..8) {
            let mut g = greeting();
            if let Some(b) = g.get_mut(flip) {
                *b ^= 1 << bit;
            }
            g.truncate(cut);
            let _ = parse_handshake(&g);
        }

        #[test]
        fn fuzz_mysql_packets(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_error(&bytes);
            let _ = parse_auth_switch(&bytes);
            let _ = first_column(&bytes);
            let _ = is_eof(&bytes);
            let _ = Reader::new(&bytes).lenenc();
        }
    }
}
