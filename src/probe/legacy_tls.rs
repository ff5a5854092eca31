//! Does a server still complete a TLS 1.0, 1.1 (or 1.2) handshake? (`min_tls`)
//!
//! rustls cannot speak those versions, and should not: rounds sends one minimal legacy
//! ClientHello itself and reads only the first ten bytes of the answer, the record and
//! handshake headers and the ServerHello's version, then hangs up. No key exchange, no data.
//! Ten fixed-offset bytes need no parser crate.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::kind::Budget;

/// A protocol version below the one a check requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Legacy {
    Tls10,
    Tls11,
    Tls12,
}

impl Legacy {
    fn wire(self) -> [u8; 2] {
        match self {
            Legacy::Tls10 => [3, 1],
            Legacy::Tls11 => [3, 2],
            Legacy::Tls12 => [3, 3],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Legacy::Tls10 => "TLS 1.0",
            Legacy::Tls11 => "TLS 1.1",
            Legacy::Tls12 => "TLS 1.2",
        }
    }

    /// The versions a check's `min_tls` (else `[settings]`') says must be refused; `None`
    /// when neither sets one. The one place every kind with `min_tls` reads it.
    pub fn required(
        loader: &crate::config::Loader,
        own: Option<&toml::Spanned<String>>,
    ) -> Result<Option<Vec<Legacy>>, crate::config::ConfigError> {
        Ok(loader.min_tls(own)?.and_then(|min| Legacy::below(&min)))
    }

    /// The versions below `min` ("1.2" or "1.3"); `None` for anything else.
    fn below(min: &str) -> Option<Vec<Legacy>> {
        match min.trim() {
            "1.2" => Some(vec![Legacy::Tls10, Legacy::Tls11]),
            "1.3" => Some(vec![Legacy::Tls10, Legacy::Tls11, Legacy::Tls12]),
            _ => None,
        }
    }
}

/// What the server did with a legacy hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Accepted,
    Refused,
    /// No answer, or one that cannot be read: rounds cannot be sure it is refused.
    Unclear(String),
}

/// Cipher suites a server of any age may pick: ECDHE and RSA with AES-CBC and AES-GCM.
const SUITES: [u16; 12] =
    [0xc02f, 0xc030, 0xc02b, 0xc02c, 0xc013, 0xc014, 0xc009, 0xc00a, 0x009c, 0x009d, 0x002f, 0x0035];

/// A minimal ClientHello offering `version`, with SNI when `server_name` is a name.
pub(crate) fn client_hello(version: Legacy, server_name: Option<&str>) -> Vec<u8> {
    let mut extensions = Vec::new();
    if let Some(name) = server_name {
        let name = name.as_bytes();
        let entry_len = name.len() + 3;
        extensions.extend_from_slice(&[0, 0]);
        extensions.extend_from_slice(&((entry_len + 2) as u16).to_be_bytes());
        extensions.extend_from_slice(&(entry_len as u16).to_be_bytes());
        extensions.push(0);
        extensions.extend_from_slice(&(name.len() as u16).to_be_bytes());
        extensions.extend_from_slice(name);
    }
    // supported_groups: x25519, secp256r1, secp384r1; ec_point_formats: uncompressed.
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms (read only by TLS 1.2 servers): RSA and ECDSA with SHA-256/384, RSA-SHA1.
    extensions.extend_from_slice(&[0x00, 0x0d, 0x00, 0x0a, 0x00, 0x08, 0x04, 0x01, 0x04, 0x03, 0x05, 0x01, 0x02, 0x01]);
    // renegotiation_info, empty: old servers expect it.
    extensions.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);

    let mut body = version.wire().to_vec();
    body.extend((0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    body.push(0); // no session id
    body.extend_from_slice(&((SUITES.len() * 2) as u16).to_be_bytes());
    SUITES.iter().for_each(|s| body.extend_from_slice(&s.to_be_bytes()));
    body.extend_from_slice(&[1, 0]); // compression: null only
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);

    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1]; // handshake record, version TLS 1.0 for compatibility
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Reads the answer's first bytes: a ServerHello with `version` is acceptance.
pub(crate) fn judge(version: Legacy, answer: &[u8]) -> Answer {
    match answer {
        [0x15, ..] => Answer::Refused,
        [0x16, _, _, _, _, 0x02, _, _, _, major, minor, ..] if [*major, *minor] == version.wire() => Answer::Accepted,
        [0x16, _, _, _, _, 0x02, ..] => Answer::Refused,
        [] => Answer::Refused,
        _ => Answer::Unclear("an answer that is not TLS".into()),
    }
}

/// Sends a legacy hello for `version` to `host:port` and says what the server did.
pub(crate) async fn offer(host: &str, port: u16, server_name: Option<&str>, version: Legacy, budget: Budget) -> Answer {
    let exchange = async {
        let mut stream = super::net::connect(host, port).await.map_err(Answer::Unclear)?;
        stream.write_all(&client_hello(version, server_name)).await.map_err(|_| Answer::Refused)?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 16];
        while answer.len() < 11 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        Ok::<_, Answer>(judge(version, &answer))
    };
    let wait = budget.step_remaining().min(Duration::from_secs(5));
    match tokio::time::timeout(wait, exchange).await {
        Ok(Ok(answer)) | Ok(Err(answer)) => answer,
        Err(_) => Answer::Unclear(format!("no answer to a {} hello", version.name())),
    }
}

/// "still accepts TLS 1.0 and 1.1; disable them", or nothing when all are refused; an
/// unclear answer is a warning (rounds cannot say it is refused).
pub(crate) async fn legacy_verdict(
    host: &str,
    port: u16,
    server_name: Option<&str>,
    versions: &[Legacy],
    budget: Budget,
) -> Option<(crate::outcome::Status, String)> {
    let mut accepted = Vec::new();
    let mut unclear = Vec::new();
    for version in versions {
        match offer(host, port, server_name, *version, budget).await {
            Answer::Accepted => accepted.push(version.name().trim_start_matches("TLS ")),
            Answer::Refused => {}
            Answer::Unclear(why) => unclear.push(format!("{} ({why})", version.name())),
        }
    }
    if !accepted.is_empty() {
        let list = match accepted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => accepted.join(""),
        };
        let them = if accepted.len() == 1 { "it" } else { "them" };
        return Some((crate::outcome::Status::Fail, format!("still accepts TLS {list}; disable {them}")));
    }
    (!unclear.is_empty())
        .then(|| (crate::outcome::Status::Warn, format!("could not tell whether {} is refused", unclear.join(", "))))
}

/// `outcome` with the verdict on the legacy versions of the https server at `url` added.
pub(crate) async fn legacy_for_url(
    outcome: crate::outcome::Outcome,
    versions: &[Legacy],
    url: &reqwest::Url,
    trust: &std::sync::Arc<crate::certs::Trust>,
    budget: Budget,
) -> crate::outcome::Outcome {
    // IPv6 hosts are bracketed in URLs but not on the wire.
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let sni = url.domain().map(|_| host.as_str());
    let port = url.port_or_known_default().unwrap_or(443);
    let detail = match negotiated(trust, &host, port, budget).await {
        Some(negotiated) => format!("{}; negotiated {negotiated}", outcome.detail),
        None => outcome.detail,
    };
    match legacy_verdict(&host, port, sni, versions, budget).await {
        Some((status, why)) => crate::outcome::Outcome {
            status: outcome.status.worst(status),
            detail: format!("{detail}; but {why}"),
            facts: outcome.facts,
        },
        None => crate::outcome::Outcome { detail, ..outcome },
    }
}

/// The version and cipher a normal handshake with `host:port` settles on ("TLS 1.3,
/// TLS13_AES_256_GCM_SHA384"), on a connection of its own: HTTP clients do not say.
async fn negotiated(
    trust: &std::sync::Arc<crate::certs::Trust>,
    host: &str,
    port: u16,
    budget: Budget,
) -> Option<String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
    let stream = super::net::connect_within(host, port, budget).await.ok()?;
    let handshake = crate::certs::handshake(trust, stream, name);
    let (_, ended) = tokio::time::timeout_at(budget.step_deadline(), handshake).await.ok()?.ok()?;
    ended.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_hello_with_the_offered_version_is_acceptance() {
        let hello = [0x16, 3, 1, 0, 0x31, 0x02, 0, 0, 0x2d, 3, 1, 0xaa];
        assert_eq!(judge(Legacy::Tls10, &hello), Answer::Accepted);
        assert_eq!(judge(Legacy::Tls11, &hello), Answer::Refused);
        assert_eq!(judge(Legacy::Tls10, &[0x15, 3, 1, 0, 2, 2, 70]), Answer::Refused, "protocol_version alert");
        assert!(matches!(judge(Legacy::Tls10, b"HTTP/1.1 400"), Answer::Unclear(_)));
    }

    #[test]
    fn the_hello_is_well_formed() {
        let hello = client_hello(Legacy::Tls11, Some("ehr.clinic.local"));
        assert_eq!(&hello[..3], &[0x16, 3, 1]);
        let record_len = u16::from_be_bytes([hello[3], hello[4]]) as usize;
        assert_eq!(record_len, hello.len() - 5);
        assert_eq!(hello[5], 1);
        assert_eq!(&hello[9..11], &[3, 2]);
    }
}
