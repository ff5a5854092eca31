//! Signals and pipes: Ctrl-C, SIGTERM and SIGHUP stop the run with a report, kill every
//! plugin process group, remember nothing unfinished and exit 128 + the signal; a closed
//! pipe stays quiet.

mod support;

use std::path::Path;
use std::time::Duration;

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
            "[[command]]\nname = \"plugin\"\nrun = [\"./plugin.sh\"]\ntimeout = \"60s\"\n\n\
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
        std::thread::sleep(Duration::from_millis(200));
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
