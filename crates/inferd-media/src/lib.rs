//! Binary request bodies as model inputs, as the inference config declares
//! them (`models[i].inputs`): an image (decoded by content, resized,
//! converted, normalised, laid out), a NumPy `.npy` array, or raw
//! little-endian elements; one body for a one-input model, or a
//! `multipart/form-data` form with one part per input (several images under
//! one name for a batch).
//!
//! One door: [`MediaInputs`], built once per model at start-up from its
//! declarations and signature ([`MediaInputs::build`]); a request's body
//! kind is read from its `Content-Type` ([`MediaInputs::body_kind`]) on the
//! HTTP side, and the body decoded on the model's worker
//! ([`MediaInputs::decode`]).
//!
//! # Layout
//! - `body_kind`: a `Content-Type` as the kind of body it announces.
//! - `image`: one encoded image as one row of the input; `resize`: the
//!   filters and the crop.
//! - `raw`: raw little-endian elements as an input.
//! - [`npy`]: the NumPy `.npy` reader (shared with `inferd batch`).
//! - `multipart`: a form's parts, by input name.
//! - `inputs`: [`MediaInputs`], the door.
//! - `error`: [`MediaError`] and its [`Refusal`]; [`DeclarationError`].
#![forbid(unsafe_code)]

mod body_kind;
mod error;
mod image;
mod inputs;
mod multipart;
pub mod npy;
mod raw;
mod resize;

pub use body_kind::BodyKind;
pub use error::{DeclarationError, MediaError, Refusal};
pub use inputs::{Decoded, MediaInputs, Parsed};
