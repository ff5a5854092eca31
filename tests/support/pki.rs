//! Test certificates made with rcgen: a CA, intermediates, and leaves that are valid,
//! expired, expiring, self-signed or issued to another host.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, DnType, IsCa, Issuer,
    KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use time::{Duration, OffsetDateTime};

/// A certificate authority. A root's `chain` is empty (roots are not sent); an
/// intermediate's chain is its own certificate followed by its parents' up to the root.
pub struct Ca {
    pub pem: String,
    chain: Vec<CertificateDer<'static>>,
    issuer: Issuer<'static, KeyPair>,
    /// Kept to re-issue the same CA (same name, same key) with another validity.
    params: CertificateParams,
    key_pem: String,
}

/// A served certificate chain and its key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn validity(params: &mut CertificateParams, from_days: i64, to_days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now + Duration::days(from_days);
    // An hour past whole days, so "expires in 5 days" holds for the length of a test run.
    params.not_after = now + Duration::days(to_days) + Duration::hours(1);
}

fn ca_params(name: &str, valid_days: i64) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity(&mut params, -1, valid_days);
    params
}

impl Ca {
    pub fn root(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let params = ca_params(name, 3650);
        let cert = params.self_signed(&key).expect("self-sign CA");
        let key_pem = key.serialize_pem();
        Ca { pem: cert.pem(), chain: Vec::new(), issuer: Issuer::new(params.clone(), key), params, key_pem }
    }

    /// An intermediate CA signed by this one, valid for `valid_days`.
    pub fn intermediate(&self, name: &str, valid_days: i64) -> Ca {
        let key = KeyPair::generate().expect("key");
        let params = ca_params(name, valid_days);
        let cert = params.signed_by(&key, &self.issuer).expect("sign intermediate");
        let mut chain = vec![cert.der().clone()];
        chain.extend(self.chain.iter().cloned());
        let key_pem = key.serialize_pem();
        Ca { pem: cert.pem(), chain, issuer: Issuer::new(params.clone(), key), params, key_pem }
    }

    /// This intermediate re-issued by `parent` (same name, same key) for `valid_days`: what a
    /// CA's renewal looks like. Leaves it signed verify under either certificate.
    pub fn reissued(&self, parent: &Ca, valid_days: i64) -> Ca {
        let key = KeyPair::from_pem(&self.key_pem).expect("key");
        let mut params = self.params.clone();
        validity(&mut params, -1, valid_days);
        let cert = params.signed_by(&key, &parent.issuer).expect("re-issue intermediate");
        let mut chain = vec![cert.der().clone()];
        chain.extend(parent.chain.iter().cloned());
        let key_pem = key.serialize_pem();
        Ca { pem: cert.pem(), chain, issuer: Issuer::new(params.clone(), key), params, key_pem }
    }

    /// A server certificate for `names`, valid from `from_days` to `to_days` relative to now.
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64) -> Identity {
        self.issue(&leaf_params(names, from_days, to_days))
    }

    /// A server certificate whose subjectAltName lists `name` only as a DNS name, even when
    /// it is written like an address ("DNS:127.0.0.1", as some appliances' certificates do).
    pub fn leaf_with_dns_name(&self, name: &str) -> Identity {
        let mut params = leaf_params(&[], -1, 90);
        params.subject_alt_names = vec![SanType::DnsName(name.try_into().expect("a DNS name"))];
        self.issue(&params)
    }

    /// A server certificate made from `params` with a new key, served with this CA's chain.
    fn issue(&self, params: &CertificateParams) -> Identity {
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let mut chain = vec![cert.der().clone()];
        chain.extend(self.chain.iter().cloned());
        Identity { chain, key: PrivatePkcs8KeyDer::from(key.serialize_der()) }
    }
}

impl Ca {
    /// A server certificate for `names` with serial `serial` whose CRL distribution point
    /// is `crl_url`, valid for 90 days.
    pub fn leaf_listing_crl(&self, names: &[&str], serial: u64, crl_url: &str) -> Identity {
        let mut params = leaf_params(names, -1, 90);
        params.serial_number = Some(SerialNumber::from(serial));
        params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![crl_url.to_owned()] }];
        self.issue(&params)
    }

    /// This CA's CRL (DER) revoking `serials` (key compromise, two days ago), published
    /// three days ago, with its next update `next_update_days` from now.
    pub fn crl(&self, serials: &[u64], next_update_days: i64) -> Vec<u8> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::days(3),
            next_update: now + Duration::days(next_update_days),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: now - Duration::days(2),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).expect("sign CRL").der().to_vec()
    }
}

fn leaf_params(names: &[&str], from_days: i64, to_days: i64) -> CertificateParams {
    let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("params");
    params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("server"));
    validity(&mut params, from_days, to_days);
    params
}

/// A certificate signed by its own key, trusted by nobody.
pub fn self_signed(names: &[&str]) -> Identity {
    let key = KeyPair::generate().expect("key");
    let cert = leaf_params(names, -1, 365).self_signed(&key).expect("self-sign");
    Identity { chain: vec![cert.der().clone()], key: PrivatePkcs8KeyDer::from(key.serialize_der()) }
}

impl Identity {
    /// Writes the chain and the key as PEM files into `dir` (for nginx, stunnel...).
    pub fn write_pem(&self, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let pem = |label: &str, der: &[u8]| {
            use std::fmt::Write as _;
            let b64 = base64_encode(der);
            let mut out = format!("-----BEGIN {label}-----\n");
            for line in b64.as_bytes().chunks(64) {
                let _ = writeln!(out, "{}", String::from_utf8_lossy(line));
            }
            out + &format!("-----END {label}-----\n")
        };
        let chain: String = self.chain.iter().map(|c| pem("CERTIFICATE", c.as_ref())).collect();
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert, chain).expect("write cert");
        std::fs::write(&key, pem("PRIVATE KEY", self.key.secret_pkcs8_der())).expect("write key");
        (cert, key)
    }

    /// The same leaf and key, served with `ca`'s chain instead.
    pub fn served_with(&self, ca: &Ca) -> Identity {
        let mut chain = vec![self.chain[0].clone()];
        chain.extend(ca.chain.iter().cloned());
        Identity { chain, key: self.key.clone_key() }
    }

    pub fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), PrivateKeyDer::Pkcs8(self.key.clone_key()))
            .expect("server certificate");
        Arc::new(config)
    }
}

/// Standard base64 with padding (RFC 4648), for PEM files.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A certificate made as appliances, PACS and interface engines ship theirs: `openssl req
/// -x509` (self-signed, `CA:TRUE`) for localhost, valid `days`; with its PEM and its pin as
/// openssl computes it (`openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl
/// dgst -sha256 -binary | base64`). `None` (the test is skipped) without openssl.
pub struct Appliance {
    pub identity: Identity,
    pub pem: String,
    /// "sha256//<base64>", as curl's --pinnedpubkey takes it.
    pub pin: String,
}

pub fn openssl_appliance(days: u32) -> Option<Appliance> {
    use rustls::pki_types::pem::PemObject;
    let openssl = super::peer(&["/usr/bin/openssl"], "openssl")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new(&openssl)
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", &days.to_string()])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl req");
    assert!(made.status.success(), "openssl req: {}", String::from_utf8_lossy(&made.stderr));
    let script = format!(
        "{o} x509 -in \"$1\" -noout -pubkey | {o} pkey -pubin -outform der | {o} dgst -sha256 -binary | base64",
        o = openssl.display()
    );
    let pinned = std::process::Command::new("sh").args(["-c", &script, "sh"]).arg(&cert).output().expect("run sh");
    assert!(pinned.status.success(), "pin: {}", String::from_utf8_lossy(&pinned.stderr));
    let pem = std::fs::read_to_string(&cert).expect("read cert");
    let text = std::process::Command::new(&openssl).args(["x509", "-noout", "-text", "-in"]).arg(&cert).output();
    assert!(String::from_utf8_lossy(&text.expect("openssl x509").stdout).contains("CA:TRUE"), "not a CA certificate");
    let chain = vec![CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate")];
    let key = PrivatePkcs8KeyDer::from_pem_file(&key).expect("PKCS#8 key");
    let pin = format!("sha256//{}", String::from_utf8_lossy(&pinned.stdout).trim());
    Some(Appliance { identity: Identity { chain, key }, pem, pin })
}

/// A self-signed `CA:TRUE` certificate for `names` (as [`openssl_appliance`]'s), valid from
/// `from_days` to `to_days` relative to now (openssl cannot backdate one): its PEM.
pub fn ca_true_self_signed(names: &[&str], from_days: i64, to_days: i64) -> (Identity, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = leaf_params(names, from_days, to_days);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("self-sign");
    let identity = Identity { chain: vec![cert.der().clone()], key: PrivatePkcs8KeyDer::from(key.serialize_der()) };
    (identity, cert.pem())
}

/// The CA every peer of a test binary is issued by, named by the binary's first call, and its
/// PEM file for `ca_file` (the folder lives as long as the binary).
pub fn shared_ca(name: &str) -> &'static (Ca, PathBuf, tempfile::TempDir) {
    static CA: OnceLock<(Ca, PathBuf, tempfile::TempDir)> = OnceLock::new();
    CA.get_or_init(|| {
        let ca = Ca::root(name);
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, &ca.pem).expect("write CA");
        (ca, file, dir)
    })
}

/// A folder holding server.crt and server.key for `localhost`, issued by `ca`: what a peer's
/// own configuration points at.
pub fn localhost_folder(ca: &Ca) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    ca.leaf(&["localhost"], -1, 365).write_pem(dir.path());
    dir
}
