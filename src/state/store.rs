//! The lock that keeps two runs from writing the state at once, and how times are kept.
//! (Atomic replacement, for every file rounds writes, is [`crate::files::replace`].)

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::files;

/// The version of the state file and of the run log's lines. 1: rounds 0.1. 2: a run log
/// line says when its run was interrupted and which checks did not finish. Keys unknown to
/// this version are kept.
///
/// Added since without a new version, so that going back to an earlier rounds 0.2 keeps
/// saving state: in the state, a check's `days`, `cert_not_after` and `backup_age` (an
/// earlier reader keeps them as they are); in the run log, lines with a `kind` (notes and
/// handovers), which an earlier reader passes over and says so.
pub(crate) const VERSION: u32 = 2;

/// An exclusive `flock` on `<path>.lock`, held until dropped (the kernel also releases it
/// when the process dies, so a killed run never leaves it stuck).
pub(crate) struct Locked {
    _file: File,
}

impl Locked {
    /// Waits up to `patience` for the lock on `path`; `Ok(None)` when another run holds it
    /// that long.
    pub fn acquire(path: &Path, patience: Duration) -> io::Result<Option<Locked>> {
        files::make_folder_for(path)?;
        let file = files::open_own(&lock_path(path), false)?;
        let start = Instant::now();
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Some(Locked { _file: file })),
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                    if start.elapsed() >= patience {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Times are kept as Unix seconds: compact, and the same in every time zone.
pub(crate) fn to_unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let first = Locked::acquire(&path, Duration::ZERO).unwrap();
        assert!(first.is_some());
        // flock locks belong to the open file, so a second open in this process contends.
        assert!(Locked::acquire(&path, Duration::from_millis(50)).unwrap().is_none());
        drop(first);
        assert!(Locked::acquire(&path, Duration::ZERO).unwrap().is_some());
    }
}
