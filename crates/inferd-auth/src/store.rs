//! [`KeyStore`]: the keys in force, swapped atomically, so a request checks
//! against either the old pair or the new one, never half of each, and no
//! request waits for a reload.
//!
//! A key file (a mounted Kubernetes Secret, say) is read again every
//! `interval` by a small thread; when its content changed and parses, the new
//! keys take effect. A file that is briefly missing or invalid (a Secret
//! update in progress) keeps the old keys and is logged, without its content.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Deserialize;

use crate::{KeyError, KeySet};

/// Largest key file read: a key file is a few hundred bytes.
const MAX_KEYS_FILE_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    #[error("cannot read the keys file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the keys file {} is larger than {MAX_KEYS_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error(
        "the keys file {} is neither JSON {{\"primaryKey\", \"secondaryKey\"}} nor one key per line: {reason}",
        path.display()
    )]
    Format { path: PathBuf, reason: String },
    #[error("the keys file {}: {source}", path.display())]
    Keys { path: PathBuf, source: KeyError },
}

pub struct KeyStore {
    current: ArcSwap<KeySet>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("current", &self.current.load())
            .finish()
    }
}

impl KeyStore {
    /// Fixed keys (from the config, a flag or the environment).
    pub fn fixed(keys: KeySet) -> Arc<KeyStore> {
        Arc::new(KeyStore {
            current: ArcSwap::from_pointee(keys),
        })
    }

    /// Keys from `path`, read now (an error stops start-up), then re-read
    /// every `interval` for as long as the store lives.
    pub fn watch_file(path: &Path, interval: Duration) -> Result<Arc<KeyStore>, KeysFileError> {
        let content = read(path)?;
        let store = KeyStore::fixed(parse(path, &content)?);
        let weak = Arc::downgrade(&store);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("inferd-keys".to_owned())
            .spawn(move || poll(weak, path, content, interval))
            .map_err(|source| KeysFileError::Read {
                path: PathBuf::from("(keys file poller thread)"),
                source,
            })?;
        Ok(store)
    }

    /// The keys in force now.
    pub fn accepts(&self, candidate: &[u8]) -> bool {
        self.current.load().accepts(candidate)
    }

    pub fn replace(&self, keys: KeySet) {
        self.current.store(Arc::new(keys));
    }
}

/// Ends when the store is dropped (checked every `interval`).
fn poll(store: Weak<KeyStore>, path: PathBuf, mut last: Vec<u8>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(store) = store.upgrade() else { return };
        let content = match read(&path) {
            Ok(content) => content,
            Err(e) => {
                tracing::warn!(error = %e, "keys file unreadable; the previous keys stay in force");
                continue;
            }
        };
        if content == last {
            continue;
        }
        match parse(&path, &content) {
            Ok(keys) => {
                store.replace(keys);
                last = content;
                tracing::info!(path = %path.display(), "keys file changed; new keys in force");
            }
            Err(e) => {
                tracing::warn!(error = %e, "keys file invalid; the previous keys stay in force")
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeysFileError> {
    use std::io::Read;
    let read_error = |source| KeysFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut content = Vec::new();
    file.take(MAX_KEYS_FILE_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(read_error)?;
    if content.len() as u64 > MAX_KEYS_FILE_BYTES {
        return Err(KeysFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(content)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeysJson {
    primary_key: Option<String>,
    secondary_key: Option<String>,
}

/// `{"primaryKey": ..., "secondaryKey": ...}` (the deployment config's
/// `keys` object), or plain text: the first non-empty line is the primary
/// key, the second the secondary.
pub fn parse(path: &Path, content: &[u8]) -> Result<KeySet, KeysFileError> {
    let format = |reason: String| KeysFileError::Format {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(content).map_err(|_| format("not UTF-8".to_owned()))?;
    let (primary, secondary) = if text.trim_start().starts_with('{') {
        // serde_json's message names a line and column, never the content.
        let json: KeysJson = serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
        (json.primary_key, json.secondary_key)
    } else {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let primary = lines.next().map(str::to_owned);
        let secondary = lines.next().map(str::to_owned);
        if lines.next().is_some() {
            return Err(format("more than two keys".to_owned()));
        }
        (primary, secondary)
    };
    KeySet::new(primary.as_deref(), secondary.as_deref()).map_err(|source| KeysFileError::Keys {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccc";

    #[test]
    fn both_formats_parse() {
        let p = Path::new("k");
        let json = format!(r#"{{"primaryKey": "{A}", "secondaryKey": "{B}"}}"#);
        let keys = parse(p, json.as_bytes()).unwrap();
        assert!(keys.accepts(A.as_bytes()) && keys.accepts(B.as_bytes()));
        let keys = parse(p, format!("\n{A}\n{B}\n").as_bytes()).unwrap();
        assert!(keys.accepts(A.as_bytes()) && keys.accepts(B.as_bytes()));
        assert!(matches!(
            parse(p, format!("{A}\n{B}\n{C}").as_bytes()),
            Err(KeysFileError::Format { .. })
        ));
        assert!(matches!(
            parse(p, b"{\"primary\": 1}"),
            Err(KeysFileError::Format { .. })
        ));
        assert!(matches!(parse(p, b""), Err(KeysFileError::Keys { .. })));
    }

    #[test]
    fn errors_never_show_the_content() {
        let e = parse(
            Path::new("k"),
            format!("{{\"primaryKey\": \"{A}\" oops").as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains(A), "{e}");
    }

    #[test]
    fn a_changed_file_takes_effect_and_a_broken_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("{A}\n{B}")).unwrap();
        warnings();
        let store = KeyStore::watch_file(&path, Duration::from_millis(10)).unwrap();
        assert!(store.accepts(A.as_bytes()));
        std::fs::write(&path, format!("{C}\n{B}")).unwrap();
        wait_until(|| store.accepts(C.as_bytes()));
        assert!(!store.accepts(A.as_bytes()));
        // The poller has read the broken file (it says so) and kept the keys.
        std::fs::write(&path, "short").unwrap();
        wait_until(|| warned("keys file invalid", &path));
        assert!(
            store.accepts(C.as_bytes()),
            "a broken file keeps the old keys"
        );
        std::fs::remove_file(&path).unwrap();
        wait_until(|| warned("keys file unreadable", &path));
        assert!(
            store.accepts(C.as_bytes()),
            "a missing file keeps the old keys"
        );
    }

    fn wait_until(done: impl Fn() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(30), "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether a warning saying `message` about the file `path` was logged:
    /// the poller's own word that it read the file and what it decided,
    /// seen by a subscriber for this test process.
    fn warned(message: &str, path: &Path) -> bool {
        let path = path.display().to_string();
        warnings()
            .lock()
            .unwrap()
            .iter()
            .any(|w| w.contains(message) && w.contains(&path))
    }

    /// Every warning logged in this process since the first call, as text.
    fn warnings() -> &'static std::sync::Mutex<Vec<String>> {
        static WARNINGS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<String>>> =
            std::sync::OnceLock::new();
        WARNINGS.get_or_init(|| {
            let warnings = Box::leak(Box::default());
            tracing::subscriber::set_global_default(Warnings(warnings))
                .expect("no other subscriber in this test process");
            warnings
        })
    }

    /// A subscriber that keeps each warning's fields as text.
    struct Warnings(&'static std::sync::Mutex<Vec<String>>);

    impl tracing::Subscriber for Warnings {
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            metadata.is_event() && *metadata.level() == tracing::Level::WARN
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut text = Text(String::new());
            event.record(&mut text);
            self.0.lock().unwrap().push(text.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    struct Text(String);

    impl tracing::field::Visit for Text {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            use std::fmt::Write;
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    #[test]
    fn a_missing_file_at_start_is_an_error() {
        let e = KeyStore::watch_file(Path::new("/nonexistent/keys"), Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(e, KeysFileError::Read { .. }), "{e}");
    }
}
