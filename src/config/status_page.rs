//! `[status_page]`: the page for staff that `--output html:PATH` writes.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;

/// `[status_page]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusPageTable {
    title: Option<String>,
    /// Tags, in the order their sections appear; checks with none of them come last.
    #[serde(default)]
    groups: Vec<String>,
    /// When the page says it is out of date (default: twice the usual interval between runs).
    stale_after: Option<Spanned<String>>,
}

/// `[status_page]`, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusPage {
    pub title: String,
    pub groups: Vec<String>,
    pub stale_after: Option<Duration>,
}

impl Default for StatusPage {
    fn default() -> Self {
        StatusPage { title: "Systems status".into(), groups: Vec::new(), stale_after: None }
    }
}

/// A page older than a week is out of date whatever was set.
const MAX_STALE_AFTER: Duration = Duration::from_secs(7 * 86_400);

impl StatusPageTable {
    pub fn status_page(self, path: &Path, source: &str) -> Result<StatusPage, ConfigError> {
        let stale_after = match &self.stale_after {
            Some(text) => Some(
                super::values::parse_duration(text.get_ref(), MAX_STALE_AFTER, "7days")
                    .map_err(|why| ConfigError::at(path, source, text.span(), format!("stale_after: {why}")))?,
            ),
            None => None,
        };
        let title = self.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| StatusPage::default().title);
        let groups = self.groups.into_iter().filter(|g| !g.trim().is_empty()).collect();
        Ok(StatusPage { title, groups, stale_after })
    }
}
