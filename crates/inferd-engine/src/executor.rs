//! Runs one model on dedicated OS threads: the caller's side.
//!
//! Each worker thread owns one engine session (engines' per-run state is
//! mutable, and one session per thread needs no lock); what a worker does
//! with a job is in `worker` (or `batcher`, with dynamic batching). Here:
//! starting the threads, and a request's wait for its answer, bounded by
//! the queue deadline until it starts (503) and by the scoring timeout
//! from its start (504). A panic inside the engine is caught, answered as
//! an error for that job alone, and the worker starts a fresh session.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use inferd_backend::{BackendError, LoadedModel, Session};
use inferd_tensor::Tensor;
use tokio::sync::oneshot;

use crate::EngineError;
use crate::admission::Ticket;
use crate::answers::Answers;
use crate::batcher::{self, BatchObserver, BatchOptions, ObserverCell};
use crate::callers::{Caller, Callers};
use crate::progress::Progress;
use crate::spin;
use crate::worker::{self, Job, Prepare, Reply};

/// How many workers, how deep a queue, how long a run may take.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorOptions {
    pub workers: usize,
    pub queue_capacity: usize,
    /// The longest a run may take, counted from its start (504 past it).
    pub timeout: Duration,
    /// While a client calls the model alone (`Callers::alone`), how long an
    /// idle worker polls its queue before it sleeps, and the caller its
    /// answer before it awaits it (see `spin`); zero never polls.
    pub idle_poll: Duration,
    /// The server's count of answers due, for its HTTP runtime's poll
    /// before it parks (see `answers`); `None` counts nothing.
    pub answers: Option<&'static Answers>,
}

/// The default of [`ExecutorOptions::idle_poll`]: longer than a lone
/// client's round trip on loopback, short enough to cost little CPU to a
/// client that calls now and then.
pub const DEFAULT_IDLE_POLL: Duration = Duration::from_micros(200);

impl Default for ExecutorOptions {
    fn default() -> ExecutorOptions {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        ExecutorOptions {
            workers,
            queue_capacity: 1024,
            timeout: Duration::from_millis(60_000),
            idle_poll: DEFAULT_IDLE_POLL,
            answers: None,
        }
    }
}

/// A run's outputs and where its time went.
#[derive(Debug)]
pub struct Scored {
    pub outputs: Vec<Tensor>,
    /// From entering the queue to the start of the run.
    pub queue: Duration,
    /// From the start of the run to the answer, `prepare` included.
    pub score: Duration,
    /// What `prepare` (decoding the request) took; with batching it ran
    /// before the start.
    pub prepare: Duration,
    /// When the caller saw the answer: the end of `score`, and the start
    /// of whatever the caller does next (one clock read for both).
    pub answered: Instant,
}

/// What each of a new executor's sessions must pass before its worker
/// starts; the error says why not.
pub type SessionCheck<'a> = dyn FnMut(&mut dyn Session) -> Result<(), String> + 'a;

/// Why an executor did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A session failed its check.
    #[error("{0}")]
    Check(String),
}

/// A model's worker threads and the queue in front of them. Dropping it
/// closes the queue; workers finish the job in hand and exit, and the drop
/// waits for them.
pub struct Executor {
    sender: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    options: ExecutorOptions,
    /// Shared with batching workers; unused (never read) without batching.
    observer: ObserverCell,
    /// Requests being handled for this model; batching workers wait for
    /// company only while there are more than in their batch.
    callers: Callers,
    /// How the workers batch, when they do (for documents that say so).
    batching: Option<BatchOptions>,
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
        Executor::start_batched(label, model, options, None)
    }

    /// As [`Executor::start`]; with `batching`, each worker gathers
    /// concurrent requests into one run (see [`crate::batcher`]).
    pub fn start_batched(
        label: &str,
        model: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        batching: Option<BatchOptions>,
    ) -> Result<Executor, BackendError> {
        Executor::start_checked(label, model, options, batching, &mut |_| Ok(())).map_err(|e| {
            match e {
                StartError::Backend(e) => e,
                StartError::Check(reason) => BackendError::Run(reason),
            }
        })
    }

    /// As [`Executor::start_batched`], each worker's session first passed
    /// to `check` (a self-test and warm-up run): the first refusal stops the
    /// start before any thread exists, so a version that fails its checks
    /// leaves nothing behind.
    pub fn start_checked(
        label: &str,
        model: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        batching: Option<BatchOptions>,
        check: &mut SessionCheck<'_>,
    ) -> Result<Executor, StartError> {
        let count = options.workers.max(1);
        let mut sessions = Vec::with_capacity(count);
        for _ in 0..count {
            let mut session = model.new_session()?;
            check(session.as_mut()).map_err(StartError::Check)?;
            sessions.push(session);
        }
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(options.queue_capacity.max(1));
        let mut workers = Vec::with_capacity(count);
        let observer = ObserverCell::default();
        let callers = Callers::default();
        for (index, session) in sessions.into_iter().enumerate() {
            let (model, receiver) = (model.clone(), receiver.clone());
            let batching_here = batching.clone();
            let observer = observer.clone();
            let callers = callers.clone();
            let handle = std::thread::Builder::new()
                .name(format!("inferd-{label}-{index}"))
                .spawn(move || match batching_here {
                    Some(batching) => batcher::work(
                        model,
                        session,
                        receiver,
                        batching,
                        observer,
                        callers,
                        options.idle_poll,
                    ),
                    None => worker::work(model, session, receiver, callers, options.idle_poll),
                })
                .map_err(|e| BackendError::Run(format!("cannot start a worker thread: {e}")))?;
            workers.push(handle);
        }
        Ok(Executor {
            sender: Some(sender),
            workers,
            options,
            observer,
            callers,
            batching,
        })
    }

    /// Counts a request for this model from its first byte to its answer
    /// (drop the guard then). The batcher and the lone-caller polls read the count.
    pub fn arrive(&self, now: Instant) -> Caller {
        self.callers.arrive(now)
    }

    /// Has every batching worker report each engine run's number of
    /// requests to `observer`. Set once; a second observer is ignored (and
    /// `false` returned). Without batching nothing is ever reported.
    pub fn observe_batches(&self, observer: BatchObserver) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Queues `inputs` with their `ticket`, then waits: until the run starts
    /// (at most the ticket's deadline: 503 past it), then for the answer (at
    /// most `options.timeout` from the start: 504 past it).
    pub async fn score(&self, inputs: Vec<Tensor>, ticket: Ticket) -> Result<Scored, EngineError> {
        self.score_prepared(Box::new(move || Ok(inputs)), ticket)
            .await
    }

    /// As [`Executor::score`], with inputs made by `prepare` on the worker.
    pub async fn score_prepared(
        &self,
        prepare: Prepare,
        ticket: Ticket,
    ) -> Result<Scored, EngineError> {
        let (entered, deadline) = (ticket.entered, ticket.deadline);
        let max_wait = ticket.admission().options().max_queue_wait;
        let timeout = self.options.timeout;
        let progress = Arc::new(Progress::new(entered));
        let (sender, mut answer) = oneshot::channel();
        let reply = Reply::new(sender, self.options.answers);
        let sender = self.sender.as_ref().ok_or(EngineError::Stopped)?;
        let job = Job {
            prepare,
            reply,
            progress: progress.clone(),
            ticket,
        };
        sender.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => EngineError::QueueFull {
                capacity: self.options.queue_capacity,
            },
            TrySendError::Disconnected(_) => EngineError::Stopped,
        })?;
        let refused = || EngineError::QueueTimeout { waited: max_wait };
        // `None`: the worker dropped the job without an answer.
        let finish = |answer: Option<Result<Vec<Tensor>, EngineError>>| match answer {
            Some(result) => {
                let start = progress.started_at().unwrap_or(entered);
                let answered = Instant::now();
                result.map(|outputs| Scored {
                    outputs,
                    queue: start.saturating_duration_since(entered),
                    score: answered.saturating_duration_since(start),
                    prepare: progress.prepare(),
                    answered,
                })
            }
            // Dropped unstarted: its deadline passed while waiting for a slot.
            None if progress.started_at().is_none() && Instant::now() >= deadline => Err(refused()),
            None => Err(EngineError::Stopped),
        };
        if let Some(answer) = self.poll_alone(&mut answer, deadline) {
            return finish(answer);
        }
        // One wait for the answer, woken early only to act on a deadline:
        // the queue's while the job is queued, the run's once it started.
        // A job not started by `now` cannot end its run before
        // `now + timeout`, so waking then is never late (the first wait
        // takes `entered` for `now`: earlier, so no later, and no clock read).
        let mut now = entered;
        loop {
            let wake = match progress.started_at() {
                Some(start) => start + timeout,
                None => deadline.min(now + timeout),
            };
            tokio::select! {
                biased;
                answer = &mut answer => return finish(answer.ok()),
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            now = Instant::now();
            match progress.started_at() {
                Some(start) if now >= start + timeout => {
                    return Err(EngineError::Timeout(timeout));
                }
                Some(_) => {}
                None if now >= deadline && progress.abandon() => return Err(refused()),
                // Not yet at the deadline, or started just now: wait on.
                None => {}
            }
        }
    }

    /// A lone caller polls for its answer for a moment (at most
    /// `idle_poll`, never past the queue deadline) before it awaits it, so
    /// its thread is still awake when a short run ends (see [`spin`]).
    /// `None`: no answer yet, or not alone (or the deadline has passed); `Some(None)`: the job was
    /// dropped unanswered.
    fn poll_alone(
        &self,
        answer: &mut oneshot::Receiver<Result<Vec<Tensor>, EngineError>>,
        deadline: Instant,
    ) -> Option<Option<Result<Vec<Tensor>, EngineError>>> {
        let bound = self.options.idle_poll;
        spin::poll_if_alone(&self.callers, bound, Some(deadline), || {
            match answer.try_recv() {
                Ok(result) => Some(Some(result)),
                Err(oneshot::error::TryRecvError::Closed) => Some(None),
                Err(oneshot::error::TryRecvError::Empty) => None,
            }
        })
    }

    pub fn options(&self) -> ExecutorOptions {
        self.options
    }

    /// How the workers batch requests; `None` when each runs alone.
    pub fn batching(&self) -> Option<&BatchOptions> {
        self.batching.as_ref()
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

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_backend::Session;
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

    /// A place in a roomy queue of its own.
    fn ticket() -> Ticket {
        let gate = crate::Admission::new(crate::AdmissionOptions {
            max_concurrent: 8,
            max_queue_wait: Duration::from_secs(10),
            max_queue_length: 100,
        });
        gate.enter().unwrap()
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
        let out = executor.score(one(21.0), ticket()).await.unwrap().outputs;
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
        let err = executor.score(one(-1.0), ticket()).await.unwrap_err();
        assert!(
            matches!(err, EngineError::Backend(BackendError::Panicked(ref m)) if m == "negative input")
        );
        assert_eq!(
            executor.score(one(2.0), ticket()).await.unwrap().outputs[0].data(),
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
            ..ExecutorOptions::default()
        };
        let executor = Arc::new(Executor::start("t", doubler(), options).unwrap());
        let slow = {
            let executor = executor.clone();
            tokio::spawn(async move { executor.score(one(1000.0), ticket()).await })
        };
        // Let the worker take the slow job, then fill the one queue slot.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let executor = executor.clone();
            tokio::spawn(async move { executor.score(one(1.0), ticket()).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let full = executor.score(one(1.0), ticket()).await.unwrap_err();
        assert!(
            matches!(full, EngineError::QueueFull { capacity: 1 }),
            "{full}"
        );
        let timed_out = slow.await.unwrap().unwrap_err();
        assert_eq!(timed_out.to_string(), "Scoring timeout after 100 ms");
        let queued = queued.await.unwrap().unwrap();
        assert!(
            queued.queue >= Duration::from_millis(200),
            "it started once the slow run ended"
        );
        assert_eq!(queued.outputs[0].data(), &TensorData::F32(vec![2.0]));
    }
}
