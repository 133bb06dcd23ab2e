//! The tower service every connection runs: request ids, then the key
//! check (when auth is on), around the router.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::{Method, Request, Response, header};
use hyper::body::Incoming;

use inferd_auth::Gate;

use crate::access::{self, AccessNote, Arrival};
use crate::request_id::RequestIds;
use crate::response::{self, Body};
use crate::telemetry::RequestId;
use crate::{ApiError, AppState, routes};

/// The whole HTTP application. Cheap to clone: one per connection.
#[derive(Clone)]
pub struct App {
    state: Arc<AppState>,
    gate: Option<Arc<Gate>>,
}

impl App {
    pub fn new(state: Arc<AppState>) -> App {
        App { state, gate: None }
    }

    /// Requires a key on every route the gate does not leave open.
    pub fn with_gate(mut self, gate: Gate) -> App {
        self.gate = Some(Arc::new(gate));
        self
    }

    /// Whether `path` needs `Authorization: Bearer <key>` (for documents
    /// that describe the security scheme, such as `/swagger.json`).
    pub fn auth_required(&self, path: &str) -> bool {
        self.gate.as_ref().is_some_and(|g| g.requires_key(path))
    }

    /// The gate, when auth is on (its open routes, for documents).
    pub fn gate(&self) -> Option<&Gate> {
        self.gate.as_deref()
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Answers one request. Never fails: every error is a response. Takes
    /// the (cheap) app by value, so the future owns all it needs and is
    /// boxed without a wrapper.
    pub async fn handle(self, request: Request<Incoming>) -> Response<Body> {
        let telemetry = &self.state.telemetry;
        let arrival = telemetry.access_log().then(|| Arrival::new(&request));
        // What a scoring handler tells the access line (set only when it is on).
        let mut note = None;
        let (mut response, ids) = self.respond(request, &mut note).await;
        telemetry.responded(response.status());
        if let Some(arrival) = arrival {
            let request_id = ids.request_id.to_str().unwrap_or_default();
            let sink = telemetry.access_sink();
            access::log(arrival, &response, request_id, note.as_ref(), sink);
        }
        ids.write_to(response.headers_mut());
        response
    }

    /// The response, and the ids it is to carry (written by the caller,
    /// once the access line has them).
    async fn respond(
        &self,
        mut request: Request<Incoming>,
        note: &mut Option<AccessNote>,
    ) -> (Response<Body>, RequestIds) {
        let ids = match RequestIds::from_headers(request.headers()) {
            Ok(ids) => ids,
            Err(refused) => return (response::error(&refused), RequestIds::fresh()),
        };
        if let Err(refused) = self.check_key(&request) {
            self.state.telemetry.count_unauthorized(None);
            drain_small_body(request).await;
            return (response::error(&refused), ids);
        }
        if self.state.telemetry.collector().is_some() {
            request
                .extensions_mut()
                .insert(RequestId(ids.request_id.clone()));
        }
        let response = routes::route(&self.state, request, note)
            .await
            .unwrap_or_else(|e| response::error(&e));
        (response, ids)
    }
}

impl App {
    /// CORS preflights pass without a key: browsers never send credentials
    /// with them, and they answer nothing but an empty 200.
    fn check_key<B>(&self, request: &Request<B>) -> Result<(), ApiError> {
        let Some(gate) = &self.gate else {
            return Ok(());
        };
        if request.method() == Method::OPTIONS {
            return Ok(());
        }
        let authorization = request.headers().get(header::AUTHORIZATION);
        gate.check(request.uri().path(), authorization.map(|v| v.as_bytes()))?;
        Ok(())
    }
}

/// Reads (and drops) what a refused client already sent, within a small
/// bound: an HTTP/2 stream answered before its body was read is reset, and
/// some clients (curl) report that reset instead of the 401.
async fn drain_small_body(request: Request<Incoming>) {
    use http_body_util::{BodyExt, Limited};
    const MOST_BYTES: usize = 64 * 1024;
    const MOST_WAIT: std::time::Duration = std::time::Duration::from_millis(200);
    let body = Limited::new(request.into_body(), MOST_BYTES);
    let _ = tokio::time::timeout(MOST_WAIT, body.collect()).await;
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
        // The handler's future (about 4 KB) is made and boxed in one move;
        // an `async move` block around it would copy it once more when
        // first polled.
        let future = AssertUnwindSafe(app.handle(request))
            .catch_unwind()
            .map(|answered| match answered {
                Ok(response) => Ok(response),
                // A bug in a handler must cost one request a 500, not the
                // connection (and every request pipelined on it) a reset.
                Err(_) => {
                    tracing::error!("a request handler panicked; answered 500");
                    let mut response = response::error(&ApiError::Internal);
                    RequestIds::fresh().write_to(response.headers_mut());
                    Ok(response)
                }
            });
        Box::pin(future)
    }
}
