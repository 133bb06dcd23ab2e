//! What should be served: each model's name, which of its registered
//! versions (pinned by `NAME:VERSION`, else its version policy), its traffic
//! split and its inference config entry. The lifecycle makes the served set
//! match the plan; the command line and inference config make the first
//! plan, the repository API and SIGHUP change it.

use inferd_config::{ModelEntry, VersionPolicy, parse_traffic};
use inferd_registry::{ModelRef, Registry, RegistryError};

/// One model to serve.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub name: String,
    pub policy: VersionPolicy,
    /// (version, weight) for the route without a version; empty: the latest served.
    pub traffic: Vec<(u32, u32)>,
    /// Its entry in the inference config (samples, layout, batching).
    pub entry: Option<ModelEntry>,
}

impl Wanted {
    /// `reference` served as the plan says: its one version when it names
    /// one, else by `entry`'s policy (the latest by default).
    pub fn new(reference: &ModelRef, entry: Option<&ModelEntry>) -> Result<Wanted, String> {
        let policy = match reference.version {
            Some(version) => VersionPolicy::Specific(vec![version]),
            None => entry.and_then(|e| e.versions.clone()).unwrap_or_default(),
        };
        let traffic = match entry.and_then(|e| e.traffic.as_ref()) {
            Some(traffic) => parse_traffic(traffic)?,
            None => Vec::new(),
        };
        Ok(Wanted {
            name: reference.name.clone(),
            policy,
            traffic,
            entry: entry.cloned(),
        })
    }

    /// The versions to serve of those registered now (ascending); a pinned
    /// version that is not registered is an error.
    pub fn versions(&self, registry: &Registry) -> Result<Vec<u32>, RegistryError> {
        let registered = registry.versions(&self.name)?;
        if registered.is_empty() {
            return Err(RegistryError::ModelNotFound(self.name.clone()));
        }
        let chosen = self.policy.select(&registered);
        if let VersionPolicy::Specific(list) = &self.policy
            && let Some(missing) = list.iter().find(|v| !registered.contains(v))
        {
            return Err(RegistryError::VersionNotFound {
                name: self.name.clone(),
                version: *missing,
                available: registered
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(chosen)
    }
}

/// Every model to serve, the first the default.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub models: Vec<Wanted>,
}

impl Plan {
    /// The plan of `refs` (the command line's or the inference config's
    /// models, in order) with their entries (matched by name).
    pub fn new(refs: &[ModelRef], entries: &[ModelEntry]) -> Result<Plan, String> {
        let models = refs
            .iter()
            .map(|r| {
                let entry = entries.iter().find(|e| e.name() == r.name);
                Wanted::new(r, entry)
                    .map_err(|reason| format!("model '{}': traffic: {reason}", r.name))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Plan { models })
    }

    pub fn get(&self, name: &str) -> Option<&Wanted> {
        self.models.iter().find(|w| w.name == name)
    }

    /// The entries of the models that have one, for their contracts.
    pub fn entries(&self) -> Vec<ModelEntry> {
        self.models.iter().filter_map(|w| w.entry.clone()).collect()
    }
}
