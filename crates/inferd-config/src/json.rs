//! Reading a config file's JSON so that every error names its field: one
//! place for both configs, so their messages read alike.

use serde::de::DeserializeOwned;

/// Where a config's JSON is wrong: the field (`models[0].kind`, or
/// `(top level)`) and why.
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

/// Parses `text` into `T`, naming the field at fault on error.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = e.path().to_string();
        FieldError {
            // serde_path_to_error says "." for the document itself.
            field: if field == "." {
                "(top level)".to_owned()
            } else {
                field
            },
            reason: e.into_inner().to_string(),
        }
    })
}
