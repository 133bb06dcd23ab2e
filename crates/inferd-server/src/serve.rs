//! The accept loop: HTTP/1.1 (keep-alive) and HTTP/2 on one port, each
//! connection on its own task (closed once idle, see [`crate::idle`]), and
//! a graceful drain on shutdown: stop
//! accepting (after a grace period), let in-flight requests finish
//! (bounded), then return. With a TLS configuration, each connection first
//! completes a TLS handshake (bounded); one that fails, plain HTTP included,
//! is closed without touching the application.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::App;
use crate::drain::Drain;
use crate::idle::{self, Activity};

/// A client that has not finished the TLS handshake by then is cut off.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    serve_tls(listener, app, shutdown, drain_timeout, None).await
}

/// [`serve()`], speaking TLS on every connection when `tls` is given.
pub async fn serve_tls(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = Duration>,
    drain_timeout: Duration,
    tls: Option<Arc<ServerConfig>>,
) -> bool {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No hyper timer: its header read timeout arms a timer per request
    // (see `crate::idle`, which does that job per connection). Responses
    // are written as one buffer (head and body copied together): our
    // bodies are whole, mostly small, and queueing them as a second
    // buffer cost ~400 instructions a request more (callgrind).
    builder
        .http1()
        .header_read_timeout(None)
        .keep_alive(true)
        .writev(false);
    let idle_timeout = app.state().options.idle_timeout;
    let drain = Drain::default();
    let accept = |stream: tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let service = TowerToHyperService::new(app.for_connection(activity.clone()));
        if let Some(acceptor) = &acceptor {
            // Entered before the handshake, so a drain waits for
            // handshakes in progress too (each bounded).
            let entered = drain.enter();
            let (acceptor, builder) = (acceptor.clone(), builder.clone());
            let connection = async move {
                let stream = match tokio::time::timeout(
                    TLS_HANDSHAKE_TIMEOUT,
                    acceptor.accept(stream),
                )
                .await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed; connection closed");
                        return Ok(());
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out; connection closed");
                        return Ok(());
                    }
                };
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                entered.watch(connection.into_owned()).await
            };
            spawn_connection(connection, activity, idle_timeout);
            return;
        }
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        spawn_connection(drain.enter().watch(connection), activity, idle_timeout);
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
        () = drain.shutdown() => true,
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(?drain_timeout, "drain timed out; closing the remaining connections");
            false
        }
    }
}

/// Serves one connection on a task of its own, and closes it (aborting
/// that task drops the socket) once idle for `idle_timeout`. The idle
/// check is a second task, so that polling the connection, several times a
/// request, never polls its timer.
fn spawn_connection<E: std::fmt::Display>(
    connection: impl Future<Output = Result<(), E>> + Send + 'static,
    activity: Arc<Activity>,
    idle_timeout: Duration,
) {
    let mut served = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    });
    tokio::spawn(async move {
        tokio::select! {
            _ = &mut served => {}
            () = idle::idle_for(&activity, idle_timeout) => {
                served.abort();
                tracing::debug!(?idle_timeout, "no request for the idle timeout; connection closed");
            }
        }
    });
}

/// Out of file descriptors and the like: back off briefly rather than spin.
async fn backoff(error: std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(20)).await;
}
