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
