//! `[[ntp]]`: this machine's clock and a reference clock (a domain controller, the site's
//! time server) agree, and the reference itself is synchronised.
//!
//! One SNTP client query (RFC 4330, the client side of RFC 5905): a 48-byte UDP datagram
//! out, one back. Written here rather than taken from a crate: the exchange is a few dozen
//! lines, and the crates at hand do not expose everything the verdict needs (the leap
//! indicator, a kiss-o'-death's code). The parser is bounded and fuzzed (`fuzz_ntp_replies`).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use toml::Spanned;

use crate::config::values::{HumanDuration, Port};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::{Outcome, Status};
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[ntp]]` as written in the inventory.
    pub(crate) struct NtpTable {
        /// The reference: a host name or address.
        server: Spanned<String>,
        /// 123 unless given.
        port: Option<Port>,
        /// An offset beyond this warns (default 1 s).
        warn_offset: Option<Spanned<HumanDuration>>,
        /// An offset beyond this fails (default 60 s).
        max_offset: Option<Spanned<HumanDuration>>,
        /// A reference further than this from an atomic clock fails (default 10).
        max_stratum: Option<Spanned<u8>>,
    }
}

const DEFAULT_PORT: u16 = 123;
const DEFAULT_WARN: Duration = Duration::from_secs(1);
const DEFAULT_MAX: Duration = Duration::from_secs(60);
const DEFAULT_MAX_STRATUM: u8 = 10;
/// Kerberos refuses tickets when clocks differ by more than this (its default skew).
const KERBEROS_SKEW: &str = "logins by Kerberos fail past 5 min";
/// How long to wait for an answer before sending the query again (a lost datagram).
const RETRANSMIT_AFTER: Duration = Duration::from_millis(700);

impl Table for NtpTable {
    type Probe = NtpProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<NtpProbe>>, ConfigError> {
        let common = self.common();
        let written = loader.host(&self.server)?;
        // "[::1]" as in URLs is the address ::1.
        let server = written.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(&written).to_owned();
        let is_ipv6 = server.parse::<std::net::Ipv6Addr>().is_ok();
        if server.contains(['/', ' ']) || (server.contains(':') && !is_ipv6) {
            return Err(loader.error(
                self.server.span(),
                "server is a host name or address, like \"dc01.clinic.local\" (the port goes in port)",
            ));
        }
        let warn = self.warn_offset.as_ref().map_or(DEFAULT_WARN, |w| w.get_ref().0);
        let max = self.max_offset.as_ref().map_or(DEFAULT_MAX, |m| m.get_ref().0);
        if warn > max {
            let span = self.warn_offset.as_ref().or(self.max_offset.as_ref()).map(Spanned::span).unwrap_or_default();
            return Err(loader.error(span, "warn_offset must not be more than max_offset"));
        }
        let max_stratum = match &self.max_stratum {
            Some(s) if !(1..=15).contains(s.get_ref()) => {
                return Err(loader.error(s.span(), "max_stratum runs from 1 (a server with its own clock) to 15"))
            }
            Some(s) => *s.get_ref(),
            None => DEFAULT_MAX_STRATUM,
        };
        let port = self.port.map_or(DEFAULT_PORT, |p| p.0);
        let target = if is_ipv6 { format!("[{server}]:{port}") } else { format!("{server}:{port}") };
        let probe = NtpProbe { label: short_name(&server), server, port, limits: Limits { warn, max, max_stratum } };
        loader.single(&common, target, probe)
    }
}

/// The name people use: "dc01" for "dc01.clinic.local"; an address stays whole.
fn short_name(server: &str) -> String {
    if server.parse::<std::net::IpAddr>().is_ok() {
        return server.to_owned();
    }
    server.split('.').next().filter(|s| !s.is_empty()).unwrap_or(server).to_owned()
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub warn: Duration,
    pub max: Duration,
    pub max_stratum: u8,
}

#[derive(Debug)]
pub(crate) struct NtpProbe {
    pub server: String,
    /// How the detail names the server ("dc01").
    pub label: String,
    pub port: u16,
    pub limits: Limits,
}

impl RunProbe for NtpProbe {
    fn kind(&self) -> &'static str {
        "ntp"
    }

    async fn run(&self, budget: Budget) -> Outcome {
        let addrs = match super::net::resolve(&self.server, self.port).await {
            Ok(addrs) => addrs,
            Err(e) => return Outcome::fail(e.to_string()),
        };
        // The next address only after a refusal (a name with ::1 and 127.0.0.1, a server on
        // one of them): silence takes the whole timeout.
        let mut last = format!("{} resolved to no address", self.server);
        for addr in addrs {
            match exchange(addr, budget).await {
                Ok(answer) => return judge(&answer, self.limits, &self.label),
                Err((why, refused)) => {
                    last = format!("{} ({addr}): {why}", self.label);
                    if !refused {
                        break;
                    }
                }
            }
        }
        Outcome::fail(last)
    }
}

/// A timestamp as NTP carries it: seconds since 1900 in the high 32 bits, the fraction in
/// the low 32. Differences are taken modulo 2^64, so the 2036 era rollover does not matter.
fn ntp_time(t: SystemTime) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().wrapping_add(UNIX_TO_NTP);
    let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | fraction
}

/// `b - a` in seconds, signed, for two NTP timestamps.
fn difference(a: u64, b: u64) -> f64 {
    (b.wrapping_sub(a) as i64) as f64 / 4_294_967_296.0
}

/// What a server answered, and when we asked and heard.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub reply: Reply,
    /// Our transmit time (T1) and our receive time (T4).
    pub sent: u64,
    pub received: u64,
}

impl Answer {
    /// The server's clock minus ours, in seconds (RFC 5905's theta): positive when this
    /// machine is behind.
    fn offset(&self) -> f64 {
        (difference(self.sent, self.reply.receive) + difference(self.received, self.reply.transmit)) / 2.0
    }
}

/// The fields of a server's reply (RFC 5905 figure 8) that the verdict needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub leap: u8,
    pub mode: u8,
    pub stratum: u8,
    pub reference_id: [u8; 4],
    pub origin: u64,
    pub receive: u64,
    pub transmit: u64,
}

/// A reply datagram; `None` when it is too short to be one (extension fields and a MAC
/// after the 48 bytes are ignored).
pub(crate) fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let header: &[u8; 48] = bytes.get(..48)?.try_into().ok()?;
    let word = |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().unwrap_or_default());
    Some(Reply {
        leap: header[0] >> 6,
        mode: header[0] & 0x07,
        stratum: header[1],
        reference_id: [header[12], header[13], header[14], header[15]],
        origin: word(24),
        receive: word(32),
        transmit: word(40),
    })
}

/// A client request: leap 0, version 4, mode 3 (client), our time as transmit timestamp
/// (which the server echoes as origin: how its answer is matched to this request).
fn request(transmit: u64) -> [u8; 48] {
    let mut packet = [0u8; 48];
    packet[0] = 4 << 3 | 3;
    packet[40..48].copy_from_slice(&transmit.to_be_bytes());
    packet
}

/// Asks `addr` for the time, sending again while no answer comes, until the step deadline.
/// Datagrams that do not answer one of our requests (stray, late or forged) are ignored.
/// `Err` says why, and whether the address refused (so the next one may be tried).
async fn exchange(addr: SocketAddr, budget: Budget) -> Result<Answer, (String, bool)> {
    let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(|e| (format!("cannot open a UDP socket: {e}"), true))?;
    let failed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ("no NTP server there (port unreachable)".to_owned(), true),
        _ => (super::net::describe_io(&e), true),
    };
    socket.connect(addr).await.map_err(failed)?;
    let mut sent = Vec::new();
    loop {
        let t1 = ntp_time(SystemTime::now());
        // The last few requests are enough to match a late answer to.
        if sent.len() == 8 {
            sent.remove(0);
        }
        sent.push(t1);
        socket.send(&request(t1)).await.map_err(failed)?;
        let wait_until = (tokio::time::Instant::now() + RETRANSMIT_AFTER).min(budget.step_deadline());
        let answer = tokio::time::timeout_at(wait_until, async {
            loop {
                let mut buf = [0u8; 512];
                let n = socket.recv(&mut buf).await?;
                let received = ntp_time(SystemTime::now());
                match parse_reply(&buf[..n]) {
                    Some(reply) if sent.contains(&reply.origin) => {
                        return Ok(Answer { sent: reply.origin, reply, received })
                    }
                    _ => continue,
                }
            }
        })
        .await;
        match answer {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => return Err(failed(e)),
            Err(_) if tokio::time::Instant::now() >= budget.step_deadline() => {
                return Err((format!("no answer in {}", budget.limit()), false))
            }
            Err(_) => continue,
        }
    }
}

/// The verdict on one answer.
pub(crate) fn judge(answer: &Answer, limits: Limits, label: &str) -> Outcome {
    let reply = &answer.reply;
    if reply.mode != 4 {
        return Outcome::fail(format!("{label} did not answer as an NTP server (mode {})", reply.mode));
    }
    if reply.stratum == 0 {
        return Outcome::fail(kiss_of_death(label, reply.reference_id));
    }
    if reply.leap == 3 || reply.stratum >= 16 {
        return Outcome::fail(format!(
            "{label} is not synchronised itself (leap indicator {}, stratum {}): its time cannot be trusted",
            reply.leap, reply.stratum
        ));
    }
    if reply.transmit == 0 || reply.receive == 0 {
        return Outcome::fail(format!("{label} answered without its time"));
    }
    let offset = answer.offset();
    let size = Duration::try_from_secs_f64(offset.abs()).unwrap_or(Duration::MAX);
    let side = if offset >= 0.0 { "behind" } else { "ahead of" };
    let mut detail = format!("this machine is {} {side} {label} (stratum {})", amount(size), reply.stratum);
    let mut status = Status::Pass;
    if size > limits.max {
        status = Status::Fail;
    } else if size > limits.warn {
        status = Status::Warn;
    }
    if !status.is_healthy() {
        detail = format!("{detail}; {KERBEROS_SKEW}");
    }
    if reply.stratum > limits.max_stratum {
        status = status.worst(Status::Fail);
        detail = format!("{detail}; stratum {} is above max_stratum {}", reply.stratum, limits.max_stratum);
    }
    Outcome::new(status, detail)
}

/// A kiss-o'-death (stratum 0): the server refuses to serve us, and says why in four letters.
fn kiss_of_death(label: &str, code: [u8; 4]) -> String {
    let code: String = code
        .iter()
        .take_while(|b| **b != 0)
        .map(|&b| if b.is_ascii_alphanumeric() { b as char } else { '?' })
        .collect();
    let meaning = match code.as_str() {
        "DENY" | "RSTR" => "access denied",
        "RATE" => "we asked too often",
        "INIT" | "STEP" => "it is not synchronised yet",
        _ => "it refuses to serve the time",
    };
    format!("{label} sent a kiss-o'-death ({code}: {meaning})")
}

/// An offset as people say it: "3 ms", "4.2 s", "4 min 12 s", "2 h 5 min".
fn amount(d: Duration) -> String {
    // To the nearest second: a measured 251.998 s is the 4 min 12 s it is.
    let secs = d.as_secs_f64().round() as u64;
    match secs {
        0..=59 => crate::human::duration(d),
        60..=3_599 => format!("{} min {} s", secs / 60, secs % 60),
        3_600..=172_799 => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{} days", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { warn: DEFAULT_WARN, max: DEFAULT_MAX, max_stratum: DEFAULT_MAX_STRATUM };

    /// A server `offset` seconds ahead of us, answering instantly.
    fn answer(offset: f64, stratum: u8, leap: u8) -> Answer {
        let now = ntp_time(SystemTime::now());
        let shift = (offset * 4_294_967_296.0) as i64;
        let theirs = now.wrapping_add(shift as u64);
        let reply =
            Reply { leap, mode: 4, stratum, reference_id: *b"GPS\0", origin: now, receive: theirs, transmit: theirs };
        Answer { reply, sent: now, received: now }
    }

    #[test]
    fn a_machine_four_minutes_behind_fails_in_words() {
        let outcome = judge(&answer(252.0, 3, 0), LIMITS, "dc01");
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(
            outcome.detail,
            "this machine is 4 min 12 s behind dc01 (stratum 3); logins by Kerberos fail past 5 min"
        );
    }

    #[test]
    fn small_offsets_pass_and_larger_ones_warn() {
        let pass = judge(&answer(-0.003, 2, 0), LIMITS, "dc01");
        assert_eq!(pass.status, Status::Pass);
        assert_eq!(pass.detail, "this machine is 3.0 ms ahead of dc01 (stratum 2)");
        assert_eq!(judge(&answer(5.0, 2, 0), LIMITS, "dc01").status, Status::Warn);
    }

    #[test]
    fn unsynchronised_servers_and_kisses_of_death_fail() {
        for (stratum, leap) in [(3, 3), (16, 0)] {
            let outcome = judge(&answer(0.0, stratum, leap), LIMITS, "dc01");
            assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
            assert!(outcome.detail.contains("not synchronised"), "{outcome:?}");
        }
        let mut kiss = answer(0.0, 0, 3);
        kiss.reply.reference_id = *b"DENY";
        let outcome = judge(&kiss, LIMITS, "dc01");
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.detail, "dc01 sent a kiss-o'-death (DENY: access denied)");
        let too_far = judge(&answer(0.0, 12, 0), LIMITS, "dc01");
        assert_eq!(too_far.status, Status::Fail);
        assert!(too_far.detail.ends_with("stratum 12 is above max_stratum 10"), "{too_far:?}");
    }

    #[test]
    fn a_request_round_trips_through_the_parser() {
        let t = ntp_time(SystemTime::now());
        let mut packet = request(t);
        assert_eq!(packet[0], 0x23);
        packet[0] = 0x24; // as a server would answer: mode 4
        let parsed = parse_reply(&packet).expect("48 bytes parse");
        assert_eq!((parsed.mode, parsed.transmit, parsed.leap), (4, t, 0));
        assert_eq!(parse_reply(&packet[..47]), None);
    }

    #[test]
    fn names_are_shortened_and_addresses_kept() {
        assert_eq!(short_name("dc01.clinic.local"), "dc01");
        assert_eq!(short_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(short_name("::1"), "::1");
        assert_eq!(short_name("10.0.0.5"), "10.0.0.5");
    }

    proptest::proptest! {
        /// Whatever a peer sends, parsing and judging never panic.
        #[test]
        fn fuzz_ntp_replies(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..96), t1: u64, t4: u64) {
            if let Some(reply) = parse_reply(&bytes) {
                let answer = Answer { reply, sent: t1, received: t4 };
                let _ = judge(&answer, LIMITS, "dc01");
            }
        }
    }
}
