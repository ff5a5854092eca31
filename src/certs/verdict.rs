//! How a person should hear about a certificate: "expires in 5 days", "self-signed".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::CertificateError;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::pin::Pin;
use super::trust::{CertLimits, Handshake};
use crate::outcome::{Facts, Outcome, Status};

/// What a person needs to know about one certificate.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub not_after: SystemTime,
    pub not_before: SystemTime,
    pub self_signed: bool,
    pub names: Vec<String>,
    /// DNS names that are written like IP addresses ("DNS:127.0.0.1"): no client matches an
    /// address against them, so they deserve their own words.
    pub addresses_as_dns_names: Vec<String>,
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
        let san = match cert.subject_alternative_name() {
            Ok(Some(san)) => san.value.general_names.clone(),
            _ => Vec::new(),
        };
        let names = san
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some((*d).to_owned()),
                GeneralName::IPAddress(ip) => ip_to_string(ip),
                _ => None,
            })
            .collect();
        let addresses_as_dns_names = san
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) if d.parse::<std::net::IpAddr>().is_ok() => Some((*d).to_owned()),
                _ => None,
            })
            .collect();
        Some(Self {
            addresses_as_dns_names,
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
pub(crate) struct CertVerdict {
    pub status: Status,
    pub text: String,
    /// Days left on the leaf, when it could be read.
    pub days_left: Option<i64>,
    /// When the soonest-expiring certificate of the chain (the leaf or an intermediate)
    /// expires, when it could be read.
    pub not_after: Option<SystemTime>,
    /// When that certificate starts to warn under the check's limits.
    pub warns_from: Option<SystemTime>,
}

impl CertVerdict {
    /// A protocol's outcome over this TLS connection, with the certificate's verdict after
    /// it: the worse status of the two, both details, and when the certificate expires.
    pub fn joined_to(self, outcome: Outcome) -> Outcome {
        let facts = self.facts(outcome.facts);
        Outcome::new(outcome.status.worst(self.status), format!("{}; {}", outcome.detail, self.text)).with_facts(facts)
    }

    /// `base` with when the certificate expires and when it starts to warn, for the state
    /// (a handover's "coming up") and the metrics.
    pub fn facts(&self, base: Facts) -> Facts {
        Facts { cert_not_after: self.not_after, cert_warns_from: self.warns_from, ..base }
    }
}

/// Judges a handshake: verification errors first, then days left on the leaf and on any
/// intermediate that expires sooner.
pub(crate) fn assess(handshake: &Handshake, limits: CertLimits, now: SystemTime) -> CertVerdict {
    let leaf = handshake.chain.first().and_then(CertInfo::parse);
    let days_left = leaf.as_ref().map(|l| l.days_left(now));
    // Weak keys and signatures first: a handshake may even fail because of them (a 1024-bit
    // key cannot sign a TLS 1.3 handshake for rustls), and the reason is what to fix.
    let weak = weaknesses(&handshake.chain, limits.max_validity_days);
    if !weak.is_empty() {
        return CertVerdict {
            status: Status::Fail,
            text: weak.join("; "),
            days_left,
            not_after: leaf.as_ref().map(|l| l.not_after),
            warns_from: leaf.as_ref().map(|l| warns_from(l, limits)),
        };
    }
    if let Some(error) = &handshake.error {
        return CertVerdict {
            status: Status::Fail,
            text: describe_error(error, leaf.as_ref(), handshake, now),
            days_left,
            not_after: leaf.as_ref().map(|l| l.not_after),
            warns_from: leaf.as_ref().map(|l| warns_from(l, limits)),
        };
    }
    let Some(leaf) = leaf else {
        return CertVerdict {
            status: Status::Warn,
            text: "certificate could not be read".into(),
            days_left,
            not_after: None,
            warns_from: None,
        };
    };
    let (mut status, mut text) = judge_days(&leaf, "certificate", limits, now);
    let soonest = handshake.chain.iter().skip(1).filter_map(CertInfo::parse).min_by_key(|c| c.not_after);
    let (mut not_after, mut warns) = (leaf.not_after, warns_from(&leaf, limits));
    if let Some(inter) = soonest.filter(|i| i.not_after < leaf.not_after) {
        let (inter_status, inter_text) = judge_days(&inter, &format!("intermediate {:?}", inter.subject), limits, now);
        status = status.worst(inter_status);
        text = format!("{text}; {inter_text}");
        (not_after, warns) = (inter.not_after, warns_from(&inter, limits));
    }
    if let Some(how) = handshake.trusted_as {
        text = format!("{text}; {how}");
    }
    CertVerdict { status, text, days_left, not_after: Some(not_after), warns_from: Some(warns) }
}

/// When `cert` starts to warn under `limits`, as `judge_days` judges it: the warning share
/// of its lifetime (or the failing share, when only that is set), else the warning days.
fn warns_from(cert: &CertInfo, limits: CertLimits) -> SystemTime {
    let before = match limits.warn_percent.or(limits.crit_percent) {
        Some(share) => {
            let lifetime = seconds_between(cert.not_before, cert.not_after).max(1) as f64;
            Duration::from_secs_f64((lifetime * share / 100.0).max(0.0))
        }
        None => Duration::from_secs(u64::from(limits.warn_days.max(limits.crit_days)) * 86_400),
    };
    cert.not_after.checked_sub(before).unwrap_or(UNIX_EPOCH)
}

fn judge_days(cert: &CertInfo, what: &str, limits: CertLimits, now: SystemTime) -> (Status, String) {
    let days = cert.days_left(now);
    let phrase = format!("{what} {}", cert.expiry_phrase(now));
    if limits.warn_percent.is_some() || limits.crit_percent.is_some() {
        let lifetime = seconds_between(cert.not_before, cert.not_after).max(1) as f64;
        let left = seconds_between(now, cert.not_after) as f64 * 100.0 / lifetime;
        let share = format!("{left:.0}% of its {}-day lifetime left", (lifetime / 86_400.0).round());
        if days < 0 {
            return (Status::Fail, phrase);
        }
        if let Some(crit) = limits.crit_percent.filter(|c| left < *c) {
            return (Status::Fail, format!("{phrase}, {share}, limit {crit}%"));
        }
        if let Some(warn) = limits.warn_percent.filter(|w| left < *w) {
            return (Status::Warn, format!("{phrase}, {share}, warn below {warn}%"));
        }
        return (Status::Pass, phrase);
    }
    if days < i64::from(limits.crit_days) {
        let limit = if days < 0 { String::new() } else { format!(", limit {} days", limits.crit_days) };
        (Status::Fail, format!("{phrase}{limit}"))
    } else if days < i64::from(limits.warn_days) {
        (Status::Warn, format!("{phrase}, warn below {} days", limits.warn_days))
    } else {
        (Status::Pass, phrase)
    }
}

/// Signature algorithms no longer trusted: SHA-1 and MD5 (RFC 9155, CA/B Forum).
const WEAK_SIGNATURES: [(&str, &str); 5] = [
    ("1.2.840.113549.1.1.5", "SHA-1"),
    ("1.3.14.3.2.29", "SHA-1"),
    ("1.2.840.10045.4.1", "SHA-1"),
    ("1.2.840.10040.4.3", "SHA-1"),
    ("1.2.840.113549.1.1.4", "MD5"),
];

/// What is weak in a served chain: RSA keys under 2048 bits or EC keys under 256 in the leaf
/// or an intermediate, SHA-1 or MD5 signatures anywhere but a root (whose signature on
/// itself is never checked), a leaf valid for longer than `max_validity_days`.
pub(crate) fn weaknesses(chain: &[CertificateDer<'_>], max_validity_days: Option<u32>) -> Vec<String> {
    let mut found = Vec::new();
    for (index, der) in chain.iter().enumerate() {
        let Ok((_, cert)) = X509Certificate::from_der(der.as_ref()) else { continue };
        let self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
        if index > 0 && self_signed {
            continue;
        }
        let who = match index {
            0 => "the certificate".to_owned(),
            _ => format!(
                "intermediate {:?}",
                cert.subject().iter_common_name().next().and_then(|c| c.as_str().ok()).unwrap_or("?")
            ),
        };
        match cert.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let bits = rsa_bits(rsa.modulus);
                if bits < 2048 {
                    found.push(format!("{who} has an RSA key of {bits} bits; at least 2048 are needed"));
                }
            }
            Ok(PublicKey::EC(ec)) if ec.key_size() > 0 && ec.key_size() < 256 => {
                found.push(format!("{who} has an EC key of {} bits; at least 256 are needed", ec.key_size()));
            }
            _ => {}
        }
        let algorithm = cert.signature_algorithm.algorithm.to_id_string();
        if let Some((_, name)) = WEAK_SIGNATURES.iter().find(|(oid, _)| *oid == algorithm) {
            found.push(format!("{who} is signed with {name}, which is broken; reissue it with SHA-256"));
        }
        if let (0, Some(max)) = (index, max_validity_days) {
            let validity = cert.validity();
            let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
            if days > i64::from(max) {
                found.push(format!("{who} is valid for {days} days, longer than max_validity_days = {max}"));
            }
        }
    }
    found
}

/// The size of an RSA modulus in bits, leading zero bytes and bits aside.
fn rsa_bits(modulus: &[u8]) -> usize {
    let significant: Vec<&u8> = modulus.iter().skip_while(|b| **b == 0).collect();
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
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
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            if leaf.is_some_and(|l| l.addresses_as_dns_names.contains(&handshake.server_name)) =>
        {
            let address = &handshake.server_name;
            format!(
                "hostname mismatch: the certificate lists {address} as a DNS name, not as an IP address \
                 (a client connecting to {address} needs IP:{address} in its subjectAltName)"
            )
        }
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
                "self-signed certificate ({:?}) is not trusted{}",
                leaf.map(|l| l.subject.as_str()).unwrap_or_default(),
                how_to_trust(handshake, "to trust it: add it to ca_file, or")
            )
        }
        CertificateError::UnknownIssuer => match leaf {
            Some(l) => format!(
                "untrusted certificate: issuer {:?} is not a trusted CA{}",
                l.issuer,
                how_to_trust(handshake, "add the CA with ca_file, or trust this server's key:")
            ),
            None => "untrusted certificate: unknown issuer".into(),
        },
        CertificateError::BadSignature => "certificate has a bad signature".into(),
        // webpki cannot even read dates before 1970; such a certificate is long expired.
        CertificateError::BadEncoding => match leaf {
            Some(l) if l.days_left(now) < 0 => format!("certificate {expiry}"),
            _ => "certificate is malformed (its encoding could not be read)".into(),
        },
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not valid for a TLS server".into()
        }
        other => format!("certificate rejected: {other:?}"),
    }
}

/// " (add it ... pin = \"sha256//...\")": how to trust the served leaf, with its pin.
fn how_to_trust(handshake: &Handshake, lead: &str) -> String {
    match handshake.chain.first().and_then(Pin::of) {
        Some(pin) => format!(" ({lead} pin = \"{pin}\")"),
        None => " (add it with ca_file)".to_owned(),
    }
}

pub(super) fn to_system_time(unix: i64) -> SystemTime {
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

fn date(t: SystemTime) -> String {
    crate::human::date(t)
}

fn ip_to_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{date_time_ymd, CertificateParams, DnType, KeyPair};

    use super::*;

    /// A self-signed certificate for `names`, valid 2026-01-01 to `until`.
    fn cert(names: &[&str], until: (i32, u8, u8)) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.not_before = date_time_ymd(2026, 1, 1);
        params.not_after = date_time_ymd(until.0, until.1, until.2);
        params.self_signed(&key).unwrap().der().clone()
    }

    fn handshake(chain: Vec<CertificateDer<'static>>, error: Option<CertificateError>) -> Handshake {
        let error = error.map(rustls::Error::InvalidCertificate);
        Handshake { server_name: "ehr.clinic.local".into(), chain, error, trusted_as: None }
    }

    /// 2026-11-25 12:00 UTC.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_608_000)
    }

    /// "certificate is for 127.0.0.1, not 127.0.0.1" said nothing: an address listed as a
    /// DNS name is named as such.
    #[test]
    fn an_address_listed_as_a_dns_name_is_said_so() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![rcgen::SanType::DnsName("127.0.0.1".try_into().unwrap())];
        params.not_before = date_time_ymd(2026, 1, 1);
        params.not_after = date_time_ymd(2027, 6, 1);
        let leaf = params.self_signed(&key).unwrap().der().clone();
        let mut h = handshake(vec![leaf], Some(CertificateError::NotValidForName));
        h.server_name = "127.0.0.1".into();
        let v = assess(&h, CertLimits::default(), now());
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.text,
            "hostname mismatch: the certificate lists 127.0.0.1 as a DNS name, not as an IP address \
             (a client connecting to 127.0.0.1 needs IP:127.0.0.1 in its subjectAltName)"
        );
    }

    /// A handover shows a certificate from when its own check starts to warn: the warning
    /// days, or the warning share of its lifetime; and that moment agrees with the verdict.
    #[test]
    fn a_certificate_warns_from_its_own_limits() {
        let day = Duration::from_secs(86_400);
        let h = handshake(vec![cert(&["ehr.clinic.local"], (2027, 1, 1))], None);
        let expires = UNIX_EPOCH + Duration::from_secs(1_798_761_600); // 2027-01-01
        let by_days = CertLimits { warn_days: 60, ..CertLimits::default() };
        let v = assess(&h, by_days, now());
        assert_eq!((v.status, v.warns_from), (Status::Warn, Some(expires - 60 * day)));
        assert_eq!(v.facts(Facts::default()).cert_warns_from, Some(expires - 60 * day));
        let default = assess(&h, CertLimits::default(), now());
        assert_eq!((default.status, default.warns_from), (Status::Pass, Some(expires - 30 * day)));
        // A year-long certificate warned at 25% of its life: 91.25 days before it ends.
        let shares = CertLimits { warn_percent: Some(25.0), ..CertLimits::default() };
        let v = assess(&h, shares, now());
        assert_eq!(v.status, Status::Warn);
        assert_eq!(v.warns_from, Some(expires - Duration::from_secs(365 * 86_400 / 4)));
    }

    /// What a person reads for each kind of certificate trouble, pinned in one snapshot.
    #[test]
    fn verdicts_in_words() {
        let limits = CertLimits::default();
        let leaf = cert(&["ehr.clinic.local"], (2027, 6, 1));
        // The key is new each run: its pin is shown as a placeholder.
        let pin = Pin::of(&leaf).unwrap().to_string();
        let cases = [
            ("healthy", handshake(vec![leaf.clone()], None)),
            ("expiring", handshake(vec![cert(&["ehr.clinic.local"], (2026, 11, 30))], None)),
            ("in a fortnight", handshake(vec![cert(&["ehr.clinic.local"], (2026, 12, 10))], None)),
            ("expired", handshake(vec![cert(&["ehr.clinic.local"], (2026, 11, 20))], Some(CertificateError::Expired))),
            ("intermediate first", handshake(vec![leaf.clone(), cert(&["Clinic Issuing CA"], (2026, 12, 20))], None)),
            (
                "mismatch",
                handshake(vec![cert(&["pacs.clinic.local"], (2027, 6, 1))], Some(CertificateError::NotValidForName)),
            ),
            ("self-signed", handshake(vec![leaf.clone()], Some(CertificateError::UnknownIssuer))),
            ("untrusted", handshake(vec![leaf.clone(), leaf.clone()], Some(CertificateError::UnknownIssuer))),
            ("revoked", handshake(vec![leaf], Some(CertificateError::Revoked))),
        ];
        let text: String = cases
            .iter()
            .map(|(what, h)| {
                let v = assess(h, limits, now());
                format!("{what}: {} {}\n", v.status.as_str(), v.text.replace(&pin, "sha256//PIN"))
            })
            .collect();
        insta::assert_snapshot!(text);
    }

    proptest::proptest! {
        /// Fuzzing: any bytes a server presents as a certificate are read or refused.
        #[test]
        fn fuzz_certificates_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024)) {
            let der = CertificateDer::from(bytes);
            if let Some(info) = CertInfo::parse(&der) {
                let _ = info.days_left(now());
            }
            let h = handshake(vec![der], Some(CertificateError::UnknownIssuer));
            let _ = assess(&h, CertLimits::default(), now());
        }
    }
}
