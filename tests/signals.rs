//! Signals and pipes: Ctrl-C, SIGTERM and SIGHUP stop the run with a report, kill every
//! plugin process group, remember nothing unfinished and exit 128 + the signal; a closed
//! pipe stays quiet.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use support::{inventory, verdict};

/// Whether `pid` is gone: no such process, or a zombie waiting for its parent.
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn executable(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

#[test]
fn a_signal_stops_the_run_with_a_report_and_kills_every_plugin() {
    let hung = support::silent();
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let inv = inventory("");
        let dir = inv.dir.path();
        executable(
            &dir.join("plugin.sh"),
            &format!("echo $$ > {0}/plugin.pid\nsleep 60 &\necho $! > {0}/child.pid\nwait", dir.display()),
        );
        let toml = format!(
            // After "root": once the plugin runs, "root" has finished (no fixed sleep).
            "[[command]]\nname = \"plugin\"\nrun = [\"./plugin.sh\"]\ntimeout = \"60s\"\ndepends_on = [\"root\"]\n\n\
             [[endpoint]]\nname = \"hung\"\nurl = \"{}\"\ntimeout = \"60s\"\n\n\
             [[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n",
            hung.url("/")
        );
        std::fs::write(&inv.path, toml).unwrap();
        let state = dir.join("state.json");
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
        command
            .args([
                "--config",
                &inv.path.display().to_string(),
                "--format",
                "json",
                "--state",
                &state.display().to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut rounds = support::Child::spawn(&mut command);
        support::wait_until("the plugin and its child", || dir.join("child.pid").exists());
        let sent =
            std::process::Command::new("kill").arg(format!("-{signal}")).arg(rounds.id().to_string()).status().unwrap();
        assert!(sent.success());
        let status = rounds.0.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        let mut out = String::new();
        std::io::Read::read_to_string(rounds.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let (status, detail) = verdict(&doc, "hung");
        assert_eq!(status, "fail");
        assert_eq!(detail, format!("interrupted by SIG{signal} before it finished (not probed to the end)"));
        assert_eq!(verdict(&doc, "root").0, "pass");
        for pid_file in ["plugin.pid", "child.pid"] {
            let pid = std::fs::read_to_string(dir.join(pid_file)).unwrap();
            support::wait_until(&format!("{pid_file} to be gone"), || is_gone(pid.trim()));
        }
        let remembered: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert!(remembered["checks"]["root"].is_object());
        assert!(remembered["checks"].get("hung").is_none(), "nothing unfinished is remembered: {remembered}");
    }
}

#[test]
fn a_closed_pipe_stays_quiet() {
    let checks: String =
        (0..200).map(|i| format!("[[disk]]\nname = \"disk {i}\"\npath = \"/\"\nmin_free = \"0%\"\n")).collect();
    let inv = inventory(&checks);
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
    command
        .args(["--config", &inv.path.display().to_string(), "--no-state"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// rounds started with `args` in `inv`'s folder, its stdout gathered as it comes.
fn spawn_gathering(inv: &support::Inventory, args: &[&str]) -> (support::Child, Arc<Mutex<String>>) {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("rounds"));
    command
        .arg("--config")
        .arg(&inv.path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut rounds = support::Child::spawn(&mut command);
    let out = Arc::new(Mutex::new(String::new()));
    let mut stdout = rounds.0.stdout.take().unwrap();
    let gathered = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            gathered.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (rounds, out)
}

/// Sends SIGINT and waits (polling) for rounds to end; its exit code.
fn interrupt(rounds: &mut support::Child) -> Option<i32> {
    let sent = std::process::Command::new("kill").arg("-INT").arg(rounds.id().to_string()).status().unwrap();
    assert!(sent.success());
    let mut status = None;
    support::wait_until("rounds to stop after one Ctrl-C", || {
        status = rounds.0.try_wait().unwrap();
        status.is_some()
    });
    status.and_then(|s| s.code())
}

/// A plugin that fails at once, or, once `hang` exists beside it, hangs (and says so).
fn failing_or_hanging_plugin(dir: &Path) -> String {
    executable(
        &dir.join("plugin.sh"),
        &format!(
            "if [ -e {0}/hang ]; then touch {0}/hanging; sleep 60 & wait; fi\necho 'CRITICAL: queue stuck'\nexit 2",
            dir.display()
        ),
    );
    format!(
        "[[command]]\nname = \"queue\"\nrun = [\"{}/plugin.sh\"]\ntimeout = \"60s\"\n\n\
         [[disk]]\nname = \"root\"\npath = \"/\"\nmin_free = \"0%\"\n",
        dir.display()
    )
}

/// `--watch`: the first Ctrl-C ends the loop, between runs or during one, with exit code
/// 130, and the last complete report is the last thing on stdout.
#[test]
fn the_first_ctrl_c_stops_watch_and_leaves_the_last_complete_report() {
    let inv = inventory("");
    let dir = inv.dir.path();
    std::fs::write(&inv.path, failing_or_hanging_plugin(dir)).unwrap();
    let state = dir.join("st.json").display().to_string();
    // Between runs: waiting an hour for the next one.
    let (mut rounds, out) = spawn_gathering(&inv, &["--watch", "1h", "--format", "json", "--state", &state]);
    support::wait_until("the first report", || out.lock().unwrap().contains("(again in 1 h;"));
    assert_eq!(interrupt(&mut rounds), Some(130));
    assert_eq!(out.lock().unwrap().matches("\"checks\"").count(), 1);

    // During a run: the interrupted run's report is not printed.
    let (mut rounds, out) = spawn_gathering(&inv, &["--watch", "10ms", "--format", "json", "--state", &state]);
    support::wait_until("the first report", || out.lock().unwrap().contains("(again in"));
    std::fs::write(dir.join("hang"), "").unwrap();
    support::wait_until("a run that hangs", || dir.join("hanging").exists());
    assert_eq!(interrupt(&mut rounds), Some(130));
    let out = out.lock().unwrap().clone();
    let last = out.rsplit("(again in").nth(1).unwrap_or_default();
    assert!(last.contains("CRITICAL: queue stuck") && !out.contains("interrupted"), "{out}");
    assert!(out.trim_end().ends_with("last exit code 2)"), "nothing after the last complete report: {out}");
}

/// Ctrl-C during a run: the check that did not finish is neither failed nor recovered, so
/// `history` keeps its problem open, and the run log says which checks did not finish.
#[test]
fn an_interrupted_run_never_resolves_a_problem_in_history() {
    let inv = inventory("");
    let dir = inv.dir.path();
    std::fs::write(&inv.path, failing_or_hanging_plugin(dir)).unwrap();
    let state = dir.join("st.json").display().to_string();
    let first = inv.rounds(&["--state", &state]).output().unwrap();
    assert_eq!(first.status.code(), Some(2));
    std::fs::write(dir.join("hang"), "").unwrap();
    let (mut rounds, _out) = spawn_gathering(&inv, &["--state", &state, "--format", "json"]);
    support::wait_until("the plugin to hang", || dir.join("hanging").exists());
    assert_eq!(interrupt(&mut rounds), Some(130));

    let log = std::fs::read_to_string(dir.join("st.log.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["stopped"], "SIGINT", "{log}");
    assert_eq!(last["unfinished"], serde_json::json!(["queue"]), "{log}");
    let history = inv.rounds(&["history", "--state", &state, "--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let queue: Vec<&serde_json::Value> =
        doc["episodes"].as_array().unwrap().iter().filter(|e| e["check"] == "queue").collect();
    assert_eq!(queue.len(), 1, "{doc}");
    assert_eq!(queue[0]["open"], true, "not resolved by a run that never finished it: {doc}");
    let text = inv.rounds(&["history", "--state", &state]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Still open (1):") && !text.contains("Resolved"), "{text}");
}
