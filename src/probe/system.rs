//! `[[system]]`: this machine's memory, load and swap, through sysinfo.

use sysinfo::{CpuRefreshKind, RefreshKind, System};
use toml::Spanned;

use crate::config::values::Threshold;
use crate::config::{check_table, ConfigError, Loader, Planned, Table};
use crate::human;
use crate::outcome::Outcome;
use crate::probe::kind::{Budget, RunProbe};

check_table! {
    /// `[[system]]` as written in the inventory.
    pub(crate) struct SystemTable {
        /// Less memory available than this: fail. "10%" or a size.
        min_memory_available: Option<Threshold>,
        /// 5-minute load average divided by CPUs above this: fail.
        max_load_per_cpu: Option<Spanned<f64>>,
        /// More swap in use than this: fail. "50%" of the swap space, or a size.
        max_swap_used: Option<Threshold>,
    }
}

impl Table for SystemTable {
    type Probe = SystemProbe;

    fn plan(self, loader: &mut Loader) -> Result<Vec<Planned<SystemProbe>>, ConfigError> {
        let common = self.common();
        if let Some(load) = self.max_load_per_cpu.as_ref().filter(|l| !l.get_ref().is_finite() || *l.get_ref() <= 0.0) {
            return Err(loader.error(load.span(), "max_load_per_cpu must be more than 0, like 2.0"));
        }
        let probe = SystemProbe {
            min_memory_available: self.min_memory_available,
            max_load_per_cpu: self.max_load_per_cpu.map(Spanned::into_inner),
            max_swap_used: self.max_swap_used,
        };
        loader.single(&common, "this machine".into(), probe)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SystemProbe {
    pub min_memory_available: Option<Threshold>,
    pub max_load_per_cpu: Option<f64>,
    pub max_swap_used: Option<Threshold>,
}

/// What was read off the machine.
#[derive(Debug, Clone, Copy)]
struct Reading {
    memory_available: u64,
    memory_total: u64,
    swap_used: u64,
    swap_total: u64,
    /// `None` where the platform has no load average.
    load_per_cpu: Option<f64>,
}

impl RunProbe for SystemProbe {
    fn kind(&self) -> &'static str {
        "system"
    }

    async fn run(&self, _budget: Budget) -> Outcome {
        match super::kind::off_the_runtime(read_machine).await {
            Some(Ok(reading)) => self.judge(&reading),
            Some(Err(why)) => Outcome::fail(why),
            None => Outcome::fail("the system check could not be started"),
        }
    }
}

impl SystemProbe {
    fn judge(&self, r: &Reading) -> Outcome {
        let percent = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
        let memory = format!(
            "memory {} available of {} ({:.0}%)",
            human::size(r.memory_available),
            human::size(r.memory_total),
            percent(r.memory_available, r.memory_total)
        );
        let load = r.load_per_cpu.map_or_else(|| "load unknown".to_owned(), |l| format!("load {l:.2} per CPU"));
        let swap = if r.swap_total == 0 {
            "no swap".to_owned()
        } else {
            format!("swap {} used of {}", human::size(r.swap_used), human::size(r.swap_total))
        };
        let mut problems = Vec::new();
        if let Some(min) = self.min_memory_available.filter(|m| !m.is_above(r.memory_available, r.memory_total)) {
            problems.push(format!("{memory}, below {min}"));
        }
        if let (Some(max), Some(l)) = (self.max_load_per_cpu, r.load_per_cpu) {
            if l > max {
                problems.push(format!("{load} (5 min), above {max}"));
            }
        }
        if let Some(max) = self.max_swap_used.filter(|m| m.is_exceeded_by(r.swap_used, r.swap_total)) {
            problems.push(format!("{swap}, above {max}"));
        }
        if problems.is_empty() {
            Outcome::pass(format!("{memory}, {load}, {swap}"))
        } else {
            Outcome::fail(problems.join("; "))
        }
    }
}

fn read_machine() -> Result<Reading, String> {
    let refresh = RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing());
    let mut sys = System::new_with_specifics(refresh).map_err(|e| format!("cannot read system information: {e}"))?;
    sys.refresh_memory();
    let cpus = sys.cpus().len().max(1);
    Ok(Reading {
        memory_available: sys.available_memory(),
        memory_total: sys.total_memory(),
        swap_used: sys.used_swap(),
        swap_total: sys.total_swap(),
        load_per_cpu: System::load_average().ok().map(|l| l.five / cpus as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn names_every_limit_crossed() {
        let probe = SystemProbe {
            min_memory_available: Some(Threshold::Percent(10.0)),
            max_load_per_cpu: Some(2.0),
            max_swap_used: Some(Threshold::Percent(50.0)),
        };
        let busy = Reading {
            memory_available: GIB,
            memory_total: 16 * GIB,
            swap_used: 3 * GIB,
            swap_total: 4 * GIB,
            load_per_cpu: Some(3.5),
        };
        let outcome = probe.judge(&busy);
        assert_eq!(
            outcome.detail,
            "memory 1.0 GiB available of 16.0 GiB (6%), below 10%; load 3.50 per CPU (5 min), above 2; swap 3.0 GiB used of 4.0 GiB, above 50%"
        );
        let calm = Reading {
            memory_available: 8 * GIB,
            memory_total: 16 * GIB,
            swap_used: 0,
            swap_total: 0,
            load_per_cpu: Some(0.25),
        };
        assert_eq!(
            probe.judge(&calm),
            Outcome::pass("memory 8.0 GiB available of 16.0 GiB (50%), load 0.25 per CPU, no swap")
        );
    }
}
