//! Which path and method go where.
//!
//! | path | methods |
//! | --- | --- |
//! | `/` | GET, HEAD: liveness, `Healthy` |
//! | `/ready` | GET, HEAD: 200 once every model is loaded (and through updates), 503 before |
//! | `/metrics` | GET, HEAD: Prometheus text exposition |
//! | `/score` | POST, GET, OPTIONS: the default model |
//! | `/models/{name}/score` | the same, for a named model |
//! | `/models/{name}/versions/{v}/score` | the same, for that version only |
//! | `/swagger.json` | GET, HEAD: the API document (`?version=2`, `3`, `3.1`) |
//! | `/v2...` | the Open Inference Protocol (see [`crate::v2`]) |
//!
//! With a path prefix (`SERVICE_PATH_PREFIX`), every path is also served under it.

use std::sync::Arc;

use crate::live::{Live, LiveModel};
use crate::repository::Operation;
use crate::response::{self, Body, ErrorShape};
use crate::v2;
use crate::{ApiError, AppState, score, swagger};
use http::request::Parts;
use http::{Method, Response, StatusCode};

const PROBE_METHODS: &str = "GET, HEAD";

/// Where a request goes: answered at once, or scored by a model.
pub enum Routed {
    Answer(Response<Body>),
    Score(Arc<LiveModel>),
    /// A v2 infer request for this model.
    Infer(Arc<LiveModel>),
    /// The v2 repository index, once its body is read.
    Index,
    /// A model load or unload, once the admin key is checked and the body read.
    Repository(Operation),
}

/// The path as routed: without the service's path prefix.
fn local_path<'a>(state: &AppState, parts: &'a Parts) -> &'a str {
    state.local_path(parts.uri.path())
}

/// How errors on the request's route are shaped: the v2 routes' way, or
/// the scoring contract's (everything else).
pub fn error_shape(state: &AppState, parts: &Parts) -> ErrorShape {
    if v2::is_v2_path(local_path(state, parts)) {
        ErrorShape::V2
    } else {
        ErrorShape::Message
    }
}

/// Decides from the request's head alone; the body is the scoring
/// handler's to read. Synchronous, so the connection's future nests no
/// routing state around the scoring one (each level of async nesting
/// copies the level below into itself).
pub fn route(state: &AppState, parts: &Parts) -> Result<Routed, ApiError> {
    let path = local_path(state, parts);
    let answer = |response| Ok(Routed::Answer(response));
    match path {
        "/" => {
            probe_method(&parts.method)?;
            answer(response::text(StatusCode::OK, "Healthy"))
        }
        "/ready" => {
            probe_method(&parts.method)?;
            // Published sets always have a live version of every model:
            // ready from the first publish on, through every update.
            ready(state)?;
            if state.is_draining() {
                return Err(ApiError::Draining);
            }
            answer(response::json(StatusCode::OK, r#"{"status":"ready"}"#))
        }
        "/swagger.json" => swagger::handle(state, parts).map(Routed::Answer),
        "/metrics" => {
            probe_method(&parts.method)?;
            let text = state.telemetry.render(
                state.models().as_ref(),
                &state.budget,
                state.lifecycle().map(|l| l.states()),
            );
            answer(response::metrics(text))
        }
        "/score" => {
            score::check_method(&parts.method)?;
            let model = ready(state)?.default_model().clone();
            Ok(scoring(parts, model))
        }
        path if v2::is_v2_path(path) => v2::route(state, parts, path),
        _ => match path.strip_prefix("/models/").map(model_path) {
            Some(Some((name, version))) => {
                score::check_method(&parts.method)?;
                let model = ready(state)?.find(name, version)?.clone();
                Ok(scoring(parts, model))
            }
            _ => Err(ApiError::RouteNotFound),
        },
    }
}

/// A scoring route: a preflight (`OPTIONS`) is answered here, once the
/// model is known to be served.
fn scoring(parts: &Parts, model: Arc<LiveModel>) -> Routed {
    if parts.method == Method::OPTIONS {
        return Routed::Answer(score::options());
    }
    Routed::Score(model)
}

fn probe_method(method: &Method) -> Result<(), ApiError> {
    match *method {
        Method::GET | Method::HEAD => Ok(()),
        _ => Err(ApiError::MethodNotAllowed {
            allow: PROBE_METHODS,
        }),
    }
}

/// The served set now (no count is touched: the guard lives only while
/// the request is routed).
pub(crate) fn ready(state: &AppState) -> Result<LiveGuard, ApiError> {
    let live = state.live();
    if live.is_none() {
        return Err(ApiError::NotReady);
    }
    Ok(LiveGuard(live))
}

/// A loaded set, for the time a request is routed.
pub(crate) struct LiveGuard(arc_swap::Guard<Option<Arc<Live>>>);

impl std::ops::Deref for LiveGuard {
    type Target = Live;

    fn deref(&self) -> &Live {
        self.0.as_ref().expect("checked by ready")
    }
}

/// `{name}/score` or `{name}/versions/{v}/score`; the version stays text so
/// a bad one is reported as not served rather than as an unknown route.
fn model_path(rest: &str) -> Option<(&str, Option<&str>)> {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [name, "score"] if !name.is_empty() => Some((name, None)),
        [name, "versions", version, "score"] if !name.is_empty() => Some((name, Some(version))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_parse() {
        assert_eq!(model_path("ridge/score"), Some(("ridge", None)));
        assert_eq!(
            model_path("ridge/versions/2/score"),
            Some(("ridge", Some("2")))
        );
        for bad in [
            "",
            "/score",
            "ridge",
            "ridge/score/",
            "ridge/versions/score",
            "a/b/score",
        ] {
            assert_eq!(model_path(bad), None, "{bad:?}");
        }
    }
}
