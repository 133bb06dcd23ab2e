//! The engines a conformance run covers, by name.

use std::path::{Path, PathBuf};

use inferd_backend::{Engine, TractEngine};
use inferd_ort::{Device, OrtEngine, OrtOptions};

/// An engine under test and the name its results are filed under.
pub struct NamedEngine {
    pub name: &'static str,
    pub engine: Box<dyn Engine>,
}

/// The repository root (this crate is `crates/inferd-conformance`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The ONNX Runtime library: `ORT_DYLIB_PATH` when set, else the newest one
/// `scripts/onnxruntime.sh` installed under `.cache/onnxruntime/`.
pub fn ort_library() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let cache = repo_root().join(".cache/onnxruntime");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&cache)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("cpu-"))
        .flat_map(|dir| std::fs::read_dir(dir.path()).into_iter().flatten())
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// tract and ONNX Runtime (CPU, one intra-op thread). ONNX Runtime is
/// required: a suite that silently drops an engine would pass for the wrong
/// reason.
pub fn all() -> anyhow::Result<Vec<NamedEngine>> {
    all_with(false)
}

/// [`all`], plus ONNX Runtime on CUDA device 0 when `cuda` (which then must
/// work: the library must be the CUDA build and a GPU present).
pub fn all_with(cuda: bool) -> anyhow::Result<Vec<NamedEngine>> {
    let library = ort_library().ok_or_else(|| {
        anyhow::anyhow!(
            "no ONNX Runtime library: set ORT_DYLIB_PATH, or run scripts/onnxruntime.sh once \
             (scripts/test.sh does)"
        )
    })?;
    let ort = OrtEngine::new(OrtOptions {
        library: Some(library.clone()),
        ..OrtOptions::default()
    })?;
    let mut engines = vec![
        NamedEngine {
            name: "tract",
            engine: Box::new(TractEngine),
        },
        NamedEngine {
            name: "onnxruntime",
            engine: Box::new(ort),
        },
    ];
    if cuda {
        let gpu = OrtEngine::new(OrtOptions {
            library: Some(library),
            device: Device::Cuda { device_id: 0 },
            ..OrtOptions::default()
        })?;
        engines.push(NamedEngine {
            name: "onnxruntime-cuda",
            engine: Box::new(gpu),
        });
    }
    Ok(engines)
}
