//! `rounds`: a clinic's morning systems check.
//!
//! The pipeline is one-way, and each stage lives in its own module:
//!
//! ```text
//! checks.toml --config--> Vec<Check> --runner--> RunReport --report--> bytes on stdout
//!                          (probe::Probe)         (CheckResult)
//! ```
//!
//! * [`config`] reads the inventory and turns every table into ready-to-run [`check::Check`]s.
//!   Everything a user can get wrong is caught here, with file, line and column.
//! * [`probe`] holds one file per probe kind. A probe never fails with `Err`: a server that is
//!   down is an [`check::Outcome`] like any other, so one bad target never stops the run.
//! * [`runner`] runs all checks concurrently, bounded by the concurrency limit and each
//!   check's timeout.
//! * [`report`] turns results into bytes (table, JSON). Reporters never probe and never
//!   decide the exit code; [`check::RunReport::exit_code`] does.

pub mod app;
pub mod certs;
pub mod check;
pub mod cli;
pub mod config;
pub mod human;
pub mod probe;
pub mod report;
pub mod runner;
pub mod secrets;
