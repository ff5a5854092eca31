//! `[[server]]`: can a TCP connection be opened? One check per port, named `NAME:PORT`.

use serde::Deserialize;
use toml::Spanned;

use crate::check::{Outcome, Severity};
use crate::config::values::HumanDuration;
use crate::config::{CommonKeys, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::probe::ping::PingProbe;
use crate::probe::Probe;

/// `[[server]]` as written in the inventory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTable {
    name: Spanned<String>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    tags: Vec<String>,
    timeout: Option<HumanDuration>,
    /// Host name or IP address.
    host: Spanned<String>,
    /// Each port becomes its own check, so "PACS answers on 104 but not on 443" is visible.
    ports: Option<Spanned<Vec<u16>>>,
    /// Also an ICMP echo check, named "NAME:ping".
    #[serde(default)]
    ping: bool,
}

impl Table for ServerTable {
    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned>, ConfigError> {
        let host = loader.host(&self.host)?;
        let ports = match &self.ports {
            Some(p) if p.get_ref().is_empty() => {
                return Err(loader.error(p.span(), "ports needs at least one port, like ports = [443]"))
            }
            Some(p) => p.get_ref().clone(),
            None if self.ping => Vec::new(),
            None => return Err(loader.error(self.name.span(), "a server needs ports = [...] or ping = true")),
        };
        let common = CommonKeys { name: self.name, severity: self.severity, tags: self.tags, timeout: self.timeout };
        let mut checks = Vec::new();
        if self.ping {
            let probe = Probe::Ping(PingProbe { host: host.clone() });
            checks.push(loader.check(&common, format!("{}:ping", common.name.get_ref()), host.clone(), probe)?);
        }
        for port in ports {
            let name = format!("{}:{port}", common.name.get_ref());
            let probe = Probe::Server(ServerProbe { host: host.clone(), port });
            checks.push(loader.check(&common, name, format!("{host}:{port}"), probe)?);
        }
        Ok(checks)
    }
}

#[derive(Debug)]
pub struct ServerProbe {
    pub host: String,
    pub port: u16,
}

impl ServerProbe {
    pub async fn run(&self) -> Outcome {
        let start = tokio::time::Instant::now();
        match super::connect(&self.host, self.port).await {
            Ok(_) => Outcome::pass(format!("connected in {}", human::duration(start.elapsed()))),
            Err(why) => Outcome::fail(why),
        }
    }
}
