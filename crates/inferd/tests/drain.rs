//! The drain on the real process: keep-alive clients that loop through a
//! SIGTERM lose no request. Every request a client sends on a connection
//! the server accepted is answered; the server tells each client to go
//! (`Connection: close`) during the grace period, and once the grace is
//! over, a new connection is refused rather than accepted and dropped.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const BODY: &str = r#"{"data": [[10,9,8,7,6,5,4,3,2,1]]}"#;

/// What one looping client saw.
#[derive(Debug, Default)]
struct Tally {
    answered: u64,
    /// Answers that carried `Connection: close`.
    told_to_go: u64,
    /// Requests sent on an open connection that got no answer, and how
    /// each ended.
    lost: Vec<String>,
}

enum Exchange {
    Answered { close: bool },
    Lost(String),
}

/// One request on `stream`, and its answer read whole.
fn exchange(stream: &mut BufReader<TcpStream>) -> Exchange {
    let request = format!(
        "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    if let Err(e) = stream.get_mut().write_all(request.as_bytes()) {
        return Exchange::Lost(format!("writing: {e}"));
    }
    let mut status = String::new();
    match stream.read_line(&mut status) {
        Ok(0) => return Exchange::Lost("no answer: end of stream".into()),
        Err(e) => return Exchange::Lost(format!("no answer: {e}")),
        Ok(_) => {}
    }
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let (mut length, mut close) = (0, false);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).unwrap_or(0) == 0 {
            return Exchange::Lost("the head cut short".into());
        }
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        close |= line == "connection: close";
    }
    let mut body = vec![0; length];
    if let Err(e) = stream.read_exact(&mut body) {
        return Exchange::Lost(format!("the body cut short: {e}"));
    }
    Exchange::Answered { close }
}

/// Loops requests on keep-alive connections, opening a new one when the
/// server says so, until a connection is refused (the server has gone).
fn client(address: SocketAddr, answered: &AtomicU64) -> Tally {
    let mut tally = Tally::default();
    let mut stream = None;
    // Answers on the connection in use.
    let mut answered_here = 0;
    loop {
        if stream.is_none() {
            let Ok(connected) = TcpStream::connect_timeout(&address, Duration::from_secs(10))
            else {
                return tally;
            };
            connected
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            stream = Some(BufReader::new(connected));
            answered_here = 0;
        }
        match exchange(stream.as_mut().unwrap()) {
            Exchange::Answered { close } => {
                tally.answered += 1;
                answered_here += 1;
                answered.fetch_add(1, Ordering::Relaxed);
                if close {
                    tally.told_to_go += 1;
                    stream = None;
                }
            }
            Exchange::Lost(how) => {
                let fresh = if answered_here == 0 {
                    "a new connection"
                } else {
                    "a used connection"
                };
                tally.lost.push(format!("{how}, on {fresh}"));
                stream = None;
            }
        }
    }
}

/// One run: clients looping, SIGTERM, every client's tally.
fn run_through_sigterm() -> Vec<Tally> {
    let mut server = support::start(&["--model", "diabetes-ridge", "--shutdown-grace-s", "1"]);
    let address: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let answered = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let answered = answered.clone();
            std::thread::spawn(move || client(address, &answered))
        })
        .collect();
    // Every client in its loop before the signal.
    let started = Instant::now();
    while answered.load(Ordering::Relaxed) < 50 * CLIENTS as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "clients stalled"
        );
        std::thread::yield_now();
    }
    server.sigterm();
    let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let (status, logs) = server.wait();
    assert!(status.success(), "{status:?}\n{logs}");
    tallies
}

/// Runs of the test: `INFERD_DRAIN_RUNS`, else 3 (`benches/RESULTS.md`
/// has a longer series).
fn runs() -> usize {
    std::env::var("INFERD_DRAIN_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

#[test]
fn keep_alive_clients_looping_through_sigterm_lose_no_request() {
    let (mut answered, mut told_to_go) = (0, 0);
    for run in 0..runs() {
        let tallies = run_through_sigterm();
        answered += tallies.iter().map(|t| t.answered).sum::<u64>();
        told_to_go += tallies.iter().map(|t| t.told_to_go).sum::<u64>();
        let lost: Vec<_> = tallies.iter().flat_map(|t| &t.lost).collect();
        assert!(
            lost.is_empty(),
            "run {run}: requests without an answer: {lost:?}"
        );
        for tally in &tallies {
            assert!(
                tally.told_to_go >= 1,
                "run {run}: a client never told to go: {tallies:?}"
            );
        }
    }
    eprintln!(
        "{} runs: {answered} answered, {told_to_go} with Connection: close, none lost",
        runs()
    );
}
