//! How a run hangs together: dependencies, retries, the deadline, state between runs and
//! the shift record, against real servers the tests turn on and off.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{inventory, reply, verdict};

fn endpoint(name: &str, url: &str, extra: &str) -> String {
    format!("[[endpoint]]\nname = {name:?}\nurl = {url:?}\n{extra}\n")
}

// ---- dependencies -----------------------------------------------------------------------

#[test]
fn a_failed_dependency_skips_its_dependents_with_the_reason() {
    let ok = support::http(|_| reply(200, "ok"));
    let closed = support::closed_port();
    let toml = format!(
        "[[server]]\nname = \"core switch\"\nhost = \"127.0.0.1\"\nports = [{closed}]\ntags = [\"network\"]\n\n{}{}{}",
        endpoint("EHR portal", &ok.url("/"), "depends_on = [\"core switch\"]"),
        endpoint("lab", &ok.url("/lab"), "depends_on = [\"tag:network\"]"),
        endpoint("viewer", &ok.url("/v"), "depends_on = [\"EHR portal\"]"),
    ) + &endpoint("independent", &ok.url("/i"), "");
    let (doc, code) = inventory(&toml).run_json(&[]);
    assert_eq!(
        verdict(&doc, "EHR portal"),
        ("skip".into(), format!("skipped: core switch:{closed} failed (connection refused)"))
    );
    assert_eq!(verdict(&doc, "lab").0, "skip");
    assert_eq!(verdict(&doc, "viewer"), ("skip".into(), "skipped: EHR portal was skipped".into()));
    assert_eq!(verdict(&doc, "independent").0, "pass");
    assert_eq!(doc["summary"]["skip"], 3);
    assert_eq!(code, 2, "the failed dependency fails the run");
}

/// Checks are started a window at a time (four times the concurrency, at least 256):
/// 299 checks that depend on the last one in the file fill any window, and still all run,
/// because what is depended on starts first. (Started in file order, the window would be
/// all waiting for a check never started, until the deadline.)
#[test]
fn dependants_that_fill_the_start_window_never_wait_for_a_check_not_started() {
    let ok = support::http(|_| reply(200, "ok"));
    let mut toml = String::from("[settings]\ndeadline = \"60s\"\n\n");
    for i in 0..299 {
        toml += &endpoint(&format!("ward {i}"), &ok.url(&format!("/{i}")), "depends_on = [\"core\"]");
    }
    toml += &endpoint("core", &ok.url("/core"), "");
    let (doc, code) = inventory(&toml).run_json(&["--concurrency", "1"]);
    assert_eq!(doc["summary"]["pass"], 300, "{}", doc["summary"]);
    assert_eq!(verdict(&doc, "ward 0").0, "pass");
    assert_eq!(code, 0);
}

#[test]
fn a_skip_alone_never_fails_the_gate_and_a_passing_dependency_lets_dependents_run() {
    let ok = support::http(|_| reply(200, "ok"));
    let closed = support::closed_port();
    let toml = format!(
        "[[server]]\nname = \"printer\"\nhost = \"127.0.0.1\"\nports = [{closed}]\nseverity = \"warning\"\n\n\
         [[server]]\nname = \"switch\"\nhost = \"127.0.0.1\"\nports = [{}]\n\n{}{}",
        ok.port(),
        endpoint("print queue", &ok.url("/q"), "depends_on = [\"printer\"]"),
        endpoint("EHR", &ok.url("/"), "depends_on = [\"switch\"]"),
    );
    let (doc, code) = inventory(&toml).run_json(&[]);
    assert_eq!(verdict(&doc, "print queue").0, "skip");
    assert_eq!(verdict(&doc, "EHR").0, "pass");
    assert_eq!(code, 0);
}

#[test]
fn only_brings_the_dependencies_along_and_says_so() {
    let ok = support::http(|_| reply(200, "ok"));
    let toml = format!(
        "[[server]]\nname = \"switch\"\nhost = \"127.0.0.1\"\nports = [{}]\n\n{}{}",
        ok.port(),
        endpoint("EHR", &ok.url("/"), "depends_on = [\"switch\"]"),
        endpoint("other", &ok.url("/o"), ""),
    );
    let output = inventory(&toml).rounds(&["--format", "json", "--only", "EHR"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = doc["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, [format!("switch:{}", ok.port()).as_str(), "EHR"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("also running switch:") && stderr.contains("needed by EHR"), "{stderr}");
}

// ---- retries and the deadline -------------------------------------------------------------

/// A server that answers 500 to its first `failures` requests, then 200.
fn flaky(failures: usize) -> support::Server {
    let seen = Arc::new(AtomicUsize::new(0));
    support::http(
        move |_| {
            if seen.fetch_add(1, Ordering::SeqCst) < failures {
                reply(500, "busy")
            } else {
                reply(200, "ok")
            }
        },
    )
}

#[test]
fn a_pass_on_retry_is_a_warning_that_says_so_and_retries_give_up() {
    let once = flaky(1);
    let always = flaky(usize::MAX);
    let extra = "retries = 2\nretry_delay = \"50ms\"";
    let toml = endpoint("flaky", &once.url("/"), extra) + &endpoint("down", &always.url("/"), extra);
    let (doc, code) = inventory(&toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "flaky");
    assert_eq!(status, "warn");
    assert!(
        detail.starts_with("200 OK in ")
            && detail.ends_with("; passed on attempt 2 of 3 (first: 500 Internal Server Error, expected 2xx)"),
        "{detail}"
    );
    assert_eq!(
        verdict(&doc, "down"),
        ("fail".into(), "500 Internal Server Error, expected 2xx (failed 3 attempts)".into())
    );
    assert_eq!(code, 2);
}

#[test]
fn the_deadline_ends_the_run_with_a_complete_report() {
    let hung = support::silent();
    let ok = support::http(|_| reply(200, "ok"));
    let toml = endpoint("hung", &hung.url("/"), "timeout = \"60s\"") + &endpoint("fine", &ok.url("/"), "");
    let start = Instant::now();
    let (doc, code) = inventory(&toml).run_json(&["--deadline", "1s"]);
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    assert_eq!(verdict(&doc, "hung"), ("fail".into(), "not finished by the 1 s deadline".into()));
    assert_eq!(verdict(&doc, "fine").0, "pass");
    assert_eq!(code, 2);
}

// ---- state between runs ---------------------------------------------------------------------

/// A server the test turns off and on: 200 while up, 503 while down.
fn switchable() -> (support::Server, Arc<std::sync::atomic::AtomicBool>) {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = up.clone();
    let server =
        support::http(move |_| if flag.load(Ordering::SeqCst) { reply(200, "ok") } else { reply(503, "down") });
    (server, up)
}

fn change(doc: &serde_json::Value, name: &str) -> (String, String, String) {
    let c = support::check(doc, name);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("null").to_owned();
    (text(&c["status"]), text(&c["change"]), text(&c["previous_status"]))
}

#[test]
fn new_ongoing_and_recovered_across_runs() {
    let (server, up) = switchable();
    let inv = inventory(&endpoint("EHR", &server.url("/"), ""));
    let state = inv.dir.path().join("rounds-state.json");
    let state_arg = state.display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--state", state_arg.as_str()];
        all.extend(args);
        inv.run_json(&all)
    };
    let (doc, _) = run(&[]);
    assert_eq!(change(&doc, "EHR"), ("pass".into(), "steady".into(), "null".into()));
    up.store(false, Ordering::SeqCst);
    let (doc, code) = run(&[]);
    assert_eq!(change(&doc, "EHR"), ("fail".into(), "new".into(), "pass".into()));
    assert_eq!(code, 2);
    let began = support::check(&doc, "EHR")["since"].clone();
    // The next run must start in a later second, or a "since" that moved would go unseen.
    let unix_now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ended = unix_now();
    support::wait_until("the clock's next second", || unix_now() > ended);
    let (doc, _) = run(&[]);
    assert_eq!(change(&doc, "EHR"), ("fail".into(), "ongoing".into(), "fail".into()));
    assert_eq!(support::check(&doc, "EHR")["since"], began, "the problem began at the first failing run");
    // The table for the next shift: the marker and the summary.
    let table = inv.rounds(&["--state", &state_arg]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("EHR (since "), "{text}");
    // The summary is wrapped at 100 columns: read as one sentence.
    assert!(text.replace('\n', " ").contains("no new problem since the last run at "), "{text}");
    up.store(true, Ordering::SeqCst);
    let (doc, code) = run(&[]);
    assert_eq!(change(&doc, "EHR"), ("pass".into(), "recovered".into(), "fail".into()));
    assert_eq!(code, 0);
    let log = inv.dir.path().join("rounds-state.log.jsonl");
    assert_eq!(std::fs::read_to_string(log).unwrap().lines().count(), 5, "one log line per run");
}

#[test]
fn a_damaged_state_file_is_one_warning_and_a_fresh_start() {
    let (server, _up) = switchable();
    let inv = inventory(&endpoint("EHR", &server.url("/"), ""));
    let state = inv.dir.path().join("s.json");
    for damaged in ["{\"format\":\"rounds-state\",\"version\":1,\"che", "\u{0}\u{1}binary"] {
        std::fs::write(&state, damaged).unwrap();
        let output = inv.rounds(&["--state", &state.display().to_string(), "--format", "json"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
        assert!(stderr.contains("starting fresh"), "{stderr}");
        let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(written["format"], "rounds-state");
        assert_eq!(std::fs::read(inv.dir.path().join("s.json.damaged")).unwrap(), damaged.as_bytes(), "kept");
    }
}

/// A state file of a newer rounds is not damaged: it is left as it is (a format change
/// never wipes a clinic's history), with one warning, and this run is not saved there.
#[test]
fn a_state_file_of_a_newer_rounds_is_left_as_it_is() {
    let (server, _up) = switchable();
    let inv = inventory(&endpoint("EHR", &server.url("/"), ""));
    let state = inv.write("s.json", "{\"format\":\"rounds-state\",\"version\":99}");
    let output = inv.rounds(&["--state", &state.display().to_string(), "--format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("written by a newer rounds (version 99); it is left as it is"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "{\"format\":\"rounds-state\",\"version\":99}");
}

#[test]
fn runs_at_once_never_corrupt_the_state() {
    let (server, _up) = switchable();
    let checks: String = (0..20).map(|i| endpoint(&format!("check {i}"), &server.url(&format!("/{i}")), "")).collect();
    let inv = inventory(&checks);
    let state = inv.dir.path().join("s.json").display().to_string();
    for _ in 0..5 {
        let mut runs: Vec<std::process::Child> = (0..4)
            .map(|_| {
                let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
                c.args(["--config", &inv.path.display().to_string(), "--state", &state, "--quiet"]);
                c.env_remove("HTTP_PROXY").env_remove("http_proxy");
                c.spawn().unwrap()
            })
            .collect();
        for child in &mut runs {
            assert_eq!(child.wait().unwrap().code(), Some(0));
        }
        let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(written["checks"].as_object().map(|c| c.len()), Some(20));
    }
}

#[test]
fn only_updates_only_the_checks_that_ran_and_no_state_writes_nothing() {
    let (server, up) = switchable();
    let inv = inventory(&(endpoint("a", &server.url("/a"), "") + &endpoint("b", &server.url("/b"), "")));
    let state = inv.dir.path().join("s.json");
    let arg = state.display().to_string();
    inv.run_json(&["--state", &arg]);
    up.store(false, Ordering::SeqCst);
    inv.run_json(&["--state", &arg, "--only", "a"]);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(written["checks"]["a"]["status"], "fail");
    assert_eq!(written["checks"]["b"]["status"], "pass", "b did not run");
    let before = std::fs::read(&state).unwrap();
    inv.run_json(&["--state", &arg, "--no-state"]);
    assert_eq!(std::fs::read(&state).unwrap(), before);
}

// ---- the shift record -----------------------------------------------------------------------

/// A week of runs, written by the test in the log's format: what `rounds history` makes of it.
#[test]
fn history_summarises_a_week_of_runs() {
    let inv = inventory("[[disk]]\nname = \"root\"\npath = \"/\"\n");
    let state = inv.dir.path().join("s.json");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let hour = 3600;
    let mut log = String::new();
    for h in (0..=7 * 24u64).rev().filter(|h| h % 6 == 0) {
        let at = now - h * hour;
        let mut problems = Vec::new();
        if (30..=40).contains(&h) {
            problems.push(serde_json::json!({"name": "EHR portal", "status": "fail", "detail": "500 Internal Server Error, expected 2xx"}));
        }
        if h <= 12 {
            problems.push(serde_json::json!({"name": "PACS:104", "status": "fail", "detail": "connection refused"}));
        }
        if h == 150 {
            problems.push(serde_json::json!({"name": "old", "status": "warn", "detail": "slow"}));
        }
        log += &serde_json::json!({"at": at, "duration_ms": 900, "checks": 12, "problems": problems}).to_string();
        log.push('\n');
    }
    std::fs::write(inv.dir.path().join("s.log.jsonl"), log).unwrap();
    let arg = state.display().to_string();
    let text = inv.rounds(&["history", "--state", &arg, "--since", "48h"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.starts_with("Shift record for "), "{text}");
    let open = text.find("Still open (1):\n  FAIL  PACS:104  since ").expect(&text);
    let resolved = text.find("Resolved (1):\n  FAIL  EHR portal  ").expect(&text);
    assert!(open < resolved, "{text}");
    assert!(!text.contains("old"), "outside the window: {text}");
    let json = inv.rounds(&["history", "--state", &arg, "--since", "7days", "--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let episodes = doc["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 3);
    let ehr = episodes.iter().find(|e| e["check"] == "EHR portal").unwrap();
    assert_eq!(ehr["lasted_seconds"], 12 * hour, "began 36 h ago, seen passing 24 h ago");
    assert_eq!(ehr["open"], false);
    let md = inv.rounds(&["history", "--state", &arg, "--check", "PACS:104", "--format", "markdown"]).output().unwrap();
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("| PACS:104 | fail |") && md.contains("still open") && !md.contains("EHR"), "{md}");
}

// ---- open files ---------------------------------------------------------------------------

/// Hundreds of checks at a concurrency the open-file limit cannot hold: rounds lowers it,
/// says so once, and every check is right (once: thousands of "Too many open files").
#[test]
fn a_low_open_file_limit_lowers_concurrency_instead_of_failing_checks() {
    let servers: Vec<support::Server> = (0..3).map(|_| support::http(|_| reply(200, "ok"))).collect();
    let checks: String = (0..300)
        .map(|i| endpoint(&format!("check {i}"), &servers[i % 3].url(&format!("/{i}")), ""))
        .collect::<String>()
        + &format!("[[server]]\nname = \"tcp\"\nhost = \"127.0.0.1\"\nports = [{}]\n", servers[0].port());
    let inv = inventory(&checks);
    let line = format!(
        "ulimit -n 128 && exec {} --config {} --format json --no-state --concurrency 256",
        assert_cmd::cargo::cargo_bin!("rounds").display(),
        inv.path.display()
    );
    let output = std::process::Command::new("sh").args(["-c", &line]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("concurrency lowered from 256 to").count(), 1, "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        doc["summary"]["pass"],
        301,
        "{}",
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] != "pass")
            .map(|c| c["detail"].to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(output.status.code(), Some(0));
}
