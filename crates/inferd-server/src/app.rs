//! The tower service every connection runs: request ids, then the key
//! check (when auth is on), around the router; the repository API's
//! admin key check.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, Version, header};
use hyper::body::Incoming;

use inferd_auth::Gate;
use inferd_metrics::Protocol;

use crate::answered::Answered;
use crate::idle::Activity;
use crate::record::RequestRecord;
use crate::repository::{self, Operation};
use crate::request_id::RequestIds;
use crate::response::{self, Body};
use crate::routes::{self, Routed};
use crate::{ApiError, AppState, LiveModel};
use crate::{score, v2};

/// The whole HTTP application. Cheap to clone: one per connection.
#[derive(Clone)]
pub struct App {
    state: Arc<AppState>,
    gate: Option<Arc<Gate>>,
    /// The repository API's keys (model load and unload); none: refused.
    admin: Option<Arc<Gate>>,
    /// The connection's, when it has one (see [`App::for_connection`]).
    activity: Option<Arc<Activity>>,
}

impl App {
    pub fn new(state: Arc<AppState>) -> App {
        App {
            state,
            gate: None,
            admin: None,
            activity: None,
        }
    }

    /// The app for one connection: counts its requests in `activity`, for
    /// closing it once idle (see [`crate::idle`]).
    pub fn for_connection(&self, activity: Arc<Activity>) -> App {
        App {
            activity: Some(activity),
            ..self.clone()
        }
    }

    /// Requires a key on every route the gate does not leave open.
    pub fn with_gate(mut self, gate: Gate) -> App {
        self.gate = Some(Arc::new(gate));
        self
    }

    /// Requires a key of `admin` on the repository API's model load and
    /// unload, whether or not scoring needs one; its open routes are
    /// ignored. Without it those routes answer 403.
    pub fn with_admin_gate(mut self, admin: Gate) -> App {
        self.admin = Some(Arc::new(admin));
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
    /// boxed without a wrapper. The scoring future is the only one nested
    /// in it: each level of nesting copies the level below into itself.
    ///
    /// An async block rather than an async fn: an async fn's future keeps
    /// its arguments twice (as passed, and moved into its body), and a
    /// request's head is 224 bytes.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would keep its arguments twice"
    )]
    pub fn handle(
        self,
        head: Parts,
        body: Incoming,
    ) -> impl Future<Output = Response<Body>> + Send {
        async move {
            // In hand for the connection's idle check until this future ends.
            let _busy = self.activity.as_deref().map(|a| a.begin(head.version));
            let state = &*self.state;
            let mut record = RequestRecord::arrive(&state.telemetry, &head, &body);
            let (next, ids) = self.admit(&head);
            let mut response = match next {
                Next::Answer(response) => *response,
                Next::Refuse(response) => {
                    drain_small_body(body).await;
                    *response
                }
                Next::Score(model) => {
                    // One of the model's callers until answered: the
                    // batcher and the lone-caller polls read the count.
                    let _caller = model.served.arrive(record.arrived());
                    record.score_with(&model, Protocol::Score);
                    let result =
                        score::score(state, &model, &head, body, &ids.request_id, &mut record)
                            .await;
                    record.scoring_ended(&result);
                    with_version(score::respond(result), &model)
                }
                Next::Index => v2::repository_index(state, &head, body).await,
                Next::Repository(operation) => {
                    repository::handle(state, operation, &head, body).await
                }
                Next::Infer(model) => {
                    let _caller = model.served.arrive(record.arrived());
                    record.score_with(&model, Protocol::V2);
                    let result =
                        v2::infer::infer(state, &model, &head, body, &ids.request_id, &mut record)
                            .await;
                    record.scoring_ended(&result);
                    with_version(v2::infer::respond(result), &model)
                }
            };
            let moved = record.bytes_moved(&response);
            record.finish(&response, ids.request_id.as_bytes());
            state.request_done(moved);
            ids.write_to(response.headers_mut());
            if state.is_draining() && head.version < Version::HTTP_2 {
                // The grace period: this client is to open its next
                // connection elsewhere (see `crate::drain`).
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }

    /// What to do with a request, from its head, and the ids its response
    /// is to carry (written by the caller).
    fn admit(&self, head: &Parts) -> (Next, RequestIds) {
        let shape = routes::error_shape(&self.state, head);
        let error = |e: &ApiError| response::error_in(e, shape);
        let ids = match RequestIds::from_headers(&head.headers) {
            Ok(ids) => ids,
            Err(refused) => return (Next::answer(error(&refused)), RequestIds::fresh()),
        };
        if head.version == Version::HTTP_11 && !has_one_host(head) {
            return (Next::answer(error(&ApiError::HostRequired)), ids);
        }
        if let Err(refused) = self.check_key(head) {
            self.state.telemetry.count_unauthorized(None);
            return (Next::Refuse(Box::new(error(&refused))), ids);
        }
        let next = match routes::route(&self.state, head) {
            Ok(Routed::Answer(response)) => Next::answer(response),
            Ok(Routed::Score(model)) => Next::Score(model),
            Ok(Routed::Infer(model)) => Next::Infer(model),
            Ok(Routed::Index) => Next::Index,
            // Model updates need the admin key, whatever the scoring routes need.
            Ok(Routed::Repository(operation)) => match self.check_admin_key(head) {
                Ok(()) => Next::Repository(operation),
                Err(refused) => Next::Refuse(Box::new(error(&refused))),
            },
            Err(e) => Next::answer(error(&e)),
        };
        (next, ids)
    }
}

/// What [`App::admit`] decided. Responses are boxed: this is kept in the
/// request's future, which a scored request (no box) copies whole.
enum Next {
    Answer(Box<Response<Body>>),
    /// Answered once what the client already sent is read (see
    /// [`drain_small_body`]).
    Refuse(Box<Response<Body>>),
    Score(Arc<LiveModel>),
    Infer(Arc<LiveModel>),
    Index,
    Repository(Operation),
}

impl Next {
    fn answer(response: Response<Body>) -> Next {
        Next::Answer(Box::new(response))
    }
}

impl App {
    /// The repository API's check: a key of the admin gate always (open
    /// routes do not open it); with no admin keys, the API is refused.
    fn check_admin_key(&self, head: &Parts) -> Result<(), ApiError> {
        let Some(admin) = &self.admin else {
            return Err(ApiError::AdminOff);
        };
        let authorization = head.headers.get(header::AUTHORIZATION);
        admin.check(head.uri.path(), authorization.map(|v| v.as_bytes()))?;
        Ok(())
    }

    /// CORS preflights pass without a key: browsers never send credentials
    /// with them, and they answer nothing but an empty 200.
    fn check_key(&self, head: &Parts) -> Result<(), ApiError> {
        let Some(gate) = &self.gate else {
            return Ok(());
        };
        if head.method == Method::OPTIONS {
            return Ok(());
        }
        let authorization = head.headers.get(header::AUTHORIZATION);
        gate.check(head.uri.path(), authorization.map(|v| v.as_bytes()))?;
        Ok(())
    }
}

/// The served version that answered, in `x-ms-model-version` (on errors
/// too: a refusal says which version refused), so a client sees an
/// update take effect and a canary's share.
fn with_version(mut response: Response<Body>, model: &LiveModel) -> Response<Body> {
    response
        .headers_mut()
        .insert(MODEL_VERSION, HeaderValue::from(model.served.version));
    response
}

/// The header [`with_version`] writes.
pub const MODEL_VERSION: http::HeaderName = http::HeaderName::from_static("x-ms-model-version");

/// Whether the request names exactly one host: RFC 9112 requires it of
/// HTTP/1.1 (HTTP/2 names it in `:authority`, HTTP/1.0 may not name it).
fn has_one_host(head: &Parts) -> bool {
    let mut hosts = head.headers.get_all(header::HOST).iter();
    hosts.next().is_some() && hosts.next().is_none()
}

/// Reads (and drops) what a refused client already sent, within a small
/// bound: an HTTP/2 stream answered before its body was read is reset, and
/// some clients (curl) report that reset instead of the 401.
async fn drain_small_body(body: Incoming) {
    use http_body_util::{BodyExt, Limited};
    const MOST_BYTES: usize = 64 * 1024;
    const MOST_WAIT: std::time::Duration = std::time::Duration::from_millis(200);
    let body = Limited::new(body, MOST_BYTES);
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
        // The handler's future (kilobytes, most of it space for later
        // states) is written straight into its allocation: `Box::pin(x)`
        // makes `x` first and then copies all of it.
        let (head, body) = request.into_parts();
        let boxed = Box::write(Box::new_uninit(), Answered::new(app.handle(head, body)));
        Box::into_pin(boxed)
    }
}
