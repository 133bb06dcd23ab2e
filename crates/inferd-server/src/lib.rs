//! The HTTP face of inferd: hyper 1 on tokio, one tower service.
//!
//! # Layout
//! - [`serve`]: the accept loop with graceful drain ([`serve()`]); tests and
//!   the binary both enter here with a bound listener and a shutdown future;
//!   [`serve_tls()`] is the same loop with a TLS handshake first.
//! - [`app`]: the tower service: request ids and the key check (the gate
//!   from `inferd-auth`) around the router.
//! - [`answered`]: the handler's future with a panic answered as a 500.
//! - [`routes`]: which path and method go where.
//! - [`score`]: the scoring handler: content type, body, decode, engine, encode.
//! - [`v2`]: the Open Inference Protocol's routes (`/v2/...`), its infer
//!   handler scoring through the same engine path as [`score`].
//! - [`api`]: [`ServiceApi`]: each model's contract and the API documents.
//! - [`swagger`]: `GET /swagger.json`.
//! - [`body`]: reading a body under a size limit, its bytes reserved in
//!   the body memory budget before they are read.
//! - [`idle`]: closing connections that send no request for a while.
//! - [`drain`]: asking every connection to finish and close on shutdown.
//! - [`request_id`]: the `x-request-id` family of headers.
//! - [`error`]: [`ApiError`], the one place errors are classified: HTTP
//!   status, metrics outcome, `x-ms-run-function-failed`.
//! - [`response`]: small builders for JSON and text responses.
//! - [`state`]: [`AppState`]: options and the served set, swapped whole
//!   at each model update.
//! - [`live`]: [`Live`], the served set as requests see it: each version's
//!   contract, protocol documents and metric handles ([`LiveModel`]).
//! - [`repository`]: the repository API (`/v2/repository/...`): model load
//!   and unload while serving, behind the admin key.
//! - [`record`]: [`RequestRecord`], one request's record from arrival to
//!   response, turned into its metrics and its access line.
//! - [`telemetry`]: per-model metrics, the HTTP response counter, the
//!   access-log switch and data collection ([`Telemetry`]).
//!
//! Only this crate knows hyper. Handlers never block: scoring is handed to
//! the engine's own threads and awaited with a bound.
#![forbid(unsafe_code)]

pub mod answered;
pub mod api;
pub mod app;
pub mod body;
pub mod drain;
pub mod error;
pub mod head_errors;
pub mod idle;
pub mod live;
pub mod record;
pub mod repository;
pub mod request_id;
pub mod response;
pub mod routes;
pub mod score;
pub mod serve;
pub mod state;
pub mod swagger;
pub mod telemetry;
pub mod v2;

pub use api::{EntryError, ServiceApi};
pub use app::App;
pub use error::ApiError;
pub use live::{Live, LiveModel};
pub use record::RequestRecord;
pub use serve::{serve, serve_tls};
pub use state::{AppState, ServerOptions};
pub use telemetry::Telemetry;
