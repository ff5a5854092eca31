//! Every process a `[[command]]` plugin starts ends when its check ends, also one that left
//! the plugin's process group and session (`setsid`), whether the plugin exited on its own
//! or was killed at its timeout. Real shells, real `setsid`, real `sleep`.

mod support;

use std::path::Path;

use support::{inventory, verdict};

/// A plugin that starts `sleep 777` in a session of its own, writes its pid to `pidfile`,
/// waits until it is written, then says OK and exits (or, with `hang`, sleeps on).
fn plugin(dir: &Path, name: &str, pidfile: &Path, hang: bool) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let tail = if hang { "exec sleep 600\n" } else { "exit 0\n" };
    let body = format!(
        "#!/bin/sh\nsetsid sh -c 'echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 777' </dev/null >/dev/null 2>&1 &\n\
         while [ ! -s {p} ]; do sleep 0.05; done\necho 'OK - started a background job'\n{tail}",
        p = pidfile.display()
    );
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Kills the recorded `sleep 777` if a failed assertion left it running.
struct Reaper(Vec<std::path::PathBuf>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for file in &self.0 {
            let Some(pid) = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse::<i32>().ok()) else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if alive(pid) && String::from_utf8_lossy(&cmdline).contains("777") {
                let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

#[test]
fn a_plugins_setsid_grandchild_ends_with_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let (exits, hangs) = (dir.path().join("exits.pid"), dir.path().join("hangs.pid"));
    let _reaper = Reaper(vec![exits.clone(), hangs.clone()]);
    let toml = format!(
        "[[command]]\nname = \"exits\"\nrun = [{:?}]\ntimeout = \"20s\"\n\
         [[command]]\nname = \"hangs\"\nrun = [{:?}]\ntimeout = \"5s\"\n",
        plugin(dir.path(), "exits.sh", &exits, false),
        plugin(dir.path(), "hangs.sh", &hangs, true)
    );
    let (doc, _) = inventory(&toml).run_json(&["--no-state"]);
    assert_eq!(verdict(&doc, "exits"), ("pass".into(), "OK - started a background job".into()));
    assert_eq!(verdict(&doc, "hangs").0, "fail");
    for file in [&exits, &hangs] {
        let pid: i32 = std::fs::read_to_string(file).unwrap().trim().parse().unwrap();
        support::wait_until(&format!("the end of the setsid grandchild {pid} ({})", file.display()), || !alive(pid));
    }
}
