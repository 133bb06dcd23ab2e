//! `inferenceconfig.json`: how to score. The public keys of the contract
//! (`entryScript`, `runtime`, `sourceDirectory`, `enableGpu`, and the
//! image-build details, which are accepted and reported) and inferd's native,
//! declarative scoring entry: which models, their input and output samples,
//! the request field that holds the data, and how outputs become the answer.
//!
//! The entry is either inline (`models`) or a JSON file named by
//! `entryScript`, relative to `sourceDirectory` (itself relative to the
//! config file's folder). Sample files are found the same way. Every error
//! names the key, as `models[0].inputSample.kind`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::media::{InputDecoder, Postprocess};
use crate::versions::VersionPolicy;

/// What is wrong with an inference config, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum InferenceConfigError {
    #[error("cannot read inference config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("inference config {path}: {field}: {reason}")]
    Invalid {
        path: String,
        field: String,
        reason: String,
    },
}

/// The inference config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceConfig {
    /// A JSON file holding the scoring entry (`{"models": [...]}`). A Python
    /// script is refused: the native entry is declarative.
    pub entry_script: Option<String>,
    /// The engine for every model that does not name its own (default tract).
    pub runtime: Option<Runtime>,
    /// Folder holding the entry and the samples; relative to the config file.
    pub source_directory: Option<PathBuf>,
    /// Use a GPU, for every model that does not say (default false).
    pub enable_gpu: Option<bool>,
    /// Image-build details of the original; accepted and reported.
    pub cuda_version: Option<String>,
    pub base_image: Option<String>,
    pub base_image_registry: Option<Value>,
    pub conda_file: Option<String>,
    pub extra_docker_file_steps: Option<String>,
    /// The scoring entry inline (instead of `entryScript`).
    #[serde(default)]
    pub models: Vec<ModelEntry>,
}

/// The engine that runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// tract: pure Rust, CPU.
    #[default]
    Tract,
    /// ONNX Runtime: CPU, or CUDA with `enableGpu`.
    Onnxruntime,
}

/// The scoring entry file named by `entryScript`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryFile {
    models: Vec<ModelEntry>,
}

/// One served model and its contract with clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelEntry {
    /// `NAME` or `NAME:VERSION` in the registry (latest when no version).
    pub model: String,
    /// This model's engine; default: the config's `runtime`, else tract.
    pub runtime: Option<Runtime>,
    /// Run this model on a GPU; default: the config's `enableGpu`, else false.
    pub enable_gpu: Option<bool>,
    /// Dynamic batching across requests; absent means none.
    pub batching: Option<Batching>,
    /// The request field that holds the model's data (default `data`).
    #[serde(default = "default_data_field")]
    pub data_field: String,
    /// What a request's data looks like; without it, the model's signature says.
    pub input_sample: Option<Sample>,
    /// What an answer looks like; without it, the model's signature says.
    pub output_sample: Option<Sample>,
    /// How the outputs become the answer.
    #[serde(default)]
    pub output_layout: OutputLayout,
    /// How binary bodies (images, `.npy`, raw elements) become inputs, by
    /// input name; absent: JSON only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, InputDecoder>,
    /// How outputs of class scores become labelled answers, by output name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub postprocess: BTreeMap<String, Postprocess>,
    /// Which registered versions are served (default: the latest, followed
    /// as new ones are registered). Not with `NAME:VERSION` in `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<VersionPolicy>,
    /// How requests without a version split between served versions, by
    /// weight (`{"2": 90, "3": 10}`); absent: all to the latest served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<BTreeMap<String, u32>>,
}

fn default_data_field() -> String {
    "data".to_owned()
}

/// Dynamic batching: requests that arrive together run as one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Batching {
    /// Most rows in one engine run (at least 1).
    pub max_batch_size: u32,
    /// Longest the first request of a batch waits for others, in ms.
    #[serde(default)]
    pub max_batch_delay_ms: u64,
    /// Batch sizes the engine runs best at, each at most maxBatchSize.
    #[serde(default)]
    pub preferred_batch_sizes: Vec<u32>,
}

/// How model outputs become the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputLayout {
    /// One output: its values; several: an object keyed by output name.
    #[default]
    Auto,
    /// One object per row, keyed by output name (a classifier's label and
    /// probabilities side by side).
    Records,
}

/// An input or output sample: its kind and its value (inline or a file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sample {
    pub kind: SampleKind,
    /// The sample itself.
    pub value: Option<Value>,
    /// A JSON file holding the sample, instead of `value`.
    pub file: Option<PathBuf>,
    /// pandas only: the layout of the frame (only `records`).
    pub orient: Option<PandasOrient>,
    /// pandas only: the model input the columns are stacked into, in the
    /// order of `columns`. Without it, columns named like the model's inputs
    /// feed those inputs, and a model with one input takes them stacked.
    pub input: Option<String>,
    /// pandas only: the columns in order (needed to stack them; each record
    /// of the sample must have exactly these).
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleKind {
    /// An array: shape and element type; the first dimension is the batch.
    Numpy,
    /// A list of records: named, typed columns.
    Pandas,
    /// Plain JSON values: numbers, strings, lists, objects.
    Standard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PandasOrient {
    Records,
}

impl InferenceConfig {
    /// Reads a file, its entry file and its sample files, and validates them.
    pub fn from_path(path: &Path) -> Result<InferenceConfig, InferenceConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| InferenceConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        InferenceConfig::from_text(&text, &shown, base)
    }

    /// Parses JSON text; `origin` names it in errors, `base` is the folder
    /// relative paths start from.
    pub fn from_json(
        text: &str,
        origin: &str,
        base: &Path,
    ) -> Result<InferenceConfig, InferenceConfigError> {
        InferenceConfig::from_text(text, origin, base)
    }

    /// Parses the text of `origin`: TOML when its name ends in `.toml`,
    /// JSON otherwise; `base` is the folder relative paths start from.
    fn from_text(
        text: &str,
        origin: &str,
        base: &Path,
    ) -> Result<InferenceConfig, InferenceConfigError> {
        let mut config: InferenceConfig = parse(text, origin)?;
        let invalid = |field: String, reason: String| InferenceConfigError::Invalid {
            path: origin.to_owned(),
            field,
            reason,
        };
        let source = base.join(config.source_directory.as_deref().unwrap_or(Path::new("")));
        match (&config.entry_script, config.models.is_empty()) {
            (Some(_), false) => {
                return Err(invalid(
                    "entryScript".into(),
                    "give either entryScript or models, not both".into(),
                ));
            }
            (None, true) => {
                return Err(invalid(
                    "models".into(),
                    "no model named; give models (inline) or entryScript (a JSON entry file)"
                        .into(),
                ));
            }
            (Some(script), true) => {
                if !(script.ends_with(".json") || script.ends_with(".toml")) {
                    return Err(invalid(
                        "entryScript".into(),
                        format!(
                            "'{script}' is not a JSON or TOML entry; inferd's scoring entry is declarative \
                             ({{\"models\": [...]}} in a .json or .toml file), it does not run Python scripts"
                        ),
                    ));
                }
                let path = source.join(script);
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    invalid("entryScript".into(), format!("cannot read {shown}: {e}"))
                })?;
                let entry: EntryFile = parse(&text, &shown)?;
                if entry.models.is_empty() {
                    return Err(InferenceConfigError::Invalid {
                        path: shown,
                        field: "models".into(),
                        reason: "no model named".into(),
                    });
                }
                config.models = entry.models;
            }
            (None, false) => {}
        }
        for (index, model) in config.models.iter_mut().enumerate() {
            let at = |key: &str| format!("models[{index}].{key}");
            model
                .validate(&source)
                .map_err(|(key, reason)| invalid(at(&key), reason))?;
        }
        let mut names: Vec<&str> = config.models.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(
                "models".into(),
                format!("model '{}' is named twice", pair[0]),
            ));
        }
        Ok(config)
    }

    /// The engine for `model`: its own, else the config's, else tract.
    pub fn runtime_of(&self, model: &ModelEntry) -> Runtime {
        model.runtime.or(self.runtime).unwrap_or_default()
    }

    /// Whether `model` asks for a GPU: its own, else the config's, else no.
    pub fn gpu_of(&self, model: &ModelEntry) -> bool {
        model.enable_gpu.or(self.enable_gpu).unwrap_or(false)
    }

    /// The same config in one piece: the entry's models inline and every
    /// sample by value, with no file to find (for a ConfigMap, which holds
    /// no folders). Image-build keys are kept.
    pub fn inline(&self) -> InferenceConfig {
        let mut inline = self.clone();
        inline.entry_script = None;
        inline.source_directory = None;
        for model in &mut inline.models {
            for sample in [&mut model.input_sample, &mut model.output_sample]
                .into_iter()
                .flatten()
            {
                sample.file = None;
            }
        }
        inline
    }

    /// Image-build keys that were given; a single process does not act on them.
    pub fn image_build_fields(&self) -> Vec<&'static str> {
        [
            ("cudaVersion", self.cuda_version.is_some()),
            ("baseImage", self.base_image.is_some()),
            ("baseImageRegistry", self.base_image_registry.is_some()),
            ("condaFile", self.conda_file.is_some()),
            (
                "extraDockerFileSteps",
                self.extra_docker_file_steps.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

impl ModelEntry {
    /// The model's name without its version.
    pub fn name(&self) -> &str {
        self.model.split(':').next().unwrap_or(&self.model)
    }

    /// Checks values, and reads sample files into `value`.
    fn validate(&mut self, source: &Path) -> Result<(), (String, String)> {
        if self.data_field.is_empty() {
            return Err(("dataField".into(), "must not be empty".into()));
        }
        if let Some(batching) = &self.batching {
            batching.validate()?;
        }
        if self.versions.is_some() && self.model.contains(':') {
            return Err((
                "versions".into(),
                format!(
                    "'{}' names one version already; give either NAME:VERSION or versions",
                    self.model
                ),
            ));
        }
        if let Some(traffic) = &self.traffic {
            crate::versions::parse_traffic(traffic).map_err(|reason| ("traffic".into(), reason))?;
        }
        for (key, sample) in [
            ("inputSample", &mut self.input_sample),
            ("outputSample", &mut self.output_sample),
        ] {
            if let Some(sample) = sample {
                sample
                    .resolve(source)
                    .map_err(|(field, reason)| (format!("{key}.{field}"), reason))?;
            }
        }
        for (name, decoder) in &self.inputs {
            decoder
                .check()
                .map_err(|(key, reason)| (format!("inputs.{name}.{key}"), reason))?;
        }
        for (name, postprocess) in &mut self.postprocess {
            postprocess
                .resolve(source)
                .map_err(|(key, reason)| (format!("postprocess.{name}.{key}"), reason))?;
        }
        if let Some(sample) = &self.output_sample
            && sample.kind == SampleKind::Pandas
        {
            return Err((
                "outputSample.kind".into(),
                "an output sample is numpy or standard; use outputLayout \"records\" for rows of named values".into(),
            ));
        }
        Ok(())
    }
}

impl Batching {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.max_batch_size == 0 {
            return Err(("batching.maxBatchSize".into(), "must be at least 1".into()));
        }
        if let Some(size) = self
            .preferred_batch_sizes
            .iter()
            .find(|&&s| s == 0 || s > self.max_batch_size)
        {
            return Err((
                "batching.preferredBatchSizes".into(),
                format!(
                    "{size} is not between 1 and maxBatchSize ({})",
                    self.max_batch_size
                ),
            ));
        }
        Ok(())
    }
}

impl Sample {
    /// The sample's value (set for every sample of a loaded config).
    pub fn value(&self) -> &Value {
        self.value.as_ref().unwrap_or(&Value::Null)
    }

    fn resolve(&mut self, source: &Path) -> Result<(), (String, String)> {
        match (&self.value, &self.file) {
            (Some(_), Some(_)) => {
                return Err(("file".into(), "give either value or file, not both".into()));
            }
            (None, None) => return Err(("value".into(), "the sample is missing".into())),
            (None, Some(file)) => {
                let path = source.join(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    (
                        "file".into(),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let value = serde_json::from_str(&text).map_err(|e| {
                    (
                        "file".into(),
                        format!("{} is not JSON: {e}", path.display()),
                    )
                })?;
                self.value = Some(value);
            }
            (Some(_), None) => {}
        }
        if self.kind != SampleKind::Pandas && (self.orient.is_some() || self.input.is_some()) {
            let key = if self.orient.is_some() {
                "orient"
            } else {
                "input"
            };
            return Err(((*key).into(), "applies to pandas samples only".into()));
        }
        if self.kind == SampleKind::Pandas {
            let ok = matches!(self.value(), Value::Array(rows)
                if !rows.is_empty() && rows.iter().all(|r| matches!(r, Value::Object(o) if !o.is_empty())));
            if !ok {
                return Err((
                    "value".into(),
                    "a pandas sample is a non-empty list of records ({\"column\": value, ...})"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, InferenceConfigError> {
    let parsed = if origin.ends_with(".toml") {
        crate::json::parse_toml(text)
    } else {
        crate::json::parse(text)
    };
    parsed.map_err(|e| InferenceConfigError::Invalid {
        path: origin.to_owned(),
        field: e.field,
        reason: e.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<InferenceConfig, String> {
        InferenceConfig::from_json(text, "ic.json", Path::new(".")).map_err(|e| e.to_string())
    }

    #[test]
    fn inline_entry_with_every_public_key() {
        let config = load(
            r#"{"runtime": "onnxruntime", "enableGpu": true, "sourceDirectory": ".",
                "cudaVersion": "11.8", "condaFile": "env.yml",
                "models": [{"model": "diabetes-ridge:1", "runtime": "tract",
                            "batching": {"maxBatchSize": 16, "maxBatchDelayMs": 2, "preferredBatchSizes": [8, 16]},
                            "inputSample": {"kind": "numpy", "value": [[1, 2]]},
                            "outputSample": {"kind": "numpy", "value": [3.5]}},
                           {"model": "onehot-4", "enableGpu": false, "outputLayout": "records"}]}"#,
        )
        .unwrap();
        let [ridge, onehot] = &config.models[..] else {
            panic!()
        };
        assert_eq!(ridge.name(), "diabetes-ridge");
        assert_eq!(config.runtime_of(ridge), Runtime::Tract);
        assert_eq!(config.runtime_of(onehot), Runtime::Onnxruntime);
        assert!(config.gpu_of(ridge));
        assert!(!config.gpu_of(onehot));
        assert_eq!(ridge.batching.as_ref().unwrap().max_batch_size, 16);
        assert_eq!(ridge.data_field, "data");
        assert_eq!(onehot.output_layout, OutputLayout::Records);
        assert_eq!(config.image_build_fields(), ["cudaVersion", "condaFile"]);
    }

    #[test]
    fn a_toml_config_reads_as_its_json_twin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inferenceconfig.toml");
        std::fs::write(
            &path,
            r#"
runtime = "onnxruntime"

[[models]]
model = "diabetes-ridge:1"
runtime = "tract"
batching = { maxBatchSize = 16, maxBatchDelayMs = 2 }
inputSample = { kind = "numpy", value = [[1, 2]] }

[[models]]
model = "onehot-4"
outputLayout = "records"
"#,
        )
        .unwrap();
        let toml = InferenceConfig::from_path(&path).unwrap();
        let json = load(
            r#"{"runtime": "onnxruntime",
                "models": [{"model": "diabetes-ridge:1", "runtime": "tract",
                            "batching": {"maxBatchSize": 16, "maxBatchDelayMs": 2},
                            "inputSample": {"kind": "numpy", "value": [[1, 2]]}},
                           {"model": "onehot-4", "outputLayout": "records"}]}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&toml).unwrap(),
            serde_json::to_value(&json).unwrap()
        );

        std::fs::write(&path, "[[models]]\nmodel = \"m\"\nruntime = \"python\"\n").unwrap();
        let err = InferenceConfig::from_path(&path).unwrap_err().to_string();
        assert!(err.contains("models[0].runtime"), "{err}");
        std::fs::write(&path, "models = [ {").unwrap();
        let err = InferenceConfig::from_path(&path).unwrap_err().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                r#"{"models": [{"model": "m", "runtime": "python"}]}"#,
                "models[0].runtime",
            ),
            (r#"{"modelz": []}"#, "modelz"),
            (r#"{"models": []}"#, "models: no model named"),
            (
                r#"{"entryScript": "score.py"}"#,
                "entryScript: 'score.py' is not a JSON or TOML entry",
            ),
            (
                r#"{"models": [{"model": "m", "inputSample": {"kind": "tensor", "value": 1}}]}"#,
                "models[0].inputSample.kind",
            ),
            (
                r#"{"models": [{"model": "m", "inputSample": {"kind": "numpy"}}]}"#,
                "models[0].inputSample.value: the sample is missing",
            ),
            (
                r#"{"models": [{"model": "m", "inputSample": {"kind": "pandas", "value": [1]}}]}"#,
                "models[0].inputSample.value: a pandas sample",
            ),
            (
                r#"{"models": [{"model": "m", "inputSample": {"kind": "numpy", "value": [1], "orient": "records"}}]}"#,
                "models[0].inputSample.orient: applies to pandas",
            ),
            (
                r#"{"models": [{"model": "m", "batching": {"maxBatchSize": 4, "preferredBatchSizes": [8]}}]}"#,
                "models[0].batching.preferredBatchSizes: 8 is not between 1 and maxBatchSize (4)",
            ),
            (
                r#"{"models": [{"model": "m", "inputSample": {"kind": "numpy", "file": "nope.json"}}]}"#,
                "models[0].inputSample.file: cannot read",
            ),
            (
                r#"{"models": [{"model": "m"}, {"model": "m:2"}]}"#,
                "model 'm' is named twice",
            ),
        ];
        for (text, wanted) in cases {
            let message = load(text).unwrap_err();
            assert!(message.contains(wanted), "{message} (wanted {wanted})");
            assert!(
                message.starts_with("inference config ic.json: "),
                "{message}"
            );
        }
    }

    #[test]
    fn entry_and_samples_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("in.json"), "[[1, 2]]").unwrap();
        std::fs::write(
            src.join("entry.json"),
            r#"{"models": [{"model": "m", "inputSample": {"kind": "numpy", "file": "in.json"}}]}"#,
        )
        .unwrap();
        let path = dir.path().join("ic.json");
        std::fs::write(
            &path,
            r#"{"entryScript": "entry.json", "sourceDirectory": "src"}"#,
        )
        .unwrap();
        let config = InferenceConfig::from_path(&path).unwrap();
        let sample = config.models[0].input_sample.as_ref().unwrap();
        assert_eq!(sample.value(), &serde_json::json!([[1, 2]]));
    }
}
