//! Runs every check concurrently and collects the results in inventory order.
//!
//! Bounded twice: at most `concurrency` probes in flight, and each probe cancelled at its
//! timeout. A run therefore takes about as long as its slowest check, never the sum, and a
//! server that hangs costs exactly its timeout.

pub(crate) mod results;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use self::results::{CheckResult, RunReport};
use crate::outcome::Outcome;
use crate::probe::kind::Budget;
use crate::probe::Check;
use crate::secrets::{printable, Secrets, MAX_DETAIL_CHARS};

#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOptions {
    pub concurrency: usize,
    /// For checks without a `timeout` of their own.
    pub default_timeout: Duration,
}

/// Probes `checks` and returns one result per check, in the same order.
pub(crate) async fn run(checks: Vec<Check>, options: RunOptions, secrets: &Secrets) -> RunReport {
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let checks: Arc<[Check]> = checks.into();
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for index in 0..checks.len() {
        let (checks, permits) = (checks.clone(), permits.clone());
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail; if it ever did,
            // running unthrottled is better than not running.
            let _permit = permits.acquire_owned().await.ok();
            (index, run_one(&checks[index], options.default_timeout).await)
        });
    }

    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    // A probe that panicked still gets a row: nothing is silently lost from a report.
    let results = results
        .into_iter()
        .zip(checks.iter())
        .map(|(result, check)| {
            let mut result = result.unwrap_or_else(|| {
                let crashed = Outcome::fail("internal error: the probe crashed (please report this)");
                CheckResult::new(&check.meta, check.kind(), crashed, Duration::ZERO)
            });
            clean(&mut result, secrets);
            result
        })
        .collect();

    RunReport::new(started_at, clock.elapsed(), results)
}

/// The one place where what a report may show is decided: secrets redacted, then every
/// control character escaped and the detail capped. Names and targets come from the
/// inventory, but get the same escaping: a name holding `ESC[2J` would clear a terminal too.
fn clean(result: &mut CheckResult, secrets: &Secrets) {
    result.detail = printable(&secrets.redact(&result.detail), MAX_DETAIL_CHARS);
    result.meta.name = printable(&result.meta.name, usize::MAX);
    result.meta.target = printable(&result.meta.target, usize::MAX);
}

async fn run_one(check: &Check, default_timeout: Duration) -> CheckResult {
    let budget = Budget::starting_now(check.meta.timeout.unwrap_or(default_timeout));
    let start = Instant::now();
    let outcome = match tokio::time::timeout_at(budget.deadline, check.probe.run(budget)).await {
        Ok(outcome) => outcome,
        Err(_) => check.probe.timed_out(budget.timeout),
    };
    CheckResult::new(&check.meta, check.kind(), outcome, start.elapsed())
}
