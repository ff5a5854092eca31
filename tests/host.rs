//! Checks of this machine: `[[command]]` plugins, `[[system]]`, `[[process]]`.

mod support;

use support::{inventory, verdict};

// ---- command (Nagios plugins) -------------------------------------------------------------

fn script(inv: &support::Inventory, name: &str, body: &str) -> String {
    let path = inv.write(name, &format!("#!/bin/sh\n{body}\n"));
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    format!("./{name}")
}

fn command(name: &str, run: &[&str], extra: &str) -> String {
    let run: Vec<String> = run.iter().map(|a| format!("{a:?}")).collect();
    format!("[[command]]\nname = {name:?}\nrun = [{}]\n{extra}\n", run.join(", "))
}

#[test]
fn command_exit_codes_follow_the_plugin_contract() {
    let inv = inventory("");
    let mut checks = String::new();
    for (code, text) in [
        (0, "RAID OK - 2 arrays"),
        (1, "RAID WARNING - rebuilding"),
        (2, "RAID CRITICAL - degraded"),
        (3, "cannot read mdstat"),
    ] {
        let run = script(
            &inv,
            &format!("exit{code}.sh"),
            &format!("echo '{text} | arrays=2;;'\necho 'second line'\nexit {code}"),
        );
        checks += &command(&format!("exit {code}"), &[&run], "");
    }
    checks += &command("exit 7", &[&script(&inv, "exit7.sh", "echo odd >&2; exit 7")], "");
    checks += &command("missing", &["./no-such-plugin"], "");
    std::fs::write(&inv.path, checks).unwrap();
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "exit 0"), ("pass".into(), "RAID OK - 2 arrays".into()));
    assert_eq!(verdict(&doc, "exit 1"), ("warn".into(), "RAID WARNING - rebuilding".into()));
    assert_eq!(verdict(&doc, "exit 2"), ("fail".into(), "RAID CRITICAL - degraded".into()));
    assert_eq!(verdict(&doc, "exit 3"), ("fail".into(), "unknown: cannot read mdstat".into()));
    assert_eq!(verdict(&doc, "exit 7"), ("fail".into(), "unknown (exit code 7): odd".into()));
    let (status, detail) = verdict(&doc, "missing");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("unknown: cannot run"), "{detail}");
    assert_eq!(code, 2);
}

/// Whether `pid` is gone: no such process, or a zombie waiting for init to reap it.
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hanging_command_and_its_children_are_killed_at_the_timeout() {
    let inv = inventory("");
    let pid_file = inv.dir.path().join("child.pid");
    let run = script(&inv, "hang.sh", "sleep 300 &\necho $! > \"$1\"\nsleep 300");
    std::fs::write(&inv.path, command("hang", &[&run, pid_file.to_str().unwrap()], "timeout = \"1s\"")).unwrap();
    let (doc, _) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "hang"), ("fail".into(), "unknown: still running after 1 s, killed".into()));
    let child = std::fs::read_to_string(&pid_file).expect("the script wrote its child's pid");
    let child = child.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !is_gone(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(is_gone(child), "the command's child {child} survived the timeout");
}

/// A plugin gets only what its check names, plus PATH, LANG and HOME: never the tokens
/// other checks expand.
#[test]
fn a_plugin_gets_only_the_environment_its_check_names() {
    let inv = inventory("");
    let run = script(&inv, "env.sh", "echo \"token=${API_TOKEN:-unset} wanted=${WANTED:+set} path=${PATH:+set}\"");
    let toml = format!(
        "[[endpoint]]\nname = \"api\"\nurl = \"http://127.0.0.1:{}/\"\nheaders = {{ X-Token = \"${{API_TOKEN}}\" }}\n{}",
        support::closed_port(),
        command("env", &[&run], "env = [\"WANTED\"]")
    );
    std::fs::write(&inv.path, toml).unwrap();
    let output = inv
        .rounds(&["--format", "json"])
        .env("API_TOKEN", "canary-token-value")
        .env("WANTED", "wanted-value-123")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict(&doc, "env"), ("pass".into(), "token=unset wanted=set path=set".into()));
}

/// Terminal control from a plugin (or any peer) is escaped, and a flood is cut to one line.
#[test]
fn plugin_output_cannot_control_the_terminal_or_flood_the_mail() {
    let inv = inventory("");
    let run = script(
        &inv,
        "loud.sh",
        "printf 'OK \\033[2J\\033]0;owned\\007 '; head -c 100000 /dev/zero | tr '\\0' x; exit 2",
    );
    std::fs::write(&inv.path, command("loud", &[&run], "")).unwrap();
    for format in ["table", "json"] {
        let output = inv.rounds(&["--format", format]).output().unwrap();
        assert!(!output.stdout.contains(&0x1b), "{format}: an escape reached the output");
        assert!(!output.stdout.contains(&0x07), "{format}: a bell reached the output");
        assert!(output.stdout.len() < 4000, "{format}: {} bytes", output.stdout.len());
    }
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "loud");
    assert_eq!(status, "fail");
    assert!(detail.starts_with("OK \\u{1b}[2J\\u{1b}]0;owned\\u{7} xxx"), "{detail}");
    assert!(detail.ends_with("...") && detail.chars().count() == 300, "{detail}");
}

// ---- system and process -----------------------------------------------------------------

#[test]
fn system_reports_memory_load_and_swap_of_this_machine() {
    let toml = "[[system]]\nname = \"host\"\nmin_memory_available = \"0%\"\nmax_load_per_cpu = 1000.0\n\n\
                [[system]]\nname = \"impossible\"\nmin_memory_available = \"100%\"\n";
    let (doc, _) = inventory(toml).run_json(&[]);
    let (status, detail) = verdict(&doc, "host");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.starts_with("memory ") && detail.contains(" available of ") && detail.contains("per CPU"),
        "{detail}"
    );
    let (status, detail) = verdict(&doc, "impossible");
    assert_eq!(status, "fail");
    assert!(detail.ends_with("below 100%"), "{detail}");
}

#[test]
fn process_check_finds_a_running_program_by_name() {
    let inv = inventory("[[process]]\nname = \"agent\"\nprocess = \"rounds-sleeper\"\n");
    let program = inv.dir.path().join("rounds-sleeper");
    std::os::unix::fs::symlink("/bin/sleep", &program).expect("link sleep");
    // `sleep` under a name no other process has (a symlink: the kernel names a process after
    // the path it was started by).
    let sleeper = support::Child::spawn(std::process::Command::new(&program).arg("60"));
    let (doc, _) = inv.run_json(&[]);
    let (status, detail) = verdict(&doc, "agent");
    assert_eq!(status, "pass", "{detail}");
    assert_eq!(detail, format!("running: 1 process (pid {})", sleeper.id()));
    drop(sleeper);
    let (doc, code) = inv.run_json(&[]);
    assert_eq!(verdict(&doc, "agent"), ("fail".into(), "no process named rounds-sleeper is running".into()));
    assert_eq!(code, 2);
}
