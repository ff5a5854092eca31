//! Revocation through the CA's certificate revocation list (`check_revocation`).
//!
//! Only CRLs: Let's Encrypt ended OCSP in 2025 and publishes CRLs instead, and a CRL is one
//! plain HTTP download that any CA serves. What is decided here is pure (a CRL's bytes in,
//! a verdict out); the download is the probe's.

use std::time::SystemTime;

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{DistributionPointName, FromDer, GeneralName, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::verdict::to_system_time;
use crate::human::date;

/// What a CRL says about a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// The CRL is genuine and current, and the leaf is not on it.
    NotRevoked { published: SystemTime },
    /// The leaf's serial is on a genuine CRL.
    Revoked { on: SystemTime, reason: Option<String> },
    /// The CRL could not settle it (bad signature, out of date, unreadable): the reason.
    Unknown(String),
}

/// The HTTP addresses the leaf names for its CRL (the CRL distribution points extension).
pub(crate) fn crl_urls(leaf: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(leaf.as_ref()) else { return Vec::new() };
    let mut urls = Vec::new();
    for extension in cert.extensions() {
        let ParsedExtension::CRLDistributionPoints(points) = extension.parsed_extension() else { continue };
        for point in points.iter() {
            let Some(DistributionPointName::FullName(names)) = &point.distribution_point else { continue };
            urls.extend(names.iter().filter_map(|name| match name {
                GeneralName::URI(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
                    Some((*uri).to_owned())
                }
                _ => None,
            }));
        }
    }
    urls
}

/// Judges `crl` (DER) for `leaf`: it must be signed by the leaf's issuer (found among
/// `issuers`, the served chain and the `ca_file` CAs) and not be past its next update.
pub(crate) fn judge_crl(
    crl: &[u8],
    leaf: &CertificateDer<'_>,
    issuers: &[CertificateDer<'_>],
    now: SystemTime,
) -> Revocation {
    let Ok((_, leaf)) = X509Certificate::from_der(leaf.as_ref()) else {
        return Revocation::Unknown("the certificate could not be read".into());
    };
    let Ok((_, list)) = CertificateRevocationList::from_der(crl) else {
        return Revocation::Unknown("the CRL is not a DER certificate revocation list".into());
    };
    if list.issuer().as_raw() != leaf.issuer().as_raw() {
        return Revocation::Unknown(format!("the CRL is issued by {}, not by the certificate's issuer", list.issuer()));
    }
    if !signed_by_an_issuer(&list, leaf.issuer().as_raw(), issuers) {
        return Revocation::Unknown(
            "the CRL's signature does not verify against the certificate's issuer (is its CA in the chain or in ca_file?)"
                .into(),
        );
    }
    if let Some(next) = list.next_update() {
        let next = to_system_time(next.timestamp());
        if next < now {
            return Revocation::Unknown(format!("the CRL is out of date (its next update was due {})", date(next)));
        }
    }
    let entry = list.iter_revoked_certificates().find(|r| r.serial() == &leaf.serial).map(|entry| {
        (to_system_time(entry.revocation_date.timestamp()), entry.reason_code().map(|(_, code)| reason_words(code.0)))
    });
    match entry {
        Some((on, reason)) => Revocation::Revoked { on, reason },
        None => Revocation::NotRevoked { published: to_system_time(list.last_update().timestamp()) },
    }
}

fn signed_by_an_issuer(
    list: &CertificateRevocationList<'_>,
    issuer_name: &[u8],
    issuers: &[CertificateDer<'_>],
) -> bool {
    issuers.iter().any(|der| {
        X509Certificate::from_der(der.as_ref())
            .is_ok_and(|(_, ca)| ca.subject().as_raw() == issuer_name && list.verify_signature(ca.public_key()).is_ok())
    })
}

/// RFC 5280's reason codes in words.
fn reason_words(code: u8) -> String {
    match code {
        1 => "key compromise",
        2 => "CA compromise",
        3 => "affiliation changed",
        4 => "superseded",
        5 => "cessation of operation",
        6 => "certificate hold",
        9 => "privilege withdrawn",
        10 => "AA compromise",
        _ => "unspecified",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, CrlDistributionPoint, KeyPair};

    use super::*;

    fn leaf_with_points(uris: &[&str]) -> CertificateDer<'static> {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.crl_distribution_points =
            vec![CrlDistributionPoint { uris: uris.iter().map(|u| (*u).to_owned()).collect() }];
        params.self_signed(&key).expect("self-sign").der().clone()
    }

    /// CRLs are fetched over HTTP only: an LDAP distribution point (Active Directory
    /// Certificate Services writes one first) is skipped, not tried.
    #[test]
    fn only_http_distribution_points_are_used() {
        let leaf = leaf_with_points(&[
            "ldap:///CN=Clinic%20CA,CN=CDP?certificateRevocationList",
            "http://pki.clinic.example/ca.crl",
        ]);
        assert_eq!(crl_urls(&leaf), vec!["http://pki.clinic.example/ca.crl".to_owned()]);
        assert!(crl_urls(&leaf_with_points(&["ldap:///CN=only"])).is_empty());
    }

    #[test]
    fn garbage_is_not_a_crl() {
        let leaf = leaf_with_points(&["http://pki.clinic.example/ca.crl"]);
        assert_eq!(
            judge_crl(b"<html>not found</html>", &leaf, &[], SystemTime::now()),
            Revocation::Unknown("the CRL is not a DER certificate revocation list".into())
        );
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(reason_words(1), "key compromise");
        assert_eq!(reason_words(4), "superseded");
        assert_eq!(reason_words(7), "unspecified");
    }
}
