//! `inferd swagger`: loads the models (for their signatures) and prints the
//! document `serve` would answer at `/swagger.json`, without serving.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::ArgMatches;
use inferd_config::DeploymentConfig;
use inferd_engine::{Admission, AdmissionOptions, BatchPolicy, ExecutorOptions, load_models_with};
use inferd_openapi::SpecVersion;
use inferd_registry::Registry;

use crate::cli::SwaggerArgs;
use crate::engines::{Engines, Resources};
use crate::service_api::{self, Inference};

pub fn run(args: SwaggerArgs, matches: &ArgMatches) -> Result<()> {
    let version = SpecVersion::from_query(&args.version)?;
    let inference = Inference::read(args.inference_config.as_deref())?;
    let refs = service_api::model_refs(&args.models, matches, inference.as_ref())?;
    let deployment = args
        .deployment_config
        .as_deref()
        .map(DeploymentConfig::from_path)
        .transpose()?;
    let admission = Admission::new(AdmissionOptions {
        max_concurrent: 1,
        max_queue_wait: Duration::from_millis(1),
        max_queue_length: 1,
    });
    let executor = ExecutorOptions {
        workers: 1,
        ..ExecutorOptions::default()
    };
    let registry = Registry::new(&args.registry);
    let engines = Engines::resolve(
        &args.engines,
        inference.as_ref(),
        &Resources {
            gpu_cores: deployment.as_ref().and_then(|d| d.gpu_cores()),
            intra_threads: 1,
        },
    )?;
    let none = BatchPolicy::default();
    let models = load_models_with(&registry, &refs, &engines, executor, &none, admission)
        .context("cannot load the models")?;
    let info = service_api::service_info(deployment.as_ref());
    let api = service_api::build(&info, &models, inference.as_ref())?;
    let document = api.document(version);
    println!("{}", String::from_utf8_lossy(&document));
    Ok(())
}
