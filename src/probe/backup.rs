//! `[[backup]]`: did last night's backup job really write a fresh, plausibly sized file?

use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use toml::Spanned;

use crate::config::values::{HumanDuration, Size};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::{Facts, Outcome, Status};
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[backup]]` as written in the inventory.
    pub(crate) struct BackupTable {
        /// A file, or a folder whose newest matching file counts. Relative to the inventory.
        path: Spanned<String>,
        /// Glob on file names in the folder, like "*.dump".
        pattern: Option<Spanned<String>>,
        /// Older than this: fail. 26h gives a nightly job two hours of slack.
        max_age: HumanDuration,
        /// Older than this: warn.
        warn_age: Option<Spanned<HumanDuration>>,
        /// A newest file smaller than this: fail (a job that "finished" but wrote nothing).
        min_size: Option<Size>,
        /// A newest file smaller than this share of the one before it fails, like 0.5: a
        /// truncated dump is the commonest silent failure.
        min_ratio_to_previous: Option<Spanned<f64>>,
    }
}

impl Table for BackupTable {
    type Probe = BackupProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<BackupProbe>>, ConfigError> {
        let common = self.common();
        let pattern = match &self.pattern {
            Some(p) => Some(
                glob::Pattern::new(p.get_ref())
                    .map_err(|e| loader.error(p.span(), format!("invalid pattern: {}", e.msg)))?,
            ),
            None => None,
        };
        if let Some(r) = self.min_ratio_to_previous.as_ref().filter(|r| !(*r.get_ref() > 0.0 && *r.get_ref() <= 1.0)) {
            return Err(loader.error(r.span(), "min_ratio_to_previous is a share from 0 to 1, like 0.5"));
        }
        if let Some(warn) = &self.warn_age {
            if warn.get_ref().0 >= self.max_age.0 {
                return Err(loader.error(warn.span(), "warn_age must be less than max_age"));
            }
        }
        let probe = BackupProbe {
            path: loader.resolve_path(self.path.get_ref()),
            pattern,
            max_age: self.max_age.0,
            warn_age: self.warn_age.map(|w| w.into_inner().0),
            min_size: self.min_size.map(|s| s.0),
            min_ratio: self.min_ratio_to_previous.map(Spanned::into_inner),
        };
        let target = match &self.pattern {
            Some(p) => format!("{}/{}", self.path.get_ref().trim_end_matches('/'), p.get_ref()),
            None => self.path.get_ref().clone(),
        };
        loader.single(&common, target, probe)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct BackupProbe {
    pub path: PathBuf,
    pub pattern: Option<glob::Pattern>,
    pub max_age: Duration,
    pub warn_age: Option<Duration>,
    pub min_size: Option<u64>,
    pub min_ratio: Option<f64>,
}

/// A matching entry of the backup path.
struct Newest {
    path: PathBuf,
    name: String,
    modified: SystemTime,
    size: u64,
    /// `Some("a FIFO")` for anything that is not a regular file.
    special: Option<&'static str>,
}

/// What a look at the backup path found.
#[derive(Default)]
struct Found {
    /// Regular files and special files, with their modification times.
    entries: Vec<Newest>,
    /// Matching symlinks that lead nowhere: name, and how ("a broken symlink to ...").
    broken: Vec<(String, String)>,
}

/// A checksum beside a backup file: `x.dump.sha256`, as `sha256sum` writes it.
const SIDECAR: &str = ".sha256";
/// A sidecar holds one line (a hash and a name); more is not a checksum file.
const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// SHA-256 of a file, read in pieces (a dump can be many GiB; the check's timeout bounds it).
fn sha256_hex(path: &Path) -> io::Result<String> {
    use std::io::Read;
    // Not blocking, and only a regular file: the file may have changed since it was listed.
    let mut file = crate::files::open_watched(path)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
    }
    Ok(digest.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// A file dated up to this far ahead counts as written just now (clocks and filesystems
/// round); further ahead is a skewed clock or a restored file, and proves nothing.
const FUTURE_TOLERANCE: Duration = Duration::from_secs(60);

impl RunProbe for BackupProbe {
    fn kind(&self) -> &'static str {
        "backup"
    }

    fn timed_out(&self, timeout: Duration) -> Outcome {
        Outcome::fail(format!("no answer from the filesystem in {}", human::limit(timeout)))
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        let probe = self.clone();
        match super::kind::off_the_runtime(move || probe.inspect()).await {
            Some(outcome) => outcome,
            None => Outcome::fail("the filesystem check could not be started"),
        }
    }
}

impl BackupProbe {
    /// Blocking: runs on its own thread (see [`super::kind::off_the_runtime`]).
    fn inspect(&self) -> Outcome {
        match self.look() {
            Ok(found) => self.judge_found(found, SystemTime::now()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::fail("path does not exist"),
            Err(e) => Outcome::fail(format!("cannot read: {}", super::net::describe_io(&e))),
        }
    }

    fn look(&self) -> io::Result<Found> {
        let mut found = Found::default();
        if let Some(target) = broken_link(&self.path) {
            found.broken.push((display_name(&self.path), target));
            return Ok(found);
        }
        let meta = fs::metadata(&self.path)?;
        if !meta.is_dir() {
            found.entries.push(describe(&self.path, &meta)?);
            return Ok(found);
        }
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Checksum sidecars (x.dump.sha256) belong to their file; they are never the backup.
            if self.pattern.as_ref().is_some_and(|p| !p.matches(&name)) || name.ends_with(SIDECAR) {
                continue;
            }
            // Follows symlinks, so a `latest.dump` link counts as the file it points to.
            match fs::metadata(entry.path()) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) => found.entries.push(describe(&entry.path(), &meta)?),
                Err(_) => {
                    if let Some(target) = broken_link(&entry.path()) {
                        found.broken.push((name, target));
                    }
                }
            }
        }
        Ok(found)
    }

    /// Judges by the newest entry not dated in the future; a future one is said, never
    /// trusted, and a special file is never a backup.
    fn judge_found(&self, found: Found, now: SystemTime) -> Outcome {
        let horizon = now + FUTURE_TOLERANCE;
        let (future, present): (Vec<Newest>, Vec<Newest>) =
            found.entries.into_iter().partition(|e| e.modified > horizon);
        let skew = future.iter().max_by_key(|e| e.modified).map(|e| {
            let ahead = e.modified.duration_since(now).unwrap_or(Duration::ZERO);
            format!("newest {} is dated {} in the future: clock skew?", e.name, human::age(ahead))
        });
        let mut present = present;
        present.sort_by_key(|e| std::cmp::Reverse(e.modified));
        let mut present = present.into_iter();
        let Some(newest) = present.next() else {
            return match (skew, found.broken.first()) {
                (Some(skew), _) => Outcome::fail(format!("{skew}; no file that is not dated in the future")),
                (None, Some((name, how))) => Outcome::fail(format!("{name} is {how}")),
                (None, None) => match &self.pattern {
                    Some(p) => Outcome::fail(format!("no file matches {}", p.as_str())),
                    None => Outcome::fail("the folder holds no file"),
                },
            };
        };
        if let Some(what) = newest.special {
            return Outcome::fail(format!("newest {} is {what}, not a backup file", newest.name));
        }
        let previous = present.find(|e| e.special.is_none());
        let verdict = match self.judge_contents(&newest, previous.as_ref()) {
            Err(why) => Outcome::fail(why),
            Ok(note) => {
                let verdict = self.judge(&newest, now);
                Outcome { detail: format!("{}{note}", verdict.detail), ..verdict }
            }
        };
        match skew {
            Some(skew) => Outcome {
                status: verdict.status.worst(Status::Warn),
                detail: format!("{skew}; judged by the next: {}", verdict.detail),
                facts: verdict.facts,
            },
            None => verdict,
        }
    }

    /// The newest file against the one before it (`min_ratio_to_previous`) and against its
    /// checksum sidecar when one is there; `Ok` holds what to add to the detail.
    fn judge_contents(&self, newest: &Newest, previous: Option<&Newest>) -> Result<String, String> {
        if let (Some(ratio), Some(before)) = (self.min_ratio, previous) {
            if (newest.size as f64) < ratio * before.size as f64 {
                return Err(format!(
                    "newest {} is {}, less than {:.0}% of the one before it ({}, {}): truncated?",
                    newest.name,
                    human::size(newest.size),
                    ratio * 100.0,
                    before.name,
                    human::size(before.size)
                ));
            }
        }
        let mut sidecar = newest.path.clone().into_os_string();
        sidecar.push(SIDECAR);
        let expected = match crate::files::read_watched(Path::new(&sidecar), MAX_SIDECAR_BYTES) {
            Ok(bytes) => {
                String::from_utf8_lossy(&bytes).split_whitespace().next().unwrap_or_default().to_ascii_lowercase()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
            // A checksum that is there but cannot be read is no proof either way: not a pass.
            Err(e) => {
                return Err(format!(
                    "cannot read the checksum {}{SIDECAR}: {}",
                    newest.name,
                    super::net::describe_io(&e)
                ))
            }
        };
        let actual = sha256_hex(&newest.path).map_err(|e| format!("cannot read {} to check it: {e}", newest.name))?;
        match actual == expected {
            true => Ok(", checksum matches".into()),
            false => Err(format!(
                "newest {} does not match its checksum in {}{SIDECAR}: damaged or incomplete",
                newest.name, newest.name
            )),
        }
    }

    fn judge(&self, newest: &Newest, now: SystemTime) -> Outcome {
        let age = now.duration_since(newest.modified).unwrap_or(Duration::ZERO);
        let facts = Facts { backup_age: Some(age), backup_max_age: Some(self.max_age), ..Facts::default() };
        self.judge_age(newest, age).with_facts(facts)
    }

    fn judge_age(&self, newest: &Newest, age: Duration) -> Outcome {
        let (name, age_text, limit) = (&newest.name, human::age(age), human::limit(self.max_age));
        if age > self.max_age {
            return Outcome::fail(format!("newest {name} is {age_text} old, limit {limit}"));
        }
        if let Some(min) = self.min_size.filter(|m| newest.size < *m) {
            return Outcome::fail(format!("newest {name} is {}, below {}", human::size(newest.size), human::size(min)));
        }
        let text = format!("newest {name} is {age_text} old (limit {limit}), {}", human::size(newest.size));
        match self.warn_age {
            Some(warn) if age > warn => Outcome::warn(format!("{text}; older than {}", human::limit(warn))),
            _ => Outcome::pass(text),
        }
    }
}

fn describe(path: &Path, meta: &fs::Metadata) -> io::Result<Newest> {
    let kind = meta.file_type();
    let special = if kind.is_file() {
        None
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    };
    Ok(Newest {
        path: path.to_owned(),
        name: display_name(path),
        modified: meta.modified()?,
        size: meta.len(),
        special,
    })
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The target of `path` when it is a symlink to nothing.
/// How `path` is broken when it is a symlink that leads nowhere: "a broken symlink to
/// /gone/x.dump", or "a symlink loop (through b.dump)".
fn broken_link(path: &Path) -> Option<String> {
    let is_link = fs::symlink_metadata(path).ok()?.file_type().is_symlink();
    let error = fs::metadata(path).err().filter(|_| is_link)?;
    let target = fs::read_link(path).ok()?;
    let is_loop = error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    Some(match is_loop {
        true => format!("a symlink loop (through {})", target.display()),
        false => format!("a broken symlink to {}", target.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn probe() -> BackupProbe {
        BackupProbe {
            path: PathBuf::from("/x"),
            pattern: None,
            max_age: 26 * HOUR,
            warn_age: Some(25 * HOUR),
            min_size: Some(1024 * 1024),
            min_ratio: None,
        }
    }

    fn file(age: Duration, size: u64, now: SystemTime) -> Newest {
        Newest { path: PathBuf::from("/x/EHR.dump"), name: "EHR.dump".into(), modified: now - age, size, special: None }
    }

    #[test]
    fn judges_age_and_size() {
        let now = SystemTime::now();
        let p = probe();
        let ok = p.judge(&file(3 * HOUR, 5 << 30, now), now);
        assert_eq!(ok.detail, "newest EHR.dump is 3 h old (limit 26 h), 5.0 GiB");
        let old = p.judge(&file(31 * HOUR, 5 << 30, now), now);
        assert_eq!(old.detail, "newest EHR.dump is 31 h old, limit 26 h");
        assert_eq!(
            p.judge(&file(25 * HOUR + Duration::from_secs(60), 5 << 30, now), now).status,
            crate::outcome::Status::Warn
        );
        let small = p.judge(&file(HOUR, 2048, now), now);
        assert_eq!(small.detail, "newest EHR.dump is 2.0 KiB, below 1.0 MiB");
    }

    /// What a person reads for each state of a backup folder, pinned in one snapshot.
    #[test]
    fn folder_verdicts_in_words() {
        let now = SystemTime::now();
        let p = probe();
        let entry = |name: &str, age: i64, special: Option<&'static str>| Newest {
            path: PathBuf::from(format!("/nonexistent/{name}")),
            name: name.into(),
            modified: if age >= 0 { now - HOUR * age as u32 } else { now + HOUR * (-age) as u32 },
            size: 5 << 30,
            special,
        };
        let cases = [
            ("fresh", Found { entries: vec![entry("a.dump", 3, None)], broken: vec![] }),
            (
                "future and fresh",
                Found { entries: vec![entry("b.dump", -3, None), entry("a.dump", 2, None)], broken: vec![] },
            ),
            ("future only", Found { entries: vec![entry("b.dump", -50, None)], broken: vec![] }),
            (
                "fifo newest",
                Found { entries: vec![entry("a.dump", 3, None), entry("p.dump", 1, Some("a FIFO"))], broken: vec![] },
            ),
            (
                "broken link",
                Found {
                    entries: vec![],
                    broken: vec![("latest.dump".into(), "a broken symlink to /gone/x.dump".into())],
                },
            ),
            ("empty", Found::default()),
        ];
        let text: String = cases
            .into_iter()
            .map(|(what, found)| {
                let o = p.judge_found(found, now);
                format!("{what}: {} {}\n", o.status.as_str(), o.detail)
            })
            .collect();
        insta::assert_snapshot!(text);
    }
}
