//! Living with known problems: acknowledgements (`rounds ack`, acks.toml) and maintenance
//! windows, with a fixed clock (`ROUNDS_NOW`) so dates and DST changes are exact.

mod support;

use support::{inventory, reply, verdict};

fn clinic() -> (support::Inventory, support::Server) {
    let ok = support::http(|_| reply(200, "ok"));
    let closed = support::closed_port();
    let toml = format!(
        "[[server]]\nname = \"label printer 3\"\nhost = \"127.0.0.1\"\nports = [{closed}]\n\n\
         [[endpoint]]\nname = \"EHR portal\"\nurl = \"{}\"\ntags = [\"ehr\"]\n\n\
         [[server]]\nname = \"EHR database\"\nhost = \"127.0.0.1\"\nports = [{closed}]\ntags = [\"ehr\"]\n",
        ok.url("/")
    );
    (inventory(&toml), ok)
}

const NOW: &str = "2026-11-25T10:00:00Z";

#[test]
fn an_acknowledged_failure_shows_ack_does_not_fail_the_gate_and_comes_back_when_it_expires() {
    let (inv, _ok) = clinic();
    let out = inv
        .rounds(&[
            "ack",
            "label printer 3",
            "--until",
            "2026-12-01T23:59:59Z",
            "--note",
            "ticket 4411, vendor visit Monday",
        ])
        .env("ROUNDS_NOW", NOW)
        .env("USER", "alice")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let acks = std::fs::read_to_string(inv.dir.path().join("acks.toml")).unwrap();
    assert!(acks.contains("check = \"label printer 3\"") && acks.contains("by = \"alice\""), "{acks}");

    let run = |now: &str, extra: &[&str]| {
        let mut args = vec!["--format", "json", "--no-state", "--only", "label printer 3"];
        args.extend(extra);
        let output = inv.rounds(&args).env("ROUNDS_NOW", now).output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (doc, output.status.code())
    };
    let (doc, code) = run(NOW, &[]);
    let name = doc["checks"][0]["name"].as_str().unwrap().to_owned();
    let (status, detail) = verdict(&doc, &name);
    assert_eq!((status.as_str(), code), ("ack", Some(0)), "{detail}");
    assert!(
        detail.starts_with("acknowledged by alice until 2026-12-01 (6 days left): ticket 4411, vendor visit Monday; "),
        "{detail}"
    );
    assert_eq!(doc["summary"]["ack"], 1);
    let table = inv.rounds(&["--no-state", "--only", "label printer 3"]).env("ROUNDS_NOW", NOW).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("1 acknowledged"), "{table:?}");

    // The date passed: it fails loudly again.
    let (doc, code) = run("2026-12-02T08:00:00Z", &[]);
    let (status, detail) = verdict(&doc, &name);
    assert_eq!((status.as_str(), code), ("fail", Some(2)));
    assert!(detail.starts_with("the acknowledgement expired on 2026-12-01 (ticket 4411"), "{detail}");

    let list = inv.rounds(&["ack", "--list"]).env("ROUNDS_NOW", NOW).output().unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .starts_with("label printer 3  until 2026-12-01T23:59:59Z (6 days left), by alice"),
        "{list:?}"
    );
    inv.rounds(&["ack", "--remove", "label printer 3"]).assert().code(0);
    assert!(!std::fs::read_to_string(inv.dir.path().join("acks.toml")).unwrap().contains("label printer"));
}

#[test]
fn an_acknowledged_check_that_passes_says_the_ack_can_go_and_unknown_names_are_refused() {
    let (inv, _ok) = clinic();
    inv.rounds(&["ack", "EHR portal", "--until", "2026-12-01"]).env("ROUNDS_NOW", NOW).assert().code(0);
    let (doc, _) = inv.run_json(&["--no-state", "--only", "EHR portal"]);
    let (status, detail) = verdict(&doc, "EHR portal");
    assert_eq!(status, "pass");
    assert!(
        detail.ends_with("; passes again: its acknowledgement can be removed (rounds ack --remove \"EHR portal\")"),
        "{detail}"
    );
    let typo = inv.rounds(&["ack", "label printr 3", "--until", "2026-12-01"]).output().unwrap();
    assert_eq!(typo.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean \"label printer 3\"?"), "{typo:?}");
    let past = inv.rounds(&["ack", "EHR portal", "--until", "someday"]).output().unwrap();
    assert_eq!(past.status.code(), Some(3));
}

#[test]
fn checks_in_a_maintenance_window_show_maint_and_never_fail_the_gate() {
    let (inv, _ok) = clinic();
    let toml = std::fs::read_to_string(&inv.path).unwrap()
        + "\n[[maintenance]]\nchecks = [\"tag:ehr\"]\nfrom = \"2026-11-25T09:00:00Z\"\nuntil = \"2026-11-25T11:00:00Z\"\nreason = \"EHR upgrade\"\n\
           \n[[maintenance]]\nchecks = [\"EHR database\"]\nweekly = \"Wed 09:30-10:30\"\ntimezone = \"UTC\"\nreason = \"weekly vacuum\"\n\
           \n[[maintenance]]\nchecks = [\"nothing by this name\"]\nfrom = \"2026-01-01 00:00\"\nuntil = \"2026-01-02 00:00\"\ntimezone = \"Europe/Berlin\"\nreason = \"old\"\n";
    std::fs::write(&inv.path, toml).unwrap();
    let output = inv.rounds(&["--format", "json", "--no-state"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let db = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("EHR database"))
        .unwrap();
    assert_eq!(db["status"], "maint");
    let detail = db["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "maintenance (EHR upgrade, until 2026-11-25 11:00 UTC; weekly vacuum, until 10:30 UTC): connection refused"
        ),
        "overlapping windows merge: {detail}"
    );
    assert_eq!(verdict(&doc, "EHR portal").0, "maint", "a passing check inside a window is shown maint too");
    assert_eq!(doc["summary"]["maint"], 2);
    assert_eq!(output.status.code(), Some(2), "the printer outside any window still fails");
    // After the windows, the database fails again.
    let later =
        inv.rounds(&["--format", "json", "--no-state"]).env("ROUNDS_NOW", "2026-11-25T12:00:00Z").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&later.stdout).unwrap();
    let db = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("EHR database"))
        .unwrap();
    assert_eq!(db["status"], "fail");
    // validate names the window that ended and the name that matches nothing.
    let validate = inv.rounds(&["validate"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let text = String::from_utf8_lossy(&validate.stdout);
    assert!(text.contains("note: the maintenance window \"old\" has ended; it can be removed"), "{text}");
    assert!(text.contains("names \"nothing by this name\", which matches no check"), "{text}");
}

/// Sun 01:00-03:00 in America/Chicago on the Sunday US clocks change (2026-03-08).
#[test]
fn a_weekly_window_across_a_dst_change() {
    let closed = support::closed_port();
    let inv = inventory(&format!(
        "[[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{closed}]\n\n\
         [[maintenance]]\nchecks = [\"PACS\"]\nweekly = \"Sun 01:00-03:00\"\ntimezone = \"America/Chicago\"\nreason = \"PACS reindex\"\n"
    ));
    // Before the change the window is 07:00-09:00 UTC; on the day it ends at 03:00 CDT
    // (08:00 UTC); after it, it is 06:00-08:00 UTC.
    let cases = [
        ("2026-03-01T06:30:00Z", "fail"),
        ("2026-03-01T07:30:00Z", "maint"),
        ("2026-03-08T07:30:00Z", "maint"),
        ("2026-03-08T08:00:00Z", "fail"),
        ("2026-03-15T05:30:00Z", "fail"),
        ("2026-03-15T06:30:00Z", "maint"),
        ("2026-03-15T08:00:00Z", "fail"),
    ];
    for (now, expected) in cases {
        let output = inv.rounds(&["--format", "json", "--no-state"]).env("ROUNDS_NOW", now).output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(doc["checks"][0]["status"], expected, "{now}");
    }
}

// ---- inventories that grow ------------------------------------------------------------------

#[test]
fn includes_merge_other_files_and_errors_name_the_right_file() {
    let inv = inventory("include = [\"sites/*.toml\"]\n\n[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n");
    std::fs::create_dir(inv.dir.path().join("sites")).unwrap();
    inv.write(
        "sites/east.toml",
        "[[disk]]\nname = \"east temp\"\npath = \"/tmp\"\nmin_free = \"0%\"\ntags = [\"east\"]\n",
    );
    inv.write("sites/west.toml", "[[disk]]\nname = \"west temp\"\npath = \"/tmp\"\nmin_free = \"0%\"\n");
    let (doc, code) = inv.run_json(&["--no-state"]);
    let names: Vec<&str> = doc["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!((names, code), (vec!["root", "east temp", "west temp"], 0));
    let listed = inv.rounds(&["list", "--kind", "disk", "--tag", "east"]).output().unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("east temp") && !text.contains("west temp") && !text.contains("root"), "{text}");

    // A name used in two files: the error names both.
    inv.write(
        "sites/west.toml",
        "[[disk]]\nname = \"west temp\"\npath = \"/tmp\"\n\n[[disk]]\nname = \"east temp\"\npath = \"/tmp\"\n",
    );
    let out = inv.rounds(&["validate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr.contains("west.toml:6:8: duplicate check name \"east temp\" (first used on ")
            && stderr.contains("east.toml line 2)"),
        "{stderr}"
    );

    // [settings] only at the top; a pattern that matches nothing is an error.
    inv.write("sites/west.toml", "[settings]\ntimeout = \"5s\"\n");
    let out = inv.rounds(&["validate"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("west.toml:1:1: [settings] belongs in the top inventory file only"),
        "{out:?}"
    );
    std::fs::write(&inv.path, "include = [\"site/*.toml\"]\n[[disk]]\nname = \"root\"\npath = \"/\"\n").unwrap();
    let out = inv.rounds(&["validate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("include \"site/*.toml\" matches no file"), "{out:?}");
}
