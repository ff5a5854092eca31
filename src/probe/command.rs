//! `[[command]]`: any Nagios-compatible plugin or script.
//!
//! The plugin contract: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first line of
//! stdout says why, with performance data after a `|`. The command runs without a shell, in
//! a process group of its own, so at the timeout the whole group is killed: a script that
//! started `ssh` or `sleep` leaves nothing behind.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use toml::Spanned;

use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::exec::run_tool;
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[command]]` as written in the inventory.
    pub(crate) struct CommandTable {
        /// The program and its arguments (argv, no shell). A program with a `/` in its name is
        /// relative to the inventory file; a bare name is looked up in PATH.
        run: Spanned<Vec<String>>,
        /// Environment variables the plugin gets, besides PATH, LANG and HOME. Nothing else
        /// of rounds' environment (tokens for other checks) reaches it.
        #[serde(default)]
        env: Vec<Spanned<String>>,
    }
}

impl Table for CommandTable {
    type Probe = CommandProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<CommandProbe>>, ConfigError> {
        let common = self.common();
        let Some((program, args)) = self.run.get_ref().split_first() else {
            return Err(loader
                .error(self.run.span(), "run needs a program, like run = [\"/usr/lib/nagios/plugins/check_load\"]"));
        };
        if program.trim().is_empty() {
            return Err(loader.error(self.run.span(), "the program name cannot be empty"));
        }
        let program_path = if program.contains('/') { loader.resolve_path(program) } else { PathBuf::from(program) };
        let mut env = Vec::new();
        for name in &self.env {
            env.push((name.get_ref().clone(), loader.env_var(name)?));
        }
        let probe = CommandProbe { program: program_path, args: args.to_vec(), env };
        let target = self.run.get_ref().join(" ");
        loader.single(&common, target, probe)
    }
}

pub(crate) struct CommandProbe {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The variables named in `env`, with their values (secrets).
    pub env: Vec<(String, String)>,
}

impl std::fmt::Debug for CommandProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("CommandProbe")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &names)
            .finish()
    }
}

impl RunProbe for CommandProbe {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn timed_out(&self, timeout: Duration) -> Outcome {
        Outcome::fail(format!("unknown: still running after {}, killed", human::limit(timeout)))
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        match run_tool(&self.program, &self.args, &env).await {
            Ok(done) => judge(done.status, &done.stdout, &done.stderr),
            Err(e) => Outcome::fail(format!(
                "unknown: cannot run {}: {}",
                self.program.display(),
                super::net::describe_io(&e)
            )),
        }
    }
}

fn judge(status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> Outcome {
    let text = first_line(stdout).or_else(|| first_line(stderr));
    let said = |fallback: String| text.clone().unwrap_or(fallback);
    match status.code() {
        Some(0) => Outcome::pass(said("exit code 0".into())),
        Some(1) => Outcome::warn(said("exit code 1".into())),
        Some(2) => Outcome::fail(said("exit code 2".into())),
        Some(3) => Outcome::fail(format!("unknown: {}", said("exit code 3".into()))),
        Some(code) => Outcome::fail(format!("unknown (exit code {code}): {}", said("no output".into()))),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = status.signal().map_or_else(|| "a signal".to_owned(), |s| format!("signal {s}"));
            Outcome::fail(format!("unknown: killed by {signal}"))
        }
    }
}

/// The first non-empty line, without the performance data after `|`.
fn first_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.split('|').next().unwrap_or_default().trim();
    (!line.is_empty()).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfdata_is_removed_from_the_first_line() {
        assert_eq!(first_line(b"\nRAID OK - 2 arrays | arrays=2;;\nmore"), Some("RAID OK - 2 arrays".into()));
        assert_eq!(first_line(b"| only=1"), None);
    }

    /// The plugin contract in words, for every exit code and a signal.
    #[test]
    fn exit_codes_in_words() {
        use std::os::unix::process::ExitStatusExt;
        let mut text = String::new();
        for code in 0..5 {
            let o = judge(ExitStatus::from_raw(code << 8), b"DISK OK - 40% free | free=40%;;", b"");
            text.push_str(&format!("exit {code}: {} {}\n", o.status.as_str(), o.detail));
        }
        let silent = judge(ExitStatus::from_raw(2 << 8), b"", b"");
        text.push_str(&format!("exit 2, no output: {} {}\n", silent.status.as_str(), silent.detail));
        let killed = judge(ExitStatus::from_raw(9), b"", b"");
        text.push_str(&format!("signal 9: {} {}\n", killed.status.as_str(), killed.detail));
        insta::assert_snapshot!(text);
    }
}
