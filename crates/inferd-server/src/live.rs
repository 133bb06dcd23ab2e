//! [`Live`]: the served set as requests see it, made whole for each model
//! update and swapped in at once (`AppState::publish`): the engine's
//! models, and for each served version its contract, its protocol
//! documents and its metric handles ([`LiveModel`]). A request routed to a
//! version holds its `LiveModel` until answered, so a version replaced
//! while the request runs still has everything the request needs.

use std::sync::Arc;

use inferd_config::ModelEntry;
use inferd_engine::{ModelSet, ServedModel};
use inferd_openapi::ServiceInfo;
use inferd_schema::ModelSchema;

use crate::ApiError;
use crate::api::{EntryError, ServiceApi, schema_of};
use crate::telemetry::{ModelHandles, Telemetry};
use crate::v2;

/// One served version, as both protocols serve it.
pub struct LiveModel {
    pub served: Arc<ServedModel>,
    /// `/score`'s contract.
    pub schema: Arc<ModelSchema>,
    /// The v2 codec and documents.
    pub v2: v2::Entry,
    /// Its metrics.
    pub(crate) handles: ModelHandles,
}

/// The served set at one moment.
pub struct Live {
    pub models: ModelSet,
    pub api: ServiceApi,
    /// Each version of `models.iter()`, in its order.
    versions: Vec<Arc<LiveModel>>,
}

impl Live {
    /// `models` with their contracts from `entries` (matched by name; a
    /// model without one is served by its signature alone) and documents.
    pub(crate) fn new(
        models: ModelSet,
        info: &ServiceInfo,
        entries: &[ModelEntry],
        telemetry: &Telemetry,
    ) -> Result<Live, EntryError> {
        let api = ServiceApi::build(info, &models, entries)?;
        let versions = models
            .iter()
            .map(|served| {
                let schema = schema_of(served, entries)?;
                Ok(Arc::new(LiveModel {
                    served: served.clone(),
                    schema: Arc::new(schema),
                    v2: v2::Entry::new(served),
                    handles: telemetry.handles(served),
                }))
            })
            .collect::<Result<Vec<_>, EntryError>>()?;
        Ok(Live {
            models,
            api,
            versions,
        })
    }

    /// The served version `served` is.
    fn of(&self, served: &Arc<ServedModel>) -> &Arc<LiveModel> {
        self.versions
            .iter()
            .find(|v| Arc::ptr_eq(&v.served, served))
            .expect("every served version has its LiveModel")
    }

    /// The version `/score` goes to now.
    pub fn default_model(&self) -> &Arc<LiveModel> {
        self.of(self.models.default_model())
    }

    /// The model served as `name`: the version asked for (as the route's
    /// text) when it is served, else the one its route picks.
    pub fn find(&self, name: &str, version: Option<&str>) -> Result<&Arc<LiveModel>, ApiError> {
        let route = self
            .models
            .route(name)
            .ok_or_else(|| ApiError::ModelNotFound(name.to_owned()))?;
        match version {
            None => Ok(self.of(route.pick())),
            Some(asked) => match asked.parse::<u32>().ok().and_then(|v| route.version(v)) {
                Some(served) => Ok(self.of(served)),
                None => Err(ApiError::VersionNotServed {
                    name: name.to_owned(),
                    asked: asked.to_owned(),
                    served: route
                        .versions()
                        .iter()
                        .map(|m| m.version.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            },
        }
    }

    /// Every served version, in serving order.
    pub fn versions(&self) -> &[Arc<LiveModel>] {
        &self.versions
    }
}
