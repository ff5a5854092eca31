//! Reporters over fixed results: exact output pinned by snapshots, so a change in format is
//! a reviewed diff (`cargo insta review`).

use std::time::{Duration, UNIX_EPOCH};

use super::reporter::summary_line;
use super::*;
use crate::outcome::Status;
use crate::runner::results::tests::result;
use crate::runner::results::RunReport;

fn report() -> RunReport {
    RunReport::new(
        UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        Duration::from_millis(1200),
        vec![
            result("EHR portal", Status::Pass, "200 OK in 12 ms"),
            result("FHIR API", Status::Fail, "500 Internal Server Error, expected 2xx"),
            result("lab", Status::Warn, "certificate expires in 5 days (2026-11-29), warn below 30 days"),
        ],
    )
}

fn render(format: Format, options: ReportOptions, report: &RunReport) -> String {
    String::from_utf8(reporter_for(format, options).render(report)).unwrap()
}

#[test]
fn summary_counts_in_words() {
    assert_eq!(summary_line(&report()), "1 failed, 1 warning, 1 passed in 1.2 s");
}

#[test]
fn plain_table() {
    let out = render(Format::Table, ReportOptions::default(), &report());
    assert!(!out.contains('\x1b'), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn colour_table_colours_the_status() {
    let out = render(Format::Table, ReportOptions { color: true, ..ReportOptions::default() }, &report());
    assert!(out.contains("\x1b["), "{out}");
}

#[test]
fn quiet_table_shows_what_the_filter_kept_and_the_whole_summary() {
    let mut report = report();
    report.keep_only_attention();
    let out = render(Format::Table, ReportOptions::default(), &report);
    assert!(!out.contains("EHR portal"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn summary_first_for_mail() {
    let out = render(Format::Table, ReportOptions { summary_first: true, ..ReportOptions::default() }, &report());
    assert!(out.starts_with("1 failed, 1 warning, 1 passed in 1.2 s\n"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn json_document() {
    let out = render(Format::Json, ReportOptions::default(), &report());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["started_at"], "2026-11-18T11:06:40.000Z");
    assert_eq!(v["summary"], serde_json::json!({"total": 3, "pass": 1, "warn": 1, "fail": 1}));
    insta::assert_snapshot!(out);
}

#[test]
fn quiet_json_is_a_whole_document_with_every_check_counted() {
    let mut report = report();
    report.keep_only_attention();
    let v: serde_json::Value = serde_json::from_str(&render(Format::Json, ReportOptions::default(), &report)).unwrap();
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["summary"]["total"], 3);
}
