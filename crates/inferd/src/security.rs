//! Keys and TLS for `inferd serve`: their options, and what the flags, the
//! environment and the deployment config resolve to. Precedence as for the
//! limits: flag, then environment, then the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;
use inferd_auth::{DEFAULT_OPEN_ROUTES, Gate, KeySet, KeyStore};
use inferd_config::DeploymentConfig;

#[derive(Debug, Args)]
pub struct SecurityArgs {
    /// Require `Authorization: Bearer <key>` on every route but the open
    /// ones (authEnabled; default: the deployment config's, else false).
    #[arg(long, env = "INFERD_AUTH_ENABLED")]
    pub auth_enabled: Option<bool>,

    /// The primary key (keys.primaryKey). Prefer the environment variable
    /// or a keys file: a flag is visible to other users in `ps`.
    #[arg(long, env = "INFERD_PRIMARY_KEY", hide_env_values = true)]
    pub primary_key: Option<String>,

    /// The secondary key (keys.secondaryKey); both keys are accepted.
    #[arg(long, env = "INFERD_SECONDARY_KEY", hide_env_values = true)]
    pub secondary_key: Option<String>,

    /// A file holding the keys (JSON {"primaryKey", "secondaryKey"}, or one
    /// key per line), such as a mounted Secret; re-read while serving, so
    /// rotated keys take effect without a restart.
    #[arg(long, env = "INFERD_KEYS_FILE")]
    pub keys_file: Option<PathBuf>,

    /// How often the keys file is re-read, in ms.
    #[arg(long, env = "INFERD_KEYS_FILE_POLL_MS", default_value_t = 1000)]
    pub keys_file_poll_ms: u64,

    /// Where keys generated at start (auth on, no key given) are written,
    /// readable by the owner only; the file must not exist. Default: a new
    /// file in the temporary directory.
    #[arg(long, env = "INFERD_GENERATED_KEYS_FILE")]
    pub generated_keys_file: Option<PathBuf>,

    /// Paths that answer without a key when auth is on (exact paths,
    /// comma-separated; an empty value leaves none open).
    #[arg(long, env = "INFERD_OPEN_ROUTES", value_delimiter = ',', default_values_t = DEFAULT_OPEN_ROUTES.iter().map(|s| s.to_string()))]
    pub open_routes: Vec<String>,

    /// Serve HTTPS (sslEnabled; default: the deployment config's, else false).
    #[arg(long, env = "INFERD_SSL_ENABLED")]
    pub ssl_enabled: Option<bool>,

    /// The certificate chain, PEM (sslCertificate).
    #[arg(long, env = "INFERD_SSL_CERTIFICATE")]
    pub ssl_certificate: Option<PathBuf>,

    /// The certificate's private key, PEM (sslKey).
    #[arg(long, env = "INFERD_SSL_KEY")]
    pub ssl_key: Option<PathBuf>,
}

/// What the server enforces.
pub struct Security {
    pub gate: Option<Gate>,
    /// The repository API's (model load and unload): the service's keys,
    /// whenever there are any, with no open route; none without keys.
    pub admin: Option<Gate>,
    pub tls: Option<Arc<inferd_tls::ServerConfig>>,
}

/// `config_path` is the deployment config's own path: the certificate and
/// key paths inside it are relative to its folder.
pub fn resolve(
    args: &SecurityArgs,
    file: Option<&DeploymentConfig>,
    config_path: Option<&Path>,
) -> Result<Security> {
    let auth = args
        .auth_enabled
        .or(file.map(DeploymentConfig::auth_enabled))
        .unwrap_or(false);
    let given = args.primary_key.is_some()
        || args.secondary_key.is_some()
        || args.keys_file.is_some()
        || file
            .and_then(|f| f.keys.as_ref())
            .is_some_and(|k| k.primary_key.is_some() || k.secondary_key.is_some());
    let (gate, admin) = if auth {
        let open = args
            .open_routes
            .iter()
            .filter(|r| !r.is_empty())
            .cloned()
            .collect::<Vec<_>>();
        tracing::info!(open_routes = ?open, "key authentication on");
        let store = keys(args, file)?;
        (
            Some(Gate::new(store.clone(), open)),
            Some(Gate::new(store, Vec::new())),
        )
    } else if given {
        tracing::warn!(
            "keys were given but authEnabled is false: scoring needs no key; model load and unload need one"
        );
        (None, Some(Gate::new(keys(args, file)?, Vec::new())))
    } else {
        (None, None)
    };
    if admin.is_none() {
        tracing::info!(
            "no keys: model load and unload by the repository API are refused (the registry is still followed)"
        );
    }
    let tls = if args
        .ssl_enabled
        .or(file.and_then(|f| f.ssl_enabled))
        .unwrap_or(false)
    {
        Some(tls(args, file, config_path)?)
    } else {
        None
    };
    Ok(Security { gate, admin, tls })
}

fn keys(args: &SecurityArgs, file: Option<&DeploymentConfig>) -> Result<Arc<KeyStore>> {
    if args.primary_key.is_some() || args.secondary_key.is_some() {
        let keys = KeySet::new(args.primary_key.as_deref(), args.secondary_key.as_deref())
            .context("the keys given by flag or environment")?;
        tracing::info!(source = "flag or environment", "keys in force");
        return Ok(KeyStore::fixed(keys));
    }
    if let Some(path) = &args.keys_file {
        let interval = Duration::from_millis(args.keys_file_poll_ms.max(10));
        let store = KeyStore::watch_file(path, interval)?;
        tracing::info!(source = %path.display(), ?interval, "keys in force; the file is re-read");
        return Ok(store);
    }
    if let Some(keys) = file.and_then(|f| f.keys.as_ref())
        && (keys.primary_key.is_some() || keys.secondary_key.is_some())
    {
        let keys = KeySet::new(keys.primary_key.as_deref(), keys.secondary_key.as_deref())
            .context("the deployment config's keys")?;
        tracing::info!(source = "deployment config", "keys in force");
        return Ok(KeyStore::fixed(keys));
    }
    let path = args.generated_keys_file.clone().unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        std::env::temp_dir().join(format!("inferd-keys-{}-{nanos}.json", std::process::id()))
    });
    let generated = inferd_auth::generate_keys(&path)
        .with_context(|| format!("cannot write generated keys to {}", path.display()))?;
    // Where, never what: the keys themselves stay in the file.
    eprintln!(
        "inferd: authEnabled and no key given: two keys were generated and written to {} (owner-only)",
        generated.path.display()
    );
    tracing::warn!(path = %generated.path.display(), "generated keys written (the keys are not logged)");
    Ok(KeyStore::fixed(generated.keys))
}

fn tls(
    args: &SecurityArgs,
    file: Option<&DeploymentConfig>,
    config_path: Option<&Path>,
) -> Result<Arc<inferd_tls::ServerConfig>> {
    let from_file = |value: Option<&String>| {
        let value = PathBuf::from(value?);
        let base = config_path.and_then(Path::parent).unwrap_or(Path::new(""));
        Some(base.join(value))
    };
    let certificate = args
        .ssl_certificate
        .clone()
        .or_else(|| from_file(file.and_then(|f| f.ssl_certificate.as_ref())));
    let key = args
        .ssl_key
        .clone()
        .or_else(|| from_file(file.and_then(|f| f.ssl_key.as_ref())));
    let (Some(certificate), Some(key)) = (certificate, key) else {
        bail!(
            "sslEnabled needs both sslCertificate and sslKey (--ssl-certificate and --ssl-key, \
             INFERD_SSL_CERTIFICATE and INFERD_SSL_KEY, or the deployment config)"
        );
    };
    let loaded = inferd_tls::load(&certificate, &key)?;
    if let Some(warning) = loaded.validity_warning(SystemTime::now()) {
        tracing::warn!(certificate = %certificate.display(), "{warning}");
    }
    tracing::info!(certificate = %certificate.display(), "TLS on (TLS 1.2 and 1.3; h2 and http/1.1)");
    Ok(loaded.config)
}
