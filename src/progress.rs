//! The progress line on a terminal: "12/40 done, waiting for EHR portal, PACS".
//!
//! Ten seconds of a blank screen look like a hang. The line goes to stderr, appears only
//! after [`SHOW_AFTER`] (a quick run never flickers), only when stderr is a terminal, and is
//! cleared before the report is printed.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::results::clean_text;

/// Runs quicker than this show no progress line at all.
pub(crate) const SHOW_AFTER: Duration = Duration::from_millis(300);
/// How many of the checks still running are named.
const NAMED: usize = 3;

/// The progress of one run; does nothing when stderr is not a terminal.
#[derive(Clone)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    names: Arc<Vec<String>>,
    done: Arc<Mutex<Vec<bool>>>,
}

impl Progress {
    /// `names` are shown on a terminal: they pass the report's cleaning step first.
    pub fn new(names: Vec<String>) -> Self {
        let secrets = crate::secrets::Secrets::default();
        let names: Vec<String> = names.iter().map(|n| clean_text(n, &secrets, usize::MAX)).collect();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(names.len() as u64), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos}/{len} done, {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        let done = Arc::new(Mutex::new(vec![false; names.len()]));
        let progress = Self { bar, names: Arc::new(names), done };
        progress.describe();
        progress
    }

    /// Shows the line, if the run is still going; call after [`SHOW_AFTER`].
    pub fn show(&self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(120));
            }
        }
    }

    /// Check `index` finished.
    pub fn finished(&self, index: usize) {
        if let Ok(mut done) = self.done.lock() {
            if let Some(slot) = done.get_mut(index) {
                *slot = true;
            }
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.describe();
    }

    fn describe(&self) {
        let (Some(bar), Ok(done)) = (&self.bar, self.done.lock()) else { return };
        let waiting: Vec<&str> =
            self.names.iter().zip(done.iter()).filter(|(_, d)| !**d).map(|(n, _)| n.as_str()).take(NAMED).collect();
        let more = done.iter().filter(|d| !**d).count().saturating_sub(waiting.len());
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        bar.set_message(format!("waiting for {}{tail}", waiting.join(", ")));
    }

    /// Removes the line before the report is printed.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    /// Check names reach a terminal: escaped like every report text.
    #[test]
    fn names_are_cleaned_before_they_are_shown() {
        let progress = super::Progress::new(vec!["EHR\u{1b}[2J\u{202e}".into(), "PACS".into()]);
        assert_eq!(progress.names.as_slice(), ["EHR\\u{1b}[2J\\u{202e}", "PACS"]);
    }
}
