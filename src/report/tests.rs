//! Reporters over fixed results: exact output, so a change in format is a visible diff.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::check::{CheckResult, Severity, Status};

fn result(name: &str, status: Status, detail: &str) -> CheckResult {
    CheckResult {
        name: name.into(),
        kind: "endpoint",
        target: "https://ehr.example.org/health".into(),
        severity: Severity::Critical,
        tags: vec!["ehr".into()],
        status,
        detail: detail.into(),
        duration: Duration::from_millis(12),
    }
}

fn report() -> RunReport {
    RunReport {
        started_at: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        duration: Duration::from_millis(1200),
        results: vec![
            result("EHR portal", Status::Pass, "200 OK in 12 ms"),
            result("FHIR API", Status::Fail, "500 Internal Server Error, expected 2xx"),
            result("lab", Status::Warn, "certificate expires in 5 days (2026-11-29), warn below 30 days"),
        ],
    }
}

fn render(format: Format, options: ReportOptions) -> String {
    String::from_utf8(reporter_for(format, options).render(&report())).unwrap()
}

#[test]
fn summary_counts_in_words() {
    assert_eq!(summary_line(&report()), "1 failed, 1 warning, 1 passed in 1.2 s");
}

#[test]
fn plain_table_has_no_escape_codes_and_every_row() {
    let out = render(Format::Table, ReportOptions::default());
    assert!(!out.contains('\x1b'), "{out}");
    for needle in ["PASS", "FAIL", "WARN", "EHR portal", "500 Internal Server Error, expected 2xx", "12 ms"] {
        assert!(out.contains(needle), "{needle} missing in\n{out}");
    }
    assert!(out.ends_with("1 failed, 1 warning, 1 passed in 1.2 s\n"), "{out}");
}

#[test]
fn colour_table_colours_the_status() {
    let out = render(Format::Table, ReportOptions { color: true, ..ReportOptions::default() });
    assert!(out.contains("\x1b["), "{out}");
}

#[test]
fn quiet_table_leaves_out_passing_checks() {
    let out = render(Format::Table, ReportOptions { quiet: true, ..ReportOptions::default() });
    assert!(!out.contains("EHR portal"), "{out}");
    assert!(out.contains("FHIR API"), "{out}");
}

#[test]
fn summary_first_for_mail() {
    let out = render(Format::Table, ReportOptions { summary_first: true, ..ReportOptions::default() });
    assert!(out.starts_with("1 failed, 1 warning, 1 passed in 1.2 s\n"), "{out}");
}

#[test]
fn json_document_has_the_documented_shape() {
    let out = render(Format::Json, ReportOptions::default());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["started_at"], "2026-11-18T11:06:40.000Z");
    assert_eq!(v["duration_ms"], 1200);
    assert_eq!(v["summary"], serde_json::json!({"total": 3, "pass": 1, "warn": 1, "fail": 1}));
    let check = &v["checks"][1];
    assert_eq!(check["name"], "FHIR API");
    assert_eq!(check["status"], "fail");
    assert_eq!(check["severity"], "critical");
    assert_eq!(check["kind"], "endpoint");
    assert_eq!(check["duration_ms"], 12);
    assert_eq!(check["tags"], serde_json::json!(["ehr"]));
    assert_eq!(check["target"], "https://ehr.example.org/health");
}
