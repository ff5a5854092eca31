//! rounds as one Nagios/Icinga plugin: a status line with performance data, then one line per
//! check that needs attention. The exit code follows the plugin API (the app uses the strict
//! code for this format: a warning exits 1).
//!
//! Performance data per the monitoring-plugins development guidelines:
//! `'label'=value[UOM];[warn];[crit];[min];[max]`, labels quoted, `'` and `=` kept out of them.

use std::fmt::Write as _;

use super::reporter::Reporter;
use crate::outcome::NagiosState;
use crate::runner::results::CleanReport;

pub(crate) struct NagiosReporter;

impl Reporter for NagiosReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        let s = report.summary();
        let state = report.results().iter().map(|r| r.status.meaning().nagios).max().unwrap_or(NagiosState::Ok);
        let named: Vec<&str> = report
            .results()
            .iter()
            .filter(|r| r.status.meaning().nagios == state)
            .map(|r| r.meta.name.as_str())
            .collect();
        let text = match state {
            NagiosState::Critical => format!("{} of {} failed: {}", named.len(), s.total, named.join(", ")),
            NagiosState::Warning => format!("{} of {} warned: {}", named.len(), s.total, named.join(", ")),
            NagiosState::Ok => format!("{} of {} passed", s.pass, s.total),
        };
        let state = state.as_str();
        let perfdata: Vec<String> = report
            .results()
            .iter()
            .map(|r| {
                let warn = r.facts.latency_warn.map(|w| trim(w.as_secs_f64())).unwrap_or_default();
                format!("'{}'={}s;{warn};;0;", perf_label(&r.meta.name), trim(r.duration.as_secs_f64()))
            })
            .collect();
        // No results (`--quiet`, all passed): no perfdata, and no `|` before an empty section.
        let perfdata = match perfdata.is_empty() {
            true => String::new(),
            false => format!(" | {}", perfdata.join(" ")),
        };
        let mut out = format!("ROUNDS {state} - {}{perfdata}\n", plain(&text));
        for r in report.results().iter().filter(|r| r.status.meaning().shown_when_quiet) {
            let next = r.next_step().map(|n| format!(" (next: {})", plain(&n))).unwrap_or_default();
            let _ = writeln!(
                out,
                "{} {}: {}{next}",
                r.status.as_str().to_uppercase(),
                plain(&r.meta.name),
                plain(&r.detail)
            );
        }
        let a = report.audit();
        let _ = writeln!(
            out,
            "rounds {} on {}, inventory {} (sha256 {})",
            a.version,
            a.host,
            plain(&a.inventory),
            a.inventory_sha256
        );
        out.into_bytes()
    }
}

/// Plugin output text: `|` would start performance data, so it is replaced.
fn plain(text: &str) -> String {
    text.replace('|', "/")
}

/// A performance data label: `'` and `=` are not allowed in it.
fn perf_label(name: &str) -> String {
    name.replace(['\'', '='], "_")
}

/// Seconds with up to 6 decimals and no trailing zeros: "0.048", "2".
fn trim(secs: f64) -> String {
    let text = format!("{secs:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
