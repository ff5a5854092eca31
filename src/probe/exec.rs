//! Running another program under a check's timeout: a plugin, a backup tool.
//!
//! No shell; stdin closed (a tool that prompts gets end-of-file, never a hang); an
//! environment of PATH, LANG and HOME plus what the check names (no token meant for another
//! check); a process group of its own, killed whole when the run ends or is abandoned at the
//! timeout, so nothing it started lingers; output read up to a cap, and judged when the
//! program exits even if a background child still holds its pipes.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// What every program gets of rounds' own environment: enough to find programs and speak
/// the user's language, nothing that could be a secret.
const PASSED_THROUGH: [&str; 3] = ["PATH", "LANG", "HOME"];
/// After the program exits, how long its output may still take to arrive.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// Plugins print a line and tools a page; a runaway one must not fill memory.
const MAX_OUTPUT: usize = 1024 * 1024;

/// A finished program: how it ended and what it printed (each stream capped).
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program` with `args` and `env` (on top of PATH, LANG and HOME) as described above.
pub(crate) async fn run_tool(program: &Path, args: &[String], env: &[(&str, &str)]) -> std::io::Result<Finished> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(PASSED_THROUGH.iter().filter_map(|name| std::env::var_os(name).map(|v| (*name, v))))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let _group = GroupKiller(child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)));
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = {
        let reading = async {
            tokio::join!(read_capped(stdout, &mut out), read_capped(stderr, &mut err));
        };
        tokio::pin!(reading);
        let mut drained = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                () = &mut reading, if !drained => drained = true,
            }
        };
        // The program exited: its verdict is its exit code, even if a background child it
        // started still holds the pipes open (the group is killed when this returns).
        if !drained {
            let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut reading).await;
        }
        status?
    };
    Ok(Finished { status, stdout: out, stderr: err })
}

/// Kills the command's whole process group when dropped: after it exits, and when the
/// runner abandons the check at its timeout.
struct GroupKiller(Option<rustix::process::Pid>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // ESRCH (nothing left in the group) is the normal case.
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

/// Reads up to [`MAX_OUTPUT`] bytes into `kept` and drains the rest, so the command never
/// blocks on a full pipe. What was read stays in `kept` even if this is cancelled.
async fn read_capped(stream: Option<impl AsyncRead + Unpin>, kept: &mut Vec<u8>) {
    let Some(mut stream) = stream else { return };
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = MAX_OUTPUT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}
