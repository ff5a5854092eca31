//! Running another program under a check's timeout: a plugin, a backup tool.
//!
//! No shell; stdin closed (a tool that prompts gets end-of-file, never a hang); an
//! environment of PATH, LANG and HOME plus what the check names (no token meant for another
//! check); a process group of its own, killed whole when the run ends or is abandoned at the
//! timeout; output read up to a cap, and judged when the program exits even if a background
//! child still holds its pipes.
//!
//! Nothing it started outlives the check, not even a process that left the group
//! (`setsid sleep 777 &`): rounds is a child subreaper (Linux), so every orphan of a program
//! it ran comes back to it rather than to init; every program carries a tag of its own run
//! in its environment (`ROUNDS_PROCESS_TAG`), which its children inherit. When the check
//! ends, [`sweep`] kills every process below rounds with that tag, and every orphan that
//! came back without a tag at all, and reaps them. It never waits for a process tokio
//! spawned: restic's, borg's and plugins' exit codes stay tokio's to read.

use std::collections::HashSet;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, Once};
use std::time::Duration;

use rustix::process::{Pid, Signal};

use tokio::io::{AsyncRead, AsyncReadExt};

/// What every program gets of rounds' own environment: enough to find programs and speak
/// the user's language, nothing that could be a secret.
const PASSED_THROUGH: [&str; 3] = ["PATH", "LANG", "HOME"];
/// After the program exits, how long its output may still take to arrive.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// Plugins print a line and tools a page; a runaway one must not fill memory.
const MAX_OUTPUT: usize = 1024 * 1024;
/// The variable that tags every process one program run started.
const TAG_VAR: &str = "ROUNDS_PROCESS_TAG";
/// How long a sweep keeps looking for processes that are still being orphaned (their parent
/// just died): rounds of [`SWEEP_PAUSE`].
const SWEEP_ROUNDS: u32 = 100;
const SWEEP_PAUSE: Duration = Duration::from_millis(10);

/// The pids tokio spawned (and will reap): a sweep never waits for them.
static SPAWNED: LazyLock<Mutex<HashSet<i32>>> = LazyLock::new(Default::default);
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// A finished program: how it ended and what it printed (each stream capped).
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program` with `args` and `env` (on top of PATH, LANG and HOME) as described above.
pub(crate) async fn run_tool(program: &Path, args: &[String], env: &[(&str, &str)]) -> std::io::Result<Finished> {
    become_subreaper();
    let tag = format!("{}-{}", std::process::id(), NEXT_TAG.fetch_add(1, Ordering::Relaxed));
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(PASSED_THROUGH.iter().filter_map(|name| std::env::var_os(name).map(|v| (*name, v))))
        .envs(env.iter().copied())
        .env(TAG_VAR, &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Spawned and registered under the lock a sweep holds while it looks: a sweep never
    // sees a child of rounds' that is not yet known as tokio's.
    let mut child = {
        let mut spawned = SPAWNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let child = command.spawn()?;
        spawned.extend(child.id().map(|id| id as i32));
        child
    };
    let pid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let group = GroupKiller { group: pid, tag, swept: false };
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
                status = child.wait() => {
                    reaped(pid);
                    break status;
                }
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
    group.end().await;
    Ok(Finished { status, stdout: whole_lines(out), stderr: whole_lines(err) })
}

/// Output cut at the cap loses its last, partial line: a secret cut in half there would no
/// longer be recognised by redaction.
fn whole_lines(mut kept: Vec<u8>) -> Vec<u8> {
    if kept.len() >= MAX_OUTPUT {
        let end = kept.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        kept.truncate(end);
    }
    kept
}

/// Makes rounds the child subreaper (Linux): orphans of the programs it runs come back to
/// it, where a sweep finds them. Once per process; without it (a refusal), an orphan goes to
/// init, out of a sweep's sight, and the process group kill is all there is.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    });
}

/// Ends what a program started: its whole process group, then a [`sweep`] for what left
/// the group. After the program exits, [`GroupKiller::end`] does it (the sweep on a blocking
/// thread, awaited); when the runner abandons the check at its timeout, dropping does it
/// (blocking for the sweep's few milliseconds), so it is done before the run ends.
struct GroupKiller {
    group: Option<Pid>,
    tag: String,
    swept: bool,
}

impl GroupKiller {
    fn kill_group(&self) {
        if let Some(group) = self.group {
            // ESRCH (nothing left in the group) is the normal case.
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
    }

    async fn end(mut self) {
        self.kill_group();
        self.swept = true;
        let tag = std::mem::take(&mut self.tag);
        // Cancelled while waiting, the sweep still runs to its end on its thread.
        let _ = tokio::task::spawn_blocking(move || sweep(&tag)).await;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if !self.swept {
            self.kill_group();
            sweep(&self.tag);
        }
    }
}

/// Kills every process below rounds that carries `tag` (the program's children, however far
/// they went), and every orphan that came back to rounds with no tag at all (it cleared its
/// environment); reaps those that are rounds' own children. Looks again while processes
/// are still being orphaned, as a killed parent's children arrive a moment later.
pub(crate) fn sweep(tag: &str) {
    let me = std::process::id() as i32;
    let mut quiet_rounds = 0;
    for _ in 0..SWEEP_ROUNDS {
        let spawned = SPAWNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let table = process_table();
        let mut killed = false;
        for process in below(me, &table) {
            if spawned.contains(&process.pid) {
                continue;
            }
            let Some(pid) = Pid::from_raw(process.pid) else { continue };
            if process.zombie {
                // Only an orphan that came back: never one of tokio's (skipped above).
                if process.ppid == me {
                    let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
                }
                continue;
            }
            let mine = match process_tag(process.pid) {
                Some(found) => found == tag,
                None => process.ppid == me,
            };
            if mine {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                killed = true;
            }
        }
        drop(spawned);
        quiet_rounds = if killed { 0 } else { quiet_rounds + 1 };
        // A look that kills nothing ends it. Nothing can be on its way: with rounds the
        // subreaper, every descendant is below rounds at every moment (an orphan is moved
        // to rounds as its parent exits), and a child forked by a process killed in the
        // last look already existed, tagged, when this look was taken.
        if quiet_rounds >= 1 {
            return;
        }
        std::thread::sleep(SWEEP_PAUSE);
    }
}

/// Forgets a pid tokio has reaped (it may be reused by an orphan later).
fn reaped(pid: Option<Pid>) {
    if let Some(pid) = pid {
        SPAWNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&pid.as_raw_nonzero().get());
    }
}

/// One line of `/proc/PID/stat`, as far as a sweep needs it.
struct Process {
    pid: i32,
    ppid: i32,
    zombie: bool,
}

/// Every process, from `/proc` (empty where there is none).
fn process_table() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            Some(Process { pid, ppid, zombie: state == "Z" })
        })
        .collect()
}

/// The processes below `root` (its children, theirs, ...).
fn below(root: i32, table: &[Process]) -> Vec<&Process> {
    let mut found: Vec<&Process> = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for process in table.iter().filter(|p| p.ppid == parent && p.pid != root) {
            if !found.iter().any(|f| f.pid == process.pid) {
                found.push(process);
                parents.push(process.pid);
            }
        }
    }
    found
}

/// The `ROUNDS_PROCESS_TAG` in a process's environment; `None` when it has none or it
/// cannot be read.
fn process_tag(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{TAG_VAR}=");
    environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_cut_at_the_cap_keeps_whole_lines_only() {
        let mut capped = b"first line\n".to_vec();
        capped.resize(MAX_OUTPUT, b'x');
        assert_eq!(whole_lines(capped), b"first line\n");
        assert_eq!(whole_lines(b"short, no newline".to_vec()), b"short, no newline");
    }
}
