//! The model registry on disk: register a file or a folder under a name, get
//! the next version, find it again by `name[:version]`.
//!
//! # Layout on disk
//! ```text
//! <root>/<name>/<version>/model.json   metadata: tags, description, created_at, hashes
//! <root>/<name>/<version>/files/...    the registered file, or the folder's contents
//! <root>/<name>/.lock                  serialises version allocation between processes
//! <root>/<name>/.last-version          highest version ever given, so numbers are never reused
//! ```
//! A version appears only by an atomic rename of a fully written staging
//! folder, so readers never see half a registration. Anything else under the
//! root (dot-folders, files, folders without versions) is ignored.
//!
//! # Modules
//! - [`name`]: model names and `name[:version]` references.
//! - [`metadata`]: what `model.json` holds.
//! - [`registry`]: the [`Registry`] itself.
//! - [`plain`]: a model served where it lies (a file or folder outside any
//!   registry, as KServe mounts one), as version 1 of a name.
//! - [`copy`]: copying and hashing the registered files.
//! - [`kinds`]: models are data: known file kinds only, nothing that leaves
//!   the registry (symbolic links included).
#![forbid(unsafe_code)]

pub mod copy;
pub mod error;
pub mod kinds;
pub mod metadata;
pub mod name;
pub mod plain;
pub mod registry;

pub use error::RegistryError;
pub use metadata::{FileEntry, ModelKind, ModelVersion};
pub use name::{ModelRef, validate_name};
pub use registry::{Registration, Registry};
