//! Ctrl-C, SIGTERM and SIGHUP: stop probing, kill every plugin started, and still report.
//!
//! The first signal stops the run: checks not finished are reported as interrupted (and not
//! remembered in the state; the run log records them as unfinished), every `[[command]]`
//! process group is killed as its probe is dropped, and rounds exits 128 + the signal's
//! number (130, 143, 129). Under `--watch` it also ends the loop, leaving the last complete
//! report on screen. A second signal ends the process at once, for when even the report is
//! too slow.

use std::sync::OnceLock;

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

type Receiver = watch::Receiver<Option<&'static str>>;

/// Listens for the process's lifetime (from the first call on); the first signal's name is
/// sent to every receiver, the second ends the process at once. `None` when the handlers
/// could not be installed (nothing listens then, and signals keep their default effect).
///
/// One listener for the whole process, on a thread of its own: `--watch` runs one runtime
/// after another, and a Ctrl-C between two runs must still stop the loop.
pub(crate) fn listen() -> Option<Receiver> {
    static SENDER: OnceLock<Option<watch::Sender<Option<&'static str>>>> = OnceLock::new();
    SENDER.get_or_init(start).as_ref().map(watch::Sender::subscribe)
}

/// The first signal received, if any (see [`listen`]).
pub(crate) fn received() -> Option<&'static str> {
    listen().and_then(|rx| *rx.borrow())
}

fn start() -> Option<watch::Sender<Option<&'static str>>> {
    let (tx, _) = watch::channel(None);
    let sender = tx.clone();
    let (ready, installed) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
            let _ = ready.send(false);
            return;
        };
        runtime.block_on(async move {
            let signals = (|| {
                let interrupt = signal(SignalKind::interrupt()).ok()?;
                let terminate = signal(SignalKind::terminate()).ok()?;
                let hangup = signal(SignalKind::hangup()).ok()?;
                Some(Signals { interrupt, terminate, hangup })
            })();
            let _ = ready.send(signals.is_some());
            let Some(mut signals) = signals else { return };
            let first = signals.next().await;
            sender.send_replace(Some(first));
            let second = signals.next().await;
            std::process::exit(i32::from(exit_code(second)));
        });
    });
    (thread.is_ok() && installed.recv().unwrap_or(false)).then_some(tx)
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
