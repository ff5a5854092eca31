//! The `rounds` binary: parse flags, run, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::error::ErrorKind;
use rounds::cli::Cli;
use rounds::outcome::exit;

fn main() -> ExitCode {
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
