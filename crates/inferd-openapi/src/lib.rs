//! The service's API documents: Swagger 2.0, OpenAPI 3.0.3 and OpenAPI 3.1,
//! generated from each model's contract (its signature, samples and layout),
//! rendered once at start and served as bytes.
//!
//! The documents keep the names client generators know from the original
//! server (paths `/`, `/score`, `/swagger.json`; operations
//! `ServiceHealthCheck`, `RunMLService`, `GetSwaggerSpec`; definitions
//! `ServiceInput`, `ServiceOutput`, `ErrorResponse`; the `Bearer` apiKey
//! scheme), and say more than it did: exact shapes (`minItems`/`maxItems`),
//! element types with their ranges, `required` keys, closed objects.
//!
//! # Layout
//! - [`version`]: [`SpecVersion`], and the `?version=` values it answers to.
//! - [`info`]: [`ServiceInfo`]: title, version, path prefix (from the
//!   `SERVICE_*` environment), whether scoring needs a key.
//! - [`types`]: JSON Schemas of tensors and their elements.
//! - [`model`]: one model's `ServiceInput` and `ServiceOutput`.
//! - [`document`]: the whole document for one version; [`Documents`], all three as bytes.
//! - `v2`: the Open Inference Protocol's routes (`/v2/...`) in the document.
//! - `v2_model`: one model's `/v2` schemas: infer request and response,
//!   metadata, an example request.
#![forbid(unsafe_code)]

pub mod document;
pub mod info;
pub mod model;
pub mod types;
mod v2;
mod v2_model;
pub mod version;

pub use document::{Documents, ModelDoc, render};
pub use info::ServiceInfo;
pub use version::{SpecVersion, UnknownVersion};
