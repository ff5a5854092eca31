//! `ping = true` on a `[[server]]`: an ICMP echo check named `NAME:ping`.
//!
//! surge-ping opens an unprivileged ICMP socket where the kernel allows it
//! (`net.ipv4.ping_group_range`) and falls back to a raw socket (root or `cap_net_raw`).
//! It reports any ICMP answer as success, "destination unreachable" included, so only an
//! echo reply counts here.

use std::net::IpAddr;

use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, SurgeError, ICMP};

use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};

const ECHO_REPLY_V4: u8 = 0;
const ECHO_REPLY_V6: u8 = 129;
const PAYLOAD: &[u8] = b"rounds morning check";

#[derive(Debug)]
pub(crate) struct PingProbe {
    pub host: String,
}

impl RunProbe for PingProbe {
    fn kind(&self) -> &'static str {
        "ping"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let ip = match resolve(&self.host).await {
            Ok(ip) => ip,
            Err(why) => return Outcome::fail(why),
        };
        let config = match ip {
            IpAddr::V4(_) => Config::default(),
            IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
        };
        let client = match Client::new(&config) {
            Ok(client) => client,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Outcome::fail(
                    "cannot ping: ICMP sockets are not allowed for this user (run as root, give rounds \
                     cap_net_raw, or widen net.ipv4.ping_group_range)",
                )
            }
            Err(e) => return Outcome::fail(format!("cannot ping: {e}")),
        };
        let mut pinger = client.pinger(ip, PingIdentifier(std::process::id() as u16)).await;
        pinger.timeout(budget.step_remaining());
        match pinger.ping(PingSequence(0), PAYLOAD).await {
            Ok((packet, rtt)) => judge(&packet, &human::duration(rtt)),
            Err(SurgeError::Timeout { .. }) => {
                Outcome::fail(format!("no echo reply in {}", human::limit(budget.timeout)))
            }
            Err(e) => Outcome::fail(format!("ping failed: {e}")),
        }
    }
}

async fn resolve(host: &str) -> Result<IpAddr, String> {
    let addrs = super::net::resolve(host, 0).await.map_err(|e| e.to_string())?;
    addrs.first().map(|a| a.ip()).ok_or_else(|| format!("{host} resolved to no address"))
}

fn judge(packet: &IcmpPacket, rtt: &str) -> Outcome {
    let (icmp_type, echo_reply) = match packet {
        IcmpPacket::V4(p) => (p.get_icmp_type().0, ECHO_REPLY_V4),
        IcmpPacket::V6(p) => (p.get_icmpv6_type().0, ECHO_REPLY_V6),
    };
    // Destination unreachable is type 3 in ICMPv4 and type 1 in ICMPv6.
    let unreachable =
        matches!(packet, IcmpPacket::V4(_)) && icmp_type == 3 || matches!(packet, IcmpPacket::V6(_)) && icmp_type == 1;
    if icmp_type == echo_reply {
        Outcome::pass(format!("echo reply in {rtt}"))
    } else if unreachable {
        Outcome::fail(format!("destination unreachable (ICMP type {icmp_type})"))
    } else {
        Outcome::fail(format!("no echo reply: ICMP type {icmp_type} came back instead"))
    }
}
