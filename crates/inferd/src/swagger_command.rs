//! `inferd swagger`: loads the models (for their signatures) and prints the
//! document `serve` would answer at `/swagger.json`, without serving.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::ArgMatches;
use inferd_backend::TractEngine;
use inferd_config::DeploymentConfig;
use inferd_engine::{Admission, AdmissionOptions, ExecutorOptions, load_models};
use inferd_openapi::SpecVersion;
use inferd_registry::Registry;

use crate::cli::SwaggerArgs;
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
    let models = load_models(&registry, &refs, &TractEngine, executor, admission)
        .context("cannot load the models")?;
    let info = service_api::service_info(deployment.as_ref());
    let api = service_api::build(&info, &models, inference.as_ref())?;
    let document = api.document(version);
    println!("{}", String::from_utf8_lossy(&document));
    Ok(())
}
