//! Copying the registered file or folder into the registry, hashing as it
//! goes; or hashing a model served where it lies (see [`crate::plain`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{FileEntry, ModelKind, RegistryError};

/// What was copied: the kind, the files (sorted by path) and their joint hash.
pub struct Copied {
    pub kind: ModelKind,
    pub files: Vec<FileEntry>,
    pub sha256: String,
}

/// Copies `source` (a file, or a folder's regular files, recursively) into
/// `dest`, which must exist and be empty. Symbolic links are refused: a
/// registered model must be self-contained and must not point outside itself.
/// Files of kinds that are not data are refused (see [`crate::kinds`]).
pub fn copy_into(source: &Path, dest: &Path) -> Result<Copied, RegistryError> {
    digest(source, Some(dest))
}

/// What [`copy_into`] would record for `source`, without copying it: the
/// same checks, kinds and hashes.
pub fn hash_in_place(source: &Path) -> Result<Copied, RegistryError> {
    digest(source, None)
}

/// Lists, checks and hashes `source`'s files, copying each into `dest` when given.
fn digest(source: &Path, dest: Option<&Path>) -> Result<Copied, RegistryError> {
    let bad = |reason: String| RegistryError::BadSource {
        path: source.to_owned(),
        reason,
    };
    let meta = fs::symlink_metadata(source).map_err(|e| bad(e.to_string()))?;
    let (kind, mut sources) = if meta.is_file() {
        let file_name = source
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("the file name is not valid UTF-8".to_owned()))?;
        (
            ModelKind::File,
            vec![(source.to_owned(), file_name.to_owned())],
        )
    } else if meta.is_dir() {
        let mut found = Vec::new();
        walk(source, "", &mut found).map_err(|e| bad(e.to_string()))?;
        if found.is_empty() {
            return Err(bad("the folder holds no files".to_owned()));
        }
        (ModelKind::Folder, found)
    } else {
        return Err(bad(
            "not a regular file or folder (symbolic links are refused)".to_owned(),
        ));
    };
    sources.sort_by(|a, b| a.1.cmp(&b.1));
    for (_, relative) in &sources {
        crate::kinds::check_kind(relative).map_err(bad)?;
    }

    let mut files = Vec::with_capacity(sources.len());
    let mut joint = Sha256::new();
    for (from, relative) in sources {
        let to = dest.map(|dest| dest.join(&relative));
        if let Some(parent) = to.as_deref().and_then(Path::parent) {
            fs::create_dir_all(parent).map_err(RegistryError::io("cannot create", parent))?;
        }
        let (bytes, sha256) = copy_hashing(&from, to.as_deref()).map_err(RegistryError::io(
            if dest.is_some() {
                "cannot copy"
            } else {
                "cannot read"
            },
            &from,
        ))?;
        joint.update(relative.as_bytes());
        joint.update([0]);
        joint.update(sha256.as_bytes());
        joint.update([b'\n']);
        files.push(FileEntry {
            path: relative,
            bytes,
            sha256,
        });
    }
    Ok(Copied {
        kind,
        files,
        sha256: hex(&joint.finalize()),
    })
}

fn walk(dir: &Path, prefix: &str, found: &mut Vec<(PathBuf, String)>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().into_string().map_err(|name| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file name {name:?} is not valid UTF-8"),
            )
        })?;
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{relative} is a symbolic link; symbolic links are refused"),
            ));
        } else if kind.is_dir() {
            walk(&entry.path(), &relative, found)?;
        } else if kind.is_file() {
            found.push((entry.path(), relative));
        }
    }
    Ok(())
}

/// Hashes `from`, copying it to `to` (a new file) when given.
fn copy_hashing(from: &Path, to: Option<&Path>) -> io::Result<(u64, String)> {
    let mut input = fs::File::open(from)?;
    let mut output = to.map(fs::File::create_new).transpose()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = io::Read::read(&mut input, &mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some(output) = &mut output {
            output.write_all(&buffer[..n])?;
        }
        total += n as u64;
    }
    if let Some(output) = &output {
        output.sync_all()?;
    }
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
