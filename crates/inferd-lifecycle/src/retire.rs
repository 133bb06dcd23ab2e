//! Replaced versions, until their last request ends. A version leaves the
//! routes at once; requests admitted to it still hold it, and when the
//! last lets go its executor stops its workers and its engine's memory is
//! freed (dropping the last `Arc` does it, on whichever thread that is).
//! Here it is only noticed: its state goes from draining to gone, and the
//! binary's hook hands the freed pages back to the system.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use inferd_engine::ServedModel;

use crate::States;

#[derive(Default)]
pub(crate) struct Retired {
    draining: Mutex<Vec<(String, u32, Weak<ServedModel>)>>,
}

impl Retired {
    pub(crate) fn add(&self, model: &Arc<ServedModel>) {
        self.lock()
            .push((model.name.clone(), model.version, Arc::downgrade(model)));
    }

    /// Forgets the versions no request holds any more; runs `after` once
    /// when any went.
    pub(crate) fn reap(&self, states: &States, after: Option<&(dyn Fn() + Send + Sync)>) {
        let mut gone = Vec::new();
        self.lock().retain(|(name, version, model)| {
            let alive = model.strong_count() > 0;
            if !alive {
                gone.push((name.clone(), *version));
            }
            alive
        });
        for (name, version) in &gone {
            // Loaded again since it was retired: its state is the new one's.
            if states
                .get(name, *version)
                .is_some_and(|s| s.state == crate::State::Draining)
            {
                states.remove(name, *version);
            }
        }
        if !gone.is_empty()
            && let Some(after) = after
        {
            after();
        }
    }

    /// How many replaced versions still have requests.
    pub(crate) fn draining(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, u32, Weak<ServedModel>)>> {
        self.draining.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
