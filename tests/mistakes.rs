//! The mistakes a new user makes (issue 20) and the one way checks are named (issue 19): each
//! is said in words, at its place, with what to write instead; none is silently taken.

mod support;

use support::{inventory, reply};

/// `rounds validate` on `toml`: its exit code and stderr.
fn validate(toml: &str) -> (Option<i32>, String) {
    let inv = inventory(toml);
    let out = inv.rounds(&["validate"]).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn clinic(closed: u16, ok: &support::Server) -> support::Inventory {
    inventory(&format!(
        "[[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{closed}]\ntags = [\"imaging\"]\n\n\
         [[endpoint]]\nname = \"FHIR API\"\nurl = \"{}\"\ntags = [\"ehr\"]\n\n\
         [[endpoint]]\nname = \"lab\"\nurl = \"{}\"\n\n\
         [[server]]\nname = \"LIS\"\nhost = \"127.0.0.1\"\nports = [{closed}]\ntags = [\"lab\"]\n",
        ok.url("/fhir"),
        ok.url("/lab")
    ))
}

fn names(doc: &serde_json::Value) -> Vec<String> {
    doc["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn only_takes_names_tags_and_tag_x_and_suggests_the_closest_names() {
    let ok = support::http(|_| reply(200, "ok"));
    let closed = support::closed_port();
    let inv = clinic(closed, &ok);
    // A name wins over a tag spelt the same; tag:x is always the tag.
    let (doc, _) = inv.run_json(&["--no-state", "--only", "lab"]);
    assert_eq!(names(&doc), ["lab"]);
    let (doc, _) = inv.run_json(&["--no-state", "--only", "tag:lab"]);
    assert_eq!(names(&doc), [format!("LIS:{closed}")]);
    let (doc, _) = inv.run_json(&["--no-state", "--only", "imaging"]);
    assert_eq!(names(&doc), [format!("PACS:{closed}")], "a bare tag no check is named");

    let out = inv.rounds(&["--no-state", "--only", "pacs"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("--only \"pacs\" matches no check") && err.contains("did you mean \"PACS\""), "{err}");
    // One selector of two naming nothing is an error too (it ran the other one silently).
    let out = inv.rounds(&["--no-state", "--only", "lab", "--only", "tag:imagng"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("did you mean \"tag:imaging\"?"), "{err}");
}

/// `history --check "FHIR"` (the check is "FHIR API") said "No problems.": a false all-clear.
#[test]
fn history_check_that_names_nothing_is_an_error_not_an_all_clear() {
    let ok = support::http(|_| reply(500, "down"));
    let closed = support::closed_port();
    let inv = clinic(closed, &ok);
    let state = inv.dir.path().join("s.json");
    let state = state.to_str().unwrap();
    let run = inv.rounds(&["--state", state, "--format", "json"]).output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");

    let typo = inv.rounds(&["history", "--state", state, "--check", "FHIR"]).output().unwrap();
    let err = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(3), "{err}");
    assert!(err.contains("--check \"FHIR\" matches no check") && err.contains("did you mean \"FHIR API\""), "{err}");
    assert!(typo.stdout.is_empty());

    let history = |check: &str| {
        let out = inv.rounds(&["history", "--state", state, "--check", check, "--format", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut checks: Vec<String> =
            doc["episodes"].as_array().unwrap().iter().map(|e| e["check"].as_str().unwrap().to_owned()).collect();
        checks.sort();
        checks
    };
    assert_eq!(history("FHIR API"), ["FHIR API"]);
    assert_eq!(history("PACS"), [format!("PACS:{closed}")], "a server's name: all its ports");
    assert_eq!(history("tag:lab"), [format!("LIS:{closed}")]);
}

/// Shift staff without secrets.env: `list` and `history` work; `check` names every unset
/// variable at once, in file order, with file and line.
#[test]
fn unset_variables_are_reported_all_at_once_and_list_needs_none() {
    let inv = inventory(
        "[[endpoint]]\nname = \"EHR\"\nurl = \"https://ehr.invalid/?t=${ROUNDS_TEST_UNSET_B}\"\n\n\
         [[command]]\nname = \"db\"\nrun = [\"true\"]\nenv = [\"ROUNDS_TEST_UNSET_A\"]\n\n\
         [[endpoint]]\nname = \"portal\"\nurl = \"https://portal.invalid/\"\nheaders = { Authorization = \"Bearer ${ROUNDS_TEST_UNSET_C}\" }\n",
    );
    let out = inv.rounds(&["--no-state"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("checks.toml:3:7: 3 environment variables are not set: ${ROUNDS_TEST_UNSET_B} (",)
            && err.contains("checks.toml:3), ${ROUNDS_TEST_UNSET_A} (")
            && err.contains("checks.toml:8), ${ROUNDS_TEST_UNSET_C} (")
            && err.contains("checks.toml:13)"),
        "{err}"
    );
    let list = inv.rounds(&["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.status.code(), Some(0), "{list:?}");
    assert!(text.contains("${ROUNDS_TEST_UNSET_B}") && text.contains("portal"), "{text}");
    assert!(!text.contains("unset"), "no placeholder is shown: {text}");
}

#[test]
fn sizes_and_shares_need_a_unit() {
    let (code, err) = validate("[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"95\"\n");
    assert_eq!(code, Some(3));
    assert!(
        err.contains("checks.toml:4:12: \"95\" has no unit; write a share like \"95%\" or a size like \"95 GiB\""),
        "{err}"
    );
    let (code, err) = validate("[[endpoint]]\nname = \"e\"\nurl = \"http://h/\"\nmax_body = \"512\"\n");
    assert_eq!(code, Some(3));
    assert!(err.contains("checks.toml:4:12: size \"512\" has no unit"), "{err}");
    let (code, err) = validate("[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"95%\"\nwarn_free = \"96 %\"\n");
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_url_without_its_scheme_says_so() {
    let (code, err) = validate("[[endpoint]]\nname = \"e\"\nurl = \"127.0.0.1:8080/health\"\n");
    assert_eq!(code, Some(3));
    assert!(
        err.contains("checks.toml:3:7: the URL has no scheme: write \"http://127.0.0.1:8080/health\" or \"https://"),
        "{err}"
    );
    assert!(!err.contains("relative URL"), "{err}");
    // A variable's value is never quoted, only the URL as written.
    let inv = inventory("[[endpoint]]\nname = \"e\"\nurl = \"${ROUNDS_TEST_HOST}:8080/health\"\n");
    let out = inv.rounds(&["validate"]).env("ROUNDS_TEST_HOST", "secret-host-name").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no scheme: write \"http://${ROUNDS_TEST_HOST}:8080/health\"") && !err.contains("secret-host"),
        "{err}"
    );
}

#[test]
fn includes_are_parsed_not_searched_and_include_must_come_first() {
    let inv = inventory("include = [\"sites/*.toml\"]\n\n[settings]\ntimeout = \"5s\"\n");
    std::fs::create_dir(inv.dir.path().join("sites")).unwrap();
    inv.write(
        "sites/east.toml",
        "# timeouts come from [settings] in main.toml\n[[disk]]\nname = \"east\"\npath = \"/\"\nmin_free = \"0%\"\n\
         hint = \"see [settings] upstairs\"\n",
    );
    let out = inv.rounds(&["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    inv.write("sites/east.toml", "[[disk]]\nname = \"east\"\npath = \"/\"\n\n  [settings]\ntimeout = \"5s\"\n");
    let out = inv.rounds(&["validate"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("east.toml:5:3: [settings] belongs in the top inventory file only"), "{err}");

    let (code, err) = validate("[[disk]]\nname = \"root\"\npath = \"/\"\n\ninclude = [\"sites/*.toml\"]\n");
    assert_eq!(code, Some(3));
    assert!(err.contains("checks.toml:5:1: include must come first, before the first [table]"), "{err}");
}
