//! Each model version's state as the lifecycle moves it (loading,
//! self-testing, live, draining, failed with its reason), for logs, the
//! model's documents and the `inferd_model_state` metric. Read without
//! waiting for an update in progress.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Where a version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Its file is being read and optimised.
    Loading,
    /// Its sessions are running the sample request.
    SelfTesting,
    /// It takes traffic.
    Live,
    /// It takes no new traffic; requests admitted to it are finishing.
    Draining,
    /// It failed to load or its self-test, and never took traffic.
    Failed,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Loading,
        State::SelfTesting,
        State::Live,
        State::Draining,
        State::Failed,
    ];

    /// The name logs, documents and the metric's `state` label use.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Loading => "loading",
            State::SelfTesting => "self_testing",
            State::Live => "live",
            State::Draining => "draining",
            State::Failed => "failed",
        }
    }
}

/// One version's state, and why when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionState {
    pub name: String,
    pub version: u32,
    pub state: State,
    /// Why it failed (`Failed` only).
    pub reason: Option<String>,
    /// The registry's content hash of the files it was read from.
    pub sha256: String,
}

/// Every version the lifecycle knows of, and each model's count of updates.
#[derive(Default)]
pub struct States {
    versions: Mutex<BTreeMap<(String, u32), VersionState>>,
    updates: Mutex<BTreeMap<String, Updates>>,
}

/// A model's updates so far, by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Updates {
    /// Versions that went live after the first load.
    pub live: u64,
    /// Versions that failed to load or their self-test.
    pub failed: u64,
}

impl States {
    /// Records `state` for `name:version` and logs the change.
    pub(crate) fn set(&self, name: &str, version: u32, sha256: &str, state: State) {
        self.put(VersionState {
            name: name.to_owned(),
            version,
            state,
            reason: None,
            sha256: sha256.to_owned(),
        });
    }

    pub(crate) fn fail(&self, name: &str, version: u32, sha256: &str, reason: String) {
        tracing::warn!(model = name, version, %reason, "model version refused; it takes no traffic");
        self.put(VersionState {
            name: name.to_owned(),
            version,
            state: State::Failed,
            reason: Some(reason),
            sha256: sha256.to_owned(),
        });
        self.count(name, |u| u.failed += 1);
    }

    fn put(&self, entry: VersionState) {
        if entry.state != State::Failed {
            tracing::info!(model = %entry.name, version = entry.version, state = entry.state.as_str(), "model version");
        }
        lock(&self.versions).insert((entry.name.clone(), entry.version), entry);
    }

    pub(crate) fn count(&self, name: &str, add: impl FnOnce(&mut Updates)) {
        add(lock(&self.updates).entry(name.to_owned()).or_default());
    }

    /// Forgets `name:version` (unloaded, or gone from the registry).
    pub(crate) fn remove(&self, name: &str, version: u32) {
        if lock(&self.versions)
            .remove(&(name.to_owned(), version))
            .is_some()
        {
            tracing::info!(model = name, version, state = "unloaded", "model version");
        }
    }

    /// `name:version`'s state, if known.
    pub fn get(&self, name: &str, version: u32) -> Option<VersionState> {
        lock(&self.versions)
            .get(&(name.to_owned(), version))
            .cloned()
    }

    /// Every known version's state, by name then version.
    pub fn all(&self) -> Vec<VersionState> {
        lock(&self.versions).values().cloned().collect()
    }

    /// `name`'s versions' states, ascending.
    pub fn of(&self, name: &str) -> Vec<VersionState> {
        lock(&self.versions)
            .values()
            .filter(|v| v.name == name)
            .cloned()
            .collect()
    }

    /// Each model's updates so far.
    pub fn updates(&self) -> Vec<(String, Updates)> {
        lock(&self.updates)
            .iter()
            .map(|(name, updates)| (name.clone(), *updates))
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
