//! `model.json`: what the registry records about one version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RegistryError;

pub(crate) const METADATA_FILE: &str = "model.json";
pub(crate) const FILES_DIR: &str = "files";

/// Whether one file or a folder was registered; decides what
/// [`ModelVersion::model_path`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    File,
    Folder,
}

/// One registered file, relative to the version's `files/` folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: u32,
    pub kind: ModelKind,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// SHA-256 over every file's relative path and hash, in path order:
    /// equal content gives an equal hash whatever the folder it came from.
    pub sha256: String,
    pub files: Vec<FileEntry>,
    /// The version's folder; not stored, filled in when read.
    #[serde(skip)]
    pub dir: PathBuf,
    /// A model served where it lies (see [`crate::plain`]): its file or
    /// folder, which [`ModelVersion::model_path`] answers; not stored.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl ModelVersion {
    /// `get_model_path` of the contract: the file when one file was
    /// registered, the folder when a folder was.
    pub fn model_path(&self) -> PathBuf {
        if let Some(source) = &self.source {
            return source.clone();
        }
        let files = self.dir.join(FILES_DIR);
        match (self.kind, self.files.first()) {
            (ModelKind::File, Some(file)) => files.join(&file.path),
            _ => files,
        }
    }

    pub(crate) fn read(dir: &Path) -> Result<ModelVersion, RegistryError> {
        let path = dir.join(METADATA_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(RegistryError::io("cannot read", &path))?;
        let mut version: ModelVersion =
            serde_json::from_str(&text).map_err(|e| RegistryError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        version.dir = dir.to_owned();
        version.check_contained()?;
        Ok(version)
    }

    /// The version folder, its model folder and every recorded file are
    /// real (no symbolic link leads out of the registry) and of known kinds.
    fn check_contained(&self) -> Result<(), RegistryError> {
        let corrupt = |reason: String| RegistryError::Corrupt {
            path: self.dir.clone(),
            reason,
        };
        for dir in [Some(self.dir.as_path()), self.dir.parent()]
            .into_iter()
            .flatten()
        {
            let meta = std::fs::symlink_metadata(dir).map_err(|e| corrupt(e.to_string()))?;
            if meta.file_type().is_symlink() {
                return Err(corrupt(format!(
                    "{} is a symbolic link; symbolic links are refused",
                    dir.display()
                )));
            }
        }
        let files = self.dir.join(FILES_DIR);
        for file in &self.files {
            crate::kinds::check_kind(&file.path).map_err(corrupt)?;
            crate::kinds::check_no_links(&files, &file.path).map_err(corrupt)?;
        }
        Ok(())
    }
}
