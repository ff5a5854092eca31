//! Whom to trust, and what each handshake showed.
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

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::client::ClientSpec;
use super::pin::{listed, own_certificate, Pin};

/// When a certificate's remaining lifetime becomes news.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CertLimits {
    /// Fewer days left than this: warn. 30 gives a month to order and install a renewal.
    pub warn_days: u32,
    /// Fewer days left than this (or expired): fail.
    pub crit_days: u32,
    /// Shares of the lifetime left (`cert_warn = "25%"`): where set, they replace the day
    /// thresholds, so a 47-day certificate is judged by its own length.
    pub warn_percent: Option<f64>,
    pub crit_percent: Option<f64>,
    /// A leaf valid for longer than this many days fails (`max_validity_days`).
    pub max_validity_days: Option<u32>,
}

impl CertLimits {
    /// Why the shares cannot be used, when the fail share is above the warn share.
    pub fn shares_out_of_order(&self) -> Option<String> {
        let (w, c) = (self.warn_percent?, self.crit_percent?);
        (c > w).then(|| format!("cert_crit ({c}%) must not be more than cert_warn ({w}%)"))
    }
}

impl Default for CertLimits {
    fn default() -> Self {
        Self { warn_days: 30, crit_days: 7, warn_percent: None, crit_percent: None, max_validity_days: None }
    }
}

/// ring, chosen explicitly rather than installed process-wide: it builds faster and smaller
/// than aws-lc-rs, and no global state means tests and library users cannot trip over it.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// A shared HTTP client and the recorder of every handshake it made.
pub(crate) type HttpClient = (reqwest::Client, Arc<Recorder>);

/// The CAs a check trusts: the system's store plus the inventory's `ca_file`, if any; and
/// the servers' own certificates it trusts: one in `ca_file` exactly as served, or a key
/// matching one of its `pin`s (see [`Trust::verify`]).
///
/// The system store is loaded on first use, not at config time, so `validate` and `list`
/// stay instant; one `Trust` is shared by every check with the same `ca_file`.
pub(crate) struct Trust {
    extra: Vec<CertificateDer<'static>>,
    /// `pin`: when given, a served leaf must match one.
    pins: Vec<Pin>,
    verifier: OnceLock<Result<Arc<dyn ServerCertVerifier>, String>>,
    /// The HTTP clients made so far, by everything they were built from.
    http: Mutex<HashMap<ClientSpec, Result<HttpClient, String>>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust").field("extra_cas", &self.extra.len()).field("pins", &self.pins).finish()
    }
}

impl Trust {
    pub fn system() -> Self {
        Self::with_roots(Vec::new())
    }

    fn with_roots(extra: Vec<CertificateDer<'static>>) -> Self {
        Self { extra, pins: Vec::new(), verifier: OnceLock::new(), http: Mutex::new(HashMap::new()) }
    }

    /// This trust store, requiring the served leaf's key to match one of `pins` (and
    /// trusting such a leaf even when no CA vouches for it).
    pub fn pinned(self, pins: Vec<Pin>) -> Self {
        Self { pins, ..self }
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
        Ok(Self::with_roots(extra))
    }

    /// The `ca_file` CAs: where a CRL's signer is looked for when the chain lacks it.
    pub fn extra_cas(&self) -> &[CertificateDer<'static>] {
        &self.extra
    }

    /// Verifies a served chain through the CAs; failing that, a leaf that is itself in
    /// `ca_file` or whose key matches a pin is trusted as this server's own certificate
    /// (webpki refuses a CA certificate as a server's, and appliances ship exactly that),
    /// with its dates and names still checked: pinned is never a pass for an expired
    /// certificate or another host's. With pins, a leaf matching none fails, whoever signed it.
    ///
    /// `Ok` holds how a pinned leaf was trusted, `None` when the CAs vouched for it.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<Option<&'static str>, rustls::Error> {
        let served = Pin::of(end_entity);
        let pinned = served.as_ref().is_some_and(|p| self.pins.contains(p));
        if !self.pins.is_empty() && !pinned {
            let seen = served.map_or_else(|| "unreadable".to_owned(), |p| format!("\"{p}\""));
            return Err(rustls::Error::General(format!(
                "the server's key is {seen}, which matches no pin of this check ({})",
                listed(&self.pins)
            )));
        }
        let by_ca = self
            .verifier()
            .map_err(rustls::Error::General)
            .and_then(|inner| inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now));
        let how = if pinned {
            "trusted by its pin"
        } else if self.extra.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            "trusted as the server's own certificate in ca_file"
        } else {
            return by_ca.map(|_| None);
        };
        match by_ca {
            Ok(_) => Ok(None),
            Err(_) => own_certificate(end_entity, server_name, now).map(|()| Some(how)),
        }
    }

    /// Whether `pin`s are given and the served leaf matches none of them.
    pub fn pin_refuses(&self, end_entity: &CertificateDer<'_>) -> bool {
        !self.pins.is_empty() && !Pin::of(end_entity).is_some_and(|p| self.pins.contains(&p))
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
        self.recording_config_as(None)
    }

    /// [`Trust::recording_config`], presenting `client`'s certificate when the server asks
    /// for one (mutual TLS).
    pub fn recording_config_as(
        self: &Arc<Self>,
        client: Option<&ClientIdentity>,
    ) -> Result<(ClientConfig, Arc<Recorder>), String> {
        self.config_with(client, false)
    }

    /// [`Trust::recording_config`] for libpq's `sslmode=require`: the connection is encrypted
    /// and the chain is recorded (and judged by the caller), but a chain no CA vouches for or
    /// issued to another name does not stop the handshake. A `pin` still does.
    pub fn recording_config_unverified(self: &Arc<Self>) -> Result<(ClientConfig, Arc<Recorder>), String> {
        self.config_with(None, true)
    }

    fn config_with(
        self: &Arc<Self>,
        client: Option<&ClientIdentity>,
        unverified: bool,
    ) -> Result<(ClientConfig, Arc<Recorder>), String> {
        let recorder = Arc::new(Recorder { trust: Arc::downgrade(self), seen: Mutex::new(Vec::new()), unverified });
        let builder = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone());
        let config = match client {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| format!("the client certificate cannot be used: {e}"))?,
        };
        Ok((config, recorder))
    }

    /// The HTTP client `spec` describes, verifying with this trust store, and the recorder of
    /// its handshakes: made on first use, then shared by every user with an equal `spec`.
    ///
    /// Shared so that connections are reused across checks of the same server, as curl and
    /// browsers do: a thousand checks of one API cost a few dozen handshakes, not a thousand.
    /// One per server, so that every handshake a recorder holds is with that server: two
    /// servers showing the same leaf (a wildcard certificate) never share a verdict. Each
    /// response carries its connection's leaf (`tls_info`); the recorder finds the chains
    /// shown with it.
    pub fn http_client(self: &Arc<Self>, spec: &ClientSpec) -> Result<HttpClient, String> {
        let mut clients = self.http.lock().map_err(|_| "the HTTP client cache is poisoned".to_owned())?;
        if let Some(client) = clients.get(spec) {
            return client.clone();
        }
        let made = self.recording_config().and_then(|(tls, recorder)| Ok((spec.build(tls)?, recorder)));
        clients.insert(spec.clone(), made.clone());
        made
    }
}

/// A TLS handshake over `stream`, with a recorder of its own; `Err` means TLS could not even
/// be set up.
///
/// `Ok` holds what the verifier saw, and how the handshake ended: on success, the version
/// and cipher suite negotiated ("TLS 1.3, TLS13_AES_256_GCM_SHA384").
pub(crate) async fn handshake(
    trust: &Arc<Trust>,
    stream: tokio::net::TcpStream,
    server_name: ServerName<'static>,
) -> Result<(Option<Handshake>, std::io::Result<String>), String> {
    let (config, recorder) = trust.recording_config()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let ended = connector.connect(server_name, stream).await.map(|tls| {
        let (_, connection) = tls.get_ref();
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "an unknown version".to_owned(),
        };
        let suite = connection.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
        format!("{version}, {suite}")
    });
    Ok((recorder.single(), ended))
}

/// A client certificate and its key (`client_cert`, `client_key`), for servers that require
/// mutual TLS. The key never reaches a report, a log or `Debug`.
pub(crate) struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("certificates", &self.chain.len()).finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let shown = cert.display();
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("cannot read client_cert {shown}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("client_cert {shown} is not valid PEM: {e}"))?;
        if chain.is_empty() {
            return Err(format!("client_cert {shown} holds no PEM certificate"));
        }
        // The key's own error could quote key material; say only what is wrong.
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
            .map_err(|_| format!("client_key {} holds no readable PEM private key", key.display()))?;
        Ok(Self { chain, key })
    }
}

/// A TLS connection over `stream` for a protocol to use (MLLP over TLS), with what the
/// verifier saw; `Err` when TLS could not be set up, the inner `Err` when the handshake failed.
pub(crate) async fn connect_tls(
    trust: &Arc<Trust>,
    client: Option<&ClientIdentity>,
    stream: tokio::net::TcpStream,
    server_name: ServerName<'static>,
) -> Result<(Option<Handshake>, std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>), String> {
    let (config, recorder) = trust.recording_config_as(client)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connected = connector.connect(server_name, stream).await;
    Ok((recorder.single(), connected))
}

/// TLS for a protocol that is not HTTP (MLLP, DICOM): whom to trust, who we are (mutual
/// TLS), the name the certificate must carry, and how to judge it.
#[derive(Debug)]
pub(crate) struct ProtocolTls {
    pub trust: Arc<Trust>,
    pub client: Option<ClientIdentity>,
    pub server_name: ServerName<'static>,
    pub limits: CertLimits,
}

/// One TLS handshake as the verifier saw it.
#[derive(Debug, Clone)]
pub(crate) struct Handshake {
    pub server_name: String,
    /// Leaf first, then the intermediates in the order the server sent them.
    pub chain: Vec<CertificateDer<'static>>,
    /// Why verification failed, if it did.
    pub error: Option<rustls::Error>,
    /// How a leaf no CA vouched for was trusted (its pin, its copy in `ca_file`).
    pub trusted_as: Option<&'static str>,
}

/// Verifies with the real verifier and keeps what it saw, by leaf certificate.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// Asked for its verifier only when a handshake happens: plain-HTTP checks never load
    /// the system's CA store. Without usable CAs every handshake fails with the reason.
    /// Weak: the trust store owns the shared HTTP client, which owns this recorder.
    trust: Weak<Trust>,
    /// Every distinct chain shown, in the order first seen.
    seen: Mutex<Vec<Handshake>>,
    /// Handshakes go on whatever the chain (see [`Trust::recording_config_unverified`]).
    unverified: bool,
}

impl Recorder {
    /// Every handshake in which this leaf certificate (DER) was presented. Usually one; a
    /// server behind a load balancer may show the same leaf with different intermediates,
    /// and then every chain is judged, so none passes for another.
    pub fn handshakes_with(&self, leaf: &[u8]) -> Vec<Handshake> {
        let Ok(seen) = self.seen.lock() else { return Vec::new() };
        seen.iter().filter(|h| h.chain.first().is_some_and(|l| l.as_ref() == leaf)).cloned().collect()
    }

    /// The only handshake seen, for a recorder used for one connection.
    pub fn single(&self) -> Option<Handshake> {
        self.seen.lock().ok()?.first().cloned()
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
        let result = match self.trust.upgrade() {
            Some(trust) => trust.verify(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::General("TLS trust store is gone".to_owned())),
        };
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        if let Ok(mut seen) = self.seen.lock() {
            let server_name = server_name.to_str().into_owned();
            let (error, trusted_as) = match &result {
                Ok(how) => (None, *how),
                Err(e) => (Some(e.clone()), None),
            };
            let handshake = Handshake { server_name, chain, error, trusted_as };
            if !seen.iter().any(|h| h.chain == handshake.chain && h.server_name == handshake.server_name) {
                seen.push(handshake);
            }
        }
        match result {
            Ok(_) => Ok(ServerCertVerified::assertion()),
            Err(_) if self.unverified && !self.trust.upgrade().is_some_and(|t| t.pin_refuses(end_entity)) => {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
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
