//! The status page for staff (`--output html:PATH`): one self-contained HTML file that a
//! nurse, a doctor or the front desk reads on a phone or the ward PC.
//!
//! Per service one plain sentence ("Working", "Slow", "Not working since 07:10"), never a
//! target, address or detail; checks sharing a `public_name` are one row, at their worst.
//! The last 30 days as bars and the share of checked time it worked, from the per-day record
//! the state keeps. The time of the last run, and what to think when the page is older than
//! `stale_after`: said in words at write time, and shown as a warning by a tiny inline
//! script when the page is read later. Inline CSS, no request to anywhere; status never by
//! colour alone (a symbol and a sentence); rendered from a [`CleanReport`] and texts the app
//! cleaned.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::Bound;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;

use super::handover::html_escape;
use super::reporter::Reporter;
use crate::config::StatusPage;
use crate::outcome::ForStaff;
use crate::runner::results::{CheckResult, CleanReport};
use crate::state::{Day, PageRecord};

/// What the page shows besides the report: the settings, the per-day record, and the texts
/// people wrote (acknowledgement notes, maintenance reasons), already cleaned.
#[derive(Debug)]
pub(crate) struct PageInput {
    /// Times are shown in it: this machine's zone (UTC for `--format html` on stdout).
    pub tz: TimeZone,
    pub page: StatusPage,
    pub record: PageRecord,
    /// Check name: IT's message (its acknowledgement's note).
    pub messages: BTreeMap<String, String>,
    /// Check name: "until 12:00 UTC: vendor upgrade".
    pub maintenance: BTreeMap<String, String>,
}

impl Default for PageInput {
    fn default() -> Self {
        PageInput {
            tz: TimeZone::UTC,
            page: StatusPage::default(),
            record: PageRecord::default(),
            messages: BTreeMap::new(),
            maintenance: BTreeMap::new(),
        }
    }
}

/// How many days of bars.
const DAYS_SHOWN: i64 = 30;
/// Without a usual interval (a first run), the page is out of date after this.
const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(3600);
/// The browser reloads the page this often.
const REFRESH_SECS: u64 = 60;

/// `--format html` on stdout: the page without settings or history.
pub(crate) struct StatusPageReporter;

impl Reporter for StatusPageReporter {
    fn render(&self, report: &CleanReport) -> Vec<u8> {
        status_page(report, &PageInput::default())
    }
}

/// One row: the checks sharing a public name.
struct Row<'a> {
    name: &'a str,
    checks: Vec<&'a CheckResult>,
}

impl Row<'_> {
    /// The worst of its checks (the first of equals).
    /// The worst check of the row; among warnings, a failure its severity softened first.
    fn worst(&self) -> &CheckResult {
        let mut worst = self.checks[0];
        for c in &self.checks[1..] {
            if (c.status.rank(), c.failed_below_severity) > (worst.status.rank(), worst.failed_below_severity) {
                worst = c;
            }
        }
        worst
    }
}

/// The page, complete.
pub(crate) fn status_page(report: &CleanReport, input: &PageInput) -> Vec<u8> {
    let tz = input.tz.clone();
    let now = report.started_at();
    let mut rows: Vec<Row> = Vec::new();
    // Row by public name: a search through the rows for each check was quadratic.
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for r in report.results().iter().filter(|r| !r.meta.hidden) {
        match row_of.get(r.meta.public_name.as_str()) {
            Some(&i) => rows[i].checks.push(r),
            None => {
                row_of.insert(&r.meta.public_name, rows.len());
                rows.push(Row { name: &r.meta.public_name, checks: vec![r] });
            }
        }
    }
    // Sections: the groups in order, then what none of them holds.
    let mut sections: Vec<(Option<&str>, Vec<&Row>)> =
        input.page.groups.iter().map(|g| (Some(g.as_str()), vec![])).collect();
    let mut rest = Vec::new();
    for row in &rows {
        let group = input.page.groups.iter().position(|g| row.checks.iter().any(|c| c.meta.tags.contains(g)));
        match group {
            Some(i) => sections[i].1.push(row),
            None => rest.push(row),
        }
    }
    let other = (!input.page.groups.is_empty()).then_some("Other systems");
    sections.push((other, rest));

    let stale_after = input
        .page
        .stale_after
        .or(input.record.usual_interval.map(|d| d * 2))
        .unwrap_or(DEFAULT_STALE_AFTER)
        .max(Duration::from_secs(60));
    let title = html_escape(&input.page.title);
    let checked = long_moment(now, &tz);
    let stale_at = clock(now + stale_after, now, &tz);
    let mut body = String::new();
    let _ = write!(
        body,
        "<header>\n<h1>{title}</h1>\n<p class=\"updated\">Last checked: <time datetime=\"{}\">{checked}</time>. \
         This page is out of date after {stale_at}: if it is later than that now, do not rely on it and tell IT.</p>\n\
         <p id=\"stale\" class=\"stale\" role=\"alert\" hidden><span aria-hidden=\"true\">&#9888;</span> \
         <strong>This page is out of date.</strong> The last check was at {checked}; what it shows may no longer be true. Tell IT.</p>\n</header>\n",
        crate::human::rfc3339(now)
    );
    let rows_total = rows.len();
    let days = days_shown(now, &tz);
    for (name, rows) in sections.iter().filter(|(_, rows)| !rows.is_empty()) {
        body.push_str("<section>\n");
        if let Some(name) = name {
            let _ = writeln!(body, "<h2>{}</h2>", html_escape(name));
        }
        body.push_str("<ul class=\"services\">\n");
        for row in rows {
            row_html(&mut body, row, input, now, &tz, &days);
        }
        body.push_str("</ul>\n</section>\n");
    }
    if rows_total == 0 {
        body.push_str("<p>No system is shown on this page.</p>\n");
    }
    let last_ms = crate::human::unix_seconds(now).saturating_mul(1000);
    let stale_ms = u64::try_from(stale_after.as_millis()).unwrap_or(u64::MAX);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\n<title>{title}</title>\n<style>{CSS}</style>\n</head>\n\
         <body>\n<main>\n{body}<footer><p>Made by rounds. Questions: ask IT.</p></footer>\n</main>\n\
         <script>(function(){{var e=document.getElementById('stale');function c(){{if(Date.now()-{last_ms}>{stale_ms}){{e.hidden=false;document.body.className='is-stale';}}}}c();setInterval(c,30000);}})();</script>\n\
         </body>\n</html>\n"
    )
    .into_bytes()
}

/// One service: its symbol, name, sentence, IT's message, and its 30 days.
fn row_html(out: &mut String, row: &Row, input: &PageInput, now: SystemTime, tz: &TimeZone, days: &DaysShown) {
    let worst = row.worst();
    let since = worst.trend.as_ref().map_or(now, |t| t.since);
    let find = |map: &BTreeMap<String, String>| row.checks.iter().find_map(|c| map.get(&c.meta.name)).cloned();
    let (class, symbol, sentence) = match worst.status.meaning().for_staff {
        ForStaff::Working => ("ok", "&#10003;", "Working".to_owned()),
        // A failure its severity turned into a warning (a label printer that is down) is not
        // working, whatever it costs the gate: the page never says so of what failed.
        ForStaff::Warning if worst.failed_below_severity => {
            ("down", "&#10007;", format!("Not working since {}", clock(since, now, tz)))
        }
        ForStaff::Warning if slow(worst) => ("slow", "&#9684;", "Slow".to_owned()),
        ForStaff::Warning => ("ok", "&#10003;", "Working".to_owned()),
        ForStaff::NotWorking => ("down", "&#10007;", format!("Not working since {}", clock(since, now, tz))),
        ForStaff::NotWorkingKnown => {
            ("down", "&#10007;", format!("Not working since {} - IT knows and is working on it", clock(since, now, tz)))
        }
        ForStaff::Maintenance => (
            "maint",
            "&#9208;",
            find(&input.maintenance)
                .map_or_else(|| "Planned maintenance".into(), |m| format!("Planned maintenance {m}")),
        ),
        ForStaff::NotChecked => ("unknown", "?", "Not checked this time".to_owned()),
    };
    let _ = write!(
        out,
        "<li class=\"svc {class}\"><span class=\"mark\" aria-hidden=\"true\">{symbol}</span><div class=\"what\">\
         <h3>{}</h3><p class=\"said\">{}</p>",
        html_escape(row.name),
        html_escape(&sentence)
    );
    if worst.status.meaning().for_staff == ForStaff::NotWorkingKnown {
        if let Some(message) = find(&input.messages).filter(|m| !m.trim().is_empty()) {
            let _ = write!(out, "<p class=\"msg\">Message from IT: {}</p>", html_escape(&message));
        }
    }
    days_html(out, row, input, days);
    out.push_str("</div></li>\n");
}

/// A latency warning: it answered, more slowly than its `warn_latency`.
fn slow(r: &CheckResult) -> bool {
    r.facts.latency_warn.is_some_and(|limit| r.duration > limit)
}

/// The days shown, oldest first: the last [`DAYS_SHOWN`] local days up to today, as the
/// per-day record keys them ("2026-12-03"). Made once a page, not once a row.
struct DaysShown {
    keys: Vec<String>,
    /// (key, its place in `keys`), in the order of the keys as text: the order in which a
    /// check's record holds them, so a row reads each record once, in one pass.
    by_text: Vec<(String, usize)>,
}

fn days_shown(now: SystemTime, tz: &TimeZone) -> DaysShown {
    let today = crate::config::to_timestamp(now).to_zoned_datetime(tz.clone()).date();
    let keys: Vec<String> = (0..DAYS_SHOWN)
        .rev()
        .filter_map(|back| today.checked_sub(jiff::Span::new().days(back)).ok())
        .map(|d| d.to_string())
        .collect();
    let mut by_text: Vec<(String, usize)> = keys.iter().cloned().zip(0..).collect();
    by_text.sort();
    DaysShown { keys, by_text }
}

/// Each shown day's [`Day`] summed over `records`, in the order of [`DaysShown::keys`]: one
/// pass through each record beside the shown keys (a lookup per day and check was a tenth
/// of the page's cost).
fn summed_days(records: &[&BTreeMap<String, Day>], days: &DaysShown) -> Vec<Day> {
    let mut sums = vec![[0u64, 0u64]; days.keys.len()];
    let Some((first, _)) = days.by_text.first() else { return sums };
    for record in records {
        let mut shown = days.by_text.iter().peekable();
        for (date, day) in record.range::<str, _>((Bound::Included(first.as_str()), Bound::Unbounded)) {
            while shown.next_if(|(key, _)| key.as_str() < date.as_str()).is_some() {}
            match shown.peek() {
                Some((key, i)) if key == date => {
                    sums[*i][0] += day[0];
                    sums[*i][1] += day[1];
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    sums
}

/// The last 30 days as bars (height: the share it worked; a dotted outline: not checked),
/// and the share of checked time it worked, in words.
fn days_html(out: &mut String, row: &Row, input: &PageInput, days: &DaysShown) {
    let records: Vec<&BTreeMap<String, Day>> =
        row.checks.iter().filter_map(|c| input.record.days.get(&c.meta.name)).collect();
    let (mut checked, mut worked, mut bad_days, mut empty_days) = (0u64, 0u64, 0, 0);
    let mut bars = String::with_capacity(days.keys.len() * 32);
    let mut number = itoa::Buffer::new();
    for day in summed_days(&records, days) {
        if day[0] == 0 {
            empty_days += 1;
            bars.push_str("<i class=n></i>");
            continue;
        }
        checked += day[0];
        worked += day[1];
        if day[1] == day[0] {
            bars.push_str("<i class=f></i>");
        } else {
            bad_days += 1;
            // Whole percents from 8 to 100, written as the f64 was ("93"), without `fmt`.
            let height = (day[1] as f64 / day[0] as f64 * 100.0).round().max(8.0) as u32;
            bars.push_str("<i class=p style=height:");
            bars.push_str(number.format(height));
            bars.push_str("%></i>");
        }
    }
    let good_days = DAYS_SHOWN as usize - bad_days - empty_days;
    let _ = write!(
        out,
        "<div class=\"bars\" role=\"img\" aria-label=\"Last {DAYS_SHOWN} days: {good_days} working throughout, \
         {bad_days} with problems, {empty_days} not checked\">{bars}</div>"
    );
    let share = if checked == 0 {
        "No record of the last 30 days yet.".to_owned()
    } else {
        format!("Worked {} of the checked time in the last {DAYS_SHOWN} days.", percent(worked as f64 / checked as f64))
    };
    let _ = write!(out, "<p class=\"share\">{share}</p>");
}

/// "99.2%", never rounded up to a false 100%.
fn percent(share: f64) -> String {
    let tenths = (share * 1000.0).floor() / 10.0;
    format!("{tenths:.1}%").replace(".0%", "%")
}

/// "07:10" today, else "Tue 2 Dec 07:10", in this machine's time zone.
fn clock(t: SystemTime, now: SystemTime, tz: &TimeZone) -> String {
    let at = crate::config::to_timestamp(t).to_zoned_datetime(tz.clone());
    let today = crate::config::to_timestamp(now).to_zoned_datetime(tz.clone());
    if at.date() == today.date() {
        at.strftime("%H:%M").to_string()
    } else {
        at.strftime("%a %-d %b %H:%M").to_string()
    }
}

/// "07:15 on Thursday 3 December 2026 (UTC)".
fn long_moment(t: SystemTime, tz: &TimeZone) -> String {
    let at = crate::config::to_timestamp(t).to_zoned_datetime(tz.clone());
    let zone = tz.iana_name().map_or_else(|| at.strftime("%Z").to_string(), str::to_owned);
    html_escape(&format!("{} ({zone})", at.strftime("%H:%M on %A %-d %B %Y")))
}

/// Dark text and marks on white: every pair meets WCAG AA (4.5:1 and more); the status is
/// also a symbol and a sentence.
const CSS: &str = "*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
font-size:1.05rem;line-height:1.45;color:#1a1a1a;background:#f4f4f4}main{max-width:64rem;margin:0 auto;padding:1rem}\
h1{font-size:1.6rem;margin:.2rem 0 .4rem}h2{font-size:1.2rem;margin:1.4rem 0 .5rem}.updated{margin:.2rem 0;color:#333}\
.stale{background:#fff3cd;border:3px solid #7a4a00;color:#4a2c00;padding:.6rem .8rem;font-size:1.1rem}\
.is-stale .services{opacity:.85}.services{list-style:none;margin:0;padding:0;display:grid;gap:.6rem;\
grid-template-columns:repeat(auto-fill,minmax(min(100%,26rem),1fr))}\
.svc{display:flex;gap:.7rem;background:#fff;border:1px solid #c8c8c8;border-left:.45rem solid #1d6b30;border-radius:.4rem;padding:.7rem}\
.mark{flex:none;width:2rem;height:2rem;border-radius:50%;display:flex;align-items:center;justify-content:center;\
font-weight:700;font-size:1.15rem;color:#fff;background:#1d6b30}.what{flex:1;min-width:0}\
h3{font-size:1.05rem;margin:0;overflow-wrap:anywhere}.said{margin:.1rem 0;font-weight:600}.msg{margin:.2rem 0;\
padding:.3rem .5rem;background:#f0f0f0;border-left:3px solid #555}.share{margin:.2rem 0 0;font-size:.9rem;color:#333}\
.slow{border-left-color:#8a4b00}.slow .mark{background:#8a4b00}.down{border-left-color:#b3261e}.down .mark{background:#b3261e;border-radius:.2rem}\
.maint{border-left-color:#1f4e99}.maint .mark{background:#1f4e99;border-radius:.2rem}.unknown{border-left-color:#555}\
.unknown .mark{background:#555}.down .said{color:#8c1d18}\
.bars{display:flex;align-items:flex-end;gap:2px;height:1.6rem;margin-top:.4rem}\
.bars i{flex:1;min-width:2px;border-radius:1px}.bars .f{height:100%;background:#1d6b30}\
.bars .p{background:repeating-linear-gradient(45deg,#b3261e 0 3px,#7a1a14 3px 6px)}.bars .n{height:30%;border:1px dashed #767676}\
footer{margin-top:1.5rem;font-size:.85rem;color:#444}";

impl PageInput {
    /// Gathers what the page shows besides the report, after the run was remembered (so
    /// today's bar holds it): the per-day record at `state`, IT's messages (the notes of the
    /// acknowledgements in force) and the open maintenance windows, cleaned with `secrets`.
    pub fn gather(
        page: &StatusPage,
        record: PageRecord,
        acks: &[crate::known::Ack],
        windows: &[crate::config::Window],
        secrets: &crate::secrets::Secrets,
        now: SystemTime,
    ) -> PageInput {
        let clean = |text: &str| crate::runner::results::clean_text(text, secrets, crate::secrets::MAX_DETAIL_CHARS);
        let at = crate::config::to_timestamp(now);
        let mut messages = BTreeMap::new();
        for ack in acks.iter().filter(|a| a.until.ends() > at) {
            for name in &ack.covers {
                messages.entry(name.clone()).or_insert_with(|| clean(&ack.note));
            }
        }
        let mut maintenance = BTreeMap::new();
        for window in windows.iter().filter(|w| w.is_open(at)) {
            for name in &window.covers {
                maintenance
                    .entry(name.clone())
                    .or_insert_with(|| clean(&format!("{}: {}", window.until_text(), window.reason)));
            }
        }
        PageInput { tz: TimeZone::system(), page: page.clone(), record, messages, maintenance }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;
    use crate::runner::results::tests::result;
    use crate::runner::results::RunReport;
    use crate::secrets::Secrets;

    /// 200 checks with 30 days of record, some days with problems: the page stays small
    /// (the budget is 300 KB) and is written in a few milliseconds.
    #[test]
    fn two_hundred_checks_and_thirty_days_stay_small() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_796_299_200);
        let statuses = [Status::Pass, Status::Warn, Status::Fail, Status::Ack, Status::Maint, Status::Skip];
        let results: Vec<_> = (0..200)
            .map(|i| {
                let mut r = result(&format!("check number {i} of the clinic"), statuses[i % 6], "d");
                r.meta.public_name = format!("Service number {i} of the clinic");
                r
            })
            .collect();
        let report = RunReport::new(now, Duration::from_secs(3), results).clean(&Secrets::default());
        let today = crate::config::to_timestamp(now).to_zoned_datetime(TimeZone::UTC).date();
        let mut input = PageInput::default();
        for i in 0..200 {
            let days = (0..31)
                .filter_map(|back| today.checked_sub(jiff::Span::new().days(back)).ok())
                .enumerate()
                .map(|(d, date)| (date.to_string(), [86_400, if (d + i) % 7 == 0 { 80_000 } else { 86_400 }]))
                .collect();
            input.record.days.insert(format!("check number {i} of the clinic"), days);
        }
        let started = std::time::Instant::now();
        let page = status_page(&report, &input);
        let took = started.elapsed();
        eprintln!("200 checks x 30 days: {} bytes in {took:?}", page.len());
        assert!(page.len() < 300 * 1024, "{} bytes", page.len());
        let text = String::from_utf8(page).unwrap();
        assert_eq!(text.matches("<li class=\"svc ").count(), 200);
        assert!(text.contains("Worked 98.7% of the checked time"), "the share, rounded down");
    }
}
