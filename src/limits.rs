//! Open files: a run of thousands of checks must not fail for want of file descriptors.
//!
//! At start, rounds raises its soft `RLIMIT_NOFILE` to the hard limit (as most servers do),
//! then caps the number of probes in flight to what the descriptors allow, saying so once
//! when that lowers the number asked for: without it, 10,000 checks at concurrency 256 under
//! `ulimit -n 256` gave thousands of false "Too many open files" failures.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Descriptors kept for rounds itself: stdio, the runtime, the resolver, pooled idle
/// connections (see the HTTP client), state files.
const RESERVED: u64 = 64;
/// A probe in flight holds at most this many: a socket, and a pipe pair for a plugin.
const PER_PROBE: u64 = 3;

/// Raises the soft limit to the hard one; returns the limit now in force (`None`: unlimited).
pub(crate) fn raise_open_files() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), maximum) = (limit.current, limit.maximum) {
        if maximum.is_none_or(|m| m > current) {
            let raised = rustix::process::Rlimit { current: maximum, maximum };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return maximum;
            }
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The concurrency the descriptors allow for `wanted`, and a note when it is lower.
pub(crate) fn cap_concurrency(wanted: usize, open_files: Option<u64>) -> (usize, Option<String>) {
    let Some(limit) = open_files else { return (wanted, None) };
    let allowed = usize::try_from(limit.saturating_sub(RESERVED) / PER_PROBE).unwrap_or(usize::MAX).max(1);
    if wanted <= allowed {
        return (wanted, None);
    }
    let note =
        format!("concurrency lowered from {wanted} to {allowed}: this process may open only {limit} files (ulimit -n)");
    (allowed, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_follows_the_open_file_limit() {
        assert_eq!(cap_concurrency(64, None), (64, None));
        assert_eq!(cap_concurrency(64, Some(65_536)), (64, None));
        let (allowed, note) = cap_concurrency(256, Some(256));
        assert_eq!(allowed, 64);
        assert!(note.unwrap().starts_with("concurrency lowered from 256 to 64"));
        assert_eq!(cap_concurrency(10, Some(10)).0, 1);
    }
}
