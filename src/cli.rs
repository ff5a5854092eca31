//! The command line, as clap derives it. No logic here: `app` does the work.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::report::{Format, HandoverFormat, HistoryFormat};

const EXIT_CODES: &str = "\
Exit codes:
  0  no critical check failed (warnings allowed)
  1  only with --strict: some check warned
  2  at least one critical check failed
  3  rounds could not run: unreadable or invalid inventory, bad flags, --only matched nothing
  130  stopped by Ctrl-C";

/// A clinic's morning systems check: probes the servers, endpoints, certificates, disks and
/// backups listed in an inventory, all at once, and says in plain words what is wrong.
#[derive(Debug, Parser)]
#[command(name = "rounds", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The inventory file (before or after the subcommand).
    #[arg(short, long, global = true, env = "ROUNDS_CONFIG", default_value = "checks.toml", value_name = "PATH")]
    pub config: PathBuf,
    /// `--state`, before or after the subcommand: [`Cli::parse_from_args`] puts it here.
    #[command(flatten)]
    pub state: StateArg,
    /// `--acks`, before or after the subcommand: [`Cli::parse_from_args`] puts it here.
    #[command(flatten)]
    pub acks: AcksArg,
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
    Check(CheckCommand),
    /// Parse and check the inventory without probing anything.
    Validate(ValidateArgs),
    /// List the checks the inventory defines: name, kind, target, severity, tags.
    List(ListArgs),
    /// The shift record: every problem of the recent runs, when it began, when it ended.
    History(HistoryArgs),
    /// The end-of-shift handover: still open, what happened, coming up, the shift's notes and
    /// runs. Since the last handover, else the last 12 h.
    Handover(HandoverArgs),
    /// Add a timestamped note to the shift record (never patient data).
    Note(NoteArgs),
    /// Acknowledge a known problem until a date, list acknowledgements, or remove one.
    Ack(AckArgs),
    /// Notifiers (`[[notify]]`): `--test` sends a test message to each (or one) and says what
    /// happened.
    Notify(NotifyArgs),
    /// Write a commented starter inventory to PATH (default: the --config path); never
    /// overwrites a file.
    Init {
        /// Where to write it.
        path: Option<PathBuf>,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), subcommands and inventory included, to stdout:
    /// `rounds man | sudo tee /usr/local/share/man/man1/rounds.1`.
    Man,
}

/// `--state`, on the commands that read or keep state (`check`, `history`); before or after
/// the subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct StateArg {
    /// Where the state between runs is kept, before or after the subcommand [default:
    /// settings.state, else $XDG_STATE_HOME/rounds/ or ~/.local/state/rounds/, one file per
    /// inventory].
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
}

/// `--acks`, on the commands that read acknowledgements (`check`, `validate`, `ack`); before
/// or after the subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct AcksArg {
    /// The acknowledgements file, before or after the subcommand [default: acks.toml beside
    /// the inventory].
    #[arg(long, value_name = "PATH")]
    pub acks: Option<PathBuf>,
}

/// `rounds check`: the flags of a run, and where its state and acknowledgements are.
#[derive(Debug, Args)]
pub struct CheckCommand {
    #[command(flatten)]
    pub args: CheckArgs,
    #[command(flatten)]
    pub state: StateArg,
    #[command(flatten)]
    pub acks: AcksArg,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub acks: AcksArg,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").args(["name", "list", "remove"]).required(true)))]
pub struct AckArgs {
    /// The check to acknowledge: its name, a [[server]]'s name (all its ports), or tag:NAME
    /// for every check with that tag.
    #[arg(requires = "until")]
    pub name: Option<String>,
    /// Until when: a date (through the end of that day, here) or an RFC 3339 moment; not a
    /// day already past.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Why, and what is being done: "ticket 4411, vendor visit Monday".
    #[arg(long, default_value = "")]
    pub note: String,
    /// List the acknowledgements, with days left.
    #[arg(long)]
    pub list: bool,
    /// Remove the acknowledgement of this check (as `--list` shows it).
    #[arg(long, value_name = "NAME")]
    pub remove: Option<String>,
    #[command(flatten)]
    pub acks: AcksArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format: a table, or JSON for scripts that build dashboards from the inventory.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Only checks of this kind (endpoint, server, tls, ...).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only checks with this tag (repeatable: any of them).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// How far back, like "24h" or "7days".
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = any_duration)]
    pub since: Duration,
    /// Only this check: its name, a server's name (all its ports), a tag, or tag:NAME.
    #[arg(long, value_name = "NAME_OR_TAG")]
    pub check: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub format: HistoryFormat,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct HandoverArgs {
    /// How far back, like "12h" [default: since the last handover, else 12h].
    #[arg(long, value_name = "DURATION", value_parser = any_duration)]
    pub since: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HandoverFormat::Table)]
    pub format: HandoverFormat,
    /// Write it to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateArg,
    #[command(flatten)]
    pub acks: AcksArg,
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Send a test message (required: nothing else is sent from here).
    #[arg(long)]
    pub test: bool,
    /// Only the notifier of this name [default: every one].
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    /// What happened or was done: "replaced the barcode scanner at front desk 2".
    pub text: String,
    /// The check it is about: its name, a server's name (all its ports), or tag:NAME.
    #[arg(long, value_name = "NAME_OR_TAG")]
    pub check: Option<String>,
    /// Who writes it [default: the person behind sudo, else the login name].
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Run only checks with this name, server name or tag (repeatable). A name wins over a
    /// tag spelt the same; tag:NAME is always a tag.
    #[arg(long, value_name = "NAME_OR_TAG")]
    pub only: Vec<String>,
    /// Probes in flight at once [default: settings.concurrency, else 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,
    /// Default per-check timeout, like "5s" [default: settings.timeout, else 10s].
    /// Checks with their own `timeout` keep it.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub timeout: Option<Duration>,
    /// End the whole run by then, like "60s": checks still running fail [default:
    /// settings.deadline, else none]. The report and the exit code are complete regardless.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub deadline: Option<Duration>,
    /// No colours, even on a terminal (the NO_COLOR variable does the same).
    #[arg(long)]
    pub no_color: bool,
    /// Warnings fail the run too (exit code 1).
    #[arg(long)]
    pub strict: bool,
    /// Run again every DURATION (like "30s") and redraw in place, for the minutes while a
    /// fix is under way; Ctrl-C stops and leaves the last report on screen.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub watch: Option<Duration>,
    /// Also write the report to FILE, atomically, in FORMAT (json, junit or xml, prometheus
    /// or prom, nagios, markdown or md, table or txt), or by the file's extension (.json,
    /// .xml, .prom, .md, .txt); stdout keeps its own format. Repeatable. Files hold every
    /// check, even with --quiet.
    #[arg(long, value_name = "[FORMAT:]FILE", value_parser = parse_output)]
    pub output: Vec<(Format, PathBuf)>,
    /// Every column (kind and target too), however narrow the terminal.
    #[arg(long)]
    pub wide: bool,
    /// Keep no state between runs: no "new" or "since", nothing written.
    #[arg(long)]
    pub no_state: bool,
    /// Print only checks that need attention (each once), those that came back since the
    /// last run, and the summary; nothing at all when all passed.
    #[arg(short, long)]
    pub quiet: bool,
}

impl Cli {
    /// Parses `args` (with the program name first). Flags of `check` given before another
    /// subcommand (`rounds --format json list`) are a usage error rather than silently
    /// ignored; `-c`/`--config` is global and goes before or after the subcommand, and so do
    /// `--state` and `--acks` for the subcommands that take them (an error for the others).
    pub fn parse_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            // `--state`/`--acks` before a subcommand that has no use for them: said, not ignored.
            let takes = |id: &str| {
                command.find_subcommand(name).is_some_and(|sub| sub.get_arguments().any(|a| a.get_id() == id))
            };
            let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
            if let Some(id) = ["state", "acks"].into_iter().find(|id| given(id) && !takes(id)) {
                let message = format!("--{id} has no use in `rounds {name}`");
                return Err(command.error(clap::error::ErrorKind::ArgumentConflict, message));
            }
            let misplaced = CheckArgs::augment_args(clap::Command::new("check"))
                .get_arguments()
                .map(|a| a.get_id().clone())
                .find(|id| matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine));
            if let Some(id) = misplaced {
                let message =
                    format!("--{id} belongs to `rounds check` (or to `rounds` alone), not to `rounds {name}`");
                return Err(command.error(clap::error::ErrorKind::ArgumentConflict, message));
            }
        }
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        // Given after the subcommand (any that flattens `StateArg`/`AcksArg`), it wins.
        if let Some((_, sub)) = matches.subcommand() {
            let after = |id: &str| sub.try_get_one::<PathBuf>(id).ok().flatten().cloned();
            cli.state.state = after("state").or(cli.state.state);
            cli.acks.acks = after("acks").or(cli.acks.acks);
        }
        Ok(cli)
    }

    /// The flags of the run, given after `check` or with no subcommand.
    pub fn check_args(&self) -> &CheckArgs {
        match &self.command {
            Some(Command::Check(check)) => &check.args,
            _ => &self.check,
        }
    }

    /// `--state`, given before or after the subcommand (after wins).
    pub fn state(&self) -> Option<&std::path::Path> {
        self.state.state.as_deref()
    }

    /// `--acks`, given before or after the subcommand (after wins).
    pub fn acks(&self) -> Option<&std::path::Path> {
        self.acks.acks.as_deref()
    }
}

/// `--output`: `prometheus:/var/lib/node_exporter/rounds.prom`, `prom:FILE` or `report.json`.
/// A bare word before the first `:` is a format name (a `--format` name or alias); one that
/// names no format is refused rather than taken as part of a file name. A path with a `/` or
/// a `.` before its `:` (`./a:b.json`) is a file name.
fn parse_output(text: &str) -> Result<(Format, PathBuf), String> {
    if let Some((name, path)) = text.split_once(':') {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            let Some(format) = Format::named(name) else {
                return Err(format!(
                    "unknown format {name}; one of {} (a file name with a colon: ./{text})",
                    Format::names().join(", ")
                ));
            };
            if path.is_empty() {
                return Err(format!("give a file after {name}:, like {name}:/var/tmp/rounds.out"));
            }
            return Ok((format, PathBuf::from(path)));
        }
    }
    let path = PathBuf::from(text);
    match Format::for_file(&path) {
        Some(format) => Ok((format, path)),
        None => Err("say the format, like prometheus:FILE, or use a .json, .xml, .prom, .md or .txt file".into()),
    }
}

/// A span of time like "7days".
fn any_duration(text: &str) -> Result<Duration, String> {
    crate::config::values::parse_duration(text, Duration::from_secs(100 * 365 * 86_400), "100 years")
}

/// A duration like "5s"; zero is refused (it would fail every check before it starts).
fn positive_duration(text: &str) -> Result<Duration, String> {
    crate::config::values::parse_duration(text, crate::config::values::MAX_TIMEOUT, "24h")
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn config_goes_before_or_after_the_subcommand() {
        for args in
            [&["rounds", "-c", "x.toml", "list"][..], &["rounds", "list", "-c", "x.toml"], &["rounds", "-c", "x.toml"]]
        {
            let cli = Cli::parse_from_args(args).unwrap();
            assert_eq!(cli.config, PathBuf::from("x.toml"), "{args:?}");
        }
        assert!(Cli::parse_from_args(["rounds", "--timeout", "0s"]).is_err());
        assert!(Cli::parse_from_args(["rounds", "--format", "json", "list"]).is_err());
    }

    #[test]
    fn output_takes_format_names_and_short_names_and_refuses_other_words() {
        for (text, format, path) in [
            ("prom:/var/lib/rounds.prom", Format::Prometheus, "/var/lib/rounds.prom"),
            ("PROMETHEUS:x", Format::Prometheus, "x"),
            ("md:mail.txt", Format::Markdown, "mail.txt"),
            ("xml:ci", Format::Junit, "ci"),
            ("report.json", Format::Json, "report.json"),
            ("./odd:name.json", Format::Json, "./odd:name.json"),
        ] {
            assert_eq!(parse_output(text), Ok((format, PathBuf::from(path))), "{text}");
        }
        let unknown = parse_output("promx:out.prom").unwrap_err();
        assert!(unknown.starts_with("unknown format promx; one of table (txt, text), json, junit (xml)"), "{unknown}");
        assert!(parse_output("prom:").is_err());
    }

    #[test]
    fn state_and_acks_go_before_or_after_the_subcommands_that_use_them() {
        for args in [&["rounds", "--state", "s.json", "history"][..], &["rounds", "history", "--state", "s.json"]] {
            let cli = Cli::parse_from_args(args).unwrap();
            assert_eq!(cli.state(), Some(std::path::Path::new("s.json")), "{args:?}");
        }
        for args in [&["rounds", "--acks", "a.toml", "check"][..], &["rounds", "check", "--acks", "a.toml"]] {
            assert_eq!(Cli::parse_from_args(args).unwrap().acks(), Some(std::path::Path::new("a.toml")), "{args:?}");
        }
        let cli = Cli::parse_from_args(["rounds", "--state", "s.json", "-q"]).unwrap();
        assert_eq!((cli.state(), cli.check_args().quiet), (Some(std::path::Path::new("s.json")), true));
        assert!(Cli::parse_from_args(["rounds", "--state", "s.json", "list"]).is_err());
        assert!(Cli::parse_from_args(["rounds", "list", "--acks", "a.toml"]).is_err());
    }
}
