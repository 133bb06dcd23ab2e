//! The future a connection awaits for one request: the handler's, polled
//! where it lies, with a panic inside it answered as a 500.
//!
//! A bug in a handler must cost one request a 500, not the connection (and
//! every request pipelined on it) a reset. `FutureExt::catch_unwind().map()`
//! did the same, but `Map` moves its whole state out when the inner future
//! completes: the handler's future is kilobytes, and that copy was one of
//! the larger costs of a small request on the HTTP thread.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use crate::ApiError;
use crate::request_id::RequestIds;
use crate::response::{self, Body};

pin_project_lite::pin_project! {
    /// `handler`'s response, or a 500 when it panics.
    pub struct Answered<F> {
        #[pin]
        handler: F,
    }
}

impl<F> Answered<F> {
    pub fn new(handler: F) -> Answered<F> {
        Answered { handler }
    }
}

impl<F: Future<Output = Response<Body>>> Future for Answered<F> {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handler = self.project().handler;
        match catch_unwind(AssertUnwindSafe(|| handler.poll(cx))) {
            Ok(polled) => polled.map(Ok),
            // hyper never polls a future again once it is ready, so the
            // panicked handler is not touched after this.
            Err(_) => {
                tracing::error!("a request handler panicked; answered 500");
                let mut response = response::error(&ApiError::Internal);
                RequestIds::fresh().write_to(response.headers_mut());
                Poll::Ready(Ok(response))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn answer<F: Future<Output = Response<Body>>>(handler: F) -> Response<Body> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        match runtime.block_on(Answered::new(handler)) {
            Ok(response) => response,
        }
    }

    #[test]
    fn a_handler_that_answers_is_passed_through() {
        let response = answer(async { response::text(StatusCode::OK, "Healthy") });
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn a_handler_that_panics_is_answered_500_with_a_request_id() {
        let response = answer(async {
            tokio::task::yield_now().await;
            panic!("a bug in a handler");
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("x-request-id"));
    }
}
