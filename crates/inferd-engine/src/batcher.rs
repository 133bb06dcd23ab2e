//! Dynamic batching: a worker gathers concurrent requests for its model into
//! one engine run, stacked along the first (batch) dimension, and cuts the
//! outputs back into each request's answer.
//!
//! The order of a batch, and why:
//! 1. Take the first queued job, then a container-wide slot (at most until
//!    that job's deadline). The whole batch holds this one slot.
//! 2. Decode it on this worker, inside the slot, as the unbatched path does:
//!    requests refused under overload cost no decoding. Decoding must come
//!    before stacking (only tensors stack), so each job's `prepare` runs on
//!    this worker as the job is taken, before it joins the batch.
//! 3. A decoded job joins the batch by the executor's compare-and-swap
//!    (queued -> started), so expired, abandoned and disconnected requests
//!    never join, and a request's queue wait ends when it joins.
//! 4. Take whatever else is queued at once, then, only while more requests
//!    for the model are in flight than the batch holds ([`Callers`], counted
//!    by the server from a request's first byte), wait for more until the
//!    first job's `max_delay` ends, the batch reaches `max_batch_size` rows
//!    or a preferred size, or the earliest queue deadline of the batch's
//!    members comes (so no request is held past it). A job whose tensors do
//!    not stack with the batch (other sizes beyond the first dimension), or
//!    that would pass `max_batch_size`, stays queued and starts the next
//!    batch instead.
//! 5. Run once, skipping members whose client disconnected meanwhile; cut
//!    each output by the members' row counts. If the batched run fails or
//!    panics, or an output does not have one row per input row, each member
//!    runs alone instead, so each answer is exactly what the request alone
//!    would get.
//!
//! Between batches an idle worker polls its queue for a moment while a
//! client calls alone, as unbatched workers do (see `spin`).
//!
//! Each engine run reports how many requests it served to the model's
//! [`BatchObserver`], when one is set (the server feeds a histogram with it).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use inferd_backend::{LoadedModel, Session};
use inferd_tensor::{Dim, Signature, Tensor};

use crate::EngineError;
use crate::callers::Callers;
use crate::worker::{Job, Reply, next_job, run_guarded};

/// How a model's requests are gathered into batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Most rows (sum of the requests' first dimensions) in one run. A
    /// request with more rows runs alone.
    pub max_batch_size: usize,
    /// Longest the first request of a batch waits for company.
    pub max_delay: Duration,
    /// Sizes at which a batch runs at once without waiting out the delay.
    pub preferred_sizes: Vec<usize>,
}

/// Batching settings for the served models: one setting for all, and
/// per-model settings that take precedence (the inference config's
/// per-model `batching` object maps onto `per_model`).
#[derive(Debug, Clone, Default)]
pub struct BatchPolicy {
    pub all: Option<BatchOptions>,
    pub per_model: std::collections::BTreeMap<String, BatchOptions>,
}

impl BatchPolicy {
    /// The batching for the model `name`; `None` runs each request alone.
    pub fn for_model(&self, name: &str) -> Option<&BatchOptions> {
        self.per_model
            .get(name)
            .or(self.all.as_ref())
            .filter(|o| o.max_batch_size > 1)
    }
}

/// Told the number of requests of each engine run a batching worker makes
/// (1 for a request run alone). Called on the worker thread, after the run
/// and before the answers go out, so it must be quick.
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// A model's observer, shared by its workers. Set once, after the workers
/// start (the server labels its metrics only once the models are loaded);
/// reading it is one atomic load, no lock.
pub(crate) type ObserverCell = Arc<OnceLock<BatchObserver>>;

/// Why a model cannot be batched: every input needs a free first dimension.
pub fn check_batchable(signature: &Signature) -> Result<(), String> {
    for input in &signature.inputs {
        match input.shape.as_deref() {
            Some([Dim::Free(_), ..]) => {}
            _ => {
                return Err(format!(
                    "input '{}' has shape {}; batching needs a free first dimension",
                    input.name,
                    input.shape_text()
                ));
            }
        }
    }
    Ok(())
}

/// A job whose inputs are decoded, not yet started.
struct Decoded {
    job: Job,
    inputs: Vec<Tensor>,
    rows: usize,
}

/// A started job in the batch.
struct Member {
    reply: Reply,
    inputs: Vec<Tensor>,
    rows: usize,
    deadline: Instant,
}

fn stack_together(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.stacks_with(b))
}

/// The worker loop of a batching executor.
pub(crate) fn work(
    model: Arc<dyn LoadedModel>,
    mut session: Box<dyn Session>,
    jobs: Receiver<Job>,
    options: BatchOptions,
    observer: ObserverCell,
    callers: Callers,
    idle_poll: Duration,
) {
    let mut carried: Option<Decoded> = None;
    loop {
        let (first, decoded) = match carried.take() {
            Some(d) => (d.job, Some((d.inputs, d.rows))),
            None => match next_job(&jobs, &callers, idle_poll) {
                Some(job) => (job, None),
                None => return,
            },
        };
        if gone(&first) {
            continue;
        }
        let Some(slot) = first
            .ticket
            .admission()
            .take_slot_until(first.ticket.deadline)
        else {
            continue;
        };
        let first = match decoded {
            Some((inputs, rows)) => Decoded {
                job: first,
                inputs,
                rows,
            },
            None => match decode(first) {
                Some(decoded) => decoded,
                None => continue,
            },
        };
        let Some(first) = join(first) else { continue };
        let (batch, next) = gather(first, &jobs, &options, &callers);
        carried = next;
        let answers = run_batch(&model, &mut session, batch, observer.get());
        // The slot covers the whole run; answers go out once it is free.
        drop(slot);
        for (reply, result) in answers {
            reply.send(result);
        }
    }
}

/// The caller left, or gave up at its deadline.
fn gone(job: &Job) -> bool {
    job.reply.is_closed() || !job.progress.is_queued()
}

/// Decodes a job's inputs. A request that does not decode is answered at
/// once (its error is the client's), and `None` returned.
fn decode(mut job: Job) -> Option<Decoded> {
    let prepare = std::mem::replace(&mut job.prepare, Box::new(|| Ok(Vec::new())));
    let started = Instant::now();
    let prepared = prepare();
    job.progress.set_prepare(started.elapsed());
    match prepared {
        Ok(inputs) => {
            let rows = inputs.first().and_then(Tensor::rows).unwrap_or(0);
            Some(Decoded { job, inputs, rows })
        }
        Err(e) => {
            if claim(&job) {
                job.reply.send(Err(e));
            }
            None
        }
    }
}

/// Queued -> started, unless the caller left, gave up, or its deadline passed.
fn claim(job: &Job) -> bool {
    Instant::now() <= job.ticket.deadline && !job.reply.is_closed() && job.progress.start()
}

/// Starts a decoded job as a member of the batch; `None` when it may not
/// start (see [`claim`]). Its place in the queue is given up here.
fn join(decoded: Decoded) -> Option<Member> {
    let Decoded { job, inputs, rows } = decoded;
    if !claim(&job) {
        return None;
    }
    Some(Member {
        reply: job.reply,
        inputs,
        rows,
        deadline: job.ticket.deadline,
    })
}

/// The batch that starts with `first`, and the decoded job that did not fit
/// (still queued: it starts the next batch).
fn gather(
    first: Member,
    jobs: &Receiver<Job>,
    options: &BatchOptions,
    callers: &Callers,
) -> (Vec<Member>, Option<Decoded>) {
    let mut close = (Instant::now() + options.max_delay).min(first.deadline);
    let mut rows = first.rows;
    let mut batch = vec![first];
    while rows < options.max_batch_size && !options.preferred_sizes.contains(&rows) {
        let job = match jobs.try_recv() {
            Ok(job) => job,
            // Nobody else is asking this model right now: waiting for
            // company would only delay this batch (one client calling in
            // turn would wait the whole delay every time).
            Err(_) if callers.count() <= batch.len() => break,
            Err(_) => match jobs.recv_deadline(close) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            },
        };
        if gone(&job) {
            continue;
        }
        let Some(next) = decode(job) else { continue };
        if rows + next.rows > options.max_batch_size
            || !stack_together(&batch[0].inputs, &next.inputs)
        {
            return (batch, Some(next));
        }
        let Some(member) = join(next) else { continue };
        rows += member.rows;
        close = close.min(member.deadline);
        batch.push(member);
    }
    (batch, None)
}

type MemberAnswer = (Reply, Result<Vec<Tensor>, EngineError>);

/// Runs the members still wanted, and pairs each reply with its outputs.
fn run_batch(
    model: &Arc<dyn LoadedModel>,
    session: &mut Box<dyn Session>,
    mut batch: Vec<Member>,
    observer: Option<&BatchObserver>,
) -> Vec<MemberAnswer> {
    let observe = |requests: usize| {
        if let Some(observe) = observer {
            observe(requests);
        }
    };
    // A client that disconnected while the batch gathered needs no answer.
    batch.retain(|m| !m.reply.is_closed());
    if batch.len() > 1 {
        let inputs: Vec<&[Tensor]> = batch.iter().map(|m| m.inputs.as_slice()).collect();
        let rows: Vec<usize> = batch.iter().map(|m| m.rows).collect();
        if let Some(shares) = run_stacked(model, session, &inputs, &rows) {
            observe(batch.len());
            return batch
                .into_iter()
                .zip(shares)
                .map(|(m, outputs)| (m.reply, Ok(outputs)))
                .collect();
        }
    }
    batch
        .into_iter()
        .map(|m| {
            // A lone run is a batch of one; a failed batched run is not
            // counted, as its members each run again here.
            observe(1);
            let inputs = m.inputs;
            let result = run_guarded(model, session, |s| s.run(inputs).map_err(EngineError::from));
            (m.reply, result)
        })
        .collect()
}

/// One run over the stacked inputs, cut into each request's outputs;
/// `None` when that cannot give each request exactly its own answer.
fn run_stacked(
    model: &Arc<dyn LoadedModel>,
    session: &mut Box<dyn Session>,
    inputs: &[&[Tensor]],
    rows: &[usize],
) -> Option<Vec<Vec<Tensor>>> {
    let stacked = (0..inputs[0].len())
        .map(|i| {
            let parts: Vec<&Tensor> = inputs.iter().map(|m| &m[i]).collect();
            Tensor::concat_rows(&parts)
        })
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let outputs = match run_guarded(model, session, |s| {
        s.run(stacked).map_err(EngineError::from)
    }) {
        Ok(outputs) => outputs,
        Err(e) => {
            tracing::debug!(error = %e, "batched run failed; running each request alone");
            return None;
        }
    };
    let mut shares: Vec<Vec<Tensor>> = rows.iter().map(|_| Vec::new()).collect();
    for output in &outputs {
        for (share, part) in shares.iter_mut().zip(output.split_rows(rows).ok()?) {
            share.push(part);
        }
    }
    Some(shares)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::{DType, TensorSpec};

    fn spec(shape: Option<Vec<Dim>>) -> Signature {
        let input = TensorSpec {
            name: "x".into(),
            dtype: DType::F32,
            shape,
        };
        Signature {
            inputs: vec![input.clone()],
            outputs: vec![input],
        }
    }

    #[test]
    fn only_a_free_first_dimension_batches() {
        assert!(check_batchable(&spec(Some(vec![Dim::Free(None), Dim::Fixed(3)]))).is_ok());
        let fixed = check_batchable(&spec(Some(vec![Dim::Fixed(1), Dim::Fixed(3)]))).unwrap_err();
        assert_eq!(
            fixed,
            "input 'x' has shape [1, 3]; batching needs a free first dimension"
        );
        assert!(check_batchable(&spec(None)).is_err());
    }

    #[test]
    fn per_model_settings_win_and_size_one_is_off() {
        let on = BatchOptions {
            max_batch_size: 8,
            max_delay: Duration::ZERO,
            preferred_sizes: vec![],
        };
        let mut policy = BatchPolicy {
            all: Some(on.clone()),
            ..BatchPolicy::default()
        };
        policy.per_model.insert(
            "solo".into(),
            BatchOptions {
                max_batch_size: 1,
                ..on.clone()
            },
        );
        assert_eq!(policy.for_model("any"), Some(&on));
        assert_eq!(policy.for_model("solo"), None);
        assert_eq!(BatchPolicy::default().for_model("any"), None);
    }
}
