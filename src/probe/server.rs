//! `[[server]]`: can a TCP connection be opened? One check per port, named `NAME:PORT`.

use toml::Spanned;

use crate::config::values::Port;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};
use crate::probe::ping::PingProbe;

check_table! {
    /// `[[server]]` as written in the inventory.
    pub(crate) struct ServerTable {
        /// Host name or IP address.
        host: Spanned<String>,
        /// Each port becomes its own check, so "PACS answers on 104 but not on 443" is visible.
        ports: Option<Spanned<Vec<Port>>>,
        /// Also an ICMP echo check, named "NAME:ping".
        #[serde(default)]
        ping: bool,
    }
}

impl Table for ServerTable {
    type Probe = ServerCheck;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<ServerCheck>>, ConfigError> {
        let common = self.common();
        let host = loader.host(&self.host)?;
        let ports = match &self.ports {
            Some(p) if p.get_ref().is_empty() => {
                return Err(loader.error(p.span(), "ports needs at least one port, like ports = [443]"))
            }
            Some(p) => p.get_ref().iter().map(|p| p.0).collect(),
            None if self.ping => Vec::new(),
            None => return Err(loader.error(self.name.span(), "a server needs ports = [...] or ping = true")),
        };
        let mut checks = Vec::new();
        if self.ping {
            let probe = ServerCheck::Ping(PingProbe { host: host.clone() });
            checks.push(loader.check(&common, format!("{}:ping", common.name.get_ref()), host.clone(), probe)?);
        }
        for port in ports {
            let name = format!("{}:{port}", common.name.get_ref());
            let probe = ServerCheck::Port(ServerProbe { host: host.clone(), port });
            checks.push(loader.check(&common, name, format!("{host}:{port}"), probe)?);
        }
        Ok(checks)
    }
}

/// What a `[[server]]` table makes: a check per port, and one ping check if asked.
#[derive(Debug)]
pub(crate) enum ServerCheck {
    Port(ServerProbe),
    Ping(PingProbe),
}

impl RunProbe for ServerCheck {
    fn kind(&self) -> &'static str {
        match self {
            ServerCheck::Port(p) => p.kind(),
            ServerCheck::Ping(p) => p.kind(),
        }
    }

    async fn run(&self, budget: Budget) -> Outcome {
        match self {
            ServerCheck::Port(p) => p.run(budget).await,
            ServerCheck::Ping(p) => p.run(budget).await,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ServerProbe {
    pub host: String,
    pub port: u16,
}

impl RunProbe for ServerProbe {
    fn kind(&self) -> &'static str {
        "server"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let start = tokio::time::Instant::now();
        match super::net::connect_within(&self.host, self.port, budget).await {
            Ok(_) => Outcome::pass(format!("connected in {}", human::duration(start.elapsed()))),
            Err(why) => Outcome::fail(why),
        }
    }
}
