//! Plans fixed to one batch size, for small tract models.
//!
//! A plan whose batch dimension is free binds that symbol on every run
//! (through a hashed map, with a guess of the scenario) and works each
//! node's shapes out from it. For a model that runs in a microsecond or two
//! that is a third of the run: ridge at 2 rows took 2.3 µs on the free plan
//! and 1.7 µs on one optimised with the 2 fixed. So a small model whose
//! inputs share one free dimension gets, for each batch size it is called
//! with (the first [`MAX_SIZES`] of them), a plan made with that size fixed.
//!
//! The plan is made on a thread of its own the first time a size (up to
//! [`MAX_FIXED_ROWS`]) is seen;
//! that run, and any until the plan is ready, use the free plan, so no
//! request waits for an optimisation (milliseconds) and start-up does not
//! pay for sizes nobody asks for. Only small models: a fixed plan holds its
//! own packed copy of the weights, and the saving is a fixed amount a run,
//! which matters only where runs are short.
//!
//! A fixed plan must answer exactly what the free one does, or an answer
//! would depend on which plan was ready (and a batched answer could differ
//! from the lone one). Knowing the size, tract may pick another matrix
//! kernel, one that sums in another order: on a CPU with AVX-512 the plan
//! fixed to 5 rows of diabetes-ridge differed from the free plan in the
//! last bit. So a plan is used only once it has answered [`PROBES`] probes
//! (varied inputs of its size) to the bit as the free plan does; one that
//! differs, or fails, leaves its size on the free plan. One probe was not
//! enough: on that CPU it missed ridge's differences at 1 to 3 rows, which
//! 64 probes and 2,000 found alike (sizes 1 to 30 differ there, 31 and up
//! agree).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;

use crate::tract_tensors::{Plan, run_on};

/// The most batch sizes one model gets fixed plans for; other sizes run on
/// the free plan.
pub(crate) const MAX_SIZES: usize = 8;

/// The most rows a plan is fixed to. The saving is a fixed amount a run,
/// lost in the run of a large batch; and checking a plan runs [`PROBES`]
/// probes of its size on both plans: for a request of a million rows,
/// seconds of CPU and hundreds of megabytes after its answer, for nothing.
pub(crate) const MAX_FIXED_ROWS: usize = 256;

/// How many probes a fixed plan must answer as the free plan does.
pub(crate) const PROBES: u64 = 64;

/// The most weight bytes a model may hold to get fixed plans: each plan
/// copies them, and a model this size runs long enough (tens of µs and
/// more) that the per-run saving is lost in it.
pub(crate) const MAX_WEIGHT_BYTES: usize = 1 << 20;

/// A free dimension of the inputs: its symbol, and where it sits in them:
/// (input, axis).
pub(crate) struct FreeDim {
    pub(crate) symbol: Symbol,
    pub(crate) places: Vec<(usize, usize)>,
}

/// One model's fixed plans, shared by its sessions.
pub(crate) struct FixedSizes {
    /// Decluttered, its batch symbol still free: what each plan is made from.
    model: TypedModel,
    /// The batch dimension.
    batch: FreeDim,
    /// The free plan, which every fixed plan must agree with.
    free: Plan,
    /// The model's inputs and outputs, for probes.
    signature: Signature,
    made: Mutex<Made>,
    /// How many plans `made` holds, read without the lock.
    ready: AtomicUsize,
}

#[derive(Default)]
struct Made {
    /// Every size asked for, made or not (a size whose plan failed is not
    /// tried again).
    asked: Vec<usize>,
    plans: Vec<(usize, Plan)>,
    /// Sizes whose plan failed or did not answer as the free plan: they
    /// stay on the free plan.
    refused: Vec<usize>,
}

impl FixedSizes {
    /// Whether fixed plans pay for `model`: not with weights over
    /// [`MAX_WEIGHT_BYTES`], nor without a place for the symbol.
    pub(crate) fn pay_for(model: &TypedModel, batch: &FreeDim) -> bool {
        !batch.places.is_empty() && weight_bytes(model) <= MAX_WEIGHT_BYTES
    }

    /// Plans fixed to sizes of `batch` for `model` (decluttered), each to
    /// agree with `free`.
    pub(crate) fn new(
        model: TypedModel,
        batch: FreeDim,
        free: Plan,
        signature: &Signature,
    ) -> Arc<FixedSizes> {
        Arc::new(FixedSizes {
            model,
            batch,
            free,
            signature: signature.clone(),
            made: Mutex::new(Made::default()),
            ready: AtomicUsize::new(0),
        })
    }

    /// The batch size of `inputs`: the length of every axis the symbol
    /// sits on, when they agree (when they do not, the free plan runs and
    /// says what is wrong).
    fn size_of(&self, inputs: &[Tensor]) -> Option<usize> {
        let mut sizes = self
            .batch
            .places
            .iter()
            .map(|&(input, axis)| inputs.get(input)?.shape().get(axis).copied());
        let first = sizes.next()??;
        sizes.all(|size| size == Some(first)).then_some(first)
    }

    /// Has a plan for `size` made in the background, once. `false` when no
    /// more sizes will be taken.
    fn ask(self: &Arc<FixedSizes>, size: usize) -> bool {
        let mut made = self.lock();
        if made.asked.contains(&size) {
            return true;
        }
        if made.asked.len() >= MAX_SIZES {
            return false;
        }
        made.asked.push(size);
        let sizes = Arc::clone(self);
        // A failed spawn or a failed plan leaves the size on the free plan,
        // which serves it as well, only slower.
        let _ = std::thread::Builder::new()
            .name("tract-fix-size".to_owned())
            .spawn(move || {
                let plan = sizes.make(size).ok().filter(|p| sizes.agrees(p, size));
                let mut made = sizes.lock();
                match plan {
                    Some(plan) => {
                        made.plans.push((size, plan));
                        sizes.ready.store(made.plans.len(), Ordering::Release);
                    }
                    None => {
                        tracing::debug!(
                            rows = size,
                            "no plan fixed to this batch size: it failed or did not answer \
                             to the bit as the free plan; the free plan serves it"
                        );
                        made.refused.push(size);
                    }
                }
            });
        made.asked.len() < MAX_SIZES
    }

    /// The model optimised with its batch symbol set to `size`.
    pub(crate) fn make(&self, size: usize) -> TractResult<Plan> {
        let size = i64::try_from(size)?;
        let values = HashMap::from([(self.batch.symbol.clone(), TDim::from(size))]);
        self.model
            .set_symbols(&values)?
            .into_optimized()?
            .into_runnable()
    }

    /// Whether `plan` answers [`PROBES`] probes of `size` rows to the bit
    /// as the free plan does (false when either fails to run one).
    pub(crate) fn agrees(&self, plan: &Plan, size: usize) -> bool {
        let answers = || -> TractResult<bool> {
            let mut fixed = TypedSimpleState::new(plan)?;
            let mut free = TypedSimpleState::new(&self.free)?;
            for seed in 0..PROBES {
                let Some(inputs) = probe(&self.signature, size, seed) else {
                    return Ok(false);
                };
                let outputs = &self.signature.outputs;
                let fixed = run_on(&mut fixed, inputs.clone(), outputs)?;
                let free = run_on(&mut free, inputs, outputs)?;
                if fixed.len() != free.len()
                    || !fixed.iter().zip(&free).all(|(a, b)| same_bits(a, b))
                {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        answers().unwrap_or(false)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Made> {
        // Nothing is left half-done under the lock: a poisoned one is sound.
        self.made.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Inputs of `signature` with `size` for the free dimensions: floats
/// spread over a few orders of magnitude and both signs (so that summing
/// them in another order shows in the last bit), integers 0 and 1 (valid
/// indices for most models that take indices), booleans alternating.
/// `None` when an input's shape is not declared.
fn probe(signature: &Signature, size: usize, seed: u64) -> Option<Vec<Tensor>> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    signature
        .inputs
        .iter()
        .map(|spec| {
            let shape: Vec<usize> = (spec.shape.as_ref()?.iter())
                .map(|dim| match dim {
                    Dim::Fixed(n) => *n,
                    Dim::Free(_) => size,
                })
                .collect();
            let count = shape.iter().product::<usize>();
            let mut float = || {
                let mantissa = (next() % 2001) as f64 / 1000.0 - 1.0;
                mantissa * [0.01, 1.0, 37.0][(next() % 3) as usize]
            };
            let data = match spec.dtype {
                DType::F32 => TensorData::F32((0..count).map(|_| float() as f32).collect()),
                DType::F64 => TensorData::F64((0..count).map(|_| float()).collect()),
                DType::Bool => TensorData::Bool((0..count).map(|i| i % 2 == 0).collect()),
                integer => zeros_and_ones(integer, count),
            };
            Tensor::new(shape, data).ok()
        })
        .collect()
}

/// `count` integers of `dtype`, every third one 1, the others 0.
fn zeros_and_ones(dtype: DType, count: usize) -> TensorData {
    let bit = |i: usize| u8::from(i % 3 == 1);
    let values = (0..count).map(bit);
    match dtype {
        DType::I8 => TensorData::I8(values.map(|v| v as i8).collect()),
        DType::I16 => TensorData::I16(values.map(i16::from).collect()),
        DType::I32 => TensorData::I32(values.map(i32::from).collect()),
        DType::I64 => TensorData::I64(values.map(i64::from).collect()),
        DType::U8 => TensorData::U8(values.collect()),
        DType::U16 => TensorData::U16(values.map(u16::from).collect()),
        DType::U32 => TensorData::U32(values.map(u32::from).collect()),
        DType::U64 => TensorData::U64(values.map(u64::from).collect()),
        DType::F32 | DType::F64 | DType::Bool => unreachable!("not an integer type"),
    }
}

/// The same shape and the same elements, floats compared by their bits.
fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    a.shape() == b.shape()
        && match (a.data(), b.data()) {
            (TensorData::F32(x), TensorData::F32(y)) => x
                .iter()
                .map(|v| v.to_bits())
                .eq(y.iter().map(|v| v.to_bits())),
            (TensorData::F64(x), TensorData::F64(y)) => x
                .iter()
                .map(|v| v.to_bits())
                .eq(y.iter().map(|v| v.to_bits())),
            (x, y) => x == y,
        }
}

/// What the model's constants hold, in bytes.
fn weight_bytes(model: &TypedModel) -> usize {
    model
        .nodes()
        .iter()
        .filter_map(|node| node.op_as::<Const>())
        .map(|konst| konst.val().len() * konst.val().datum_type().size_of())
        .sum()
}

/// One session's states on the fixed plans of its model.
pub(crate) struct FixedStates {
    sizes: Arc<FixedSizes>,
    states: Vec<(usize, TypedSimpleState)>,
    /// How many of the shared plans `states` has looked at.
    taken: usize,
    /// Sizes this session has asked for: the lock is taken once per size.
    asked: Vec<usize>,
    /// No more sizes will be made.
    full: bool,
}

impl FixedStates {
    pub(crate) fn new(sizes: Arc<FixedSizes>) -> FixedStates {
        FixedStates {
            sizes,
            states: Vec::new(),
            taken: 0,
            asked: Vec::new(),
            full: false,
        }
    }

    /// The state to run `inputs` on, when a plan fixed to their batch size
    /// is ready; `None` runs them on the free plan.
    pub(crate) fn state_for(&mut self, inputs: &[Tensor]) -> Option<&mut TypedSimpleState> {
        let size = self
            .sizes
            .size_of(inputs)
            .filter(|&size| size <= MAX_FIXED_ROWS)?;
        let found = match self.find(size) {
            Some(at) => Some(at),
            None if self.sizes.ready.load(Ordering::Acquire) > self.taken => {
                self.take_ready();
                self.find(size)
            }
            None => None,
        };
        if found.is_none() && !self.full && !self.asked.contains(&size) {
            self.asked.push(size);
            self.full = !self.sizes.ask(size);
        }
        Some(&mut self.states[found?].1)
    }

    fn find(&self, size: usize) -> Option<usize> {
        self.states.iter().position(|(fixed, _)| *fixed == size)
    }

    /// States on the plans made since the last look.
    fn take_ready(&mut self) {
        let made = self.sizes.lock();
        for (size, plan) in &made.plans[self.taken..] {
            if let Ok(state) = TypedSimpleState::new(plan) {
                self.states.push((*size, state));
            }
        }
        self.taken = made.plans.len();
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use inferd_tensor::{DType, Dim, Tensor, TensorData};

    use super::*;
    use crate::tract_engine::{TractModel, load_tract};
    use crate::tract_tensors::{from_tract, to_tract};

    fn load(name: &str) -> TractModel {
        let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .join(name)
            .join("1/files/model.onnx");
        load_tract(&path).unwrap()
    }

    /// Inputs of `model` with `size` for the free dimension, varied values.
    fn inputs(model: &TractModel, size: usize) -> Vec<Tensor> {
        use crate::LoadedModel;
        model
            .signature()
            .inputs
            .iter()
            .map(|spec| {
                let shape: Vec<usize> = (spec.shape.as_ref().unwrap().iter())
                    .map(|dim| match dim {
                        Dim::Fixed(n) => *n,
                        Dim::Free(_) => size,
                    })
                    .collect();
                let count = shape.iter().product::<usize>();
                let data = match spec.dtype {
                    DType::F32 => {
                        TensorData::F32((0..count).map(|i| (i * 7 % 13) as f32 * 0.37).collect())
                    }
                    DType::I64 => TensorData::I64((0..count).map(|i| (i % 4) as i64).collect()),
                    other => panic!("no inputs of {other:?} here"),
                };
                Tensor::new(shape, data).unwrap()
            })
            .collect()
    }

    fn run(state: &mut TypedSimpleState, inputs: Vec<Tensor>) -> Vec<Tensor> {
        let inputs = inputs.into_iter().map(|t| to_tract(t).unwrap()).collect();
        let outputs = state.run(inputs).unwrap();
        outputs
            .iter()
            .map(|value| {
                let dtype = match value.datum_type() {
                    DatumType::F32 => DType::F32,
                    DatumType::I64 => DType::I64,
                    other => panic!("no outputs of {other:?} here"),
                };
                from_tract(value, dtype).unwrap()
            })
            .collect()
    }

    /// Floats compared by their bits: a fixed plan must answer exactly what
    /// the free one does, or a request's answer would depend on which was
    /// ready.
    fn bits(tensors: &[Tensor]) -> Vec<(Vec<usize>, Vec<u64>)> {
        tensors
            .iter()
            .map(|t| {
                let bits = match t.data() {
                    TensorData::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
                    TensorData::I64(v) => v.iter().map(|x| *x as u64).collect(),
                    other => panic!("{:?}", other.dtype()),
                };
                (t.shape().to_vec(), bits)
            })
            .collect()
    }

    /// The first size up to 8 whose fixed plan answers as the free plan
    /// (which sizes do depends on the CPU's kernels).
    fn agreeing_size(fixed: &FixedSizes) -> Option<usize> {
        (1..=8).find(|&size| fixed.make(size).is_ok_and(|plan| fixed.agrees(&plan, size)))
    }

    #[test]
    fn a_plan_that_agrees_on_the_probe_agrees_on_other_inputs() {
        for name in ["diabetes-ridge", "digits-classifier", "onehot-4"] {
            let model = load(name);
            let fixed = model.fixed.as_ref().unwrap_or_else(|| panic!("{name}"));
            let mut free = TypedSimpleState::new(&model.plan).unwrap();
            let mut agreed = 0;
            for size in [1, 2, 5, 33] {
                let plan = fixed.make(size).unwrap();
                if !fixed.agrees(&plan, size) {
                    continue;
                }
                agreed += 1;
                let mut state = TypedSimpleState::new(&plan).unwrap();
                assert_eq!(
                    bits(&run(&mut state, inputs(&model, size))),
                    bits(&run(&mut free, inputs(&model, size))),
                    "{name} at {size}"
                );
            }
            // Integer arithmetic is exact whatever the kernel.
            if name == "onehot-4" {
                assert_eq!(agreed, 4, "{name}");
            }
        }
    }

    #[test]
    fn a_plan_for_other_inputs_does_not_agree() {
        let model = load("diabetes-ridge");
        let fixed = model.fixed.as_ref().unwrap();
        // Fixed to 7 rows, it cannot run a probe of 3.
        assert!(!fixed.agrees(&fixed.make(7).unwrap(), 3));
        assert!(
            fixed.agrees(&model.plan, 3),
            "the free plan agrees with itself"
        );
    }

    #[test]
    fn a_plan_that_does_not_agree_is_never_used() {
        let model = load("diabetes-ridge");
        let fixed = model.fixed.as_ref().unwrap();
        // A "free plan" fixed to 7 rows: no plan for 3 rows agrees with it.
        let batch = FreeDim {
            symbol: fixed.batch.symbol.clone(),
            places: fixed.batch.places.clone(),
        };
        let other = fixed.make(7).unwrap();
        let sizes = FixedSizes::new(fixed.model.clone(), batch, other, &fixed.signature);
        let mut states = FixedStates::new(sizes.clone());
        assert!(states.state_for(&inputs(&model, 3)).is_none());
        let start = Instant::now();
        while !sizes.lock().refused.contains(&3) {
            assert!(start.elapsed() < Duration::from_secs(30), "never refused");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(states.state_for(&inputs(&model, 3)).is_none());
        assert_eq!(sizes.ready.load(Ordering::Acquire), 0);
    }

    /// Waits (a bounded time) until `fixed` holds `count` plans.
    fn wait_for(fixed: &FixedSizes, count: usize) {
        let start = Instant::now();
        while fixed.ready.load(Ordering::Acquire) < count {
            assert!(start.elapsed() < Duration::from_secs(30), "no plans made");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    // The session tests take onehot-4: integer arithmetic, so its fixed
    // plans agree with the free one on any CPU.
    #[test]
    fn a_session_moves_to_a_fixed_plan_once_it_is_made() {
        let model = load("onehot-4");
        let fixed = model.fixed.clone().unwrap();
        let size = agreeing_size(&fixed).expect("some size agrees");
        let mut states = FixedStates::new(fixed.clone());
        // First sight: the free plan serves it while the plan is made.
        assert!(states.state_for(&inputs(&model, size)).is_none());
        wait_for(&fixed, 1);
        let state = states
            .state_for(&inputs(&model, size))
            .expect("the fixed plan");
        let answer = bits(&run(state, inputs(&model, size)));
        let mut free = TypedSimpleState::new(&model.plan).unwrap();
        assert_eq!(answer, bits(&run(&mut free, inputs(&model, size))));
        // Inputs the plan cannot take run on the free plan.
        assert!(states.state_for(&[]).is_none());
    }

    #[test]
    fn a_large_batch_never_gets_a_plan_of_its_own() {
        let model = load("onehot-4");
        let fixed = model.fixed.clone().unwrap();
        let mut states = FixedStates::new(fixed.clone());
        assert!(
            states
                .state_for(&inputs(&model, MAX_FIXED_ROWS + 1))
                .is_none()
        );
        assert!(fixed.lock().asked.is_empty(), "no plan asked for");
        assert!(!states.full);
    }

    #[test]
    fn only_so_many_sizes_get_plans() {
        let model = load("onehot-4");
        let fixed = model.fixed.clone().unwrap();
        let mut states = FixedStates::new(fixed.clone());
        for size in 1..=MAX_SIZES + 3 {
            states.state_for(&inputs(&model, size));
        }
        assert!(states.full);
        // Every size asked for ends made or refused (which, the CPU decides).
        let start = Instant::now();
        while {
            let made = fixed.lock();
            made.plans.len() + made.refused.len() < MAX_SIZES
        } {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "plans still pending"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let made: Vec<usize> = fixed.lock().plans.iter().map(|(size, _)| *size).collect();
        assert_eq!(made.len(), MAX_SIZES, "every size got a plan");
        for size in 1..=MAX_SIZES {
            let fixed_plan = states.state_for(&inputs(&model, size)).is_some();
            assert_eq!(fixed_plan, made.contains(&size), "{size}");
        }
        assert!(states.state_for(&inputs(&model, MAX_SIZES + 1)).is_none());
        assert_eq!(fixed.lock().asked.len(), MAX_SIZES);
        // A second session takes the plans made, and asks for nothing.
        let mut other = FixedStates::new(fixed.clone());
        assert!(other.state_for(&inputs(&model, made[0])).is_some());
        assert!(other.state_for(&inputs(&model, 99)).is_none());
        assert_eq!(fixed.lock().asked.len(), MAX_SIZES);
    }

    #[test]
    fn large_models_keep_the_free_plan_only() {
        // 784 x 512 weights, 1.6 MB: over the limit.
        assert!(load("mlp-784").fixed.is_none());
    }
}
