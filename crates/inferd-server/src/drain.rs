//! The graceful drain: on shutdown every open connection is asked to
//! finish what it has in hand and close (HTTP/1.1: no more keep-alive;
//! HTTP/2: GOAWAY), and [`Drain::shutdown`] waits until all have closed.
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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::Notify;

/// Every connection of one server, for its drain.
#[derive(Default)]
pub struct Drain {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    requested: AtomicBool,
    /// The waker of each connection's task, by connection number.
    wakers: Mutex<HashMap<u64, Waker>>,
    next: AtomicU64,
    /// Connections entered and not yet closed.
    open: AtomicUsize,
    /// Told each time `open` falls to zero.
    all_closed: Notify,
}

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

    /// Asks every connection, open or opened from now on, to finish and
    /// close; completes once all have. Bound it: a client may hold a
    /// response unread.
    pub async fn shutdown(&self) {
        self.shared.requested.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = lock(&self.shared.wakers).values().cloned().collect();
        for waker in wakers {
            waker.wake();
        }
        while self.shared.open.load(Ordering::Acquire) != 0 {
            self.shared.all_closed.notified().await;
        }
    }
}

impl Entered {
    /// `connection`, closed gracefully once a shutdown is asked for.
    pub fn watch<C: GracefulConnection>(self, connection: C) -> Watched<C> {
        Watched {
            connection: Box::pin(connection),
            entered: self,
            waker: None,
            closing: false,
        }
    }

    fn requested(&self) -> bool {
        self.shared.requested.load(Ordering::SeqCst)
    }
}

/// A connection that closes gracefully on shutdown; see [`Entered::watch`].
pub struct Watched<C> {
    connection: Pin<Box<C>>,
    entered: Entered,
    /// The waker registered for this connection, to compare against.
    waker: Option<Waker>,
    closing: bool,
}

impl<C: GracefulConnection> Watched<C> {
    fn close(&mut self) {
        self.closing = true;
        self.connection.as_mut().graceful_shutdown();
    }
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = C::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = &mut *self;
        if !this.closing {
            if this.entered.requested() {
                this.close();
            } else if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                let waker = cx.waker().clone();
                let number = this.entered.number;
                lock(&this.entered.shared.wakers).insert(number, waker.clone());
                this.waker = Some(waker);
                // A shutdown that took the wakers before this one was in
                // them set the flag first: seen here.
                if this.entered.requested() {
                    this.close();
                }
            }
        }
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
        let service = hyper::service::service_fn(|_request| async {
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(entered.watch(connection));
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

    #[tokio::test]
    async fn a_connection_still_being_set_up_holds_the_drain_and_closes_once_served() {
        let drain = Drain::default();
        let entered = drain.enter();
        let shutdown = drain.shutdown();
        tokio::pin!(shutdown);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut shutdown)
                .await
                .is_err(),
            "waits for the connection in its handshake"
        );
        // Watched only after the shutdown began: it closes at its first poll.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        serve_watched(entered, stream);
        tokio::time::timeout(Duration::from_secs(5), &mut shutdown)
            .await
            .expect("drained once the late connection closed");
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
