//! The request a profile sends: `--sample` (a file or JSON text), else the
//! example of the served model's `/swagger.json`, else the registry's
//! `files/input_sample.json`; checked once against the server before any
//! load, so a profile never measures error answers.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use inferd_bench::conn::Conn;
use inferd_bench::target::{Target, body_from_swagger};

use crate::ProfileError;

/// The body and where it came from (for the report).
#[derive(Debug, Clone)]
pub struct Sample {
    pub body: Bytes,
    pub source: String,
}

/// The longest the check request may take: a cold model's first run included.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The body to send, found as the module says.
pub async fn find(
    given: Option<&str>,
    target: &Target,
    version_dir: &Path,
    data_field: &str,
) -> Result<Sample, ProfileError> {
    if let Some(given) = given {
        let (text, source) = if Path::new(given).is_file() {
            let text = std::fs::read_to_string(given)
                .map_err(|e| ProfileError::Sample(format!("cannot read --sample {given}: {e}")))?;
            (text, format!("--sample {given}"))
        } else {
            (given.to_owned(), "--sample (JSON text)".to_owned())
        };
        return wrap(&text, data_field, &source).map(|body| Sample { body, source });
    }
    if let Ok(body) = body_from_swagger(target).await {
        return Ok(Sample {
            body,
            source: "the /swagger.json example".to_owned(),
        });
    }
    let file = version_dir.join("files").join("input_sample.json");
    let text = std::fs::read_to_string(&file).map_err(|_| {
        ProfileError::Sample(format!(
            "the model has no sample: its /swagger.json has no example and {} does not exist; give --sample",
            file.display()
        ))
    })?;
    let source = file.display().to_string();
    wrap(&text, data_field, &source).map(|body| Sample { body, source })
}

/// A JSON object is the whole body; anything else is the data, sent as
/// `{"<data_field>": ...}`.
fn wrap(text: &str, data_field: &str, source: &str) -> Result<Bytes, ProfileError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ProfileError::Sample(format!("{source} is not JSON: {e}")))?;
    let body = if value.is_object() {
        value
    } else {
        serde_json::json!({ data_field: value })
    };
    Ok(Bytes::from(body.to_string()))
}

/// Sends the body once; the server must answer 200.
pub async fn check(target: &Target, sample: &Sample) -> Result<(), ProfileError> {
    let request = target.request(Some(&sample.body), &[]);
    let response = Conn::new(target.addr)
        .send(&request, CHECK_TIMEOUT)
        .await
        .map_err(|e| ProfileError::Sample(format!("the server did not answer the sample: {e}")))?;
    if response.status != 200 {
        return Err(ProfileError::Sample(format!(
            "the server answered the sample from {} with {}: {}",
            sample.source,
            response.status,
            String::from_utf8_lossy(&response.body)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_wrapped_and_a_body_is_kept() {
        assert_eq!(
            wrap("[[1, 2]]", "data", "s").unwrap(),
            r#"{"data":[[1,2]]}"#
        );
        assert_eq!(wrap("[1]", "rows", "s").unwrap(), r#"{"rows":[1]}"#);
        assert_eq!(
            wrap(r#"{"data": [1]}"#, "data", "s").unwrap(),
            r#"{"data":[1]}"#
        );
        let error = wrap("[1,", "data", "sample.json").unwrap_err().to_string();
        assert!(error.contains("sample.json is not JSON"), "{error}");
    }
}
