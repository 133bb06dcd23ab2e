//! Between JSON and tensors: parse a scoring request, check its data against
//! the model's signature while turning it into tensors, and write the model's
//! outputs back as JSON.
//!
//! One door: [`ModelSchema`], one model's contract, decodes a request
//! (`decode_body`, `decode_query`, `decode`) and encodes an answer
//! (`encode`); a binary body (an image, `.npy`, raw, a form) goes through
//! its `media` (`inferd-media`), declared in the inference config. Behind it sit two readers: the fast one (`direct`, for a
//! one-input model's plainly valid body) and the general one (`request`,
//! `decode`, `pandas`), which gives every error with its path; the fast
//! one gives up at the first doubt and the general one decides.
//!
//! # Layout
//! - `request`: the request envelope (`{"data": ...}` body, or `?data=` query).
//! - `envelope`: the top level of a body in one pass (other fields skipped unbuilt, `data` twice refused).
//! - `decode`: a JSON value to one tensor per model input, checked element by element.
//! - `direct`: the fast path, a body's data straight into the one input tensor
//!   (no JSON tree), leaving every doubtful request to `request` + `decode`.
//! - `number`: one JSON number literal read to the bit as serde_json reads it, for `direct`.
//! - `bound`: float32's range exactly, reading an integer literal's digits again where
//!   float64 parsing cannot tell it from f32::MAX.
//! - `pandas`: a list of records to tensors, by column.
//! - `model_schema`: [`ModelSchema`], one model's contract (data field,
//!   input and output layout, samples), built from the inference config.
//! - `rows`: a table's rows (a CSV file's records) as requests' data, each
//!   bad row named by the server's message (for batch jobs).
//! - `encode`: output tensors to the response body (values, by name, or records).
//! - `labels`: [`Labeller`], an output of class scores as labelled classes,
//!   best first (the inference config's `postprocess`).
//! - `error`: [`SchemaError`], each variant a message a client can act on.
//!
//! Every rejection names where the problem is (`data[0][3]`), what the model
//! expects and what was received. Nothing here panics on any input.
#![forbid(unsafe_code)]

mod answer_check;
mod bound;
mod decode;
mod direct;
mod encode;
mod envelope;
mod error;
mod labels;
mod model_schema;
mod number;
mod pandas;
mod request;
mod rows;

/// One row, or one value, of an output as JSON (a batch job's answers).
pub use encode::{write_element, write_row};
pub use error::SchemaError;
pub use labels::Labeller;
pub use model_schema::{InputLayout, ModelSchema, SampleError};
/// The number reader the fast paths share (here and in `inferd-v2`): one
/// JSON number literal, valued exactly as serde_json values it.
pub use number::{Number, read_number};
pub use pandas::{Column, ColumnKind, PandasLayout, PandasTarget};
pub use rows::{Cell, ColumnPlan, DecodedRows};
