//! Which contract the load speaks: Azure ML's `/score` JSON, or the Open
//! Inference Protocol (KServe v2), whose bodies are JSON or binary (a JSON
//! header, then raw tensors); and where a v2 infer URL names its model.

use serde::{Deserialize, Serialize};

/// The contract of the target's scoring path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Azure ML's `POST /score` with a JSON body.
    // The default: reports written before v2 existed are of this protocol.
    #[default]
    Score,
    /// The Open Inference Protocol's `POST /v2/models/{m}/infer`.
    V2,
}

impl Protocol {
    /// What a URL path speaks when no `--protocol` is given: v2 for a v2
    /// infer path, else `/score`.
    pub fn detect(path: &str) -> Protocol {
        if V2Path::parse(path).is_some() {
            Protocol::V2
        } else {
            Protocol::Score
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Score => "score",
            Protocol::V2 => "v2",
        }
    }
}

/// How a v2 request carries its tensors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// All JSON, values in each input's `data` (`application/json`).
    #[default]
    Json,
    /// The binary tensor extension: a JSON header, then each input's raw
    /// little-endian bytes (`application/octet-stream`, with the header's
    /// length in `Inference-Header-Content-Length`).
    Binary,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Json => "json",
            BodyFormat::Binary => "binary",
        }
    }
}

/// A v2 infer path, `.../v2/models/{m}[/versions/{v}]/infer`, cut where
/// the bench needs it: the model's own path (its metadata document) and
/// its name (its `/swagger.json` schema). Anything before `/v2` is kept, so
/// a server behind a path prefix works too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Path<'a> {
    /// The path without `/infer`: `GET` it for the model metadata.
    pub model_path: &'a str,
    /// The model's name as the URL writes it (still percent-encoded).
    pub model: &'a str,
}

impl<'a> V2Path<'a> {
    pub fn parse(path: &'a str) -> Option<V2Path<'a>> {
        let model_path = path.strip_suffix("/infer")?;
        let start = model_path.rfind("/v2/models/")?;
        let rest = &model_path[start + "/v2/models/".len()..];
        let model = match rest.split('/').collect::<Vec<_>>().as_slice() {
            [model] => *model,
            [model, "versions", version] if !version.is_empty() => *model,
            _ => return None,
        };
        (!model.is_empty()).then_some(V2Path { model_path, model })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_infer_paths_name_their_model() {
        assert_eq!(
            V2Path::parse("/v2/models/resnet/infer"),
            Some(V2Path {
                model_path: "/v2/models/resnet",
                model: "resnet"
            })
        );
        assert_eq!(
            V2Path::parse("/v2/models/resnet/versions/2/infer"),
            Some(V2Path {
                model_path: "/v2/models/resnet/versions/2",
                model: "resnet"
            })
        );
        let prefixed = V2Path::parse("/gateway/v2/models/m/infer").unwrap();
        assert_eq!(prefixed.model_path, "/gateway/v2/models/m");
        for other in [
            "/score",
            "/v2/models/m",
            "/v2/models//infer",
            "/v2/models/infer",
            "/v2/models/m/ready/infer",
            "/v2/models/m/versions//infer",
            "/v2/models/m/infer/",
        ] {
            assert_eq!(V2Path::parse(other), None, "{other}");
        }
    }

    #[test]
    fn the_path_decides_when_no_protocol_is_given() {
        assert_eq!(Protocol::detect("/v2/models/m/infer"), Protocol::V2);
        assert_eq!(Protocol::detect("/score"), Protocol::Score);
        assert_eq!(Protocol::detect("/models/m/score"), Protocol::Score);
    }
}
