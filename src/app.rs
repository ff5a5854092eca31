//! What each subcommand does, between parsed flags and an exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use comfy_table::{presets, Table};

use crate::cli::{AckArgs, CheckArgs, Cli, Command, HandoverArgs, HistoryArgs, ListArgs, ListFormat, NoteArgs};
use crate::files;
use crate::inventory::{self, Inventory};
use crate::known;
use crate::limits;
use crate::outcome::exit;
use crate::progress::Progress;
use crate::report::{self, ReportOptions};
use crate::runner::results::{clean_text, Audit, Stop};
use crate::runner::{self, RunOptions};
use crate::secrets::{printable, Secrets};
use crate::signals;
use crate::state::{self, history, State};

/// Runs the parsed command line and returns the process exit code.
/// `Err` means rounds could not do its job at all (exit code 3).
pub fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        None => watch_or_check(&cli, &cli.check),
        Some(Command::Check(_)) => watch_or_check(&cli, cli.check_args()),
        Some(Command::Validate(_)) => validate(&cli.config, cli.acks()),
        Some(Command::List(args)) => list(&cli.config, args),
        Some(Command::History(args)) => history(&cli.config, cli.state(), args),
        Some(Command::Ack(args)) => ack(&cli.config, cli.acks(), args),
        Some(Command::Note(args)) => note(&cli.config, cli.state(), args),
        Some(Command::Notify(args)) => notify_test(&cli.config, args),
        Some(Command::Handover(args)) => handover(&cli, args),
        Some(Command::Init { path }) => init(path.as_deref().unwrap_or(&cli.config)),
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "rounds", &mut out);
            write_out(&out)?;
            Ok(exit::OK)
        }
        Some(Command::Man) => {
            let out = crate::manual::render().context("cannot render the manual page")?;
            write_out(&out)?;
            Ok(exit::OK)
        }
    }
}

/// `rounds ack NAME --until DATE`, `--list`, `--remove NAME`. Needs no secret: shift staff
/// without the inventory's `${VAR}`s can acknowledge a broken printer.
fn ack(path: &Path, acks_flag: Option<&Path>, args: &AckArgs) -> Result<u8> {
    let file = known::acks_path(path, acks_flag);
    let mut acks = known::read_acks(&file)?.acks;
    let now = crate::config::to_timestamp(known::now());
    if args.list {
        let mut out = String::new();
        for a in &acks {
            let left = match a.until.ends().duration_since(now).try_into() {
                Ok(d) if a.until.ends() > now => format!("{} left", crate::human::age(d)),
                _ => "expired".into(),
            };
            let line = format!("{}  {} ({left}), by {}: {}", a.check.text(), a.until.listed(), a.by, a.note);
            // acks.toml is written by hand too: shown through the same cleaning as a report.
            out.push_str(&clean_text(&line, &Secrets::default(), usize::MAX));
            out.push('\n');
        }
        if acks.is_empty() {
            out.push_str("no acknowledgements\n");
        }
        write_out(out.as_bytes())?;
        return Ok(exit::OK);
    }
    if let Some(name) = &args.remove {
        let before = acks.len();
        acks.retain(|a| a.check.text() != name.trim());
        if acks.len() == before {
            bail!("{name:?} is not acknowledged in {}", file.display());
        }
        known::write_acks(&file, &acks).with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("removed the acknowledgement of {name:?} from {}", file.display());
        return Ok(exit::OK);
    }
    let (Some(name), Some(until)) = (&args.name, &args.until) else { bail!("give a check name and --until DATE") };
    let check = crate::config::Selector::parse(name).map_err(anyhow::Error::msg)?;
    let inventory = inventory::load_without_secrets(path)?;
    check
        .select_acknowledged(inventory.checks.iter().map(|c| &c.meta), "cannot acknowledge:")
        .map_err(anyhow::Error::msg)?;
    let (written, until) = (until, known::Until::parse(until).map_err(anyhow::Error::msg)?);
    if until.ends() <= now {
        bail!("--until {written} is already past: an acknowledgement holds until a day to come");
    }
    acks.retain(|a| a.check.text() != check.text());
    acks.push(known::Ack {
        check: check.clone(),
        until,
        note: args.note.clone(),
        by: known::who(),
        at: crate::human::rfc3339(crate::config::to_system_time(now)),
        covers: Vec::new(),
    });
    known::write_acks(&file, &acks).with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!("acknowledged {:?} {} in {}", check.text(), until.until_text(), file.display());
    Ok(exit::OK)
}

/// The starter inventory `rounds init` writes.
const STARTER: &str = include_str!("../examples/starter.toml");

fn init(path: &Path) -> Result<u8> {
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists; rounds init never overwrites (give another path)", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(STARTER.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}: edit it, then `rounds validate -c {0}` and `rounds -c {0}`", path.display());
    Ok(exit::OK)
}

/// The state file: `--state`, else `[settings] state` (relative to the inventory), else the
/// default place. `None` when there is nowhere to keep it.
fn state_path(inventory: &Path, flag: Option<&Path>, setting: Option<&str>) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.to_owned());
    }
    match setting {
        Some(written) => Some(inventory.parent().unwrap_or(Path::new("")).join(written)),
        None => state::default_path(inventory),
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

/// `--watch`: runs again every interval, redrawing in place on a terminal, until Ctrl-C
/// (which leaves the last complete report on screen, and exits 130). The inventory is read
/// anew each time, so an edit made while a fix is under way takes effect at the next run.
fn watch_or_check(cli: &Cli, args: &CheckArgs) -> Result<u8> {
    let Some(every) = args.watch else { return check(cli, args, None) };
    // Listening from the start and for good: a Ctrl-C between two runs ends the loop too.
    let _ = signals::listen();
    let redraw = std::io::stdout().is_terminal();
    loop {
        let code = check(cli, args, Some(redraw))?;
        if let Some(name) = signals::received() {
            return Ok(signals::exit_code(name));
        }
        write_out(
            format!("\n(again in {}; Ctrl-C to stop; last exit code {code})\n", crate::human::limit(every)).as_bytes(),
        )?;
        let next = std::time::Instant::now() + every;
        while let Some(left) = next.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
            if let Some(name) = signals::received() {
                return Ok(signals::exit_code(name));
            }
            std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
        }
    }
}

/// Whether "no state is kept" was said (once a process, `--watch` runs many times).
static SAID_NO_STATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One run. `watching`: under `--watch`, and whether to redraw the screen in place.
fn check(cli: &Cli, args: &CheckArgs, watching: Option<bool>) -> Result<u8> {
    let (path, state_flag) = (cli.config.as_path(), cli.state());
    let mut inventory = load(path)?;
    let mut acks = known::read_acks(&known::acks_path(path, cli.acks()))?;
    acks.resolve(inventory.checks.iter().map(|c| &c.meta))?;
    let state_file =
        if args.no_state { None } else { state_path(path, state_flag, inventory.settings.state.as_deref()) };
    // A link planted where rounds writes is refused before anything runs.
    for (_, output) in &args.output {
        files::refuse_planted(output).with_context(|| format!("cannot write {}", output.display()))?;
    }
    if let Some(file) = &state_file {
        state::check_paths(file).context("cannot keep the state")?;
    }
    // Where the state goes, said once: when there is no place for it (`env -i`, a service
    // without HOME), and when a run starts keeping it in the default place, which nobody
    // chose (not under --quiet: cron stays silent).
    let chosen = state_flag.is_some() || inventory.settings.state.is_some();
    let new_state = state_file.as_deref().filter(|f| !chosen && !args.quiet && std::fs::symlink_metadata(f).is_err());
    if state_file.is_none() && !args.no_state && !SAID_NO_STATE.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "note: no state is kept between runs (no XDG_STATE_HOME, and no HOME but /): no \"new\" or \
             \"since\"; give --state PATH or [settings] state, or --no-state"
        );
    }
    let mut warnings = Vec::new();
    let previous = state_file.as_deref().and_then(|p| State::read(p, &mut warnings));
    if let Some(previous) = &previous {
        inventory.checks.iter_mut().for_each(|c| c.earlier = previous.recall(&c.meta.name));
    }
    let all_ran = args.only.is_empty();
    if !args.only.is_empty() {
        let only = args.only.iter().map(|o| crate::config::Selector::parse(o)).collect::<Result<Vec<_>, _>>();
        let only = only.map_err(|why| anyhow::anyhow!("--only: {why}"))?;
        for also in inventory.select(&only).map_err(|why| anyhow::anyhow!("{why}"))? {
            eprintln!("also running {also}: depends_on");
        }
    }
    let wanted = args.concurrency.map_or(inventory.settings.concurrency, |n| n as usize);
    let (concurrency, lowered) = limits::cap_concurrency(wanted, limits::raise_open_files());
    if let Some(note) = lowered {
        eprintln!("note: {note}");
    }
    let options = RunOptions {
        concurrency,
        default_timeout: args.timeout.unwrap_or(inventory.settings.timeout),
        retries: inventory.settings.retries,
        retry_delay: inventory.settings.retry_delay,
        deadline: args.deadline.or(inventory.settings.deadline),
    };
    let deadline = options.deadline;

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let progress = Progress::new(inventory.checks.iter().map(|c| c.meta.name.clone()).collect());
    let heartbeat = inventory.heartbeat.clone();

    // The run's stages, in order. Each adds to the report; only the last but one (clean)
    // makes it renderable, and nothing adds text after it.
    // 1. probe, 2. dependencies: every check probed concurrently, a dependant waiting for
    //    what it depends on and skipped when that failed (both inside the runner).
    let mut report = runtime.block_on(async {
        if let Some(beat) = &heartbeat {
            warnings.extend(beat.start().await);
        }
        let shown = progress.clone();
        let show_later = tokio::spawn(async move {
            tokio::time::sleep(crate::progress::SHOW_AFTER).await;
            shown.show();
        });
        // Without handlers (never expected), a receiver that never fires.
        let (_never, quiet) = tokio::sync::watch::channel(None);
        let interrupt = signals::listen().unwrap_or(quiet);
        let on_done = |i| progress.finished(i);
        let report = runner::run(inventory.checks, options, &inventory.secrets, &on_done, interrupt).await;
        show_later.abort();
        report
    });
    progress.clear();
    // 3. known problems: acknowledgements and maintenance windows.
    known::apply(&mut report, &acks.acks, &inventory.windows, known::now());
    // 4. state: trends against the previous run, remembered for the next.
    // The per-day records this stage writes, kept for the status page (not read again).
    let mut written_days = None;
    if let (Some(previous), Some(file)) = (&previous, &state_file) {
        previous.annotate(&mut report);
        let remembered = state::remember(file, &report, path, all_ran).context("cannot keep the state")?;
        warnings.extend(remembered.warnings);
        written_days = remembered.days;
    }
    if let Some(file) = new_state.filter(|f| f.exists()) {
        eprintln!("note: keeping the state between runs in {} (--state PATH to move it)", file.display());
    }
    // 5. audit: which rounds checked which inventory where.
    report.set_audit(Audit {
        version: env!("CARGO_PKG_VERSION").into(),
        host: host_name().unwrap_or_default(),
        inventory: inventory.path.display().to_string(),
        inventory_sha256: inventory.sha256.clone(),
    });
    // 6. clean: redact, escape, cap every text.
    let mut report = report.clean(&inventory.secrets);
    // 7. render (below), after the exit code and the heartbeat.
    // A Nagios plugin exits 1 on warnings: the plugin API is --strict's exit code.
    let exit_code = match report.stopped() {
        Some(Stop::Signal(name)) => signals::exit_code(name),
        _ => report.exit_code(args.strict || args.format == report::Format::Nagios),
    };
    if let Some(beat) = &heartbeat {
        let summary = report::summary_line(&report);
        warnings.extend(runtime.block_on(beat.finish(exit_code, &summary, report.duration())));
    }
    // Nothing may outlive the report: a probe stuck in the kernel must not hold up the exit.
    runtime.shutdown_background();
    for warning in warnings {
        // Warnings carry peers' words too (a heartbeat service's error): cleaned like a report.
        eprintln!("warning: {}", clean_text(&warning, &inventory.secrets, usize::MAX));
    }

    if watching.is_some() && matches!(report.stopped(), Some(Stop::Signal(_))) {
        // The last complete report stays on screen and in the --output files.
        return Ok(exit_code);
    }
    if watching == Some(true) {
        // Home and clear: the new report replaces the old one in place.
        write_out(b"\x1b[H\x1b[2J")?;
    }
    let page = args.output.iter().any(|(f, _)| *f == report::Format::Html).then(|| {
        let record = state_file.as_deref().map(|f| state::page_record(f, written_days)).unwrap_or_default();
        let page = &inventory.status_page;
        report::PageInput::gather(page, record, &acks.acks, &inventory.windows, &inventory.secrets, known::now())
    });
    write_outputs(&report, &args.output, args.wide, page.as_ref())?;
    // 8. notify (after the report is out): each notifier's news, made now from the whole report.
    let news = news(&report, &inventory.notifiers, previous.as_ref(), state_file.is_some());
    if args.quiet {
        // Cron mails only when something needs attention; machine formats still get a
        // whole (filtered) document.
        if args.format.is_for_people() && !report.needs_attention() {
            send_news(
                news,
                &inventory.notifiers,
                &inventory.secrets,
                state_file.as_deref(),
                deadline,
                report.started_at(),
            );
            return Ok(exit_code);
        }
        match args.format.is_for_people() {
            true => report.keep_attention_and_recoveries(),
            false => report.keep_only_attention(),
        }
    }
    let is_terminal = std::io::stdout().is_terminal();
    let report_options = ReportOptions {
        color: is_terminal && !args.no_color && !no_color_env(),
        summary_first: !is_terminal,
        // Wrapping follows where the output goes, not --no-color.
        width: screen_width(),
        wide: args.wide,
        quiet: args.quiet,
    };
    write_out(&report::reporter_for(args.format, report_options).render(&report))?;
    send_news(news, &inventory.notifiers, &inventory.secrets, state_file.as_deref(), deadline, report.started_at());
    Ok(exit_code)
}

/// `rounds notify --test [NAME]`: a test message to each notifier (or the one named); exit
/// code 1 when one was not reached.
fn notify_test(path: &Path, args: &crate::cli::NotifyArgs) -> Result<u8> {
    if !args.test {
        anyhow::bail!("rounds notify sends only test messages: add --test");
    }
    let inventory = load(path)?;
    let chosen: Vec<_> =
        inventory.notifiers.iter().filter(|n| args.name.as_deref().is_none_or(|name| n.name == name.trim())).collect();
    if chosen.is_empty() {
        match &args.name {
            Some(name) => anyhow::bail!("no notifier is named {name:?} in {}", path.display()),
            None => anyhow::bail!("{} has no [[notify]] table", path.display()),
        }
    }
    let host = host_name().unwrap_or_default();
    let messages = chosen.iter().map(|n| crate::notify::test_message(n, &host)).collect();
    let (_, warnings) = crate::notify::send_all(messages, None);
    for n in &chosen {
        let line = match warnings.iter().find(|w| w.starts_with(&format!("notifier {:?} ", n.name))) {
            Some(why) => format!("not sent: {why}"),
            None => format!("sent a test message to {:?} ({:?})", n.name, n.kind),
        };
        write_out(format!("{}\n", clean_text(&line, &inventory.secrets, usize::MAX)).as_bytes())?;
    }
    Ok(u8::from(!warnings.is_empty()))
}

/// Each notifier's message for this run, with what waited in the outbox; none without state
/// (nothing is known to be new), said once.
fn news(
    report: &runner::results::CleanReport,
    notifiers: &[crate::config::Notifier],
    previous: Option<&State>,
    keeping_state: bool,
) -> Vec<crate::notify::Message> {
    if notifiers.is_empty() || matches!(report.stopped(), Some(Stop::Signal(_))) {
        return Vec::new();
    }
    if !keeping_state {
        eprintln!("note: no notifications are sent without state (--no-state): nothing is known to be new");
        return Vec::new();
    }
    let before = crate::notify::Before {
        known: previous.is_some_and(|s| s.last_run().is_some()),
        previous_run: previous.and_then(State::last_run),
    };
    let waiting = crate::notify::outbox_from(previous.and_then(State::outbox));
    crate::notify::prepare(report, notifiers, before, waiting)
}

/// Sends the run's messages within what is left of `--deadline`; what was not delivered
/// waits in the state's outbox. Costs warnings at most, never the exit code.
fn send_news(
    news: Vec<crate::notify::Message>,
    notifiers: &[crate::config::Notifier],
    secrets: &crate::secrets::Secrets,
    state_file: Option<&Path>,
    deadline: Option<std::time::Duration>,
    started: std::time::SystemTime,
) {
    let Some(file) = state_file.filter(|_| !notifiers.is_empty() || !news.is_empty()) else { return };
    let left = deadline.map(|d| d.saturating_sub(started.elapsed().unwrap_or_default()));
    let (kept, mut warnings) = crate::notify::send_all(news, left);
    let kept = (!kept.is_empty()).then(|| serde_json::to_value(&kept).unwrap_or_default());
    warnings.extend(state::keep_outbox(file, kept));
    for warning in warnings {
        eprintln!("warning: {}", clean_text(&warning, secrets, usize::MAX));
    }
}

/// `--output`: every file gets the whole report (not the `--quiet` selection), written
/// atomically so a collector or a CI step never reads half of one.
fn write_outputs(
    report: &runner::results::CleanReport,
    outputs: &[(report::Format, PathBuf)],
    wide: bool,
    page: Option<&report::PageInput>,
) -> Result<()> {
    for (format, path) in outputs {
        let options =
            ReportOptions { color: false, summary_first: true, width: Some(report::MAIL_WIDTH), wide, quiet: false };
        let bytes = match (format, page) {
            (report::Format::Html, Some(page)) => report::status_page(report, page),
            _ => report::reporter_for(*format, options).render(report),
        };
        files::replace(path, &bytes, files::Access::Umask)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn validate(path: &Path, acks_flag: Option<&Path>) -> Result<u8> {
    let inventory = load(path)?;
    let mut acks = known::read_acks(&known::acks_path(path, acks_flag))?;
    acks.resolve(inventory.checks.iter().map(|c| &c.meta))?;
    let notes = known_problem_notes(&inventory, &acks.acks);
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
    // Maintenance reasons and acknowledged names are people's text: cleaned like a report's.
    let notes: String =
        notes.iter().map(|n| format!("note: {}\n", clean_text(n, &Secrets::default(), usize::MAX))).collect();
    write_out(notes.as_bytes())?;
    Ok(exit::OK)
}

/// What `validate` says about acknowledgements and maintenance windows: windows that ended,
/// acknowledgements that expired (what names no check is an error before this).
fn known_problem_notes(inventory: &Inventory, acks: &[known::Ack]) -> Vec<String> {
    let now = crate::config::to_timestamp(known::now());
    let mut notes = Vec::new();
    for w in inventory.windows.iter().filter(|w| w.has_ended(now)) {
        notes.push(format!("the maintenance window \"{}\" has ended; it can be removed", w.reason));
    }
    for a in acks.iter().filter(|a| a.until.ends() <= now) {
        notes.push(format!(
            "the acknowledgement of {:?} {}; remove it or extend it",
            a.check.text(),
            a.until.expired_text()
        ));
    }
    notes
}

fn list(path: &Path, args: &ListArgs) -> Result<u8> {
    // Needs no secret: listing is for everyone on shift.
    let mut inventory = inventory::load_without_secrets(path)?;
    let format = args.format;
    inventory.checks.retain(|c| {
        args.kind.as_deref().is_none_or(|k| c.kind() == k)
            && (args.tag.is_empty() || c.meta.tags.iter().any(|t| args.tag.contains(t)))
    });
    if format == ListFormat::Json {
        let checks: Vec<serde_json::Value> = inventory
            .checks
            .iter()
            .map(|c| {
                let m = &c.meta;
                serde_json::json!({
                    "name": m.name, "kind": c.kind(), "target": m.target, "severity": m.severity.as_str(),
                    "tags": m.tags, "depends_on": m.depends_on, "timeout_ms": m.timeout.map(|t| t.as_millis() as u64),
                })
            })
            .collect();
        let doc = serde_json::json!({ "version": 1, "inventory": inventory.path.display().to_string(),
            "inventory_sha256": inventory.sha256, "checks": checks });
        let mut out = serde_json::to_vec_pretty(&doc).context("cannot write JSON")?;
        out.push(b'\n');
        write_out(&out)?;
        return Ok(exit::OK);
    }
    let mut table = Table::new();
    table.load_style(presets::NOTHING).force_no_tty();
    // Fitted like the report: the terminal's width, or the mail width when piped.
    if let Some(width) = screen_width() {
        table.set_width(width).set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    }
    table.set_header(["name", "kind", "target", "severity", "tags", "depends on"]);
    for c in &inventory.checks {
        let m = &c.meta;
        let (name, target) = (printable(&m.name, usize::MAX), printable(&m.target, usize::MAX));
        let (name, target) =
            (report::keep_within(&name, report::CELL_GROUP), report::keep_within(&target, report::CELL_GROUP));
        let depends = m.depends_on.join(", ");
        table.add_row([name.as_str(), c.kind(), target.as_str(), m.severity.as_str(), &m.tags.join(","), &depends]);
    }
    write_out(format!("{}\n", report::spaces(&table.trim_fmt())).as_bytes())?;
    Ok(exit::OK)
}

/// The state file of `history`, `note` and `handover`, from `--state` or the setting.
fn state_file(path: &Path, state_flag: Option<&Path>, setting: Option<&str>) -> Result<PathBuf> {
    let Some(file) = state_path(path, state_flag, setting) else {
        bail!("no place for state: set XDG_STATE_HOME or HOME, or give --state PATH");
    };
    Ok(file)
}

fn history(path: &Path, state_flag: Option<&Path>, args: &HistoryArgs) -> Result<u8> {
    // The inventory is not loaded: its ${VAR}s need not be set to read the record.
    let setting = inventory::state_setting(path);
    let file = state_file(path, state_flag, setting.as_deref())?;
    let log = read_log(&file)?;
    let runs = &log.records;
    let now = std::time::SystemTime::now();
    let since = state::to_unix(now).saturating_sub(args.since.as_secs());
    let only = match &args.check {
        Some(check) => Some(history_names(path, check, runs)?),
        None => None,
    };
    let episodes = history::episodes(runs, since, only.as_deref());
    // With --check, the notes about those checks.
    let about = |n: &&history::Mark| only.as_ref().is_none_or(|names| n.checks.iter().any(|c| names.contains(c)));
    let notes: Vec<&history::Mark> =
        log.marks.iter().filter(|m| m.kind == history::MarkKind::Note && m.at >= since).filter(about).collect();
    let until = state::to_unix(now);
    let record = report::ShiftRecord { inventory: path, runs, since, until, episodes: &episodes, notes: &notes };
    write_out(&report::render_shift(&record, args.format, screen_width()))?;
    Ok(exit::OK)
}

/// The longest note: a few sentences, not a report.
const MAX_NOTE_CHARS: usize = 2000;

/// `rounds note TEXT [--check NAME] [--by NAME]`: needs no secret, like `ack`.
fn note(path: &Path, state_flag: Option<&Path>, args: &NoteArgs) -> Result<u8> {
    let text = args.text.trim();
    if text.is_empty() {
        bail!("the note is empty: say what happened or what was done");
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        bail!("the note is longer than {MAX_NOTE_CHARS} characters: keep it to what the next shift needs");
    }
    let inventory = inventory::load_without_secrets(path)?;
    let mut mark = history::Mark::new(
        history::MarkKind::Note,
        known::now(),
        args.by.as_deref().map(str::trim).filter(|b| !b.is_empty()).map_or_else(known::who, str::to_owned),
    );
    mark.text = text.to_owned();
    if let Some(check) = &args.check {
        let selector = crate::config::Selector::parse(check).map_err(|why| anyhow::anyhow!("--check: {why}"))?;
        let metas: Vec<_> = inventory.checks.iter().map(|c| c.meta.clone()).collect();
        let found = selector.select(&metas);
        if found.is_empty() {
            bail!("{}", selector.nothing_selected(&metas, "--check"));
        }
        mark.check = Some(selector.text());
        mark.checks = found.into_iter().map(|i| metas[i].name.clone()).collect();
    }
    let file = state_file(path, state_flag, inventory.settings.state.as_deref())?;
    state::write_mark(&file, &mark).with_context(|| format!("cannot write the note to {}", file.display()))?;
    eprintln!("noted in {}", history::log_path(&file).display());
    Ok(exit::OK)
}

/// `rounds handover`: needs no secret. Records that a handover was made: the next one
/// starts there.
fn handover(cli: &Cli, args: &HandoverArgs) -> Result<u8> {
    let path = cli.config.as_path();
    let inventory = inventory::load_without_secrets(path)?;
    let mut acks = known::read_acks(&known::acks_path(path, cli.acks()))?;
    acks.resolve(inventory.checks.iter().map(|c| &c.meta))?;
    let file = state_file(path, cli.state(), inventory.settings.state.as_deref())?;
    if let Some(output) = &args.output {
        files::refuse_planted(output).with_context(|| format!("cannot write {}", output.display()))?;
    }
    let log = read_log(&file)?;
    let now = known::now();
    let since = match args.since {
        Some(back) => state::to_unix(now).saturating_sub(back.as_secs()),
        None => log.last_handover().unwrap_or_else(|| state::to_unix(now).saturating_sub(12 * 3600)),
    };
    let mut warnings = Vec::new();
    let remembered = State::read(&file, &mut warnings).unwrap_or_default();
    for warning in warnings {
        eprintln!("warning: {}", clean_text(&warning, &Secrets::default(), usize::MAX));
    }
    let episodes = history::episodes(&log.records, since, None);
    let sources = report::Sources {
        inventory: path,
        since,
        now,
        runs: &log.records,
        notes: log.notes_since(since).collect(),
        episodes: &episodes,
        acks: &acks.acks,
        windows: &inventory.windows,
        seen: remembered.seen().collect(),
    };
    let bytes = report::Handover::gather(&sources).render(args.format);
    match &args.output {
        Some(output) => files::replace(output, &bytes, files::Access::Umask)
            .with_context(|| format!("cannot write {}", output.display()))?,
        None => write_out(&bytes)?,
    }
    let mark = history::Mark::new(history::MarkKind::Handover, now, known::who());
    state::write_mark(&file, &mark).with_context(|| format!("cannot record the handover in {}", file.display()))?;
    Ok(exit::OK)
}

/// The run log beside the state `file`, its passed-over lines said on stderr.
fn read_log(file: &Path) -> Result<history::Runs> {
    // No record is no news: a log that cannot be read is said, never "No problems".
    let log = history::log_path(file);
    let runs = match history::read(&log) {
        Ok(runs) => runs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no run log at {}: no run has been recorded with this state (is --state or [settings] state right?)",
            log.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read the run log {}", log.display())),
    };
    if runs.passed_over > 0 {
        eprintln!(
            "warning: {}: {} line(s) passed over (damaged, or written by a newer rounds)",
            log.display(),
            runs.passed_over
        );
    }
    Ok(runs)
}

/// The checks `history --check` means: what the selector names in the inventory (read
/// without secrets), or a name in the run log (a check since removed). Naming nothing is an
/// error with the closest names: a typo must not read as "No problems."
fn history_names(path: &Path, check: &str, runs: &[history::RunRecord]) -> Result<Vec<String>> {
    let selector = crate::config::Selector::parse(check).map_err(|why| anyhow::anyhow!("--check: {why}"))?;
    // The inventory as it is now, and the names the log remembers (a check since removed).
    let mut checks: Vec<crate::config::CheckMeta> = inventory::load_without_secrets(path)
        .map(|i| i.checks.into_iter().map(|c| c.meta).collect())
        .unwrap_or_default();
    for run in runs {
        for problem in &run.problems {
            if !checks.iter().any(|c| c.name == problem.name) {
                checks.push(crate::config::CheckMeta { name: problem.name.clone(), ..Default::default() });
            }
        }
    }
    let found = selector.select(&checks);
    if found.is_empty() {
        bail!("{}", selector.nothing_selected(&checks, "--check"));
    }
    Ok(found.into_iter().map(|i| checks[i].name.clone()).collect())
}

/// The columns to fit: the terminal's (or `COLUMNS` when it does not say), or the mail width
/// when piped; `None` on a terminal of unknown width.
fn screen_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return Some(report::MAIL_WIDTH);
    }
    let told = rustix::termios::tcgetwinsize(std::io::stdout()).ok().map(|size| size.ws_col);
    let columns = || std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok());
    told.filter(|w| *w > 0).or_else(columns).filter(|w| *w > 0)
}

/// This machine's name, for the first line of a mailed report.
fn host_name() -> Option<String> {
    let name = rustix::system::uname().nodename().to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
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
