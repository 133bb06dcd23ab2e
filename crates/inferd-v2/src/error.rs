//! What can be wrong with an infer request ([`V2Error`]: every variant is
//! the client's fault, an HTTP 400 with Triton's mapping), with a response
//! the server makes ([`EncodeError`], the server's fault) or with a config
//! document asked for ([`ConfigError`]); and the protocol's error body.
//!
//! Every message names the input or output at fault, what the model or the
//! protocol expects, and what came.

use crate::bytes::FramingError;

/// Why an infer request cannot be run. Checked before anything runs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum V2Error {
    #[error("Inference-Header-Content-Length must be a whole number of bytes, received '{value}'")]
    HeaderLength { value: String },

    #[error(
        "Inference-Header-Content-Length is {header} bytes but the body has only {body}; the JSON header cannot end past the body"
    )]
    HeaderPastBody { header: usize, body: usize },

    #[error("the inference request header is not a valid request: {reason}")]
    InvalidJson { reason: String },

    #[error("unknown input '{input}'; the model's inputs are {expected}")]
    UnknownInput { input: String, expected: String },

    #[error("input '{input}' is given more than once; send each input once")]
    DuplicateInput { input: String },

    #[error(
        "missing input '{input}' ({datatype}, shape {shape}); the model's inputs are {expected}"
    )]
    MissingInput {
        input: String,
        datatype: String,
        shape: String,
        expected: String,
    },

    #[error("input '{input}': unknown datatype '{received}'; the protocol's datatypes are {known}")]
    UnknownDatatype {
        input: String,
        received: String,
        known: String,
    },

    #[error(
        "input '{input}': datatype {received} is not supported ({reason}); the model expects {expected}"
    )]
    UnsupportedDatatype {
        input: String,
        received: String,
        expected: String,
        reason: String,
    },

    #[error("input '{input}' expects datatype {expected}, received {received}")]
    WrongDatatype {
        input: String,
        expected: String,
        received: String,
    },

    #[error(
        "input '{input}': shape {shape} has a negative dimension; dimensions are sizes (0 or more)"
    )]
    NegativeDim { input: String, shape: String },

    #[error("input '{input}': shape dimension {received} is not a whole number")]
    NotIntegerDim { input: String, received: String },

    #[error(
        "input '{input}': shape {shape} ({datatype}) holds more elements or bytes than can be counted"
    )]
    ShapeOverflow {
        input: String,
        shape: String,
        datatype: String,
    },

    #[error("input '{input}' expects shape {expected} ({datatype}), received shape {received}")]
    WrongShape {
        input: String,
        expected: String,
        datatype: String,
        received: String,
    },

    #[error("input '{input}': shape {shape} holds no elements; send at least one")]
    EmptyTensor { input: String, shape: String },

    #[error(
        "input '{input}' has no data: send \"data\" in the JSON or \"parameters\": {{\"binary_data_size\": N}} with N bytes after it"
    )]
    NoData { input: String },

    #[error(
        "input '{input}' has both \"data\" and \"binary_data_size\"; send its values one way only"
    )]
    DataAndBinary { input: String },

    #[error(
        "input '{input}' has binary_data_size but the request has no Inference-Header-Content-Length header to say where the JSON ends"
    )]
    BinaryWithoutHeader { input: String },

    #[error(
        "input '{input}': shape {shape} of {datatype} is {expected} bytes, but binary_data_size is {received}"
    )]
    BinarySize {
        input: String,
        shape: String,
        datatype: String,
        expected: usize,
        received: u64,
    },

    #[error(
        "input '{input}': binary_data_size {size} from byte {start} runs past the {available} bytes that follow the JSON header"
    )]
    BinaryPastBody {
        input: String,
        start: usize,
        size: u64,
        available: usize,
    },

    #[error(
        "the inputs' binary_data_size add up to {used} bytes but {available} bytes follow the JSON header"
    )]
    BinaryLeftOver { used: usize, available: usize },

    #[error("input '{input}' (BYTES): {reason}")]
    BytesFraming { input: String, reason: FramingError },

    #[error("input '{input}' (BOOL): byte {index} of its binary data is {byte}; a BOOL is 0 or 1")]
    NotBool {
        input: String,
        index: usize,
        byte: u8,
    },

    #[error("input '{input}': \"data\" must be a list, received {received}")]
    DataNotList { input: String, received: String },

    #[error("input '{input}': shape {shape} holds {expected} elements, \"data\" has {received}")]
    DataCount {
        input: String,
        shape: String,
        expected: usize,
        /// A count, or `more than N` when reading stopped at the excess.
        received: String,
    },

    #[error(
        "input '{input}': \"data\" is nested {depth} deep but shape {shape} has rank {rank}; send it flat or nested as the shape"
    )]
    DataNesting {
        input: String,
        shape: String,
        rank: usize,
        depth: usize,
    },

    #[error(
        "input '{input}': \"data\" does not follow shape {shape}: at depth {depth} expected {expected}, received {received}"
    )]
    DataRagged {
        input: String,
        shape: String,
        depth: usize,
        expected: String,
        received: String,
    },

    #[error("input '{input}': element {index} of \"data\" must be {datatype}, received {received}")]
    DataElement {
        input: String,
        index: usize,
        datatype: String,
        received: String,
    },

    #[error(
        "input '{input}': element {index} of \"data\" is not base64 text ({reason}); an encoded image goes in JSON as base64, or as its bytes in the binary tensor extension (tritonclient: binary_data=True)"
    )]
    NotBase64 {
        input: String,
        index: usize,
        reason: String,
    },

    #[error("{place}: parameter '{name}' must be {expected}, received {received}")]
    InvalidParameter {
        place: String,
        name: String,
        expected: &'static str,
        received: String,
    },

    #[error("{place}: {what} is not supported by inferd")]
    Unsupported { place: String, what: String },

    #[error("unknown output '{output}' requested; the model's outputs are {expected}")]
    UnknownOutput { output: String, expected: String },

    #[error("output '{output}' is requested more than once; request each output once")]
    DuplicateOutput { output: String },
}

/// Why a response could not be written: the outputs handed to the encoder
/// are not the model's. A server bug (500), never the client's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the model has {expected} outputs but {received} tensors were given to encode")]
    OutputCount { expected: usize, received: usize },
}

/// Why a model configuration document cannot say what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "max_batch_size {max_batch_size} needs a free first (batch) dimension on every input and output, and '{tensor}' has shape {shape}"
    )]
    NoBatchDimension {
        max_batch_size: u32,
        tensor: String,
        shape: String,
    },
}

/// The protocol's error body: `{"error": "<message>"}`.
pub fn error_body(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    out.extend_from_slice(b"{\"error\":");
    crate::json::write_str(&mut out, message);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_is_one_json_string() {
        let body = error_body("input 'x' expects \"FP32\"\n");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"error": "input 'x' expects \"FP32\"\n"})
        );
        assert_eq!(error_body("no"), br#"{"error":"no"}"#);
    }
}
