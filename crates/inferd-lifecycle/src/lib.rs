//! Model updates while serving. One door, [`Lifecycle`]: it makes the
//! served set match a [`Plan`] (which models, which of their registered
//! versions, what traffic split), and changes it without a restart.
//!
//! An update loads each new version beside the served ones, on its own
//! workers, and self-tests it ([`self_test`]: the sample request through
//! every worker's session, the answer checked against the contract; this
//! is also each session's warm-up run). Only a version that passes reaches
//! the routes, all of an update's changes in one atomic step (the
//! server's [`Publish`]). Requests already admitted to a replaced version
//! finish on it; its workers stop and its memory goes back when the last
//! of them ends ([`retire`]). A version that fails never takes traffic:
//! its model keeps what it served, the reason is logged, counted and kept
//! in [`States`].
//!
//! [`load_checked`] is how one version is loaded and self-tested, for
//! the lifecycle and for anything else that runs a model on its workers.
//!
//! The ways in: [`Lifecycle::load`] and [`Lifecycle::unload`] (the
//! repository API), [`Lifecycle::replan`] (SIGHUP, a re-read inference
//! config), and [`follow`]'s poll of the registry (new registrations of a
//! model served by a version policy).
#![forbid(unsafe_code)]

mod error;
mod follow;
mod load;
mod plan;
mod retire;
mod self_test;
mod state;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use inferd_config::ModelEntry;
use inferd_engine::{
    Admission, BatchOptions, BatchPolicy, EngineChoice, ExecutorOptions, ModelSet, Route,
    ServedModel,
};
use inferd_registry::{ModelRef, Registry};

pub use error::UpdateError;
pub use load::load_checked;
pub use plan::{Plan, Wanted};
pub use state::{State, States, Updates, VersionState};

use crate::retire::Retired;

/// Makes a model set the one requests are routed to: the server's side
/// (it should hold the server weakly: the server holds the lifecycle).
pub trait Publish: Send + Sync {
    /// Serves `models` from now on, their contracts made with `entries`
    /// (matched by name). An error leaves the served set as it was.
    fn publish(&self, models: ModelSet, entries: &[ModelEntry]) -> Result<(), String>;
}

/// What the lifecycle loads with.
pub struct Settings {
    pub registry: Registry,
    pub engines: Arc<dyn EngineChoice + Send>,
    pub options: ExecutorOptions,
    /// How each model batches at start (a re-plan may change it).
    pub batching: BatchPolicy,
    /// The container's admission, shared by every version.
    pub admission: Arc<Admission>,
    /// How often the registry is read for new versions; `None`: never.
    pub poll: Option<Duration>,
    /// Runs once a replaced version's memory is freed (the binary hands
    /// the allocator's free pages back to the system).
    pub after_unload: Option<Box<dyn Fn() + Send + Sync>>,
}

/// The served set's keeper. See the crate's documentation.
pub struct Lifecycle {
    settings: Settings,
    states: States,
    /// Held for a whole update, so updates happen one at a time.
    current: Mutex<Current>,
    retired: Retired,
    publisher: Arc<dyn Publish>,
    /// Closed when the lifecycle goes, which stops the registry poll.
    _stop: Option<crossbeam_channel::Sender<()>>,
}

/// The plan and the set that serves it.
struct Current {
    plan: Plan,
    /// How each model batches (the flags and the inference config's
    /// `batching`, as of the start or the last re-plan).
    batching: BatchPolicy,
    served: Option<ModelSet>,
    /// Each model's registered versions when it was last applied, for the
    /// poll to tell a new registration.
    seen: Vec<(String, Vec<u32>)>,
}

/// What an update did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Versions that went live (name, version).
    pub live: Vec<(String, u32)>,
    /// Versions that stopped taking traffic.
    pub retired: Vec<(String, u32)>,
    /// Versions or models refused, and why; what they would have replaced
    /// serves on.
    pub refused: Vec<(String, String)>,
}

impl Lifecycle {
    /// Loads and self-tests every model of `plan` and publishes them; any
    /// failure is an error (nothing is served). Then follows the registry
    /// when `settings.poll` says so.
    pub fn start(
        settings: Settings,
        plan: Plan,
        publisher: Arc<dyn Publish>,
    ) -> Result<Arc<Lifecycle>, UpdateError> {
        let poll = settings.poll;
        let batching = settings.batching.clone();
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let lifecycle = Arc::new(Lifecycle {
            settings,
            states: States::default(),
            current: Mutex::new(Current {
                plan: Plan::default(),
                batching,
                served: None,
                seen: Vec::new(),
            }),
            retired: Retired::default(),
            publisher,
            _stop: poll.map(|_| stop),
        });
        {
            let mut current = lifecycle.lock();
            let outcome = lifecycle.apply(&mut current, plan, true)?;
            if let Some((model, reason)) = outcome.refused.into_iter().next() {
                return Err(UpdateError::Refused { model, reason });
            }
        }
        if let Some(every) = poll {
            follow::spawn(Arc::downgrade(&lifecycle), every, stopped);
        }
        Ok(lifecycle)
    }

    /// Every version's state (and reaps versions whose last request ended).
    pub fn states(&self) -> &States {
        self.retired
            .reap(&self.states, self.settings.after_unload.as_deref());
        &self.states
    }

    /// Replaced versions whose requests are still finishing.
    pub fn draining(&self) -> usize {
        self.retired.draining()
    }

    /// The set served now.
    pub fn served(&self) -> Option<ModelSet> {
        self.lock().served.clone()
    }

    /// Serves `name`: `version` alone when given (the registry's version;
    /// the seed's `service.update()`), else by its version policy (the
    /// latest, following new registrations). A model not served yet is
    /// added. Answers once the version is live, or why it was refused (the
    /// model then serves what it served).
    pub fn load(&self, name: &str, version: Option<u32>) -> Result<Outcome, UpdateError> {
        let mut current = self.lock();
        let reference = ModelRef {
            name: name.to_owned(),
            version,
        };
        self.settings.registry.get(&reference)?;
        let mut plan = current.plan.clone();
        let entry = plan.get(name).and_then(|w| w.entry.clone());
        let mut wanted =
            Wanted::new(&reference, entry.as_ref()).map_err(|reason| UpdateError::Refused {
                model: name.to_owned(),
                reason,
            })?;
        if version.is_some() {
            // One version asked for: all its traffic.
            wanted.traffic.clear();
        }
        // Asked for again: a version that failed before is tried again.
        self.retry_failed(name, version);
        match plan.models.iter_mut().find(|w| w.name == name) {
            Some(slot) => *slot = wanted,
            None => plan.models.push(wanted),
        }
        let before = current.plan.clone();
        let outcome = self.apply(&mut current, plan, false)?;
        if let Some((model, reason)) = outcome.refused.iter().find(|(m, _)| m == name) {
            // Refused: the model serves, and follows, as it did before.
            current.plan = before;
            return Err(UpdateError::Refused {
                model: model.clone(),
                reason: reason.clone(),
            });
        }
        Ok(outcome)
    }

    /// Stops serving `name` (not the default model: it has no other place
    /// to send `/score`). Its requests in flight finish.
    pub fn unload(&self, name: &str) -> Result<Outcome, UpdateError> {
        let mut current = self.lock();
        let position = current
            .plan
            .models
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| UpdateError::NotServed(name.to_owned()))?;
        if position == 0 {
            return Err(UpdateError::DefaultModel(name.to_owned()));
        }
        let mut plan = current.plan.clone();
        plan.models.remove(position);
        self.apply(&mut current, plan, false)
    }

    /// Serves `plan` in place of the current one (SIGHUP: the inference
    /// config read again): models added, removed and changed; with
    /// `batching`, each model batches so from now on (a served version
    /// whose batching changes is loaded again, beside itself). Refused as
    /// a whole when its default model cannot be served.
    pub fn replan(
        &self,
        plan: Plan,
        batching: Option<BatchPolicy>,
    ) -> Result<Outcome, UpdateError> {
        let mut current = self.lock();
        for wanted in &plan.models {
            self.retry_failed(&wanted.name, None);
        }
        let before = batching.map(|b| std::mem::replace(&mut current.batching, b));
        let outcome = self.apply(&mut current, plan, false);
        if outcome.is_err()
            && let Some(before) = before
        {
            current.batching = before;
        }
        outcome
    }

    /// Applies the plan again if the registry changed under a model served
    /// by a version policy. The poll's tick.
    fn refresh(&self) -> Result<Outcome, UpdateError> {
        let mut current = self.lock();
        let seen = self.registered(&current.plan);
        if seen == current.seen {
            return Ok(Outcome::default());
        }
        let plan = current.plan.clone();
        self.apply(&mut current, plan, false)
    }

    /// The registered versions of each model a policy follows.
    fn registered(&self, plan: &Plan) -> Vec<(String, Vec<u32>)> {
        plan.models
            .iter()
            .filter(|w| w.policy.follows_registry())
            .map(|w| {
                let versions = self.settings.registry.versions(&w.name).unwrap_or_default();
                (w.name.clone(), versions)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets `name`'s failures (one version's, or all), so they are tried again.
    fn retry_failed(&self, name: &str, version: Option<u32>) {
        for state in self.states.of(name) {
            if state.state == State::Failed && version.is_none_or(|v| v == state.version) {
                self.states.remove(name, state.version);
            }
        }
    }

    /// Makes the served set match `plan`: each model's versions reused
    /// when served, else loaded and self-tested; a model any of whose new
    /// versions fails keeps its route as it was (a new model is left out);
    /// then one publish. `first`: the start, where nothing is reused.
    fn apply(
        &self,
        current: &mut Current,
        plan: Plan,
        first: bool,
    ) -> Result<Outcome, UpdateError> {
        let old = current.served.clone();
        let mut outcome = Outcome::default();
        let mut routes = Vec::with_capacity(plan.models.len());
        let mut fresh: Vec<Arc<ServedModel>> = Vec::new();
        for wanted in &plan.models {
            let old_route = old.as_ref().and_then(|s| s.route(&wanted.name));
            let batching = current.batching.for_model(&wanted.name).cloned();
            let route = self.route_for(wanted, batching, old_route, &mut fresh);
            match (route, old_route) {
                (Ok(route), _) => routes.push(route),
                (Err(reason), Some(kept)) => {
                    outcome.refused.push((wanted.name.clone(), reason));
                    // A served version loaded again and refused (its
                    // batching changed) is still the one serving.
                    for model in kept.versions() {
                        let state = self.states.get(&model.name, model.version);
                        if state.is_none_or(|s| s.state != State::Live) {
                            self.states
                                .set(&model.name, model.version, &model.sha256, State::Live);
                        }
                    }
                    routes.push(
                        Route::new(kept.versions().to_vec(), &kept.traffic())
                            .expect("a served route stays valid"),
                    );
                }
                (Err(reason), None) => outcome.refused.push((wanted.name.clone(), reason)),
            }
        }
        let default = plan.models.first().map(|w| w.name.as_str());
        if routes.first().map(Route::name) != default {
            // The default model cannot be served: nothing changes.
            let (model, reason) = outcome
                .refused
                .into_iter()
                .next()
                .unwrap_or_else(|| (String::new(), "the plan names no model".to_owned()));
            for model in &fresh {
                self.states.remove(&model.name, model.version);
            }
            return Err(UpdateError::Refused { model, reason });
        }
        let set = ModelSet::from_routes(routes).map_err(|e| UpdateError::Refused {
            model: String::new(),
            reason: e.to_string(),
        })?;
        let seen = self.registered(&plan);
        let entries = plan.entries();
        if let Some(old) = &old
            && same_set(old, &set)
            && same_entries(&current.plan.entries(), &entries)
        {
            current.plan = plan;
            current.seen = seen;
            return Ok(outcome);
        }
        if let Err(reason) = self.publisher.publish(set.clone(), &entries) {
            for model in &fresh {
                self.states
                    .fail(&model.name, model.version, &model.sha256, reason.clone());
            }
            return Err(UpdateError::Refused {
                model: String::new(),
                reason,
            });
        }
        for model in &fresh {
            self.states
                .set(&model.name, model.version, &model.sha256, State::Live);
            outcome.live.push((model.name.clone(), model.version));
            if !first {
                self.states.count(&model.name, |u| u.live += 1);
            }
        }
        if let Some(old) = &old {
            for model in old.iter() {
                if set.iter().any(|m| Arc::ptr_eq(m, model)) {
                    continue;
                }
                // Loaded again (its batching changed): the new one's state
                // is the version's; the old one only drains.
                if set.find(&model.name, Some(model.version)).is_none() {
                    self.states
                        .set(&model.name, model.version, &model.sha256, State::Draining);
                    outcome.retired.push((model.name.clone(), model.version));
                }
                self.retired.add(model);
            }
        }
        current.plan = plan;
        current.served = Some(set);
        current.seen = seen;
        drop(old);
        self.retired
            .reap(&self.states, self.settings.after_unload.as_deref());
        Ok(outcome)
    }

    /// `wanted`'s route: its versions now, each reused from `old` or loaded
    /// (and added to `fresh`); an error when any new one fails.
    fn route_for(
        &self,
        wanted: &Wanted,
        batching: Option<BatchOptions>,
        old: Option<&Route>,
        fresh: &mut Vec<Arc<ServedModel>>,
    ) -> Result<Route, String> {
        let versions = wanted
            .versions(&self.settings.registry)
            .map_err(|e| e.to_string())?;
        // A served version is reused only while it batches as asked.
        let old = old.filter(|route| {
            route
                .versions()
                .iter()
                .all(|m| m.executor.batching() == batching.as_ref())
        });
        // A version that failed before is not tried again until asked for
        // (load, SIGHUP) or registered anew: the poll would retry it forever.
        let versions: Vec<u32> = versions
            .into_iter()
            .filter(|v| {
                old.and_then(|r| r.version(*v)).is_some()
                    || self
                        .states
                        .get(&wanted.name, *v)
                        .is_none_or(|s| s.state != State::Failed)
            })
            .collect();
        if versions.is_empty() {
            return Err(
                match self
                    .states
                    .of(&wanted.name)
                    .into_iter()
                    .rev()
                    .find(|s| s.state == State::Failed)
                {
                    Some(failed) => format!(
                        "version {} failed: {}",
                        failed.version,
                        failed.reason.unwrap_or_default()
                    ),
                    None => format!("model '{}' has no version to serve", wanted.name),
                },
            );
        }
        let mut chosen = Vec::with_capacity(versions.len());
        for version in versions {
            if let Some(served) = old.and_then(|r| r.version(version)) {
                chosen.push(served.clone());
                continue;
            }
            let model = Arc::new(self.load_version(wanted, version, batching.clone())?);
            fresh.push(model.clone());
            chosen.push(model);
        }
        let served: Vec<u32> = chosen.iter().map(|m| m.version).collect();
        // Traffic for versions not served (a failed one, one the policy
        // dropped) is left out, with a log line; the rest keep their weights.
        let traffic: Vec<(u32, u32)> = wanted
            .traffic
            .iter()
            .copied()
            .filter(|(v, _)| {
                let kept = served.contains(v);
                if !kept {
                    tracing::warn!(model = %wanted.name, version = v, "traffic names a version not served; its share goes to the others");
                }
                kept
            })
            .collect();
        let traffic = if traffic.iter().all(|(_, w)| *w == 0) {
            Vec::new()
        } else {
            traffic
        };
        Route::new(chosen, &traffic).map_err(|e| e.to_string())
    }

    /// Reads, starts and self-tests one version; the reason when it fails.
    fn load_version(
        &self,
        wanted: &Wanted,
        version: u32,
        batching: Option<BatchOptions>,
    ) -> Result<ServedModel, String> {
        let started = Instant::now();
        let name = &wanted.name;
        let reference = ModelRef {
            name: name.clone(),
            version: Some(version),
        };
        let sha = self
            .settings
            .registry
            .get(&reference)
            .map(|v| v.sha256)
            .unwrap_or_default();
        self.states.set(name, version, &sha, State::Loading);
        let loaded = load_checked(
            &self.settings.registry,
            self.settings.engines.engine_for(name),
            &reference,
            wanted.entry.as_ref(),
            self.settings.options,
            batching,
            self.settings.admission.clone(),
            &mut || self.states.set(name, version, &sha, State::SelfTesting),
        );
        match loaded {
            Ok(mut served) => {
                served.load_duration = started.elapsed();
                tracing::info!(model = %name, version, sha256 = %served.sha256, engine = served.engine, device = %served.device, elapsed_ms = started.elapsed().as_millis() as u64, "model version loaded and self-tested");
                Ok(served)
            }
            Err(error) => {
                let reason = error.to_string();
                self.states.fail(name, version, &sha, reason.clone());
                Err(reason)
            }
        }
    }
}

/// Whether two lists of inference config entries say the same (the
/// contracts published from them would be the same).
fn same_entries(a: &[ModelEntry], b: &[ModelEntry]) -> bool {
    let text = |entries: &[ModelEntry]| serde_json::to_string(entries).unwrap_or_default();
    text(a) == text(b)
}

/// Whether two sets route alike: the same versions (the same loaded
/// models) under the same names in the same order, with the same traffic.
fn same_set(a: &ModelSet, b: &ModelSet) -> bool {
    a.routes().len() == b.routes().len()
        && a.routes().iter().zip(b.routes()).all(|(x, y)| {
            x.name() == y.name()
                && x.traffic() == y.traffic()
                && x.versions().len() == y.versions().len()
                && x.versions()
                    .iter()
                    .zip(y.versions())
                    .all(|(p, q)| Arc::ptr_eq(p, q))
        })
}
