//! A model served where it lies, outside any registry: an `.onnx` file, or
//! a folder holding one (what KServe's storage initializer leaves at
//! `/mnt/models`). It is version 1 of the name it is given; its files are
//! checked and hashed as a registration would, but never copied, and
//! nothing is ever written beside them (the folder may be read-only).

use std::path::{Path, PathBuf};

use crate::copy::hash_in_place;
use crate::{ModelVersion, RegistryError, validate_name};

/// The one version a plain model has.
pub const PLAIN_VERSION: u32 = 1;

/// `path` as version [`PLAIN_VERSION`] of `name`.
pub(crate) fn describe(name: &str, path: &Path) -> Result<ModelVersion, RegistryError> {
    validate_name(name)?;
    let hashed = hash_in_place(path)?;
    let created_at = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| {
            let modified = time::OffsetDateTime::from(modified);
            modified
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    Ok(ModelVersion {
        name: name.to_owned(),
        version: PLAIN_VERSION,
        kind: hashed.kind,
        description: format!("served from {}", path.display()),
        tags: Default::default(),
        created_at,
        sha256: hashed.sha256,
        files: hashed.files,
        dir: PathBuf::new(),
        source: Some(path.to_owned()),
    })
}

/// A name for the model at `path` when none is given: the file's stem
/// (`resnet.onnx` is `resnet`), or the folder's name.
pub fn name_from_path(path: &Path) -> Option<String> {
    let stem = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    }?;
    let name = stem.to_str()?.to_owned();
    validate_name(&name).ok().map(|()| name)
}

#[cfg(test)]
mod tests {
    use crate::{ModelKind, ModelRef, Registration, Registry, RegistryError};

    #[test]
    fn a_file_or_folder_is_version_one_and_takes_no_registration() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("resnet.onnx");
        std::fs::write(&file, b"not really onnx").unwrap();
        assert_eq!(super::name_from_path(&file).as_deref(), Some("resnet"));

        let registry = Registry::plain("resnet", &file).unwrap();
        assert_eq!(registry.versions("resnet").unwrap(), vec![1]);
        assert!(registry.versions("other").unwrap().is_empty());
        let latest = registry
            .get(&"resnet".parse::<ModelRef>().unwrap())
            .unwrap();
        assert_eq!((latest.version, latest.kind), (1, ModelKind::File));
        assert_eq!(latest.model_path(), file);
        assert!(matches!(
            registry.get(&"resnet:2".parse::<ModelRef>().unwrap()),
            Err(RegistryError::VersionNotFound { .. })
        ));
        let refused = registry
            .register("resnet", &file, Registration::default())
            .unwrap_err();
        assert!(refused.to_string().contains("as it lies"), "{refused}");
        assert!(
            registry
                .delete(&"resnet".parse::<ModelRef>().unwrap())
                .is_err()
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing written"
        );

        let folder = Registry::plain("resnet", dir.path()).unwrap();
        let version = folder
            .get(&"resnet:1".parse::<ModelRef>().unwrap())
            .unwrap();
        assert_eq!(version.kind, ModelKind::Folder);
        assert_eq!(version.model_path(), dir.path());
        assert_eq!(version.files[0].path, "resnet.onnx");
        assert!(Registry::plain("resnet", &dir.path().join("missing")).is_err());
        assert!(Registry::plain("bad name", &file).is_err());
    }
}
