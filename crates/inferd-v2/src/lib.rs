//! The Open Inference Protocol (KServe v2, REST) as bytes and tensors: the
//! codec behind inferd's `/v2` routes, with no HTTP in it.
//!
//! One door: [`V2Model`], one model version's codec, built from its
//! signature, decodes an infer request body (JSON, or JSON then raw
//! tensors with the binary tensor extension) into the model's input
//! tensors, checked against the model before anything runs; encodes the
//! outputs as a response (JSON data or binary); and writes the model's
//! metadata and configuration documents. [`server_metadata`],
//! [`error_body`], [`parse_header_length`] and [`encode_request`] are the
//! rest of what a server and a client need.
//!
//! # Layout
//! - `model`: [`V2Model`], the door.
//! - `request`: a request body to [`InferRequest`] (tensors, [`OutputPlan`],
//!   `timeout`, `priority`).
//! - `data`: an input's JSON `data`, flat or nested, straight into the tensor.
//! - `binary`: raw little-endian buffers to tensors and back.
//! - `bytes`: BYTES elements' framing (4-byte length, then the bytes).
//! - `images`: encoded images as BYTES elements: [`EncodedImages`], base64.
//! - `params`: `parameters` objects and the reserved parameters' types.
//! - `response`: outputs to a response body; a client's request body.
//! - `metadata`: server metadata, model metadata, model configuration.
//! - `datatype`: [`Datatype`], the protocol's datatypes and their mappings.
//! - `json`: shared JSON helpers (borrowed strings, shapes in messages).
//! - `error`: [`V2Error`] (the client's fault, 400), [`EncodeError`],
//!   [`ConfigError`], and the `{"error": ...}` body.
//!
//! inferd's tensors carry BOOL, UINT8..64, INT8..64, FP32 and FP64; FP16,
//! BF16 and BYTES are understood on the wire and refused with
//! [`V2Error::UnsupportedDatatype`] (see `datatype`), but for one use of
//! BYTES: an input the server declares an image decoder for takes encoded
//! images as BYTES elements, which the server decodes through
//! [`EncodedImages`] ([`V2Model::decode_request_with`]; see `images`).
//! Nothing here panics on any input or reads past the body.
#![forbid(unsafe_code)]

mod binary;
mod bytes;
mod data;
mod datatype;
mod error;
mod images;
mod json;
mod metadata;
mod model;
mod params;
mod request;
mod response;

pub use bytes::{FramingError, split_bytes_elements, write_bytes_element};
pub use datatype::Datatype;
pub use error::{ConfigError, EncodeError, V2Error, error_body};
pub use images::EncodedImages;
pub use metadata::{ConfigOptions, DynamicBatching, server_metadata};
pub use model::V2Model;
pub use request::{InferRequest, OutputChoice, OutputPlan, parse_header_length};
pub use response::{EncodedBody, encode_request};

#[cfg(test)]
mod tests;
