//! Public-key pins: `pin = "sha256//<base64>"`, the SHA-256 of a certificate's
//! SubjectPublicKeyInfo in base64, as curl's `--pinnedpubkey` writes it.
//!
//! A pin names a server's key, not a CA: a leaf whose key matches is trusted even when it is
//! self-signed or a CA certificate (as appliances ship them); its dates and names are still
//! judged. A pin also narrows trust: a check with pins fails a leaf that matches none, even
//! one a CA vouches for.

use std::fmt;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::CertificateError;

/// One pin: the base64 of a SHA-256 (44 characters, padding included).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pin(String);

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256//{}", self.0)
    }
}

impl Pin {
    /// Pins as written: `sha256//<base64>` or `sha256/<base64>`, several joined with `;` as
    /// curl accepts them. `Err` says what is wrong with the first one that is not a pin.
    pub fn parse(text: &str) -> Result<Vec<Pin>, String> {
        text.split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Self::parse_one)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|pins| if pins.is_empty() { Err("pin is empty".to_owned()) } else { Ok(pins) })
    }

    fn parse_one(text: &str) -> Result<Pin, String> {
        let hint = "a pin is \"sha256//\" and the base64 of a SHA-256 of the server's public key, as curl's \
                    --pinnedpubkey takes it";
        let Some(b64) = text.strip_prefix("sha256//").or_else(|| text.strip_prefix("sha256/")) else {
            return Err(format!("pin {text:?} does not start with \"sha256//\": {hint}"));
        };
        let base64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
        // 32 bytes are 43 base64 characters and one "=".
        let valid = b64.len() == 44 && b64.ends_with('=') && b64[..43].chars().all(base64);
        if !valid {
            return Err(format!("pin {text:?} is not the base64 of a SHA-256 (44 characters ending in \"=\"): {hint}"));
        }
        Ok(Pin(b64.to_owned()))
    }

    /// The pin of a certificate's public key; `None` when the certificate cannot be read.
    pub fn of(cert: &CertificateDer<'_>) -> Option<Pin> {
        let parsed = rustls::server::ParsedCertificate::try_from(cert).ok()?;
        let spki = parsed.subject_public_key_info();
        let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
        Some(Pin(crate::secrets::base64(digest.as_ref())))
    }
}

/// Pins as a list in words: `"sha256//A"` or `"sha256//A", "sha256//B"`.
pub(crate) fn listed(pins: &[Pin]) -> String {
    pins.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
}

/// The checks a server's own certificate (pinned, or in `ca_file`) still passes: it is
/// within its dates, and it names the server. Its key proved itself in the handshake.
pub(super) fn own_certificate(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let bad = rustls::Error::InvalidCertificate;
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).map_err(|_| bad(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now > parsed.validity().not_after.timestamp() {
        return Err(bad(CertificateError::Expired));
    }
    if now < parsed.validity().not_before.timestamp() {
        return Err(bad(CertificateError::NotValidYet));
    }
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_as_curl_writes_them() {
        let b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let one = Pin::parse(&format!("sha256//{b64}")).unwrap();
        assert_eq!(one, Pin::parse(&format!("sha256/{b64}")).unwrap());
        assert_eq!(one[0].to_string(), format!("sha256//{b64}"));
        assert_eq!(Pin::parse(&format!("sha256//{b64};sha256//{b64}")).unwrap().len(), 2);
        for wrong in ["", "47DEQpj8HBSa", &format!("sha1//{b64}"), "sha256//abc=", &format!("sha256//{b64}x")] {
            assert!(Pin::parse(wrong).is_err(), "{wrong:?}");
        }
    }
}
