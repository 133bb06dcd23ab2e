//! Model names and `name[:version]` references.

use std::fmt;
use std::str::FromStr;

use crate::RegistryError;

/// Names become folder names, so they are restricted to a portable, safe set:
/// ASCII letters, digits, `-`, `_` and `.`, 1 to 128 characters, not starting
/// with `.` or `-` (no hidden folders, no `..`, no option look-alikes).
pub fn validate_name(name: &str) -> Result<(), RegistryError> {
    let invalid = |reason| {
        Err(RegistryError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > 128 {
        return invalid("it is longer than 128 characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return invalid("it must not start with '.' or '-'");
    }
    if name.contains("..") {
        return invalid("it must not contain '..'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return invalid("only ASCII letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// `name` or `name:version`; no version means the latest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub name: String,
    pub version: Option<u32>,
}

impl ModelRef {
    pub fn latest(name: impl Into<String>) -> ModelRef {
        ModelRef {
            name: name.into(),
            version: None,
        }
    }
}

impl FromStr for ModelRef {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<ModelRef, RegistryError> {
        let (name, version) = match text.split_once(':') {
            // `NAME:latest` says in words what `NAME` means.
            None | Some((_, "latest")) => (text.split(':').next().unwrap_or(text), None),
            Some((name, version)) => {
                let version = version
                    .parse::<u32>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| RegistryError::InvalidReference(text.to_owned()))?;
                (name, Some(version))
            }
        };
        validate_name(name)?;
        Ok(ModelRef {
            name: name.to_owned(),
            version,
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}:{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass() {
        for name in ["diabetes-ridge", "a", "Model_2.onnx", "x.y-z_1"] {
            validate_name(name).unwrap();
        }
    }

    #[test]
    fn names_that_could_escape_or_hide_are_refused() {
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a..b",
            ".hidden",
            "-rf",
            "a b",
            "é",
            "a\\b",
            &"x".repeat(129),
        ] {
            assert!(validate_name(name).is_err(), "{name:?} should be refused");
        }
    }

    #[test]
    fn references_parse() {
        assert_eq!("m".parse::<ModelRef>().unwrap(), ModelRef::latest("m"));
        assert_eq!(
            "m:latest".parse::<ModelRef>().unwrap(),
            ModelRef::latest("m")
        );
        let r: ModelRef = "m:3".parse().unwrap();
        assert_eq!(r.version, Some(3));
        assert_eq!(r.to_string(), "m:3");
        for bad in [
            "m:",
            "m:0",
            "m:-1",
            "m:x",
            "a/b:1",
            ":1",
            ":latest",
            "a/b:latest",
        ] {
            assert!(
                bad.parse::<ModelRef>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
