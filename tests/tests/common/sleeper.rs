//! A test-only model whose run sleeps as many milliseconds as its input
//! says, and counts its runs and how many run at once. Timing semantics
//! (queue waits, timeouts, drains) need a known duration; the real models
//! are tested elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use inferd_backend::{BackendError, LoadedModel, Session};
use inferd_engine::{
    Admission, AdmissionOptions, ExecutorOptions, ModelIdentity, ModelSet, ServedModel,
};
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData, TensorSpec};

#[derive(Default)]
pub struct Counters {
    pub runs: AtomicUsize,
    pub running: AtomicUsize,
    pub most_at_once: AtomicUsize,
}

pub struct Sleeper {
    signature: Signature,
    pub counters: Arc<Counters>,
}

struct SleeperSession(Arc<Counters>);

impl LoadedModel for Sleeper {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
        Ok(Box::new(SleeperSession(self.counters.clone())))
    }
}

impl Session for SleeperSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let counters = &self.0;
        counters.runs.fetch_add(1, Ordering::SeqCst);
        let now = counters.running.fetch_add(1, Ordering::SeqCst) + 1;
        counters.most_at_once.fetch_max(now, Ordering::SeqCst);
        let TensorData::F32(ms) = inputs[0].data() else {
            unreachable!("the signature says float32")
        };
        std::thread::sleep(Duration::from_millis(ms[0] as u64));
        counters.running.fetch_sub(1, Ordering::SeqCst);
        Ok(inputs)
    }
}

/// A model set with one sleeper (`sleeper`), `threads` workers, behind `admission`.
pub fn sleeper_set(
    threads: usize,
    scoring_timeout: Duration,
    admission: AdmissionOptions,
) -> (ModelSet, Arc<Counters>) {
    let spec = TensorSpec {
        name: "ms".into(),
        dtype: DType::F32,
        shape: Some(vec![Dim::Fixed(1)]),
    };
    let counters = Arc::new(Counters::default());
    let model = Arc::new(Sleeper {
        signature: Signature {
            inputs: vec![spec.clone()],
            outputs: vec![spec],
        },
        counters: counters.clone(),
    });
    let identity = ModelIdentity {
        name: "sleeper".into(),
        version: 1,
        sha256: String::new(),
        engine: "test",
    };
    let options = ExecutorOptions {
        workers: threads,
        queue_capacity: admission.max_queue_length.max(1),
        timeout: scoring_timeout,
        ..ExecutorOptions::default()
    };
    let served = ServedModel::start(identity, model, options, Admission::new(admission)).unwrap();
    (ModelSet::new(vec![served]), counters)
}
