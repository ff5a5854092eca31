//! Notifications (`[[notify]]`): after the report is out, each notifier is told what changed
//! for its checks, in one message per run: Teams (an Adaptive Card for a Workflows webhook),
//! Slack (blocks with a text fallback; Mattermost and Rocket.Chat take the same), ntfy, or a
//! webhook that gets the JSON report of its checks, signed when it has a `secret`, or email.
//!
//! What is news comes from the trends the state stage computed, after acknowledgements and
//! maintenance: a new problem, a recovery, an acknowledgement that expired, a problem still
//! open when its maintenance window ended, and (with
//! `still_failing`) a problem still open, at most every `remind_every`. Every text comes from
//! the [`CleanReport`]: cleaned, without secrets. A notifier that fails or hangs costs one
//! warning within its own timeout; its news waits in the state's `outbox` for the next run.
//!
//! Sits between the reporters and the app.

mod email;
mod message;
mod payload;

pub(crate) use self::message::{Item, Message};
use self::message::{ACK_EXPIRED, AFTER_MAINTENANCE, NEW, RECOVERED, STILL_FAILING};

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::certs::ClientSpec;
use crate::config::{Notifier, NotifyKind, On, Target};
use crate::outcome::Severity;
use crate::runner::results::{Change, CheckResult, CleanReport};

/// What is known of the run before this one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Before {
    /// A previous run wrote the state: "new" can be told apart from "was already failing".
    pub known: bool,
    pub previous_run: Option<SystemTime>,
}

/// The news of this run for `notifier`, in report order.
pub(crate) fn news(report: &CleanReport, notifier: &Notifier, before: Before) -> Vec<Item> {
    let now = report.started_at();
    report.results().iter().filter(|r| concerns(notifier, r)).filter_map(|r| item(r, notifier, before, now)).collect()
}

fn concerns(notifier: &Notifier, r: &CheckResult) -> bool {
    selected(notifier, r) && !r.unfinished
}

/// Whether `r` is one of the checks `notifier` is about: its `checks` and `min_severity`.
fn selected(notifier: &Notifier, r: &CheckResult) -> bool {
    let named = notifier.covers.as_ref().is_none_or(|names| names.contains(&r.meta.name));
    let severe = matches!(notifier.min_severity, Severity::Warning) || matches!(r.meta.severity, Severity::Critical);
    named && severe
}

/// The JSON report (`--format json`'s schema) of only the checks `notifier` is about, for a
/// webhook; nothing for the other kinds.
fn report_json_for(report: &CleanReport, notifier: &Notifier) -> Vec<u8> {
    if notifier.kind != NotifyKind::Webhook {
        return Vec::new();
    }
    let mut share = report.clone();
    share.keep_only(|r| selected(notifier, r));
    let json = crate::report::Format::Json;
    crate::report::reporter_for(json, crate::report::ReportOptions::default()).render(&share)
}

fn item(r: &CheckResult, notifier: &Notifier, before: Before, now: SystemTime) -> Option<Item> {
    let on: On = notifier.on;
    let attention = r.status.meaning().needs_attention;
    let trend = r.trend.as_ref();
    let change = match trend.map(|t| (t.change, t.previous)) {
        // Without a previous run nothing is known to be new.
        _ if !before.known => (attention && on.still_failing).then_some(STILL_FAILING)?,
        Some((Change::New, _)) => (attention && on.new).then_some(NEW)?,
        // Open before a maintenance window and still open after it: the window excused it,
        // and it ended.
        Some((Change::Ongoing, _)) if attention && trend.is_some_and(|t| t.after_maintenance) => {
            on.new.then_some(AFTER_MAINTENANCE)?
        }
        // Acknowledged (or otherwise excused) before, a problem now: the excuse ended.
        Some((Change::Ongoing, Some(previous))) if attention && !previous.meaning().needs_attention => {
            on.new.then_some(ACK_EXPIRED)?
        }
        Some((Change::Ongoing, _)) => {
            let since = trend.map_or(now, |t| t.since);
            (attention && on.still_failing && reminder_due(notifier.remind_every, since, before.previous_run, now))
                .then_some(STILL_FAILING)?
        }
        Some((Change::Recovered { .. }, Some(previous))) => {
            (on.recovered && previous.meaning().needs_attention).then_some(RECOVERED)?
        }
        _ => return None,
    };
    Some(Item {
        check: r.meta.name.clone(),
        change: change.into(),
        status: r.status.as_str().into(),
        severity: r.meta.severity.as_str().into(),
        since: crate::human::moment(trend.map_or(now, |t| t.since)),
        detail: r.detail.clone(),
        hint: r.meta.hint.clone(),
        down_for: match trend.map(|t| t.change) {
            Some(Change::Recovered { down_for }) => Some(crate::human::span(down_for)),
            _ => None,
        },
        urgent: attention && r.status.meaning().exit_code > 1,
    })
}

/// With `remind_every`, an open problem is told when a whole period has passed since the
/// last run's reminder, counted from when it began.
fn reminder_due(every: Option<Duration>, since: SystemTime, previous_run: Option<SystemTime>, now: SystemTime) -> bool {
    let (Some(every), Some(previous)) = (every, previous_run) else { return true };
    let periods = |t: SystemTime| t.duration_since(since).unwrap_or_default().as_secs() / every.as_secs().max(1);
    periods(now) > periods(previous)
}

/// What waits for each notifier (by name), from the state's `outbox`.
pub(crate) type Outbox = BTreeMap<String, Vec<Item>>;

/// The outbox from its JSON in the state; anything unreadable is dropped.
pub(crate) fn outbox_from(value: Option<&serde_json::Value>) -> Outbox {
    value.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// This run's messages: each notifier's news, after what waited for it in the outbox
/// (an older item about a check this run also tells of is superseded).
pub(crate) fn prepare(
    report: &CleanReport,
    notifiers: &[Notifier],
    before: Before,
    mut waiting: Outbox,
) -> Vec<Message> {
    let host = &report.audit().host;
    notifiers
        .iter()
        .filter_map(|n| {
            let fresh = news(report, n, before);
            let mut items: Vec<Item> = waiting.remove(&n.name).unwrap_or_default();
            items.retain(|old| !fresh.iter().any(|f| f.check == old.check));
            items.extend(fresh);
            (!items.is_empty()).then(|| Message {
                notifier: n.clone(),
                title: title(&items, host),
                items,
                report_json: report_json_for(report, n),
                host: host.clone(),
            })
        })
        .collect()
}

/// "2 new problems, 1 recovered on rounds-01".
fn title(items: &[Item], host: &str) -> String {
    let count = |change: &str| items.iter().filter(|i| i.change == change).count();
    let (new, expired, still, recovered) = (count(NEW), count(ACK_EXPIRED), count(STILL_FAILING), count(RECOVERED));
    let mut parts = Vec::new();
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if new > 0 {
        parts.push(plural(new, "new problem", "new problems"));
    }
    if expired > 0 {
        parts.push(plural(expired, "acknowledgement expired", "acknowledgements expired"));
    }
    let after_maintenance = count(AFTER_MAINTENANCE);
    if after_maintenance > 0 {
        parts.push(format!("{after_maintenance} still failing after maintenance"));
    }
    if still > 0 {
        parts.push(plural(still, "problem still open", "problems still open"));
    }
    if recovered > 0 {
        parts.push(format!("{recovered} recovered"));
    }
    let on = if host.is_empty() { String::new() } else { format!(" on {host}") };
    format!("{}{on}", parts.join(", "))
}

/// A test message for `rounds notify --test`.
pub(crate) fn test_message(notifier: &Notifier, host: &str) -> Message {
    let on = if host.is_empty() { String::new() } else { format!(" from {host}") };
    let title = format!("Test message{on}: rounds can reach {}", notifier.name);
    let body = serde_json::json!({ "test": true, "notifier": notifier.name, "message": title });
    Message {
        notifier: notifier.clone(),
        title,
        items: Vec::new(),
        report_json: serde_json::to_vec_pretty(&body).unwrap_or_default(),
        host: host.to_owned(),
    }
}

/// What became of one message.
pub(crate) struct Delivery {
    pub name: String,
    /// `Err(reason)`: not delivered (the reason never holds the URL).
    pub result: Result<(), String>,
    pub items: Vec<Item>,
}

/// Sends every message at once, each within its notifier's timeout and at most `limit`
/// (what is left of `--deadline`).
pub(crate) async fn deliver(messages: Vec<Message>, limit: Option<Duration>) -> Vec<Delivery> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, message) in messages.into_iter().enumerate() {
        tasks.spawn(async move {
            let timeout = limit.map_or(message.notifier.timeout, |l| l.min(message.notifier.timeout));
            let result = match tokio::time::timeout(timeout, send(&message, timeout)).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer in {}", crate::human::limit(timeout))),
            };
            (index, Delivery { name: message.notifier.name.clone(), result, items: message.items })
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(delivery) => done.push(delivery),
            // A panic inside a send is that notifier's failure only; its items are lost
            // for this run (they are not known here) and said in a warning by the caller.
            Err(e) => {
                done.push((usize::MAX, Delivery { name: String::new(), result: Err(e.to_string()), items: vec![] }))
            }
        }
    }
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, d)| d).collect()
}

async fn send(message: &Message, timeout: Duration) -> Result<(), String> {
    let n = &message.notifier;
    match &n.target {
        Target::Http(url) => post(message, url, timeout).await,
        Target::Email(mail) => email::send(message, mail, &n.trust, timeout).await,
    }
}

/// Teams, Slack, ntfy, webhook: one POST.
async fn post(message: &Message, url: &reqwest::Url, timeout: Duration) -> Result<(), String> {
    let n = &message.notifier;
    let (body, headers) = payload::render(message);
    let spec = ClientSpec {
        proxy: n.proxy.clone(),
        connect_timeout: Some(timeout),
        timeout: Some(timeout),
        ..ClientSpec::direct(format!("notify {}", n.name))
    };
    let (client, _) = n.trust.http_client(&spec)?;
    let mut request = client.post(url.clone()).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the service answered {}", r.status())),
        Err(e) if e.is_timeout() => Err(format!("no answer in {}", crate::human::limit(timeout))),
        // The reason at the end of the chain, never the URL (a secret; redacted anyway).
        Err(e) => Err(crate::probe::http::describe_reqwest(&e.without_url())),
    }
}

/// What undelivered news is kept for the next run (by notifier name), and the warnings.
pub(crate) fn outcome(deliveries: Vec<Delivery>) -> (Outbox, Vec<String>) {
    let mut kept = Outbox::new();
    let mut warnings = Vec::new();
    for d in deliveries {
        if let Err(why) = d.result {
            let n = d.items.len();
            let keep = if n == 0 { String::new() } else { format!("; {n} item(s) kept for the next run") };
            warnings.push(format!("notifier {:?} not reached ({why}){keep}", d.name));
            if n > 0 {
                kept.insert(d.name, d.items);
            }
        }
    }
    (kept, warnings)
}

/// Sends `messages` on a runtime of its own (the run's is gone by now) and says what became
/// of them: what to keep for the next run, and one warning per notifier not reached.
pub(crate) fn send_all(messages: Vec<Message>, limit: Option<Duration>) -> (Outbox, Vec<String>) {
    if messages.is_empty() {
        return (Outbox::new(), Vec::new());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let kept = messages.into_iter().map(|m| (m.notifier.name, m.items)).collect();
            return (kept, vec![format!("notifications not sent: cannot start the async runtime: {e}")]);
        }
    };
    let deliveries = runtime.block_on(deliver(messages, limit));
    // Nothing may outlive the run.
    runtime.shutdown_background();
    outcome(deliveries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckMeta, NotifyKind};
    use crate::outcome::{Outcome, Status};
    use crate::runner::results::Trend;

    const HOUR: Duration = Duration::from_secs(3600);

    fn notifier(on: On) -> Notifier {
        Notifier {
            name: "chat".into(),
            kind: NotifyKind::Slack,
            target: Target::Http(reqwest::Url::parse("http://127.0.0.1:9/").unwrap()),
            on,
            remind_every: None,
            checks: Vec::new(),
            covers: None,
            min_severity: Severity::Warning,
            timeout: HOUR,
            proxy: crate::certs::Proxy::Direct,
            token: None,
            secret: None,
            trust: std::sync::Arc::new(crate::certs::Trust::system()),
        }
    }

    fn result(severity: Severity, outcome: Outcome, trend: Option<(Change, Option<Status>)>) -> CheckResult {
        let meta = CheckMeta { name: "PACS".into(), severity, ..CheckMeta::default() };
        let mut r = CheckResult::new(&meta, "endpoint", outcome, Duration::ZERO);
        r.trend = trend.map(|(change, previous)| Trend {
            previous,
            since: SystemTime::UNIX_EPOCH,
            change,
            after_maintenance: false,
        });
        r
    }

    const KNOWN: Before = Before { known: true, previous_run: None };
    const ALL: On = On { new: true, recovered: true, still_failing: true };

    fn change(r: &CheckResult, n: &Notifier, before: Before) -> Option<String> {
        item(r, n, before, SystemTime::UNIX_EPOCH + HOUR).map(|i| i.change)
    }

    #[test]
    fn an_acknowledgement_that_expires_is_news_and_an_acknowledged_problem_is_not() {
        let n = notifier(On { new: true, ..On::default() });
        let expired = result(Severity::Critical, Outcome::fail("down"), Some((Change::Ongoing, Some(Status::Ack))));
        assert_eq!(change(&expired, &n, KNOWN).as_deref(), Some(ACK_EXPIRED));
        let mut acked = result(Severity::Critical, Outcome::fail("down"), Some((Change::New, None)));
        acked.status = Status::Ack;
        assert_eq!(change(&acked, &n, KNOWN), None);
        let ongoing = result(Severity::Critical, Outcome::fail("down"), Some((Change::Ongoing, Some(Status::Fail))));
        assert_eq!(change(&ongoing, &n, KNOWN), None, "still failing is not asked for");
        assert_eq!(change(&ongoing, &notifier(ALL), KNOWN).as_deref(), Some(STILL_FAILING));
    }

    #[test]
    fn a_problem_still_open_when_its_maintenance_window_ends_is_news_once() {
        let n = notifier(On { new: true, recovered: true, ..On::default() });
        let mut after = result(Severity::Critical, Outcome::fail("down"), Some((Change::Ongoing, Some(Status::Fail))));
        assert_eq!(change(&after, &n, KNOWN), None, "an ongoing problem is not news");
        after.trend.as_mut().unwrap().after_maintenance = true;
        assert_eq!(change(&after, &n, KNOWN).as_deref(), Some(AFTER_MAINTENANCE));
        let mut fixed = result(
            Severity::Critical,
            Outcome::pass("ok"),
            Some((Change::Recovered { down_for: HOUR }, Some(Status::Fail))),
        );
        fixed.trend.as_mut().unwrap().after_maintenance = true;
        assert_eq!(change(&fixed, &n, KNOWN).as_deref(), Some(RECOVERED), "fixed in the window: recovered");
        let mut inside = result(Severity::Critical, Outcome::fail("down"), Some((Change::Steady, Some(Status::Fail))));
        inside.status = Status::Maint;
        inside.trend.as_mut().unwrap().after_maintenance = true;
        assert_eq!(change(&inside, &n, KNOWN), None, "inside the window: not news");
        let items =
            [Item { change: AFTER_MAINTENANCE.into(), ..item(&after, &n, KNOWN, SystemTime::UNIX_EPOCH).unwrap() }];
        assert_eq!(title(&items, "rounds-01"), "1 still failing after maintenance on rounds-01");
    }

    #[test]
    fn a_first_run_tells_only_what_is_still_failing_and_only_when_asked() {
        let failing = result(Severity::Critical, Outcome::fail("down"), Some((Change::New, None)));
        let unknown = Before { known: false, previous_run: None };
        assert_eq!(change(&failing, &notifier(On { new: true, recovered: true, ..On::default() }), unknown), None);
        assert_eq!(change(&failing, &notifier(ALL), unknown).as_deref(), Some(STILL_FAILING));
    }

    #[test]
    fn min_severity_critical_leaves_warning_checks_out_and_recoveries_need_a_problem_before() {
        let mut n = notifier(ALL);
        n.min_severity = Severity::Critical;
        let minor = result(Severity::Warning, Outcome::fail("full"), Some((Change::New, None)));
        assert!(!concerns(&n, &minor));
        let recovered = Change::Recovered { down_for: HOUR };
        let back = result(Severity::Critical, Outcome::pass("ok"), Some((recovered, Some(Status::Fail))));
        assert_eq!(change(&back, &n, KNOWN).as_deref(), Some(RECOVERED));
        let was_acked = result(Severity::Critical, Outcome::pass("ok"), Some((recovered, Some(Status::Ack))));
        assert_eq!(change(&was_acked, &n, KNOWN), None, "an acknowledged problem was never told");
    }

    #[test]
    fn a_reminder_comes_once_per_period_since_the_problem_began() {
        let since = SystemTime::UNIX_EPOCH;
        let every = Some(4 * HOUR);
        assert!(reminder_due(every, since, Some(since + 3 * HOUR), since + 5 * HOUR));
        assert!(!reminder_due(every, since, Some(since + 5 * HOUR), since + 6 * HOUR));
        assert!(reminder_due(None, since, Some(since + 5 * HOUR), since + 6 * HOUR), "every run without remind_every");
        assert!(reminder_due(every, since, None, since + HOUR));
    }

    #[test]
    fn the_title_groups_the_changes() {
        let it = |change: &str| Item {
            check: "x".into(),
            change: change.into(),
            status: "fail".into(),
            severity: "critical".into(),
            since: String::new(),
            detail: String::new(),
            hint: None,
            down_for: None,
            urgent: false,
        };
        let items = [it(NEW), it(NEW), it(RECOVERED)];
        assert_eq!(title(&items, "rounds-01"), "2 new problems, 1 recovered on rounds-01");
    }
}
