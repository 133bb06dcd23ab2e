//! The batching flags of `inferd serve`, turned into the engine's
//! [`BatchPolicy`]. The inference config's per-model `batching` object
//! ({maxBatchSize, maxBatchDelayMs, preferredBatchSizes}) maps onto the same
//! policy's `per_model` entries.

use std::time::Duration;

use clap::Args;
use inferd_engine::{BatchOptions, BatchPolicy};

/// Dynamic batching for every served model (off by default).
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Gather concurrent requests to a model into one run of at most this
    /// many rows; 1 (the default) runs each request alone.
    #[arg(long, env = "INFERD_MAX_BATCH_SIZE", default_value_t = 1)]
    pub max_batch_size: usize,

    /// How long the first request of a batch may wait for company, in ms
    /// (never past its maxQueueWaitMs deadline).
    #[arg(long, env = "INFERD_MAX_BATCH_DELAY_MS", default_value_t = 0.0)]
    pub max_batch_delay_ms: f64,

    /// Batch sizes (rows) at which a batch runs at once, comma-separated.
    #[arg(long, env = "INFERD_PREFERRED_BATCH_SIZES", value_delimiter = ',')]
    pub preferred_batch_sizes: Vec<usize>,
}

impl BatchArgs {
    pub fn policy(&self) -> anyhow::Result<BatchPolicy> {
        if !(self.max_batch_delay_ms.is_finite() && self.max_batch_delay_ms >= 0.0) {
            anyhow::bail!("--max-batch-delay-ms must be a number of ms, 0 or more");
        }
        if self.max_batch_size == 0 {
            anyhow::bail!("--max-batch-size must be 1 or more");
        }
        if let Some(bad) = self
            .preferred_batch_sizes
            .iter()
            .find(|&&s| s == 0 || s > self.max_batch_size)
        {
            anyhow::bail!(
                "--preferred-batch-sizes: {bad} is not between 1 and --max-batch-size ({})",
                self.max_batch_size
            );
        }
        let all = (self.max_batch_size > 1).then(|| BatchOptions {
            max_batch_size: self.max_batch_size,
            max_delay: Duration::from_secs_f64(self.max_batch_delay_ms / 1000.0),
            preferred_sizes: self.preferred_batch_sizes.clone(),
        });
        Ok(BatchPolicy {
            all,
            ..BatchPolicy::default()
        })
    }
}

/// The flags' policy, with the inference config's per-model `batching`
/// objects on top (a model's own entry wins over the flags' default).
pub fn policy(
    args: &BatchArgs,
    inference: Option<&crate::service_api::Inference>,
) -> anyhow::Result<BatchPolicy> {
    let mut policy = args.policy()?;
    let Some(inference) = inference else {
        return Ok(policy);
    };
    for (index, entry) in inference.config.models.iter().enumerate() {
        let Some(batching) = &entry.batching else {
            continue;
        };
        let model: inferd_registry::ModelRef = entry.model.parse().map_err(|e| {
            anyhow::anyhow!(
                "inference config {}: models[{index}].model: {e}",
                inference.path
            )
        })?;
        policy.per_model.insert(
            model.name,
            BatchOptions {
                max_batch_size: batching.max_batch_size as usize,
                max_delay: Duration::from_millis(batching.max_batch_delay_ms),
                preferred_sizes: batching
                    .preferred_batch_sizes
                    .iter()
                    .map(|&size| size as usize)
                    .collect(),
            },
        );
    }
    Ok(policy)
}
