//! Certificates: whom to trust, what was served, and how a person should hear about it.
//!
//! Both the HTTPS endpoint probe and the TLS probe verify through a [`Recorder`]: it wraps
//! the real verifier (the system's CAs plus an optional `ca_file`) and keeps the chain of
//! every handshake, verified or not. That is how a check can say "certificate expired 3 days
//! ago" rather than "TLS error", report days left on every redirect hop, and name an
//! intermediate that expires before the leaf.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::check::Status;

/// When a certificate's remaining lifetime becomes news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertLimits {
    /// Fewer days left than this: warn. 30 gives a month to order and install a renewal.
    pub warn_days: u32,
    /// Fewer days left than this (or expired): fail.
    pub crit_days: u32,
}

impl Default for CertLimits {
    fn default() -> Self {
        Self { warn_days: 30, crit_days: 7 }
    }
}

/// ring, chosen explicitly rather than installed process-wide: it builds faster and smaller
/// than aws-lc-rs, and no global state means tests and library users cannot trip over it.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The CAs a check trusts: the system's store plus the inventory's `ca_file`, if any.
///
/// The system store is loaded on first use, not at config time, so `validate` and `list`
/// stay instant; one `Trust` is shared by every check with the same `ca_file`.
pub struct Trust {
    extra: Vec<CertificateDer<'static>>,
    verifier: OnceLock<Result<Arc<dyn ServerCertVerifier>, String>>,
    http: OnceLock<Result<(reqwest::Client, Arc<Recorder>), String>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust").field("extra_cas", &self.extra.len()).finish()
    }
}

impl Trust {
    pub fn system() -> Self {
        Self { extra: Vec::new(), verifier: OnceLock::new(), http: OnceLock::new() }
    }

    /// Reads a PEM file of CA certificates; fails if it holds none.
    pub fn with_ca_file(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot read ca_file {shown}: {e}"))?;
        let extra =
            iter.collect::<Result<Vec<_>, _>>().map_err(|e| format!("ca_file {shown} is not valid PEM: {e}"))?;
        if extra.is_empty() {
            return Err(format!("ca_file {shown} holds no PEM certificate"));
        }
        Ok(Self { extra, verifier: OnceLock::new(), http: OnceLock::new() })
    }

    fn verifier(&self) -> Result<Arc<dyn ServerCertVerifier>, String> {
        self.verifier
            .get_or_init(|| {
                rustls_platform_verifier::Verifier::new_with_extra_roots(self.extra.iter().cloned(), crypto_provider())
                    .map(|v| Arc::new(v) as Arc<dyn ServerCertVerifier>)
                    .map_err(|e| format!("no trusted CAs: {e} (install the ca-certificates package, or give ca_file)"))
            })
            .clone()
    }

    /// A TLS client configuration that verifies against this trust store and records every
    /// chain it is shown, with a recorder of its own.
    pub fn recording_config(self: &Arc<Self>) -> Result<(ClientConfig, Arc<Recorder>), String> {
        let recorder = Arc::new(Recorder { trust: Arc::downgrade(self), seen: Mutex::new(HashMap::new()) });
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        Ok((config, recorder))
    }

    /// The HTTP client every endpoint with this trust store shares, and its recorder.
    ///
    /// Shared so that connections are reused across checks of the same server, as curl and
    /// browsers do: a thousand checks of one API cost a few dozen handshakes, not a thousand.
    /// Each response carries its connection's leaf certificate (`tls_info`), and the
    /// recorder finds the whole chain and the verdict by that leaf.
    pub fn http_client(self: &Arc<Self>) -> Result<(reqwest::Client, Arc<Recorder>), String> {
        self.http
            .get_or_init(|| {
                let (tls, recorder) = self.recording_config()?;
                let client = reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .tls_info(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("rounds/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
                Ok((client, recorder))
            })
            .clone()
    }
}

/// A TLS handshake over `stream`, with a recorder of its own.
///
/// `Ok` holds what the verifier saw (if the server got that far) and how the handshake
/// ended; `Err` means TLS could not even be set up.
pub async fn handshake(
    trust: &Arc<Trust>,
    stream: tokio::net::TcpStream,
    server_name: ServerName<'static>,
) -> Result<(Option<Handshake>, std::io::Result<()>), String> {
    let (config, recorder) = trust.recording_config()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let ended = connector.connect(server_name, stream).await.map(|_| ());
    Ok((recorder.single(), ended))
}

/// One TLS handshake as the verifier saw it.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub server_name: String,
    /// Leaf first, then the intermediates in the order the server sent them.
    pub chain: Vec<CertificateDer<'static>>,
    /// Why verification failed, if it did.
    pub error: Option<rustls::Error>,
}

/// Verifies with the real verifier and keeps what it saw, by leaf certificate.
#[derive(Debug)]
pub struct Recorder {
    /// Asked for its verifier only when a handshake happens: plain-HTTP checks never load
    /// the system's CA store. Without usable CAs every handshake fails with the reason.
    /// Weak: the trust store owns the shared HTTP client, which owns this recorder.
    trust: Weak<Trust>,
    seen: Mutex<HashMap<Vec<u8>, Handshake>>,
}

impl Recorder {
    /// The handshake in which this leaf certificate (DER) was presented.
    pub fn handshake_with(&self, leaf: &[u8]) -> Option<Handshake> {
        self.seen.lock().ok()?.get(leaf).cloned()
    }

    /// The only handshake seen, for a recorder used for one connection.
    pub fn single(&self) -> Option<Handshake> {
        self.seen.lock().ok()?.values().next().cloned()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verifier = self.trust.upgrade().map_or_else(|| Err("TLS trust store is gone".to_owned()), |t| t.verifier());
        let result = match verifier {
            Ok(inner) => inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            Err(why) => Err(rustls::Error::General(why)),
        };
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        if let Ok(mut seen) = self.seen.lock() {
            let server_name = server_name.to_str().into_owned();
            let handshake = Handshake { server_name, chain, error: result.as_ref().err().cloned() };
            seen.insert(end_entity.as_ref().to_vec(), handshake);
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = crypto_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = crypto_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crypto_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// What a person needs to know about one certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub not_after: SystemTime,
    pub not_before: SystemTime,
    pub self_signed: bool,
    pub names: Vec<String>,
}

impl CertInfo {
    pub fn parse(der: &CertificateDer<'_>) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        let common_name = |name: &x509_parser::x509::X509Name| {
            name.iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map_or_else(|| name.to_string(), str::to_owned)
        };
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::IPAddress(ip) => ip_to_string(ip),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Self {
            subject: common_name(cert.subject()),
            issuer: common_name(cert.issuer()),
            not_after: to_system_time(cert.validity().not_after.timestamp()),
            not_before: to_system_time(cert.validity().not_before.timestamp()),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            names,
        })
    }

    /// Whole days left; negative once expired.
    pub fn days_left(&self, now: SystemTime) -> i64 {
        seconds_between(now, self.not_after).div_euclid(86_400)
    }

    fn expiry_phrase(&self, now: SystemTime) -> String {
        let date = date(self.not_after);
        let secs = seconds_between(now, self.not_after);
        match secs {
            s if s < 0 => match (-s) / 86_400 {
                0 => format!("expired today ({date})"),
                1 => format!("expired yesterday ({date})"),
                d => format!("expired {d} days ago ({date})"),
            },
            s if s < 86_400 => format!("expires in {} h ({date})", s / 3600),
            s => format!("expires in {} days ({date})", s / 86_400),
        }
    }
}

/// The verdict on one handshake's certificates, for a detail line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertVerdict {
    pub status: Status,
    pub text: String,
    /// Days left on the leaf, when it could be read.
    pub days_left: Option<i64>,
}

/// Judges a handshake: verification errors first, then days left on the leaf and on any
/// intermediate that expires sooner.
pub fn assess(handshake: &Handshake, limits: CertLimits, now: SystemTime) -> CertVerdict {
    let leaf = handshake.chain.first().and_then(CertInfo::parse);
    let days_left = leaf.as_ref().map(|l| l.days_left(now));
    if let Some(error) = &handshake.error {
        return CertVerdict {
            status: Status::Fail,
            text: describe_error(error, leaf.as_ref(), handshake, now),
            days_left,
        };
    }
    let Some(leaf) = leaf else {
        return CertVerdict { status: Status::Warn, text: "certificate could not be read".into(), days_left };
    };
    let (mut status, mut text) = judge_days(&leaf, "certificate", limits, now);
    let soonest = handshake.chain.iter().skip(1).filter_map(CertInfo::parse).min_by_key(|c| c.not_after);
    if let Some(inter) = soonest.filter(|i| i.not_after < leaf.not_after) {
        let (inter_status, inter_text) = judge_days(&inter, &format!("intermediate {:?}", inter.subject), limits, now);
        status = status.max(inter_status);
        text = format!("{text}; {inter_text}");
    }
    CertVerdict { status, text, days_left }
}

fn judge_days(cert: &CertInfo, what: &str, limits: CertLimits, now: SystemTime) -> (Status, String) {
    let days = cert.days_left(now);
    let phrase = format!("{what} {}", cert.expiry_phrase(now));
    if days < i64::from(limits.crit_days) {
        let limit = if days < 0 { String::new() } else { format!(", limit {} days", limits.crit_days) };
        (Status::Fail, format!("{phrase}{limit}"))
    } else if days < i64::from(limits.warn_days) {
        (Status::Warn, format!("{phrase}, warn below {} days", limits.warn_days))
    } else {
        (Status::Pass, phrase)
    }
}

fn describe_error(error: &rustls::Error, leaf: Option<&CertInfo>, handshake: &Handshake, now: SystemTime) -> String {
    let cert_error = match error {
        rustls::Error::InvalidCertificate(e) => e,
        rustls::Error::General(why) => return why.clone(),
        other => return format!("TLS error: {other}"),
    };
    let expiry = leaf.map(|l| l.expiry_phrase(now)).unwrap_or_default();
    match cert_error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!("certificate {expiry}"),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => match leaf {
            Some(l) => format!("certificate not valid until {} (is this machine's clock right?)", date(l.not_before)),
            None => "certificate not valid yet".into(),
        },
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let names =
                leaf.map(|l| l.names.join(", ")).filter(|n| !n.is_empty()).unwrap_or_else(|| "other names".into());
            format!("hostname mismatch: certificate is for {names}, not {}", handshake.server_name)
        }
        CertificateError::Revoked => "certificate has been revoked".into(),
        // Checked before the error variant: webpki may report a lone self-signed certificate
        // as a signature problem against some unrelated root rather than as UnknownIssuer.
        _ if leaf.is_some_and(|l| l.self_signed) && handshake.chain.len() == 1 => {
            format!(
                "self-signed certificate ({:?}) is not trusted",
                leaf.map(|l| l.subject.as_str()).unwrap_or_default()
            )
        }
        CertificateError::UnknownIssuer => match leaf {
            Some(l) => {
                format!("untrusted certificate: issuer {:?} is not a trusted CA (add it with ca_file)", l.issuer)
            }
            None => "untrusted certificate: unknown issuer".into(),
        },
        CertificateError::BadSignature => "certificate has a bad signature".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not valid for a TLS server".into()
        }
        other => format!("certificate rejected: {other:?}"),
    }
}

fn to_system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs()),
    }
}

fn seconds_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `YYYY-MM-DD`, the form that reads the same in every locale.
fn date(t: SystemTime) -> String {
    let mut s = humantime::format_rfc3339_seconds(t).to_string();
    s.truncate(10);
    s
}

fn ip_to_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}
