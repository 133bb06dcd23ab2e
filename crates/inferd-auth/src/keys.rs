//! The accepted keys. Only their SHA-256 digests are kept, so a key is never
//! held in memory longer than its parsing, and comparing digests in constant
//! time hides both the content and the length of the keys.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A key is refused when shorter than this: a guessable key is no key.
pub const MIN_KEY_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no key given: at least one of primaryKey and secondaryKey is needed")]
    None,
    #[error("{which} is shorter than {MIN_KEY_LEN} characters")]
    TooShort { which: &'static str },
    #[error("{which} contains whitespace or control characters")]
    BadCharacters { which: &'static str },
}

/// The primary and secondary key; either one is accepted, so keys can be
/// rotated one at a time.
#[derive(Clone)]
pub struct KeySet {
    digests: [[u8; 32]; 2],
    present: [bool; 2],
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("primary", &self.present[0])
            .field("secondary", &self.present[1])
            .finish()
    }
}

impl KeySet {
    /// Keys as given; empty strings count as absent.
    pub fn new(primary: Option<&str>, secondary: Option<&str>) -> Result<KeySet, KeyError> {
        let primary = primary.filter(|k| !k.is_empty());
        let secondary = secondary.filter(|k| !k.is_empty());
        if primary.is_none() && secondary.is_none() {
            return Err(KeyError::None);
        }
        let mut digests = [[0u8; 32]; 2];
        let mut present = [false; 2];
        for (i, (which, key)) in [("primaryKey", primary), ("secondaryKey", secondary)]
            .into_iter()
            .enumerate()
        {
            if let Some(key) = key {
                check(which, key)?;
                digests[i] = digest(key.as_bytes());
                present[i] = true;
            }
        }
        Ok(KeySet { digests, present })
    }

    /// Whether `candidate` is one of the keys. Both keys are always compared,
    /// and each comparison takes the same time whatever the bytes.
    pub fn accepts(&self, candidate: &[u8]) -> bool {
        let d = digest(candidate);
        let primary = self.digests[0].ct_eq(&d) & subtle::Choice::from(self.present[0] as u8);
        let secondary = self.digests[1].ct_eq(&d) & subtle::Choice::from(self.present[1] as u8);
        (primary | secondary).into()
    }
}

fn check(which: &'static str, key: &str) -> Result<(), KeyError> {
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(KeyError::BadCharacters { which });
    }
    if key.chars().count() < MIN_KEY_LEN {
        return Err(KeyError::TooShort { which });
    }
    Ok(())
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn either_key_is_accepted() {
        let keys = KeySet::new(Some(A), Some(B)).unwrap();
        assert!(keys.accepts(A.as_bytes()));
        assert!(keys.accepts(B.as_bytes()));
        assert!(!keys.accepts(b"aaaaaaaaaaaaaaaaaaab"));
        assert!(!keys.accepts(b""));
        assert!(!keys.accepts(&A.as_bytes()[..19]));
    }

    #[test]
    fn an_absent_key_never_matches() {
        let keys = KeySet::new(Some(A), None).unwrap();
        assert!(keys.accepts(A.as_bytes()));
        // The absent slot's digest is all zeros; no input hashes to it, and
        // the slot is masked anyway.
        assert!(!keys.accepts(b""));
        let keys = KeySet::new(Some(""), Some(B)).unwrap();
        assert!(!keys.accepts(b""));
        assert!(keys.accepts(B.as_bytes()));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(KeySet::new(None, Some("")).unwrap_err(), KeyError::None);
        assert_eq!(
            KeySet::new(Some("short"), None).unwrap_err(),
            KeyError::TooShort {
                which: "primaryKey"
            }
        );
        assert_eq!(
            KeySet::new(Some(A), Some("bbbbbbbb bbbbbbbbbbbb")).unwrap_err(),
            KeyError::BadCharacters {
                which: "secondaryKey"
            }
        );
    }

    #[test]
    fn debug_never_shows_a_key() {
        let keys = KeySet::new(Some(A), Some(B)).unwrap();
        let shown = format!("{keys:?}");
        assert!(!shown.contains(A) && !shown.contains(B), "{shown}");
    }
}
