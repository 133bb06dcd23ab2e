//! Closes a connection that has sent no request for a while: a client
//! that connects and never finishes a request head (slowloris), or a
//! keep-alive connection left idle, cannot hold its socket forever.
//!
//! hyper can do this itself (`header_read_timeout`), but it arms a fresh
//! timer for every request on a keep-alive connection, and registering and
//! cancelling it in tokio's timer wheel took ~1,600 instructions a request
//! on the HTTP thread (callgrind, diabetes-ridge), about 5% of serving it.
//! Here each connection has one timer, which fires once per `limit`; a
//! request costs two atomic operations on the connection's own counters.
//!
//! The price is precision: the timer looks back over the whole `limit`
//! when it fires, so an idle connection is closed between `limit` and
//! twice `limit` after its last request ended. A request ends when its
//! response is ready, so a client that reads none of a response for that
//! long loses the connection too. An HTTP/2 connection is left alone once
//! its first request arrives, as hyper left it: closing one without a
//! GOAWAY could fail a request its client sends at that moment.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::Version;

/// One connection's requests, as its service sees them.
#[derive(Debug, Default)]
pub struct Activity {
    /// Requests begun so far.
    began: AtomicU64,
    /// Requests ended so far (or given up: a dropped handler ends too).
    ended: AtomicU64,
    /// An HTTP/2 connection: never closed for idleness.
    multiplexed: AtomicBool,
}

/// Counts one request as being handled while alive.
#[derive(Debug)]
pub struct Busy<'a>(&'a Activity);

impl Activity {
    /// Counts a request of `version` as in hand while the guard lives.
    pub fn begin(&self, version: Version) -> Busy<'_> {
        if version == Version::HTTP_2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        self.began.fetch_add(1, Ordering::Relaxed);
        Busy(self)
    }

    /// Whether a request has come on this connection.
    pub fn has_begun(&self) -> bool {
        self.began.load(Ordering::Relaxed) != 0
    }

    /// Whether a request has come over HTTP/2.
    pub fn multiplexed(&self) -> bool {
        self.multiplexed.load(Ordering::Relaxed)
    }

    /// Nothing in hand, and nothing ended since `ended_before` was read.
    fn idle_since(&self, ended_before: u64) -> bool {
        // `ended` first: a request that begins or ends after this read
        // leaves `began` ahead of it.
        let ended = self.ended.load(Ordering::Relaxed);
        !self.multiplexed.load(Ordering::Relaxed)
            && ended == ended_before
            && self.began.load(Ordering::Relaxed) == ended
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::Relaxed);
    }
}

/// Completes once the connection has been idle (no request in hand, none
/// ended) for a whole `limit`: at the first check that finds it so, one
/// `limit` after the last check (or the connection's start).
pub async fn idle_for(activity: &Activity, limit: Duration) {
    let mut ended = activity.ended.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(limit).await;
        if activity.idle_since(ended) {
            return;
        }
        ended = activity.ended.load(Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_idle_after_the_limit() {
        let activity = Activity::default();
        let started = tokio::time::Instant::now();
        idle_for(&activity, Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_hand_or_ended_within_the_limit_keep_it_open() {
        let activity = Arc::new(Activity::default());
        let started = tokio::time::Instant::now();
        let watch = {
            let activity = activity.clone();
            tokio::spawn(async move { idle_for(&activity, Duration::from_secs(30)).await })
        };
        // A request that takes 50 s: busy through the first check.
        let long = activity.begin(Version::HTTP_11);
        tokio::time::sleep(Duration::from_secs(50)).await;
        drop(long);
        // Ended at 50 s: the check at 60 s sees it; the one at 90 s finds
        // nothing since, and the connection idle.
        watch.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(90));
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_is_never_idle() {
        let activity = Arc::new(Activity::default());
        drop(activity.begin(Version::HTTP_2));
        let watched = tokio::time::timeout(
            Duration::from_secs(3600),
            idle_for(&activity, Duration::from_secs(30)),
        )
        .await;
        assert!(watched.is_err(), "still open after an hour");
    }
}
