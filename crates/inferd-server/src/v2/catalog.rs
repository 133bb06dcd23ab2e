//! [`Catalog`]: each served model as the protocol sees it, made once when
//! the models are set: its codec ([`V2Model`]), its metadata and
//! configuration documents (fixed while it is served), and how a route's
//! name and version find it.

use std::sync::Arc;

use bytes::Bytes;
use inferd_engine::{ModelSet, ServedModel};
use inferd_v2::{ConfigOptions, DynamicBatching, V2Model};
use serde::Serialize;

use crate::ApiError;

/// Every served model's protocol entry, in serving order.
pub(crate) struct Catalog {
    entries: Vec<Arc<Entry>>,
}

/// One served model version.
pub struct Entry {
    pub served: Arc<ServedModel>,
    pub codec: V2Model,
    metadata: Bytes,
    config: Result<Bytes, String>,
}

/// What a model's metadata and configuration say its platform is: Triton's
/// name for an ONNX model run by ONNX Runtime, else the engine's.
pub fn platform_of(engine: &str) -> String {
    match engine {
        "onnxruntime" => "onnxruntime_onnx".to_owned(),
        other => format!("{other}_onnx"),
    }
}

impl Catalog {
    pub(crate) fn new(models: &ModelSet) -> Catalog {
        Catalog {
            entries: models.iter().map(|m| Arc::new(Entry::new(m))).collect(),
        }
    }

    /// The model served as `name`, and, when the route names a version, only
    /// if it is the one served (404 otherwise, as for an unknown name).
    pub(crate) fn find(&self, name: &str, version: Option<&str>) -> Result<&Arc<Entry>, ApiError> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.served.name == name)
            .ok_or_else(|| ApiError::ModelNotFound(name.to_owned()))?;
        match version {
            Some(asked) if asked != entry.codec.version() => Err(ApiError::VersionNotServed {
                name: name.to_owned(),
                asked: asked.to_owned(),
                served: entry.served.version,
            }),
            _ => Ok(entry),
        }
    }

    /// The repository index: every model served, all of them ready.
    pub(crate) fn index(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Indexed<'a> {
            name: &'a str,
            version: &'a str,
            state: &'static str,
        }
        let index: Vec<Indexed<'_>> = self
            .entries
            .iter()
            .map(|e| Indexed {
                name: e.codec.name(),
                version: e.codec.version(),
                state: "READY",
            })
            .collect();
        serde_json::to_vec(&index).expect("plain data serialises")
    }
}

impl Entry {
    fn new(served: &Arc<ServedModel>) -> Entry {
        let codec = V2Model::new(
            served.name.clone(),
            served.version.to_string(),
            platform_of(served.engine),
            served.signature.clone(),
        );
        let metadata = Bytes::from(codec.metadata(&[served.version.to_string()]));
        // A batching model whose outputs have no free first dimension
        // cannot be written batch-shaped: its full shapes, then.
        let options = config_options(served);
        let config = codec
            .config(&options)
            .or_else(|_| {
                codec.config(&ConfigOptions {
                    max_batch_size: 0,
                    ..options
                })
            })
            .map(Bytes::from)
            .map_err(|e| e.to_string());
        Entry {
            served: served.clone(),
            codec,
            metadata,
            config,
        }
    }

    pub fn metadata(&self) -> Bytes {
        self.metadata.clone()
    }

    /// The model configuration document.
    pub fn config(&self) -> Result<Bytes, ApiError> {
        self.config.clone().map_err(|reason| {
            tracing::error!(model = %self.served.name, %reason, "no model configuration");
            ApiError::Internal
        })
    }
}

/// A batching model's configuration says so as Triton's does: the batch
/// dimension left out of `dims`, `max_batch_size` its most rows, and a
/// `dynamic_batching` section.
fn config_options(served: &ServedModel) -> ConfigOptions {
    let backend = Some(served.engine.to_owned());
    match served.executor.batching() {
        Some(batching) => ConfigOptions {
            backend,
            max_batch_size: u32::try_from(batching.max_batch_size).unwrap_or(u32::MAX),
            dynamic_batching: Some(DynamicBatching {
                preferred_batch_size: batching
                    .preferred_sizes
                    .iter()
                    .map(|&n| u32::try_from(n).unwrap_or(u32::MAX))
                    .collect(),
                max_queue_delay_microseconds: u64::try_from(batching.max_delay.as_micros())
                    .unwrap_or(u64::MAX),
            }),
        },
        None => ConfigOptions {
            backend,
            max_batch_size: 0,
            dynamic_batching: None,
        },
    }
}
