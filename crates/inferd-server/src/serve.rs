//! The accept loop: HTTP/1.1 (keep-alive) and HTTP/2 on one port, each
//! connection on its own task, and a graceful drain on shutdown: stop
//! accepting (after a grace period), let in-flight requests finish
//! (bounded), then return.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::App;

/// A client that sends headers slower than this is cut off.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then drains.
///
/// `shutdown` answers the grace period: `/ready` turns 503 at once, new
/// connections are still accepted for that long (so load balancers that poll
/// readiness can move traffic away first), then the listener closes and
/// in-flight requests finish, waiting at most `drain_timeout`. Returns
/// whether the drain completed in time.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = Duration>,
    drain_timeout: Duration,
) -> bool {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let accept = |stream: tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    };
    tokio::pin!(shutdown);
    let grace = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => accept(stream),
                Err(e) => backoff(e).await,
            },
            grace = &mut shutdown => break grace,
        }
    };
    app.state().start_draining();
    if !grace.is_zero() {
        tracing::info!(?grace, "not ready; still accepting during the grace period");
        let end = tokio::time::sleep(grace);
        tokio::pin!(end);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => accept(stream),
                    Err(e) => backoff(e).await,
                },
                () = &mut end => break,
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(?drain_timeout, "drain timed out; closing the remaining connections");
            false
        }
    }
}

/// Out of file descriptors and the like: back off briefly rather than spin.
async fn backoff(error: std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(20)).await;
}
