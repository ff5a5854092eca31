//! The Prometheus text exposition format, for node_exporter's textfile collector.
//!
//! Base units (seconds, ratios), `# HELP` and `# TYPE` for every family, label values
//! escaped; `promtool check metrics` accepts it (tested).

use std::fmt::Write as _;

use super::reporter::Reporter;
use crate::outcome::Status;
use crate::runner::results::{CheckResult, CleanReport};

pub(crate) struct PrometheusReporter;

/// One metric family: its name, help, and a value per check that has one.
struct Family {
    name: &'static str,
    help: &'static str,
    value: fn(&CheckResult) -> Option<f64>,
}

const FAMILIES: [Family; 6] = [
    Family {
        name: "rounds_check_success",
        help: "Whether the check passed (1) or not (0: warned, failed or was skipped).",
        value: |r| Some(if r.status.is_healthy() { 1.0 } else { 0.0 }),
    },
    Family {
        name: "rounds_check_status",
        help: "The check's status: 0 pass, 1 warn, 2 fail, 3 other (skipped, maintenance, acknowledged).",
        value: |r| Some(status_code(r.status)),
    },
    Family {
        name: "rounds_check_duration_seconds",
        help: "How long the check's probe took.",
        value: |r| Some(r.duration.as_secs_f64()),
    },
    Family {
        name: "rounds_cert_not_after_timestamp_seconds",
        help: "When the served certificate (or an intermediate expiring sooner) expires, as a Unix time.",
        value: |r| r.facts.cert_not_after.map(unix),
    },
    Family {
        name: "rounds_backup_newest_age_seconds",
        help: "The age of the newest backup file.",
        value: |r| r.facts.backup_age.map(|d| d.as_secs_f64()),
    },
    Family {
        name: "rounds_disk_free_ratio",
        help: "Free space available to unprivileged programs, as a share of the filesystem.",
        value: |r| r.facts.disk_free_ratio,
    },
];

fn status_code(status: Status) -> f64 {
    match status {
        Status::Pass => 0.0,
        Status::Warn => 1.0,
        Status::Fail => 2.0,
        Status::Skip | Status::Maint | Status::Ack => 3.0,
    }
}

fn unix(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

impl Reporter for PrometheusReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let mut out = String::new();
        for family in &FAMILIES {
            let rows: Vec<(&CheckResult, f64)> =
                report.results().iter().filter_map(|r| (family.value)(r).map(|v| (r, v))).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {} {}\n# TYPE {} gauge", family.name, family.help, family.name);
            for (r, value) in rows {
                let _ = writeln!(
                    out,
                    "{}{{check=\"{}\",kind=\"{}\",severity=\"{}\"}} {value}",
                    family.name,
                    label(&r.meta.name),
                    r.kind,
                    r.meta.severity.as_str()
                );
            }
        }
        let a = report.audit();
        let _ = writeln!(
            out,
            "# HELP rounds_run_timestamp_seconds When the run started, as a Unix time.\n\
             # TYPE rounds_run_timestamp_seconds gauge\nrounds_run_timestamp_seconds {}\n\
             # HELP rounds_run_duration_seconds How long the whole run took.\n\
             # TYPE rounds_run_duration_seconds gauge\nrounds_run_duration_seconds {}\n\
             # HELP rounds_info Which rounds checked which inventory (SHA-256) on which host; always 1.\n\
             # TYPE rounds_info gauge\nrounds_info{{version=\"{}\",host=\"{}\",inventory=\"{}\",inventory_sha256=\"{}\"}} 1",
            unix(report.started_at()),
            report.duration().as_secs_f64(),
            label(&a.version),
            label(&a.host),
            label(&a.inventory),
            label(&a.inventory_sha256),
        );
        out.into_bytes()
    }
}

/// A label value: backslash, double quote and line feed escaped, as the format requires.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
