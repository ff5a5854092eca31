//! The command line, as clap derives it. No logic here: `app` does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::report::Format;

const EXIT_CODES: &str = "\
Exit codes:
  0  no critical check failed (warnings allowed)
  1  only with --strict: some check warned
  2  at least one critical check failed
  3  rounds could not run: unreadable or invalid inventory, bad flags";

/// A clinic's morning systems check: probes the servers, endpoints, certificates, disks and
/// backups listed in an inventory, all at once, and says in plain words what is wrong.
#[derive(Debug, Parser)]
#[command(name = "rounds", version, after_help = EXIT_CODES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Running `rounds` without a subcommand is `rounds check`.
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every check in the inventory (the default).
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Parse and check the inventory without probing anything.
    Validate(ConfigArg),
    /// List the checks the inventory defines: name, kind, target, severity, tags.
    List(ConfigArg),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The inventory file.
    #[arg(short, long, env = "ROUNDS_CONFIG", default_value = "checks.toml", value_name = "PATH")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Run only checks with this name, server name or tag (repeatable).
    #[arg(long, value_name = "NAME_OR_TAG")]
    pub only: Vec<String>,
    /// Probes in flight at once [default: settings.concurrency, else 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,
    /// Default per-check timeout, like "5s" [default: settings.timeout, else 10s].
    /// Checks with their own `timeout` keep it.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<humantime::Duration>,
    /// No colours, even on a terminal (the NO_COLOR variable does the same).
    #[arg(long)]
    pub no_color: bool,
    /// Warnings fail the run too (exit code 1).
    #[arg(long)]
    pub strict: bool,
    /// Print only checks that did not pass, plus the summary; nothing at all when all passed.
    #[arg(short, long)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_check() {
        let cli = Cli::try_parse_from(["rounds", "--format", "json", "--only", "ehr"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.check.format, Format::Json);
        assert_eq!(cli.check.only, vec!["ehr".to_owned()]);
    }
}
