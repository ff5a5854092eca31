//! Reporters over fixed results: exact output pinned by snapshots, so a change in format is
//! a reviewed diff (`cargo insta review`).

use std::time::{Duration, UNIX_EPOCH};

use super::reporter::summary_line;
use super::*;
use crate::outcome::Status;
use crate::runner::results::tests::result;
use crate::runner::results::{Audit, Change, CleanReport, RunReport, Trend};
use crate::secrets::Secrets;

fn report() -> CleanReport {
    RunReport::new(
        UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        Duration::from_millis(1200),
        vec![
            result("EHR portal", Status::Pass, "200 OK in 12 ms"),
            result("FHIR API", Status::Fail, "500 Internal Server Error, expected 2xx"),
            result("lab", Status::Warn, "certificate expires in 5 days (2026-11-29), warn below 30 days"),
        ],
    )
    .clean(&Secrets::default())
}

/// A morning with every status and every change, as state makes it.
fn morning() -> CleanReport {
    let start = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let hour = Duration::from_secs(3600);
    let with = |mut r: crate::runner::results::CheckResult, previous: Option<Status>, since: u32, change: Change| {
        r.trend = Some(Trend { previous, since: start - hour * since, change, after_maintenance: false });
        r
    };
    let mut report = RunReport::new(
        start,
        Duration::from_millis(1400),
        vec![
            with(result("EHR portal", Status::Pass, "200 OK in 12 ms"), Some(Status::Pass), 30, Change::Steady),
            with(
                result("PACS archive", Status::Fail, "connection refused"),
                Some(Status::Fail),
                9,
                Change::Ongoing,
            ),
            with(
                result("FHIR API", Status::Fail, "500 Internal Server Error, expected 2xx, from the upstream gateway at https://fhir.clinic.example/r4/metadata"),
                Some(Status::Pass),
                0,
                Change::New,
            ),
            with(
                result("lab interface", Status::Warn, "certificate expires in 5 days (2026-11-29), warn below 30 days"),
                None,
                0,
                Change::New,
            ),
            with(result("label printer", Status::Skip, "skipped: print server failed (connection refused)"), Some(Status::Fail), 30, Change::Steady),
            with(result("backup", Status::Pass, "newest EHR.dump is 3 h old (limit 26 h), 4.2 GiB"), Some(Status::Fail), 0, Change::Recovered { down_for: hour * 5 }),
            with(
                result("label printer 3", Status::Ack, "acknowledged by alice until 2026-12-01 (6 days left): ticket 4411; connection refused"),
                Some(Status::Ack),
                40,
                Change::Ongoing,
            ),
            with(
                result("EHR test system", Status::Maint, "maintenance (EHR upgrade, until 2026-11-18 13:00 UTC): connection refused"),
                Some(Status::Pass),
                30,
                Change::Steady,
            ),
        ],
    );
    report.set_previous_run(Some(start - hour / 2));
    report.results_mut()[2].meta.hint =
        Some("Restart the FHIR facade on ehr-app-02, then call the EHR vendor (555-0100)".into());
    report.results_mut()[2].meta.runbook = Some("https://wiki.clinic.example/runbooks/fhir".into());
    report.set_audit(audit());
    report.clean(&Secrets::default())
}

fn audit() -> Audit {
    Audit {
        version: "0.1.0".into(),
        host: "frontdesk-01".into(),
        inventory: "/etc/rounds/checks.toml".into(),
        inventory_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
    }
}

fn at_width(width: u16, summary_first: bool) -> String {
    let options = ReportOptions { width: Some(width), summary_first, ..ReportOptions::default() };
    render(Format::Table, options, &morning())
}

#[test]
fn the_table_fits_60_80_120_and_200_columns() {
    for width in [60u16, 80, 120, 200] {
        let out = at_width(width, false);
        let widest = out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        // Attention lines are prose (one per check); the table itself fits.
        let table_widest =
            out.lines().filter(|l| l.starts_with(['+', '|'])).map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(table_widest <= usize::from(width), "{width}: {table_widest}\n{out}");
        assert!(widest > 0);
        insta::assert_snapshot!(format!("width_{width}"), out);
    }
}

#[test]
fn mail_has_host_date_and_attention_first_and_stays_within_100_columns() {
    let out = at_width(MAIL_WIDTH, true);
    // The summary comes first, wrapped like every line (it once ran to 140 columns).
    let summary = out.split("\n\n").next().unwrap_or_default().replace('\n', " ");
    assert_eq!(summary, "rounds on frontdesk-01, 2026-11-18 11:06 UTC: 2 failed, 1 warning, 1 skipped, 1 acknowledged, 1 in maintenance, 2 passed in 1.4 s; 2 new problems, 1 recovered since the last run at 2026-11-18 10:36 UTC", "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    let attention = out.find("Needs attention:").unwrap();
    let table = out.find("All results:").unwrap();
    assert!(attention < table);
    let table_widest = out[table..].lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(table_widest <= 100, "{out}");
    insta::assert_snapshot!(out);
}

/// The next step for the person on shift, in every format that shows failures.
#[test]
fn hints_reach_every_format() {
    let hint = "Restart the FHIR facade on ehr-app-02";
    // Prometheus carries numbers, not words; the status page is for staff, never hints.
    for &format in Format::all().iter().filter(|f| !matches!(f, Format::Prometheus | Format::Html)) {
        let out = render(format, ReportOptions::default(), &morning());
        assert!(out.contains(hint), "{format:?}:\n{out}");
        assert!(out.contains("https://wiki.clinic.example/runbooks/fhir"), "{format:?}:\n{out}");
    }
}

#[test]
fn json_carries_the_change_since_and_previous_status() {
    let v: serde_json::Value =
        serde_json::from_str(&render(Format::Json, ReportOptions::default(), &morning())).unwrap();
    let pacs = &v["checks"][1];
    assert_eq!((pacs["change"].as_str(), pacs["previous_status"].as_str()), (Some("ongoing"), Some("fail")));
    assert_eq!(pacs["since"], "2026-11-18T02:06:40Z");
    assert_eq!(v["checks"][5]["change"], "recovered");
    assert_eq!(v["summary"]["skip"], 1);
    assert_eq!((v["summary"]["ack"].as_u64(), v["summary"]["maint"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v["checks"][6]["status"], "ack");
    assert_eq!(v["checks"][7]["status"], "maint");
    assert_eq!(v["previous_run"], "2026-11-18T10:36:40Z");
}

fn render(format: Format, options: ReportOptions, report: &CleanReport) -> String {
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
    assert_eq!(
        v["summary"],
        serde_json::json!({"total": 3, "pass": 1, "warn": 1, "fail": 1, "skip": 0, "ack": 0, "maint": 0})
    );
    insta::assert_snapshot!(out);
}

/// The cron mail under --quiet: each problem once (no table repeating "Needs attention"),
/// and the check that came back named, with how long it was down.
#[test]
fn quiet_mail_lists_each_problem_once_and_names_what_recovered() {
    let mut report = morning();
    report.keep_attention_and_recoveries();
    let options = ReportOptions { width: Some(MAIL_WIDTH), summary_first: true, quiet: true, ..Default::default() };
    let out = render(Format::Table, options.clone(), &report);
    for name in ["FHIR API", "PACS archive", "lab interface"] {
        assert_eq!(out.matches(name).count(), 1, "{name}:\n{out}");
    }
    assert!(out.contains("Recovered:\n  PASS  backup: back after 5 h\n"), "{out}");
    assert!(out.contains("1 recovered since the last run") && !out.contains("All results"), "{out}");
    assert!(!out.contains("EHR portal"), "a steady pass is not mailed:\n{out}");
    insta::assert_snapshot!(out);
    let markdown = render(Format::Markdown, options, &report);
    for name in ["FHIR API", "PACS archive", "lab interface", "backup"] {
        assert_eq!(markdown.matches(name).count(), 1, "{name}:\n{markdown}");
    }
    assert!(markdown.contains("## Recovered\n\n- **PASS** backup: back after 5 h\n"), "{markdown}");
    assert!(!markdown.contains("## All checks"), "{markdown}");
}

/// `--format nagios -q` when all passed: no `|` before an empty performance data section.
#[test]
fn nagios_without_results_has_no_empty_perfdata() {
    let mut report = RunReport::new(UNIX_EPOCH, Duration::from_millis(5), vec![result("EHR", Status::Pass, "200 OK")])
        .clean(&Secrets::default());
    report.keep_only_attention();
    let out = render(Format::Nagios, ReportOptions::default(), &report);
    assert_eq!(out.lines().next(), Some("ROUNDS OK - 1 of 1 passed"), "{out}");
    assert!(render(Format::Nagios, ReportOptions::default(), &morning()).lines().next().unwrap_or("").contains(" | '"));
}

#[test]
fn quiet_json_is_a_whole_document_with_every_check_counted() {
    let mut report = report();
    report.keep_only_attention();
    let v: serde_json::Value = serde_json::from_str(&render(Format::Json, ReportOptions::default(), &report)).unwrap();
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["summary"]["total"], 3);
}

/// Every machine format over the morning with every status and change, pinned; each is also
/// parsed by its real consumer in tests/formats.rs.
#[test]
fn machine_formats() {
    for format in [Format::Junit, Format::Prometheus, Format::Nagios, Format::Markdown] {
        let out = render(format, ReportOptions::default(), &morning());
        insta::assert_snapshot!(format!("{format:?}").to_lowercase(), out);
    }
}

/// One check in every status, each with a trend, a hint and hostile text from a peer and a
/// person (an acknowledgement note forging a line), rendered by every format: a new status or
/// a new format cannot go unrendered, and no control character reaches any output.
#[test]
fn every_format_over_every_status() {
    let start = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let hour = Duration::from_secs(3600);
    let results = Status::ALL
        .iter()
        .map(|&status| {
            let mut r = result(
                &format!("{} check", status.as_str()),
                status,
                &format!("seen {}: \u{1b}[2Jnote\u{7}\nFAKE: PASS \u{202e}txt.exe\u{fffe}", status.as_str()),
            );
            let change = if status.meaning().is_problem { Change::New } else { Change::Steady };
            r.trend =
                Some(Trend { previous: Some(Status::Pass), since: start - hour, change, after_maintenance: false });
            r.meta.hint = Some("call\rext. 4411".into());
            r
        })
        .collect();
    let mut report = RunReport::new(start, Duration::from_millis(900), results);
    report.set_previous_run(Some(start - hour));
    report.set_audit(audit());
    let report = report.clean(&Secrets::default());
    for &format in Format::all() {
        let out = render(format, ReportOptions::default(), &report);
        for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{fffe}', '\r'] {
            assert!(!out.contains(bad), "{format:?} holds {bad:?}:\n{out}");
        }
        assert!(!out.lines().any(|l| l.starts_with("FAKE")), "{format:?}:\n{out}");
        for &status in Status::ALL {
            assert!(out.contains(&format!("{} check", status.as_str())), "{format:?} misses {status:?}:\n{out}");
        }
        insta::assert_snapshot!(format!("every_status_{format:?}").to_lowercase(), out);
    }
}

/// The published JSON Schema's closed lists are the ones rounds has: every kind the registry
/// makes (derived ones included), every status, every change.
#[test]
fn the_json_schema_names_every_kind_status_and_change() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/report.schema.json")).expect("the schema is JSON");
    let check = &schema["properties"]["checks"]["items"]["properties"];
    let list = |v: &serde_json::Value| {
        let mut list: Vec<String> =
            v["enum"].as_array().expect("a closed list").iter().filter_map(|k| k.as_str().map(String::from)).collect();
        list.sort_unstable();
        list
    };
    let sorted = |mut v: Vec<String>| {
        v.sort_unstable();
        v
    };
    assert_eq!(list(&check["kind"]), sorted(crate::probe::KINDS.iter().map(|k| k.to_string()).collect()));
    let statuses = sorted(Status::ALL.iter().map(|s| s.as_str().to_owned()).collect());
    assert_eq!(list(&check["status"]), statuses);
    assert_eq!(list(&check["previous_status"]), statuses, "and null");
    let severities = sorted(crate::outcome::Severity::ALL.iter().map(|s| s.as_str().to_owned()).collect());
    assert_eq!(list(&check["severity"]), severities);
    let summary: Vec<String> = schema["properties"]["summary"]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    let mut counted = statuses.clone();
    counted.push("total".into());
    assert_eq!(sorted(summary), sorted(counted));
    // And the fields: every object of the real output has exactly the schema's properties.
    let out: serde_json::Value =
        serde_json::from_str(&render(Format::Json, ReportOptions::default(), &morning())).expect("JSON");
    let keys = |v: &serde_json::Value| sorted(v.as_object().into_iter().flat_map(|o| o.keys().cloned()).collect());
    let root = &schema["properties"];
    for (written, published) in [
        (&out, root),
        (&out["summary"], &root["summary"]["properties"]),
        (&out["audit"], &root["audit"]["properties"]),
        (&out["checks"][0], check),
    ] {
        assert_eq!(keys(written), keys(published));
    }
    let changes = [Change::New, Change::Ongoing, Change::Recovered { down_for: Duration::ZERO }, Change::Steady];
    assert_eq!(list(&check["change"]), sorted(changes.iter().map(|c| c.as_str().to_owned()).collect()));
}
