//! Clinic protocols and the rest of the morning (issue 4): FHIR, JSON assertions, HL7 MLLP,
//! commands, DNS, system and process checks, DICOM, against real peers.

mod support;

use support::{inventory, reply, verdict};

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
        _ => reply(401, r#"{"resourceType":"OperationOutcome"}"#),
    });
    let checks = fhir("old", &server.url("/r4"), "fhir_version = \"5.0.0\"")
        + &fhir("wrong", &server.url("/patient/"), "")
        + &fhir("locked", &server.url("/secure"), "headers = { Authorization = \"Bearer ${FHIR_TOKEN}\" }");
    let inv = inventory(&checks);
    let output = inv.rounds(&["--format", "json"]).env("FHIR_TOKEN", "fhir-secret-123").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (status, detail) = verdict(&doc, "old");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("but FHIR version is \"4.0.1\", expected \"5.0.0\""), "{detail}");
    let (_, detail) = verdict(&doc, "wrong");
    assert!(detail.ends_with("but resourceType is \"Patient\", expected \"CapabilityStatement\""), "{detail}");
    assert_eq!(verdict(&doc, "locked"), ("fail".into(), "401 Unauthorized, expected 200".into()));
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

// ---- command (Nagios plugins) -------------------------------------------------------------

fn script(inv: &support::Inventory, name: &str, body: &str) -> String {
    let path = inv.write(name, &format!("#!/bin/sh\n{body}\n"));
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    format!("./{name}")
}

fn command(name: &str, run: &[&str], extra: &str) -> String {
    let run: Vec<String> = run.iter().map(|a| format!("{a:?}")).collect();
    format!("[[command]]\nname = {name:?}\nrun = [{}]\n{extra}\n", run.join(", "))
}

#[test]
fn command_exit_codes_follow_the_plugin_contract() {
    let inv = inventory("");
    let mut checks = String::new();
    for (code, text) in [
        (0, "RAID OK - 2 arrays"),
        (1, "RAID WARNING - rebuilding"),
        (2, "RAID CRITICAL - degraded"),
        (3, "cannot read mdstat"),
    ] {
        let run = script(
            &inv,
            &format!("exit{code}.sh"),
            &format!("echo '{text} | arrays=2;;'\necho 'second line'\nexit {code}"),
        );
        checks += &command(&format!("exit {code}"), &[&run], "");
    }
    checks += &command("exit 7", &[&script(&inv, "exit7.sh", "echo odd >&2; exit 7")], "");
    checks += &command("missing", &["./no-such-plugin"], "");
    std::fs::write(&inv.path, checks).unwrap();
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "exit 0"), ("pass".into(), "RAID OK - 2 arrays".into()));
    assert_eq!(verdict(&doc, "exit 1"), ("warn".into(), "RAID WARNING - rebuilding".into()));
    assert_eq!(verdict(&doc, "exit 2"), ("fail".into(), "RAID CRITICAL - degraded".into()));
    assert_eq!(verdict(&doc, "exit 3"), ("fail".into(), "unknown: cannot read mdstat".into()));
    assert_eq!(verdict(&doc, "exit 7"), ("fail".into(), "unknown (exit code 7): odd".into()));
    let (status, detail) = verdict(&doc, "missing");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("unknown: cannot run"), "{detail}");
    assert_eq!(code, 2);
}

/// Whether `pid` is gone: no such process, or a zombie waiting for init to reap it.
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hanging_command_and_its_children_are_killed_at_the_timeout() {
    let inv = inventory("");
    let pid_file = inv.dir.path().join("child.pid");
    let run = script(&inv, "hang.sh", "sleep 300 &\necho $! > \"$1\"\nsleep 300");
    std::fs::write(&inv.path, command("hang", &[&run, pid_file.to_str().unwrap()], "timeout = \"1s\"")).unwrap();
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "hang"), ("fail".into(), "unknown: still running after 1 s, killed".into()));
    let child = std::fs::read_to_string(&pid_file).expect("the script wrote its child's pid");
    let child = child.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !is_gone(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(is_gone(child), "the command's child {child} survived the timeout");
}
