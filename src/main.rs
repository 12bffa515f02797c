//! `tunscope`: parses arguments, calls the library, maps the outcome to an exit code
//! (0 ok, 1 a failed `tunscope check`, 2 error).

use clap::Parser;
use cli::Cli;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let parsed = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return if e.use_stderr() {
                ExitCode::from(cli::EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli::run(parsed) {
        Ok(code) => ExitCode::from(code),
        Err(cli::CliError(msg)) => {
            eprintln!("tunscope: error: {msg}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
