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
use crate::head_errors::OwnAnswers;
use crate::idle::{self, Activity};

/// How long the listener, refusing new connections, still accepts the
/// handshakes already under way before it closes: a handshake's last
/// packet comes one round trip after the server's SYN-ACK, well within
/// this on any network a load balancer sits on.
const HANDSHAKES_UNDER_WAY: Duration = Duration::from_millis(200);

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
            let watched = activity.clone();
            let state = app.state().clone();
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
                let stream = OwnAnswers::new(stream, state);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                entered.watch(connection.into_owned(), watched).await
            };
            spawn_connection(connection, activity, idle_timeout);
            return;
        }
        let stream = OwnAnswers::new(stream, app.state().clone());
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        spawn_connection(
            drain.enter().watch(connection, activity.clone()),
            activity,
            idle_timeout,
        );
    };
    let grace = accept_until(&listener, &accept, shutdown).await;
    // From here HTTP/1.1 answers carry `Connection: close` (`App::handle`)
    // and HTTP/2 connections get a GOAWAY: clients move to other replicas.
    app.state().start_draining();
    drain.begin_grace();
    if !grace.is_zero() {
        tracing::info!(?grace, "not ready; still accepting during the grace period");
        accept_until(&listener, &accept, tokio::time::sleep(grace)).await;
    }
    // The listener closes: first no new connection may start, then the
    // handshakes already under way finish and are served, then it closes
    // (see `refuse_new_connections`).
    refuse_new_connections(&listener);
    let drained = async {
        accept_until(&listener, &accept, tokio::time::sleep(HANDSHAKES_UNDER_WAY)).await;
        drop(listener);
        drain.shutdown().await;
    };
    tokio::select! {
        () = drained => true,
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(?drain_timeout, "drain timed out; closing the remaining connections");
            false
        }
    }
}

/// Hands each connection `listener` accepts to `accept` until `end`
/// completes; what `end` gave.
async fn accept_until<T>(
    listener: &TcpListener,
    accept: &impl Fn(tokio::net::TcpStream),
    end: impl Future<Output = T>,
) -> T {
    tokio::pin!(end);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => accept(stream),
                Err(e) => backoff(e).await,
            },
            ended = &mut end => return ended,
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

/// Makes the listener drop every packet that would start a connection (a
/// TCP segment with SYN and not ACK), so that a client connecting from now
/// on is refused once it closes, rather than accepted and then reset.
///
/// Closing a listening socket resets every connection in its accept queue
/// and every handshake under way: their clients think themselves
/// connected and may have sent a request, which would be lost. With new
/// handshakes stopped, those under way finish within
/// [`HANDSHAKES_UNDER_WAY`] and are accepted and served before it closes.
/// Connections accepted from now on take a copy of the filter (a socket
/// inherits its listener's); an established connection is sent no SYN, so
/// it drops nothing of theirs.
fn refuse_new_connections(listener: &TcpListener) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use socket2::SockFilter;
        // Classic BPF, run on the TCP header: load its flags byte (offset
        // 13), keep SYN and ACK (0x12); SYN alone (0x02) is a new
        // connection: return 0 (drop it); else return all of it (keep).
        const DROP_NEW_CONNECTIONS: [SockFilter; 5] = [
            SockFilter::new(0x30, 0, 0, 13),       // ldb [13]
            SockFilter::new(0x54, 0, 0, 0x12),     // and #0x12
            SockFilter::new(0x15, 0, 1, 0x02),     // jeq #0x02, drop, keep
            SockFilter::new(0x06, 0, 0, 0),        // drop: ret #0
            SockFilter::new(0x06, 0, 0, u32::MAX), // keep: ret #-1
        ];
        if let Err(error) = socket2::SockRef::from(listener).attach_filter(&DROP_NEW_CONNECTIONS) {
            tracing::warn!(%error, "cannot refuse new connections before closing the listener");
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = listener;
}

/// Out of file descriptors and the like: back off briefly rather than spin.
async fn backoff(error: std::io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(20)).await;
}
