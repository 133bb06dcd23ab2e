//! The Open Inference Protocol (KServe v2, REST) on the served models: the
//! `/v2` routes. One door, [`route`], called by the router for every path
//! under `/v2`; the codec is `inferd-v2`'s, and an infer request is scored
//! by the same model, admission, budget and batching as `/score` (see
//! `infer`).
//!
//! | path | methods |
//! | --- | --- |
//! | `/v2` | GET, HEAD: server metadata |
//! | `/v2/health/live`, `/v2/health/ready` | GET, HEAD: 200, or 503 until ready |
//! | `/v2/models/stats` | GET: every model's statistics |
//! | `/v2/models/{m}[/versions/{v}]` | GET, HEAD: model metadata |
//! | `.../ready` | GET, HEAD: 200 once served |
//! | `.../config` | GET, HEAD: the model configuration |
//! | `.../stats` | GET, HEAD: the model's statistics |
//! | `.../infer` | POST: scores |
//! | `/v2/repository/index` | POST: every version: served (`READY`), loading, draining or failed (with why) |
//! | `/v2/repository/models/{m}/load`, `.../unload` | POST: model updates (see [`crate::repository`]) |
//!
//! Errors on these routes are `{"error": "..."}` (see
//! [`crate::response::ErrorShape`]), with the statuses of [`ApiError`].

mod catalog;
mod compression;
pub mod infer;
mod stats;

use http::request::Parts;
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

pub use catalog::{Entry, platform_of};

use crate::body::read_limited;
use crate::live::LiveModel;
use crate::repository::Operation;
use crate::response::{self, Body, ErrorShape};
use crate::routes::{Routed, ready};
use crate::{ApiError, AppState};

const READ_METHODS: &str = "GET, HEAD";
const POST_METHOD: &str = "POST";

/// The extensions [`route`] serves, as `GET /v2` lists them.
pub const EXTENSIONS: &[&str] = &["binary_tensor_data", "model_configuration", "statistics"];

/// Whether `path` (without the service's prefix) is one of the protocol's.
pub fn is_v2_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// Routes a `/v2` request from its head (see the module's table).
pub fn route(state: &AppState, parts: &Parts, path: &str) -> Result<Routed, ApiError> {
    let answer = |response| Ok(Routed::Answer(response));
    let rest = path.strip_prefix("/v2").unwrap_or(path);
    match rest {
        "" | "/" => {
            read_method(&parts.method)?;
            let body = inferd_v2::server_metadata("inferd", env!("CARGO_PKG_VERSION"), EXTENSIONS);
            answer(response::json(StatusCode::OK, body))
        }
        "/health/live" => {
            read_method(&parts.method)?;
            answer(response::empty(StatusCode::OK))
        }
        "/health/ready" => {
            read_method(&parts.method)?;
            ready(state)?;
            if state.is_draining() {
                return Err(ApiError::Draining);
            }
            answer(response::empty(StatusCode::OK))
        }
        "/repository/index" => {
            method(&parts.method, &Method::POST, POST_METHOD)?;
            ready(state)?;
            Ok(Routed::Index)
        }
        "/models/stats" => {
            read_method(&parts.method)?;
            let live = ready(state)?;
            answer(response::json(
                StatusCode::OK,
                stats::document(live.versions()),
            ))
        }
        _ => {
            if let Some(operation) = rest.strip_prefix("/repository/models/") {
                method(&parts.method, &Method::POST, POST_METHOD)?;
                let (name, action) = operation.rsplit_once('/').ok_or(ApiError::RouteNotFound)?;
                let name = percent_decode(name)?;
                return match action {
                    "load" if !name.is_empty() => Ok(Routed::Repository(Operation::Load(name))),
                    "unload" if !name.is_empty() => Ok(Routed::Repository(Operation::Unload(name))),
                    _ => Err(ApiError::RouteNotFound),
                };
            }
            match rest.strip_prefix("/models/").and_then(model_path) {
                Some(path) => model_route(state, parts, &path),
                None => Err(ApiError::RouteNotFound),
            }
        }
    }
}

/// A route under `/v2/models/{m}[/versions/{v}]`.
fn model_route(state: &AppState, parts: &Parts, path: &ModelPath<'_>) -> Result<Routed, ApiError> {
    let name = percent_decode(path.name)?;
    let version = path.version.map(percent_decode).transpose()?;
    let live = ready(state)?;
    let entry = live.find(&name, version.as_deref())?;
    let answer = |response| Ok(Routed::Answer(response));
    match path.action {
        Action::Metadata => {
            read_method(&parts.method)?;
            answer(response::json(StatusCode::OK, metadata(state, entry)))
        }
        Action::Ready => {
            read_method(&parts.method)?;
            answer(response::empty(StatusCode::OK))
        }
        Action::Config => {
            read_method(&parts.method)?;
            answer(response::json(StatusCode::OK, entry.v2.config()?))
        }
        Action::Stats => {
            read_method(&parts.method)?;
            let body = stats::document(std::slice::from_ref(entry));
            answer(response::json(StatusCode::OK, body))
        }
        Action::Infer => {
            method(&parts.method, &Method::POST, POST_METHOD)?;
            Ok(Routed::Infer(entry.clone()))
        }
    }
}

/// `POST /v2/repository/index`: the body, when there is one, is an object
/// whose `ready` (if given) is a boolean: `true` lists the served versions
/// only, else every version the server knows (loading, draining, failed
/// with why).
pub async fn repository_index(state: &AppState, parts: &Parts, body: Incoming) -> Response<Body> {
    let answer = async {
        let (bytes, _reservation) =
            read_limited(&parts.headers, body, &state.options, &state.budget).await?;
        if !bytes.trim_ascii().is_empty() {
            let request: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::IndexRequest(e.to_string()))?;
            let Some(fields) = request.as_object() else {
                return Err(ApiError::IndexRequest(
                    "the body is not a JSON object".into(),
                ));
            };
            match fields.get("ready") {
                Some(serde_json::Value::Bool(ready)) => {
                    return Ok(index(state, *ready));
                }
                Some(_) => {
                    return Err(ApiError::IndexRequest("'ready' is not a boolean".into()));
                }
                None => {}
            }
        }
        Ok(index(state, false))
    };
    match answer.await {
        Ok(index) => response::json(StatusCode::OK, index),
        Err(e) => response::error_in(&e, ErrorShape::V2),
    }
}

/// One line of the repository index (Triton's states: `READY`,
/// `LOADING`, `UNLOADING`, `UNAVAILABLE`).
#[derive(Serialize)]
struct Indexed {
    name: String,
    version: String,
    state: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
}

/// The repository index: the served versions, `READY`; unless `ready_only`,
/// also those loading, draining or refused (with why).
fn index(state: &AppState, ready_only: bool) -> Vec<u8> {
    let mut index: Vec<Indexed> = state.live().as_ref().map_or_else(Vec::new, |live| {
        live.versions()
            .iter()
            .map(|v| Indexed {
                name: v.served.name.clone(),
                version: v.served.version.to_string(),
                state: "READY",
                reason: String::new(),
            })
            .collect()
    });
    if !ready_only && let Some(lifecycle) = state.lifecycle() {
        for known in lifecycle.states().all() {
            let state = match known.state {
                inferd_lifecycle::State::Live => continue,
                inferd_lifecycle::State::Loading | inferd_lifecycle::State::SelfTesting => {
                    "LOADING"
                }
                inferd_lifecycle::State::Draining => "UNLOADING",
                inferd_lifecycle::State::Failed => "UNAVAILABLE",
            };
            index.push(Indexed {
                name: known.name,
                version: known.version.to_string(),
                state,
                reason: known
                    .reason
                    .unwrap_or_else(|| known.state.as_str().to_owned()),
            });
        }
    }
    serde_json::to_vec(&index).expect("plain data serialises")
}

/// A version's metadata document; with model updates on, it also says
/// each known version's state (`inferd_states`: live, loading,
/// self_testing, draining, failed with why), after the protocol's fields.
fn metadata(state: &AppState, model: &LiveModel) -> bytes::Bytes {
    let document = model.v2.metadata(model.schema.media.as_deref());
    let Some(lifecycle) = state.lifecycle() else {
        return document;
    };
    #[derive(Serialize)]
    struct Known {
        version: String,
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    }
    let known: Vec<Known> = lifecycle
        .states()
        .of(&model.served.name)
        .into_iter()
        .map(|s| Known {
            version: s.version.to_string(),
            state: s.state.as_str(),
            reason: s.reason,
        })
        .collect();
    let Some(open) = document.strip_suffix(b"}") else {
        return document;
    };
    let mut out = Vec::with_capacity(document.len() + 64 * known.len());
    out.extend_from_slice(open);
    out.extend_from_slice(b",\"inferd_states\":");
    out.extend_from_slice(&serde_json::to_vec(&known).expect("plain data serialises"));
    out.push(b'}');
    out.into()
}

fn read_method(method: &Method) -> Result<(), ApiError> {
    match *method {
        Method::GET | Method::HEAD => Ok(()),
        _ => Err(ApiError::MethodNotAllowed {
            allow: READ_METHODS,
        }),
    }
}

fn method(method: &Method, only: &Method, allow: &'static str) -> Result<(), ApiError> {
    if method == only {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// What a model route asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Metadata,
    Ready,
    Config,
    Stats,
    Infer,
}

#[derive(Debug, PartialEq, Eq)]
struct ModelPath<'a> {
    name: &'a str,
    version: Option<&'a str>,
    action: Action,
}

/// `{m}`, `{m}/{action}`, `{m}/versions/{v}` or `{m}/versions/{v}/{action}`,
/// still percent-encoded.
fn model_path(rest: &str) -> Option<ModelPath<'_>> {
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, version, action) = match parts.as_slice() {
        [name] => (*name, None, None),
        [name, action] => (*name, None, Some(*action)),
        [name, "versions", version] => (*name, Some(*version), None),
        [name, "versions", version, action] => (*name, Some(*version), Some(*action)),
        _ => return None,
    };
    if name.is_empty() || version.is_some_and(str::is_empty) {
        return None;
    }
    let action = match action {
        None => Action::Metadata,
        Some("ready") => Action::Ready,
        Some("config") => Action::Config,
        Some("stats") => Action::Stats,
        Some("infer") => Action::Infer,
        Some(_) => return None,
    };
    Some(ModelPath {
        name,
        version,
        action,
    })
}

/// `%XX` escapes decoded (a model named `my model` is asked for as
/// `my%20model`); a bad escape or bytes that are not UTF-8 name no model.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bad = || ApiError::BadModelName(text.to_owned());
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_parse() {
        let path = |name, version, action| {
            Some(ModelPath {
                name,
                version,
                action,
            })
        };
        assert_eq!(model_path("ridge"), path("ridge", None, Action::Metadata));
        assert_eq!(
            model_path("ridge/infer"),
            path("ridge", None, Action::Infer)
        );
        assert_eq!(
            model_path("ridge/versions/2"),
            path("ridge", Some("2"), Action::Metadata)
        );
        assert_eq!(
            model_path("ridge/versions/2/config"),
            path("ridge", Some("2"), Action::Config)
        );
        assert_eq!(
            model_path("a%20b/ready"),
            path("a%20b", None, Action::Ready)
        );
        for bad in [
            "",
            "/infer",
            "ridge/",
            "ridge/score",
            "ridge/versions//infer",
            "ridge/versions/2/infer/x",
            "ridge/x/2/infer",
        ] {
            assert_eq!(model_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_are_percent_decoded() {
        assert_eq!(percent_decode("ridge").unwrap(), "ridge");
        assert_eq!(percent_decode("my%20model").unwrap(), "my model");
        assert_eq!(percent_decode("%C3%A9t%C3%A9").unwrap(), "été");
        for bad in ["%", "%2", "%zz", "%FF", "a%2"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn v2_paths_are_told_apart() {
        assert!(is_v2_path("/v2"));
        assert!(is_v2_path("/v2/models/x/infer"));
        assert!(!is_v2_path("/v20"));
        assert!(!is_v2_path("/score"));
    }
}
