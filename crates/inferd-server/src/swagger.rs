//! `GET /swagger.json[?version=2|3|3.1]`: the API document, rendered at
//! start; an unknown version is a 404 that lists the known ones.

use http::request::Parts;
use http::{Method, Response, StatusCode};
use inferd_openapi::SpecVersion;

use crate::response::{self, Body};
use crate::{ApiError, AppState};

pub fn handle(state: &AppState, request: &Parts) -> Result<Response<Body>, ApiError> {
    match request.method {
        Method::GET | Method::HEAD => {}
        _ => return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
    }
    let version = SpecVersion::from_query_string(request.uri.query())?;
    let live = crate::routes::ready(state)?;
    Ok(response::json(StatusCode::OK, live.api.document(version)))
}
