//! One JSON document per run, for scripts, dashboards and CI gates.
//!
//! The shape is versioned (`"version": 1`): fields may be added, never renamed or removed
//! without a new version.

use serde::Serialize;

use super::reporter::Reporter;
use crate::runner::results::{RunReport, Summary};

pub(crate) struct JsonReporter;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    started_at: String,
    duration_ms: u128,
    summary: Summary,
    checks: Vec<CheckJson<'a>>,
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
}

impl Reporter for JsonReporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let document = Document {
            version: 1,
            started_at: humantime::format_rfc3339_millis(report.started_at).to_string(),
            duration_ms: report.duration.as_millis(),
            summary: report.summary,
            checks: report
                .results
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
                })
                .collect(),
        };
        // Serializing plain strings and numbers cannot fail.
        let mut out = serde_json::to_vec_pretty(&document).unwrap_or_default();
        out.push(b'\n');
        out
    }
}
