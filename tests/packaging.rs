//! The systemd units shipped in `examples/`: valid by systemd's own verifier, and their
//! command line keeps state where the unit gives it a folder.

mod support;

use std::path::{Path, PathBuf};

const UNITS: [&str; 4] = ["rounds.service", "rounds.timer", "rounds-often.service", "rounds-often.timer"];

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// The `ExecStart=` line of a shipped service, split into words (the units use no quoting).
fn exec_start(service: &str) -> Vec<String> {
    let text = std::fs::read_to_string(example(service)).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart line");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn shipped_systemd_units_pass_systemd_analyze_verify() {
    let Some(analyze) = support::peer(&["/usr/bin/systemd-analyze", "/bin/systemd-analyze"], "systemd") else { return };
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        // The binary where this build put it: verify insists that ExecStart's program exists.
        let text = std::fs::read_to_string(example(unit)).unwrap();
        let text = text.replace("/usr/local/bin/rounds", env!("CARGO_BIN_EXE_rounds"));
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let output = std::process::Command::new(analyze)
        .arg("verify")
        .args(UNITS.map(|u| dir.path().join(u)))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "systemd-analyze verify:\n{stderr}");
}

/// As the service runs it: no HOME (systemd sets none for a system user), the state under
/// the unit's StateDirectory (`%S/rounds`), the metrics into the textfile folder.
#[test]
fn the_services_command_line_keeps_state_in_its_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state_root = dir.path().join("var-lib");
    std::fs::create_dir_all(state_root.join("rounds")).unwrap();
    let textfile = dir.path().join("node-exporter");
    std::fs::create_dir_all(&textfile).unwrap();
    let inventory = dir.path().join("checks.toml");
    std::fs::write(&inventory, "[[disk]]\nname = \"root volume\"\npath = \"/\"\nmin_free = \"1 B\"\n").unwrap();
    for service in ["rounds.service", "rounds-often.service"] {
        let words: Vec<String> = exec_start(service)
            .into_iter()
            .skip(1)
            .map(|w| {
                w.replace("%S", state_root.to_str().unwrap())
                    .replace("/etc/rounds/checks.toml", inventory.to_str().unwrap())
                    .replace("/var/lib/prometheus/node-exporter", textfile.to_str().unwrap())
            })
            .collect();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rounds"))
            .args(&words)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{service}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.is_empty(), "--quiet and all passed: nothing to say");
        assert!(state_root.join("rounds/state.json").exists(), "{service}: state kept in the StateDirectory");
        assert!(textfile.join("rounds.prom").exists(), "{service}: metrics written");
    }
}
