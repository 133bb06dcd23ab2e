//! [`Entry`]: a served model version as the protocol sees it, made once
//! when the version is published: its codec ([`V2Model`]), its metadata
//! and configuration documents (fixed while it is served).

use std::sync::OnceLock;

use bytes::Bytes;
use inferd_engine::ServedModel;
use inferd_media::MediaInputs;
use inferd_v2::{ConfigOptions, DynamicBatching, V2Model};

use crate::ApiError;

/// One served model version's protocol view (part of its
/// [`crate::LiveModel`]).
pub struct Entry {
    pub codec: V2Model,
    metadata: Bytes,
    /// The metadata when inputs take encoded images (BYTES): written on
    /// first asking, from the version's declared decoders, which are its
    /// contract's (`LiveModel::schema`) and fixed with it.
    image_metadata: OnceLock<Bytes>,
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
            image_metadata: OnceLock::new(),
            config,
        }
    }

    /// The model metadata document; `media`, the version's declared
    /// decoders: an input with an image decoder is BYTES `[-1]` there, as
    /// its encoded images are what a client most likely has to send.
    pub fn metadata(&self, media: Option<&MediaInputs>) -> Bytes {
        let takes_images = |name: &str| media.is_some_and(|m| m.takes_encoded_images(name));
        let inputs = &self.codec.signature().inputs;
        if !inputs.iter().any(|spec| takes_images(&spec.name)) {
            return self.metadata.clone();
        }
        self.image_metadata
            .get_or_init(|| {
                let versions = [self.codec.version().to_owned()];
                Bytes::from(self.codec.metadata_with_images(&versions, &takes_images))
            })
            .clone()
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
