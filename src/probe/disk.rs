//! `[[disk]]`: free space on the filesystem that holds a path, on this machine.
//!
//! `statvfs` on the configured path rather than sysinfo's disk list: the list stats every
//! mount, so one hung NFS share would stall every disk check, and it cannot tell which mount
//! holds a bind-mounted or nested path.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use crate::config::values::Threshold;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Facts, Outcome};
use crate::probe::kind::{Budget, RunProbe};

/// With no threshold given, fail below this share free: a full disk stops an EHR database.
pub(crate) const DEFAULT_MIN_FREE: Threshold = Threshold::Percent(10.0);

check_table! {
    /// `[[disk]]` as written in the inventory.
    pub(crate) struct DiskTable {
        /// Any path on the filesystem to check; relative paths are relative to the inventory.
        path: Spanned<String>,
        /// Below this: fail. "10%" or a size like "5 GiB".
        min_free: Option<Threshold>,
        /// Below this: warn.
        warn_free: Option<Spanned<Threshold>>,
    }
}

impl Table for DiskTable {
    type Probe = DiskProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<DiskProbe>>, ConfigError> {
        let common = self.common();
        if self.path.get_ref().is_empty() {
            return Err(loader.error(self.path.span(), "path cannot be empty"));
        }
        let warn_free = self.warn_free.as_ref().map(|w| *w.get_ref());
        if let (Some(min), Some(warn)) = (self.min_free, &self.warn_free) {
            if warn.get_ref().is_below(&min) {
                let why = format!(
                    "warn_free ({}) is below min_free ({min}): warn while there is more free space than where it fails",
                    warn.get_ref()
                );
                return Err(loader.error(warn.span(), why));
            }
        }
        let min_free = match (self.min_free, warn_free) {
            (None, None) => Some(DEFAULT_MIN_FREE),
            (min, _) => min,
        };
        let probe = DiskProbe { path: loader.resolve_path(self.path.get_ref()), min_free, warn_free };
        let target = self.path.get_ref().clone();
        loader.single(&common, target, probe)
    }
}

#[derive(Debug)]
pub(crate) struct DiskProbe {
    pub path: PathBuf,
    pub min_free: Option<Threshold>,
    pub warn_free: Option<Threshold>,
}

impl RunProbe for DiskProbe {
    fn kind(&self) -> &'static str {
        "disk"
    }

    fn timed_out(&self, timeout: Duration) -> Outcome {
        Outcome::fail(format!("no answer from the filesystem in {}", human::limit(timeout)))
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        let path = self.path.clone();
        let space = super::kind::off_the_runtime(move || rustix::fs::statvfs(&path)).await;
        match space {
            None => Outcome::fail("the filesystem check could not be started"),
            Some(Err(e)) => Outcome::fail(format!("cannot read free space: {}", super::net::describe_io(&e.into()))),
            Some(Ok(st)) => {
                self.judge(st.f_bavail.saturating_mul(st.f_frsize), st.f_blocks.saturating_mul(st.f_frsize))
            }
        }
    }
}

impl DiskProbe {
    /// `free` is what unprivileged programs can still write (statvfs's `f_bavail`), which is
    /// what the EHR and the backup job see, not the root-reserved blocks on top.
    fn judge(&self, free: u64, total: u64) -> Outcome {
        if total == 0 {
            // /proc, /sys, a FUSE mount that answers nothing: free space means nothing there.
            return Outcome::fail("the filesystem reports no size; is this a real filesystem?");
        }
        let ratio = free as f64 / total as f64;
        self.judge_ratio(free, total, ratio).with_facts(Facts { disk_free_ratio: Some(ratio), ..Facts::default() })
    }

    fn judge_ratio(&self, free: u64, total: u64, ratio: f64) -> Outcome {
        let percent = ratio * 100.0;
        let text = format!("{} free of {} ({percent:.0}%)", human::size(free), human::size(total));
        if let Some(min) = self.min_free.filter(|m| !m.is_above(free, total)) {
            return Outcome::fail(format!("{text}, below {min}"));
        }
        if let Some(warn) = self.warn_free.filter(|w| !w.is_above(free, total)) {
            return Outcome::warn(format!("{text}, below {warn}"));
        }
        Outcome::pass(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(text: &str) -> Option<Threshold> {
        #[derive(serde::Deserialize)]
        struct T {
            v: Threshold,
        }
        toml::from_str::<T>(&format!("v = {text:?}")).ok().map(|t| t.v)
    }

    fn probe(min: &str, warn: &str) -> DiskProbe {
        DiskProbe { path: PathBuf::from("/"), min_free: free(min), warn_free: free(warn) }
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn fails_below_min_and_warns_below_warn() {
        let p = probe("10%", "20%");
        assert_eq!(p.judge(50 * GIB, 100 * GIB).status, crate::outcome::Status::Pass);
        assert_eq!(p.judge(15 * GIB, 100 * GIB).status, crate::outcome::Status::Warn);
        let fail = p.judge(3 * GIB, 100 * GIB);
        assert_eq!(fail.status, crate::outcome::Status::Fail);
        assert_eq!(fail.detail, "3.0 GiB free of 100.0 GiB (3%), below 10%");
    }

    #[test]
    fn sizes_work_as_thresholds() {
        let p = probe("5 GiB", "10 GiB");
        assert_eq!(p.judge(4 * GIB, 1000 * GIB).status, crate::outcome::Status::Fail);
        assert_eq!(p.judge(6 * GIB, 1000 * GIB).status, crate::outcome::Status::Warn);
    }
}
