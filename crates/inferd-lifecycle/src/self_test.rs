//! A new version's self-test, which is also its warm-up: before the
//! version takes traffic, every worker's session runs the sample request
//! (the inference config's input sample, else zeros of each input's
//! smallest shape), and the answer must be what the contract promises
//! (the signature's outputs; the output sample's shape when there is one).
//! A session's first run pays for lazy set-up (plans, buffers), so after
//! it the first real request runs as fast as the next. When the version's
//! registered files carry the outputs recorded when it was made
//! (`expected.json` beside the model: `{"cases": [{"data": ..., "outputs":
//! {name: values}}]}`), its first case must also give them, within
//! [`RTOL`] and [`ATOL`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use inferd_backend::{LoadedModel, Session};
use inferd_config::ModelEntry;
use inferd_schema::ModelSchema;
use inferd_tensor::Tensor;
use serde_json::Value;

/// The largest sample request a self-test sends, in values.
const SAMPLE_VALUES: usize = 1 << 20;

/// How close a recorded output must be: relative, and absolute.
pub const RTOL: f64 = 1e-4;
pub const ATOL: f64 = 1e-5;

/// The check each of `model`'s sessions must pass, with `entry`'s samples
/// (none: from the signature) and the outputs recorded in `files` (the
/// version's registered folder, if it is one); an error when no sample
/// request can be made, or the samples do not fit this version.
pub(crate) fn check(
    model: &Arc<dyn LoadedModel>,
    entry: Option<&ModelEntry>,
    files: &Path,
) -> Result<impl FnMut(&mut dyn Session) -> Result<(), String> + use<>, String> {
    let signature = model.signature().clone();
    let schema = ModelSchema::for_model(entry, signature)
        .map_err(|e| format!("the inference config's {e} for this version"))?;
    let inputs = schema.sample_inputs(SAMPLE_VALUES).ok_or_else(|| {
        format!(
            "no sample request of at most {SAMPLE_VALUES} values can be made for inputs {}",
            describe(&schema)
        )
    })?;
    // The recorded case is raw rows and outputs by name: the signature's
    // own contract reads and writes it, whatever the entry's layouts.
    let plain = ModelSchema::from_signature(model.signature().clone());
    let recorded = recorded(files, &plain)?;
    Ok(move |session: &mut dyn Session| {
        let outputs = run(session, &inputs, "the sample request")?;
        schema
            .check_answer(&outputs)
            .map_err(|reason| format!("the answer to the sample request is wrong: {reason}"))?;
        if let Some((inputs, expected)) = &recorded {
            let outputs = run(session, inputs, "the recorded request")?;
            let answer: Value = serde_json::from_slice(
                &plain
                    .encode(&outputs)
                    .map_err(|e| format!("the recorded answer: {e}"))?,
            )
            .map_err(|e| format!("the recorded answer: {e}"))?;
            compare(&plain, &answer, expected)?;
        }
        Ok(())
    })
}

fn run(session: &mut dyn Session, inputs: &[Tensor], what: &str) -> Result<Vec<Tensor>, String> {
    match catch_unwind(AssertUnwindSafe(|| session.run(inputs.to_vec()))) {
        Ok(Ok(outputs)) => Ok(outputs),
        Ok(Err(e)) => Err(format!("{what} failed: {e}")),
        Err(_) => Err(format!("the engine panicked on {what}")),
    }
}

/// The first recorded case in `files/expected.json`: its inputs (decoded
/// as `/score` decodes `data`) and outputs by name; none without the file.
fn recorded(files: &Path, schema: &ModelSchema) -> Result<Option<(Vec<Tensor>, Value)>, String> {
    let path = files.join("expected.json");
    let Ok(text) = std::fs::read(&path) else {
        return Ok(None);
    };
    let bad = |why: String| format!("{}: {why}", path.display());
    let recorded: Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    let case = recorded["cases"]
        .get(0)
        .ok_or_else(|| bad("no case recorded".into()))?;
    let inputs = schema
        .decode(&case["data"])
        .map_err(|e| bad(format!("the recorded data does not fit the model: {e}")))?;
    Ok(Some((inputs, case["outputs"].clone())))
}

/// The answer's outputs against the recorded ones (`{name: values}`).
fn compare(schema: &ModelSchema, answer: &Value, expected: &Value) -> Result<(), String> {
    let outputs = &schema.signature.outputs;
    for spec in outputs {
        let want = expected
            .get(&spec.name)
            .ok_or_else(|| format!("the recorded outputs have no '{}'", spec.name))?;
        // One output is answered as its values; several, by name.
        let got = if outputs.len() == 1 {
            answer
        } else {
            answer.get(&spec.name).unwrap_or(&Value::Null)
        };
        let (mut want_values, mut got_values) = (Vec::new(), Vec::new());
        flatten(want, &mut want_values);
        flatten(got, &mut got_values);
        if want_values.len() != got_values.len() {
            return Err(format!(
                "output '{}' has {} values, {} were recorded",
                spec.name,
                got_values.len(),
                want_values.len()
            ));
        }
        if let Some((i, (g, w))) = got_values
            .iter()
            .zip(&want_values)
            .enumerate()
            .find(|(_, (g, w))| (*g - *w).abs() > ATOL + RTOL * w.abs())
        {
            return Err(format!(
                "output '{}' value {i} is {g}, {w} was recorded",
                spec.name
            ));
        }
    }
    Ok(())
}

fn flatten(value: &Value, out: &mut Vec<f64>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => out.push(f64::from(u8::from(*b))),
        _ => out.push(f64::NAN),
    }
}

fn describe(schema: &ModelSchema) -> String {
    let inputs: Vec<String> = schema
        .signature
        .inputs
        .iter()
        .map(|i| format!("{} {}", i.name, i.shape_text()))
        .collect();
    inputs.join(", ")
}
