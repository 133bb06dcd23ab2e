//! The [`Registry`]: register, list, find and delete model versions.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::copy::copy_into;
use crate::metadata::{FILES_DIR, METADATA_FILE};
use crate::{ModelRef, ModelVersion, RegistryError, validate_name};

const LOCK_FILE: &str = ".lock";
const LAST_VERSION_FILE: &str = ".last-version";

/// What a caller says about a new version besides its files.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub tags: BTreeMap<String, String>,
    pub description: String,
}

/// A registry rooted at a folder; or one plain model served where it lies.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    /// Set for [`Registry::plain`]: its only model, and nothing under `root`.
    plain: Option<Arc<ModelVersion>>,
}

impl Registry {
    /// A registry at `root`. The folder is created on the first registration.
    pub fn new(root: impl Into<PathBuf>) -> Registry {
        Registry {
            root: root.into(),
            plain: None,
        }
    }

    /// A registry whose only model is `path` (an `.onnx` file or a folder
    /// holding one), as version 1 of `name`, read in place (see
    /// [`crate::plain`]). It takes no registration.
    pub fn plain(name: &str, path: &Path) -> Result<Registry, RegistryError> {
        let version = crate::plain::describe(name, path)?;
        Ok(Registry {
            root: path.to_owned(),
            plain: Some(Arc::new(version)),
        })
    }

    /// The error for writing to a plain model.
    fn read_only(&self) -> Option<RegistryError> {
        self.plain.as_ref().map(|plain| RegistryError::Plain {
            path: self.root.clone(),
            name: plain.name.clone(),
        })
    }

    /// Registers `source` (a file or a folder) as the next version of `name`.
    ///
    /// The files are copied and hashed into a staging folder first, outside
    /// any lock; then, under the model's lock, the next version number is
    /// taken and the staging folder renamed into place. A crash leaves at
    /// most a staging folder, which readers ignore.
    pub fn register(
        &self,
        name: &str,
        source: &Path,
        registration: Registration,
    ) -> Result<ModelVersion, RegistryError> {
        validate_name(name)?;
        if let Some(error) = self.read_only() {
            return Err(error);
        }
        let model_dir = self.root.join(name);
        fs::create_dir_all(&model_dir).map_err(RegistryError::io("cannot create", &model_dir))?;
        let staging = model_dir.join(format!(".staging-{}", uuid::Uuid::new_v4()));
        let result = self.stage_and_publish(name, source, registration, &model_dir, &staging);
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    fn stage_and_publish(
        &self,
        name: &str,
        source: &Path,
        registration: Registration,
        model_dir: &Path,
        staging: &Path,
    ) -> Result<ModelVersion, RegistryError> {
        let files_dir = staging.join(FILES_DIR);
        fs::create_dir_all(&files_dir).map_err(RegistryError::io("cannot create", &files_dir))?;
        let copied = copy_into(source, &files_dir)?;
        let created_at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .expect("RFC 3339 formats every UTC time");

        let _lock = lock(model_dir)?;
        let version = self.last_version(model_dir)? + 1;
        let mut entry = ModelVersion {
            name: name.to_owned(),
            version,
            kind: copied.kind,
            description: registration.description,
            tags: registration.tags,
            created_at,
            sha256: copied.sha256,
            files: copied.files,
            dir: model_dir.join(version.to_string()),
            source: None,
        };
        let metadata = serde_json::to_vec_pretty(&entry).expect("metadata always serialises");
        write_synced(&staging.join(METADATA_FILE), &metadata)?;
        fs::rename(staging, &entry.dir).map_err(RegistryError::io("cannot publish", &entry.dir))?;
        let counter = model_dir.join(LAST_VERSION_FILE);
        let counter_tmp = model_dir.join(format!("{LAST_VERSION_FILE}.tmp"));
        write_synced(&counter_tmp, version.to_string().as_bytes())?;
        fs::rename(&counter_tmp, &counter).map_err(RegistryError::io("cannot write", &counter))?;
        sync_dir(model_dir);
        entry.dir = model_dir.join(version.to_string());
        Ok(entry)
    }

    /// The highest version ever given: the counter file, or the highest
    /// folder when the counter is missing (an older or hand-made registry).
    fn last_version(&self, model_dir: &Path) -> Result<u32, RegistryError> {
        let counter = model_dir.join(LAST_VERSION_FILE);
        let recorded = match fs::read_to_string(&counter) {
            Ok(text) => text
                .trim()
                .parse::<u32>()
                .map_err(|e| RegistryError::Corrupt {
                    path: counter.clone(),
                    reason: e.to_string(),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(RegistryError::io("cannot read", &counter)(e)),
        };
        let on_disk = version_numbers(model_dir)?.into_iter().max().unwrap_or(0);
        Ok(recorded.max(on_disk))
    }

    /// Every model and its versions, sorted by name then version.
    pub fn list(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        if let Some(plain) = &self.plain {
            return Ok(vec![ModelVersion::clone(plain)]);
        }
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RegistryError::io("cannot read", &self.root)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| validate_name(name).is_ok())
            .collect();
        names.sort();
        let mut all = Vec::new();
        for name in names {
            let dir = self.root.join(&name);
            for version in version_numbers(&dir)? {
                all.push(ModelVersion::read(&dir.join(version.to_string()))?);
            }
        }
        Ok(all)
    }

    /// The folder the registry lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The versions of `name` registered, ascending (empty when none).
    pub fn versions(&self, name: &str) -> Result<Vec<u32>, RegistryError> {
        validate_name(name)?;
        if let Some(plain) = &self.plain {
            return Ok(if plain.name == name {
                vec![plain.version]
            } else {
                Vec::new()
            });
        }
        version_numbers(&self.root.join(name))
    }

    /// One version; `version: None` means the latest.
    pub fn get(&self, reference: &ModelRef) -> Result<ModelVersion, RegistryError> {
        validate_name(&reference.name)?;
        let dir = self.root.join(&reference.name);
        let versions = self.versions(&reference.name)?;
        if versions.is_empty() {
            return Err(RegistryError::ModelNotFound(reference.name.clone()));
        }
        let version = match reference.version {
            None => *versions.last().expect("checked non-empty"),
            Some(v) if versions.contains(&v) => v,
            Some(v) => {
                return Err(RegistryError::VersionNotFound {
                    name: reference.name.clone(),
                    version: v,
                    available: join_versions(&versions),
                });
            }
        };
        match &self.plain {
            Some(plain) => Ok(ModelVersion::clone(plain)),
            None => ModelVersion::read(&dir.join(version.to_string())),
        }
    }

    /// `get_model_path(name, version)`.
    pub fn model_path(&self, reference: &ModelRef) -> Result<PathBuf, RegistryError> {
        Ok(self.get(reference)?.model_path())
    }

    /// Deletes one version, or every version when `version` is `None`, and
    /// answers the versions removed. Version numbers are not reused while the
    /// model has any version left.
    pub fn delete(&self, reference: &ModelRef) -> Result<Vec<u32>, RegistryError> {
        validate_name(&reference.name)?;
        if let Some(error) = self.read_only() {
            return Err(error);
        }
        let model_dir = self.root.join(&reference.name);
        let versions = version_numbers(&model_dir)?;
        if versions.is_empty() {
            return Err(RegistryError::ModelNotFound(reference.name.clone()));
        }
        match reference.version {
            None => {
                // Rename first so no reader sees a half-deleted model.
                let doomed = self.root.join(format!(
                    ".deleting-{}-{}",
                    reference.name,
                    uuid::Uuid::new_v4()
                ));
                fs::rename(&model_dir, &doomed)
                    .map_err(RegistryError::io("cannot delete", &model_dir))?;
                fs::remove_dir_all(&doomed).map_err(RegistryError::io("cannot delete", &doomed))?;
                Ok(versions)
            }
            Some(version) => {
                if !versions.contains(&version) {
                    return Err(RegistryError::VersionNotFound {
                        name: reference.name.clone(),
                        version,
                        available: join_versions(&versions),
                    });
                }
                let _lock = lock(&model_dir)?;
                let dir = model_dir.join(version.to_string());
                let doomed =
                    model_dir.join(format!(".deleting-{version}-{}", uuid::Uuid::new_v4()));
                fs::rename(&dir, &doomed).map_err(RegistryError::io("cannot delete", &dir))?;
                fs::remove_dir_all(&doomed).map_err(RegistryError::io("cannot delete", &doomed))?;
                Ok(vec![version])
            }
        }
    }
}

/// The published versions of a model folder, ascending. A missing folder has none.
fn version_numbers(model_dir: &Path) -> Result<Vec<u32>, RegistryError> {
    let entries = match fs::read_dir(model_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryError::io("cannot read", model_dir)(e)),
    };
    let mut versions: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|v| *v > 0 && model_dir.join(v.to_string()).join(METADATA_FILE).is_file())
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

fn join_versions(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An exclusive advisory lock on the model's lock file, held until dropped.
/// Registrations hold it for a rename and two small writes only.
fn lock(model_dir: &Path) -> Result<fs::File, RegistryError> {
    let path = model_dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(RegistryError::io("cannot open", &path))?;
    file.lock()
        .map_err(RegistryError::io("cannot lock", &path))?;
    Ok(file)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(RegistryError::io("cannot write", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(RegistryError::io("cannot write", path))
}

/// Makes the renames durable. Best effort: not every file system supports it.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}
