//! How old the newest backup is, in words: shared by the kinds that read their backups from
//! the backup tool (`[[restic]]`, `[[borg]]`, `[[pgbackrest]]`), so they judge alike.

use std::time::{Duration, SystemTime};

use crate::human;
use crate::outcome::{Facts, Outcome};

/// "newest snapshot 1a2b3c4d of ehr-db-01 is 3 h old (limit 26 h)": the newest backup's
/// time against `max` (fail) and `warn`; one dated in the future warns (clock skew).
pub(crate) fn judge_age(
    what: &str,
    time: SystemTime,
    now: SystemTime,
    max: Duration,
    warn: Option<Duration>,
) -> Outcome {
    let facts = Facts { backup_age: now.duration_since(time).ok(), backup_max_age: Some(max), ..Facts::default() };
    let Ok(age) = now.duration_since(time) else {
        let ahead = time.duration_since(now).unwrap_or_default();
        return Outcome::warn(format!("newest {what} is dated {} in the future: clock skew?", human::age(ahead)))
            .with_facts(facts);
    };
    let (age_text, limit) = (human::age(age), human::limit(max));
    let outcome = if age > max {
        Outcome::fail(format!("newest {what} is {age_text} old, limit {limit}"))
    } else {
        let text = format!("newest {what} is {age_text} old (limit {limit})");
        match warn {
            Some(w) if age > w => Outcome::warn(format!("{text}; older than {}", human::limit(w))),
            _ => Outcome::pass(text),
        }
    };
    outcome.with_facts(facts)
}
