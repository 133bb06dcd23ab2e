//! `inferd service update --url URL --model NAME[:VERSION] [--key KEY]`:
//! the seed's `service.update(models=[model])`. Asks a running server to
//! serve a registered version (`POST /v2/repository/models/{m}/load`) and
//! waits until it is live, or prints why the server refused it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use inferd_bench::conn::Conn;
use inferd_registry::ModelRef;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Serve NAME at VERSION (or by its version policy, the latest by
    /// default, without one); answers once it is live.
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The server, as `http://HOST:PORT`.
    #[arg(long, env = "INFERD_URL")]
    pub url: String,
    /// `NAME:VERSION`, or `NAME` to serve its latest.
    #[arg(long, short = 'm')]
    pub model: ModelRef,
    /// A key the server accepts (the repository API always needs one).
    #[arg(long, env = "INFERD_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// How long to wait for the answer, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_s: u64,
}

pub fn run(args: ServiceArgs) -> Result<()> {
    let ServiceAction::Update(update) = args.action;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime.block_on(send(&update))?;
    println!("{answer}");
    Ok(())
}

async fn send(args: &UpdateArgs) -> Result<String> {
    let (address, host) = server(&args.url)?;
    let path = format!(
        "/v2/repository/models/{}/load",
        percent_encode(&args.model.name)
    );
    let body = match args.model.version {
        Some(version) => format!(r#"{{"parameters":{{"version":"{version}"}}}}"#),
        None => String::new(),
    };
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(key) = &args.key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let response = Conn::new(address)
        .send(request.as_bytes(), Duration::from_secs(args.timeout_s))
        .await
        .with_context(|| format!("no answer from {}", args.url))?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if response.status != 200 {
        bail!(
            "the server refused the update ({}): {text}",
            response.status
        );
    }
    Ok(text)
}

/// The address and `Host` of an `http://HOST:PORT` URL.
pub(crate) fn server(url: &str) -> Result<(SocketAddr, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!(
            "--url {url}: give http://HOST:PORT (this client speaks plain HTTP; for TLS use the repository API with curl)"
        );
    };
    let host = rest.trim_end_matches('/');
    if host.contains('/') {
        bail!("--url {url}: give the server's root, http://HOST:PORT, without a path");
    }
    let address = host
        .to_socket_addrs()
        .with_context(|| format!("--url {url}: not HOST:PORT"))?
        .next()
        .with_context(|| format!("--url {url}: no address"))?;
    Ok((address, host.to_owned()))
}

/// A model name as a path segment (names are letters, digits, `-`, `_`,
/// `.`; anything else is escaped all the same).
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_roots() {
        let (address, host) = server("http://127.0.0.1:5001/").unwrap();
        assert_eq!(address.port(), 5001);
        assert_eq!(host, "127.0.0.1:5001");
        for bad in [
            "https://x:1",
            "127.0.0.1:5001",
            "http://127.0.0.1:5001/score",
        ] {
            assert!(server(bad).is_err(), "{bad}");
        }
        assert_eq!(percent_encode("a b"), "a%20b");
    }
}
