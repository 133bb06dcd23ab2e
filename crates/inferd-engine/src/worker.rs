//! The worker side of an executor: what a job carries to a model's worker
//! thread, the unbatched worker loop, and the pieces the batching loop
//! (`batcher`) shares with it: taking the next job and running the engine
//! with a panic turned into an error.
//!
//! A job arrives with its admission [`Ticket`]; the worker takes a
//! container-wide slot itself (waiting at most until the ticket's
//! deadline) and marks the job started in its shared [`Progress`], where
//! the caller reads when, so the scoring timeout counts from the real
//! start. The caller races the worker at the queue deadline on that same
//! state: exactly one of "refused" or "started" wins, so a refused request
//! never runs. A job whose caller has gone (disconnected) is skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use inferd_backend::{BackendError, LoadedModel, Session};
use inferd_tensor::Tensor;
use tokio::sync::oneshot;

use crate::EngineError;
use crate::admission::Ticket;
use crate::answers::{Answers, Due};
use crate::callers::Callers;
use crate::progress::Progress;
use crate::spin;

/// Turns a request into the model's inputs. Runs on the worker thread once
/// the request holds a slot, so requests refused under overload cost no
/// decoding, and decoding is counted in the concurrency limit.
pub type Prepare = Box<dyn FnOnce() -> Result<Vec<Tensor>, EngineError> + Send>;

/// Where a job's answer goes: the caller's oneshot. Until it is sent (or
/// dropped unsent) the job counts as due an answer in the server's
/// [`Answers`], when it keeps one, which the HTTP runtime reads before it
/// parks.
pub(crate) struct Reply {
    sender: oneshot::Sender<Result<Vec<Tensor>, EngineError>>,
    _due: Option<Due>,
}

impl Reply {
    pub(crate) fn new(
        sender: oneshot::Sender<Result<Vec<Tensor>, EngineError>>,
        answers: Option<&'static Answers>,
    ) -> Reply {
        Reply {
            sender,
            _due: answers.map(Answers::sent),
        }
    }

    /// The caller left (disconnected) or gave up.
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends the answer; the job stops being due only after it is sent.
    pub(crate) fn send(self, result: Result<Vec<Tensor>, EngineError>) {
        let Reply { sender, _due } = self;
        let _ = sender.send(result);
    }
}

/// One request on its way to a worker.
pub(crate) struct Job {
    pub(crate) prepare: Prepare,
    pub(crate) reply: Reply,
    pub(crate) progress: Arc<Progress>,
    /// The request's place in the queue, given up when it starts.
    pub(crate) ticket: Ticket,
}

/// The worker loop of an unbatched executor: one job, one run, at a time.
pub(crate) fn work(
    model: Arc<dyn LoadedModel>,
    mut session: Box<dyn Session>,
    jobs: Receiver<Job>,
    callers: Callers,
    idle_poll: Duration,
) {
    while let Some(job) = next_job(&jobs, &callers, idle_poll) {
        let Job {
            prepare,
            reply,
            progress,
            ticket,
        } = job;
        // The caller left (disconnected) or gave up at its deadline.
        if reply.is_closed() || !progress.is_queued() {
            continue;
        }
        let Some(slot) = ticket.admission().take_slot_until(ticket.deadline) else {
            continue;
        };
        // Deadline passed, or the caller gave up while we waited: never run.
        let now = Instant::now();
        if now > ticket.deadline || reply.is_closed() || !progress.start_at(now) {
            continue;
        }
        drop(ticket);
        let result = run_guarded(&model, &mut session, |session| {
            let inputs = prepare();
            progress.set_prepare(now.elapsed());
            session.run(inputs?).map_err(EngineError::from)
        });
        // The slot is held until here, so it counts as busy for as long as
        // the core really is, even after the caller timed out.
        drop(slot);
        reply.send(result);
    }
}

/// The next job: polled for a moment first while a client calls alone (see
/// [`spin`]), so its next request does not have to wake this thread;
/// `None` once the queue is closed.
pub(crate) fn next_job(
    jobs: &Receiver<Job>,
    callers: &Callers,
    idle_poll: Duration,
) -> Option<Job> {
    let polled = spin::poll_if_alone(callers, idle_poll, None, || match jobs.try_recv() {
        Ok(job) => Some(Some(job)),
        Err(TryRecvError::Disconnected) => Some(None),
        Err(TryRecvError::Empty) => None,
    });
    polled.unwrap_or_else(|| jobs.recv().ok())
}

/// Runs `f` with the session, turning a panic into an error for this call
/// alone and giving the worker a fresh session.
///
/// A panic is always the engine's failure ([`BackendError::Panicked`], a
/// 500 whose text stays in the log), never the request's fault: its
/// message comes from deep inside the engine and cannot honestly be tied
/// to one input. What an engine can tie to the input it checks itself and
/// reports as [`BackendError::Input`] (tract checks index inputs before a
/// run for this reason).
pub(crate) fn run_guarded<T>(
    model: &Arc<dyn LoadedModel>,
    session: &mut Box<dyn Session>,
    f: impl FnOnce(&mut dyn Session) -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    match catch_unwind(AssertUnwindSafe(|| f(session.as_mut()))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!(%message, "engine panicked; the request fails and the worker gets a fresh session");
            match model.new_session() {
                Ok(fresh) => *session = fresh,
                Err(e) => {
                    tracing::error!(error = %e, "cannot renew the session; keeping the old one")
                }
            }
            Err(EngineError::Backend(BackendError::Panicked(message)))
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
