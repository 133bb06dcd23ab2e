//! Sorting a failed ONNX Runtime run: the request's values refused
//! ([`BackendError::Input`], the client's to fix) or the engine failing
//! ([`BackendError::Run`], a server failure).
//!
//! A model that loaded runs with fixed weights, so when one of its nodes
//! checks the values reaching it and refuses them (an index past its
//! table, a shape it cannot reshape or broadcast), the only thing that
//! varied is the request. Such refusals are recognised by ONNX Runtime's
//! `INVALID_ARGUMENT` code on a node's status, or by the few checks whose
//! text says so while the code is a plain failure (ONNX Runtime raises
//! those as exceptions: Reshape, GatherElements, broadcasting). Anything
//! else, a failure outside any node included, is the engine's.
//!
//! ONNX Runtime's text never reaches the client: it carries source paths
//! and C++ signatures. The reason is written here from the numbers and the
//! operator type read out of it. A failure keeps the whole text, for the
//! log; a refusal's text is dropped, since it quotes the request's values
//! and the log never holds a request's body.

use inferd_backend::BackendError;
use ort::error::ErrorCode;

/// The error for a run that failed with `code` and `message`, on a model
/// whose inputs are `inputs`.
pub(crate) fn run_error(code: ErrorCode, message: &str, inputs: &[String]) -> BackendError {
    match refusal(code, message) {
        // ONNX Runtime names the node, not the graph input the values came
        // through: a one-input model's is that input, else any of them.
        Some(reason) => BackendError::Input {
            inputs: inputs.to_vec(),
            reason,
        },
        None => BackendError::Run(format!("ONNX Runtime: {message}")),
    }
}

/// The reason, in the model's terms, when `message` is a node refusing the
/// values that reached it.
fn refusal(code: ErrorCode, message: &str) -> Option<String> {
    // "Non-zero status code returned while running Gather node. Name:'' Status Message: ..."
    let op = between(message, "while running ", " node")
        .filter(|op| !op.is_empty() && op.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))?;
    let node = format!("{} {op} node", article(op));
    let at = format!("at {node}");
    let status = message.split_once("Status Message:").map_or("", |(_, s)| s);
    // Gather: "indices element out of data bounds, idx=7 must be within the inclusive range [-4,3]"
    if let (Some(index), Some(range)) = (
        between(status, "idx=", " "),
        between(status, "inclusive range [", "]"),
    ) && let (Ok(index), Some((low, high))) = (index.parse::<i64>(), range.split_once(','))
        && let (Ok(low), Ok(high)) = (low.trim().parse::<i64>(), high.trim().parse::<i64>())
    {
        return Some(format!(
            "index {index} is out of the range the model accepts, {low} to {high} ({at})"
        ));
    }
    // Reshape: "The input tensor cannot be reshaped to the requested shape. Input shape:{1,3}, requested shape:{2,-1}"
    if status.contains("cannot be reshaped") {
        let shapes = between(status, "Input shape:{", "}")
            .zip(between(status, "requested shape:{", "}"))
            .and_then(|(from, to)| Some((dims(from)?, dims(to)?)));
        return Some(match shapes {
            Some((from, to)) => {
                format!("its shape does not fit the model: {node} cannot reshape {from} to {to}")
            }
            None => format!("its shape does not fit the model ({at})"),
        });
    }
    // Broadcasting: "Attempting to broadcast an axis by a dimension other than 1. 2 by 3"
    if status.contains("Attempting to broadcast") {
        let sizes = status
            .rsplit_once(". ")
            .and_then(|(_, tail)| tail.trim().split_once(" by "))
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
        return Some(match sizes {
            Some((a, b)) => format!(
                "the shapes do not fit the model: {node} cannot broadcast a dimension of {a} against one of {b}"
            ),
            None => format!("the shapes do not fit the model ({at})"),
        });
    }
    // GatherElements: "GatherElements op: Out of range value in index tensor"; others alike.
    let lower = status.to_ascii_lowercase();
    if lower.contains("out of range") || lower.contains("out of bounds") {
        return Some(format!(
            "a value is out of the range the model accepts ({at})"
        ));
    }
    (code == ErrorCode::InvalidArgument).then(|| format!("the model refused the values ({at})"))
}

/// The text of `s` between the first `start` and the next `end`.
fn between<'s>(s: &'s str, start: &str, end: &str) -> Option<&'s str> {
    let (_, rest) = s.split_once(start)?;
    Some(rest.split_once(end).map_or(rest, |(inner, _)| inner))
}

/// `1,3` as `[1, 3]`, when it is a list of integers.
fn dims(list: &str) -> Option<String> {
    let dims = list
        .split(',')
        .map(|d| d.trim().parse::<i64>().map(|d| d.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(format!("[{}]", dims.join(", ")))
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ONNX Runtime 1.32.0's own messages for these refusals (the source
    // paths as its release builds print them).
    const GATHER: &str = "Non-zero status code returned while running Gather node. Name:'' Status Message: indices element out of data bounds, idx=7 must be within the inclusive range [-4,3]";
    const RESHAPE: &str = "Non-zero status code returned while running Reshape node. Name:'' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:84 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) size != 0 && (input_shape_size % size) == 0 was false. The input tensor cannot be reshaped to the requested shape. Input shape:{1,3}, requested shape:{2,-1}\n";
    const GATHER_ELEMENTS: &str = "Non-zero status code returned while running GatherElements node. Name:'' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/gather_elements.cc:150 void onnxruntime::core_impl(const Tensor*, const Tensor*, Tensor*, int64_t, concurrency::ThreadPool*) [with Tin = long int; int64_t = long int] GatherElements op: Out of range value in index tensor\n";
    const BROADCAST: &str = "Non-zero status code returned while running Add node. Name:'' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 2 by 3\n";

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn client_text(code: ErrorCode, message: &str, inputs: &[&str]) -> String {
        match run_error(code, message, &names(inputs)) {
            e @ BackendError::Input { .. } => e.to_string(),
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn node_refusals_are_the_requests_said_without_onnx_runtimes_text() {
        let cases = [
            (
                ErrorCode::InvalidArgument,
                GATHER,
                "input 'idx': index 7 is out of the range the model accepts, -4 to 3 (at a Gather node)",
            ),
            (
                ErrorCode::GenericFailure,
                RESHAPE,
                "input 'idx': its shape does not fit the model: a Reshape node cannot reshape [1, 3] to [2, -1]",
            ),
            (
                ErrorCode::GenericFailure,
                GATHER_ELEMENTS,
                "input 'idx': a value is out of the range the model accepts (at a GatherElements node)",
            ),
            (
                ErrorCode::GenericFailure,
                BROADCAST,
                "input 'idx': the shapes do not fit the model: an Add node cannot broadcast a dimension of 2 against one of 3",
            ),
        ];
        for (code, message, said) in cases {
            let text = client_text(code, message, &["idx"]);
            assert_eq!(text, said);
            for internal in ["onnxruntime", "ONNX Runtime", ".cc", ".h:", "::"] {
                assert!(!text.contains(internal), "{text}");
            }
        }
        assert_eq!(
            client_text(ErrorCode::InvalidArgument, GATHER, &["a", "b"]),
            "inputs 'a', 'b': index 7 is out of the range the model accepts, -4 to 3 (at a Gather node)"
        );
    }

    #[test]
    fn other_failures_are_the_engines() {
        for (code, message) in [
            // A plain failure inside a node that says nothing of the values.
            (
                ErrorCode::GenericFailure,
                "Non-zero status code returned while running MatMul node. Name:'m' Status Message: bad allocation",
            ),
            // Invalid, but not a node's refusal: the session's own check.
            (ErrorCode::InvalidArgument, "Invalid Feed Input Name:x"),
            (ErrorCode::RuntimeException, "CUDA failure 2: out of memory"),
        ] {
            assert!(
                matches!(run_error(code, message, &names(&["x"])), BackendError::Run(ref m) if m.contains(message)),
                "{message}"
            );
        }
    }
}
