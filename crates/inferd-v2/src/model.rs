//! [`V2Model`]: one model as the Open Inference Protocol sees it, the one
//! door through which the server decodes its infer requests, encodes its
//! responses and writes its metadata and configuration documents. Built
//! once per model version from the model's signature, like inferd-schema's
//! `ModelSchema` for `/score`.

use inferd_tensor::{Signature, Tensor};

use crate::images::NoImages;
use crate::metadata::{batchable, model_config, model_metadata};
use crate::request::decode_request;
use crate::response::encode_response;
use crate::{
    ConfigError, ConfigOptions, EncodeError, EncodedBody, EncodedImages, InferRequest, OutputPlan,
    V2Error,
};

/// One model version's protocol codec.
#[derive(Debug, Clone)]
pub struct V2Model {
    name: String,
    version: String,
    platform: String,
    signature: Signature,
}

impl V2Model {
    /// `platform` is what metadata and config report (`onnxruntime_onnx`
    /// is what Triton says for an ONNX model).
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        platform: impl Into<String>,
        signature: Signature,
    ) -> V2Model {
        V2Model {
            name: name.into(),
            version: version.into(),
            platform: platform.into(),
            signature,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn platform(&self) -> &str {
        &self.platform
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// An infer request's body to the model's inputs (in the signature's
    /// order), its output plan and its reserved parameters, every rule
    /// checked before anything runs. `header_length` is the request's
    /// `Inference-Header-Content-Length` (see [`crate::parse_header_length`]);
    /// `None` or 0: the whole body is JSON.
    /// No input takes encoded images here: BYTES is refused (see
    /// [`V2Model::decode_request_with`]).
    pub fn decode_request(
        &self,
        body: &[u8],
        header_length: Option<usize>,
    ) -> Result<InferRequest, V2Error> {
        decode_request(self, body, header_length, &mut NoImages)
    }

    /// [`V2Model::decode_request`], where the inputs `images` takes may
    /// come as BYTES, one encoded image per element (shape `[N]`), which
    /// `images` decodes into the input's N rows once every other rule has
    /// held. Such an input still takes its tensor as the model's datatype.
    pub fn decode_request_with<I: EncodedImages>(
        &self,
        body: &[u8],
        header_length: Option<usize>,
        images: &mut I,
    ) -> Result<InferRequest, I::Error> {
        decode_request(self, body, header_length, images)
    }

    /// The response to a request with `plan` and `id`: `outputs` are all
    /// the model's outputs in the signature's order (as an engine's run
    /// gives them); only the plan's are written, in its order.
    pub fn encode_response(
        &self,
        plan: &OutputPlan,
        id: Option<&str>,
        outputs: &[Tensor],
    ) -> Result<EncodedBody, EncodeError> {
        encode_response(self, plan, id, outputs)
    }

    /// The model metadata document; `versions` are the versions a client
    /// may name in a URL.
    pub fn metadata(&self, versions: &[String]) -> Vec<u8> {
        model_metadata(self, versions, &|_| false)
    }

    /// The model metadata document, where each input `takes_images`
    /// accepts is BYTES of shape `[-1]` (one encoded image per element;
    /// the model's count when its first dimension is fixed), so that a
    /// client reading it builds the request the decoder takes.
    pub fn metadata_with_images(
        &self,
        versions: &[String],
        takes_images: &dyn Fn(&str) -> bool,
    ) -> Vec<u8> {
        model_metadata(self, versions, takes_images)
    }

    /// The model configuration document (Triton's model configuration
    /// extension).
    pub fn config(&self, options: &ConfigOptions) -> Result<Vec<u8>, ConfigError> {
        model_config(self, options)
    }

    /// Whether every input and output has a free first dimension, so that
    /// the config may give a `max_batch_size` above 0.
    pub fn batchable(&self) -> bool {
        batchable(self)
    }
}
