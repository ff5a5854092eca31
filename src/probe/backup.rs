//! `[[backup]]`: did last night's backup job really write a fresh, plausibly sized file?

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use toml::Spanned;

use crate::config::values::{HumanDuration, Size};
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
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
}

/// The file that counts: the newest one.
struct Newest {
    name: String,
    modified: SystemTime,
    size: u64,
}

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
        match self.newest_file() {
            Ok(Some(newest)) => self.judge(&newest, SystemTime::now()),
            Ok(None) => match &self.pattern {
                Some(p) => Outcome::fail(format!("no file matches {}", p.as_str())),
                None => Outcome::fail("the folder holds no file"),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::fail("path does not exist"),
            Err(e) => Outcome::fail(format!("cannot read: {}", super::net::describe_io(&e))),
        }
    }

    fn newest_file(&self) -> io::Result<Option<Newest>> {
        let meta = fs::metadata(&self.path)?;
        if !meta.is_dir() {
            return Ok(Some(describe(&self.path, &meta)?));
        }
        let mut newest: Option<Newest> = None;
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.pattern.as_ref().is_some_and(|p| !p.matches(&name)) {
                continue;
            }
            // Follows symlinks, so a `latest.dump` link counts as the file it points to.
            let Ok(meta) = fs::metadata(entry.path()) else { continue };
            if !meta.is_file() {
                continue;
            }
            let candidate = describe(&entry.path(), &meta)?;
            if newest.as_ref().is_none_or(|n| candidate.modified > n.modified) {
                newest = Some(candidate);
            }
        }
        Ok(newest)
    }

    fn judge(&self, newest: &Newest, now: SystemTime) -> Outcome {
        let age = now.duration_since(newest.modified).unwrap_or(Duration::ZERO);
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
    Ok(Newest {
        name: path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
        modified: meta.modified()?,
        size: meta.len(),
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
        }
    }

    fn file(age: Duration, size: u64, now: SystemTime) -> Newest {
        Newest { name: "EHR.dump".into(), modified: now - age, size }
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
}
