//! Keys for a server started with auth on and no key given: two random
//! 256-bit keys, written to a new file only the owner can read. Only the
//! file's path is ever printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::KeySet;

pub struct GeneratedKeys {
    pub keys: KeySet,
    pub path: PathBuf,
}

/// Writes `{"primaryKey", "secondaryKey"}` to `path`, which must not exist
/// (created exclusively with mode 0600, so a planted file or link is never
/// written through).
pub fn generate_keys(path: &Path) -> std::io::Result<GeneratedKeys> {
    let primary = random_key()?;
    let secondary = random_key()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let body = serde_json::json!({ "primaryKey": primary, "secondaryKey": secondary });
    file.write_all(body.to_string().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    let keys =
        KeySet::new(Some(&primary), Some(&secondary)).expect("generated keys are long and plain");
    Ok(GeneratedKeys {
        keys,
        path: path.to_owned(),
    })
}

/// 32 bytes from the operating system's generator, as 64 hex characters.
pub fn random_key() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_privately_and_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let generated = generate_keys(&path).unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let primary = written["primaryKey"].as_str().unwrap();
        let secondary = written["secondaryKey"].as_str().unwrap();
        assert_eq!(primary.len(), 64);
        assert_ne!(primary, secondary);
        assert!(generated.keys.accepts(primary.as_bytes()));
        assert!(generated.keys.accepts(secondary.as_bytes()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            generate_keys(&path).is_err(),
            "an existing file is never overwritten"
        );
    }
}
