//! What can be wrong with a request's data. Every variant is the client's
//! fault (HTTP 400); the message says where and what.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    #[error("request body is empty; expected a JSON object such as {{\"data\": [[...]]}}")]
    EmptyBody,

    #[error("request body is not valid UTF-8 (invalid byte at offset {offset})")]
    InvalidUtf8 { offset: usize },

    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),

    #[error("query parameter '{name}' is not valid JSON: {reason}")]
    MalformedQuery { name: String, reason: String },

    #[error(
        "request body must be a JSON object with the input under \"data\"; received {received}"
    )]
    NotAnObject { received: &'static str },

    #[error("no value given for '{0}'; send {{\"{0}\": [[...]]}}")]
    MissingData(String),

    #[error("'{0}' is given more than once (duplicate key); send it once")]
    DuplicateData(String),

    #[error("{path}: the model has inputs {expected}; send an object with one entry per input")]
    InputsNotAnObject { path: String, expected: String },

    #[error("{path}: missing input '{input}'")]
    MissingInput { path: String, input: String },

    #[error("{path}: unknown input '{input}'; the model's inputs are {expected}")]
    UnknownInput {
        path: String,
        input: String,
        expected: String,
    },

    #[error(
        "{path}: input '{input}' expects shape {expected} ({dtype}), received shape {received}"
    )]
    WrongShape {
        path: String,
        input: String,
        expected: String,
        dtype: String,
        received: String,
    },

    #[error("{path}: input '{input}' expects shape {expected} ({dtype}), received an empty list")]
    Empty {
        path: String,
        input: String,
        expected: String,
        dtype: String,
    },

    #[error("{path}: rows differ in length (ragged); expected {expected}, received {received}")]
    Ragged {
        path: String,
        expected: String,
        received: String,
    },

    #[error("{path}: expected a list of records, received {received}")]
    NotRecords { path: String, received: String },

    #[error("{path}: expected a record (an object keyed by column), received {received}")]
    NotARecord {
        path: String,
        received: &'static str,
    },

    #[error("{path}: missing column '{column}'; the columns are {expected}")]
    MissingColumn {
        path: String,
        column: String,
        expected: String,
    },

    #[error("{path}: unknown column '{column}'; the columns are {expected}")]
    UnknownColumn {
        path: String,
        column: String,
        expected: String,
    },

    #[error("{path}: column '{column}' appears more than once")]
    DuplicateColumn { path: String, column: String },

    #[error("the model's data does not fit the rows of a table: {reason}; send it as JSON Lines")]
    NotTabular { reason: String },

    #[error("{path}: column '{column}' expects {expected}, received {received}")]
    WrongColumnType {
        path: String,
        column: String,
        expected: &'static str,
        received: String,
    },

    #[error("{path}: input '{input}' expects {dtype}, received {received}")]
    WrongType {
        path: String,
        input: String,
        dtype: String,
        received: String,
    },
}

/// How a JSON value is named in messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
