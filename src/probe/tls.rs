//! `[[tls]]`: the certificate of any TLS service (LDAPS, SMTPS, HL7 over TLS, ...).

use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::ServerName;
use serde::Deserialize;
use toml::Spanned;

use crate::certs::{self, CertInfo, CertLimits, Trust};
use crate::check::{Outcome, Severity, Status};
use crate::config::values::HumanDuration;
use crate::config::{CommonKeys, ConfigError, Loader, Planned, Table};
use crate::probe::Probe;

/// `[[tls]]` as written in the inventory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsTable {
    name: Spanned<String>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    tags: Vec<String>,
    timeout: Option<HumanDuration>,
    /// Host name (checked against the certificate, and sent as SNI) or IP address.
    host: Spanned<String>,
    port: u16,
    /// Extra trusted CA (PEM), relative to the inventory file.
    ca_file: Option<Spanned<String>>,
    cert_warn_days: Option<u32>,
    cert_crit_days: Option<u32>,
}

impl Table for TlsTable {
    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned>, ConfigError> {
        let host = self.host.get_ref().trim().to_owned();
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| loader.error(self.host.span(), format!("{host:?} is not a valid host name or IP address")))?;
        let probe = TlsProbe {
            host: host.clone(),
            port: self.port,
            server_name,
            trust: loader.trust(self.ca_file.as_ref())?,
            limits: loader.cert_limits(self.cert_warn_days, self.cert_crit_days),
        };
        let common = CommonKeys { name: self.name, severity: self.severity, tags: self.tags, timeout: self.timeout };
        let target = format!("{host}:{}", self.port);
        loader.single(&common, target, Probe::Tls(probe))
    }
}

#[derive(Debug)]
pub struct TlsProbe {
    pub host: String,
    pub port: u16,
    pub server_name: ServerName<'static>,
    pub trust: Arc<Trust>,
    pub limits: CertLimits,
}

impl TlsProbe {
    pub async fn run(&self) -> Outcome {
        let stream = match super::connect(&self.host, self.port).await {
            Ok(s) => s,
            Err(why) => return Outcome::fail(why),
        };
        let (seen, ended) = match certs::handshake(&self.trust, stream, self.server_name.clone()).await {
            Ok(result) => result,
            Err(why) => return Outcome::fail(why),
        };
        let Some(handshake) = seen else {
            // The server never showed a certificate: not TLS on this port, or it hung up.
            let why = ended.err().map_or_else(|| "no certificate".to_owned(), |e| super::describe_io(&e));
            return Outcome::fail(format!("TLS handshake failed: {why}"));
        };
        let verdict = certs::assess(&handshake, self.limits, SystemTime::now());
        let detail = match (verdict.status, handshake.chain.first().and_then(CertInfo::parse)) {
            (Status::Pass | Status::Warn, Some(leaf)) => format!("issued by {:?}, {}", leaf.issuer, verdict.text),
            _ => verdict.text,
        };
        match (ended, verdict.status) {
            (Err(e), Status::Pass | Status::Warn) => {
                Outcome::fail(format!("TLS handshake failed: {}", super::describe_io(&e)))
            }
            (_, status) => Outcome { status, detail },
        }
    }
}
