//! `inferd-bench`: the same tool as `inferd bench`, as a binary of its own
//! that builds in seconds (no engine), for loading peers or a remote build.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "inferd-bench", version, about)]
struct Cli {
    #[command(flatten)]
    args: inferd_bench::BenchArgs,
}

fn main() -> ExitCode {
    match inferd_bench::run(Cli::parse().args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
