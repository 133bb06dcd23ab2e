//! Dynamic batching on the real engine (tract) and the real server: each
//! answer is what the request alone gets (labels and shapes exactly; floats
//! up to rounding, because tract picks other matrix kernels for other batch
//! sizes), requests really share runs, a batch holds one slot, queue
//! deadlines hold, and `inferd_batch_size` counts each run.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::scrape::value;
use common::{assert_close, expected, registry, start, start_state};
use inferd_backend::{BackendError, Engine, LoadedModel, Session, TractEngine};
use inferd_engine::{
    Admission, AdmissionOptions, BatchOptions, BatchPolicy, EngineError, Executor, ExecutorOptions,
    ModelIdentity, ModelSet, ServedModel, load_models_batched,
};
use inferd_registry::ModelRef;
use inferd_server::{AppState, ServerOptions};
use inferd_tensor::{Signature, Tensor, TensorData};

/// The real tract model, recording for each run its rows and the slots in
/// use while it ran.
struct Recording {
    inner: Arc<dyn LoadedModel>,
    admission: Arc<Admission>,
    runs: Runs,
}

struct RecordingSession {
    inner: Box<dyn Session>,
    admission: Arc<Admission>,
    runs: Runs,
}

/// Each run's rows, and the slots busy while it ran.
type Runs = Arc<Mutex<Vec<(usize, usize)>>>;

impl Recording {
    /// `inner`, recording its runs (behind `admission`) into the list answered.
    fn new(inner: Arc<dyn LoadedModel>, admission: &Arc<Admission>) -> (Arc<Recording>, Runs) {
        let runs = Runs::default();
        let recording = Arc::new(Recording {
            inner,
            admission: admission.clone(),
            runs: runs.clone(),
        });
        (recording, runs)
    }
}

impl LoadedModel for Recording {
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
        Ok(Box::new(RecordingSession {
            inner: self.inner.new_session()?,
            admission: self.admission.clone(),
            runs: self.runs.clone(),
        }))
    }
}

impl Session for RecordingSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let rows = inputs[0].shape()[0];
        self.runs
            .lock()
            .unwrap()
            .push((rows, self.admission.busy()));
        self.inner.run(inputs)
    }
}

fn load(model: &str) -> Arc<dyn LoadedModel> {
    let path = registry()
        .model_path(&model.parse::<ModelRef>().unwrap())
        .unwrap()
        .join("model.onnx");
    TractEngine.load(&path).unwrap()
}

/// The rows of the model's committed test case, as float32 row tensors.
fn rows(model: &str) -> Vec<Vec<f32>> {
    let case = expected(model)["cases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    case["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn tensor(rows: &[Vec<f32>]) -> Tensor {
    let width = rows[0].len();
    let data = rows.iter().flatten().copied().collect();
    Tensor::new(vec![rows.len(), width], TensorData::F32(data)).unwrap()
}

/// Relative difference allowed between a batched and a lone float answer.
const FLOAT_TOLERANCE: f64 = 1e-5;

/// Same outputs, shapes and element types; integers exactly, floats up to
/// rounding.
fn assert_same_answer(got: &[Tensor], want: &[Tensor], at: &str) {
    assert_eq!(got.len(), want.len(), "{at}: outputs");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.shape(), w.shape(), "{at}: shape");
        match (g.data(), w.data()) {
            (TensorData::F32(g), TensorData::F32(w)) => {
                for (j, (g, w)) in g.iter().zip(w).enumerate() {
                    let bound = FLOAT_TOLERANCE * f64::from(w.abs()).max(1.0);
                    assert!(
                        f64::from((g - w).abs()) <= bound,
                        "{at}[{j}]: {g} against {w} alone"
                    );
                }
            }
            (g, w) => assert_eq!(g, w, "{at}"),
        }
    }
}

fn admission(max_queue_wait: Duration) -> Arc<Admission> {
    Admission::new(AdmissionOptions {
        max_concurrent: 1,
        max_queue_wait,
        max_queue_length: 1024,
    })
}

fn batching(max_batch_size: usize, max_delay: Duration) -> BatchOptions {
    BatchOptions {
        max_batch_size,
        max_delay,
        preferred_sizes: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_answers_are_bit_for_bit_the_lone_answers() {
    for model in ["diabetes-ridge", "mlp-784", "digits-classifier"] {
        let loaded = load(model);
        let samples = rows(model);
        // Requests of 1, 2, 1, 3 rows (and so on), cycling through the samples.
        let mut requests = Vec::new();
        let mut next = 0;
        for size in [1, 2, 1, 3, 1, 1, 2, 1] {
            let part: Vec<Vec<f32>> = (0..size)
                .map(|i| samples[(next + i) % samples.len()].clone())
                .collect();
            next += size;
            requests.push(tensor(&part));
        }
        let mut alone = loaded.new_session().unwrap();
        let lone: Vec<Vec<Tensor>> = requests
            .iter()
            .map(|t| alone.run(vec![t.clone()]).unwrap())
            .collect();

        let gate = admission(Duration::from_secs(10));
        let (recording, runs) = Recording::new(loaded, &gate);
        let options = one_worker();
        let batch = Some(batching(64, Duration::from_millis(300)));
        let executor = Arc::new(Executor::start_batched(model, recording, options, batch).unwrap());
        // As the server does: counted from arrival to answer. Every
        // request arrives before the first is sent, so that each is sent
        // while the others are in flight: spawned as they arrived, the
        // first could run alone before the second had arrived (a loaded CI
        // machine saw every request run alone).
        let arrived: Vec<_> = requests
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    gate.enter().unwrap(),
                    executor.arrive(Instant::now()),
                )
            })
            .collect();
        let tasks: Vec<_> = arrived
            .into_iter()
            .map(|(t, ticket, arrival)| {
                let executor = executor.clone();
                tokio::spawn(async move {
                    let scored = executor.score(vec![t], ticket).await;
                    drop(arrival);
                    scored
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let outputs = task.await.unwrap().unwrap().outputs;
            assert_same_answer(&outputs, &lone[i], &format!("{model}: request {i}"));
        }
        let runs = runs.lock().unwrap().clone();
        assert_eq!(
            runs.iter().map(|r| r.0).sum::<usize>(),
            12,
            "{model}: every row ran once: {runs:?}"
        );
        assert!(
            runs.len() < requests.len(),
            "{model}: requests shared runs: {runs:?}"
        );
        assert!(
            runs.iter().all(|r| r.1 == 1),
            "{model}: a batch holds one slot: {runs:?}"
        );
    }
}

/// One worker thread: every batch comes from the same queue, in order.
fn one_worker() -> ExecutorOptions {
    ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_for_company_only_while_other_callers_are_in_flight() {
    let gate = admission(Duration::from_secs(30));
    let options = one_worker();
    let executor = Executor::start_batched(
        "ridge",
        load("diabetes-ridge"),
        options,
        Some(batching(64, Duration::from_millis(400))),
    )
    .unwrap();
    let input = || vec![tensor(&rows("diabetes-ridge")[..1])];

    // One client calling in turn: nobody can join, so nobody is waited for.
    let alone = executor.arrive(Instant::now());
    let started = Instant::now();
    executor
        .score(input(), gate.enter().unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    drop(alone);
    assert!(
        took < Duration::from_millis(300),
        "a lone caller waited {took:?}"
    );

    // Another caller is in flight (its body still arriving): the batch waits
    // up to the delay for it.
    let (mine, other) = (
        executor.arrive(Instant::now()),
        executor.arrive(Instant::now()),
    );
    let started = Instant::now();
    executor
        .score(input(), gate.enter().unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    drop((mine, other));
    assert!(
        took >= Duration::from_millis(400),
        "answered after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_not_held_past_its_queue_deadline() {
    // The delay allows 10 s of waiting for company; the queue wait only 300 ms.
    let gate = admission(Duration::from_millis(300));
    let options = one_worker();
    let batch = Some(batching(64, Duration::from_secs(10)));
    let executor =
        Executor::start_batched("ridge", load("diabetes-ridge"), options, batch).unwrap();
    let started = Instant::now();
    let scored = executor
        .score(
            vec![tensor(&rows("diabetes-ridge")[..1])],
            gate.enter().unwrap(),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "answered in {took:?}");
    assert_eq!(scored.outputs[0].shape(), &[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_requests_are_dropped_before_the_run() {
    let gate = admission(Duration::from_millis(200));
    let (recording, runs) = Recording::new(load("diabetes-ridge"), &gate);
    let options = one_worker();
    let batch = Some(batching(64, Duration::from_millis(50)));
    let executor = Arc::new(Executor::start_batched("ridge", recording, options, batch).unwrap());
    // Hold the only slot past every request's deadline.
    let held = gate.take_slot_until(Instant::now()).unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (executor, ticket) = (executor.clone(), gate.enter().unwrap());
            let input = tensor(&rows("diabetes-ridge")[..1]);
            tokio::spawn(async move { executor.score(vec![input], ticket).await })
        })
        .collect();
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(matches!(err, EngineError::QueueTimeout { .. }), "{err}");
    }
    drop(held);
    // A fresh request runs; the expired ones never did.
    let ok = executor
        .score(
            vec![tensor(&rows("diabetes-ridge")[..1])],
            gate.enter().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.outputs[0].shape(), &[1]);
    assert_eq!(runs.lock().unwrap().iter().map(|r| r.0).sum::<usize>(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_http_batched_bodies_equal_unbatched_bodies() {
    let model = "digits-classifier";
    let plain = start(&[model]).await;
    let refs: Vec<ModelRef> = vec![model.parse().unwrap()];
    let gate = admission(Duration::from_secs(10));
    let policy = BatchPolicy {
        all: Some(batching(16, Duration::from_millis(20))),
        ..BatchPolicy::default()
    };
    let options = ExecutorOptions {
        workers: 2,
        ..ExecutorOptions::default()
    };
    let models = tokio::task::spawn_blocking(move || {
        load_models_batched(&registry(), &refs, &TractEngine, options, &policy, gate).unwrap()
    })
    .await
    .unwrap();
    let batched =
        Arc::new(start_state(AppState::with_models(ServerOptions::default(), models)).await);
    let bodies: Vec<String> = rows(model)
        .iter()
        .map(|row| serde_json::json!({ "data": [row] }).to_string())
        .collect();
    let mut want = Vec::new();
    for body in &bodies {
        let reply = plain.post_json("/score", body.clone()).await;
        assert_eq!(reply.status, 200);
        want.push(reply.json());
    }
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let (server, body) = (batched.clone(), bodies[i % bodies.len()].clone());
            tokio::spawn(async move { (i, server.post_json("/score", body).await) })
        })
        .collect();
    for task in tasks {
        let (i, reply) = task.await.unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_close(
            &reply.json(),
            &want[i % want.len()],
            FLOAT_TOLERANCE,
            &format!("request {i}"),
        );
    }
    // A bad request in a batching server is still its own 400.
    let bad = batched.post_json("/score", r#"{"data": [[1, 2]]}"#).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_batch_size_histogram_counts_each_run_and_its_requests() {
    let gate = admission(Duration::from_secs(10));
    let (recording, runs) = Recording::new(load("diabetes-ridge"), &gate);
    let identity = ModelIdentity {
        name: "diabetes-ridge".into(),
        version: 1,
        sha256: String::new(),
        engine: "tract",
    };
    let options = one_worker();
    let batch = Some(batching(64, Duration::from_millis(200)));
    let served = ServedModel::start_batched(identity, recording, options, batch, gate).unwrap();
    let state = AppState::with_models(ServerOptions::default(), ModelSet::new(vec![served]));
    let server = Arc::new(start_state(state).await);
    let labels = [("model", "diabetes-ridge"), ("version", "1")];

    let sent = 24;
    let body = serde_json::json!({ "data": [rows("diabetes-ridge")[0]] }).to_string();
    let tasks: Vec<_> = (0..sent)
        .map(|_| {
            let (server, body) = (server.clone(), body.clone());
            tokio::spawn(async move { server.post_json("/score", body).await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    // A request that does not decode never reaches the engine: not counted.
    let bad = server.post_json("/score", r#"{"data": [[1, 2]]}"#).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);

    let runs = runs.lock().unwrap().clone();
    let text = String::from_utf8(server.get("/metrics").await.body.to_vec()).unwrap();
    let count = value(&text, "inferd_batch_size_count", &labels);
    let sum = value(&text, "inferd_batch_size_sum", &labels);
    assert_eq!(
        count as usize,
        runs.len(),
        "one observation a run: {runs:?}"
    );
    assert_eq!(sum as usize, sent, "every request in one observed run");
    assert!(
        (1..sent).contains(&runs.len()),
        "requests shared runs: {runs:?}"
    );
}
