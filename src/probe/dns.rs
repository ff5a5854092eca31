//! `[[dns]]`: a name resolves, to the addresses expected.
//!
//! By default through the system resolver (/etc/hosts, nsswitch, the configured DNS servers),
//! which is what the clinic's programs use: a name that this machine cannot resolve is a name
//! the EHR client on it cannot reach either. With `server`, one DNS server is asked directly
//! (A and AAAA over UDP), to check that server itself. Messages are encoded and parsed by
//! hickory-proto; the exchange is a few lines of tokio.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

use toml::Spanned;

use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[dns]]` as written in the inventory.
    pub(crate) struct DnsTable {
        /// The name to resolve.
        host: Spanned<String>,
        /// Addresses that must be among the answers.
        #[serde(default)]
        expect: Vec<Spanned<String>>,
        /// Ask this DNS server directly ("10.0.0.2", or "10.0.0.2:5353") instead of the system
        /// resolver.
        server: Option<Spanned<String>>,
    }
}

impl Table for DnsTable {
    type Probe = DnsProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<DnsProbe>>, ConfigError> {
        let common = self.common();
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
        let server = match &self.server {
            Some(s) => Some(parse_server(s.get_ref()).filter(|a| a.port() != 0).ok_or_else(|| {
                loader.error(s.span(), format!("{:?} is not an IP address (with an optional :port)", s.get_ref()))
            })?),
            None => None,
        };
        if server.is_some() && Name::from_utf8(format!("{host}.")).is_err() {
            return Err(loader.error(self.host.span(), format!("{host:?} is not a valid DNS name")));
        }
        let target = match server {
            Some(s) => format!("{host} @{s}"),
            None => host.clone(),
        };
        let probe = DnsProbe { host, expect, server };
        loader.single(&common, target, probe)
    }
}

/// "10.0.0.2", "10.0.0.2:5353", "::1" or "[::1]:5353"; port 53 unless given.
fn parse_server(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>().ok().or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

#[derive(Debug)]
pub(crate) struct DnsProbe {
    pub host: String,
    pub expect: BTreeSet<IpAddr>,
    pub server: Option<SocketAddr>,
}

impl RunProbe for DnsProbe {
    fn kind(&self) -> &'static str {
        "dns"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let start = tokio::time::Instant::now();
        let answers = match self.server {
            Some(server) => ask_server(server, &self.host, budget).await,
            None => super::net::resolve(&self.host, 0)
                .await
                .map(|addrs| addrs.iter().map(|a| a.ip()).collect())
                .map_err(|e| e.to_string()),
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(why) => return Outcome::fail(why),
        };
        let elapsed = human::duration(start.elapsed());
        judge(&answers, &self.expect, &elapsed)
    }
}

/// Asks `server` for the A and AAAA records of `host`. An error for one record type (some
/// servers refuse AAAA for a name they only hold an IPv4 address for) counts only when the
/// other brought no address either.
/// How long to wait for a UDP answer before sending the query again: a lost datagram is
/// retransmitted, as every resolver does, within the check's timeout.
const RETRANSMIT_AFTER: std::time::Duration = std::time::Duration::from_millis(700);

/// One query over UDP, sent again while no answer comes, until the budget's step deadline.
async fn exchange_udp(
    socket: &UdpSocket,
    server: SocketAddr,
    query: &[u8],
    id: u16,
    budget: Budget,
) -> Result<Message, String> {
    let no_answer = |e: std::io::Error| format!("DNS server {server}: {}", super::net::describe_io(&e));
    loop {
        socket.send(query).await.map_err(no_answer)?;
        let wait_until = (tokio::time::Instant::now() + RETRANSMIT_AFTER).min(budget.step_deadline());
        let answer = tokio::time::timeout_at(wait_until, async {
            loop {
                let mut buf = [0u8; 4096];
                let n = socket.recv(&mut buf).await?;
                // Anything else arriving on this port (a late answer, a stray packet) is ignored.
                match Message::from_vec(&buf[..n]) {
                    Ok(m) if m.id() == id && m.message_type() == MessageType::Response => return Ok(m),
                    _ => continue,
                }
            }
        })
        .await;
        match answer {
            Ok(Ok(message)) => return Ok(message),
            Ok(Err(e)) => return Err(no_answer(e)),
            Err(_) if tokio::time::Instant::now() >= budget.step_deadline() => {
                return Err(format!("DNS server {server}: no answer in {}", budget.limit()))
            }
            Err(_) => continue,
        }
    }
}

/// One query over TCP: two bytes of length, then the message, each way.
async fn exchange_tcp(server: SocketAddr, query: &[u8], id: u16, budget: Budget) -> Result<Message, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let failed = |e: std::io::Error| format!("DNS server {server} over TCP: {}", super::net::describe_io(&e));
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server).await.map_err(failed)?;
        let length = u16::try_from(query.len()).map_err(|_| "the DNS query is too long".to_owned())?;
        let mut framed = length.to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        stream.write_all(&framed).await.map_err(failed)?;
        let mut size = [0u8; 2];
        stream.read_exact(&mut size).await.map_err(failed)?;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(size))];
        stream.read_exact(&mut answer).await.map_err(failed)?;
        match Message::from_vec(&answer) {
            Ok(m) if m.id() == id => Ok(m),
            Ok(_) => Err(format!("DNS server {server} answered another query over TCP")),
            Err(e) => Err(format!("DNS server {server} sent a malformed answer over TCP: {e}")),
        }
    };
    match tokio::time::timeout_at(budget.step_deadline(), exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("DNS server {server}: no answer over TCP in {}", budget.limit())),
    }
}

async fn ask_server(server: SocketAddr, host: &str, budget: Budget) -> Result<BTreeSet<IpAddr>, String> {
    let name = Name::from_utf8(format!("{host}.")).map_err(|e| format!("{host:?} is not a DNS name: {e}"))?;
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("cannot reach DNS server {server}: {}", super::net::describe_io(&e)))?;
    let mut answers = BTreeSet::new();
    let mut first_error = None;
    for (n, record_type) in [RecordType::A, RecordType::AAAA].into_iter().enumerate() {
        let id = query_id().wrapping_add(n as u16);
        let mut query = Message::new();
        query
            .set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(name.clone(), record_type));
        let bytes = query.to_vec().map_err(|e| format!("cannot encode the DNS query: {e}"))?;
        let mut response = exchange_udp(&socket, server, &bytes, id, budget).await?;
        if response.truncated() {
            // The answer did not fit in a datagram: ask again over TCP (RFC 7766).
            response = exchange_tcp(server, &bytes, id, budget).await?;
        }
        let error = match response.response_code() {
            ResponseCode::NoError => None,
            ResponseCode::NXDomain => Some(format!("DNS server {server} says {host} does not exist (NXDOMAIN)")),
            code => Some(format!("DNS server {server} answered {code} for {host}")),
        };
        if let Some(error) = error {
            first_error.get_or_insert(error);
            continue;
        }
        answers.extend(response.answers().iter().filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        }));
    }
    match first_error {
        Some(error) if answers.is_empty() => Err(error),
        _ => Ok(answers),
    }
}

/// Not guessable by an off-path spoofer in practice, and different per run.
fn query_id() -> u16 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (nanos ^ std::process::id()) as u16
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
    fn server_addresses_default_to_port_53() {
        assert_eq!(parse_server("10.0.0.2"), Some(SocketAddr::from(([10, 0, 0, 2], 53))));
        assert_eq!(parse_server("127.0.0.1:5353"), Some(SocketAddr::from(([127, 0, 0, 1], 5353))));
        assert_eq!(parse_server("::1").map(|s| s.port()), Some(53));
        assert_eq!(parse_server("dns.example"), None);
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
