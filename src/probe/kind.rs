//! What every kind's probe implements, and the time it is given.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::human;
use crate::outcome::{Outcome, Recall};

/// A ready-to-run probe of one kind. Reports everything about its target as an
/// [`Outcome`], never as an `Err`: "connection refused" is a finding, not a malfunction.
pub(crate) trait RunProbe: std::fmt::Debug + Send + Sync {
    /// The kind as reports name it (`[[endpoint]]` is "endpoint").
    fn kind(&self) -> &'static str;

    /// Probes the target; the runner cancels the future at `budget.deadline`.
    fn run(&self, budget: Budget) -> impl Future<Output = Outcome> + Send;

    /// [`RunProbe::run`], knowing what this check counted at an earlier run (`None` on the
    /// first run, or without a state file). Only kinds that compare runs override it.
    fn run_recalling(&self, budget: Budget, _earlier: Option<&Recall>) -> impl Future<Output = Outcome> + Send {
        self.run(budget)
    }

    /// What to say when the whole probe ran out of time.
    fn timed_out(&self, timeout: Duration) -> Outcome {
        Outcome::fail(format!("no answer in {}", human::limit(timeout)))
    }
}

/// The time a probe has: the runner gives up at `deadline`; probes that can say which step
/// was slow ("body still arriving") use it to time out a moment before, in their own words.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub timeout: Duration,
    pub deadline: Instant,
}

impl Budget {
    pub fn starting_now(timeout: Duration) -> Self {
        Self { timeout, deadline: Instant::now() + timeout }
    }

    /// A moment before the runner's deadline: a probe that times out its own steps by this
    /// wins the race with the runner deterministically, so its words ("connected, but no
    /// answer") reach the report rather than the runner's general "no answer".
    pub fn step_deadline(&self) -> Instant {
        self.deadline - STEP_MARGIN.min(self.timeout / 10)
    }

    /// The time left until [`Budget::step_deadline`], for libraries that take a timeout.
    pub fn step_remaining(&self) -> Duration {
        self.step_deadline().saturating_duration_since(Instant::now())
    }

    /// The limit as people read it ("3 s").
    pub fn limit(&self) -> String {
        human::limit(self.timeout)
    }
}

/// How much earlier than the runner a probe times out its own steps.
const STEP_MARGIN: Duration = Duration::from_millis(100);

/// Runs blocking filesystem work on a thread of its own and waits for it without blocking
/// the async workers.
///
/// A plain thread, not `spawn_blocking`: a call stuck on a hung NFS or SMB mount can never
/// be cancelled, and tokio waits for its blocking pool at shutdown, so one dead mount would
/// hold the whole run hostage. A detached thread is simply abandoned when the check times out
/// and the process exits.
pub(crate) async fn off_the_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("rounds-fs".into()).spawn(move || {
        let _ = tx.send(work());
    });
    match spawned {
        Ok(_) => rx.await.ok(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
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
