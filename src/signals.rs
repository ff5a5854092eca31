//! Ctrl-C, SIGTERM and SIGHUP: stop probing, kill every plugin started, and still report.
//!
//! The first signal stops the run: checks not finished are reported as interrupted (and not
//! remembered in the state), every `[[command]]` process group is killed as its probe is
//! dropped, and rounds exits 128 + the signal's number (130, 143, 129). A second signal
//! ends the process at once, for when even the report is too slow.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// The exit code for a run a signal stopped, by the signal's name.
pub(crate) fn exit_code(name: &str) -> u8 {
    match name {
        "SIGHUP" => 129,
        "SIGTERM" => 143,
        _ => 130,
    }
}

/// Starts listening (on the current tokio runtime); the first signal's name is sent to the
/// returned receiver. `None` when the handlers could not be installed (nothing listens then,
/// and signals keep their default effect).
pub(crate) fn listen() -> Option<watch::Receiver<Option<&'static str>>> {
    let (tx, rx) = watch::channel(None);
    let interrupt = signal(SignalKind::interrupt()).ok()?;
    let terminate = signal(SignalKind::terminate()).ok()?;
    let hangup = signal(SignalKind::hangup()).ok()?;
    tokio::spawn(async move {
        let mut signals = Signals { interrupt, terminate, hangup };
        let first = signals.next().await;
        let _ = tx.send(Some(first));
        let second = signals.next().await;
        std::process::exit(i32::from(exit_code(second)));
    });
    Some(rx)
}

struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// The name of the next signal that arrives.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
