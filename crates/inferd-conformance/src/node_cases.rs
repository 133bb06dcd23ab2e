//! The ONNX operator conformance cases: each a one-node model with its
//! inputs and expected outputs, made by `scripts/onnx-cases.sh` from the
//! generators the `onnx` wheel ships (`tests/conformance/onnx_cases.py`).
//!
//! Each case runs on a thread of its own under a deadline and with panics
//! caught, so one engine bug (tract panics on some inputs) or one hang costs
//! one case, not the run.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use inferd_backend::{BackendError, Engine};
use inferd_tensor::{DType, Tensor};
use serde::Deserialize;

use crate::tensors::{compare, read_raw};

/// What one case gave on one engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    Pass,
    /// Ran, but an output differs beyond the case's tolerance.
    Mismatch(String),
    /// The engine refused to load the model (an operator, a version, an
    /// attribute it does not support).
    Unsupported(String),
    /// Loaded, but the run failed, panicked or passed the deadline.
    Error(String),
    /// The case's values cannot travel as tensors inferd serves (strings,
    /// float16, sequences, optionals).
    NotTested(String),
}

impl CaseOutcome {
    /// The column the outcome is counted in.
    pub fn kind(&self) -> &'static str {
        match self {
            CaseOutcome::Pass => "pass",
            CaseOutcome::Mismatch(_) => "mismatch",
            CaseOutcome::Unsupported(_) => "unsupported",
            CaseOutcome::Error(_) => "error",
            CaseOutcome::NotTested(_) => "not tested",
        }
    }

    /// Why, for every outcome but a pass.
    pub fn detail(&self) -> &str {
        match self {
            CaseOutcome::Pass => "",
            CaseOutcome::Mismatch(s)
            | CaseOutcome::Unsupported(s)
            | CaseOutcome::Error(s)
            | CaseOutcome::NotTested(s) => s,
        }
    }
}

#[derive(Deserialize)]
struct CaseFile {
    rtol: f64,
    atol: f64,
    #[serde(default)]
    skip: Option<String>,
    #[serde(default)]
    inputs: Vec<TensorFile>,
    #[serde(default)]
    outputs: Vec<TensorFile>,
}

#[derive(Deserialize)]
struct TensorFile {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    file: String,
}

/// The case folders under `root`, sorted by name.
pub fn cases(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the cases in {} ({e}); scripts/onnx-cases.sh makes them",
                root.display()
            )
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    found.sort();
    Ok(found)
}

/// Runs the case in `folder` on `engine`, giving up after `deadline`.
pub fn run(engine: &'static dyn Engine, folder: &Path, deadline: Duration) -> CaseOutcome {
    let (send, receive) = mpsc::channel();
    let folder = folder.to_owned();
    let spawned = std::thread::Builder::new()
        .name("conformance-case".to_owned())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_here(engine, &folder)
            }))
            .unwrap_or_else(|panic| {
                CaseOutcome::Error(format!("panicked: {}", panic_text(&panic)))
            });
            let _ = send.send(outcome);
        });
    if let Err(e) = spawned {
        return CaseOutcome::Error(format!("cannot start a thread: {e}"));
    }
    // A case past its deadline keeps its thread; the run goes on without it.
    receive
        .recv_timeout(deadline)
        .unwrap_or_else(|_| CaseOutcome::Error(format!("no answer within {deadline:?}")))
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a non-text panic".to_owned())
}

fn run_here(engine: &dyn Engine, folder: &Path) -> CaseOutcome {
    // The case's own folder adds nothing to a message but length.
    let prefix = format!("{}/", folder.display());
    match run_case(engine, folder) {
        CaseOutcome::Unsupported(s) => CaseOutcome::Unsupported(s.replace(&prefix, "")),
        CaseOutcome::Error(s) => CaseOutcome::Error(s.replace(&prefix, "")),
        other => other,
    }
}

fn run_case(engine: &dyn Engine, folder: &Path) -> CaseOutcome {
    let case: CaseFile = match std::fs::read_to_string(folder.join("case.json"))
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(case) => case,
        Err(e) => return CaseOutcome::Error(format!("case.json: {e}")),
    };
    if let Some(why) = case.skip {
        return CaseOutcome::NotTested(why);
    }
    let read = |files: &[TensorFile]| -> Result<Vec<Tensor>, String> {
        files
            .iter()
            .map(|t| read_raw(&folder.join(&t.file), t.dtype, &t.shape).map_err(|e| e.to_string()))
            .collect()
    };
    let (inputs, expected) = match read(&case.inputs).and_then(|i| Ok((i, read(&case.outputs)?))) {
        Ok(pair) => pair,
        Err(e) => return CaseOutcome::Error(e),
    };
    let loaded = match engine.load(&folder.join("model.onnx")) {
        Ok(loaded) => loaded,
        Err(e @ BackendError::UnsupportedType { .. }) => {
            return CaseOutcome::NotTested(e.to_string());
        }
        Err(e) => return CaseOutcome::Unsupported(e.to_string()),
    };
    let mut session = match loaded.new_session() {
        Ok(session) => session,
        Err(e) => return CaseOutcome::Unsupported(e.to_string()),
    };
    let actual = match session.run(inputs) {
        Ok(actual) => actual,
        Err(e) => return CaseOutcome::Error(e.to_string()),
    };
    if actual.len() != expected.len() {
        return CaseOutcome::Mismatch(format!(
            "{} outputs instead of {}",
            actual.len(),
            expected.len()
        ));
    }
    for ((got, want), spec) in actual.iter().zip(&expected).zip(&case.outputs) {
        if let Err(e) = compare(got, want, case.rtol, case.atol) {
            return CaseOutcome::Mismatch(format!("output '{}': {e}", spec.name));
        }
    }
    CaseOutcome::Pass
}
