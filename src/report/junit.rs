//! JUnit XML, for CI systems that gate on test reports (Jenkins, GitLab, GitHub Actions).
//!
//! One `<testcase>` per check (`classname` = kind, `name` = check name): `<failure>` for a
//! failed check, `<skipped>` for a skipped one, a warning as a passing case with the detail
//! in `<system-out>`. Valid against Jenkins' junit-10.xsd (tested, with junitparser too).

use std::fmt::Write as _;

use super::reporter::Reporter;
use crate::human;
use crate::outcome::Status;
use crate::runner::results::RunReport;

pub(crate) struct JunitReporter;

impl Reporter for JunitReporter {
    fn render(&self, report: &RunReport) -> Vec<u8> {
        let s = report.summary;
        let time = format!("{:.3}", report.duration.as_secs_f64());
        let stamp = human::rfc3339(report.started_at);
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"rounds\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{time}\">",
            s.total, s.fail
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"rounds\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{time}\" timestamp=\"{}\" hostname=\"{}\">",
            s.total,
            s.fail,
            s.skip,
            xml(&stamp),
            xml(&report.audit.host)
        );
        out.push_str("    <properties>\n");
        for (name, value) in [
            ("rounds.version", &report.audit.version),
            ("rounds.inventory", &report.audit.inventory),
            ("rounds.inventory.sha256", &report.audit.inventory_sha256),
        ] {
            let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", xml(value));
        }
        out.push_str("    </properties>\n");
        for r in &report.results {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                r.kind,
                xml(&r.meta.name),
                r.duration.as_secs_f64()
            );
            let detail = xml(&r.detail);
            let next = r.next_step().map(|n| xml(&format!("\nNext: {n}"))).unwrap_or_default();
            match r.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{detail}\" type=\"fail\">{detail}{next}</failure>\n    </testcase>"
                    );
                }
                Status::Skip | Status::Maint | Status::Ack => {
                    let _ = writeln!(out, ">\n      <skipped message=\"{detail}\"/>\n    </testcase>");
                }
                Status::Warn => {
                    let _ = writeln!(out, ">\n      <system-out>WARN: {detail}{next}</system-out>\n    </testcase>");
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out.into_bytes()
    }
}

/// Text for an XML attribute or element. Control characters other than tab, newline and
/// carriage return are not allowed in XML 1.0 at all (details have them escaped already).
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
