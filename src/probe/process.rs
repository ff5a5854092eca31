//! `[[process]]`: a process with this name is running on this machine (sysinfo).

use std::ffi::OsStr;
use std::path::Path;

use serde::Deserialize;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
use toml::Spanned;

use crate::check::{Outcome, Severity};
use crate::config::values::HumanDuration;
use crate::config::{CommonKeys, ConfigError, Loader, Planned, Table};
use crate::probe::Probe;

/// `[[process]]` as written in the inventory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessTable {
    name: Spanned<String>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    tags: Vec<String>,
    timeout: Option<HumanDuration>,
    /// The program's name, like "restic" or "postgres".
    process: Spanned<String>,
}

impl Table for ProcessTable {
    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned>, ConfigError> {
        let wanted = self.process.get_ref().trim().to_owned();
        if wanted.is_empty() || wanted.contains('/') {
            return Err(loader.error(self.process.span(), "process is a program name like \"restic\", not a path"));
        }
        let common = CommonKeys { name: self.name, severity: self.severity, tags: self.tags, timeout: self.timeout };
        let target = format!("process {wanted}");
        loader.single(&common, target, Probe::Process(ProcessProbe { wanted }))
    }
}

#[derive(Debug, Clone)]
pub struct ProcessProbe {
    pub wanted: String,
}

impl ProcessProbe {
    pub async fn run(&self) -> Outcome {
        let wanted = self.wanted.clone();
        match super::off_the_runtime(move || find(&wanted)).await {
            Some(Ok(pids)) if pids.is_empty() => Outcome::fail(format!("no process named {} is running", self.wanted)),
            Some(Ok(pids)) => {
                let shown: Vec<String> = pids.iter().take(5).map(u32::to_string).collect();
                let more = if pids.len() > 5 { ", ..." } else { "" };
                let count = if pids.len() == 1 { "1 process".to_owned() } else { format!("{} processes", pids.len()) };
                Outcome::pass(format!("running: {count} (pid {}{more})", shown.join(", ")))
            }
            Some(Err(why)) => Outcome::fail(why),
            None => Outcome::fail("the process check could not be started"),
        }
    }
}

/// Pids whose name, executable or first argument is `wanted`. The kernel's process name is
/// cut at 15 characters, so longer names are matched on the executable and argv[0] too.
fn find(wanted: &str) -> Result<Vec<u32>, String> {
    let mut sys = System::new().map_err(|e| format!("cannot list processes: {e}"))?;
    let what = ProcessRefreshKind::nothing().with_exe(UpdateKind::OnlyIfNotSet).with_cmd(UpdateKind::OnlyIfNotSet);
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, what);
    let wanted_os = OsStr::new(wanted);
    let mut pids: Vec<u32> = sys
        .processes()
        .values()
        .filter(|p| {
            p.name() == wanted_os
                || p.exe().and_then(Path::file_name) == Some(wanted_os)
                || p.cmd().first().and_then(|a| Path::new(a).file_name()) == Some(wanted_os)
        })
        .map(|p| p.pid().as_u32())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}
