//! The bundled models (`models/`) against the outputs ONNX Runtime recorded
//! when they were made (`expected.json`: one row and a batch of 7), at the
//! batch sizes the suite asks for: a batch of 64 is the 7 rows repeated,
//! which also proves the batch dimension is free in the engine.

use std::path::{Path, PathBuf};

use inferd_backend::Engine;
use inferd_tensor::{Tensor, TensorData};
use serde::Deserialize;

use crate::tensors::{compare, from_json};

/// Relative and absolute tolerance against the recorded outputs.
pub const RTOL: f64 = 1e-4;
pub const ATOL: f64 = 1e-5;

/// The batch sizes every engine is checked at.
pub const BATCH_SIZES: [usize; 3] = [1, 7, 64];

#[derive(Deserialize)]
struct Expected {
    cases: Vec<ExpectedCase>,
}

#[derive(Deserialize)]
struct ExpectedCase {
    batch: usize,
    data: serde_json::Value,
    outputs: serde_json::Map<String, serde_json::Value>,
}

/// A bundled model: its name and the folder holding `model.onnx` and
/// `expected.json`.
pub struct BundledModel {
    pub name: String,
    pub files: PathBuf,
}

/// Every model of the registry at `root` (version 1, as bundled).
pub fn models(root: &Path) -> anyhow::Result<Vec<BundledModel>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let files = entry.path().join("1/files");
        if files.join("expected.json").is_file() {
            found.push(BundledModel {
                name: entry.file_name().to_string_lossy().into_owned(),
                files,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The recorded input rows of `model` (its widest case), as `dtype`.
pub fn recorded_input(model: &BundledModel, dtype: inferd_tensor::DType) -> anyhow::Result<Tensor> {
    let text = std::fs::read_to_string(model.files.join("expected.json"))?;
    let expected: Expected = serde_json::from_str(&text)?;
    let widest = expected
        .cases
        .iter()
        .max_by_key(|c| c.batch)
        .ok_or_else(|| anyhow::anyhow!("expected.json has no cases"))?;
    from_json(&widest.data, dtype)
}

/// Runs `model` on `engine` at each of `batches` and compares every output;
/// the error lists each batch size that failed and why.
pub fn check(engine: &dyn Engine, model: &BundledModel, batches: &[usize]) -> Result<(), String> {
    let loaded = engine
        .load(&model.files.join("model.onnx"))
        .map_err(|e| e.to_string())?;
    let signature = loaded.signature().clone();
    let text = std::fs::read_to_string(model.files.join("expected.json"))
        .map_err(|e| format!("expected.json: {e}"))?;
    let expected: Expected =
        serde_json::from_str(&text).map_err(|e| format!("expected.json: {e}"))?;
    let widest = expected
        .cases
        .iter()
        .max_by_key(|c| c.batch)
        .ok_or("expected.json has no cases")?;
    let input_spec = signature.inputs.first().ok_or("the model has no input")?;
    let input = from_json(&widest.data, input_spec.dtype).map_err(|e| e.to_string())?;
    let outputs: Vec<Tensor> = signature
        .outputs
        .iter()
        .map(|spec| {
            let value = widest
                .outputs
                .get(&spec.name)
                .ok_or_else(|| format!("expected.json has no output '{}'", spec.name))?;
            from_json(value, spec.dtype).map_err(|e| e.to_string())
        })
        .collect::<Result<_, String>>()?;

    let mut session = loaded.new_session().map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for &batch in batches {
        let run = session
            .run(vec![rows(&input, batch)])
            .map_err(|e| e.to_string())
            .and_then(|actual| {
                if actual.len() != outputs.len() {
                    return Err(format!(
                        "{} outputs instead of {}",
                        actual.len(),
                        outputs.len()
                    ));
                }
                for ((got, want), spec) in actual.iter().zip(&outputs).zip(&signature.outputs) {
                    compare(got, &rows(want, batch), RTOL, ATOL)
                        .map_err(|e| format!("output '{}': {e}", spec.name))?;
                }
                Ok(())
            });
        if let Err(e) = run {
            failures.push(format!("batch {batch}: {e}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// The first `n` rows of `tensor`'s rows repeated cyclically.
pub fn rows(tensor: &Tensor, n: usize) -> Tensor {
    let have = tensor.shape()[0];
    let width: usize = tensor.shape()[1..].iter().product();
    let mut shape = tensor.shape().to_vec();
    shape[0] = n;
    fn take<T: Copy>(v: &[T], have: usize, width: usize, n: usize) -> Vec<T> {
        (0..n)
            .flat_map(|row| {
                let at = (row % have) * width;
                v[at..at + width].iter().copied()
            })
            .collect()
    }
    let data = match tensor.data() {
        TensorData::F32(v) => TensorData::F32(take(v, have, width, n)),
        TensorData::F64(v) => TensorData::F64(take(v, have, width, n)),
        TensorData::I8(v) => TensorData::I8(take(v, have, width, n)),
        TensorData::I16(v) => TensorData::I16(take(v, have, width, n)),
        TensorData::I32(v) => TensorData::I32(take(v, have, width, n)),
        TensorData::I64(v) => TensorData::I64(take(v, have, width, n)),
        TensorData::U8(v) => TensorData::U8(take(v, have, width, n)),
        TensorData::U16(v) => TensorData::U16(take(v, have, width, n)),
        TensorData::U32(v) => TensorData::U32(take(v, have, width, n)),
        TensorData::U64(v) => TensorData::U64(take(v, have, width, n)),
        TensorData::Bool(v) => TensorData::Bool(take(v, have, width, n)),
    };
    Tensor::new(shape, data).expect("rows of the same width")
}
