//! A test-only model that fails as an engine can, on demand: its input
//! below zero panics with the kind of text an engine's panic carries, zero
//! returns an engine error naming engine internals, anything else is
//! echoed. The failures are the engine's, not the input's (the model
//! accepts every float), so each must be a 500 that leaks none of that text.

use std::sync::Arc;

use inferd_backend::{BackendError, LoadedModel, Session};
use inferd_engine::{
    Admission, AdmissionOptions, ExecutorOptions, ModelIdentity, ModelSet, ServedModel,
};
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData, TensorSpec};

/// What the failures say: the words a client must never see.
pub const PANIC_TEXT: &str = "ndarray: index out of bounds: the len is 4 but the index is 7";
pub const ERROR_TEXT: &str = "tract: Evaluating #3 \"onnxruntime_node\": internal failure";

struct Faulty(Signature);

struct FaultySession;

impl LoadedModel for Faulty {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
        Ok(Box::new(FaultySession))
    }
}

impl Session for FaultySession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let TensorData::F32(x) = inputs[0].data() else {
            unreachable!("the signature says float32")
        };
        if x[0] < 0.0 {
            panic!("{PANIC_TEXT}");
        }
        if x[0] == 0.0 {
            return Err(BackendError::Run(ERROR_TEXT.to_owned()));
        }
        Ok(inputs)
    }
}

/// A model set with one faulty model (`faulty`) on one worker, so a run
/// after a panic is on the very thread that panicked.
pub fn faulty_set(admission: AdmissionOptions) -> ModelSet {
    let spec = TensorSpec {
        name: "x".into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Fixed(1)]),
    };
    let model = Arc::new(Faulty(Signature {
        inputs: vec![spec.clone()],
        outputs: vec![spec],
    }));
    let identity = ModelIdentity {
        name: "faulty".into(),
        version: 1,
        sha256: String::new(),
        engine: "test",
    };
    let options = ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    };
    let served = ServedModel::start(identity, model, options, Admission::new(admission)).unwrap();
    ModelSet::new(vec![served])
}
