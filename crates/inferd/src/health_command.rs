//! `inferd health [--url URL]`: asks a server whether it is ready (`GET
//! /ready`) and exits 0 when it answers 200, 1 otherwise. It is the
//! container image's `HEALTHCHECK`: the `scratch` image has no curl or
//! shell, only this binary.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use inferd_bench::conn::Conn;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server, as `http://HOST:PORT`. Default: this machine's
    /// `INFERD_PORT` (5001 when unset), which is what the image serves on.
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

pub fn run(args: HealthArgs) -> Result<()> {
    let url = args.url.clone().unwrap_or_else(|| {
        let port = std::env::var("INFERD_PORT").unwrap_or_else(|_| "5001".to_owned());
        format!("http://127.0.0.1:{port}")
    });
    let (address, host) = crate::service_command::server(&url)?;
    let request = format!("GET /ready HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let response = runtime
        .block_on(
            Conn::new(address).send(request.as_bytes(), Duration::from_millis(args.timeout_ms)),
        )
        .with_context(|| format!("no answer from {url}/ready"))?;
    if response.status != 200 {
        bail!(
            "{url}/ready answered {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
    }
    println!("ready");
    Ok(())
}
