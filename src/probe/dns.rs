//! `[[dns]]`: a name resolves, to the addresses expected.
//!
//! Through the system resolver (/etc/hosts, nsswitch, the configured DNS servers), which is
//! what the clinic's programs use: a name that this machine cannot resolve is a name the EHR
//! client on it cannot reach either.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;

use crate::check::{Outcome, Severity};
use crate::config::values::HumanDuration;
use crate::config::{CommonKeys, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::probe::Probe;

/// `[[dns]]` as written in the inventory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsTable {
    name: Spanned<String>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    tags: Vec<String>,
    timeout: Option<HumanDuration>,
    /// The name to resolve.
    host: Spanned<String>,
    /// Addresses that must be among the answers.
    #[serde(default)]
    expect: Vec<Spanned<String>>,
}

impl Table for DnsTable {
    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned>, ConfigError> {
        let host = self.host.get_ref().trim().trim_end_matches('.').to_owned();
        if host.is_empty() || host.contains(['/', ':', ' ']) {
            return Err(loader.error(self.host.span(), "host is a name to resolve, like \"ehr.clinic.local\""));
        }
        let mut expect = BTreeSet::new();
        for address in &self.expect {
            let ip = address
                .get_ref()
                .parse::<IpAddr>()
                .map_err(|_| loader.error(address.span(), format!("{:?} is not an IP address", address.get_ref())))?;
            expect.insert(ip);
        }
        let target = host.clone();
        let common = CommonKeys { name: self.name, severity: self.severity, tags: self.tags, timeout: self.timeout };
        Ok(vec![loader.check(&common, common.name.get_ref().clone(), target, Probe::Dns(DnsProbe { host, expect }))?])
    }
}

#[derive(Debug)]
pub struct DnsProbe {
    pub host: String,
    pub expect: BTreeSet<IpAddr>,
}

impl DnsProbe {
    pub async fn run(&self) -> Outcome {
        let start = tokio::time::Instant::now();
        let answers: BTreeSet<IpAddr> = match tokio::net::lookup_host((self.host.as_str(), 0)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(e) => return Outcome::fail(format!("cannot resolve {}: {}", self.host, super::lookup_reason(&e))),
        };
        let elapsed = human::duration(start.elapsed());
        judge(&answers, &self.expect, &elapsed)
    }
}

fn judge(answers: &BTreeSet<IpAddr>, expect: &BTreeSet<IpAddr>, elapsed: &str) -> Outcome {
    let list = |set: &BTreeSet<IpAddr>| set.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
    if answers.is_empty() {
        return Outcome::fail("resolved to no address");
    }
    let missing: BTreeSet<IpAddr> = expect.difference(answers).copied().collect();
    if missing.is_empty() {
        Outcome::pass(format!("{} in {elapsed}", list(answers)))
    } else {
        Outcome::fail(format!("resolves to {}, missing expected {}", list(answers), list(&missing)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
        ips.iter().map(|i| i.parse().unwrap()).collect()
    }

    #[test]
    fn expected_addresses_must_be_among_the_answers() {
        let answers = set(&["10.0.0.10", "10.0.0.11"]);
        assert_eq!(judge(&answers, &set(&["10.0.0.10"]), "1 ms"), Outcome::pass("10.0.0.10, 10.0.0.11 in 1 ms"));
        assert_eq!(
            judge(&answers, &set(&["10.0.0.12"]), "1 ms"),
            Outcome::fail("resolves to 10.0.0.10, 10.0.0.11, missing expected 10.0.0.12")
        );
    }
}
