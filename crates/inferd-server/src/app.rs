//! The tower service every connection runs: request ids around the router.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::{Request, Response};
use hyper::body::Incoming;

use crate::access::{self, Arrival};
use crate::request_id::RequestIds;
use crate::response::{self, Body};
use crate::telemetry::RequestId;
use crate::{ApiError, AppState, routes};

/// The whole HTTP application. Cheap to clone: one per connection.
#[derive(Clone)]
pub struct App {
    state: Arc<AppState>,
}

impl App {
    pub fn new(state: Arc<AppState>) -> App {
        App { state }
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Answers one request. Never fails: every error is a response.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let telemetry = &self.state.telemetry;
        let arrival = telemetry.access_log().then(|| Arrival::new(&request));
        let response = self.respond(request).await;
        telemetry.responded(response.status());
        if let Some(arrival) = arrival {
            access::log(arrival, &response);
        }
        response
    }

    async fn respond(&self, mut request: Request<Incoming>) -> Response<Body> {
        let ids = match RequestIds::from_headers(request.headers()) {
            Ok(ids) => ids,
            Err(refused) => {
                let mut response = response::error(&refused);
                RequestIds::fresh().write_to(response.headers_mut());
                return response;
            }
        };
        if self.state.telemetry.collector().is_some() {
            request
                .extensions_mut()
                .insert(RequestId(ids.request_id.clone()));
        }
        let mut response = routes::route(&self.state, request)
            .await
            .unwrap_or_else(|e| response::error(&e));
        ids.write_to(response.headers_mut());
        response
    }
}

impl tower::Service<Request<Incoming>> for App {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let app = self.clone();
        Box::pin(async move {
            // A bug in a handler must cost one request a 500, not the
            // connection (and every request pipelined on it) a reset.
            match AssertUnwindSafe(app.handle(request)).catch_unwind().await {
                Ok(response) => Ok(response),
                Err(_) => {
                    tracing::error!("a request handler panicked; answered 500");
                    let mut response = response::error(&ApiError::Internal);
                    RequestIds::fresh().write_to(response.headers_mut());
                    Ok(response)
                }
            }
        })
    }
}
