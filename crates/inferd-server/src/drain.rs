//! The graceful drain, in two steps. When the grace period begins
//! ([`Drain::begin_grace`]), every HTTP/2 connection gets a GOAWAY, so its
//! client opens its next streams elsewhere (HTTP/1.1 clients are told by
//! `Connection: close` on each answer, see `App::handle`). When it ends
//! ([`Drain::shutdown`]), every connection still open is asked to finish
//! what it has in hand and close, and the drain waits until all have.
//!
//! Nothing a client sent is dropped: a connection asked to close first
//! reads what has arrived, so a request whose bytes are here is answered
//! (hyper closes only a connection with no request in hand). A connection
//! that has not yet sent its first request (one accepted in the last
//! moments of the grace period, its client about to write) is given
//! [`FIRST_REQUEST_ALLOWANCE`] to send it, and answers it before closing.
//!
//! hyper-util's `GracefulShutdown` does the same by polling a watch
//! channel's `changed()` beside the connection on every poll: several
//! times a request, ~470 instructions a request on the HTTP thread
//! (callgrind, diabetes-ridge). Here a poll reads one flag and compares the
//! task's waker with the one already registered; only a shutdown (or a
//! connection moving to another task, which ours never do) takes a lock.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::Notify;

use crate::idle::Activity;

/// Every connection of one server, for its drain.
#[derive(Default)]
pub struct Drain {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Where the drain is: [`SERVING`], [`GRACE`] or [`CLOSING`].
    phase: AtomicU8,
    /// The waker of each connection's task, by connection number.
    wakers: Mutex<HashMap<u64, Waker>>,
    next: AtomicU64,
    /// Connections entered and not yet closed.
    open: AtomicUsize,
    /// Told each time `open` falls to zero.
    all_closed: Notify,
}

/// No drain asked for.
const SERVING: u8 = 0;
/// The grace period: multiplexed (HTTP/2) connections are sent a GOAWAY.
const GRACE: u8 = 1;
/// After the grace period: every connection finishes and closes.
const CLOSING: u8 = 2;

/// How long a connection that has sent no request yet may take to send
/// its first once the drain closes connections. Its client connected and
/// is about to write (one that connected in the last moments of the grace
/// period); a client that only connects (a TCP health check, a browser's
/// preconnect) holds the drain no longer than this.
const FIRST_REQUEST_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(2);

/// A connection counted as open (from its accept, TLS handshake included)
/// until this is dropped.
pub struct Entered {
    shared: Arc<Shared>,
    number: u64,
}

impl Drop for Entered {
    fn drop(&mut self) {
        lock(&self.shared.wakers).remove(&self.number);
        if self.shared.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.all_closed.notify_one();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drain {
    /// Counts a connection as open from now on.
    pub fn enter(&self) -> Entered {
        self.shared.open.fetch_add(1, Ordering::AcqRel);
        Entered {
            shared: self.shared.clone(),
            number: self.shared.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The grace period begins: every HTTP/2 connection, open or opened
    /// from now on, is sent a GOAWAY and closes once its streams are done.
    pub fn begin_grace(&self) {
        self.enter_phase(GRACE);
    }

    /// Asks every connection, open or opened from now on, to finish and
    /// close; completes once all have. Bound it: a client may hold a
    /// response unread.
    pub async fn shutdown(&self) {
        self.enter_phase(CLOSING);
        while self.shared.open.load(Ordering::Acquire) != 0 {
            self.shared.all_closed.notified().await;
        }
    }
}

impl Drain {
    /// Moves to `phase` and wakes every connection to see it.
    fn enter_phase(&self, phase: u8) {
        self.shared.phase.fetch_max(phase, Ordering::SeqCst);
        let wakers: Vec<Waker> = lock(&self.shared.wakers).values().cloned().collect();
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Entered {
    /// `connection`, whose requests `activity` counts, closed gracefully
    /// when the drain asks.
    pub fn watch<C: GracefulConnection>(
        self,
        connection: C,
        activity: Arc<Activity>,
    ) -> Watched<C> {
        Watched {
            connection: Box::pin(connection),
            entered: self,
            activity,
            waker: None,
            closing: false,
            first_request: None,
        }
    }

    fn phase(&self) -> u8 {
        self.shared.phase.load(Ordering::SeqCst)
    }
}

/// A connection that closes gracefully on shutdown; see [`Entered::watch`].
pub struct Watched<C> {
    connection: Pin<Box<C>>,
    entered: Entered,
    activity: Arc<Activity>,
    /// The waker registered for this connection, to compare against.
    waker: Option<Waker>,
    closing: bool,
    /// Set once the drain closes connections while this one has sent no
    /// request: the end of its [`FIRST_REQUEST_ALLOWANCE`].
    first_request: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<C: GracefulConnection> Watched<C> {
    /// Whether the drain has reached the point where this connection closes.
    fn asked_to_close(&self) -> bool {
        match self.entered.phase() {
            SERVING => false,
            GRACE => self.activity.multiplexed(),
            _ => true,
        }
    }
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = C::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = &mut *self;
        if this.closing {
            return this.connection.as_mut().poll(cx);
        }
        if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let waker = cx.waker().clone();
            let number = this.entered.number;
            lock(&this.entered.shared.wakers).insert(number, waker.clone());
            this.waker = Some(waker);
            // A drain that took the wakers before this one was in them
            // moved the phase first: seen below.
        }
        if !this.asked_to_close() {
            return this.connection.as_mut().poll(cx);
        }
        // Read first what has arrived: a request whose bytes are here is
        // then in hand, and answered before the connection closes.
        if let Poll::Ready(ended) = this.connection.as_mut().poll(cx) {
            return Poll::Ready(ended);
        }
        if !this.activity.has_begun() {
            let allowance = this
                .first_request
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(FIRST_REQUEST_ALLOWANCE)));
            if allowance.as_mut().poll(cx).is_pending() {
                // Answered with `Connection: close` if its request comes.
                return Poll::Pending;
            }
        }
        this.closing = true;
        this.connection.as_mut().graceful_shutdown();
        this.connection.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves HTTP/1.1 on `stream` (every answer `ok`), watched by `entered`.
    fn serve_watched(entered: Entered, stream: tokio::net::TcpStream) {
        serve_watched_with(entered, stream, Arc::default());
    }

    /// [`serve_watched`], the connection's requests counted in `activity`.
    fn serve_watched_with(
        entered: Entered,
        stream: tokio::net::TcpStream,
        activity: Arc<Activity>,
    ) {
        let counted = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let _busy = counted.begin(request.version());
            async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                    "ok",
                ))))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(entered.watch(connection, activity));
    }

    /// A keep-alive HTTP/1.1 connection served under `drain`, one request
    /// answered; returns the client's stream, idle.
    async fn idle_connection(drain: &Drain) -> tokio::net::TcpStream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        serve_watched(drain.enter(), stream);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 256];
        let n = client.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
        client
    }

    #[tokio::test]
    async fn a_shutdown_closes_idle_connections_and_waits_for_them() {
        let drain = Drain::default();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(idle_connection(&drain).await);
        }
        tokio::time::timeout(Duration::from_secs(5), drain.shutdown())
            .await
            .expect("every idle connection closed");
        for mut client in clients {
            let mut rest = Vec::new();
            let n = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 0, "closed without another byte");
        }
        assert!(lock(&drain.shared.wakers).is_empty());
    }

    /// A connection entered under `drain` (its handshake, say, still under
    /// way) and a shutdown begun; `serve` then serves the connection's
    /// stream, and this returns the client's end and the shutdown.
    async fn late_connection(
        drain: &Drain,
    ) -> (
        tokio::net::TcpStream,
        impl Future<Output = ()> + '_,
        Arc<Activity>,
    ) {
        let entered = drain.enter();
        let mut shutdown = Box::pin(drain.shutdown());
        let first = std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "waits for the connection being set up");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let activity = Arc::new(Activity::default());
        serve_watched_with(entered, stream, activity.clone());
        (client, shutdown, activity)
    }

    #[tokio::test]
    async fn a_connection_whose_first_request_comes_after_the_shutdown_is_answered() {
        let drain = Drain::default();
        let (mut client, shutdown, _activity) = late_connection(&drain).await;
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), shutdown)
            .await
            .expect("drained once the late connection answered and closed");
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_is_closed_after_the_allowance() {
        let drain = Drain::default();
        let (mut client, shutdown, _activity) = late_connection(&drain).await;
        let started = tokio::time::Instant::now();
        shutdown.await;
        assert!(started.elapsed() >= FIRST_REQUEST_ALLOWANCE);
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
