//! What each subcommand does, between parsed flags and an exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use comfy_table::{presets, Table};

use crate::cli::{CheckArgs, Cli, Command};
use crate::inventory::{self, Inventory};
use crate::outcome::exit;
use crate::report::{self, ReportOptions};
use crate::runner::{self, RunOptions};
use crate::secrets::printable;

/// Runs the parsed command line and returns the process exit code.
/// `Err` means rounds could not do its job at all (exit code 3).
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        None => check(&cli.config, cli.check),
        Some(Command::Check(args)) => check(&cli.config, args),
        Some(Command::Validate) => validate(&cli.config),
        Some(Command::List) => list(&cli.config),
    }
}

/// Loads the inventory and says its warnings (a short secret) once, on stderr.
fn load(path: &Path) -> Result<Inventory> {
    let inventory = inventory::load(path)?;
    for warning in &inventory.warnings {
        eprintln!("warning: {}: {warning}", inventory.path.display());
    }
    Ok(inventory)
}

fn check(path: &Path, args: CheckArgs) -> Result<u8> {
    let mut inventory = load(path)?;
    if !args.only.is_empty() {
        inventory.checks.retain(|c| args.only.iter().any(|sel| c.meta.is_selected_by(sel)));
        if inventory.checks.is_empty() {
            bail!("no check matches --only {} (names, server names and tags are matched)", args.only.join(", "));
        }
    }
    let options = RunOptions {
        concurrency: args.concurrency.map_or(inventory.settings.concurrency, |n| n as usize),
        default_timeout: args.timeout.unwrap_or(inventory.settings.timeout),
    };

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let mut report = runtime.block_on(runner::run(inventory.checks, options, &inventory.secrets));
    // Nothing may outlive the report: a probe stuck in the kernel must not hold up the exit.
    runtime.shutdown_background();

    let exit_code = report.exit_code(args.strict);
    if args.quiet {
        // Cron mails only when something needs attention; machine formats still get a
        // whole (filtered) document.
        if args.format.is_for_people() && !report.needs_attention() {
            return Ok(exit_code);
        }
        report.keep_only_attention();
    }
    let is_terminal = std::io::stdout().is_terminal();
    let options =
        ReportOptions { color: is_terminal && !args.no_color && !no_color_env(), summary_first: !is_terminal };
    write_out(&report::reporter_for(args.format, options).render(&report))?;
    Ok(exit_code)
}

fn validate(path: &Path) -> Result<u8> {
    let inventory = load(path)?;
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for check in &inventory.checks {
        match kinds.iter_mut().find(|(k, _)| *k == check.kind()) {
            Some((_, n)) => *n += 1,
            None => kinds.push((check.kind(), 1)),
        }
    }
    let breakdown: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let n = inventory.checks.len();
    let line = format!(
        "{}: OK, {n} check{} ({})\n",
        inventory.path.display(),
        if n == 1 { "" } else { "s" },
        breakdown.join(", ")
    );
    write_out(line.as_bytes())?;
    Ok(exit::OK)
}

fn list(path: &Path) -> Result<u8> {
    let inventory = load(path)?;
    let mut table = Table::new();
    table.load_style(presets::NOTHING).force_no_tty();
    table.set_header(["name", "kind", "target", "severity", "tags"]);
    for c in &inventory.checks {
        let m = &c.meta;
        let (name, target) = (printable(&m.name, usize::MAX), printable(&m.target, usize::MAX));
        table.add_row([name.as_str(), c.kind(), target.as_str(), m.severity.as_str(), &m.tags.join(",")]);
    }
    write_out(format!("{}\n", table.trim_fmt()).as_bytes())?;
    Ok(exit::OK)
}

/// <https://no-color.org>: set and not empty, whatever its value.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// A closed pipe (`rounds | head`) is not an error worth a message.
fn write_out(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}
