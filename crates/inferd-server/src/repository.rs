//! The repository API's model updates: `POST /v2/repository/models/{m}/load`
//! and `.../unload` (the Open Inference Protocol's repository extension,
//! as tritonclient's `load_model` and `unload_model` call it). Always
//! behind the admin key (`App::with_admin_gate`), whatever the scoring
//! routes need. The update runs on a blocking thread (`inferd-lifecycle`:
//! load beside, self-test, swap, drain); the answer comes when the new
//! version is live, or says why it was refused, within [`UPDATE_WAIT`].
//!
//! A load's body is optional: `{"parameters": {"version": "3"}}` (or a
//! number) serves that registered version alone; without one the model
//! serves by its version policy (the latest by default). Triton's other
//! load parameters (`config`, `file:...`) are refused: models come from
//! the registry here.

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use inferd_lifecycle::{Lifecycle, Outcome};
use serde::Serialize;
use serde_json::Value;

use crate::body::read_limited;
use crate::response::{self, Body, ErrorShape};
use crate::{ApiError, AppState};

/// The longest a load's answer waits for the update (reading, optimising
/// and self-testing a large model included); past it the answer is a 504
/// and the update goes on.
pub const UPDATE_WAIT: Duration = Duration::from_secs(600);

/// What the route asks for, with the model's name (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Load(String),
    Unload(String),
}

/// Answers one load or unload (the admin key already checked).
pub async fn handle(
    state: &AppState,
    operation: Operation,
    parts: &Parts,
    body: Incoming,
) -> Response<Body> {
    match run(state, operation, parts, body).await {
        Ok(body) => response::json(StatusCode::OK, body),
        Err(e) => response::error_in(&e, ErrorShape::V2),
    }
}

async fn run(
    state: &AppState,
    operation: Operation,
    parts: &Parts,
    body: Incoming,
) -> Result<Vec<u8>, ApiError> {
    let (bytes, _reservation) =
        read_limited(&parts.headers, body, &state.options, &state.budget).await?;
    let version = match &operation {
        Operation::Load(_) => version_asked(&bytes)?,
        Operation::Unload(_) => {
            parameters(&bytes)?;
            None
        }
    };
    let lifecycle: Arc<Lifecycle> = state.lifecycle().cloned().ok_or(ApiError::UpdatesOff)?;
    let work = operation.clone();
    let update = tokio::task::spawn_blocking(move || match work {
        Operation::Load(name) => lifecycle.load(&name, version),
        Operation::Unload(name) => lifecycle.unload(&name),
    });
    let outcome = match tokio::time::timeout(UPDATE_WAIT, update).await {
        Err(_) => return Err(ApiError::UpdateTimeout(UPDATE_WAIT)),
        Ok(Err(join)) => {
            tracing::error!(error = %join, "the model update's thread failed");
            return Err(ApiError::Internal);
        }
        Ok(Ok(result)) => result?,
    };
    Ok(report(&outcome))
}

/// The body's `parameters` object (none: an empty body or object); the
/// error names what is wrong.
fn parameters(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bad = |why: &str| ApiError::RepositoryRequest(why.to_owned());
    if bytes.trim_ascii().is_empty() {
        return Ok(serde_json::Map::new());
    }
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::RepositoryRequest(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut body) = body else {
        return Err(bad("the body is not a JSON object"));
    };
    match body.remove("parameters") {
        None => Ok(serde_json::Map::new()),
        Some(Value::Object(parameters)) => Ok(parameters),
        Some(_) => Err(bad("'parameters' is not an object")),
    }
}

/// The version a load's body asks for, if any.
fn version_asked(bytes: &[u8]) -> Result<Option<u32>, ApiError> {
    let mut parameters = parameters(bytes)?;
    if let Some(other) = parameters.keys().find(|k| *k != "version") {
        return Err(ApiError::RepositoryRequest(format!(
            "parameter '{other}' is not taken: models come from the registry; give 'version' (a registered version) or nothing"
        )));
    }
    let version = match parameters.remove("version") {
        None => return Ok(None),
        Some(Value::String(text)) => text.parse::<u32>().ok(),
        Some(Value::Number(number)) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(_) => None,
    };
    match version {
        Some(v) if v >= 1 => Ok(Some(v)),
        _ => Err(ApiError::RepositoryRequest(
            "'version' is not a version number (1 or more)".into(),
        )),
    }
}

/// What the update did, as the answer's JSON.
fn report(outcome: &Outcome) -> Vec<u8> {
    #[derive(Serialize)]
    struct Version<'a> {
        name: &'a str,
        version: String,
    }
    #[derive(Serialize)]
    struct Report<'a> {
        live: Vec<Version<'a>>,
        retired: Vec<Version<'a>>,
    }
    fn list(versions: &[(String, u32)]) -> Vec<Version<'_>> {
        versions
            .iter()
            .map(|(name, version)| Version {
                name,
                version: version.to_string(),
            })
            .collect()
    }
    serde_json::to_vec(&Report {
        live: list(&outcome.live),
        retired: list(&outcome.retired),
    })
    .expect("plain data serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_body_names_a_version_or_nothing() {
        assert_eq!(version_asked(b"").unwrap(), None);
        assert_eq!(version_asked(b"{}").unwrap(), None);
        assert_eq!(
            version_asked(br#"{"parameters":{"version":"3"}}"#).unwrap(),
            Some(3)
        );
        assert_eq!(
            version_asked(br#"{"parameters":{"version":2}}"#).unwrap(),
            Some(2)
        );
        for (bad, says) in [
            (&br#"{"parameters":{"version":"x"}}"#[..], "version number"),
            (br#"{"parameters":{"version":0}}"#, "version number"),
            (
                br#"{"parameters":{"config":"{}"}}"#,
                "'config' is not taken",
            ),
            (br#"{"parameters":[]}"#, "not an object"),
            (b"[1]", "not a JSON object"),
            (b"{", "not JSON"),
        ] {
            let error = version_asked(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
