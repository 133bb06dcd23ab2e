//! Models are data, not code: which files a model may hold, and the check
//! that a stored version stays inside the registry.
//!
//! A registered model may hold only files of kinds that are read as data
//! (the ONNX graph, its external weights, JSON, text). Formats that run code
//! when loaded (pickles, Python, native libraries) and unknown kinds are
//! refused with the reason, at registration and again when a version is
//! read, since the registry folder may have been edited by hand.

use std::path::{Component, Path};

/// Extensions a model's files may have.
pub const KNOWN_KINDS: &[&str] = &[
    "onnx", "data", "bin", "pb", "json", "txt", "md", "csv", "yaml", "yml",
];

/// Extensions refused with a specific reason: loading them runs code.
const CODE_KINDS: &[&str] = &[
    "pkl", "pickle", "joblib", "pt", "pth", "ckpt", "py", "pyc", "so", "dll", "dylib", "exe", "sh",
    "jar",
];

/// Whether a file of this name may be part of a model.
pub fn check_kind(relative: &str) -> Result<(), String> {
    let extension = Path::new(relative)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some(ext) if KNOWN_KINDS.contains(&ext) => Ok(()),
        Some(ext) if CODE_KINDS.contains(&ext) => Err(format!(
            "{relative}: '.{ext}' files can run code when loaded; a model holds data only \
             (export it to ONNX)"
        )),
        _ => Err(format!(
            "{relative}: files of this kind are not accepted in a model; known kinds: .{}",
            KNOWN_KINDS.join(", .")
        )),
    }
}

/// A recorded file path is plain and relative: no root, no `..`, no `.`.
pub fn check_relative(relative: &str) -> Result<(), String> {
    let path = Path::new(relative);
    let plain =
        !relative.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(format!("{relative:?} leaves the model's folder"))
    }
}

/// Every component from `base` down to `base/relative` is a real folder or
/// (the last) a regular file: no symbolic link anywhere on the way, so the
/// path cannot lead outside `base`.
pub fn check_no_links(base: &Path, relative: &str) -> Result<(), String> {
    check_relative(relative)?;
    let mut at = base.to_owned();
    let parts: Vec<_> = Path::new(relative).components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = std::fs::symlink_metadata(&at).map_err(|e| format!("{relative}: {e}"))?;
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{relative} is a symbolic link; symbolic links are refused"
            ));
        }
        if last && !meta.is_file() {
            return Err(format!("{relative} is not a regular file"));
        }
        if !last && !meta.is_dir() {
            return Err(format!("{relative}: a parent is not a folder"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(check_kind("model.onnx").is_ok());
        assert!(check_kind("extra/labels.TXT").is_ok());
        let e = check_kind("model.pkl").unwrap_err();
        assert!(e.contains("can run code"), "{e}");
        let e = check_kind("score.py").unwrap_err();
        assert!(e.contains("can run code"), "{e}");
        let e = check_kind("weights").unwrap_err();
        assert!(e.contains("not accepted"), "{e}");
    }

    #[test]
    fn relative_paths() {
        assert!(check_relative("a/b.onnx").is_ok());
        for bad in ["", "/etc/passwd", "../x.onnx", "a/../../x.onnx", "./a.onnx"] {
            assert!(check_relative(bad).is_err(), "{bad}");
        }
    }
}
