//! The models a server serves, and how a request finds one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use inferd_backend::LoadedModel;
use inferd_tensor::Signature;

use crate::batcher::{BatchOptions, check_batchable};
use crate::executor::{Scored, SessionCheck, StartError};
use crate::worker::Prepare;
use crate::{Admission, EngineError, Executor, ExecutorOptions, LoadError, Ticket};

/// One model version, loaded and with its workers running.
pub struct ServedModel {
    pub name: String,
    pub version: u32,
    /// The registry's content hash of the version's files.
    pub sha256: String,
    pub engine: &'static str,
    /// Where the engine runs it (`cpu`, `cuda:0`, or a CPU fallback and why).
    pub device: String,
    pub signature: Signature,
    pub executor: Executor,
    pub admission: Arc<Admission>,
    /// Reading, optimising and starting the workers (zero when not loaded
    /// from a registry).
    pub load_duration: Duration,
}

/// Where a model version comes from, for logs and routes.
#[derive(Debug, Clone)]
pub struct ModelIdentity {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub engine: &'static str,
}

impl ServedModel {
    /// Starts the workers of a loaded model behind the container's `admission`.
    pub fn start(
        identity: ModelIdentity,
        loaded: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        admission: Arc<Admission>,
    ) -> Result<ServedModel, LoadError> {
        ServedModel::start_batched(identity, loaded, options, None, admission)
    }

    /// As [`ServedModel::start`], batching requests as `batching` says
    /// (refused when the model's inputs have no free first dimension).
    pub fn start_batched(
        identity: ModelIdentity,
        loaded: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        batching: Option<BatchOptions>,
        admission: Arc<Admission>,
    ) -> Result<ServedModel, LoadError> {
        ServedModel::start_checked(identity, loaded, options, batching, admission, &mut |_| {
            Ok(())
        })
    }

    /// As [`ServedModel::start_batched`], each worker's session passing
    /// `check` first (see [`Executor::start_checked`]): a refusal is
    /// [`LoadError::SelfTest`] and nothing is left running.
    pub fn start_checked(
        identity: ModelIdentity,
        loaded: Arc<dyn LoadedModel>,
        options: ExecutorOptions,
        batching: Option<BatchOptions>,
        admission: Arc<Admission>,
        check: &mut SessionCheck<'_>,
    ) -> Result<ServedModel, LoadError> {
        let label = format!("{}:{}", identity.name, identity.version);
        if batching.is_some() {
            check_batchable(loaded.signature()).map_err(|reason| LoadError::Batching {
                model: label.clone(),
                reason,
            })?;
        }
        let executor =
            Executor::start_checked(&identity.name, loaded.clone(), options, batching, check)
                .map_err(|e| match e {
                    StartError::Check(reason) => LoadError::SelfTest {
                        model: label,
                        reason,
                    },
                    StartError::Backend(e) => LoadError::Workers {
                        model: label,
                        reason: e.to_string(),
                    },
                })?;
        Ok(ServedModel {
            name: identity.name,
            version: identity.version,
            sha256: identity.sha256,
            engine: identity.engine,
            device: loaded.device(),
            signature: loaded.signature().clone(),
            executor,
            admission,
            load_duration: Duration::ZERO,
        })
    }

    /// Counts a request for this model while the guard lives: from before
    /// its body is read until its answer, so a batch knows whether company
    /// may still come.
    pub fn arrive(&self, now: Instant) -> crate::callers::Caller {
        self.executor.arrive(now)
    }

    /// A place in the container's queue (`QueueFull` at once). The request
    /// must start within the queue wait from now.
    pub fn enter(&self) -> Result<Ticket, EngineError> {
        self.admission.enter()
    }

    /// Runs the model once a worker has a slot for it (503 past the ticket's
    /// deadline), at most the scoring timeout from the start (504 past it).
    /// `prepare` makes the inputs on the worker thread when the turn comes.
    /// The executor's own future, not one wrapped around it: each level of
    /// nesting is a copy of the level below on every request.
    pub fn run_prepared(
        &self,
        prepare: Prepare,
        ticket: Ticket,
    ) -> impl Future<Output = Result<Scored, EngineError>> + Send + '_ {
        self.executor.score_prepared(prepare, ticket)
    }
}

/// Every served model version, by name. The first name is the default
/// (`/score`); a name's route without a version reaches its latest served
/// version, or splits its requests by the weights of its traffic.
#[derive(Clone)]
pub struct ModelSet {
    routes: Arc<[Route]>,
}

/// One served name: its versions (ascending) and how its route without a
/// version picks one.
pub struct Route {
    versions: Vec<Arc<ServedModel>>,
    split: Option<Split>,
}

/// A traffic split: of every `total` requests in turn, each version takes
/// its weight's share, in an order spread over the turn (a stride coprime
/// with `total` walks every slot once), so 10% is every tenth request or
/// so, not the last tenth of a hundred.
struct Split {
    /// The running sum of the weights and the version each range goes to.
    ranges: Vec<(u64, usize)>,
    total: u64,
    stride: u64,
    turn: AtomicU64,
}

/// A route that cannot be served as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("model '{0}' has no version to serve")]
    NoVersion(String),
    #[error("model '{name}': traffic names version {version}, which is not served")]
    TrafficVersion { name: String, version: u32 },
    #[error("model '{0}': the traffic weights add up to zero")]
    NoTraffic(String),
    #[error("model '{0}' is listed twice")]
    Duplicate(String),
}

impl Route {
    /// `versions` (at least one, all of one name) served, the route without
    /// a version splitting by `traffic` (version, weight) when given.
    pub fn new(
        mut versions: Vec<Arc<ServedModel>>,
        traffic: &[(u32, u32)],
    ) -> Result<Route, RouteError> {
        versions.sort_by_key(|m| m.version);
        versions.dedup_by_key(|m| m.version);
        let name = match versions.first() {
            Some(first) => first.name.clone(),
            None => return Err(RouteError::NoVersion(String::new())),
        };
        let split = if traffic.is_empty() {
            None
        } else {
            let mut ranges = Vec::with_capacity(traffic.len());
            let mut total = 0u64;
            for &(version, weight) in traffic {
                let index = versions
                    .iter()
                    .position(|m| m.version == version)
                    .ok_or_else(|| RouteError::TrafficVersion {
                        name: name.clone(),
                        version,
                    })?;
                if weight > 0 {
                    total += u64::from(weight);
                    ranges.push((total, index));
                }
            }
            if total == 0 {
                return Err(RouteError::NoTraffic(name));
            }
            Some(Split {
                ranges,
                total,
                stride: stride_for(total),
                turn: AtomicU64::new(0),
            })
        };
        Ok(Route { versions, split })
    }

    pub fn name(&self) -> &str {
        &self.versions[0].name
    }

    /// The served versions, ascending.
    pub fn versions(&self) -> &[Arc<ServedModel>] {
        &self.versions
    }

    /// The version a request without one goes to.
    pub fn pick(&self) -> &Arc<ServedModel> {
        match &self.split {
            None => self.versions.last().expect("a route has a version"),
            Some(split) => {
                let turn = split.turn.fetch_add(1, Ordering::Relaxed) % split.total;
                let slot = turn * split.stride % split.total;
                let index = split
                    .ranges
                    .iter()
                    .find(|(end, _)| slot < *end)
                    .map_or(0, |(_, index)| *index);
                &self.versions[index]
            }
        }
    }

    /// `version` when it is served.
    pub fn version(&self, version: u32) -> Option<&Arc<ServedModel>> {
        self.versions.iter().find(|m| m.version == version)
    }

    /// The traffic weights as given (version, weight), empty without a split.
    pub fn traffic(&self) -> Vec<(u32, u32)> {
        let Some(split) = &self.split else {
            return Vec::new();
        };
        let mut start = 0;
        split
            .ranges
            .iter()
            .map(|&(end, index)| {
                let weight = (end - start) as u32;
                start = end;
                (self.versions[index].version, weight)
            })
            .collect()
    }
}

/// A step near `total`'s golden section that shares no factor with it.
fn stride_for(total: u64) -> u64 {
    let gcd = |mut a: u64, mut b: u64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut stride = (total * 618 / 1000).max(1);
    while gcd(stride, total) != 1 {
        stride += 1;
    }
    stride
}

impl ModelSet {
    /// One version of each model; `models` must not be empty and must not
    /// repeat a name (the loader checks both).
    pub fn new(models: Vec<ServedModel>) -> ModelSet {
        assert!(!models.is_empty(), "a model set serves at least one model");
        let routes: Vec<Route> = models
            .into_iter()
            .map(|m| Route::new(vec![Arc::new(m)], &[]).expect("one version, no traffic"))
            .collect();
        ModelSet {
            routes: routes.into(),
        }
    }

    /// These routes, the first the default; none empty, no name twice.
    pub fn from_routes(routes: Vec<Route>) -> Result<ModelSet, RouteError> {
        if routes.is_empty() {
            return Err(RouteError::NoVersion("(none)".into()));
        }
        for (i, route) in routes.iter().enumerate() {
            if routes[..i].iter().any(|r| r.name() == route.name()) {
                return Err(RouteError::Duplicate(route.name().to_owned()));
            }
        }
        Ok(ModelSet {
            routes: routes.into(),
        })
    }

    /// The version `/score` goes to now.
    pub fn default_model(&self) -> &Arc<ServedModel> {
        self.routes[0].pick()
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name() == name)
    }

    /// The model served under `name`: `version` when given (and served),
    /// else the one its route picks.
    pub fn find(&self, name: &str, version: Option<u32>) -> Option<&Arc<ServedModel>> {
        let route = self.route(name)?;
        match version {
            Some(version) => route.version(version),
            None => Some(route.pick()),
        }
    }

    /// Every served version, by name in serving order, versions ascending.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ServedModel>> {
        self.routes.iter().flat_map(|r| r.versions.iter())
    }

    /// How many versions are served.
    pub fn len(&self) -> usize {
        self.routes.iter().map(|r| r.versions.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_gives_each_version_its_share_in_every_turn() {
        for (weights, total) in [
            (vec![90u64, 10], 100u64),
            (vec![1, 1, 1], 3),
            (vec![7, 5], 12),
        ] {
            let stride = stride_for(total);
            let mut seen = vec![false; total as usize];
            for turn in 0..total {
                seen[(turn * stride % total) as usize] = true;
            }
            assert!(
                seen.iter().all(|s| *s),
                "{weights:?}: every slot once a turn"
            );
        }
        // 10% spread over the turn: no run of the small share is long.
        let stride = stride_for(100);
        let small: Vec<u64> = (0..100).filter(|t| t * stride % 100 >= 90).collect();
        assert_eq!(small.len(), 10);
        assert!(small.windows(2).all(|w| w[1] - w[0] > 3), "{small:?}");
    }
}
