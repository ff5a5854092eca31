//! Certificates: whom to trust, what was served, and how a person should hear about it; and
//! the one constructor of HTTP clients, which verify through them.
//!
//! Below `config` (which hands out trust stores) and the probes (which verify through a
//! [`Recorder`]); imports only `outcome` and `human`.

mod client;
mod pin;
mod revocation;
mod trust;
mod verdict;

pub(crate) use self::client::{lookup_reason, resolve, ClientSpec, LookupError, Proxy};
pub(crate) use self::pin::Pin;
pub(crate) use self::revocation::{crl_urls, judge_crl, Revocation};
pub(crate) use self::trust::{
    connect_tls, handshake, CertLimits, ClientIdentity, HttpClient, ProtocolTls, Recorder, Trust,
};
pub(crate) use self::verdict::{assess, CertInfo, CertVerdict};
