//! `[[process]]`: a process with this name is running on this machine (sysinfo).

use std::ffi::OsStr;
use std::path::Path;

use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
use toml::Spanned;

use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[process]]` as written in the inventory.
    pub(crate) struct ProcessTable {
        /// The program's name, like "restic" or "postgres".
        process: Spanned<String>,
    }
}

impl Table for ProcessTable {
    type Probe = ProcessProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<ProcessProbe>>, ConfigError> {
        let common = self.common();
        let wanted = self.process.get_ref().trim().to_owned();
        if wanted.is_empty() || wanted.contains('/') {
            return Err(loader.error(self.process.span(), "process is a program name like \"restic\", not a path"));
        }
        let target = format!("process {wanted}");
        loader.single(&common, target, ProcessProbe { wanted })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ProcessProbe {
    pub wanted: String,
}

impl RunProbe for ProcessProbe {
    fn kind(&self) -> &'static str {
        "process"
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        let wanted = self.wanted.clone();
        match super::kind::off_the_runtime(move || find(&wanted)).await {
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
