//! Reading what a render needs: the deployment config, the inference
//! config (made self-contained for a ConfigMap), the TLS files it names
//! and the keys (the config's, any missing one made by the caller's
//! generator, as the contract's service generates them).

use std::path::{Path, PathBuf};

use inferd_config::{DeploymentConfig, InferenceConfig};

use crate::pod::strip_nulls;
use crate::{DeployError, Sources, Tls};

/// Where the configs are; either may be absent (the contract's defaults,
/// and the image's models).
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub deployment: Option<PathBuf>,
    pub inference: Option<PathBuf>,
}

impl Sources {
    /// Reads and checks everything `paths` names. `new_key` makes a key
    /// when auth is on and the config lacks one.
    pub fn read(
        paths: &Paths,
        new_key: &mut dyn FnMut() -> std::io::Result<String>,
    ) -> Result<(Sources, Option<InferenceConfig>), DeployError> {
        let deployment = match &paths.deployment {
            Some(path) => DeploymentConfig::from_path(path)?,
            None => DeploymentConfig::default(),
        };
        let inference = paths
            .inference
            .as_deref()
            .map(InferenceConfig::from_path)
            .transpose()?;
        let config_dir = paths
            .deployment
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        let sources = Sources {
            tls: tls_files(&deployment, config_dir)?,
            keys: keys(&deployment, new_key)?,
            inference_wants_gpu: inference
                .as_ref()
                .is_some_and(|c| c.models.iter().any(|m| c.gpu_of(m))),
            inference: inference.as_ref().map(|c| {
                let mut value = serde_json::to_value(c.inline()).expect("configs serialise");
                strip_nulls(&mut value);
                value
            }),
            deployment,
        };
        Ok((sources, inference))
    }
}

/// The certificate chain and key, relative to the config's folder.
fn tls_files(config: &DeploymentConfig, config_dir: &Path) -> Result<Option<Tls>, DeployError> {
    if config.ssl_enabled != Some(true) {
        return Ok(None);
    }
    let read = |field: &str, path: &Option<String>| -> Result<String, DeployError> {
        let path = path
            .as_deref()
            .ok_or_else(|| DeployError::invalid(field, "missing, and sslEnabled is true"))?;
        let path = config_dir.join(path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            DeployError::invalid(field, format!("cannot read {}: {e}", path.display()))
        })?;
        if !text.contains("-----BEGIN ") {
            return Err(DeployError::invalid(
                field,
                format!("{} is not PEM", path.display()),
            ));
        }
        Ok(text)
    };
    Ok(Some(Tls {
        certificate: read("sslCertificate", &config.ssl_certificate)?,
        key: read("sslKey", &config.ssl_key)?,
    }))
}

/// With auth on: the config's keys, any missing one generated.
fn keys(
    config: &DeploymentConfig,
    new_key: &mut dyn FnMut() -> std::io::Result<String>,
) -> Result<Option<(String, String)>, DeployError> {
    if !config.auth_enabled() {
        return Ok(None);
    }
    let given = config.keys.as_ref();
    let mut pick = |key: Option<&String>| -> Result<String, DeployError> {
        match key.filter(|k| !k.is_empty()) {
            Some(key) => Ok(key.clone()),
            None => new_key()
                .map_err(|e| DeployError::invalid("keys", format!("cannot generate a key: {e}"))),
        }
    };
    let primary = pick(given.and_then(|k| k.primary_key.as_ref()))?;
    let secondary = pick(given.and_then(|k| k.secondary_key.as_ref()))?;
    inferd_auth::KeySet::new(Some(&primary), Some(&secondary))
        .map_err(|e| DeployError::invalid("keys", e.to_string()))?;
    Ok(Some((primary, secondary)))
}
