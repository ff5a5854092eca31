//! Probes: one file per kind of check, all behind [`Probe`].
//!
//! Each `<kind>.rs` holds the kind's inventory table (`<Kind>Table`, its TOML keys and their
//! validation) and its ready-to-run probe (`<Kind>Probe`). A probe reports everything about
//! its target as an [`Outcome`], never as an `Err`: "connection refused" is a finding, not a
//! malfunction of rounds.
//!
//! To add a kind: write `<kind>.rs` like the others, add a variant below, and follow the
//! compiler to the `match` arms and to `config::InventoryFile`.

pub mod backup;
pub mod command;
pub mod dicom;
pub mod disk;
pub mod dns;
pub mod fhir;
pub mod hl7;
pub mod http;
pub mod ping;
pub mod process;
pub mod system;
pub mod tcp;
pub mod tls;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::check::Outcome;
use crate::human;

/// Every kind of check. An enum rather than trait objects: the set of kinds is closed and
/// comes from the inventory, so the compiler lists every place a new kind must be handled.
#[derive(Debug)]
pub enum Probe {
    Endpoint(http::EndpointProbe),
    Fhir(http::EndpointProbe),
    Server(tcp::ServerProbe),
    Tls(tls::TlsProbe),
    Backup(backup::BackupProbe),
    Disk(disk::DiskProbe),
    Command(command::CommandProbe),
    Hl7(hl7::Hl7Probe),
    System(system::SystemProbe),
    Process(process::ProcessProbe),
    Dns(dns::DnsProbe),
    Dicom(dicom::DicomProbe),
    Ping(ping::PingProbe),
}

/// The time a probe has: the runner gives up at `deadline`; probes that can say which step
/// was slow ("body still arriving") use it to time out a moment before, in their own words.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub timeout: Duration,
    pub deadline: Instant,
}

impl Budget {
    pub fn starting_now(timeout: Duration) -> Self {
        Self { timeout, deadline: Instant::now() + timeout }
    }
}

impl Probe {
    /// The kind as the inventory names it (`[[endpoint]]` is "endpoint").
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Endpoint(_) => "endpoint",
            Probe::Fhir(_) => "fhir",
            Probe::Server(_) => "server",
            Probe::Tls(_) => "tls",
            Probe::Backup(_) => "backup",
            Probe::Disk(_) => "disk",
            Probe::Command(_) => "command",
            Probe::Hl7(_) => "hl7",
            Probe::System(_) => "system",
            Probe::Process(_) => "process",
            Probe::Dns(_) => "dns",
            Probe::Dicom(_) => "dicom",
            Probe::Ping(_) => "ping",
        }
    }

    /// Runs the probe. Each kind's future is boxed: unboxed, this future would be as large as
    /// the largest kind's (a command's output buffers, a DICOM association), and every one
    /// of a thousand queued checks would carry that size. Measured: peak RSS with 1,000
    /// endpoints went from about 12 MiB to 24 MiB without the boxes.
    pub async fn run(&self, budget: Budget) -> Outcome {
        let probe: Pin<Box<dyn Future<Output = Outcome> + Send + '_>> = match self {
            Probe::Endpoint(p) | Probe::Fhir(p) => Box::pin(p.run(budget)),
            Probe::Server(p) => Box::pin(p.run()),
            Probe::Tls(p) => Box::pin(p.run()),
            Probe::Backup(p) => Box::pin(p.run()),
            Probe::Disk(p) => Box::pin(p.run()),
            Probe::Command(p) => Box::pin(p.run()),
            Probe::Hl7(p) => Box::pin(p.run()),
            Probe::System(p) => Box::pin(p.run()),
            Probe::Process(p) => Box::pin(p.run()),
            Probe::Dns(p) => Box::pin(p.run()),
            Probe::Dicom(p) => Box::pin(p.run(budget)),
            Probe::Ping(p) => Box::pin(p.run(budget)),
        };
        probe.await
    }

    /// What to say when the whole probe ran out of time.
    pub fn timed_out(&self, timeout: Duration) -> Outcome {
        let limit = human::limit(timeout);
        match self {
            Probe::Backup(_) | Probe::Disk(_) => Outcome::fail(format!("no answer from the filesystem in {limit}")),
            Probe::Command(_) => Outcome::fail(format!("unknown: still running after {limit}, killed")),
            _ => Outcome::fail(format!("no answer in {limit}")),
        }
    }
}

/// Runs blocking filesystem work on a thread of its own and waits for it without blocking
/// the async workers.
///
/// A plain thread, not `spawn_blocking`: a call stuck on a hung NFS or SMB mount can never
/// be cancelled, and tokio waits for its blocking pool at shutdown, so one dead mount would
/// hold the whole run hostage. A detached thread is simply abandoned when the check times out
/// and the process exits.
pub async fn off_the_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("rounds-fs".into()).spawn(move || {
        let _ = tx.send(work());
    });
    match spawned {
        Ok(_) => rx.await.ok(),
        Err(_) => None,
    }
}

/// A socket error in plain words.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Resolves `host` through the system resolver (/etc/hosts, nsswitch, DNS), as the clinic's
/// own programs on this machine would; the error says why in words.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, String> {
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(e) => Err(format!("cannot resolve {host}: {}", lookup_reason(&e.to_string()))),
    }
}

/// Resolves `host:port` and connects to the first address that answers.
pub async fn connect(host: &str, port: u16) -> Result<tokio::net::TcpStream, String> {
    let addrs = resolve(host, port).await?;
    let mut last = format!("{host} resolved to no address");
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = describe_io(&e),
        }
    }
    Err(last)
}

/// getaddrinfo's reason without the prefix every resolver error repeats.
pub fn lookup_reason(text: &str) -> &str {
    text.strip_prefix("failed to lookup address information: ").unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A filesystem call that never returns (as on a hung NFS mount) must not hold up the
    /// check past its timeout, nor the runtime's shutdown afterwards.
    #[test]
    fn blocking_work_is_abandoned_at_the_timeout() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let started = std::time::Instant::now();
        let hung = off_the_runtime(|| std::thread::sleep(Duration::from_secs(3600)));
        let result = runtime.block_on(async { tokio::time::timeout(Duration::from_millis(100), hung).await });
        assert!(result.is_err(), "the hung call should have timed out");
        runtime.shutdown_background();
        assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    }
}
