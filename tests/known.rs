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
        .env_remove("SUDO_USER")
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
           \n[[maintenance]]\nchecks = [\"label printer 3\"]\nfrom = \"2026-01-01 00:00\"\nuntil = \"2026-01-02 00:00\"\ntimezone = \"Europe/Berlin\"\nreason = \"old\"\n";
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
    // validate names the window that ended.
    let validate = inv.rounds(&["validate"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let text = String::from_utf8_lossy(&validate.stdout);
    assert!(text.contains("note: the maintenance window \"old\" has ended; it can be removed"), "{text}");
    // A window that names no check is an error at its place (it was a note: issue 19).
    let toml = std::fs::read_to_string(&inv.path).unwrap().replace("[\"label printer 3\"]", "[\"label printr 3\"]");
    std::fs::write(&inv.path, toml).unwrap();
    let out = inv.rounds(&["validate"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("checks.toml:30:11: the maintenance window's \"label printr 3\" matches no check"), "{err}");
    assert!(err.contains("did you mean \"label printer 3\"?"), "{err}");
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

// ---- acknowledgements as people write them (issues 19 and 20) --------------------------------

/// `--until DATE` holds through the end of that day and is shown as entered; a date already
/// past is refused; who acknowledged is the person behind sudo; no secret is needed.
#[test]
fn ack_until_a_date_is_shown_as_entered_and_needs_no_secret() {
    let closed = support::closed_port();
    let inv = inventory(&format!(
        "[[server]]\nname = \"label printer 3\"\nhost = \"127.0.0.1\"\nports = [{closed}]\ntags = [\"printers\"]\n\n\
         [[server]]\nname = \"label printer 4\"\nhost = \"127.0.0.1\"\nports = [{closed}]\ntags = [\"printers\"]\n\n\
         [[endpoint]]\nname = \"EHR API\"\nurl = \"http://127.0.0.1:{closed}/?token=${{EHR_TOKEN_NOT_SET}}\"\n"
    ));
    // Shift staff: no EHR_TOKEN_NOT_SET, running through sudo.
    let ack = inv
        .rounds(&["ack", "label printer 3", "--until", "2026-12-05", "--note", "ticket 4411"])
        .env("ROUNDS_NOW", NOW)
        .env("USER", "root")
        .env("SUDO_USER", "alice")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&ack.stderr);
    assert_eq!(ack.status.code(), Some(0), "{said}");
    assert!(said.contains("acknowledged \"label printer 3\" until the end of 2026-12-05 in "), "{said}");
    let file = std::fs::read_to_string(inv.dir.path().join("acks.toml")).unwrap();
    assert!(file.contains("until = 2026-12-05\n") && file.contains("by = \"alice\""), "{file}");

    let list = inv.rounds(&["ack", "--list"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.starts_with("label printer 3  until the end of 2026-12-05 ("), "{list}");
    assert!(!list.contains("expired"), "{list}");

    // A run on the day itself (the secret is set for the run): still acknowledged, shown as entered.
    let run_json = |only: &str, now: &str| {
        let output = inv
            .rounds(&["--format", "json", "--no-state", "--only", only])
            .env("ROUNDS_NOW", now)
            .env("EHR_TOKEN_NOT_SET", "a-long-enough-token")
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        (doc, output.status.code())
    };
    let run = |now: &str| {
        let check = run_json("label printer 3", now).0["checks"][0].clone();
        let text = |key: &str| check[key].as_str().unwrap_or_default().to_owned();
        (text("status"), text("detail"))
    };
    let (status, detail) = run("2026-12-05T09:00:00Z");
    assert_eq!(status, "ack", "{detail}");
    assert!(detail.starts_with("acknowledged by alice until the end of 2026-12-05 ("), "{detail}");
    let (status, detail) = run("2026-12-07T12:00:00Z");
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.starts_with("the acknowledgement expired at the end of 2026-12-05 (ticket 4411): "), "{detail}");

    // A day already past is refused, and nothing is written.
    let past =
        inv.rounds(&["ack", "label printer 4", "--until", "2026-11-20"]).env("ROUNDS_NOW", NOW).output().unwrap();
    assert_eq!(past.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&past.stderr).contains("already past"), "{past:?}");
    assert!(!std::fs::read_to_string(inv.dir.path().join("acks.toml")).unwrap().contains("printer 4"));

    // Several checks need tag:; a bare tag acknowledges nothing.
    let bare = inv.rounds(&["ack", "printers", "--until", "2026-12-05"]).env("ROUNDS_NOW", NOW).output().unwrap();
    assert_eq!(bare.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&bare.stderr).contains("acknowledge several checks with \"tag:printers\""),
        "{bare:?}"
    );
    inv.rounds(&["ack", "tag:printers", "--until", "2026-12-05"]).env("ROUNDS_NOW", NOW).assert().code(0);
    let (doc, code) = run_json("tag:printers", NOW);
    assert_eq!((doc["summary"]["ack"].as_u64(), code), (Some(2), Some(0)), "{doc}");
    // list needs no secret either.
    inv.rounds(&["list"]).assert().code(0);
}

/// A hand-written acks.toml: a TOML date, a date-time, and the quoted form rounds used to
/// write are all honoured by `check`, shown by `ack --list`, and checked by `validate`.
#[test]
fn hand_written_acks_are_read_with_typed_dates_and_checked_by_validate() {
    let (inv, _ok) = clinic();
    inv.write(
        "acks.toml",
        "[[ack]]\ncheck = \"label printer 3\"\nuntil = 2099-12-01\nnote = \"new printer ordered\"\n\n\
         [[ack]]\ncheck = \"EHR database\"\nuntil = \"2099-12-01T08:00:00Z\"\nnote = \"old form\"\nby = \"bob\"\nat = \"2026-11-01T10:00:00Z\"\n",
    );
    let output = inv.rounds(&["--format", "json", "--no-state"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["summary"]["ack"], 2, "{doc}");
    assert_eq!(output.status.code(), Some(0));
    let list = inv.rounds(&["ack", "--list"]).env("ROUNDS_NOW", NOW).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.starts_with("label printer 3  until the end of 2099-12-01 ("), "{list}");
    assert!(list.contains("EHR database  until 2099-12-01T08:00:00Z (") && !list.contains("expired"), "{list}");
    inv.rounds(&["validate"]).env("ROUNDS_NOW", NOW).assert().code(0);

    // A typo in a name or a key, or a date that is none: exit 3 at file:line:col.
    for (acks, expected) in [
        (
            "[[ack]]\ncheck = \"label printr 3\"\nuntil = 2099-12-01\n",
            "acks.toml:2:9: the acknowledgement of \"label printr 3\" matches no check",
        ),
        (
            "[[ack]]\ncheck = \"label printr 3\"\nuntil = 2099-12-01\n",
            "did you mean \"label printer 3\"?; correct it, or remove it with rounds ack --remove \"label printr 3\"",
        ),
        ("[[ack]]\ncheck = \"EHR portal\"\nuntill = 2099-12-01\n", "did you mean `until`?"),
        ("[[ack]]\ncheck = \"EHR portal\"\nuntil = \"next week\"\n", "acks.toml:3:9: \"next week\" is not a date"),
    ] {
        inv.write("acks.toml", acks);
        for args in [&["validate"][..], &["--no-state"]] {
            let out = inv.rounds(args).env("ROUNDS_NOW", NOW).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{args:?} {acks}: {err}");
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }
}
