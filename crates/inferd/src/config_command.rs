//! `inferd config show` and `inferd config schema`.

use anyhow::Result;
use clap::ArgMatches;
use inferd_config::DeploymentConfig;

use crate::cli::{ConfigArgs, ConfigCommand};

pub fn run(args: ConfigArgs, matches: &ArgMatches) -> Result<()> {
    match args.command {
        ConfigCommand::Show { limits } => {
            let show = matches
                .subcommand_matches("show")
                .expect("clap matched show");
            let (file, limits) = crate::limits::resolve(&limits, show)?;
            crate::limits::show(file.as_ref(), &limits);
        }
        ConfigCommand::Schema => {
            let schema = schemars::schema_for!(DeploymentConfig);
            println!("{}", serde_json::to_string_pretty(&schema)?);
        }
    }
    Ok(())
}
