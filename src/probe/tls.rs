//! `[[tls]]`: the certificate of any TLS service (LDAPS, SMTPS, HL7 over TLS, ...), or of a
//! plain one upgraded with `starttls` (SMTP, IMAP, POP3, LDAP, PostgreSQL).

use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::ServerName;
use toml::Spanned;

use crate::certs::{self, CertInfo, CertLimits, Trust};
use crate::config::values::Port;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::{Facts, Outcome};
use crate::probe::crl::revocation_verdict;
use crate::probe::kind::{Budget, RunProbe};
use crate::probe::legacy_tls::{legacy_verdict, Legacy};
use crate::probe::starttls::StartTls;

check_table! {
    /// `[[tls]]` as written in the inventory.
    pub(crate) struct TlsTable with certificate {
        /// Host name (checked against the certificate, and sent as SNI) or IP address.
        host: Spanned<String>,
        port: Port,
        /// smtp | imap | pop3 | ldap | postgres: speak the protocol in plain text up to
        /// its StartTLS, then judge the certificate as on a TLS port.
        starttls: Option<Spanned<String>>,
    }
}

impl Table for TlsTable {
    type Probe = TlsProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<TlsProbe>>, ConfigError> {
        let common = self.common();
        let host = self.host.get_ref().trim().to_owned();
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| loader.error(self.host.span(), format!("{host:?} is not a valid host name or IP address")))?;
        let starttls = self.starttls.as_ref().map(|s| StartTls::parse(loader, s)).transpose()?;
        if let Some(v) = self.min_tls.as_ref().filter(|_| starttls.is_some()) {
            // The legacy-version probe speaks a bare ClientHello, with no StartTLS before it.
            return Err(loader.error(v.span(), "min_tls is checked on a TLS port only, not with starttls"));
        }
        // [settings] min_tls is for TLS ports: a check with starttls is left out of it.
        let min_tls = match starttls {
            Some(_) => None,
            None => Legacy::required(loader, self.min_tls.as_ref())?,
        };
        let probe = TlsProbe {
            min_tls,
            starttls,
            check_revocation: self.check_revocation,
            host: host.clone(),
            port: self.port.0,
            server_name,
            trust: loader.trust(self.trust_keys())?,
            limits: loader.cert_limits(self.cert_keys())?,
        };
        let target = match starttls {
            Some(protocol) => format!("{host}:{} (STARTTLS {})", self.port.0, protocol.name()),
            None => format!("{host}:{}", self.port.0),
        };
        loader.single(&common, target, probe)
    }
}

#[derive(Debug)]
pub(crate) struct TlsProbe {
    /// The versions that must be refused (`min_tls`).
    pub min_tls: Option<Vec<Legacy>>,
    /// The plain-text upgrade spoken first, if any.
    pub starttls: Option<StartTls>,
    pub check_revocation: bool,
    pub host: String,
    pub port: u16,
    pub server_name: ServerName<'static>,
    pub trust: Arc<Trust>,
    pub limits: CertLimits,
}

impl RunProbe for TlsProbe {
    fn kind(&self) -> &'static str {
        "tls"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let mut stream = match super::net::connect_within(&self.host, self.port, budget).await {
            Ok(s) => s,
            Err(why) => return Outcome::fail(why),
        };
        if let Some(protocol) = self.starttls {
            let upgrade = protocol.upgrade(&mut stream);
            match tokio::time::timeout_at(budget.step_deadline(), upgrade).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Outcome::fail(format!("{} STARTTLS: {why}", protocol.name())),
                Err(_) => {
                    return Outcome::fail(format!(
                        "connected, but the {} STARTTLS exchange did not finish in {}",
                        protocol.name(),
                        budget.limit()
                    ))
                }
            }
        }
        let handshake = certs::handshake(&self.trust, stream, self.server_name.clone());
        let (seen, ended) = match tokio::time::timeout_at(budget.step_deadline(), handshake).await {
            Ok(Ok(result)) => result,
            Ok(Err(why)) => return Outcome::fail(why),
            Err(_) => {
                return Outcome::fail(format!("connected, but the TLS handshake did not finish in {}", budget.limit()))
            }
        };
        let Some(handshake) = seen else {
            // The server never showed a certificate: not TLS on this port, or it hung up.
            let why = ended.err().map_or_else(|| "no certificate".to_owned(), |e| super::net::describe_io(&e));
            return Outcome::fail(format!("TLS handshake failed: {why}"));
        };
        let verdict = certs::assess(&handshake, self.limits, SystemTime::now());
        let facts = verdict.facts(Facts::default());
        let detail = match handshake.chain.first().and_then(CertInfo::parse) {
            Some(leaf) if !verdict.status.is_failure() => format!("issued by {:?}, {}", leaf.issuer, verdict.text),
            Some(_) | None => verdict.text,
        };
        let negotiated = match (ended, verdict.status) {
            (Err(e), status) if !status.is_failure() => {
                return Outcome::fail(format!("TLS handshake failed: {}", super::net::describe_io(&e)))
            }
            (Err(_), status) => return Outcome::new(status, detail).with_facts(facts),
            (Ok(negotiated), _) => negotiated,
        };
        let (mut status, mut detail) = (verdict.status, detail);
        if self.check_revocation {
            let (revocation, words) = revocation_verdict(&self.trust, &handshake.chain, budget).await;
            status = status.worst(revocation);
            detail = format!("{detail}; {words}");
        }
        let Some(versions) = &self.min_tls else { return Outcome::new(status, detail).with_facts(facts) };
        let sni = matches!(self.server_name, ServerName::DnsName(_)).then_some(self.host.as_str());
        let detail = format!("{detail}; negotiated {negotiated}");
        match legacy_verdict(&self.host, self.port, sni, versions, budget).await {
            Some((legacy, why)) => Outcome::new(status.worst(legacy), format!("{detail}; but {why}")),
            None => Outcome::new(status, detail),
        }
        .with_facts(facts)
    }
}
