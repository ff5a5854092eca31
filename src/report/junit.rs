//! JUnit XML, for CI systems that gate on test reports (Jenkins, GitLab, GitHub Actions).
//!
//! One `<testcase>` per check (`classname` = kind, `name` = check name): `<failure>` for a
//! failed check, `<skipped>` for a skipped one, a warning as a passing case with the detail
//! in `<system-out>`. Valid against Jenkins' junit-10.xsd (tested, with junitparser too).

use std::fmt::Write as _;

use super::reporter::Reporter;
use crate::human;
use crate::outcome::Status;
use crate::runner::results::CleanReport;

pub(crate) struct JunitReporter;

impl Reporter for JunitReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let s = report.summary();
        let skipped = report.results().iter().filter(|r| Case::of(r.status) == Case::Skipped).count();
        let time = format!("{:.3}", report.duration().as_secs_f64());
        let stamp = human::rfc3339(report.started_at());
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
            skipped,
            xml(&stamp),
            xml(&report.audit().host)
        );
        out.push_str("    <properties>\n");
        for (name, value) in [
            ("rounds.version", &report.audit().version),
            ("rounds.inventory", &report.audit().inventory),
            ("rounds.inventory.sha256", &report.audit().inventory_sha256),
        ] {
            let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", xml(value));
        }
        out.push_str("    </properties>\n");
        for r in report.results() {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                r.kind,
                xml(&r.meta.name),
                r.duration.as_secs_f64()
            );
            let detail = xml(&r.detail);
            let next = r.next_step().map(|n| xml(&format!("\nNext: {n}"))).unwrap_or_default();
            match Case::of(r.status) {
                Case::Passed => out.push_str("/>\n"),
                Case::Failure => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{detail}\" type=\"fail\">{detail}{next}</failure>\n    </testcase>"
                    );
                }
                Case::Skipped => {
                    let _ = writeln!(out, ">\n      <skipped message=\"{detail}\"/>\n    </testcase>");
                }
                Case::PassedWithOutput => {
                    let _ = writeln!(out, ">\n      <system-out>WARN: {detail}{next}</system-out>\n    </testcase>");
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out.into_bytes()
    }
}

/// What a status becomes in JUnit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Passed,
    /// Passed, with the warning in `<system-out>`: CI gates on failures only.
    PassedWithOutput,
    Failure,
    /// Not run, or excused: the suite's `skipped` count is of these.
    Skipped,
}

impl Case {
    fn of(status: Status) -> Case {
        match status {
            Status::Pass => Case::Passed,
            Status::Warn => Case::PassedWithOutput,
            Status::Fail => Case::Failure,
            Status::Skip | Status::Maint | Status::Ack => Case::Skipped,
        }
    }
}

/// Text for an XML attribute or element. Characters XML 1.0 does not allow at all (controls
/// but tab, newline and carriage return; U+FFFE, U+FFFF) are written as a visible `\u{..}`
/// escape: the cleaning step escaped them in every detail already, this keeps the document
/// parseable whatever text reaches it.
pub(super) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn characters_xml_forbids_become_visible_escapes() {
        assert_eq!(super::xml("a\u{1b}b\u{fffe}c\u{ffff}d\u{7}<"), "a\\u{1b}b\\u{fffe}c\\u{ffff}d\\u{7}&lt;");
    }
}
