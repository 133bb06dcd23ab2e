//! Loading one version the way every served version is loaded: read and
//! optimised by its engine, every worker's session self-tested on the
//! sample request (and on the outputs recorded beside the model, when
//! there are some), then its workers started. The lifecycle uses it for
//! each version it serves; anything else that runs a model on the
//! scoring core's workers (a batch job) uses it to get the same checks.

use std::sync::Arc;

use inferd_backend::Engine;
use inferd_config::ModelEntry;
use inferd_engine::{
    Admission, BatchOptions, ExecutorOptions, LoadError, ServedModel, read_registered,
};
use inferd_registry::{ModelRef, Registry};

use crate::self_test;

/// Reads `reference` (a version: `NAME:N`, or the latest for `NAME`) from
/// `registry` with `engine`, self-tests every session against `entry`'s
/// samples and the version's recorded outputs, and starts its workers.
/// `self_testing` is called once the model is read, before the test.
#[allow(clippy::too_many_arguments)]
pub fn load_checked(
    registry: &Registry,
    engine: &dyn Engine,
    reference: &ModelRef,
    entry: Option<&ModelEntry>,
    options: ExecutorOptions,
    batching: Option<BatchOptions>,
    admission: Arc<Admission>,
    self_testing: &mut dyn FnMut(),
) -> Result<ServedModel, LoadError> {
    let registered = registry.get(reference)?;
    let files = registered.model_path();
    let (identity, loaded) = read_registered(registered, engine)?;
    self_testing();
    let label = format!("{}:{}", identity.name, identity.version);
    let mut check =
        self_test::check(&loaded, entry, &files).map_err(|reason| LoadError::SelfTest {
            model: label,
            reason,
        })?;
    ServedModel::start_checked(identity, loaded, options, batching, admission, &mut check)
}
