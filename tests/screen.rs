//! What people see: the cron mail under --quiet, lines fitted to 80 columns on a terminal and
//! 100 piped, the Nagios line, `--output` format names, where the state went, and which
//! subcommands take --state and --acks.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use predicates::prelude::*;
use support::{inventory, reply};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\r', "")
}

/// Units a number must not be parted from at the end of a line.
const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "%", "ms", "s", "min", "h", "days", "UTC"];

/// Every line at most `width` columns, and no line ending in a number whose unit starts the
/// next one ("41.5" / "GiB").
fn assert_fits(out: &str, width: usize, what: &str) {
    let lines: Vec<&str> = out.lines().collect();
    for line in &lines {
        assert!(line.chars().count() <= width, "{what}: a line over {width} columns: {line:?}\n{out}");
    }
    for pair in lines.windows(2) {
        let first_word = pair[1].trim_start_matches([' ', '|']).split(' ').next().unwrap_or("");
        let parted = pair[0].trim_end_matches([' ', '|']).ends_with(|c: char| c.is_ascii_digit())
            && UNITS.contains(&first_word.trim_end_matches([',', ')', ';']));
        assert!(!parted, "{what}: a number parted from its unit:\n{}\n{}\n\n{out}", pair[0], pair[1]);
    }
}

/// A disk that fails with sizes in its detail, an endpoint with a long URL, and a long name.
fn wordy() -> String {
    format!(
        "[[disk]]\nname = \"root volume of the picture archive server in the basement\"\npath = \"/\"\n\
         min_free = \"100%\"\n\
         [[server]]\nname = \"PACS archive\"\nhost = \"127.0.0.1\"\nports = [{}]\n\
         [[endpoint]]\nname = \"EHR portal\"\nurl = \"http://127.0.0.1:{}/health/with/a/rather/long/path/that/goes/on?and=more\"\n",
        support::closed_port(),
        support::closed_port()
    )
}

#[test]
fn at_80_columns_on_a_terminal_every_line_fits_and_keeps_numbers_with_their_units() {
    let inv = inventory(&wordy());
    let state = inv.dir.path().join("state.json");
    let bin = assert_cmd::cargo::cargo_bin!("rounds");
    let (config, state) = (inv.path.display(), state.display());
    let commands = format!(
        "stty cols 80 rows 50; exec 2>/dev/null; {bin} --config {config} --state {state} --no-color; echo ==; \
         {bin} --config {config} --state {state} -q; echo ==; {bin} --config {config} history --state {state}; \
         echo ==; {bin} --config {config} list",
        bin = bin.display()
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &commands, "/dev/null"])
        .env_remove("COLUMNS")
        .output()
        .expect("util-linux `script` is needed to test terminal output");
    let out = text(&output.stdout);
    let parts: Vec<&str> = out.split("==\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    for (part, what) in parts.iter().zip(["the report", "the quiet report", "history", "list"]) {
        assert!(part.contains("root volume"), "{what}:\n{part}");
        assert_fits(part, 80, what);
    }
    assert!(parts[0].contains("Needs attention:") && parts[2].contains("Still open (3):"), "{out}");
}

#[test]
fn piped_every_line_fits_in_100_columns() {
    let inv = inventory(&wordy());
    let report = inv.rounds(&[]).output().unwrap();
    assert_eq!(report.status.code(), Some(2));
    assert_fits(&text(&report.stdout), 100, "the report");
    let history = inv.rounds(&["history"]).output().unwrap();
    assert!(history.status.success(), "{}", text(&history.stderr));
    assert_fits(&text(&history.stdout), 100, "history");
    let list = inv.rounds(&["list"]).output().unwrap();
    assert_fits(&text(&list.stdout), 100, "list");
    // COLUMNS is for terminals: piped, the mail width holds.
    let wide = inv.rounds(&[]).env("COLUMNS", "300").output().unwrap();
    assert_fits(&text(&wide.stdout), 100, "the report with COLUMNS=300");
}

/// The cron mail after a fix: which check came back and how long it was down, and each
/// problem once.
#[test]
fn the_quiet_mail_names_what_came_back_and_lists_each_problem_once() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let ehr = support::http(move |_| reply(if flag.load(Ordering::SeqCst) { 200 } else { 503 }, "ok"));
    let inv = inventory(&format!(
        "[[endpoint]]\nname = \"EHR portal\"\nurl = \"{}\"\n\
         [[server]]\nname = \"PACS\"\nhost = \"127.0.0.1\"\nports = [{}]\n",
        ehr.url("/health"),
        support::closed_port()
    ));
    let first = inv.rounds(&["--quiet"]).output().unwrap();
    assert!(text(&first.stdout).contains("EHR portal (new)"), "{}", text(&first.stdout));
    healthy.store(true, Ordering::SeqCst);
    let second = inv.rounds(&["--quiet"]).output().unwrap();
    let mail = text(&second.stdout);
    assert_eq!(second.status.code(), Some(2), "{mail}");
    assert!(mail.replace('\n', " ").contains("1 recovered since the last run"), "{mail}");
    assert!(mail.contains("Recovered:\n  PASS  EHR portal: back after "), "{mail}");
    assert_eq!(mail.matches("PACS").count(), 1, "each problem once:\n{mail}");
    assert!(!mail.contains("All results"), "{mail}");
}

#[test]
fn nagios_quiet_with_all_passed_has_no_empty_perfdata() {
    let ok = support::http(|_| reply(200, "ok"));
    let inv = inventory(&format!("[[endpoint]]\nname = \"EHR\"\nurl = \"{}\"\n", ok.url("/")));
    let out = inv.rounds(&["--format", "nagios", "-q", "--no-state"]).output().unwrap();
    let first = text(&out.stdout).lines().next().unwrap_or_default().to_owned();
    assert_eq!(first, "ROUNDS OK - 1 of 1 passed", "{}", text(&out.stdout));
    let whole = inv.rounds(&["--format", "nagios", "--no-state"]).output().unwrap();
    assert!(text(&whole.stdout).starts_with("ROUNDS OK - 1 of 1 passed | 'EHR'="), "{}", text(&whole.stdout));
}

#[test]
fn output_takes_short_format_names_and_refuses_unknown_ones() {
    let ok = support::http(|_| reply(200, "ok"));
    let inv = inventory(&format!("[[endpoint]]\nname = \"EHR\"\nurl = \"{}\"\n", ok.url("/")));
    let dir = inv.dir.path();
    let (prom, md) = (dir.join("rounds.out"), dir.join("report.txt"));
    inv.rounds(&["--no-state", "--output", &format!("prom:{}", prom.display())])
        .arg("--output")
        .arg(format!("MD:{}", md.display()))
        .assert()
        .code(0);
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert!(metrics.contains("# TYPE rounds_") && metrics.contains("check=\"EHR\""), "{metrics}");
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("# rounds on "));
    for command in [&[][..], &["check"]] {
        let planted = dir.join("metrics.prom");
        let out = inv
            .rounds(command)
            .args(["--no-state", "--output", &format!("promx:{}", planted.display())])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("unknown format promx; one of table (txt, text), json, junit (xml), prometheus (prom)"),
            "{stderr}"
        );
        assert!(!planted.exists(), "nothing is written after a usage error");
    }
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(names.iter().all(|n| !n.contains(':')), "a file named after the format: {names:?}");
    // A path with a folder before its colon is a file name.
    let odd = dir.join("a:b.json");
    inv.rounds(&["--no-state", "--output"]).arg(&odd).assert().code(0);
    assert!(std::fs::read_to_string(&odd).unwrap().contains("\"version\": 1"));
}

#[test]
fn state_and_acks_are_offered_only_where_they_are_used() {
    let help = |args: &[&str]| text(&support::rounds().args(args).arg("--help").output().unwrap().stdout);
    for sub in ["list", "init", "man", "completions"] {
        let out = help(&[sub]);
        assert!(!out.contains("--state") && !out.contains("--acks"), "{sub}:\n{out}");
    }
    assert!(!help(&["history"]).contains("--acks") && help(&["history"]).contains("--state"));
    assert!(help(&["validate"]).contains("--acks") && help(&["ack"]).contains("--acks"));
    assert!(help(&["check"]).contains("--state") && help(&["check"]).contains("--acks"));
    let top = help(&[]);
    assert!(top.contains("--state") && top.contains("--acks"), "{top}");

    let ok = support::http(|_| reply(503, "no"));
    let inv = inventory(&format!("[[endpoint]]\nname = \"EHR\"\nurl = \"{}\"\n", ok.url("/")));
    let state = inv.dir.path().join("kept.json").display().to_string();
    inv.rounds(&["--state", &state]).assert().code(2);
    inv.rounds(&["check", "--state", &state]).assert().code(2);
    for args in [&["--state", &state, "history"][..], &["history", "--state", &state]] {
        inv.rounds(args).assert().success().stdout(predicate::str::contains("Still open (1):\n  FAIL  EHR"));
    }
    inv.rounds(&["--state", &state, "list"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--state has no use in `rounds list`"));
    let acks = inv.dir.path().join("other-acks.toml").display().to_string();
    for args in [&["--acks", &acks, "validate"][..], &["validate", "--acks", &acks]] {
        inv.rounds(args).assert().success();
    }
    inv.rounds(&["--acks", &acks, "history"]).assert().code(3).stderr(predicate::str::contains("--acks has no use"));
}

#[test]
fn without_home_it_says_once_that_no_state_is_kept() {
    let ok = support::http(|_| reply(200, "ok"));
    let inv = inventory(&format!("[[endpoint]]\nname = \"EHR\"\nurl = \"{}\"\n", ok.url("/")));
    let bare = |args: &[&str]| {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
        command.env_clear().arg("--config").arg(&inv.path).args(args);
        command.output().unwrap()
    };
    let out = bare(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("no state is kept between runs").count(), 1, "{stderr}");
    assert!(stderr.contains("--state PATH"), "{stderr}");
    assert!(text(&bare(&["--no-state"]).stderr).is_empty(), "--no-state says it already");
    // HOME=/ (systemd's DynamicUser) is no home: no /.local/state, the same note instead.
    let rooted = inv.rounds(&[]).env_remove("XDG_STATE_HOME").env("HOME", "/").output().unwrap();
    assert_eq!(text(&rooted.stderr).matches("no state is kept between runs").count(), 1, "{rooted:?}");

    // With a place: the first run says where, once; later runs and --quiet stay silent.
    let first = inv.rounds(&[]).output().unwrap();
    let state_home = inv.dir.path().join("state");
    let said = text(&first.stderr);
    assert!(
        said.contains("note: keeping the state between runs in ") && said.contains(&*state_home.to_string_lossy()),
        "{said}"
    );
    assert!(text(&inv.rounds(&[]).output().unwrap().stderr).is_empty());
    let chosen = inv.dir.path().join("chosen.json").display().to_string();
    assert!(text(&inv.rounds(&["--state", &chosen]).output().unwrap().stderr).is_empty(), "--state was chosen");
    let quiet = inv.rounds(&["-q"]).env("XDG_STATE_HOME", inv.dir.path().join("elsewhere")).output().unwrap();
    assert!(quiet.stderr.is_empty() && quiet.stdout.is_empty(), "{quiet:?}");
}
