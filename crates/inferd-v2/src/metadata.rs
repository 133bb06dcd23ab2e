//! The documents clients read before they infer: server metadata
//! (`GET /v2`), model metadata (`GET /v2/models/{m}`) and the model
//! configuration of Triton's model configuration extension
//! (`GET /v2/models/{m}/config`), all from the model's signature so they
//! say what the decoder accepts.
//!
//! Not a hot path: written with serde from small structs, once per call
//! (the server may keep them, as they change only with the models).

use serde::Serialize;

use inferd_tensor::{Dim, TensorSpec};

use crate::images::image_count_dim;
use crate::json::{dims_text, protocol_dims};
use crate::{ConfigError, Datatype, V2Model};

#[derive(Serialize)]
struct ServerMetadata<'a> {
    name: &'a str,
    version: &'a str,
    extensions: &'a [&'a str],
}

/// `{"name", "version", "extensions"}`: list only the extensions the
/// server implements (`binary_tensor_data`, `model_configuration`, ...).
pub fn server_metadata(name: &str, version: &str, extensions: &[&str]) -> Vec<u8> {
    to_json(&ServerMetadata {
        name,
        version,
        extensions,
    })
}

#[derive(Serialize)]
struct ModelMetadata<'a> {
    name: &'a str,
    versions: &'a [String],
    platform: &'a str,
    inputs: Vec<TensorMetadata<'a>>,
    outputs: Vec<TensorMetadata<'a>>,
}

#[derive(Serialize)]
struct TensorMetadata<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: Vec<i64>,
}

fn tensor_metadata(spec: &TensorSpec) -> TensorMetadata<'_> {
    TensorMetadata {
        name: &spec.name,
        datatype: Datatype::of(spec.dtype).as_str(),
        shape: protocol_dims(spec.shape.as_deref()),
    }
}

/// An input that takes encoded images: BYTES, one image per element. Its
/// tensor form is still accepted; the document can name one datatype per
/// input, and clients build their request from it, so it names the form
/// a client most likely has (an image file).
fn image_metadata(spec: &TensorSpec) -> TensorMetadata<'_> {
    TensorMetadata {
        name: &spec.name,
        datatype: Datatype::Bytes.as_str(),
        shape: vec![image_count_dim(spec.shape.as_deref())],
    }
}

pub(crate) fn model_metadata(
    model: &V2Model,
    versions: &[String],
    takes_images: &dyn Fn(&str) -> bool,
) -> Vec<u8> {
    let signature = model.signature();
    to_json(&ModelMetadata {
        name: model.name(),
        versions,
        platform: model.platform(),
        inputs: signature
            .inputs
            .iter()
            .map(|spec| {
                if takes_images(&spec.name) {
                    image_metadata(spec)
                } else {
                    tensor_metadata(spec)
                }
            })
            .collect(),
        outputs: signature.outputs.iter().map(tensor_metadata).collect(),
    })
}

/// What a model configuration says beyond the signature: how the server
/// batches the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOptions {
    /// The backend name (`onnxruntime`), when there is one to name.
    pub backend: Option<String>,
    /// Triton's meaning: 0, the shapes are the full shapes; above 0, every
    /// input and output has a free first (batch) dimension, left out of
    /// `dims`, and a request holds at most this many rows. perf_analyzer
    /// makes batch-shaped requests only when it is above 0.
    pub max_batch_size: u32,
    /// Set when the server batches requests together.
    pub dynamic_batching: Option<DynamicBatching>,
}

/// The `dynamic_batching` section of a model configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DynamicBatching {
    pub preferred_batch_size: Vec<u32>,
    pub max_queue_delay_microseconds: u64,
}

#[derive(Serialize)]
struct ModelConfig<'a> {
    name: &'a str,
    platform: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a str>,
    max_batch_size: u32,
    input: Vec<ConfigInput<'a>>,
    output: Vec<ConfigOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dynamic_batching: Option<&'a DynamicBatching>,
}

#[derive(Serialize)]
struct ConfigInput<'a> {
    name: &'a str,
    data_type: &'static str,
    format: &'static str,
    dims: Vec<i64>,
}

#[derive(Serialize)]
struct ConfigOutput<'a> {
    name: &'a str,
    data_type: &'static str,
    dims: Vec<i64>,
}

pub(crate) fn model_config(
    model: &V2Model,
    options: &ConfigOptions,
) -> Result<Vec<u8>, ConfigError> {
    let signature = model.signature();
    let dims = |spec: &TensorSpec| -> Result<Vec<i64>, ConfigError> {
        if options.max_batch_size == 0 {
            return Ok(protocol_dims(spec.shape.as_deref()));
        }
        match spec.shape.as_deref() {
            Some([Dim::Free(_), rest @ ..]) => Ok(protocol_dims(Some(rest))),
            shape => Err(ConfigError::NoBatchDimension {
                max_batch_size: options.max_batch_size,
                tensor: spec.name.clone(),
                shape: dims_text(shape),
            }),
        }
    };
    let input = signature
        .inputs
        .iter()
        .map(|spec| {
            Ok(ConfigInput {
                name: &spec.name,
                data_type: Datatype::of(spec.dtype).config_name(),
                format: "FORMAT_NONE",
                dims: dims(spec)?,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    let output = signature
        .outputs
        .iter()
        .map(|spec| {
            Ok(ConfigOutput {
                name: &spec.name,
                data_type: Datatype::of(spec.dtype).config_name(),
                dims: dims(spec)?,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(to_json(&ModelConfig {
        name: model.name(),
        platform: model.platform(),
        backend: options.backend.as_deref(),
        max_batch_size: options.max_batch_size,
        input,
        output,
        dynamic_batching: options.dynamic_batching.as_ref(),
    }))
}

/// Whether every input and output has a free first dimension: the rows a
/// server may batch along, and what a `max_batch_size` above 0 needs.
pub(crate) fn batchable(model: &V2Model) -> bool {
    let signature = model.signature();
    signature
        .inputs
        .iter()
        .chain(&signature.outputs)
        .all(|spec| matches!(spec.shape.as_deref(), Some([Dim::Free(_), ..])))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("these documents are plain data")
}
