//! The headers of a scored answer, copied from one template made at first
//! use: the content type, the contract's `x-ms-run-*` pair and the request
//! ids, the slots that differ per answer then filled by position.
//!
//! Inserting a header hashes its name and probes the map: the five
//! inserts took ~1,300 instructions of a small request's ~18,400 on the
//! HTTP thread, the copy and the fill take ~700 (callgrind,
//! benches/RESULTS.md). A copied map keeps the template's hashes and order.

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::request_id::{self, RequestIds, X_MS_REQUEST_ID, X_REQUEST_ID};

const RUN_FN_EXEC_MS: HeaderName = HeaderName::from_static("x-ms-run-fn-exec-ms");
pub const RUN_FUNCTION_FAILED: HeaderName = HeaderName::from_static("x-ms-run-function-failed");

/// The template's headers in its order; the slots' values are placeholders.
static SLOTS: [(HeaderName, &str); 5] = [
    (header::CONTENT_TYPE, "application/json"),
    (RUN_FN_EXEC_MS, "0"),
    (RUN_FUNCTION_FAILED, "False"),
    (X_REQUEST_ID, "-"),
    (X_MS_REQUEST_ID, "-"),
];

static TEMPLATE: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::with_capacity(SLOTS.len());
    for (name, value) in &SLOTS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    headers
});

/// The headers of a JSON answer that scored (so `x-ms-run-function-failed:
/// False`), its run taking `run_fn_exec_ms`, with `ids` (the same headers
/// as [`RequestIds::write_to`] writes).
pub fn scored(run_fn_exec_ms: HeaderValue, ids: RequestIds) -> HeaderMap {
    let RequestIds {
        request_id,
        ms_request_id,
        client_request_id,
        trace_id,
    } = ids;
    // Slot by slot, in the template's order (a copied map iterates in it).
    let mut values = [
        None,
        Some(run_fn_exec_ms),
        None,
        Some(request_id),
        Some(ms_request_id),
    ];
    let mut headers = TEMPLATE.clone();
    let slots = headers.iter_mut().zip(&SLOTS);
    for (((name, slot), (expected, _)), value) in slots.zip(&mut values) {
        debug_assert_eq!(name, expected);
        if let Some(value) = value.take() {
            *slot = value;
        }
    }
    request_id::write_echoes(client_request_id, trace_id, &mut headers);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers as inserted one by one (the error path's way).
    fn inserted(exec_ms: &'static str, ids: RequestIds) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(RUN_FN_EXEC_MS, HeaderValue::from_static(exec_ms));
        headers.insert(RUN_FUNCTION_FAILED, HeaderValue::from_static("False"));
        ids.write_to(&mut headers);
        headers
    }

    fn sorted(headers: &HeaderMap) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn the_template_gives_what_inserting_gives() {
        let fresh = RequestIds::fresh();
        let echoed = RequestIds {
            request_id: HeaderValue::from_static("req-1"),
            ms_request_id: HeaderValue::from_static("client-1"),
            client_request_id: Some(HeaderValue::from_static("client-1")),
            trace_id: Some(HeaderValue::from_static("trace-1")),
        };
        for ids in [fresh, echoed] {
            let scored = scored(HeaderValue::from_static("1.25"), ids.clone());
            assert_eq!(sorted(&scored), sorted(&inserted("1.25", ids.clone())));
            assert_eq!(scored[&X_REQUEST_ID], ids.request_id);
            assert_eq!(scored[&X_MS_REQUEST_ID], ids.ms_request_id);
            assert_eq!(scored[&RUN_FN_EXEC_MS], "1.25");
            // One value a name: the slots were filled, not appended to.
            assert_eq!(scored.len(), scored.keys_len());
        }
        // The template itself is untouched by what was filled in.
        assert_eq!(TEMPLATE[&RUN_FN_EXEC_MS], "0");
        assert_eq!(TEMPLATE[&X_REQUEST_ID], "-");
    }
}
