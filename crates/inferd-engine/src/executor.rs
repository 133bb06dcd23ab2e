//! Runs one model on dedicated OS threads.
//!
//! Each worker thread owns one engine session (engines' per-run state is
//! mutable, and one session per thread needs no lock). Jobs arrive through a
//! bounded channel so a burst cannot grow memory without limit: when it is
//! full, the caller is told at once. Each job carries a oneshot for its
//! answer; a job whose caller has gone (timed out or disconnected) is skipped
//! rather than run. A panic inside the engine is caught, answered as an
//! error for that job alone, and the worker starts a fresh session.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use inferd_backend::{BackendError, LoadedModel, Session};
use inferd_tensor::Tensor;
use tokio::sync::oneshot;

use crate::EngineError;
use crate::admission::Slot;

type Reply = oneshot::Sender<Result<Vec<Tensor>, EngineError>>;

struct Job {
    inputs: Vec<Tensor>,
    reply: Reply,
    /// Held until the engine returns, so the slot counts as busy for as long
    /// as the core really is, even after the caller timed out.
    slot: Option<Slot>,
}

/// How many workers and how deep a queue.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorOptions {
    pub workers: usize,
    pub queue_capacity: usize,
    /// The longest a caller waits for its answer, queueing included.
    pub timeout: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> ExecutorOptions {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        ExecutorOptions {
            workers,
            queue_capacity: workers * 256,
            timeout: Duration::from_millis(60_000),
        }
    }
}

/// A model's worker threads and the queue in front of them. Dropping it
/// closes the queue; workers finish the job in hand and exit, and the drop
/// waits for them.
pub struct Executor {
    sender: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    options: ExecutorOptions,
}

impl Executor {
    /// Starts `options.workers` threads named after `label`, each with a
    /// session made before this returns, so a model that cannot make a
    /// session fails at start-up, not on the first request.
    pub fn start(
        label: &str,
        model: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
    ) -> Result<Executor, BackendError> {
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(options.queue_capacity.max(1));
        let mut workers = Vec::with_capacity(options.workers);
        for index in 0..options.workers.max(1) {
            let session = model.new_session()?;
            let (model, receiver) = (model.clone(), receiver.clone());
            let handle = std::thread::Builder::new()
                .name(format!("inferd-{label}-{index}"))
                .spawn(move || work(model, session, receiver))
                .map_err(|e| BackendError::Run(format!("cannot start a worker thread: {e}")))?;
            workers.push(handle);
        }
        Ok(Executor {
            sender: Some(sender),
            workers,
            options,
        })
    }

    /// Queues `inputs` and waits for the outputs, at most `options.timeout`.
    /// The `slot`, if any, is released by the worker when the run ends.
    pub async fn score(
        &self,
        inputs: Vec<Tensor>,
        slot: Option<Slot>,
    ) -> Result<Vec<Tensor>, EngineError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.sender.as_ref().ok_or(EngineError::Stopped)?;
        sender
            .try_send(Job {
                inputs,
                reply,
                slot,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) => EngineError::QueueFull {
                    capacity: self.options.queue_capacity,
                },
                TrySendError::Disconnected(_) => EngineError::Stopped,
            })?;
        match tokio::time::timeout(self.options.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(EngineError::Stopped),
            Err(_) => Err(EngineError::Timeout(self.options.timeout)),
        }
    }

    pub fn options(&self) -> ExecutorOptions {
        self.options
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.sender.take();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn work(model: Arc<dyn LoadedModel>, mut session: Box<dyn Session>, jobs: Receiver<Job>) {
    while let Ok(Job {
        inputs,
        reply,
        slot,
    }) = jobs.recv()
    {
        if reply.is_closed() {
            // The caller left (disconnected or timed out) before its turn.
            continue;
        }
        let result = match catch_unwind(AssertUnwindSafe(|| session.run(inputs))) {
            Ok(result) => result.map_err(EngineError::from),
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!(%message, "engine panicked; the request gets a 500 and the worker a fresh session");
                match model.new_session() {
                    Ok(fresh) => session = fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot renew the session; keeping the old one")
                    }
                }
                Err(EngineError::Backend(BackendError::Panicked(message)))
            }
        };
        drop(slot);
        let _ = reply.send(result);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::{DType, Signature, TensorData, TensorSpec};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A model whose session doubles its input, or panics on a negative one,
    /// or sleeps on 1000: enough to test the executor's own rules.
    struct Doubler {
        signature: Signature,
        sessions: AtomicUsize,
    }

    struct DoublerSession;

    impl LoadedModel for Doubler {
        fn signature(&self) -> &Signature {
            &self.signature
        }
        fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
            self.sessions.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(DoublerSession))
        }
    }

    impl Session for DoublerSession {
        fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
            let TensorData::F32(v) = inputs[0].data() else {
                unreachable!()
            };
            if v[0] < 0.0 {
                panic!("negative input");
            }
            if v[0] == 1000.0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            let doubled = v.iter().map(|x| x * 2.0).collect();
            Ok(vec![
                Tensor::new(inputs[0].shape().to_vec(), TensorData::F32(doubled)).unwrap(),
            ])
        }
    }

    fn doubler() -> Arc<Doubler> {
        let spec = TensorSpec {
            name: "x".into(),
            dtype: DType::F32,
            shape: None,
        };
        Arc::new(Doubler {
            signature: Signature {
                inputs: vec![spec.clone()],
                outputs: vec![spec],
            },
            sessions: AtomicUsize::new(0),
        })
    }

    fn one(x: f32) -> Vec<Tensor> {
        vec![Tensor::new(vec![1], TensorData::F32(vec![x])).unwrap()]
    }

    #[tokio::test]
    async fn scores_on_worker_threads() {
        let options = ExecutorOptions {
            workers: 2,
            ..ExecutorOptions::default()
        };
        let executor = Executor::start("t", doubler(), options).unwrap();
        let out = executor.score(one(21.0), None).await.unwrap();
        assert_eq!(out[0].data(), &TensorData::F32(vec![42.0]));
    }

    #[tokio::test]
    async fn a_panic_fails_one_request_and_the_worker_goes_on() {
        let model = doubler();
        let options = ExecutorOptions {
            workers: 1,
            ..ExecutorOptions::default()
        };
        let executor = Executor::start("t", model.clone(), options).unwrap();
        let err = executor.score(one(-1.0), None).await.unwrap_err();
        assert!(
            matches!(err, EngineError::Backend(BackendError::Panicked(ref m)) if m == "negative input")
        );
        assert_eq!(
            executor.score(one(2.0), None).await.unwrap()[0].data(),
            &TensorData::F32(vec![4.0])
        );
        assert_eq!(
            model.sessions.load(Ordering::SeqCst),
            2,
            "a fresh session after the panic"
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_at_once_and_a_slow_run_times_out() {
        let options = ExecutorOptions {
            workers: 1,
            queue_capacity: 1,
            timeout: Duration::from_millis(100),
        };
        let executor = Arc::new(Executor::start("t", doubler(), options).unwrap());
        let slow = {
            let executor = executor.clone();
            tokio::spawn(async move { executor.score(one(1000.0), None).await })
        };
        // Let the worker take the slow job, then fill the one queue slot.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let executor = executor.clone();
            tokio::spawn(async move { executor.score(one(1.0), None).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let full = executor.score(one(1.0), None).await.unwrap_err();
        assert!(
            matches!(full, EngineError::QueueFull { capacity: 1 }),
            "{full}"
        );
        let timed_out = slow.await.unwrap().unwrap_err();
        assert_eq!(timed_out.to_string(), "Scoring timeout after 100 ms");
        assert!(
            queued.await.unwrap().is_err(),
            "the queued job waited past its bound too"
        );
    }
}
