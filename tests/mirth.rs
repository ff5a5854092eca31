//! `[[mirth]]` against a stand-in for the interface engine's REST API.
//!
//! Mirth Connect / NextGen Connect is commercial Java that cannot be installed here, so this
//! stand-in is built from its published REST API and its public source
//! (nextgenhealthcare/connect): `UserServlet` (form login on `POST /api/users/_login`, 401
//! with a LoginStatus on a wrong password, a JSESSIONID cookie, `POST /api/users/_logout`),
//! `RequestedWithFilter` (400 "All requests must have 'X-Requested-With' header"),
//! `ChannelStatusServletInterface` (`GET /api/channels/statuses`) and the `DashboardStatus`
//! model, answered in the JSON shape the engine's XStream converter produces: a list of one
//! is an object, numbers may be strings, a channel with no errors has no ERROR entry.

mod support;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;

use support::{inventory, Inventory};

const USER: &str = "rounds";
/// With `&` and `=`, which only survive a login form that is encoded properly.
const PASSWORD: &str = "Hl7&Lab=Secret";
/// base64 of "rounds:Hl7&Lab=Secret".
const BASIC: &str = "Basic cm91bmRzOkhsNyZMYWI9U2VjcmV0";

#[derive(Clone)]
struct ChannelState {
    id: &'static str,
    name: &'static str,
    state: &'static str,
    queued: u64,
    errors: u64,
}

/// What the stand-in engine holds, shared with the test that changes it between runs.
struct Engine {
    channels: Vec<ChannelState>,
    sessions: HashSet<String>,
    logins: usize,
    logouts: usize,
    /// Whether `Authorization: Basic` is accepted (as by an engine or proxy that takes it).
    basic: bool,
}

fn engine(channels: Vec<ChannelState>) -> Arc<Mutex<Engine>> {
    Arc::new(Mutex::new(Engine { channels, sessions: HashSet::new(), logins: 0, logouts: 0, basic: false }))
}

fn clinic_channels() -> Vec<ChannelState> {
    vec![
        ChannelState { id: "3f1c", name: "ADT to LIS", state: "STARTED", queued: 0, errors: 5 },
        ChannelState { id: "9a2e", name: "ORU from lab", state: "STARTED", queued: 12, errors: 0 },
    ]
}

fn respond(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

/// `application/x-www-form-urlencoded` decoding, as the servlet container does it.
fn form_value(body: &str, key: &str) -> Option<String> {
    let raw = body.split('&').find_map(|pair| pair.strip_prefix(&format!("{key}=")))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `DashboardStatus` list as the engine's JSON shows it.
fn statuses(channels: &[ChannelState]) -> String {
    let status = |c: &ChannelState| {
        let mut entries = vec![json!({"com.mirth.connect.donkey.model.message.Status": "RECEIVED", "long": 1000})];
        if c.errors > 0 {
            // Numbers sometimes arrive as strings.
            entries
                .push(json!({"com.mirth.connect.donkey.model.message.Status": "ERROR", "long": c.errors.to_string()}));
        }
        json!({
            "@class": "com.mirth.connect.model.DashboardStatus",
            "channelId": c.id, "name": c.name, "state": c.state,
            "deployedRevisionDelta": 0,
            "deployedDate": {"time": 1764054000000u64, "timezone": "Europe/Berlin"},
            "statistics": {"@class": "java.util.EnumMap", "@enum-type": "com.mirth.connect.donkey.model.message.Status", "entry": entries},
            "childStatuses": "",
            "metaDataId": 0, "queueEnabled": false, "queued": c.queued, "waitForPrevious": false,
            "statusType": "CHANNEL"
        })
    };
    let list = match channels {
        [] => json!(""),
        [one] => json!({"dashboardStatus": status(one)}),
        many => json!({"dashboardStatus": many.iter().map(status).collect::<Vec<_>>()}),
    };
    json!({ "list": list }).to_string()
}

async fn answer(engine: Arc<Mutex<Engine>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if header("x-requested-with").is_none_or(|v| v.trim().is_empty()) {
        return respond(400, "All requests must have 'X-Requested-With' header".into());
    }
    let cookie = header("cookie").and_then(|c| c.strip_prefix("JSESSIONID=").map(str::to_owned));
    let authorization = header("authorization");
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut engine = engine.lock().unwrap();
    match (method.as_str(), path.as_str()) {
        ("POST", "/api/users/_login") => {
            engine.logins += 1;
            let ok = form_value(&body, "username").as_deref() == Some(USER)
                && form_value(&body, "password").as_deref() == Some(PASSWORD);
            if !ok {
                let status = json!({"com.mirth.connect.model.LoginStatus": {"status": "FAIL", "message": "Incorrect username or password."}});
                return respond(401, status.to_string());
            }
            let session = format!("node0{}x{}", engine.logins, std::process::id());
            engine.sessions.insert(session.clone());
            let status = json!({"com.mirth.connect.model.LoginStatus": {"status": "SUCCESS", "message": null, "updatedUsername": null}});
            let mut response = respond(200, status.to_string());
            let cookie = format!("JSESSIONID={session}; Path=/api; HttpOnly");
            response.headers_mut().insert("set-cookie", cookie.parse().unwrap());
            response
        }
        ("POST", "/api/users/_logout") => {
            if let Some(session) = cookie {
                engine.sessions.remove(&session);
            }
            engine.logouts += 1;
            respond(204, String::new())
        }
        ("GET", "/api/channels/statuses") => {
            let by_session = cookie.is_some_and(|c| engine.sessions.contains(&c));
            let by_basic = engine.basic && authorization.as_deref() == Some(BASIC);
            if !(by_session || by_basic) {
                return respond(401, String::new());
            }
            respond(200, statuses(&engine.channels))
        }
        _ => respond(404, String::new()),
    }
}

/// The stand-in on a free loopback port.
fn mirth(engine: &Arc<Mutex<Engine>>) -> support::Server {
    let engine = engine.clone();
    support::raw(move |stream| {
        let engine = engine.clone();
        Box::pin(async move {
            let service = hyper::service::service_fn(move |request| {
                let engine = engine.clone();
                async move { Ok::<_, Infallible>(answer(engine, request).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        })
    })
}

fn check(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[mirth]]\nname = {name:?}\nbase = \"http://127.0.0.1:{port}\"\nusername = \"${{MIRTH_USER}}\"\n\
         password = \"${{MIRTH_PASSWORD}}\"\ntimeout = \"5s\"\n{extra}\n"
    )
}

/// Runs with the credentials in the environment; the JSON report, the exit code and all
/// output (to look for the password).
fn run(inv: &Inventory, password: &str, args: &[&str]) -> (serde_json::Value, i32, String) {
    let output = inv
        .rounds(&["--format", "json"])
        .args(args)
        .env("MIRTH_USER", USER)
        .env("MIRTH_PASSWORD", password)
        .output()
        .expect("run rounds");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let all = stdout + &String::from_utf8_lossy(&output.stderr);
    (doc, output.status.code().unwrap_or(-1), all)
}

#[test]
fn started_channels_pass_and_the_session_is_logged_out() {
    let state = engine(clinic_channels());
    let server = mirth(&state);
    let inv = inventory(&check("engine", server.port(), "max_queued = 50\nmax_new_errors = 0"));
    let (doc, code, _) = run(&inv, PASSWORD, &["--no-state"]);
    let (status, detail) = support::verdict(&doc, "engine");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("engine answered in "), "{detail}");
    assert!(
        detail.ends_with(": 2 channels STARTED, 12 messages queued, error counts recorded for the next run"),
        "{detail}"
    );
    let engine = state.lock().unwrap();
    assert_eq!((engine.logins, engine.logouts), (1, 1));
    assert!(engine.sessions.is_empty(), "the session was left open");
}

#[test]
fn a_paused_channel_and_a_long_queue_fail_by_name() {
    let mut channels = clinic_channels();
    channels[1].state = "PAUSED";
    channels[1].queued = 412;
    let state = engine(channels);
    let server = mirth(&state);
    let checks = check("all", server.port(), "max_queued = 50")
        + &check("adt only", server.port(), "channels = [\"ADT to LIS\"]\nmax_queued = 50")
        + &check("billing", server.port(), "channels = [\"ADT to LIS\", \"Billing export\"]");
    let inv = inventory(&checks);
    let (doc, code, _) = run(&inv, PASSWORD, &["--no-state"]);
    assert_eq!(
        support::verdict(&doc, "all"),
        ("fail".into(), "'ORU from lab' is PAUSED; 412 messages queued on 'ORU from lab', limit 50".into())
    );
    let (status, detail) = support::verdict(&doc, "adt only");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains(": 'ADT to LIS' STARTED, 0 messages queued"), "{detail}");
    assert_eq!(support::verdict(&doc, "billing"), ("fail".into(), "'Billing export' is not deployed".into()));
    assert_eq!(code, 2);
}

#[test]
fn errors_that_grew_since_the_last_run_fail_once() {
    let state = engine(clinic_channels());
    let server = mirth(&state);
    let inv = inventory(&check("engine", server.port(), "max_new_errors = 0"));
    let (doc, _, _) = run(&inv, PASSWORD, &[]);
    assert_eq!(support::verdict(&doc, "engine").0, "pass");

    state.lock().unwrap().channels[0].errors += 7;
    let (doc, code, _) = run(&inv, PASSWORD, &[]);
    let (status, detail) = support::verdict(&doc, "engine");
    assert_eq!((status.as_str(), code), ("fail", 2), "{detail}");
    assert!(detail.starts_with("7 new errors on 'ADT to LIS' since "), "{detail}");
    assert!(detail.ends_with(" UTC"), "{detail}");

    // Nothing new since: the errors already reported are not news twice.
    let (doc, _, _) = run(&inv, PASSWORD, &[]);
    let (status, detail) = support::verdict(&doc, "engine");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains(", no new errors since "), "{detail}");

    // The engine's statistics reset (fewer errors than before): the new count is all new.
    state.lock().unwrap().channels[0].errors = 1;
    let (doc, _, _) = run(&inv, PASSWORD, &[]);
    assert!(support::verdict(&doc, "engine").1.starts_with("1 new error on 'ADT to LIS' since "));
}

#[test]
fn a_wrong_password_is_said_and_never_shown() {
    let state = engine(clinic_channels());
    let server = mirth(&state);
    let inv = inventory(&check("engine", server.port(), ""));
    let (doc, code, output) = run(&inv, "Wrong&Secret-42", &["--no-state"]);
    assert_eq!(
        support::verdict(&doc, "engine"),
        ("fail".into(), "the engine refused the login: wrong username or password".into())
    );
    assert_eq!(code, 2);
    assert!(!output.contains("Wrong&Secret-42") && !output.contains("Wrong%26Secret"), "{output}");
}

#[test]
fn basic_login_is_used_where_the_engine_takes_it() {
    let state = engine(clinic_channels());
    let server = mirth(&state);
    let inv = inventory(&check("engine", server.port(), "login = \"basic\""));
    let (doc, _, _) = run(&inv, PASSWORD, &["--no-state"]);
    assert_eq!(
        support::verdict(&doc, "engine"),
        ("fail".into(), "the engine refused basic authentication (wrong password, or use login = \"session\")".into())
    );
    state.lock().unwrap().basic = true;
    let (doc, _, _) = run(&inv, PASSWORD, &["--no-state"]);
    assert_eq!(support::verdict(&doc, "engine").0, "pass");
    assert_eq!(state.lock().unwrap().logins, 0, "basic authentication never logs in");
}

#[test]
fn an_engine_down_or_without_channels_fails() {
    let down = support::closed_port();
    let state = engine(Vec::new());
    let server = mirth(&state);
    let inv = inventory(&(check("down", down, "") + &check("empty", server.port(), "")));
    let (doc, _, _) = run(&inv, PASSWORD, &["--no-state"]);
    assert_eq!(support::verdict(&doc, "down"), ("fail".into(), "connection refused".into()));
    let (status, detail) = support::verdict(&doc, "empty");
    assert_eq!(status, "fail");
    assert!(detail.ends_with(", but has no channel deployed"), "{detail}");
}

/// Two checks of one engine that differ only in their timeout each keep their own: the
/// HTTP client they share is keyed by everything it is built from. (The second once used
/// the first one's 1 s connect timeout, and said so after 1 s instead of 3.)
#[test]
fn checks_of_one_engine_keep_their_own_timeouts() {
    let Some((port, _held)) = support::unaccepting() else { return };
    let check = |name: &str, timeout: &str| {
        format!(
            "[[mirth]]\nname = {name:?}\nbase = \"http://127.0.0.1:{port}\"\nusername = \"${{MIRTH_USER}}\"\n\
             password = \"${{MIRTH_PASSWORD}}\"\ntimeout = {timeout:?}\n"
        )
    };
    let inv = inventory(&(check("quick", "1s") + &check("patient", "3s")));
    let (doc, _, _) = run(&inv, PASSWORD, &["--no-state", "--concurrency", "1"]);
    assert_eq!(support::verdict(&doc, "quick"), ("fail".into(), "the engine did not answer in 1 s".into()));
    assert_eq!(support::verdict(&doc, "patient"), ("fail".into(), "the engine did not answer in 3 s".into()));
}
