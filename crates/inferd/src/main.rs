//! The inferd binary: parses the command line and hands over to the
//! subcommand. Wiring only; every behaviour lives in a library crate.
//!
//! # Layout
//! - [`cli`]: the command line (clap).
//! - [`serve_command`]: `inferd serve`: bind, load, serve, drain on a signal.
//! - [`model_command`]: `inferd model ...`: the registry from the shell.
//! - [`logging`]: the tracing subscriber.

mod cli;
mod logging;
mod model_command;
mod serve_command;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_command::run(args),
        Command::Model(args) => model_command::run(&cli.registry, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
