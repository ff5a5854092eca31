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
use crate::secrets::Secrets;

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
            result.detail = secrets.redact(&result.detail);
            result
        })
        .collect();

    RunReport::new(started_at, clock.elapsed(), results)
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
