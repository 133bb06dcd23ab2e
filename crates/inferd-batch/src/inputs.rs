//! The job's input files: each path given is a file, a folder (every file
//! of a known format in it, by name) or a glob on the file name
//! (`data/part-*.csv`), expanded in the order given. The format comes from
//! the extension.

use std::path::{Path, PathBuf};

use crate::BatchError;

/// A file format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// JSON Lines: one row per line.
    Jsonl,
    /// A NumPy array; its first axis is rows.
    Npy,
    /// Apache Parquet: its columns are the header.
    Parquet,
}

impl Format {
    /// The format of `path`, or why it has none.
    pub fn of(path: &Path) -> Result<Format, String> {
        match extension(path).as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "npy" => Ok(Format::Npy),
            "parquet" | "pq" => Ok(Format::Parquet),
            "" => Err("the file has no extension; name it .csv, .jsonl, .npy or .parquet".into()),
            other => Err(format!(
                "'.{other}' is not a format inferd batch reads (.csv, .jsonl, .ndjson, .npy, .parquet)"
            )),
        }
    }
}

/// A file's extension, lower-cased (empty when none): what says a file's
/// format, input or output.
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: Format,
    /// Its size when the job started (the progress counts bytes).
    pub bytes: u64,
}

/// Every file the inputs name, in order; an input that names nothing, or
/// a file of no known format named directly, is an error.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<InputFile>, BatchError> {
    let mut files = Vec::new();
    for input in inputs {
        let text = input.to_string_lossy();
        let found = if input.is_dir() {
            known_files(input, |_| true)?
        } else if text.contains(['*', '?']) {
            let folder = match input.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let pattern = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if folder.to_string_lossy().contains(['*', '?']) {
                return Err(BatchError::Usage(format!(
                    "{text}: a glob matches file names only, not folders"
                )));
            }
            known_files(&folder, |name| matches(&pattern, name))?
        } else {
            let format = Format::of(input).map_err(|reason| BatchError::Input {
                path: input.clone(),
                reason,
            })?;
            let meta = std::fs::metadata(input).ok().filter(|m| m.is_file());
            let Some(meta) = meta else {
                return Err(BatchError::Input {
                    path: input.clone(),
                    reason: "no such file".into(),
                });
            };
            vec![InputFile {
                path: input.clone(),
                format,
                bytes: meta.len(),
            }]
        };
        if found.is_empty() {
            return Err(BatchError::Input {
                path: input.clone(),
                reason: "names no .csv, .jsonl, .ndjson or .npy file".into(),
            });
        }
        files.extend(found);
    }
    Ok(files)
}

/// The files of `folder` with a known format whose names pass `keep`,
/// sorted by name.
fn known_files(folder: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<InputFile>, BatchError> {
    let entries = std::fs::read_dir(folder).map_err(BatchError::io(folder))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BatchError::io(folder))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Followed through a link, as `is_file` would.
        let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file());
        let (Some(meta), true) = (meta, keep(&name)) else {
            continue;
        };
        if let Ok(format) = Format::of(&path) {
            files.push(InputFile {
                path,
                format,
                bytes: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Whether `name` matches `pattern`: `*` any run of characters, `?` one.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer match with one backtrack point per star.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names() {
        assert!(matches("*.csv", "a.csv"));
        assert!(matches("part-?.csv", "part-1.csv"));
        assert!(!matches("part-?.csv", "part-10.csv"));
        assert!(matches("*-*.csv", "a-b-c.csv"));
        assert!(!matches("*.csv", "a.csv.bak"));
    }

    #[test]
    fn folders_and_globs_expand_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.jsonl", "c.txt", "d.npy"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let all = expand(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.jsonl", "b.csv", "d.npy"]);
        let csv = expand(&[dir.path().join("*.csv")]).unwrap();
        assert_eq!(csv.len(), 1);
        assert!(expand(&[dir.path().join("*.parquet")]).is_err());
        let unknown = expand(&[dir.path().join("c.txt")]).unwrap_err().to_string();
        assert!(unknown.contains("'.txt' is not a format"), "{unknown}");
        let missing = expand(&[dir.path().join("no.csv")])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("no such file"), "{missing}");
    }
}
