//! Notifications ([[notify]]) against a real HTTP server on loopback that records every
//! request: each service's payload in its published shape, the webhook's HMAC, a notifier
//! that hangs and one that answers 500 (one warning each, the exit code unchanged, the news
//! kept and delivered at the next run).

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use support::{inventory, reply, Server};

/// One request as the recorder saw it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A real HTTP/1.1 server that records each request with its body and answers `status`.
fn recorder(status: u16) -> (Server, Log) {
    recording(status, None)
}

/// The same over TLS with `identity`'s certificate.
fn recorder_tls(status: u16, identity: &support::pki::Identity) -> (Server, Log) {
    recording(status, Some(tokio_rustls::TlsAcceptor::from(identity.server_config())))
}

fn recording(status: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> (Server, Log) {
    let log: Log = Arc::default();
    let kept = log.clone();
    let server = support::raw(move |stream| {
        let (log, tls) = (kept.clone(), tls.clone());
        Box::pin(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let log = log.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|c| c.to_bytes().to_vec()).unwrap_or_default();
                    let seen = Seen { path: parts.uri.path().to_owned(), headers: parts.headers, body };
                    log.lock().expect("log").push(seen);
                    Ok::<Response<Full<Bytes>>, Infallible>(reply(status, "ok"))
                }
            });
            match tls {
                None => {
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                }
                // A client that rejects the certificate aborts the handshake: nothing to serve.
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                    }
                }
            }
        })
    });
    (server, log)
}

fn seen(log: &Log, path: &str) -> Vec<Seen> {
    log.lock().expect("log").iter().filter(|s| s.path == path).cloned().collect()
}

/// An endpoint whose answer the test switches between 200 and 500.
fn switchable() -> (Server, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(200));
    let shared = status.clone();
    (support::http(move |_| reply(shared.load(Ordering::SeqCst), "status")), status)
}

fn checks(endpoint: &Server) -> String {
    format!("[[endpoint]]\nname = \"PACS\"\nurl = {:?}\nhint = \"call the PACS vendor\"\n\n", endpoint.url("/health"))
}

fn notifier(name: &str, kind: &str, url: &str, extra: &str) -> String {
    format!("[[notify]]\nname = {name:?}\nkind = {kind:?}\nurl = {url:?}\n{extra}\n\n")
}

fn hex_hmac(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_new_problem_and_its_recovery_reach_every_kind_in_its_published_shape() {
    let (endpoint, status) = switchable();
    let (peer, log) = recorder(200);
    let toml = checks(&endpoint)
        + &notifier("chat", "slack", &peer.url("/slack"), "")
        + &notifier("IT on call", "teams", &peer.url("/teams"), "")
        + &notifier("phones", "ntfy", &peer.url("/rounds"), "token = \"${NTFY_TOKEN}\"")
        + &notifier("ticketing", "webhook", &peer.url("/hook"), "secret = \"${HOOK_SECRET}\"");
    let inv = inventory(&toml);
    let run = || {
        let out = inv
            .rounds(&["--format", "json"])
            .env("NTFY_TOKEN", "tk_canary_token_123")
            .env("HOOK_SECRET", "hook-canary-secret")
            .output()
            .expect("run");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // A first run knows nothing to be new: nothing is sent.
    assert_eq!(run().0, Some(0));
    assert!(log.lock().unwrap().is_empty(), "a first run sends nothing");

    status.store(500, Ordering::SeqCst);
    let (code, stderr) = run();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    let slack = seen(&log, "/slack");
    assert_eq!(slack.len(), 1, "one message per run and notifier");
    let doc = slack[0].json();
    assert!(doc["text"].as_str().unwrap().starts_with("1 new problem"), "{doc}");
    assert_eq!(doc["blocks"][0]["type"], "header");
    assert_eq!(doc["blocks"][0]["text"]["type"], "plain_text");
    let line = doc["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(line.starts_with("PACS: fail since ") && line.contains("(new, critical)"), "{line}");
    assert!(line.contains("Hint: call the PACS vendor"), "{line}");

    let teams = seen(&log, "/teams")[0].json();
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][0]["type"], "TextBlock");
    assert!(card["content"]["body"][1]["text"].as_str().unwrap().starts_with("PACS: fail"));

    let ntfy = &seen(&log, "/rounds")[0];
    assert_eq!(ntfy.header("authorization"), "Bearer tk_canary_token_123");
    assert_eq!(ntfy.header("priority"), "urgent", "a critical failure");
    assert!(ntfy.header("title").starts_with("1 new problem"));
    assert!(ntfy.header("tags").contains("rotating_light"));
    assert!(ntfy.text().contains("PACS: fail since"));

    let hook = &seen(&log, "/hook")[0];
    let signature = hook.header("x-rounds-signature");
    assert_eq!(signature, format!("sha256={}", hex_hmac("hook-canary-secret", &hook.body)), "HMAC of the body");
    assert_ne!(signature, format!("sha256={}", hex_hmac("another secret", &hook.body)));
    let report = hook.json();
    assert_eq!(support::verdict(&report, "PACS").0, "fail", "the JSON report's schema");
    for s in log.lock().unwrap().iter() {
        assert!(!s.text().contains("canary"), "no secret in a payload: {}", s.text());
    }

    // Still failing: not news again (on defaults to new and recovered).
    let before = log.lock().unwrap().len();
    run();
    assert_eq!(log.lock().unwrap().len(), before, "an ongoing problem is not news");

    status.store(200, Ordering::SeqCst);
    assert_eq!(run().0, Some(0));
    let slack = seen(&log, "/slack");
    assert_eq!(slack.len(), 2);
    assert!(slack[1].json()["text"].as_str().unwrap().starts_with("1 recovered"), "{}", slack[1].text());
    assert!(
        slack[1].text().contains("PACS: pass since ") && slack[1].text().contains("(recovered after "),
        "{}",
        slack[1].text()
    );
    assert_eq!(seen(&log, "/rounds")[1].header("priority"), "default");
}

#[test]
fn a_notifier_that_hangs_costs_one_warning_and_its_news_comes_at_the_next_run() {
    let (endpoint, status) = switchable();
    let hung = support::silent();
    let toml = |url: &str| checks(&endpoint) + &notifier("chat", "slack", url, "timeout = \"1s\"");
    let inv = inventory(&toml(&hung.url("/slack")));
    assert_eq!(inv.rounds(&[]).output().unwrap().status.code(), Some(0));
    status.store(500, Ordering::SeqCst);
    let out = inv.rounds(&["--format", "json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "the exit code is the checks' alone");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report is whole");
    assert_eq!(support::verdict(&report, "PACS").0, "fail");
    let warnings: Vec<_> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("\"chat\" not reached (no answer in 1 s") && warnings[0].contains("kept"), "{stderr}");
    assert!(!stderr.contains(&format!(":{}", hung.port())), "the URL is a secret: {stderr}");

    // The service is back: the kept news arrives with the next run's (which has none).
    let (peer, log) = recorder(200);
    std::fs::write(&inv.path, toml(&peer.url("/slack"))).unwrap();
    let out = inv.rounds(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let slack = seen(&log, "/slack");
    assert_eq!(slack.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(slack[0].json()["text"].as_str().unwrap().starts_with("1 new problem"), "{}", slack[0].text());
    // Delivered: not sent again.
    inv.rounds(&[]).output().unwrap();
    assert_eq!(seen(&log, "/slack").len(), 1);
}

#[test]
fn a_notifier_that_answers_500_is_one_warning_and_the_exit_code_stays() {
    let (endpoint, status) = switchable();
    let (peer, log) = recorder(500);
    let inv = inventory(&(checks(&endpoint) + &notifier("phones", "ntfy", &peer.url("/t"), "")));
    inv.rounds(&[]).output().unwrap();
    status.store(500, Ordering::SeqCst);
    let out = inv.rounds(&[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(seen(&log, "/t").len(), 1);
    let warnings: Vec<_> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("answered 500"), "{stderr}");
}

#[test]
fn without_state_nothing_is_sent_and_it_is_said() {
    let (endpoint, status) = switchable();
    status.store(500, Ordering::SeqCst);
    let (peer, log) = recorder(200);
    let inv = inventory(&(checks(&endpoint) + &notifier("chat", "slack", &peer.url("/s"), "on = [\"still_failing\"]")));
    let out = inv.rounds(&["--no-state"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no notifications are sent without state"));
    assert!(log.lock().unwrap().is_empty());
    // With state and still_failing, a first run tells what is failing.
    inv.rounds(&[]).output().unwrap();
    let s = seen(&log, "/s");
    assert_eq!(s.len(), 1);
    assert!(s[0].json()["text"].as_str().unwrap().starts_with("1 problem still open"), "{}", s[0].text());
}

#[test]
fn notify_test_sends_to_each_or_one_and_says_what_happened() {
    let (endpoint, _status) = switchable();
    let (peer, log) = recorder(200);
    let hung = support::closed_port();
    let toml = checks(&endpoint)
        + &notifier("chat", "slack", &peer.url("/s"), "")
        + &notifier("dead", "teams", &format!("http://127.0.0.1:{hung}/t"), "timeout = \"2s\"");
    let inv = inventory(&toml);
    let out = inv.rounds(&["notify", "--test", "chat"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("sent a test message to \"chat\""), "{stdout}");
    assert_eq!(seen(&log, "/s").len(), 1);
    let out = inv.rounds(&["notify", "--test"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not sent: notifier \"dead\" not reached"), "{stdout}");
    assert_eq!(seen(&log, "/s").len(), 2);
}

#[test]
fn a_notify_table_with_a_mistake_is_an_error_at_its_place() {
    let (endpoint, _status) = switchable();
    for (extra, wanted) in [
        ("kind = \"pager\"", "unknown notifier kind"),
        ("on = [\"sometimes\"]", "on takes"),
        ("remind_every = \"4h\"", "remind_every needs"),
        ("checks = [\"nothing\"]", "nothing"),
    ] {
        let mut toml = checks(&endpoint) + "[[notify]]\nname = \"n\"\nurl = \"http://127.0.0.1:9/x\"\n" + extra + "\n";
        if !extra.starts_with("kind") {
            toml += "kind = \"slack\"\n";
        }
        let inv = inventory(&toml);
        let out = inv.rounds(&["validate"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{extra}: {stderr}");
        assert!(stderr.contains(wanted) && stderr.contains("checks.toml:"), "{extra}: {stderr}");
    }
}

#[test]
fn an_https_service_of_a_private_ca_is_reached_with_its_ca_file_and_only_so() {
    let ca = support::pki::Ca::root("clinic CA");
    let (peer, log) = recorder_tls(200, &ca.leaf(&["localhost"], -1, 90));
    let url = peer.https_url("localhost", "/alerts");
    let (endpoint, _status) = switchable();
    let toml = checks(&endpoint)
        + &notifier("trusted", "ntfy", &url, "ca_file = \"ca.pem\"")
        + &notifier("untrusted", "ntfy", &url, "");
    let inv = inventory(&toml);
    inv.write("ca.pem", &ca.pem);
    let out = inv.rounds(&["notify", "--test"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sent a test message to \"trusted\""), "{stdout}");
    assert!(stdout.contains("not sent: notifier \"untrusted\" not reached"), "{stdout}");
    assert!(stdout.contains("certificate"), "the reason, not reqwest's \"error sending request\": {stdout}");
    assert_eq!(out.status.code(), Some(1));
    let got = seen(&log, "/alerts");
    assert_eq!(got.len(), 1, "the untrusted one never finished its handshake");
    assert_eq!(got[0].header("tags"), "test_tube,rounds");
}

#[test]
fn a_hung_notifier_is_given_up_within_the_runs_deadline() {
    let (endpoint, status) = switchable();
    let hung = support::silent();
    let inv = inventory(&(checks(&endpoint) + &notifier("chat", "slack", &hung.url("/s"), "timeout = \"2m\"")));
    inv.rounds(&[]).output().unwrap();
    status.store(500, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let out = inv.rounds(&["--deadline", "2s"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("\"chat\" not reached (no answer in"), "{stderr}");
    // Far below the notifier's own 2 minutes, with room for a loaded machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
}
