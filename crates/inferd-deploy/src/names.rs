//! Names Kubernetes accepts, checked before anything is rendered so that
//! `kubectl apply` never refuses what `inferd deploy` printed.

use crate::DeployError;

/// The longest service name: a Service name is a DNS label (63), and the
/// objects named after it add at most `-config` (7 characters).
pub const MAX_NAME: usize = 63 - 7;

/// A name for the Deployment, Service and the rest: an RFC 1035 label (a
/// Service's name must be one): lower-case letters, digits and `-`,
/// starting with a letter, ending with a letter or digit.
pub fn check_name(field: &str, name: &str) -> Result<(), DeployError> {
    let reason = if name.is_empty() || name.len() > MAX_NAME {
        Some(format!("'{name}' must be 1 to {MAX_NAME} characters"))
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(format!(
            "'{name}' holds '{bad}'; only a-z, 0-9 and '-' are allowed"
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some(format!("'{name}' must start with a letter a-z"))
    } else if name.ends_with('-') {
        Some(format!("'{name}' must not end with '-'"))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DeployError::invalid(field, reason)),
        None => Ok(()),
    }
}

/// An image reference: no spaces, not empty. The rest is the registry's
/// business.
pub fn check_image(image: &str) -> Result<(), DeployError> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DeployError::invalid(
            "--image",
            format!("'{image}' is not an image reference (REPOSITORY[:TAG] or @DIGEST, no spaces)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1035() {
        for good in ["myservice", "ridge-2", "a"] {
            assert!(check_name("--name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "My",
            "2ridge",
            "ridge-",
            "a_b",
            &"x".repeat(MAX_NAME + 1),
        ] {
            let error = check_name("--name", bad).unwrap_err().to_string();
            assert!(error.starts_with("--name: "), "{error}");
        }
        assert!(check_image("inferd:0.2").is_ok());
        assert!(check_image("in ferd").is_err());
    }
}
