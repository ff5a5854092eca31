//! What a notification carries: each check's news ([`Item`]) and one notifier's message.

use serde::{Deserialize, Serialize};

use crate::config::Notifier;

/// One check's news, as a message says it. Kept in the outbox as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Item {
    pub check: String,
    /// "new", "recovered", "still failing", "acknowledgement expired" or "still failing
    /// after maintenance".
    pub change: String,
    /// The status as the report names it ("fail", "warn", "pass").
    pub status: String,
    /// "critical" or "warning".
    pub severity: String,
    /// When its current state began, "2026-11-24 22:10 UTC".
    pub since: String,
    pub detail: String,
    #[serde(default)]
    pub hint: Option<String>,
    /// How long a recovered check was down, "2 h 10 min".
    #[serde(default)]
    pub down_for: Option<String>,
    /// A critical failure, for ntfy's priority.
    #[serde(default)]
    pub urgent: bool,
}

impl Item {
    /// One line in plain words: "PACS: fail since 2026-11-24 22:10 UTC (new): refused. Hint: ..."
    pub fn line(&self) -> String {
        let down = self.down_for.as_ref().map(|d| format!(" after {d} down")).unwrap_or_default();
        let mut line = format!(
            "{}: {} since {} ({}{down}, {}): {}",
            self.check, self.status, self.since, self.change, self.severity, self.detail
        );
        if let Some(hint) = &self.hint {
            line.push_str(&format!(". Hint: {hint}"));
        }
        line
    }
}

pub(super) const NEW: &str = "new";
pub(super) const RECOVERED: &str = "recovered";
pub(super) const STILL_FAILING: &str = "still failing";
pub(super) const ACK_EXPIRED: &str = "acknowledgement expired";
pub(super) const AFTER_MAINTENANCE: &str = "still failing after maintenance";

/// One message to send.
pub(crate) struct Message {
    pub notifier: Notifier,
    pub title: String,
    pub items: Vec<Item>,
    /// The JSON report of the checks this notifier concerns, for webhooks.
    pub report_json: Vec<u8>,
    /// This machine's name, for email's EHLO.
    pub host: String,
}
