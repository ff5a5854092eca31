//! `rounds`: a clinic's morning systems check.
//!
//! The pipeline is one-way, and so are the imports: each layer uses only the layers below it
//! (`../shared/tools/import-circles src` keeps it so).
//!
//! ```text
//! app, cli          subcommands, flags, the exit code taken from the report; progress
//! state             what changed since the last run; the run log and the shift record
//! known             acknowledgements (acks.toml) and maintenance windows: ack, maint
//! report/<fmt>      RunReport -> bytes (trait Reporter); no filtering, no exit codes
//! runner            concurrency and timeouts -> RunReport of CheckResults
//! inventory         checks.toml -> Vec<Check>: file order, unique names, settings, secrets
//! probe (registry)  the one list of kinds: Probe, InventoryFile, plan calls
//! probe/<kind>      the kind's table (TOML keys, validation) and its probe
//! probe/kind, net   what every probe implements (RunProbe, Budget); sockets and resolving
//! certs             trust stores and certificate verdicts
//! config            the toolkit tables use: Loader, common keys, values, errors, ${VAR}
//! outcome, human,   Status, Severity, Outcome, exit codes; numbers in words; secret values
//! secrets
//! files             writing without following links (temp + rename, modes); bounded reads
//! ```
//!
//! A probe never fails with `Err`: a server that is down is an [`outcome::Outcome`] like any
//! other, so one bad target never stops the run.

pub mod app;
pub(crate) mod certs;
pub mod cli;
pub(crate) mod config;
pub(crate) mod files;
pub(crate) mod heartbeat;
pub(crate) mod human;
pub(crate) mod inventory;
pub(crate) mod known;
pub(crate) mod limits;
pub(crate) mod manual;
pub(crate) mod notify;
pub mod outcome;
pub(crate) mod probe;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod runner;
pub(crate) mod secrets;
pub(crate) mod signals;
pub(crate) mod state;
