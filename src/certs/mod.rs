//! Certificates: whom to trust, what was served, and how a person should hear about it.
//!
//! Below `config` (which hands out trust stores) and the probes (which verify through a
//! [`Recorder`]); imports only `outcome`.

mod revocation;
mod trust;
mod verdict;

pub(crate) use self::revocation::{crl_urls, judge_crl, Revocation};
pub(crate) use self::trust::{
    connect_tls, handshake, CertLimits, ClientIdentity, HttpClient, ProtocolTls, Recorder, Trust,
};
pub(crate) use self::verdict::{assess, CertInfo, CertVerdict};
