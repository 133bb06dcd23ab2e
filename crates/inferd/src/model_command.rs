//! `inferd model ...`: the registry from the shell.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use inferd_registry::{ModelVersion, Registration, Registry, RegistryError};

use crate::cli::{ModelArgs, ModelCommand};

pub fn run(registry: &Path, args: ModelArgs) -> Result<()> {
    let registry = Registry::new(registry);
    match args.command {
        ModelCommand::Register {
            name,
            path,
            tags,
            description,
        } => {
            let registration = Registration {
                tags: parse_tags(&tags)?,
                description,
            };
            let version = registry.register(&name, &path, registration)?;
            println!(
                "registered {}:{} ({})",
                version.name,
                version.version,
                version.model_path().display()
            );
        }
        ModelCommand::List { json } => {
            let versions = registry.list()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &versions.iter().map(describe).collect::<Vec<_>>()
                    )?
                );
            } else {
                print_table(&versions);
            }
        }
        ModelCommand::Show { model } => {
            let version = registry.get(&model)?;
            println!("{}", serde_json::to_string_pretty(&describe(&version))?);
        }
        ModelCommand::Delete { model } => {
            let removed = registry.delete(&model)?;
            let list: Vec<String> = removed.iter().map(u32::to_string).collect();
            println!("deleted {} version(s) {}", model.name, list.join(", "));
        }
    }
    Ok(())
}

fn parse_tags(tags: &[String]) -> Result<BTreeMap<String, String>, RegistryError> {
    tags.iter()
        .map(|tag| match tag.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(RegistryError::InvalidTag(tag.clone())),
        })
        .collect()
}

/// The metadata plus what `get_model_path` answers.
fn describe(version: &ModelVersion) -> serde_json::Value {
    let mut value = serde_json::to_value(version).expect("metadata serialises");
    value["path"] = version.model_path().display().to_string().into();
    value
}

fn print_table(versions: &[ModelVersion]) {
    if versions.is_empty() {
        println!("(no models registered)");
        return;
    }
    println!(
        "{:<24} {:>7}  {:<20}  {:<12}  DESCRIPTION",
        "NAME", "VERSION", "CREATED", "SHA256"
    );
    for v in versions {
        println!(
            "{:<24} {:>7}  {:<20}  {:<12}  {}",
            v.name,
            v.version,
            v.created_at.get(..19).unwrap_or(&v.created_at),
            &v.sha256[..12.min(v.sha256.len())],
            v.description
        );
    }
}
