//! Files rounds writes: never through a link someone else planted, modes kept or private,
//! replaced whole even when rounds is killed mid-write, and a state and run log of an older
//! rounds migrated, not wiped.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use support::inventory;

const DISK: &str = "[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n";

/// `setpriv`, when the tests run as root and can act as a second account (`nobody`), as CI
/// does; otherwise the test is skipped with one loud line.
fn second_account() -> Option<PathBuf> {
    if !rustix::process::geteuid().is_root() {
        let message = "needs root, to plant links as a second account (nobody)";
        if std::env::var_os("ROUNDS_REQUIRE_PEERS").is_some_and(|v| v == "1") {
            panic!("{message}; ROUNDS_REQUIRE_PEERS=1 makes that a failure");
        }
        eprintln!("SKIPPED: {message}");
        return None;
    }
    support::peer(&["/usr/bin/python3"], "python3")?;
    support::peer(&["/usr/bin/setpriv", "/bin/setpriv"], "util-linux")
}

/// Runs `script` (Python) as `nobody`, with `args` (the system's Python: a user's may be
/// under a home `nobody` cannot enter).
fn as_nobody(setpriv: &Path, script: &str, args: &[&Path]) {
    let output = std::process::Command::new(setpriv)
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", script])
        .args(args)
        .output()
        .expect("setpriv");
    assert!(output.status.success(), "as nobody: {}", String::from_utf8_lossy(&output.stderr));
}

const PLANT: &str = "import os, sys\nos.symlink(sys.argv[1], sys.argv[2])";

/// A folder another account owns (like node_exporter's textfile folder, owned by
/// `prometheus`), beside a victim file only root may write.
fn shared_folder(inv: &support::Inventory) -> (PathBuf, PathBuf) {
    let top = inv.dir.path();
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let folder = top.join("textfile");
    std::fs::create_dir(&folder).unwrap();
    std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).unwrap();
    let victim = top.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    (folder, victim)
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

/// Another account plants `.rounds.prom.<pid>.tmp` (the temporary name rounds 0.1 used)
/// for the running rounds, then the report file itself as a link: rounds writes through
/// neither, and refuses the second with exit 3, naming the path.
#[test]
fn links_planted_in_an_output_folder_are_never_written_through() {
    let Some(setpriv) = second_account() else { return };
    let inv = inventory("");
    let (folder, victim) = shared_folder(&inv);
    let go = inv.dir.path().join("go");
    // A check that waits for the test, so the link can be planted for this very process.
    let plugin = inv.dir.path().join("wait.sh");
    std::fs::write(&plugin, format!("#!/bin/sh\nwhile [ ! -e {} ]; do sleep 0.05; done\necho OK\n", go.display()))
        .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let toml = format!("[[command]]\nname = \"waits\"\nrun = [\"{}\"]\ntimeout = \"60s\"\n", plugin.display());
    std::fs::write(&inv.path, toml).unwrap();
    let report = folder.join("rounds.prom");
    let output_arg = format!("prometheus:{}", report.display());
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
    command.arg("--config").arg(&inv.path).args(["--no-state", "--output", &output_arg]);
    let mut rounds = support::Child::spawn(command.stdout(std::process::Stdio::null()));
    let planted = folder.join(format!(".rounds.prom.{}.tmp", rounds.id()));
    as_nobody(&setpriv, PLANT, &[&victim, &planted]);
    std::fs::write(&go, "").unwrap();
    assert_eq!(rounds.0.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(is_link(&planted), "left as it was");
    assert!(!is_link(&report), "the report is rounds' own file");
    assert!(std::fs::read_to_string(&report).unwrap().contains("rounds_"), "a whole report");

    std::fs::remove_file(&report).unwrap();
    as_nobody(&setpriv, PLANT, &[&victim, &report]);
    let output = inv.rounds(&["--no-state", "--output", &output_arg]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("{} is a symbolic link", report.display())), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(is_link(&report), "the planted link is left for a person to look at");
}

/// The state file, its lock and the run log planted as links beside `--state`: each is
/// refused before anything runs (exit 3, naming it), and the victim is untouched.
#[test]
fn links_planted_for_the_state_lock_and_run_log_are_refused() {
    let Some(setpriv) = second_account() else { return };
    for planted in ["st.json", "st.json.lock", "st.log.jsonl"] {
        let inv = inventory(DISK);
        let (folder, victim) = shared_folder(&inv);
        let link = folder.join(planted);
        as_nobody(&setpriv, PLANT, &[&victim, &link]);
        let state = folder.join("st.json");
        let output = inv.rounds(&["--state", &state.display().to_string()]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{planted}: {stderr}");
        assert!(stderr.contains(&format!("{} is a symbolic link", link.display())), "{stderr}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "{planted}");
        assert_eq!(mode(&victim), 0o644, "{planted}");
        assert!(output.stdout.is_empty(), "nothing ran");
    }
}

/// State and run log that rounds creates are private; a report replaced keeps its mode.
#[test]
fn the_state_is_private_and_a_replaced_report_keeps_its_mode() {
    let inv = inventory(DISK);
    let dir = inv.dir.path();
    let state = dir.join("st.json");
    let report = inv.write("report.json", "old\n");
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output_arg = format!("json:{}", report.display());
    let output = inv.rounds(&["--state", &state.display().to_string(), "--output", &output_arg]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(&dir.join("st.log.jsonl")), 0o600);
    assert_eq!(mode(&report), 0o600);
    assert!(std::fs::read_to_string(&report).unwrap().starts_with('{'));
    // A folder shared with a group (setgid): group members may read and write.
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o2770)).unwrap();
    let state = shared.join("st.json");
    inv.rounds(&["--state", &state.display().to_string()]).output().unwrap();
    assert_eq!(mode(&state), 0o660);
    assert_eq!(mode(&shared.join("st.log.jsonl")), 0o660);
}

/// A run killed (SIGKILL) at any moment while it rewrites a large report: the file is always
/// a whole report, the old one or the new one. With `std::fs::write` (truncate, then write)
/// the reader sees it empty or cut short within a few dozen replacements.
#[test]
fn a_report_is_always_whole_even_when_rounds_is_killed_while_writing_it() {
    let checks: String =
        (0..1500).map(|i| format!("[[disk]]\nname = \"disk {i}\"\npath = \"/\"\nmin_free = \"0%\"\n")).collect();
    let inv = inventory(&checks);
    let report = inv.write("report.json", "");
    let output_arg = format!("json:{}", report.display());
    let parses = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|doc| doc["checks"].as_array().is_some_and(|c| c.len() == 1500))
    };
    // Cheap enough to read thousands of times a second: a whole report ends its document.
    let looks_whole = |bytes: &[u8]| bytes.len() > 100_000 && bytes.ends_with(b"}\n") && bytes.starts_with(b"{");
    let first = inv.rounds(&["--no-state", "--quiet", "--output", &output_arg]).output().unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert!(parses(&std::fs::read(&report).unwrap()));
    let (mut reads, mut replaced) = (0u64, 0u32);
    for round in 0..6u64 {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
        command
            .args(["--config", &inv.path.display().to_string(), "--no-state", "--quiet", "--watch", "1ms"])
            .args(["--output", &output_arg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut rounds = support::Child::spawn(&mut command);
        // Reads as fast as it can while rounds rewrites the file, five times over, then
        // lets it go on a little (a different moment each round) and kills it.
        let mut last = std::fs::metadata(&report).unwrap().modified().unwrap();
        let mut seen = 0;
        while seen < 5 {
            let bytes = std::fs::read(&report).unwrap();
            reads += 1;
            assert!(looks_whole(&bytes), "read {reads}: {} bytes, not a whole report", bytes.len());
            let modified = std::fs::metadata(&report).unwrap().modified().unwrap();
            if modified != last {
                (seen, last) = (seen + 1, modified);
            }
            assert!(rounds.0.try_wait().unwrap().is_none(), "rounds ended by itself");
        }
        replaced += seen;
        std::thread::sleep(std::time::Duration::from_millis(round * 7));
        rounds.0.kill().unwrap();
        rounds.0.wait().unwrap();
        assert!(parses(&std::fs::read(&report).unwrap()), "after SIGKILL in round {round}");
    }
    assert!(replaced >= 30 && reads > replaced.into());
    let leftovers: Vec<_> = std::fs::read_dir(inv.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|e| e.file_name())
        .collect();
    // A killed run may leave its temporary file (never the report): at most one per kill.
    assert!(leftovers.len() <= 6, "{leftovers:?}");
}

/// Shifts every Unix time in a version 1 fixture so that its runs are recent.
fn shifted(text: &str, by: i64) -> String {
    let shift = |v: &mut serde_json::Value, key: &str| {
        if let Some(n) = v.get(key).and_then(serde_json::Value::as_i64) {
            v[key] = (n + by).into();
        }
    };
    let shift_doc = |line: &str| {
        let mut doc: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["at", "last_run"] {
            shift(&mut doc, key);
        }
        if let Some(checks) = doc.get_mut("checks").and_then(serde_json::Value::as_object_mut) {
            for entry in checks.values_mut() {
                shift(entry, "since");
                shift(entry, "counted_at");
            }
        }
        doc.to_string()
    };
    if text.trim_start().starts_with("{\n") {
        return shift_doc(text);
    }
    text.lines().map(|l| shift_doc(l) + "\n").collect()
}

/// The state file and run log rounds 0.1 wrote (tests/data/state-v1) are read and
/// migrated: the problems it remembered go on (not "new"), and `history` shows them.
#[test]
fn a_state_and_run_log_of_rounds_0_1_are_migrated_not_wiped() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/state-v1");
    let inv = inventory(
        "[[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n\n\
         [[disk]]\nname = \"impossible\"\npath = \"/\"\nmin_free = \"100%\"\n",
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let by = i64::try_from(now).unwrap() - 2 * 3600 - 1_796_315_457;
    let state = inv.dir.path().join("st.json");
    for name in ["st.json", "st.log.jsonl"] {
        let text = std::fs::read_to_string(fixture.join(name)).unwrap();
        std::fs::write(inv.dir.path().join(name), shifted(&text, by)).unwrap();
    }
    let state_arg = state.display().to_string();
    let (doc, _) = inv.run_json(&["--state", &state_arg]);
    let impossible = support::check(&doc, "impossible");
    assert_eq!(impossible["status"], "fail");
    assert_eq!(impossible["change"], "ongoing", "remembered from version 1: {impossible}");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(written["version"], 2);
    assert_eq!(written["checks"]["impossible"]["since"], 1_796_315_363 + by);
    assert!(written["checks"]["Mirth engine"].is_null(), "no longer in the inventory");
    let log = std::fs::read_to_string(inv.dir.path().join("st.log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    let history = inv.rounds(&["history", "--state", &state_arg, "--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(doc["runs"], 3);
    let episodes = doc["episodes"].as_array().unwrap();
    let open: Vec<&str> = episodes.iter().filter(|e| e["open"] == true).filter_map(|e| e["check"].as_str()).collect();
    assert!(open.contains(&"impossible"), "{doc}");
}

/// `history` that cannot read the run log says so (exit 3), never "No problems".
#[test]
fn history_without_a_readable_run_log_says_so() {
    let inv = inventory(DISK);
    let state = inv.dir.path().join("st.json");
    let state_arg = state.display().to_string();
    let output = inv.rounds(&["history", "--state", &state_arg]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no run log at ") && stderr.contains("st.log.jsonl"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("No problems"));
    let victim = inv.write("victim", "{\"at\":1,\"duration_ms\":0,\"checks\":0,\"problems\":[]}\n");
    std::os::unix::fs::symlink(&victim, inv.dir.path().join("st.log.jsonl")).unwrap();
    let output = inv.rounds(&["history", "--state", &state_arg]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("st.log.jsonl is a symbolic link"), "{stderr}");
}

/// `rounds ack` never writes through a link planted as `acks.toml`; a new one follows the
/// umask (a file a team reviews in git).
#[test]
fn acks_are_never_written_through_a_link() {
    let inv = inventory(DISK);
    let victim = inv.write("victim", "# precious\n");
    let acks = inv.dir.path().join("acks.toml");
    std::os::unix::fs::symlink(&victim, &acks).unwrap();
    let output = inv.rounds(&["ack", "root", "--until", "2099-12-01"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("{} is a symbolic link", acks.display())), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# precious\n");
    std::fs::remove_file(&acks).unwrap();
    let output = std::process::Command::new("sh")
        .args(["-c", "umask 027 && exec \"$0\" \"$@\""])
        .arg(assert_cmd::cargo::cargo_bin!("rounds"))
        .arg("--config")
        .arg(&inv.path)
        .args(["ack", "root", "--until", "2099-12-01"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!is_link(&acks) && std::fs::read_to_string(&acks).unwrap().contains("[[ack]]"));
    assert_eq!(mode(&acks), 0o640, "umask 027");
}
