//! The tract engine: pure Rust, CPU, no set-up. The default.
//!
//! A model is parsed once, its input facts are pinned to the declared
//! signature (free dimensions become tract symbols, so dynamic batches stay
//! dynamic), optimised once, and turned into a shared plan. Each worker holds
//! its own `SimpleState` on that plan so runs reuse scratch memory and take
//! no lock.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData, TensorSpec};
use tract_onnx::pb::GraphProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceFact;

use crate::onnx_signature::{read_model_proto, signature_of};
use crate::{BackendError, Engine, LoadedModel, Session};

type Plan = Arc<TypedRunnableModel>;

/// The tract engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct TractEngine;

impl Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, path: &Path) -> Result<Arc<dyn LoadedModel>, BackendError> {
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
        pin_input_facts(&mut model, &signature).map_err(|e| load_err(format!("{e:#}")))?;
        let plan = model
            .into_optimized()
            .and_then(|typed| typed.into_runnable())
            .map_err(|e| load_err(format!("{e:#}")))?;
        Ok(Arc::new(TractModel { signature, plan }))
    }
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
/// between inputs only when the model names it the same.
fn pin_input_facts(model: &mut InferenceModel, signature: &Signature) -> TractResult<()> {
    let mut symbols: HashMap<String, TDim> = HashMap::new();
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
                            symbols
                                .entry(name.clone())
                                .or_insert_with(|| model.symbols.sym(&name).into())
                                .clone()
                        }
                    })
                    .collect();
                InferenceFact::dt_shape(datum, shape)
            }
        };
        model.set_input_fact(index, fact)?;
    }
    Ok(())
}

struct TractModel {
    signature: Signature,
    plan: Plan,
}

impl LoadedModel for TractModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn new_session(&self) -> Result<Box<dyn Session>, BackendError> {
        let state =
            TypedSimpleState::new(&self.plan).map_err(|e| BackendError::Run(format!("{e:#}")))?;
        Ok(Box::new(TractSession {
            outputs: self.signature.outputs.clone(),
            state,
        }))
    }
}

struct TractSession {
    outputs: Vec<TensorSpec>,
    state: TypedSimpleState,
}

impl Session for TractSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let inputs = inputs
            .into_iter()
            .map(to_tract)
            .collect::<TractResult<TVec<TValue>>>()
            .map_err(|e| BackendError::Run(format!("{e:#}")))?;
        let outputs = self
            .state
            .run(inputs)
            .map_err(|e| BackendError::Run(format!("{e:#}")))?;
        outputs
            .iter()
            .zip(&self.outputs)
            .map(|(value, spec)| from_tract(value, spec.dtype))
            .collect::<TractResult<Vec<_>>>()
            .map_err(|e| BackendError::Run(format!("{e:#}")))
    }
}

fn datum_type(dtype: DType) -> DatumType {
    match dtype {
        DType::F32 => f32::datum_type(),
        DType::F64 => f64::datum_type(),
        DType::I8 => i8::datum_type(),
        DType::I16 => i16::datum_type(),
        DType::I32 => i32::datum_type(),
        DType::I64 => i64::datum_type(),
        DType::U8 => u8::datum_type(),
        DType::U16 => u16::datum_type(),
        DType::U32 => u32::datum_type(),
        DType::U64 => u64::datum_type(),
        DType::Bool => bool::datum_type(),
    }
}

/// The elements copied once into a tract tensor's aligned storage (tract
/// copies them either way). Going through an ndarray `ArrayD`, as before,
/// also worked out dynamic strides and layout on every run, which cost
/// more than the copy of a small input.
fn to_tract(tensor: Tensor) -> TractResult<TValue> {
    let (shape, data) = tensor.into_parts();
    let tensor = inferd_tensor::for_each_data!(&data, v => {
        tract_onnx::prelude::Tensor::from_shape(&shape, v)?
    });
    Ok(tensor.into_tvalue())
}

/// Copies a tract output into our tensor, cast to the declared type (tract
/// may compute shapes as `TDim` where the model says int64).
fn from_tract(value: &TValue, dtype: DType) -> TractResult<Tensor> {
    let tensor = value.cast_to_dt(datum_type(dtype))?;
    let shape = tensor.shape().to_vec();
    // A tract tensor's elements are contiguous in order: one slice copy,
    // not an ndarray walk that steps a dynamic index per element.
    fn collect<T: Datum + Copy>(t: &tract_onnx::prelude::Tensor) -> TractResult<Vec<T>> {
        Ok(t.try_as_plain_ram()?.as_slice::<T>()?.to_vec())
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(collect(&tensor)?),
        DType::F64 => TensorData::F64(collect(&tensor)?),
        DType::I8 => TensorData::I8(collect(&tensor)?),
        DType::I16 => TensorData::I16(collect(&tensor)?),
        DType::I32 => TensorData::I32(collect(&tensor)?),
        DType::I64 => TensorData::I64(collect(&tensor)?),
        DType::U8 => TensorData::U8(collect(&tensor)?),
        DType::U16 => TensorData::U16(collect(&tensor)?),
        DType::U32 => TensorData::U32(collect(&tensor)?),
        DType::U64 => TensorData::U64(collect(&tensor)?),
        DType::Bool => TensorData::Bool(collect(&tensor)?),
    };
    Ok(Tensor::new(shape, data)?)
}
