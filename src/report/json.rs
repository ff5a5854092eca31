//! One JSON document per run, for scripts, dashboards and CI gates.
//!
//! The shape is versioned (`"version": 1`): fields may be added, never renamed or removed
//! without a new version.

use serde::Serialize;

use super::reporter::Reporter;
use crate::human;
use crate::runner::results::{CleanReport, Summary};

pub(crate) struct JsonReporter;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    started_at: String,
    duration_ms: u128,
    summary: Summary,
    /// RFC 3339, when state is kept: the run this one is compared with.
    previous_run: Option<String>,
    /// Which rounds checked which inventory where.
    audit: AuditJson<'a>,
    checks: Vec<CheckJson<'a>>,
}

#[derive(Serialize)]
struct AuditJson<'a> {
    version: &'a str,
    host: &'a str,
    inventory: &'a str,
    inventory_sha256: &'a str,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    name: &'a str,
    kind: &'a str,
    target: &'a str,
    status: &'a str,
    severity: &'a str,
    detail: &'a str,
    duration_ms: u128,
    tags: &'a [String],
    /// With state: "new", "ongoing", "recovered" or "steady"; null without.
    change: Option<&'static str>,
    previous_status: Option<&'static str>,
    /// RFC 3339: when the current state (for a problem: the problem) began.
    since: Option<String>,
    depends_on: &'a [String],
    hint: Option<&'a str>,
    runbook: Option<&'a str>,
}

impl Reporter for JsonReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let document = Document {
            version: 1,
            started_at: human::rfc3339_millis(report.started_at()),
            duration_ms: report.duration().as_millis(),
            summary: report.summary(),
            previous_run: report.previous_run().map(human::rfc3339),
            audit: AuditJson {
                version: &report.audit().version,
                host: &report.audit().host,
                inventory: &report.audit().inventory,
                inventory_sha256: &report.audit().inventory_sha256,
            },
            checks: report
                .results()
                .iter()
                .map(|r| CheckJson {
                    name: &r.meta.name,
                    kind: r.kind,
                    target: &r.meta.target,
                    status: r.status.as_str(),
                    severity: r.meta.severity.as_str(),
                    detail: &r.detail,
                    duration_ms: r.duration.as_millis(),
                    tags: &r.meta.tags,
                    change: r.trend.as_ref().map(|t| t.change.as_str()),
                    previous_status: r.trend.as_ref().and_then(|t| t.previous).map(|s| s.as_str()),
                    since: r.trend.as_ref().map(|t| human::rfc3339(t.since)),
                    depends_on: &r.meta.depends_on,
                    hint: r.meta.hint.as_deref(),
                    runbook: r.meta.runbook.as_deref(),
                })
                .collect(),
        };
        // Serializing plain strings and numbers cannot fail.
        let mut out = serde_json::to_vec_pretty(&document).unwrap_or_default();
        out.push(b'\n');
        out
    }
}
