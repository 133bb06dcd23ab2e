//! `inferd-bench`: the same tool as `inferd bench`, as a binary of its own
//! that builds in seconds (no engine), for loading peers or a remote build.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "inferd-bench", version, about)]
struct BenchCli {
    #[command(flatten)]
    args: inferd_bench::BenchArgs,
}

fn main() -> ExitCode {
    match inferd_bench::run(BenchCli::parse().args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
