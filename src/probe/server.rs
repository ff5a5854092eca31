//! `[[server]]`: can a TCP connection be opened? One check per port, named `NAME:PORT`; and,
//! for the security posture, ports that must stay closed (`NAME:closed:PORT`).

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
        /// Ports that must not accept connections (telnet, SMB, RDP...): each passes when
        /// refused or filtered, fails when open. Named "NAME:closed:PORT".
        closed_ports: Option<Spanned<Vec<Port>>>,
    }
}

/// A closed port answers at once or never: a short default, so filtered ports cost little.
const CLOSED_PORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

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
            None if self.ping || self.closed_ports.is_some() => Vec::new(),
            None => {
                return Err(
                    loader.error(self.name.span(), "a server needs ports = [...], closed_ports = [...] or ping = true")
                )
            }
        };
        let mut checks = Vec::new();
        if self.ping {
            let probe = ServerCheck::Ping(PingProbe { host: host.clone() });
            checks.push(loader.check(&common, format!("{}:ping", common.name.get_ref()), host.clone(), probe)?);
        }
        for &port in &ports {
            let name = format!("{}:{port}", common.name.get_ref());
            let probe = ServerCheck::Port(ServerProbe { host: host.clone(), port });
            checks.push(loader.check(&common, name, format!("{host}:{port}"), probe)?);
        }
        for port in self.closed_ports.iter().flat_map(|p| p.get_ref().iter().map(|p| p.0)) {
            if ports.contains(&port) {
                let span = self.closed_ports.as_ref().map(Spanned::span).unwrap_or_default();
                return Err(loader.error(span, format!("port {port} is in both ports and closed_ports")));
            }
            let name = format!("{}:closed:{port}", common.name.get_ref());
            let probe = ServerCheck::Closed(ClosedPortProbe { host: host.clone(), port });
            let mut planned = loader.check(&common, name, format!("{host}:{port} (must be closed)"), probe)?;
            planned.meta.timeout.get_or_insert(CLOSED_PORT_TIMEOUT);
            checks.push(planned);
        }
        Ok(checks)
    }
}

/// What a `[[server]]` table makes: a check per port, and one ping check if asked.
#[derive(Debug)]
pub(crate) enum ServerCheck {
    Port(ServerProbe),
    Ping(PingProbe),
    Closed(ClosedPortProbe),
}

impl RunProbe for ServerCheck {
    fn kind(&self) -> &'static str {
        match self {
            ServerCheck::Port(p) => p.kind(),
            ServerCheck::Ping(p) => p.kind(),
            ServerCheck::Closed(p) => p.kind(),
        }
    }

    async fn run(&self, budget: Budget) -> Outcome {
        match self {
            ServerCheck::Port(p) => p.run(budget).await,
            ServerCheck::Ping(p) => p.run(budget).await,
            ServerCheck::Closed(p) => p.run(budget).await,
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

/// A port that must not accept connections.
#[derive(Debug)]
pub(crate) struct ClosedPortProbe {
    pub host: String,
    pub port: u16,
}

impl RunProbe for ClosedPortProbe {
    fn kind(&self) -> &'static str {
        "closed-port"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let named = match service_name(self.port) {
            Some(service) => format!("port {} ({service})", self.port),
            None => format!("port {}", self.port),
        };
        let addrs = match super::net::resolve(&self.host, self.port).await {
            Ok(addrs) => addrs,
            Err(e) => return Outcome::fail(e.to_string()),
        };
        for addr in addrs {
            match tokio::time::timeout_at(budget.step_deadline(), tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => return Outcome::fail(format!("{named} is open; close it or filter it")),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Ok(Err(e)) => return Outcome::pass(format!("{named} is closed ({})", super::net::describe_io(&e))),
                Err(_) => return Outcome::pass(format!("{named} is filtered (no answer in {})", budget.limit())),
            }
        }
        Outcome::pass(format!("{named} is closed (refused)"))
    }
}

/// The service usually on a port, for a detail a person understands at once.
fn service_name(port: u16) -> Option<&'static str> {
    Some(match port {
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        80 => "http",
        110 => "pop3",
        135 => "msrpc",
        139 => "netbios",
        143 => "imap",
        445 => "smb",
        1433 => "mssql",
        3306 => "mysql",
        3389 => "rdp",
        5432 => "postgresql",
        5900 => "vnc",
        6379 => "redis",
        27017 => "mongodb",
        _ => return None,
    })
}
