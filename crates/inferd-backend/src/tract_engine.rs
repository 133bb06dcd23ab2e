//! The tract engine: pure Rust, CPU, no set-up. The default.
//!
//! A model is parsed once, its input facts are pinned to the declared
//! signature (free dimensions become tract symbols, so dynamic batches stay
//! dynamic), optimised once, and turned into a shared plan. Each worker holds
//! its own `SimpleState` on that plan so runs reuse scratch memory and take
//! no lock. Small models also get plans fixed to the batch sizes they are
//! called with (see `tract_sizes`).
//!
//! A run's failures are sorted here, where tract's report is in hand: an
//! index input outside the range the graph states is refused before the
//! run as the request's fault (`index_ranges`: tract itself would panic),
//! and so are dimensions tract finds cannot broadcast (see [`run_error`]);
//! any other error tract returns is a server failure, its text for the log.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use inferd_tensor::{Dim, Signature, Tensor, TensorSpec};
use tract_onnx::pb::GraphProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceFact;

use crate::index_ranges::IndexRanges;
use crate::onnx_signature::{read_model_proto, signature_of};
use crate::tract_sizes::{FixedSizes, FixedStates, FreeDim};
use crate::tract_tensors::{Plan, datum_type, run_on};
use crate::{BackendError, Engine, LoadedModel, Session};

/// The tract engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct TractEngine;

impl Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, path: &Path) -> Result<Arc<dyn LoadedModel>, BackendError> {
        Ok(Arc::new(load_tract(path)?))
    }
}

/// Reads, checks and optimises the model at `path`.
pub(crate) fn load_tract(path: &Path) -> Result<TractModel, BackendError> {
    let load_err = |reason: String| BackendError::Load {
        path: path.to_owned(),
        reason,
    };
    let onnx = tract_onnx::onnx();
    let proto = read_model_proto(path)?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| load_err("the file has no graph".to_owned()))?;
    let signature = signature_of(graph, path)?;
    let ranges = Arc::new(IndexRanges::of(graph, &signature));
    // An operator tract lacks only fails at analysis, with a message about
    // types; name the operators instead, which is what the user can act on.
    let missing = missing_operators(&onnx, graph);
    if !missing.is_empty() {
        return Err(BackendError::UnsupportedOperators {
            path: path.to_owned(),
            engine: "tract",
            operators: missing,
        });
    }

    let dir = path.parent().and_then(Path::to_str);
    let parsed = onnx
        .parse(&proto, dir)
        .map_err(|e| load_err(format!("{e:#}")))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(load_err(format!(
            "unresolved graph inputs {:?}",
            parsed.unresolved_inputs
        )));
    }
    let mut model = parsed.model;
    let (plan, fixed) = pin_input_facts(&mut model, &signature)
        .and_then(|free| {
            let typed = model.into_typed()?.into_decluttered()?;
            // Only a small model whose inputs share one free dimension (the
            // batch) gets plans fixed to one size, made from a copy of the
            // decluttered model: no other model pays for the copy.
            let fixable = match <[_; 1]>::try_from(free) {
                Ok([batch]) if FixedSizes::pay_for(&typed, &batch) => Some((typed.clone(), batch)),
                _ => None,
            };
            let plan = typed.into_optimized()?.into_runnable()?;
            let fixed = fixable
                .map(|(model, batch)| FixedSizes::new(model, batch, plan.clone(), &signature));
            Ok((plan, fixed))
        })
        .map_err(|e| load_err(format!("{e:#}")))?;
    Ok(TractModel {
        signature,
        ranges,
        plan,
        fixed,
    })
}

/// The operator types in `graph` (and the graphs nested in its attributes,
/// such as `If` branches and `Loop` bodies) that tract has no builder for,
/// sorted, each once.
fn missing_operators(onnx: &tract_onnx::Onnx, graph: &GraphProto) -> Vec<String> {
    fn visit(onnx: &tract_onnx::Onnx, graph: &GraphProto, missing: &mut BTreeSet<String>) {
        for node in &graph.node {
            if !onnx.op_register.0.contains_key(&node.op_type) {
                missing.insert(node.op_type.clone());
            }
            for attribute in &node.attribute {
                for nested in attribute.g.iter().chain(&attribute.graphs) {
                    visit(onnx, nested, missing);
                }
            }
        }
    }
    let mut missing = BTreeSet::new();
    visit(onnx, graph, &mut missing);
    missing.into_iter().collect()
}

/// Declares each input's type and shape to tract. skl2onnx and others leave
/// the batch dimension unnamed; each free dimension becomes a symbol, shared
/// between inputs only when the model names it the same. Returns the free
/// dimensions.
fn pin_input_facts(model: &mut InferenceModel, signature: &Signature) -> TractResult<Vec<FreeDim>> {
    let mut symbols: Vec<(String, FreeDim)> = Vec::new();
    for (index, spec) in signature.inputs.iter().enumerate() {
        let datum = datum_type(spec.dtype);
        let fact = match &spec.shape {
            None => InferenceFact::dt(datum),
            Some(dims) => {
                let shape: Vec<TDim> = dims
                    .iter()
                    .enumerate()
                    .map(|(axis, dim)| match dim {
                        Dim::Fixed(n) => TDim::from(*n),
                        Dim::Free(name) => {
                            let name = name
                                .clone()
                                .unwrap_or_else(|| format!("{}_{axis}", spec.name));
                            let at = match symbols.iter().position(|(known, _)| *known == name) {
                                Some(at) => at,
                                None => {
                                    let symbol = model.symbols.sym(&name);
                                    let places = Vec::new();
                                    symbols.push((name, FreeDim { symbol, places }));
                                    symbols.len() - 1
                                }
                            };
                            let free = &mut symbols[at].1;
                            free.places.push((index, axis));
                            TDim::from(free.symbol.clone())
                        }
                    })
                    .collect();
                InferenceFact::dt_shape(datum, shape)
            }
        };
        model.set_input_fact(index, fact)?;
    }
    Ok(symbols.into_iter().map(|(_, free)| free).collect())
}

pub(crate) struct TractModel {
    signature: Signature,
    /// Checked before each run; shared by the sessions.
    ranges: Arc<IndexRanges>,
    /// Its batch dimension free: runs any size.
    pub(crate) plan: Plan,
    /// For small models with one free dimension.
    pub(crate) fixed: Option<Arc<FixedSizes>>,
}

impl LoadedModel for TractModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
        let state =
            TypedSimpleState::new(&self.plan).map_err(|e| BackendError::Run(format!("{e:#}")))?;
        Ok(Box::new(TractSession {
            inputs: self.signature.input_names(),
            outputs: self.signature.outputs.clone(),
            ranges: self.ranges.clone(),
            state,
            fixed: self.fixed.clone().map(FixedStates::new),
        }))
    }
}

struct TractSession {
    /// The input names, for a refusal.
    inputs: Vec<String>,
    outputs: Vec<TensorSpec>,
    ranges: Arc<IndexRanges>,
    /// On the free plan.
    state: TypedSimpleState,
    fixed: Option<FixedStates>,
}

impl Session for TractSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        self.ranges.check(&inputs)?;
        let state = match self.fixed.as_mut() {
            Some(fixed) => fixed.state_for(&inputs),
            None => None,
        }
        .unwrap_or(&mut self.state);
        run_on(state, inputs, &self.outputs).map_err(|e| run_error(&format!("{e:#}"), &self.inputs))
    }
}

/// A failed run, from tract's whole report `text`. The plan was made for
/// the model's declared shapes and runs with fixed weights, so when tract
/// finds at run time that two dimensions cannot broadcast (`Can not
/// broadcast 3 against 2`), the sizes came from the request: inputs whose
/// free dimensions disagree. That is refused as theirs (tract does not say
/// which input, so every input is named), in words written here. Anything
/// else is the engine's failure.
fn run_error(text: &str, inputs: &[String]) -> BackendError {
    let Some((_, rest)) = text.split_once("Can not broadcast ") else {
        return BackendError::Run(text.to_owned());
    };
    let number = |s: &str| s.parse::<u64>().ok();
    let sizes = rest
        .split_once(" against ")
        .and_then(|(a, b)| Some((number(a)?, number(b.split_whitespace().next()?)?)));
    let reason = match sizes {
        Some((a, b)) => format!(
            "the shapes do not fit the model: a dimension of {a} cannot broadcast against one of {b}"
        ),
        None => "the shapes do not fit the model: their dimensions cannot broadcast".to_owned(),
    };
    BackendError::Input {
        inputs: inputs.to_vec(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_that_cannot_broadcast_are_the_inputs_and_other_errors_the_engines() {
        let inputs = vec!["a".to_owned(), "b".to_owned()];
        let refused = run_error(
            "Evaluating #2 \"y\" Add: Can not broadcast 3 against 2",
            &inputs,
        );
        assert_eq!(
            refused.to_string(),
            "inputs 'a', 'b': the shapes do not fit the model: a dimension of 3 cannot broadcast against one of 2"
        );
        let failed = run_error("Evaluating #2 \"y\" MatMul: no kernel", &inputs);
        assert!(matches!(failed, BackendError::Run(ref t) if t.contains("no kernel")));
    }
}
