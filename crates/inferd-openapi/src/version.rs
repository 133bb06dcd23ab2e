//! Which document a `?version=` asks for.

/// The three document versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    /// Swagger 2.0 (the default, as in the original).
    V2,
    /// OpenAPI 3.0.3.
    V3,
    /// OpenAPI 3.1.0.
    V31,
}

/// A `?version=` value that names no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Swagger version [{0}] is not valid. Supported versions: [2, 3, 3.1].")]
pub struct UnknownVersion(pub String);

impl SpecVersion {
    pub const ALL: [SpecVersion; 3] = [SpecVersion::V2, SpecVersion::V3, SpecVersion::V31];

    /// The values `?version=` accepts, as the original does.
    pub const QUERY_VALUES: [&str; 5] = ["2", "2.0", "3", "3.0", "3.1"];

    pub fn from_query(value: &str) -> Result<SpecVersion, UnknownVersion> {
        match value {
            "2" | "2.0" => Ok(SpecVersion::V2),
            "3" | "3.0" => Ok(SpecVersion::V3),
            "3.1" => Ok(SpecVersion::V31),
            other => Err(UnknownVersion(other.to_owned())),
        }
    }

    /// The version asked for by a query string (`version=3`); none means 2.
    pub fn from_query_string(query: Option<&str>) -> Result<SpecVersion, UnknownVersion> {
        let asked = query
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(name, _)| *name == "version")
            .map(|(_, value)| value);
        match asked {
            None => Ok(SpecVersion::V2),
            Some(value) => SpecVersion::from_query(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(SpecVersion::from_query_string(None), Ok(SpecVersion::V2));
        assert_eq!(
            SpecVersion::from_query_string(Some("a=1")),
            Ok(SpecVersion::V2)
        );
        assert_eq!(
            SpecVersion::from_query_string(Some("version=3.0")),
            Ok(SpecVersion::V3)
        );
        assert_eq!(
            SpecVersion::from_query_string(Some("x=&version=3.1")),
            Ok(SpecVersion::V31)
        );
        for v in SpecVersion::QUERY_VALUES {
            assert!(SpecVersion::from_query(v).is_ok());
        }
        assert_eq!(
            SpecVersion::from_query_string(Some("version=4"))
                .unwrap_err()
                .to_string(),
            "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1]."
        );
        assert!(SpecVersion::from_query_string(Some("version")).is_err());
    }
}
