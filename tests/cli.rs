//! The command line as users and scripts meet it: exit codes, formats, quiet mode, colour,
//! and config errors that point at the line.

mod support;

use predicates::prelude::*;
use support::{inventory, rounds, verdict};

fn passing_and_failing() -> (support::Server, String) {
    let ok = support::http(|_| support::reply(200, "ok"));
    let closed = support::closed_port();
    let toml = format!(
        r#"
[[endpoint]]
name = "EHR portal"
url = "{}"
tags = ["ehr"]

[[server]]
name = "lab"
host = "127.0.0.1"
ports = [{closed}]
severity = "warning"
tags = ["lab"]
"#,
        ok.url("/")
    );
    (ok, toml)
}

#[test]
fn exit_0_when_only_warning_checks_fail() {
    let (_server, toml) = passing_and_failing();
    let inv = inventory(&toml);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(code, 0);
    let lab = doc["checks"][1]["name"].as_str().unwrap().to_owned();
    assert!(lab.starts_with("lab:"), "{lab}");
    assert_eq!(verdict(&doc, &lab), ("warn".into(), "connection refused".into()));
}

#[test]
fn exit_1_with_strict_when_something_warned() {
    let (_server, toml) = passing_and_failing();
    inventory(&toml).rounds(&["--strict"]).assert().code(1);
}

#[test]
fn exit_2_when_a_critical_check_fails() {
    let inv =
        inventory(&format!("[[server]]\nname = \"db\"\nhost = \"127.0.0.1\"\nports = [{}]\n", support::closed_port()));
    inv.rounds(&[]).assert().code(2).stdout(predicate::str::contains("connection refused"));
}

#[test]
fn exit_3_for_bad_flags_missing_inventory_and_empty_selection() {
    let (_server, toml) = passing_and_failing();
    let inv = inventory(&toml);
    inv.rounds(&["--format", "yaml"]).assert().code(3);
    inv.rounds(&["--no-such-flag"]).assert().code(3);
    inv.rounds(&["--timeout", "soon"]).assert().code(3);
    inv.rounds(&["--only", "nothing-by-this-name"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--only \"nothing-by-this-name\" matches no check"));
    rounds()
        .args(["--config", "/no/such/checks.toml"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no such file"));
}

#[test]
fn help_documents_the_exit_codes() {
    rounds().arg("--help").assert().success().stdout(predicate::str::contains("2  at least one critical check failed"));
}

#[test]
fn table_is_plain_when_piped_with_the_summary_first() {
    let (_server, toml) = passing_and_failing();
    let output = inventory(&toml).rounds(&[]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains('\x1b'), "ANSI escapes in piped output:\n{stdout}");
    // Mail: host and date, then the summary, on the first line (issue 9).
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("rounds on ") && first.contains(" UTC: 1 warning, 1 passed in "), "{stdout}");
    for column in ["status", "check", "detail", "time"] {
        assert!(stdout.contains(column), "{column} missing:\n{stdout}");
    }
    assert!(stdout.contains("WARN") && stdout.contains("PASS"), "{stdout}");
}

#[test]
fn quiet_prints_nothing_when_all_passed() {
    let server = support::http(|_| support::reply(200, "ok"));
    let inv = inventory(&format!("[[endpoint]]\nname = \"ok\"\nurl = \"{}\"\n", server.url("/")));
    inv.rounds(&["--quiet"]).assert().code(0).stdout(predicate::str::is_empty());
    // Machine formats always get a whole document: the filtered list is empty.
    let (doc, code) = inv.run_json(&["-q"]);
    assert_eq!((code, doc["checks"].as_array().map(Vec::len), doc["summary"]["total"].as_u64()), (0, Some(0), Some(1)));
}

#[test]
fn quiet_prints_only_what_did_not_pass() {
    let (_server, toml) = passing_and_failing();
    inventory(&toml)
        .rounds(&["--quiet"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("lab:").and(predicate::str::contains("EHR portal").not()));
}

#[test]
fn results_keep_inventory_order_across_kinds() {
    let toml = format!(
        "[[disk]]\nname = \"first\"\npath = \"/\"\nmin_free = \"0%\"\n\n\
         [[server]]\nname = \"second\"\nhost = \"127.0.0.1\"\nports = [{}]\n\n\
         [[disk]]\nname = \"third\"\npath = \"/\"\nmin_free = \"0%\"\n",
        support::closed_port()
    );
    let (doc, _) = inventory(&toml).run_json(&[]);
    let names: Vec<&str> = doc["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3);
    assert_eq!((names[0], names[2]), ("first", "third"));
    assert!(names[1].starts_with("second:"));
}

#[test]
fn only_selects_by_name_server_name_or_tag() {
    let (_server, toml) = passing_and_failing();
    let inv = inventory(&toml);
    let (doc, _) = inv.run_json(&["--only", "ehr"]);
    assert_eq!(doc["summary"]["total"], 1);
    let (doc, _) = inv.run_json(&["--only", "lab"]);
    assert_eq!(doc["checks"][0]["kind"], "server");
    let (doc, _) = inv.run_json(&["--only", "EHR portal", "--only", "lab"]);
    assert_eq!(doc["summary"]["total"], 2);
}

#[test]
fn json_has_the_documented_fields() {
    let (_server, toml) = passing_and_failing();
    let (doc, _) = inventory(&toml).run_json(&[]);
    assert_eq!(doc["version"], 1);
    assert!(doc["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(doc["duration_ms"].is_u64());
    assert_eq!(doc["summary"]["total"], 2);
    for key in ["name", "kind", "target", "status", "severity", "detail", "duration_ms", "tags"] {
        assert!(!doc["checks"][0][key].is_null(), "{key} missing");
    }
}

#[test]
fn environment_selects_the_inventory() {
    let (_server, toml) = passing_and_failing();
    let inv = inventory(&toml);
    rounds()
        .arg("validate")
        .env("ROUNDS_CONFIG", &inv.path)
        .assert()
        .success()
        .stdout(predicate::str::contains("OK, 2 checks"));
}

#[test]
fn list_shows_one_line_per_check() {
    let (_server, toml) = passing_and_failing();
    let inv = inventory(&toml);
    rounds().args(["list", "-c"]).arg(&inv.path).assert().success().stdout(
        predicate::str::contains("EHR portal")
            .and(predicate::str::contains("warning"))
            .and(predicate::str::contains("lab")),
    );
}

// ---- config errors ----------------------------------------------------------------------

fn config_error(toml: &str) -> String {
    let inv = inventory(toml);
    let output = rounds().args(["validate", "-c"]).arg(&inv.path).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "expected exit 3 for:\n{toml}");
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn misspelt_key_names_line_column_and_the_right_key() {
    let err = config_error("[[endpoint]]\nname = \"EHR\"\nurll = \"http://x\"\n");
    assert!(err.contains("checks.toml:3:1: unknown field `urll`"), "{err}");
    assert!(err.contains("did you mean `url`?"), "{err}");
}

#[test]
fn misspelt_table_is_caught_too() {
    let err = config_error("[[endpiont]]\nname = \"EHR\"\n");
    assert!(err.contains("checks.toml:1:3"), "{err}");
    assert!(err.contains("did you mean `endpoint`?"), "{err}");
}

#[test]
fn bad_duration_points_at_the_value() {
    let err = config_error("[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = \"ten seconds\"\n");
    assert!(err.contains("checks.toml:4:11: invalid duration \"ten seconds\""), "{err}");
}

#[test]
fn bad_size_and_wrong_type() {
    let err = config_error("[[endpoint]]\nname = \"e\"\nurl = \"http://x\"\nmax_body = \"lots\"\n");
    assert!(err.contains(":4:12: invalid size \"lots\""), "{err}");
    let err = config_error("[[server]]\nname = \"s\"\nhost = \"h\"\nports = \"443\"\n");
    assert!(err.contains(":4:9:"), "{err}");
}

#[test]
fn duplicate_names_are_rejected() {
    let err = config_error("[[disk]]\nname = \"d\"\npath = \"/\"\n\n[[disk]]\nname = \"d\"\npath = \"/tmp\"\n");
    assert!(err.contains(":6:8: duplicate check name \"d\" (first used on line 2)"), "{err}");
}

#[test]
fn unset_variable_is_named() {
    let err = config_error("[[endpoint]]\nname = \"e\"\nurl = \"http://x/?t=${NOT_SET_ANYWHERE}\"\n");
    assert!(err.contains(":3:7: environment variable NOT_SET_ANYWHERE is not set"), "{err}");
}

/// A whole URL kept in one variable that is not set is named as such, for every URL key:
/// never "the URL has no scheme", which sends a new user looking in the wrong place.
#[test]
fn an_unset_whole_url_variable_is_named() {
    let keys = [
        "[[endpoint]]\nname = \"e\"\nurl = \"${NOT_SET_ANYWHERE}\"\n",
        "[settings]\nheartbeat = \"${NOT_SET_ANYWHERE}\"\n\n[[disk]]\nname = \"d\"\npath = \"/\"\n",
        "[[endpoint]]\nname = \"e\"\nurl = \"http://x/\"\nproxy = \"${NOT_SET_ANYWHERE}\"\n",
        "[[notify]]\nname = \"n\"\nkind = \"ntfy\"\nurl = \"${NOT_SET_ANYWHERE}\"\n",
        "[[sql]]\nname = \"q\"\nurl = \"${NOT_SET_ANYWHERE}\"\n",
    ];
    for inventory in keys {
        let err = config_error(inventory);
        assert!(err.contains("environment variable NOT_SET_ANYWHERE is not set"), "{inventory}\n{err}");
        assert!(!err.contains("scheme"), "{inventory}\n{err}");
    }
}

#[test]
fn bad_url_and_unknown_severity() {
    let err = config_error("[[endpoint]]\nname = \"e\"\nurl = \"ftp://files\"\n");
    assert!(err.contains("unsupported URL scheme \"ftp\""), "{err}");
    let err = config_error("[[disk]]\nname = \"d\"\npath = \"/\"\nseverity = \"critcal\"\n");
    assert!(err.contains("did you mean `critical`?"), "{err}");
}

#[test]
fn syntax_error_has_a_line_too() {
    let err = config_error("[[disk]\nname = \"d\"\n");
    assert!(err.contains("checks.toml:1:"), "{err}");
}

#[test]
fn the_shipped_inventories_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    rounds().args(["validate", "-c"]).arg(format!("{root}/checks.toml")).assert().success();
    rounds()
        .args(["validate", "-c"])
        .arg(format!("{root}/examples/clinic.toml"))
        .env("EHR_TOKEN", "example-token")
        .env("BORG_PASSPHRASE", "example-passphrase")
        .env("MIRTH_PASSWORD", "example-password")
        .env("LDAP_PASSWORD", "example-password")
        .env("LAB_DB_URL", "postgres://lab_reader:example-password@lab-db.clinic.example/lab")
        .env("SNMP_COMMUNITY", "example-community")
        .assert()
        .success()
        .stdout(predicate::str::contains("OK, 36 checks"));
    rounds().args(["validate", "-c"]).arg(format!("{root}/examples/starter.toml")).assert().success();
    rounds()
        .args(["validate", "-c"])
        .arg(format!("{root}/examples/posture.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("OK, 10 checks"));
}

/// Runs `rounds ARGS` on a real pseudo-terminal (util-linux `script`) and returns its output.
fn on_a_terminal(inv: &support::Inventory, args: &str, env: &[(&str, &str)]) -> String {
    let bin = assert_cmd::cargo::cargo_bin!("rounds");
    let command = format!("{} --config {} {args}", bin.display(), inv.path.display());
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR").env("XDG_STATE_HOME", inv.dir.path());
    for (k, v) in env {
        script.env(k, v);
    }
    let output = script.output().expect("util-linux `script` is needed to test terminal output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_unless_no_color_or_the_flag() {
    let inv =
        inventory(&format!("[[server]]\nname = \"db\"\nhost = \"127.0.0.1\"\nports = [{}]\n", support::closed_port()));
    let coloured = on_a_terminal(&inv, "", &[]);
    assert!(coloured.contains("FAIL") && coloured.contains("\x1b["), "no colour on a terminal:\n{coloured}");
    assert!(!on_a_terminal(&inv, "--no-color", &[]).contains("\x1b["));
    let plain = on_a_terminal(&inv, "", &[("NO_COLOR", "1")]);
    assert!(plain.contains("FAIL") && !plain.contains("\x1b["), "{plain}");
}

#[test]
fn check_subcommand_is_the_default_command() {
    let (_server, toml) = passing_and_failing();
    let inv = inventory(&toml);
    rounds()
        .args(["check", "--format", "json", "-c"])
        .arg(&inv.path)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"version\": 1"));
}

/// A gate must not go green because its inventory was emptied or truncated.
#[test]
fn an_inventory_without_checks_is_exit_3() {
    for toml in ["", "# only a comment\n", "[settings]\ntimeout = \"5s\"\n"] {
        let inv = inventory(toml);
        for args in [&[][..], &["validate"]] {
            inv.rounds(args).assert().code(3).stderr(predicate::str::contains("the inventory defines no checks"));
        }
    }
}

#[test]
fn config_goes_before_or_after_the_subcommand_and_a_zero_timeout_is_refused() {
    let inv = inventory("[[disk]]\nname = \"root\"\npath = \"/\"\n");
    for sub in ["list", "validate"] {
        rounds()
            .arg("-c")
            .arg(&inv.path)
            .arg(sub)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("root").or(predicate::str::contains("OK")));
    }
    inv.rounds(&["--timeout", "0s"]).assert().code(3).stderr(predicate::str::contains("more than zero"));
}

/// The README's cron recipe, run as written: `set -a` exports the plain `KEY=value` lines
/// of secrets.env (a bare `.` would not), and `--quiet` prints nothing when all is well.
#[test]
fn the_cron_recipe_works_as_written() {
    let token = "cron-token-123456";
    let server = support::http(move |req| {
        let ok = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {token}"));
        support::reply(if ok { 200 } else { 401 }, "")
    });
    let inv = inventory(&format!(
        "[[endpoint]]\nname = \"EHR\"\nurl = \"{}\"\nheaders = {{ Authorization = \"Bearer ${{EHR_TOKEN}}\" }}\n",
        server.url("/")
    ));
    let secrets = inv.write("secrets.env", &format!("EHR_TOKEN={token}\n"));
    let bin = assert_cmd::cargo::cargo_bin!("rounds");
    let line = format!("set -a; . {}; set +a; {} --quiet", secrets.display(), bin.display());
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env("ROUNDS_CONFIG", &inv.path)
        .env("XDG_STATE_HOME", inv.dir.path())
        .env_remove("EHR_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.stdout.is_empty() && output.stderr.is_empty(), "{output:?}");
    // Without `set -a` the variable is not exported: a config error, said plainly.
    let without = format!(". {}; {} --quiet", secrets.display(), bin.display());
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(&without)
        .env("ROUNDS_CONFIG", &inv.path)
        .env("XDG_STATE_HOME", inv.dir.path())
        .env_remove("EHR_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("environment variable EHR_TOKEN is not set"));
}

/// No secret in `list`, `validate` or a config error: they show `${VAR}`, never its value.
#[test]
fn list_validate_and_errors_never_show_a_secret() {
    let canary = "canary-secret-0123456789";
    let good = "[[endpoint]]\nname = \"api\"\nurl = \"https://u:${API_TOKEN}@ehr.example/?t=${API_TOKEN}\"\n\
                headers = { Authorization = \"Bearer ${API_TOKEN}\" }\n";
    let inv = inventory(good);
    for args in [&["list"][..], &["validate"]] {
        let output = inv.rounds(args).env("API_TOKEN", canary).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!all.contains("canary"), "{args:?}: {all}");
    }
    // An error on the line that expands the secret quotes the line as written, not the value.
    let bad = inventory("[[endpoint]]\nname = \"api\"\nurl = \"ftp://${API_TOKEN}/\"\n");
    let output = bad.rounds(&["validate"]).env("API_TOKEN", canary).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported URL scheme") && !stderr.contains("canary"), "{stderr}");
}

/// On a real terminal of 60, 80, 120 and 200 columns the table fits, words are not cut, and
/// the narrow ones leave out kind and target; `--no-color` only removes colour.
#[test]
fn the_table_fits_the_terminal() {
    let server = support::http(|_| support::reply(503, "down for maintenance"));
    let inv = inventory(&format!(
        "[[endpoint]]\nname = \"EHR portal\"\nurl = \"{}\"\nexpect_status = [200]\n\
         [[disk]]\nname = \"root volume\"\npath = \"/\"\nmin_free = \"0%\"\n",
        server.url("/health/with/a/long/path")
    ));
    for cols in [60, 80, 120, 200] {
        let resized = format!(
            "stty cols {cols} rows 50; {} --config {} --no-color",
            assert_cmd::cargo::cargo_bin!("rounds").display(),
            inv.path.display()
        );
        let output = std::process::Command::new("script")
            .args(["-qec", &resized, "/dev/null"])
            .env("XDG_STATE_HOME", inv.dir.path())
            .output()
            .expect("util-linux script");
        let text = String::from_utf8_lossy(&output.stdout).replace('\r', "");
        assert!(!text.contains('\x1b'), "{cols}: colour with --no-color\n{text}");
        let table: Vec<&str> = text.lines().filter(|l| l.starts_with(['┌', '│', '├', '└', '╞', '+', '|'])).collect();
        assert!(!table.is_empty(), "{cols}: no table\n{text}");
        let widest = table.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest <= cols, "{cols} columns, table is {widest} wide:\n{text}");
        assert_eq!(text.contains("target"), cols >= 120, "{cols}:\n{text}");
        assert!(text.contains("Needs attention:\n  FAIL  EHR portal"), "{cols}:\n{text}");
    }
}

/// A slow run shows "N/M done, waiting for ..." on a terminal, and never when piped.
#[test]
fn progress_shows_on_a_terminal_only() {
    let hung = support::silent();
    let inv = inventory(&format!(
        "[[endpoint]]\nname = \"slow EHR\"\nurl = \"{}\"\ntimeout = \"2s\"\n\
         [[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n",
        hung.url("/")
    ));
    let on_tty = on_a_terminal(&inv, "", &[]);
    assert!(on_tty.contains("1/2 done, waiting for slow EHR"), "{on_tty}");
    let piped = inv.rounds(&[]).output().unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("waiting for"), "{piped:?}");
}

/// `--watch` runs again at the interval until stopped.
#[test]
fn watch_runs_again_until_stopped() {
    use std::io::Read;
    let inv = inventory("[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
    command
        .args(["--config", &inv.path.display().to_string(), "--watch", "200ms", "--no-state"])
        .stdout(std::process::Stdio::piped());
    let mut child = support::Child::spawn(&mut command);
    let mut stdout = child.0.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    support::wait_until("three runs of --watch", || {
        let n = stdout.read(&mut buf).unwrap_or(0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.matches("(again in 200 ms").count() >= 3
    });
    assert!(seen.contains("1 passed"), "{seen}");
}

/// At least forty bad inventories and flags: each exits 3 with a first line that says what
/// is wrong and where (a reviewed snapshot), and never panics.
#[test]
fn bad_inventories_and_flags_exit_3_with_a_clear_first_line() {
    const DISK: &str = "[[disk]]\nname = \"d\"\npath = \"/\"\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("typo in a key", "[[disk]]\nname = \"d\"\npaht = \"/\"\n".into(), vec![]),
        ("typo in a table", "[[disks]]\nname = \"d\"\npath = \"/\"\n".into(), vec![]),
        ("typo in settings", format!("[settings]\ntimout = \"5s\"\n{DISK}"), vec![]),
        ("string for a list", "[[server]]\nname = \"s\"\nhost = \"h\"\nports = \"443\"\n".into(), vec![]),
        ("number for a string", "[[disk]]\nname = 7\npath = \"/\"\n".into(), vec![]),
        ("string for a bool", "[[server]]\nname = \"s\"\nhost = \"h\"\nping = \"yes\"\n".into(), vec![]),
        ("negative port", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = -1\n".into(), vec![]),
        ("port 0", "[[tls]]\nname = \"t\"\nhost = \"h\"\nport = 0\n".into(), vec![]),
        ("port too large", "[[server]]\nname = \"s\"\nhost = \"h\"\nports = [65536]\n".into(), vec![]),
        ("zero timeout", "[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = \"0s\"\n".into(), vec![]),
        ("negative timeout", "[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = \"-5s\"\n".into(), vec![]),
        ("huge timeout", "[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = \"300000000000y\"\n".into(), vec![]),
        ("timeout over a day", "[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = \"2days\"\n".into(), vec![]),
        ("timeout without unit", "[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = \"5\"\n".into(), vec![]),
        ("timeout as number", "[[disk]]\nname = \"d\"\npath = \"/\"\ntimeout = 5\n".into(), vec![]),
        ("zero concurrency", format!("[settings]\nconcurrency = 0\n{DISK}"), vec![]),
        ("huge concurrency", format!("[settings]\nconcurrency = 3000000000000000000\n{DISK}"), vec![]),
        ("negative concurrency", format!("[settings]\nconcurrency = -1\n{DISK}"), vec![]),
        ("too many retries", "[[disk]]\nname = \"d\"\npath = \"/\"\nretries = 11\n".into(), vec![]),
        ("empty name", "[[disk]]\nname = \"\"\npath = \"/\"\n".into(), vec![]),
        ("missing name", "[[disk]]\npath = \"/\"\n".into(), vec![]),
        ("duplicate name", format!("{DISK}{DISK}"), vec![]),
        ("unset variable", "[[endpoint]]\nname = \"e\"\nurl = \"https://h/${ROUNDS_TEST_UNSET}\"\n".into(), vec![]),
        ("bad variable name", "[[endpoint]]\nname = \"e\"\nurl = \"https://h/${A-B}\"\n".into(), vec![]),
        ("unterminated variable", "[[endpoint]]\nname = \"e\"\nurl = \"https://h/${A\"\n".into(), vec![]),
        ("bad size", "[[endpoint]]\nname = \"e\"\nurl = \"https://h/\"\nmax_body = \"lots\"\n".into(), vec![]),
        ("bad percentage", "[[disk]]\nname = \"d\"\npath = \"/\"\nmin_free = \"150%\"\n".into(), vec![]),
        ("negative size", "[[endpoint]]\nname = \"e\"\nurl = \"https://h/\"\nmax_body = -1\n".into(), vec![]),
        ("unknown severity", "[[disk]]\nname = \"d\"\npath = \"/\"\nseverity = \"critcal\"\n".into(), vec![]),
        ("unknown dependency", "[[disk]]\nname = \"d\"\npath = \"/\"\ndepends_on = [\"nope\"]\n".into(), vec![]),
        ("dependency cycle", "[[disk]]\nname = \"a\"\npath = \"/\"\ndepends_on = [\"b\"]\n[[disk]]\nname = \"b\"\npath = \"/\"\ndepends_on = [\"a\"]\n".into(), vec![]),
        ("a raw control character", "[[disk]]\nname = \"d\u{1b}[2J\"\npath = \"/\"\n".into(), vec![]),
        ("syntax error", "[[disk]\nname = \"d\"\n".into(), vec![]),
        ("empty file", String::new(), vec![]),
        ("comments only", "# nothing\n".into(), vec![]),
        ("not UTF-8", "written as bytes below".into(), vec![]),
        ("flag: unknown", DISK.into(), vec!["--colour"]),
        ("flag: bad format", DISK.into(), vec!["--format", "xml"]),
        ("flag: zero timeout", DISK.into(), vec!["--timeout", "0s"]),
        ("flag: huge timeout", DISK.into(), vec!["--timeout", "300000000000y"]),
        ("flag: zero concurrency", DISK.into(), vec!["--concurrency", "0"]),
        ("flag: huge concurrency", DISK.into(), vec!["--concurrency", "3000000000000000000"]),
        ("flag: bad deadline", DISK.into(), vec!["--deadline", "soon"]),
        ("flag: only matches nothing", DISK.into(), vec!["--only", "nope"]),
        ("flag: check flag before list", DISK.into(), vec!["--format", "json", "list"]),
        ("flag: output without format", DISK.into(), vec!["--output", "report.xyz"]),
        ("flag: missing inventory", DISK.into(), vec!["-c", "/nonexistent/checks.toml"]),
        ("flag: a folder as inventory", DISK.into(), vec!["-c", "/tmp"]),
        ("flag: a device as inventory", DISK.into(), vec!["-c", "/dev/zero"]),
    ];
    assert!(cases.len() >= 40);
    let mut report = String::new();
    for (what, toml, args) in &cases {
        let inv = inventory(toml);
        if *what == "not UTF-8" {
            std::fs::write(&inv.path, b"[[disk]]\nname = \"caf\xe9\"\npath = \"/\"\n").unwrap();
        }
        // Flags that name the inventory themselves run without this one.
        let output = if args.first() == Some(&"-c") {
            rounds().args(args).output().unwrap()
        } else {
            inv.rounds(args).output().unwrap()
        };
        let stderr = String::from_utf8_lossy(&output.stderr).replace(&inv.path.display().to_string(), "checks.toml");
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("(nothing)");
        assert_eq!(output.status.code(), Some(3), "{what}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("internal error"), "{what}: {stderr}");
        report.push_str(&format!("{what}: {first}\n"));
    }
    insta::assert_snapshot!(report);
}
