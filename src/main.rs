//! The `rounds` binary: parse flags, run, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::error::ErrorKind;
use rounds::cli::Cli;
use rounds::outcome::exit;

fn main() -> ExitCode {
    // A panic is a bug in rounds, not a finding: one line in the cron mail instead of a
    // backtrace (RUST_BACKTRACE=1 still gives one), and exit 3, never 101.
    std::panic::set_hook(Box::new(|info| {
        // A library's panic inside an async task (ldap3 on an undecodable answer) is caught
        // by the runtime and reported by the check that awaited the task, in words; the mail
        // must not call it an internal error of rounds. Panics in rounds' own code, and any
        // panic outside a runtime worker, are still said.
        // (On the main thread nothing would catch it but `main` itself: said.)
        let in_library = info.location().is_some_and(|l| !l.file().starts_with("src/"));
        let on_main = std::thread::current().name() == Some("main");
        if in_library && !on_main {
            return;
        }
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("rounds: internal error{place}: {what}; please report this");
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
    match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(_) => ExitCode::from(exit::UNUSABLE),
    }
}

fn run() -> ExitCode {
    let cli = match Cli::parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 3 like every other "could not run"; clap's default is 2,
            // which here means "a critical check failed".
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(exit::UNUSABLE),
            };
        }
    };
    match rounds::app::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::UNUSABLE)
        }
    }
}
