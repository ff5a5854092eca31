//! Secrets never reach an output: not as a target (every kind family, every format and
//! `list`), not in any encoding a peer echoes them in, not cut in half in a skip reason.

mod support;

use serde_json::json;
use support::{inventory, reply, verdict, Inventory};

/// `Authorization = "Bearer ${TOKEN}"`: quotes, a backslash, a space, `/`, `&` and `=`,
/// so every encoding differs from the raw value.
const TOKEN: &str = "canary \"tok\\en/&=x9";
/// Basic authentication from a URL's userinfo.
const PASSWORD: &str = "canary-basic-password-7";
/// A secret inside a target (a path, a repository).
const CANARY: &str = "canary-target-secret";

const FORMATS: [&str; 6] = ["table", "json", "junit", "prometheus", "nagios", "markdown"];

/// Every byte but RFC 3986's unreserved characters as `%XX`, in upper or lower case.
fn percent(value: &str, upper: bool) -> String {
    value
        .bytes()
        .map(|b| match b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            true => char::from(b).to_string(),
            false if upper => format!("%{b:02X}"),
            false => format!("%{b:02x}"),
        })
        .collect()
}

/// The forms a peer may echo the token in, by the path that asks for each.
fn forms() -> Vec<(&'static str, String)> {
    vec![
        ("raw", TOKEN.to_owned()),
        ("upper", percent(TOKEN, true)),
        ("lower", percent(TOKEN, false)),
        ("form", percent(TOKEN, true).replace("%20", "+")),
        ("json", serde_json::to_string(TOKEN).unwrap()),
        ("debug", format!("{TOKEN:?}")),
    ]
}

/// Runs `inv` with the secrets in the environment and `args`: stdout, and stdout and
/// stderr together.
fn run(inv: &Inventory, args: &[&str]) -> (String, String) {
    let output = inv
        .rounds(args)
        .env("TOKEN", TOKEN)
        .env("BASIC_PW", PASSWORD)
        .env("SECRET_PATH", CANARY)
        .env("REPO", format!("/nonexistent/{CANARY}"))
        .output()
        .expect("run rounds");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let all = stdout.clone() + &String::from_utf8_lossy(&output.stderr);
    (stdout, all)
}

fn json_report(inv: &Inventory, args: &[&str]) -> (serde_json::Value, String) {
    let (stdout, all) = run(inv, &[&["--format", "json"], args].concat());
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {all}"));
    (doc, all)
}

/// A FHIR server that answers every request with an OperationOutcome echoing the request's
/// token in the form its path names (`/json/metadata`), or its whole Authorization header.
#[test]
fn a_peer_echoing_a_secret_in_any_encoding_is_redacted() {
    let server = support::http(|req| {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let form = req.uri().path().trim_start_matches('/').split('/').next().unwrap_or_default().to_owned();
        let echoed = match forms().into_iter().find(|(name, _)| *name == form) {
            Some((_, text)) if auth.strip_prefix("Bearer ") == Some(TOKEN) => text,
            Some(_) => "the token did not arrive".into(),
            None => auth.to_owned(),
        };
        let outcome =
            json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": format!("echo: {echoed} end")}]});
        reply(500, &outcome.to_string())
    });
    let mut toml = String::new();
    for (name, _) in forms() {
        let base = server.url(&format!("/{name}/"));
        toml += &format!(
            "[[fhir]]\nname = {name:?}\nbase = {base:?}\nheaders = {{ Authorization = \"Bearer ${{TOKEN}}\" }}\n"
        );
    }
    let basic = format!("http://rounds:${{BASIC_PW}}@127.0.0.1:{}/basic/", server.port());
    toml += &format!("[[fhir]]\nname = \"basic\"\nbase = {basic:?}\n");
    let inv = inventory(&toml);
    let (doc, stdout) = json_report(&inv, &["--no-state"]);
    let basic_b64 = "cm91bmRzOmNhbmFyeS1iYXNpYy1wYXNzd29yZC03"; // base64("rounds:canary-basic-password-7")
    for (name, form) in forms() {
        let (status, detail) = verdict(&doc, name);
        assert_eq!(status, "fail", "{detail}");
        assert!(detail.contains("echo: ") && detail.contains("***") && detail.ends_with(" end"), "{name}: {detail}");
        assert!(!detail.contains(&form) && !detail.contains("canary"), "{name}: {detail}");
    }
    let (_, detail) = verdict(&doc, "basic");
    assert_eq!(detail, "500 Internal Server Error, expected 200: echo: Basic *** end");
    for leak in ["canary", basic_b64, &percent(TOKEN, true)] {
        assert!(!stdout.contains(leak), "{leak} in {stdout}");
    }
}

/// Every kind family whose target may hold `${VAR}`: the target is the inventory's text in
/// every format and in `list`, and the value appears nowhere.
#[test]
fn targets_show_placeholders_in_every_format_and_in_list() {
    let closed = support::closed_port();
    let url = format!("http://127.0.0.1:{closed}/${{SECRET_PATH}}/health");
    let base = format!("http://127.0.0.1:{closed}/${{SECRET_PATH}}");
    let toml = format!(
        "[[endpoint]]\nname = \"endpoint\"\nurl = {url:?}\n\
         [[fhir]]\nname = \"fhir\"\nbase = {base:?}\n\
         [[mirth]]\nname = \"mirth\"\nbase = {base:?}\nusername = \"rounds\"\npassword = \"${{TOKEN}}\"\n\
         [[restic]]\nname = \"restic\"\nrepository = \"${{REPO}}\"\npassword = \"${{TOKEN}}\"\nmax_age = \"26h\"\n\
         [[borg]]\nname = \"borg\"\nrepository = \"${{REPO}}\"\npassphrase = \"${{TOKEN}}\"\nmax_age = \"26h\"\n"
    );
    let inv = inventory(&toml);
    let mut outputs: Vec<(String, String)> = FORMATS
        .iter()
        .map(|f| (format!("--format {f}"), run(&inv, &["--format", f, "--no-state", "--timeout", "5s"]).1))
        .collect();
    outputs.push(("list".into(), run(&inv, &["list"]).1));
    outputs.push(("list --format json".into(), run(&inv, &["list", "--format", "json"]).1));
    for (what, text) in &outputs {
        for leak in [CANARY, "canary", &percent(TOKEN, true)] {
            assert!(!text.contains(leak), "{what}: {leak} in\n{text}");
        }
    }
    let (doc, _) = json_report(&inv, &["--no-state", "--timeout", "5s"]);
    for (name, target) in
        [("endpoint", url.as_str()), ("fhir", &base), ("mirth", &base), ("restic", "${REPO}"), ("borg", "${REPO}")]
    {
        assert_eq!(support::check(&doc, name)["target"], *target, "{name}");
    }
    let list = &outputs.last().expect("list output").1;
    assert!(list.contains("${SECRET_PATH}") && list.contains("${REPO}"), "{list}");
}

/// A dependant's skip reason quotes the dependency's detail cut short: the cut comes after
/// redaction, so a secret that straddles it is not left half shown.
#[test]
fn a_skip_reason_is_cut_after_redaction() {
    let server = support::http(|req| {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        // "500 Internal Server Error, expected 200: " is 41 characters: the token then
        // starts at 106, across the 120-character cut of a skip reason.
        let diagnostics = format!("{}{}", "x".repeat(65), auth.trim_start_matches("Bearer "));
        let outcome = json!({"resourceType": "OperationOutcome", "issue": [{"diagnostics": diagnostics}]});
        reply(500, &outcome.to_string())
    });
    let base = server.url("/r4/");
    let toml = format!(
        "[[fhir]]\nname = \"api\"\nbase = {base:?}\nheaders = {{ Authorization = \"Bearer ${{SECRET_PATH}}\" }}\n\
         [[endpoint]]\nname = \"portal\"\nurl = {:?}\ndepends_on = [\"api\"]\n",
        server.url("/portal")
    );
    let inv = inventory(&toml);
    let (doc, text) = json_report(&inv, &[]);
    let (status, detail) = verdict(&doc, "portal");
    assert_eq!(status, "skip", "{detail}");
    assert!(detail.starts_with("skipped: api failed (500 Internal Server Error, expected 200: xxx"), "{detail}");
    assert!(!text.contains(&CANARY[..6]), "{text}");
    let state = inv.dir.path().join("state");
    for file in walk(&state) {
        let written = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!written.contains(&CANARY[..6]), "{}: {written}", file.display());
    }
}

/// Every file under `dir` (the state file and the run log).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}
