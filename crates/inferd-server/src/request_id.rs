//! The request-id headers of the contract.
//!
//! - `x-request-id`: the client's, or a fresh UUID; always answered.
//! - `x-ms-request-id`: the client's `x-ms-client-request-id` (or the legacy
//!   `x-ms-request-id` it sent), else the same as `x-request-id`.
//! - `x-ms-client-request-id`: echoed when the client sent one (or the legacy name).
//! - `TraceId`: echoed.
//!
//! Ids longer than 100 characters are refused with 431, as the original does.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::ApiError;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
pub const X_MS_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
pub const TRACE_ID: HeaderName = HeaderName::from_static("traceid");

const MAX_ID_LEN: usize = 100;

/// The ids of one request, decided before routing so that every response,
/// errors included, carries them.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: HeaderValue,
    pub ms_request_id: HeaderValue,
    pub client_request_id: Option<HeaderValue>,
    pub trace_id: Option<HeaderValue>,
}

impl RequestIds {
    pub fn from_headers(headers: &HeaderMap) -> Result<RequestIds, ApiError> {
        // One pass over the request's few headers instead of four hashed
        // lookups of names it seldom has; the first value of each counts.
        let [mut request_id, mut client_id, mut ms_id, mut trace_id] = [None, None, None, None];
        for (name, value) in headers {
            let slot = match name.as_str() {
                "x-request-id" => &mut request_id,
                "x-ms-client-request-id" => &mut client_id,
                "x-ms-request-id" => &mut ms_id,
                "traceid" => &mut trace_id,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let request_id = request_id.cloned();
        if request_id.as_ref().is_some_and(|v| v.len() > MAX_ID_LEN) {
            return Err(ApiError::HeaderTooLarge(
                "x-request-id must not exceed 100 characters",
            ));
        }
        let client_request_id = client_id.or(ms_id).cloned();
        if client_request_id
            .as_ref()
            .is_some_and(|v| v.len() > MAX_ID_LEN)
        {
            return Err(ApiError::HeaderTooLarge(
                "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters",
            ));
        }
        let request_id = request_id.unwrap_or_else(fresh_id);
        Ok(RequestIds {
            ms_request_id: client_request_id
                .clone()
                .unwrap_or_else(|| request_id.clone()),
            request_id,
            client_request_id,
            trace_id: trace_id.cloned(),
        })
    }

    /// Ids for a request whose own headers were refused: fresh ones.
    pub fn fresh() -> RequestIds {
        let request_id = fresh_id();
        RequestIds {
            ms_request_id: request_id.clone(),
            request_id,
            client_request_id: None,
            trace_id: None,
        }
    }

    pub fn write_to(self, headers: &mut HeaderMap) {
        headers.insert(X_REQUEST_ID, self.request_id);
        headers.insert(X_MS_REQUEST_ID, self.ms_request_id);
        write_echoes(self.client_request_id, self.trace_id, headers);
    }
}

/// The ids echoed only when the client sent them.
fn write_echoes(
    client_request_id: Option<HeaderValue>,
    trace_id: Option<HeaderValue>,
    headers: &mut HeaderMap,
) {
    if let Some(id) = client_request_id {
        headers.insert(X_MS_CLIENT_REQUEST_ID, id);
    }
    if let Some(id) = trace_id {
        headers.insert(TRACE_ID, id);
    }
}

/// A random UUID. Its bytes are their own owner: one allocation, shared by
/// reference count with `x-ms-request-id` (a copied `HeaderValue` is
/// promoted to shared storage at its first clone: two).
fn fresh_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text))
        .expect("a UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_client_id_is_echoed() {
        let ids = RequestIds::from_headers(&headers(&[("x-request-id", "my-req-1")])).unwrap();
        assert_eq!(ids.request_id, "my-req-1");
        assert_eq!(ids.ms_request_id, "my-req-1");
        assert!(ids.client_request_id.is_none());
    }

    #[test]
    fn the_client_request_id_becomes_the_ms_request_id() {
        for name in ["x-ms-client-request-id", "x-ms-request-id"] {
            let ids = RequestIds::from_headers(&headers(&[(name, "client-42")])).unwrap();
            assert_eq!(ids.ms_request_id, "client-42");
            assert_eq!(ids.client_request_id.unwrap(), "client-42");
            assert_eq!(ids.request_id.len(), 36, "a fresh UUID");
        }
    }

    #[test]
    fn the_client_id_wins_and_a_repeated_headers_first_value_counts() {
        let mut headers = headers(&[
            ("x-ms-request-id", "ms-1"),
            ("content-type", "application/json"),
            ("x-ms-client-request-id", "client-1"),
            ("traceid", "trace-1"),
        ]);
        headers.append(X_REQUEST_ID, HeaderValue::from_static("first"));
        headers.append(X_REQUEST_ID, HeaderValue::from_static("second"));
        headers.append(TRACE_ID, HeaderValue::from_static("trace-2"));
        let ids = RequestIds::from_headers(&headers).unwrap();
        assert_eq!(ids.request_id, "first");
        assert_eq!(ids.ms_request_id, "client-1");
        assert_eq!(ids.client_request_id.unwrap(), "client-1");
        assert_eq!(ids.trace_id.unwrap(), "trace-1");
        let none = RequestIds::from_headers(&HeaderMap::new()).unwrap();
        assert!(none.client_request_id.is_none() && none.trace_id.is_none());
        assert_eq!(none.ms_request_id, none.request_id);
    }

    #[test]
    fn long_ids_are_refused() {
        let long = "a".repeat(101);
        let err = RequestIds::from_headers(&headers(&[("x-request-id", &long)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x-request-id must not exceed 100 characters"
        );
        let err =
            RequestIds::from_headers(&headers(&[("x-ms-client-request-id", &long)])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x-ms-request-id and x-ms-client-request-id")
        );
        assert!(RequestIds::from_headers(&headers(&[("x-request-id", &"a".repeat(100))])).is_ok());
    }
}
