//! `[[endpoint]]` and `[[fhir]]` against real HTTP and HTTPS servers started by each test.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::pki::{self, Ca};
use support::{inventory, redirect, reply, verdict, Inventory};

fn endpoint(name: &str, url: &str, extra: &str) -> String {
    format!("[[endpoint]]\nname = {name:?}\nurl = {url:?}\n{extra}\n")
}

/// An inventory whose `ca_file` is `ca`.
fn with_ca(ca: &Ca, body: &str) -> Inventory {
    let inv = inventory(body);
    inv.write("ca.pem", &ca.pem);
    inv
}

#[test]
fn healthy_endpoint_passes_with_status_and_latency() {
    let server = support::http(|_| reply(200, "status: OK"));
    let inv = inventory(&endpoint("EHR", &server.url("/health"), "contains = \"OK\""));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "EHR");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.starts_with("200 OK in "), "{detail}");
}

#[test]
fn wrong_status_fails_and_says_what_was_expected() {
    let server = support::http(|_| reply(500, "boom"));
    let inv = inventory(&endpoint("EHR", &server.url("/"), ""));
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "EHR"), ("fail".into(), "500 Internal Server Error, expected 2xx".into()));
    assert_eq!(code, 2);
}

#[test]
fn expect_status_lists_the_accepted_codes() {
    let server = support::http(|_| reply(200, ""));
    let inv = inventory(&endpoint("api", &server.url("/"), "expect_status = [204, 401]"));
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "api").1, "200 OK, expected 204 or 401");
}

#[test]
fn missing_text_fails() {
    let server = support::http(|_| reply(200, "maintenance mode"));
    let inv = inventory(&endpoint("portal", &server.url("/"), "contains = \"Welcome\""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "portal");
    assert_eq!(status, "fail");
    assert!(detail.contains("does not contain \"Welcome\""), "{detail}");
}

#[test]
fn head_requests_and_slow_answers_warn_past_warn_latency() {
    let server = support::http(|req| {
        assert_eq!(req.method(), "HEAD");
        std::thread::sleep(Duration::from_millis(150));
        reply(200, "")
    });
    let inv = inventory(&endpoint("slow", &server.url("/"), "method = \"HEAD\"\nwarn_latency = \"50ms\""));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "slow");
    assert_eq!((status.as_str(), code), ("warn", 0), "{detail}");
    assert!(detail.contains("slower than 50 ms"), "{detail}");
}

#[test]
fn closed_port_is_connection_refused() {
    let url = format!("http://127.0.0.1:{}/", support::closed_port());
    let inv = inventory(&endpoint("down", &url, ""));
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "down"), ("fail".into(), "connection refused".into()));
    assert_eq!(code, 2);
}

#[test]
fn unresolvable_host_is_a_dns_failure() {
    let inv = inventory(&endpoint("nowhere", "http://no-such-host.invalid/", ""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "nowhere");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("DNS lookup failed for no-such-host.invalid"), "{detail}");
}

#[test]
fn a_server_that_never_answers_fails_at_the_timeout() {
    let server = support::silent();
    let inv = inventory(&endpoint("hung", &server.url("/"), "timeout = \"1s\""));
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "hung"), ("fail".into(), "connected, but no answer in 1 s".into()));
}

/// A server whose accept queue is full: the handshake never completes, so the step that
/// hung is the connection itself.
#[test]
fn a_server_that_never_accepts_is_no_connection() {
    let Some((port, _held)) = support::unaccepting() else { return };
    let url = format!("http://127.0.0.1:{port}/");
    let toml = endpoint("web", &url, "timeout = \"2s\"")
        + &format!("[[server]]\nname = \"tcp\"\nhost = \"127.0.0.1\"\nports = [{port}]\ntimeout = \"2s\"\n");
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert_eq!(verdict(&doc, "web"), ("fail".into(), "no connection in 2 s".into()));
    assert_eq!(verdict(&doc, &format!("tcp:{port}")), ("fail".into(), "no connection in 2 s".into()));
}

#[test]
fn a_body_that_stops_arriving_fails_at_the_timeout() {
    let server = support::stalled_body();
    let inv = inventory(&endpoint("stalled", &server.url("/"), "timeout = \"1s\""));
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "stalled"), ("fail".into(), "200 OK but the body was still arriving after 1 s".into()));
}

#[test]
fn a_body_past_max_body_is_not_a_failure_without_an_assertion() {
    let server = support::endless_body();
    let inv = inventory(&endpoint("firehose", &server.url("/"), "max_body = \"256 KiB\"\ntimeout = \"20s\""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "firehose");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.starts_with("200 OK in "), "{detail}");
}

#[test]
fn an_assertion_looks_only_at_the_first_max_body_bytes_and_says_so() {
    let big = format!("start{}needle", "x".repeat(4 << 20));
    let server = support::http(move |_| reply(200, &big));
    let endless = support::endless_body();
    let limit = "max_body = \"1 MiB\"\ncontains = ";
    let toml = endpoint("early", &server.url("/"), &format!("{limit}\"start\""))
        + &endpoint("late", &server.url("/"), &format!("{limit}\"needle\""))
        + &endpoint("endless", &endless.url("/"), &format!("{limit}\"needle\"\ntimeout = \"20s\""));
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert_eq!(verdict(&doc, "early").0, "pass", "{:?}", verdict(&doc, "early"));
    let (status, detail) = verdict(&doc, "late");
    assert_eq!(status, "fail");
    assert!(
        detail.ends_with(
            "but \"needle\" was not found in the first 1.0 MiB of a 4.0 MiB body; raise max_body to look further"
        ),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "endless");
    assert_eq!(status, "fail");
    assert!(detail.contains("not found in the first 1.0 MiB of a larger body"), "{detail}");
}

#[test]
fn a_redirect_loop_is_named_as_a_loop() {
    let server = support::http(|req| match req.uri().path() {
        "/a" => redirect("/b"),
        _ => redirect("/a"),
    });
    let inv = inventory(&endpoint("loop", &server.url("/a"), ""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "loop");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("redirect loop: "), "{detail}");
    assert!(detail.contains("/a -> ") && detail.contains("/b -> "), "{detail}");
}

#[test]
fn too_many_redirects_fail() {
    let server = support::http(|req| {
        let n: u32 = req.uri().path().trim_start_matches("/r").parse().unwrap_or(0);
        redirect(&format!("/r{}", n + 1))
    });
    let inv = inventory(&endpoint("chain", &server.url("/r0"), "max_redirects = 2"));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "chain");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("too many redirects: more than 2"), "{detail}");
}

#[test]
fn redirects_within_the_limit_are_followed() {
    let server = support::http(|req| match req.uri().path() {
        "/old" => redirect("/new"),
        _ => reply(200, "ok"),
    });
    let inv = inventory(&endpoint("moved", &server.url("/old"), ""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "moved");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("after 1 redirect"), "{detail}");
}

#[test]
fn fifty_hanging_endpoints_take_about_one_timeout_not_fifty() {
    let server = support::silent();
    let checks: String = (0..50).map(|i| endpoint(&format!("hung {i}"), &server.url("/"), "")).collect();
    let inv = inventory(&format!("[settings]\ntimeout = \"1s\"\n{checks}"));
    let start = Instant::now();
    let (doc, code) = inv.run_json(&[]);
    let took = start.elapsed();
    assert_eq!(doc["summary"]["fail"], 50);
    assert_eq!(code, 2);
    // Sequential would be 50 s; allow a loaded machine plenty of slack above 1 s.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

// ---- HTTPS ----------------------------------------------------------------------------

#[test]
fn https_with_a_trusted_certificate_reports_days_left() {
    let ca = Ca::root("Test Clinic CA");
    let server = support::https(&ca.leaf(&["localhost"], -1, 90), |_| reply(200, "ok"));
    let inv = with_ca(&ca, &endpoint("portal", &server.https_url("localhost", "/"), "ca_file = \"ca.pem\""));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "portal");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.contains("certificate expires in 90 days"), "{detail}");
}

#[test]
fn https_certificate_close_to_expiry_warns_then_fails() {
    let ca = Ca::root("Test Clinic CA");
    let soon = support::https(&ca.leaf(&["localhost"], -1, 20), |_| reply(200, "ok"));
    let sooner = support::https(&ca.leaf(&["localhost"], -1, 5), |_| reply(200, "ok"));
    let checks = endpoint("soon", &soon.https_url("localhost", "/"), "ca_file = \"ca.pem\"")
        + &endpoint("sooner", &sooner.https_url("localhost", "/"), "ca_file = \"ca.pem\"");
    let inv = with_ca(&ca, &checks);
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "soon");
    assert_eq!(status, "warn");
    assert!(detail.contains("certificate expires in 20 days") && detail.contains("warn below 30 days"), "{detail}");
    let (status, detail) = verdict(&doc, "sooner");
    assert_eq!(status, "fail");
    assert!(detail.contains("certificate expires in 5 days") && detail.contains("limit 7 days"), "{detail}");
    assert_eq!(code, 2);
}

#[test]
fn https_expired_certificate_is_said_as_such() {
    let ca = Ca::root("Test Clinic CA");
    let server = support::https(&ca.leaf(&["localhost"], -30, -3), |_| reply(200, "ok"));
    let inv = with_ca(&ca, &endpoint("old", &server.https_url("localhost", "/"), "ca_file = \"ca.pem\""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "old");
    assert_eq!(status, "fail");
    assert!(
        detail.starts_with("certificate expired 2 days ago") || detail.starts_with("certificate expired 3 days ago"),
        "{detail}"
    );
}

#[test]
fn https_self_signed_certificate_is_said_as_such() {
    let server = support::https(&pki::self_signed(&["localhost"]), |_| reply(200, "ok"));
    let inv = inventory(&endpoint("selfie", &server.https_url("localhost", "/"), ""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "selfie");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("self-signed certificate"), "{detail}");
}

#[test]
fn https_untrusted_issuer_is_said_as_such() {
    let unknown = Ca::root("Some Other CA");
    let server = support::https(&unknown.leaf(&["localhost"], -1, 90), |_| reply(200, "ok"));
    let inv = inventory(&endpoint("untrusted", &server.https_url("localhost", "/"), ""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail");
    assert!(detail.contains("issuer \"Some Other CA\" is not a trusted CA"), "{detail}");
}

#[test]
fn https_hostname_mismatch_is_said_as_such() {
    let ca = Ca::root("Test Clinic CA");
    let server = support::https(&ca.leaf(&["ehr.other.example"], -1, 90), |_| reply(200, "ok"));
    let inv = with_ca(&ca, &endpoint("mismatch", &server.https_url("localhost", "/"), "ca_file = \"ca.pem\""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "mismatch");
    assert_eq!(status, "fail");
    assert_eq!(detail, "hostname mismatch: certificate is for ehr.other.example, not localhost");
}

#[test]
fn an_intermediate_that_expires_first_is_named() {
    let root = Ca::root("Test Root CA");
    let issuing = root.intermediate("Test Issuing CA", 4);
    let server = support::https(&issuing.leaf(&["localhost"], -1, 90), |_| reply(200, "ok"));
    let inv = inventory(&endpoint("chain", &server.https_url("localhost", "/"), "ca_file = \"ca.pem\""));
    inv.write("ca.pem", &root.pem);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "chain");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("intermediate \"Test Issuing CA\" expires in 4 days"), "{detail}");
}

#[test]
fn the_certificate_of_a_redirect_hop_counts() {
    let ca = Ca::root("Test Clinic CA");
    let secure = support::https(&ca.leaf(&["localhost"], -1, 10), |_| reply(200, "ok"));
    let target = secure.https_url("localhost", "/");
    let plain = support::http(move |_| redirect(&target));
    let inv = with_ca(&ca, &endpoint("upgrade", &plain.url("/"), "ca_file = \"ca.pem\""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "upgrade");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.contains("certificate expires in 10 days"), "{detail}");
}

// ---- secrets --------------------------------------------------------------------------

#[test]
fn secrets_from_the_environment_are_sent_but_never_shown() {
    let secret = "s3cret-token-value";
    let server = support::http(move |req| {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if auth != format!("Bearer {secret}") {
            return reply(401, "");
        }
        // A server that echoes the token back into a redirect loop.
        redirect(&format!("/again?token={secret}"))
    });
    let inv = inventory(&endpoint(
        "api",
        &format!("{}?token=${{API_TOKEN}}", server.url("/")),
        "headers = { Authorization = \"Bearer ${API_TOKEN}\" }",
    ));
    for format in ["table", "json"] {
        // --wide: the target column (which shows the placeholder) even in a 100-column mail.
        let output = inv.rounds(&["--format", format, "--wide"]).env("API_TOKEN", secret).output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!all.contains(secret), "secret leaked in {format}:\n{all}");
        assert!(all.contains("redirect loop") || all.contains("too many redirects"), "token not sent? {all}");
        assert!(all.contains("${API_TOKEN}"), "target should show the placeholder: {all}");
    }
}

#[test]
fn credentials_are_not_forwarded_to_another_host() {
    // The second server is another origin (another port): it must not see the token.
    let other = support::http(|req| {
        let leaked = req.headers().contains_key("authorization") || req.headers().contains_key("x-api-key");
        if leaked {
            reply(500, "credentials leaked")
        } else {
            reply(200, "ok")
        }
    });
    let target = other.url("/landing");
    let first = support::http(move |req| {
        if req.headers().contains_key("authorization") && req.headers().contains_key("x-api-key") {
            redirect(&target)
        } else {
            reply(401, "")
        }
    });
    let inv = inventory(&endpoint(
        "sso",
        &first.url("/"),
        "headers = { Authorization = \"Bearer ${SSO_TOKEN}\", X-Api-Key = \"${SSO_TOKEN}\" }",
    ));
    let output = inv.rounds(&["--format", "json"]).env("SSO_TOKEN", "tok-123456").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "sso");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("after 1 redirect"), "{detail}");
}

const CAPABILITY: &str = include_str!("data/fhir/capability-hapi-r4.json");

fn fhir(name: &str, base: &str, extra: &str) -> String {
    format!("[[fhir]]\nname = {name:?}\nbase = {base:?}\n{extra}\n")
}

// ---- FHIR -----------------------------------------------------------------------------

#[test]
fn fhir_server_with_an_active_capability_statement_passes() {
    let server = support::http(|req| {
        let accept = req.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match (req.uri().path(), accept) {
            ("/r4/metadata", "application/fhir+json") => reply(200, CAPABILITY),
            _ => reply(404, ""),
        }
    });
    let inv = inventory(&fhir("FHIR API", &server.url("/r4"), "fhir_version = \"4.0.1\""));
    let (doc, code) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "FHIR API");
    assert_eq!((status.as_str(), code), ("pass", 0), "{detail}");
    assert!(detail.ends_with(": HAPI FHIR Server 7.4.0, FHIR 4.0.1"), "{detail}");
    assert_eq!(support::check(&doc, "FHIR API")["kind"], "fhir");
}

#[test]
fn fhir_wrong_version_resource_type_and_401_fail() {
    let server = support::http(|req| match req.uri().path() {
        "/r4/metadata" => reply(200, CAPABILITY),
        "/patient/metadata" => reply(200, r#"{"resourceType":"Patient","id":"1"}"#),
        "/down/metadata" => reply(
            503,
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":"HAPI-0970: database connection failed"}]}"#,
        ),
        _ => reply(401, r#"{"resourceType":"OperationOutcome"}"#),
    });
    let checks = fhir("old", &server.url("/r4"), "fhir_version = \"5.0.0\"")
        + &fhir("wrong", &server.url("/patient/"), "")
        + &fhir("locked", &server.url("/secure"), "headers = { Authorization = \"Bearer ${FHIR_TOKEN}\" }")
        + &fhir("database down", &server.url("/down"), "");
    let inv = inventory(&checks);
    let output = inv.rounds(&["--format", "json"]).env("FHIR_TOKEN", "fhir-secret-123").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "old");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("but FHIR version is \"4.0.1\", expected \"5.0.0\""), "{detail}");
    let (_, detail) = verdict(&doc, "wrong");
    assert!(detail.ends_with("but resourceType is \"Patient\", expected \"CapabilityStatement\""), "{detail}");
    assert_eq!(verdict(&doc, "locked"), ("fail".into(), "401 Unauthorized, expected 200".into()));
    // The OperationOutcome says why: quoted, as the README promises.
    assert_eq!(
        verdict(&doc, "database down"),
        ("fail".into(), "503 Service Unavailable, expected 200: HAPI-0970: database connection failed".into())
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("fhir-secret-123"));
}

// ---- JSON assertions on endpoints -------------------------------------------------------

#[test]
fn json_assertions_name_the_first_pointer_that_differs() {
    let server =
        support::http(|_| reply(200, r#"{"status":"pass","checks":{"db":"degraded","queue":"ok"},"version":3}"#));
    let url = server.url("/health");
    let checks = format!(
        "[[endpoint]]\nname = \"healthy\"\nurl = \"{url}\"\njson = {{ \"/status\" = \"pass\", \"/version\" = 3 }}\n\n\
         [[endpoint]]\nname = \"db\"\nurl = \"{url}\"\njson = {{ \"/status\" = \"pass\", \"/checks/db\" = \"ok\" }}\n\n\
         [[endpoint]]\nname = \"missing\"\nurl = \"{url}\"\njson = {{ \"/checks/cache\" = \"ok\" }}\n"
    );
    let (doc, _) = inventory(&checks).run_json(&[]);
    assert_eq!(verdict(&doc, "healthy").0, "pass");
    let (status, detail) = verdict(&doc, "db");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("but JSON /checks/db is \"degraded\", expected \"ok\""), "{detail}");
    assert!(verdict(&doc, "missing").1.ends_with("but JSON /checks/cache is missing, expected \"ok\""));
}

#[test]
fn json_assertions_on_a_body_that_is_not_json() {
    let server = support::http(|_| reply(200, "<html>maintenance</html>"));
    let toml =
        format!("[[endpoint]]\nname = \"e\"\nurl = \"{}\"\njson = {{ \"/status\" = \"pass\" }}\n", server.url("/"));
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert!(verdict(&doc, "e").1.contains("but the body is not JSON"));
}

/// `p@ss/w=rd` once changed the host (the request went to host `ss`): values are now
/// percent-encoded into the URL's parts, so the request reaches this server with them intact.
#[test]
fn a_password_with_url_characters_stays_a_password() {
    let password = "p@ss/w=rd#1?x&y";
    let server = support::http(move |req| {
        let basic = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let query = req.uri().query().unwrap_or_default().to_owned();
        if basic.starts_with("Basic ") && query == "pw=p%40ss%2Fw%3Drd%231%3Fx%26y" && req.uri().path() == "/check" {
            reply(200, "ok")
        } else {
            reply(400, &format!("got {query}"))
        }
    });
    let url = format!("http://clinic:${{PW}}@127.0.0.1:{}/check?pw=${{PW}}", server.port());
    let inv = inventory(&endpoint("portal", &url, ""));
    for format in ["table", "json"] {
        let output = inv.rounds(&["--format", format]).env("PW", password).output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(0), "{all}");
        assert!(!all.contains("p@ss") && !all.contains("p%40ss") && !all.contains("w=rd"), "leaked:\n{all}");
    }
}

/// Hop URLs are shown without user, password and query values, whatever put them there.
#[test]
fn redirect_hops_are_shown_without_query_values() {
    let server = support::http(|req| match req.uri().path() {
        "/a" => redirect("/b?session=SERVER-ISSUED-TOKEN"),
        _ => redirect("/a"),
    });
    let (doc, _) = inventory(&endpoint("loop", &server.url("/a"), "")).run_json(&[]);
    let (status, detail) = verdict(&doc, "loop");
    assert_eq!(status, "fail");
    assert!(detail.contains("/b?session=*** -> "), "{detail}");
    assert!(!detail.contains("SERVER-ISSUED"), "{detail}");
}

/// A one-letter secret once turned "expected" into "e***pected": short values are now
/// redacted only as whole words, and loading warns about them.
#[test]
fn a_short_secret_never_garbles_other_words() {
    let server = support::http(|_| reply(500, "x"));
    let inv = inventory(&endpoint("api", &server.url("/"), "headers = { X-Pin = \"${PIN}\" }"));
    let output = inv.rounds(&["--format", "json"]).env("PIN", "x").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict(&doc, "api"), ("fail".into(), "500 Internal Server Error, expected 2xx".into()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("${PIN} is shorter than 8 characters"), "{stderr}");
}

// ---- proxies --------------------------------------------------------------------------

/// A forward proxy: answers requests in absolute form (`GET http://host/ HTTP/1.1`), which
/// only a client that chose to use a proxy sends.
fn forward_proxy() -> support::Server {
    support::http(|req| match req.uri().scheme() {
        Some(_) => reply(200, "answered by the proxy"),
        None => reply(400, "not a proxy request"),
    })
}

#[test]
fn proxies_are_a_decision_in_the_inventory_not_an_accident_of_the_environment() {
    let proxy = forward_proxy();
    let direct = support::http(|req| match req.uri().scheme() {
        Some(_) => reply(502, "came through a proxy"),
        None => reply(200, "direct"),
    });
    let nowhere = format!("http://127.0.0.1:{}/", support::closed_port());
    let toml = endpoint("direct", &direct.url("/"), "")
        + &endpoint("proxied", &nowhere, &format!("proxy = {:?}", proxy.url("")))
        + &endpoint("from env", &nowhere, "proxy = \"env\"");
    let output = inventory(&toml).rounds(&["--format", "json"]).env("HTTP_PROXY", proxy.url("")).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "direct");
    assert_eq!(status, "pass", "HTTP_PROXY must not be followed silently: {detail}");
    assert!(!detail.contains("via"), "{detail}");
    let (status, detail) = verdict(&doc, "proxied");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains(&format!("via proxy {}", proxy.url("/"))), "{detail}");
    let (status, detail) = verdict(&doc, "from env");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("via the environment's proxy"), "{detail}");
}

// ---- certificates belong to their connection ------------------------------------------

/// A redirect hop shows the leaf with an intermediate that expires in 3 days; the final
/// server shows the same leaf with the renewed intermediate. The hop's chain is judged and
/// the hop named (once merged by leaf, this passed).
#[test]
fn a_redirect_hop_with_an_expiring_intermediate_is_judged_on_its_own_chain() {
    let root = Ca::root("Test Clinic CA");
    let old = root.intermediate("Clinic Issuing CA", 3);
    let renewed = old.reissued(&root, 300);
    let leaf = old.leaf(&["localhost"], -1, 200);
    let last = support::https(&leaf.served_with(&renewed), |_| reply(200, "ok"));
    let target = last.https_url("localhost", "/");
    let hop = support::https(&leaf, move |_| redirect(&target));
    let inv = with_ca(&root, &endpoint("portal", &hop.https_url("localhost", "/"), "ca_file = \"ca.pem\""));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "portal");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains(&format!("localhost:{}: certificate expires in 200 days", hop.port()))
            && detail.contains("intermediate \"Clinic Issuing CA\" expires in 3 days"),
        "{detail}"
    );
}

/// One server, one leaf for `localhost`, checked by name and by IP at the same time: the
/// IP's hostname mismatch must never land on the checks by name, nor their pass on it.
#[test]
fn the_same_leaf_by_name_and_by_ip_keeps_each_verdict() {
    let ca = Ca::root("Test Clinic CA");
    let server = support::https(&ca.leaf(&["localhost"], -1, 200), |_| reply(200, "ok"));
    let mut toml = String::new();
    for i in 0..10 {
        let extra = "ca_file = \"ca.pem\"";
        toml += &endpoint(&format!("by name {i}"), &server.https_url("localhost", &format!("/{i}")), extra);
        toml += &endpoint(&format!("by ip {i}"), &server.https_url("127.0.0.1", &format!("/{i}")), extra);
    }
    let (doc, _) = with_ca(&ca, &toml).run_json(&[]);
    for i in 0..10 {
        let (status, detail) = verdict(&doc, &format!("by name {i}"));
        assert_eq!(status, "pass", "{detail}");
        assert!(detail.contains("certificate expires in 200 days") && !detail.contains("mismatch"), "{detail}");
        let (status, detail) = verdict(&doc, &format!("by ip {i}"));
        assert_eq!(status, "fail", "{detail}");
        assert!(detail.contains("hostname mismatch") && !detail.starts_with("200"), "{detail}");
    }
}

// ---- security posture against a real nginx ----------------------------------------------------

#[test]
fn security_headers_and_hsts_are_checked_against_nginx() {
    let Some(nginx) = support::nginx(
        "server { listen 127.0.0.1:{port0}; location / { add_header X-Content-Type-Options nosniff; \
         add_header Strict-Transport-Security \"max-age=2592000\"; return 200 ok; } }\n\
         server { listen 127.0.0.1:{port1}; location / { add_header X-Content-Type-Options nosniff; \
         add_header Content-Security-Policy \"default-src 'self'\"; \
         add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\"; return 200 ok; } }",
        2,
    ) else {
        return;
    };
    let rules = "expect_headers = { X-Content-Type-Options = \"nosniff\", Content-Security-Policy = \"*\" }\nrequire_hsts = true";
    let toml = endpoint("weak", &format!("http://127.0.0.1:{}/", nginx.ports[0]), rules)
        + &endpoint("strong", &format!("http://127.0.0.1:{}/", nginx.ports[1]), rules);
    let (doc, _) = inventory(&toml).run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "weak");
    assert_eq!(status, "fail");
    assert!(
        detail.ends_with("but HSTS max-age is 30 days, at least 180 required; missing Content-Security-Policy"),
        "{detail}"
    );
    assert_eq!(verdict(&doc, "strong").0, "pass", "{:?}", verdict(&doc, "strong"));
}

#[test]
fn require_https_follows_nginx_to_https_on_the_same_host() {
    let ca = Ca::root("Test Clinic CA");
    let identity = ca.leaf(&["127.0.0.1"], -1, 200);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = identity.write_pem(dir.path());
    let servers = format!(
        "server {{ listen 127.0.0.1:{{port0}}; return 301 https://127.0.0.1:{{port1}}$request_uri; }}\n\
         server {{ listen 127.0.0.1:{{port1}} ssl; ssl_certificate {}; ssl_certificate_key {}; location / {{ return 200 ok; }} }}\n\
         server {{ listen 127.0.0.1:{{port2}}; location / {{ return 200 plain; }} }}",
        cert.display(),
        key.display()
    );
    let Some(nginx) = support::nginx(&servers, 3) else { return };
    let extra = "require_https = true\nca_file = \"ca.pem\"";
    let toml = endpoint("upgrades", &format!("http://127.0.0.1:{}/", nginx.ports[0]), extra)
        + &endpoint("stays plain", &format!("http://127.0.0.1:{}/", nginx.ports[2]), extra);
    let (doc, _) = with_ca(&ca, &toml).run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "upgrades");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.contains("(after 1 redirect, at https://127.0.0.1:")
            && detail.contains("certificate expires in 200 days"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "stays plain");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("but no redirect from http:// to https:// on the same host"), "{detail}");
}

/// /metadata can answer while the database behind the API is down: a search must return a
/// Bundle. Answers shaped as HAPI FHIR's (a stand-in: HAPI needs a JVM and a database).
#[test]
fn fhir_search_and_smart_configuration() {
    let server = support::http(|req| match (req.uri().path(), req.uri().query()) {
        (p, _) if p.ends_with("/metadata") => reply(200, CAPABILITY),
        ("/ok/Patient", Some("_count=1")) => {
            reply(200, r#"{"resourceType":"Bundle","type":"searchset","total":12,"entry":[{}]}"#)
        }
        ("/down/Patient", _) => reply(
            500,
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","diagnostics":"HAPI-1180: Failed to call access method: database unavailable"}]}"#,
        ),
        ("/ok/.well-known/smart-configuration", _) => reply(
            200,
            r#"{"authorization_endpoint":"https://ehr/auth","token_endpoint":"https://ehr/token","capabilities":["launch-ehr"]}"#,
        ),
        ("/nosmart/.well-known/smart-configuration", _) => reply(200, r#"{"capabilities":[]}"#),
        _ => reply(404, ""),
    });
    let toml = fhir("healthy", &server.url("/ok"), "query = \"Patient?_count=1\"\nmin_total = 1\nsmart = true")
        + &fhir("too few", &server.url("/ok"), "query = \"Patient?_count=1\"\nmin_total = 50")
        + &fhir("database down", &server.url("/down"), "query = \"Patient?_count=1\"")
        + &fhir("no smart", &server.url("/nosmart"), "smart = true");
    let (doc, _) = inventory(&toml).run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "healthy");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.contains("; search Patient?_count=1: 200 OK in ")
            && detail.contains(": Bundle, 12 matches; SMART configuration: 200 OK in ")
            && detail.ends_with(": authorization and token endpoints present"),
        "{detail}"
    );
    assert!(verdict(&doc, "too few").1.ends_with("but the search found 12, at least 50 expected"));
    let (status, detail) = verdict(&doc, "database down");
    assert_eq!(status, "fail");
    assert!(
        detail.ends_with("search Patient?_count=1: 500 Internal Server Error, expected 200: HAPI-1180: Failed to call access method: database unavailable"),
        "{detail}"
    );
    assert!(verdict(&doc, "no smart")
        .1
        .ends_with("but the SMART configuration has no authorization_endpoint or token_endpoint"));
}

/// `check_revocation` on an endpoint: the last https hop's certificate against its CRL,
/// served by a real HTTP server; a plain-http endpoint cannot be vouched for.
#[test]
fn endpoint_check_revocation_judges_the_last_https_hop() {
    let ca = Ca::root("Clinic Web CA");
    let crl = ca.crl(&[66], 7);
    let downloads = Arc::new(AtomicUsize::new(0));
    let counted = downloads.clone();
    let crl_server = support::http(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        support::reply_bytes(200, &crl)
    });
    let revoked =
        support::https(&ca.leaf_listing_crl(&["localhost"], 66, &crl_server.url("/ca.crl")), |_| reply(200, "ok"));
    let good =
        support::https(&ca.leaf_listing_crl(&["localhost"], 67, &crl_server.url("/ca.crl")), |_| reply(200, "ok"));
    let plain = support::http(|_| reply(200, "ok"));
    let inv = with_ca(
        &ca,
        &[
            endpoint(
                "revoked portal",
                &revoked.https_url("localhost", "/"),
                "ca_file = \"ca.pem\"\ncheck_revocation = true",
            ),
            endpoint("portal", &good.https_url("localhost", "/"), "ca_file = \"ca.pem\"\ncheck_revocation = true"),
            endpoint("plain", &plain.url("/"), "ca_file = \"ca.pem\"\ncheck_revocation = true"),
        ]
        .concat(),
    );
    let (doc, _) = inv.run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "revoked portal");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("200 OK in ") && detail.contains("; certificate was REVOKED on "), "{detail}");
    let (status, detail) = verdict(&doc, "portal");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.ends_with(")") && detail.contains("; not revoked (CRL of "), "{detail}");
    let (status, detail) = verdict(&doc, "plain");
    assert_eq!(status, "warn", "{detail}");
    assert!(detail.ends_with("revocation not checked: the last answer did not come over https"), "{detail}");
    assert_eq!(downloads.load(Ordering::SeqCst), 1, "two services of one CA, one CRL download");
}

/// CRL downloads go straight to the CRL's server: `HTTP_PROXY` in rounds' environment is
/// read only where a check says `proxy = "env"`, and a CRL download has no such key.
#[test]
fn crl_downloads_ignore_the_environments_proxy() {
    let ca = Ca::root("Clinic Web CA");
    let crl = ca.crl(&[], 7);
    let crl_server = support::http(move |_| support::reply_bytes(200, &crl));
    let proxied = Arc::new(AtomicUsize::new(0));
    let counted = proxied.clone();
    let proxy = support::raw(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    });
    let portal =
        support::https(&ca.leaf_listing_crl(&["localhost"], 70, &crl_server.url("/ca.crl")), |_| reply(200, "ok"));
    let inv = with_ca(
        &ca,
        &endpoint("portal", &portal.https_url("localhost", "/"), "ca_file = \"ca.pem\"\ncheck_revocation = true"),
    );
    let output = inv
        .rounds(&["--format", "json", "--no-state"])
        .env("HTTP_PROXY", proxy.url(""))
        .env("http_proxy", proxy.url(""))
        .env("ALL_PROXY", proxy.url(""))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "portal");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("; not revoked (CRL of "), "{detail}");
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "nothing may reach the environment's proxy");
}

/// `url = "http://host:0/"` is refused at load, with the place in the file.
#[test]
fn a_url_on_port_0_is_refused_by_validate() {
    let inv = inventory(&endpoint("api", "http://127.0.0.1:0/health", ""));
    let output = inv.rounds(&["validate"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("checks.toml:3:7: ") && stderr.contains("port 0 is not a port"), "{stderr}");
}

/// A certificate that lists `DNS:127.0.0.1` read "certificate is for 127.0.0.1, not
/// 127.0.0.1": it now says the address is there as a DNS name, not as an IP address.
#[test]
fn an_address_listed_as_a_dns_name_is_named_as_the_mismatch() {
    let ca = Ca::root("Appliance CA");
    let server = support::https(&ca.leaf_with_dns_name("127.0.0.1"), |_| reply(200, "ok"));
    let inv = with_ca(&ca, &endpoint("appliance", &server.url("/").replace("http:", "https:"), "ca_file = \"ca.pem\""));
    let (doc, _) = inv.run_json(&["--no-state"]);
    assert_eq!(
        verdict(&doc, "appliance"),
        (
            "fail".into(),
            "hostname mismatch: the certificate lists 127.0.0.1 as a DNS name, not as an IP address \
             (a client connecting to 127.0.0.1 needs IP:127.0.0.1 in its subjectAltName)"
                .into()
        )
    );
}

/// A check through a proxy says so in words, also when it fails; the proxy's user and
/// password are never shown.
#[test]
fn a_proxied_check_names_its_proxy_without_userinfo() {
    let proxy = forward_proxy();
    let nowhere = format!("http://127.0.0.1:{}/", support::closed_port());
    let with_user = format!("http://rounds:${{PROXY_PW}}@127.0.0.1:{}", proxy.port());
    let down = format!("http://rounds:${{PROXY_PW}}@127.0.0.1:{}", support::closed_port());
    let toml = endpoint("proxied", &nowhere, &format!("proxy = {with_user:?}"))
        + &endpoint("proxy down", &nowhere, &format!("proxy = {down:?}"));
    let output = inventory(&toml).rounds(&["--format", "json"]).env("PROXY_PW", "proxy-canary-pw").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("rounds:") && !text.contains("proxy-canary"), "{text}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "proxied");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains(&format!(" via proxy http://127.0.0.1:{}/", proxy.port())), "{detail}");
    let (status, detail) = verdict(&doc, "proxy down");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.ends_with(&format!(" (via proxy {})", down.replace("rounds:${PROXY_PW}@", "") + "/")), "{detail}");
}

/// A redirect's `#fragment` (where OAuth puts `access_token=...`) is hidden like query values.
#[test]
fn a_redirect_fragment_is_hidden_like_query_values() {
    let server = support::http(|req| match req.uri().path() {
        "/" => redirect("/landing?code=canary-query-value#access_token=canary-fragment-token&scope=x"),
        _ => reply(200, "ok"),
    });
    let (doc, _) = inventory(&endpoint("sso", &server.url("/"), "")).run_json(&["--no-state"]);
    let (status, detail) = verdict(&doc, "sso");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.ends_with("/landing?code=***#access_token=***&scope=***)"), "{detail}");
    assert!(!detail.contains("canary"), "{detail}");
}

/// An inventory with `pem` as ca.pem.
fn with_ca_pem(pem: &str, body: &str) -> Inventory {
    let inv = inventory(body);
    inv.write("ca.pem", pem);
    inv
}

/// The certificate an appliance ships (openssl's `CA:TRUE` self-signed one): listed in
/// ca_file or pinned, it is trusted as the server's own, and still judged by its days and
/// its name; without either, the message gives the pin that would trust it.
#[test]
fn an_appliances_own_ca_certificate_is_trusted_by_ca_file_or_pin() {
    let Some(appliance) = pki::openssl_appliance(10) else { return };
    let server = support::https(&appliance.identity, |_| reply(200, "ok"));
    let url = server.https_url("localhost", "/");
    let by_address = server.https_url("127.0.0.1", "/");
    let lenient = "cert_warn_days = 5\ncert_crit_days = 2";
    let pin = &appliance.pin;
    let wrong_pin = "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let body = [
        endpoint("untrusted", &url, ""),
        endpoint("in ca_file", &url, "ca_file = \"ca.pem\""),
        endpoint("in ca_file, lenient", &url, &format!("ca_file = \"ca.pem\"\n{lenient}")),
        endpoint("in ca_file, by address", &by_address, &format!("ca_file = \"ca.pem\"\n{lenient}")),
        endpoint("pinned", &url, &format!("pin = {pin:?}\n{lenient}")),
        endpoint("pinned by address", &by_address, &format!("pin = {pin:?}\n{lenient}")),
        endpoint("one of two pins", &url, &format!("pin = [{wrong_pin:?}, {:?}]\n{lenient}", pin.replace("//", "/"))),
        endpoint("wrong pin", &url, &format!("pin = {wrong_pin:?}\nca_file = \"ca.pem\"")),
    ]
    .concat();
    let inv = with_ca_pem(&appliance.pem, &body);
    let (doc, _) = inv.run_json(&[]);

    let (status, detail) = verdict(&doc, "untrusted");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("self-signed certificate (\"localhost\") is not trusted"), "{detail}");
    assert!(detail.contains(&format!("add it to ca_file, or pin = \"{pin}\"")), "{detail}");

    let (status, detail) = verdict(&doc, "in ca_file");
    assert_eq!(status, "warn", "10 days left is still news: {detail}");
    assert!(detail.contains("expires in 9 days") || detail.contains("expires in 10 days"), "{detail}");
    assert!(detail.contains("trusted as the server's own certificate in ca_file"), "{detail}");
    let (status, detail) = verdict(&doc, "in ca_file, lenient");
    assert_eq!(status, "pass", "{detail}");
    let (status, detail) = verdict(&doc, "pinned");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("trusted by its pin"), "{detail}");
    let (status, detail) = verdict(&doc, "one of two pins");
    assert_eq!(status, "pass", "{detail}");

    for name in ["in ca_file, by address", "pinned by address"] {
        let (status, detail) = verdict(&doc, name);
        assert_eq!(status, "fail", "{name}: {detail}");
        assert!(detail.contains("hostname mismatch: certificate is for localhost, not 127.0.0.1"), "{name}: {detail}");
    }
    let (status, detail) = verdict(&doc, "wrong pin");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail
            .contains(&format!("the server's key is \"{pin}\", which matches no pin of this check (\"{wrong_pin}\")")),
        "{detail}"
    );
}

/// Pinned is no pass for an expired certificate, nor for one not valid yet.
#[test]
fn a_pinned_certificate_out_of_its_dates_still_fails() {
    let (expired, pem) = pki::ca_true_self_signed(&["localhost"], -30, -2);
    let (future, future_pem) = pki::ca_true_self_signed(&["localhost"], 3, 90);
    let old = support::https(&expired, |_| reply(200, "ok"));
    let early = support::https(&future, |_| reply(200, "ok"));
    let inv = with_ca_pem(
        &(pem + &future_pem),
        &(endpoint("expired", &old.https_url("localhost", "/"), "ca_file = \"ca.pem\"")
            + &endpoint("early", &early.https_url("localhost", "/"), "ca_file = \"ca.pem\"")),
    );
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "expired");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("certificate expired"), "{detail}");
    let (status, detail) = verdict(&doc, "early");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("certificate not valid until"), "{detail}");
}

/// A pin narrows trust: a certificate a trusted CA issued fails when its key is not pinned,
/// and the untrusted-issuer message names the pin that would trust the server.
#[test]
fn a_pin_is_required_even_of_a_certificate_a_ca_vouches_for() {
    let ca = Ca::root("Clinic Root CA");
    let server = support::https(&ca.leaf(&["localhost"], -1, 90), |_| reply(200, "ok"));
    let other = Ca::root("Some Other CA");
    let stranger = support::https(&other.leaf(&["localhost"], -1, 90), |_| reply(200, "ok"));
    let wrong_pin = "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let inv = with_ca(
        &ca,
        &(endpoint(
            "pinned elsewhere",
            &server.https_url("localhost", "/"),
            &format!("ca_file = \"ca.pem\"\npin = {wrong_pin:?}"),
        ) + &endpoint("stranger", &stranger.https_url("localhost", "/"), "")),
    );
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "pinned elsewhere");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("the server's key is \"sha256//"), "{detail}");
    let (status, detail) = verdict(&doc, "stranger");
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("is not a trusted CA (add the CA with ca_file, or trust this server's key: pin = \"sha256//"),
        "{detail}"
    );
}

/// A pin that is not one is refused where it is written.
#[test]
fn a_malformed_pin_is_a_config_error_at_its_line() {
    let inv = inventory(&endpoint("pinned", "https://localhost:1/", "pin = \"47DEQpj8HBSa\""));
    let output = inv.rounds(&["validate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(":4:7") && stderr.contains("does not start with \"sha256//\""), "{stderr}");
}

/// `[[tls]]` and `[[fhir]]` take the same `pin` and `ca_file` as `[[endpoint]]`.
#[test]
fn tls_and_fhir_checks_trust_an_appliances_certificate_by_pin() {
    let Some(appliance) = pki::openssl_appliance(10) else { return };
    let tls = support::tls_only(&appliance.identity);
    let fhir_server = support::https(&appliance.identity, |req| match req.uri().path() {
        "/r4/metadata" => reply(200, CAPABILITY),
        _ => reply(404, ""),
    });
    let pin = &appliance.pin;
    let lenient = "cert_warn_days = 5\ncert_crit_days = 2";
    let tls_check = |name: &str, extra: &str| {
        format!("[[tls]]\nname = {name:?}\nhost = \"localhost\"\nport = {}\n{extra}\n", tls.port())
    };
    let body = [
        tls_check("tls pinned", &format!("pin = {pin:?}\n{lenient}")),
        tls_check("tls in ca_file", "ca_file = \"ca.pem\""),
        tls_check("tls untrusted", ""),
        fhir("fhir pinned", &fhir_server.https_url("localhost", "/r4"), &format!("pin = {pin:?}\n{lenient}")),
    ]
    .concat();
    let inv = with_ca_pem(&appliance.pem, &body);
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "tls pinned");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("trusted by its pin"), "{detail}");
    let (status, detail) = verdict(&doc, "tls in ca_file");
    assert_eq!(status, "warn", "{detail}");
    let (status, detail) = verdict(&doc, "tls untrusted");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains(&format!("pin = \"{pin}\"")), "{detail}");
    let (status, detail) = verdict(&doc, "fhir pinned");
    assert_eq!(status, "pass", "{detail}");
}

/// A pin on a protocol check without `tls = true` would be ignored: it is refused.
#[test]
fn a_pin_without_tls_is_refused() {
    let inv = inventory(
        "[[hl7]]\nname = \"lab\"\nhost = \"localhost\"\nport = 2575\npin = \"sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n",
    );
    let output = inv.rounds(&["validate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(":5:7: pin needs tls = true"), "{stderr}");
}
