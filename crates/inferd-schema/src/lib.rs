//! Between JSON and tensors: parse a scoring request, check its data against
//! the model's signature while turning it into tensors, and write the model's
//! outputs back as JSON.
//!
//! # Layout
//! - [`request`]: the request envelope (`{"data": ...}` body, or `?data=` query).
//! - `envelope`: the top level of a body in one pass (other fields skipped unbuilt, `data` twice refused).
//! - [`decode`]: a JSON value to one tensor per model input, checked element by element.
//! - [`direct`]: the fast path, a body's data straight into the one input tensor
//!   (no JSON tree), leaving every doubtful request to `request` + `decode`.
//! - `number`: one JSON number literal read to the bit as serde_json reads it, for `direct`.
//! - `bound`: float32's range exactly, reading an integer literal's digits again where
//!   float64 parsing cannot tell it from f32::MAX.
//! - [`pandas`]: a list of records to tensors, by column.
//! - [`model_schema`]: [`ModelSchema`], one model's contract (data field,
//!   input and output layout, samples), built from the inference config.
//! - [`encode`]: output tensors to the response body (values, by name, or records).
//! - [`error`]: [`SchemaError`], each variant a message a client can act on.
//!
//! Every rejection names where the problem is (`data[0][3]`), what the model
//! expects and what was received. Nothing here panics on any input.
#![forbid(unsafe_code)]

mod bound;
pub mod decode;
pub mod direct;
pub mod encode;
mod envelope;
pub mod error;
pub mod model_schema;
mod number;
pub mod pandas;
pub mod request;

pub use decode::{decode_inputs, decode_inputs_at};
pub use encode::{encode_outputs, encode_records};
pub use error::SchemaError;
pub use model_schema::{InputLayout, ModelSchema, SampleError};
pub use pandas::{Column, ColumnKind, PandasLayout, PandasTarget};
pub use request::{
    DATA_FIELD, data_from_body, data_from_body_field, data_from_query, data_from_query_field,
};
