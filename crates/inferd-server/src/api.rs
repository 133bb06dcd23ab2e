//! [`ServiceApi`]: what the service promises its clients, fixed at start:
//! each model's contract ([`ModelSchema`]: data field, input and output
//! layout) and the API documents rendered from them, served as bytes.

use std::sync::Arc;

use bytes::Bytes;
use inferd_config::ModelEntry;
use inferd_engine::{ModelSet, ServedModel};
use inferd_openapi::{Documents, ModelDoc, ServiceInfo, SpecVersion};
use inferd_schema::{ModelSchema, SampleError};

pub struct ServiceApi {
    documents: Documents,
    schemas: Schemas,
    path_prefix: String,
}

/// Each served model's contract by name. A container serves a handful of
/// models, and every scoring request looks its contract up: comparing a
/// few names costs less than hashing one with the standard hasher.
pub(crate) struct Schemas(Vec<(String, Arc<ModelSchema>)>);

impl Schemas {
    pub(crate) fn get(&self, model: &str) -> Option<&Arc<ModelSchema>> {
        self.0
            .iter()
            .find(|(name, _)| name == model)
            .map(|(_, s)| s)
    }
}

impl FromIterator<(String, Arc<ModelSchema>)> for Schemas {
    fn from_iter<I: IntoIterator<Item = (String, Arc<ModelSchema>)>>(items: I) -> Schemas {
        Schemas(items.into_iter().collect())
    }
}

/// A model's entry whose samples do not fit the model.
#[derive(Debug, thiserror::Error)]
#[error("models[{index}].{source}")]
pub struct EntryError {
    /// The entry's index in the inference config's `models`.
    pub index: usize,
    #[source]
    pub source: SampleError,
}

impl ServiceApi {
    /// Each served model's contract: from its entry in `entries` (matched by
    /// name), else from its signature alone; then the documents.
    pub fn build(
        info: &ServiceInfo,
        models: &ModelSet,
        entries: &[ModelEntry],
    ) -> Result<ServiceApi, EntryError> {
        // One contract per name, its latest served version's: the
        // documents describe the route without a version.
        let schemas = models
            .routes()
            .iter()
            .filter_map(|route| route.versions().last())
            .map(|model| Ok((model.name.clone(), schema_of(model, entries)?)))
            .collect::<Result<Vec<_>, EntryError>>()?;
        Ok(ServiceApi::new(info, schemas))
    }

    /// The API of models with these contracts, in serving order (the first
    /// is the default).
    pub fn new(info: &ServiceInfo, schemas: Vec<(String, ModelSchema)>) -> ServiceApi {
        let docs: Vec<ModelDoc<'_>> = schemas
            .iter()
            .map(|(name, schema)| ModelDoc { name, schema })
            .collect();
        let documents = Documents::render(info, &docs);
        ServiceApi {
            documents,
            schemas: schemas
                .into_iter()
                .map(|(name, schema)| (name, Arc::new(schema)))
                .collect(),
            path_prefix: info.path_prefix.clone(),
        }
    }

    pub fn document(&self, version: SpecVersion) -> Bytes {
        self.documents.get(version)
    }

    pub fn schema(&self, model: &str) -> Option<&Arc<ModelSchema>> {
        self.schemas.get(model)
    }

    /// `path` without the service's path prefix (`/api/v1/score` ->
    /// `/score`); paths outside the prefix are served as they are.
    pub fn local_path<'a>(&self, path: &'a str) -> &'a str {
        strip_prefix(&self.path_prefix, path)
    }
}

/// `path` without `prefix` (`/api/v1/score` -> `/score`); paths outside
/// the prefix are served as they are.
pub(crate) fn strip_prefix<'a>(prefix: &str, path: &'a str) -> &'a str {
    if prefix.is_empty() {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

pub(crate) fn schema_of(
    model: &ServedModel,
    entries: &[ModelEntry],
) -> Result<ModelSchema, EntryError> {
    let index = entries.iter().position(|e| e.name() == model.name);
    ModelSchema::for_model(index.map(|i| &entries[i]), model.signature.clone()).map_err(|source| {
        EntryError {
            // Only an entry's samples can fail.
            index: index.unwrap_or_default(),
            source,
        }
    })
}
