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

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_registry::Registration;

    fn registry_with(versions: u32) -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path().join("registry"));
        let file = dir.path().join("model.onnx");
        std::fs::write(&file, b"bytes").unwrap();
        for _ in 0..versions {
            registry
                .register("m", &file, Registration::default())
                .unwrap();
        }
        (dir, registry)
    }

    #[test]
    fn a_policy_picks_among_the_registered_and_a_pin_must_exist() {
        let (_dir, registry) = registry_with(3);
        let latest = Wanted::new(&ModelRef::latest("m"), None).unwrap();
        assert_eq!(latest.versions(&registry).unwrap(), [3]);
        let pinned = Wanted::new(&"m:2".parse().unwrap(), None).unwrap();
        assert_eq!(pinned.versions(&registry).unwrap(), [2]);
        let missing = Wanted::new(&"m:7".parse().unwrap(), None).unwrap();
        let error = missing.versions(&registry).unwrap_err().to_string();
        assert!(
            error.contains("no version 7") && error.contains("1, 2, 3"),
            "{error}"
        );
        let nobody = Wanted::new(&ModelRef::latest("nobody"), None).unwrap();
        assert!(
            nobody
                .versions(&registry)
                .unwrap_err()
                .to_string()
                .contains("nobody")
        );
    }

    #[test]
    fn an_entry_gives_the_policy_and_the_traffic() {
        let entry: ModelEntry = serde_json::from_str(
            r#"{"model": "m", "versions": {"latest": 2}, "traffic": {"3": 10, "2": 90}}"#,
        )
        .unwrap();
        let plan = Plan::new(&[ModelRef::latest("m")], &[entry]).unwrap();
        let wanted = plan.get("m").unwrap();
        assert_eq!(wanted.policy, VersionPolicy::Latest(2));
        assert_eq!(wanted.traffic, [(2, 90), (3, 10)]);
        assert_eq!(plan.entries().len(), 1);
    }
}
