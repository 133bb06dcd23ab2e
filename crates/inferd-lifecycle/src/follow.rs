//! Continuous deployment: a thread that reads the registry every poll
//! interval and applies the plan again when the versions registered for a
//! model served by a version policy change. A change is acted on once two
//! reads in a row agree (debounced), so a version folder being written by
//! hand is not read half-way; `inferd model register` renames a finished
//! version into place, so its versions appear whole.

use std::sync::Weak;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::Lifecycle;

pub(crate) fn spawn(lifecycle: Weak<Lifecycle>, every: Duration, stop: Receiver<()>) {
    let spawned = std::thread::Builder::new()
        .name("inferd-follow".into())
        .spawn(move || {
            let mut last: Option<Vec<(String, Vec<u32>)>> = None;
            // Each wait is bounded by the interval; the lifecycle's end
            // closes the channel and ends the thread at once.
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
                let Some(lifecycle) = lifecycle.upgrade() else {
                    return;
                };
                lifecycle.retired.reap(
                    &lifecycle.states,
                    lifecycle.settings.after_unload.as_deref(),
                );
                let now = lifecycle.registered(&lifecycle.lock().plan);
                if last.as_ref() != Some(&now) {
                    last = Some(now);
                    continue;
                }
                if let Err(error) = lifecycle.refresh() {
                    tracing::warn!(%error, "registry change not applied");
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the registry poll; new registrations need a load or SIGHUP");
    }
}
