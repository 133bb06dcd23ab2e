//! [`Entry`]: a served model version as the protocol sees it, made once
//! when the version is published: its codec ([`V2Model`]), its metadata
//! and configuration documents (fixed while it is served).

use bytes::Bytes;
use inferd_engine::ServedModel;
use inferd_v2::{ConfigOptions, DynamicBatching, V2Model};

use crate::ApiError;

/// One served model version's protocol view (part of its
/// [`crate::LiveModel`]).
pub struct Entry {
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

impl Entry {
    pub(crate) fn new(served: &ServedModel) -> Entry {
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
            tracing::error!(model = %self.codec.name(), %reason, "no model configuration");
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
