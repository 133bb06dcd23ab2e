//! Reading a config file (JSON, or TOML for the inference config) so that
//! every error names its field: one place for every config, so their
//! messages read alike.

use serde::de::DeserializeOwned;

/// Where a config's JSON is wrong: the field (`models[0].kind`, or
/// `(top level)`) and why.
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

/// Parses JSON `text` into `T`, naming the field at fault on error.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(field_error)
}

/// Parses TOML `text` into `T`, naming the field at fault on error.
pub(crate) fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| FieldError {
        field: "(top level)".to_owned(),
        reason: format!("not valid TOML: {}", e.to_string().trim_end()),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(field_error)
}

fn field_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> FieldError {
    let field = e.path().to_string();
    FieldError {
        // serde_path_to_error says "." for the document itself.
        field: if field == "." {
            "(top level)".to_owned()
        } else {
            field
        },
        reason: e.into_inner().to_string().trim_end().to_owned(),
    }
}
