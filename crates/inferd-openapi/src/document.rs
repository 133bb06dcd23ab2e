//! The whole document for one version, and [`Documents`]: all three,
//! rendered once at start into bytes the server hands out as they are.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use inferd_config::DecoderKind;
use inferd_media::MediaInputs;
use inferd_schema::ModelSchema;

use crate::model::{service_input, service_output};
use crate::types::exact_f32_bounds;
use crate::{ServiceInfo, SpecVersion};

/// A served model, as the document names it.
#[derive(Debug, Clone, Copy)]
pub struct ModelDoc<'a> {
    pub name: &'a str,
    pub schema: &'a ModelSchema,
}

/// The three documents of one service, as bytes.
#[derive(Debug, Clone)]
pub struct Documents {
    v2: Bytes,
    v3: Bytes,
    v31: Bytes,
}

impl Documents {
    /// Renders every version. `models` is not empty; the first is the
    /// default model, at `/score`.
    pub fn render(info: &ServiceInfo, models: &[ModelDoc<'_>]) -> Documents {
        let bytes = |version| {
            let document = render(version, info, models);
            let text = serde_json::to_string_pretty(&document).expect("a JSON value serialises");
            Bytes::from(exact_f32_bounds(text))
        };
        Documents {
            v2: bytes(SpecVersion::V2),
            v3: bytes(SpecVersion::V3),
            v31: bytes(SpecVersion::V31),
        }
    }

    pub fn get(&self, version: SpecVersion) -> Bytes {
        match version {
            SpecVersion::V2 => self.v2.clone(),
            SpecVersion::V3 => self.v3.clone(),
            SpecVersion::V31 => self.v31.clone(),
        }
    }
}

pub(crate) const JSON: &str = "application/json";
const MULTIPART: &str = "multipart/form-data";
const SCORE_DESCRIPTION: &str =
    "Scores the model on the data in the request body and answers its predictions.";
const INPUT_DESCRIPTION: &str = "The data to score, under the model's data field.";
const QUERY_DESCRIPTION: &str =
    "Scores the model on the data in the query string and answers its predictions.";
const QUERY_DATA_DESCRIPTION: &str = "The data to score as JSON text, percent-encoded \
     (a '+' between values reads as a space, one in an exponent as a plus).";
const OK_DESCRIPTION: &str = "The model's predictions for the data sent.";
const ALLOW_DESCRIPTION: &str = "GET, POST, OPTIONS";
const ERROR_DESCRIPTION: &str =
    "The request was refused or failed; the message says what was wrong and where.";

/// The document of `version` for a service serving `models`.
pub fn render(version: SpecVersion, info: &ServiceInfo, models: &[ModelDoc<'_>]) -> Value {
    let doc = DocumentWriter { version, info };
    let mut schemas = Map::new();
    let mut paths = Map::new();
    paths.insert(info.path("/"), doc.health());
    let mut score = |path: String, suffix: String, model: &ModelDoc<'_>| {
        let input = format!("ServiceInput{suffix}");
        let output = format!("ServiceOutput{suffix}");
        let body = service_input(model.schema, version);
        let field = &model.schema.data_field;
        let query = QueryData {
            name: field,
            schema: body["properties"][field.as_str()].clone(),
            example: model.schema.input_sample.as_ref(),
        };
        schemas.insert(input.clone(), doc.sample_schema(body));
        schemas.insert(
            output.clone(),
            doc.sample_schema(service_output(model.schema, version)),
        );
        let names = ScoreNames {
            suffix: &suffix,
            model: model.name,
            input: &input,
            output: &output,
            // A model whose declared inputs take no body on their own nor
            // as a form (some inputs undeclared) is scored from JSON only.
            media: model
                .schema
                .media
                .as_deref()
                .filter(|media| !media.content_types().is_empty()),
        };
        paths.insert(path, doc.score(&names, &query));
    };
    if let Some(default) = models.first() {
        score(info.path("/score"), String::new(), default);
    }
    if models.len() > 1 {
        for model in models {
            score(
                info.path(&format!("/models/{}/score", model.name)),
                format!("_{}", model.name),
                model,
            );
        }
    }
    paths.insert(info.path("/swagger.json"), doc.swagger());
    doc.v2(models, &mut paths, &mut schemas);
    schemas.insert(
        "ErrorResponse".into(),
        json!({"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}),
    );
    doc.document(paths, schemas)
}

/// Which binary bodies a model takes, and how each input is decoded.
fn media_description(media: &MediaInputs) -> String {
    let decoders: Vec<String> = media
        .declared()
        .map(|(name, kind, types)| {
            let what = match kind {
                DecoderKind::Image => "an image",
                DecoderKind::Npy => "a NumPy .npy array",
                DecoderKind::Raw => "its raw little-endian elements",
            };
            format!(
                "input '{name}' takes {what} (the {} decoder: {})",
                kind.name(),
                types.join(", ")
            )
        })
        .collect();
    let mut text = format!(
        "Or a binary body, by its Content-Type: {}.",
        decoders.join("; ")
    );
    let types = media.content_types();
    if types.iter().any(|t| *t != MULTIPART) {
        text.push_str(
            " A body of the input's own type is that input's data; one image is one row.",
        );
    }
    if types.contains(&MULTIPART) {
        text.push_str(
            " A multipart/form-data body has one part per input, named as the input; \
             an image input takes one part per image, each a row.",
        );
    }
    text
}

pub(crate) struct DocumentWriter<'a> {
    pub(crate) version: SpecVersion,
    pub(crate) info: &'a ServiceInfo,
}

/// The names of one scoring path's operations and schemas.
struct ScoreNames<'a> {
    /// `_{model}` when several models are served, else empty.
    suffix: &'a str,
    model: &'a str,
    input: &'a str,
    output: &'a str,
    /// The model's binary inputs, when it takes a binary body.
    media: Option<&'a MediaInputs>,
}

/// The query parameter that carries the data in `GET .../score`.
struct QueryData<'a> {
    name: &'a str,
    /// The schema of the data field's value (the parameter's JSON).
    schema: Value,
    example: Option<&'a Value>,
}

impl DocumentWriter<'_> {
    pub(crate) fn is_v2(&self) -> bool {
        self.version == SpecVersion::V2
    }

    pub(crate) fn reference(&self, name: &str) -> Value {
        let base = if self.is_v2() {
            "#/definitions/"
        } else {
            "#/components/schemas/"
        };
        json!({"$ref": format!("{base}{name}")})
    }

    /// A response (or request body) carrying `schema` as `media`.
    pub(crate) fn content(&self, description: &str, media: &str, schema: Value) -> Value {
        if self.is_v2() {
            json!({"description": description, "schema": schema})
        } else {
            json!({"description": description, "content": {media: {"schema": schema}}})
        }
    }

    /// An operation's start: its id, its description and, where auth is
    /// on, whether it needs the key. An open route says `security: []`,
    /// which lifts the 3.x document's own requirement.
    pub(crate) fn operation(&self, id: &str, description: &str, needs_key: bool) -> Value {
        let mut operation = json!({"operationId": id, "description": description});
        if self.info.auth_required {
            operation["security"] = if needs_key {
                json!([{"Bearer": []}])
            } else {
                json!([])
            };
        }
        operation
    }

    pub(crate) fn error_response(&self) -> Value {
        self.content(ERROR_DESCRIPTION, JSON, self.reference("ErrorResponse"))
    }

    fn health(&self) -> Value {
        let mut ok = self.content(
            "The service is up; the body is the text 'Healthy'.",
            "text/plain",
            json!({"type": "string", "example": "Healthy"}),
        );
        // An open route by default (inferd-auth's DEFAULT_OPEN_ROUTES).
        let mut operation = self.operation(
            "ServiceHealthCheck",
            "Liveness: answers as soon as the process serves HTTP, before models load.",
            false,
        );
        if self.is_v2() {
            ok["examples"] = json!({"text/plain": "Healthy"});
            operation["produces"] = json!(["text/plain"]);
        }
        operation["responses"] = json!({"200": ok, "default": self.error_response()});
        let mut head = self.operation(
            "ServiceHealthCheckHead",
            "Liveness, as GET answers it, without the body.",
            false,
        );
        head["responses"] = json!({"200": {"description": "The service is up."}});
        json!({"get": operation, "head": head})
    }

    /// `POST` (the data in the body), `GET` (the data as JSON in the query
    /// string) and `OPTIONS` (the methods, open even when keys are on).
    fn score(&self, names: &ScoreNames<'_>, query: &QueryData<'_>) -> Value {
        let ScoreNames {
            suffix,
            model,
            input,
            output,
            media,
        } = names;
        let scoring = |operation_id: String, description: String| {
            self.operation(&operation_id, &description, true)
        };
        let responses = json!({
            "200": self.content(OK_DESCRIPTION, JSON, self.reference(output)),
            "default": self.error_response()
        });
        let mut post = scoring(
            format!("RunMLService{suffix}"),
            format!("{SCORE_DESCRIPTION} Model: {model}."),
        );
        let binary = media.map(MediaInputs::content_types).unwrap_or_default();
        let input_description = match media {
            Some(media) => format!("{INPUT_DESCRIPTION} {}", media_description(media)),
            None => INPUT_DESCRIPTION.to_owned(),
        };
        if self.is_v2() {
            post["parameters"] = json!([{
                "name": "serviceInputPayload",
                "in": "body",
                "required": true,
                "description": input_description,
                "schema": self.reference(input)
            }]);
            // Swagger 2.0 cannot hold a body parameter and form parameters
            // in one operation, nor a second body schema: the binary types
            // are listed, and the JSON body is the one described.
            if !binary.is_empty() {
                let mut consumes = vec![JSON];
                consumes.extend(&binary);
                post["consumes"] = json!(consumes);
                post["description"] = json!(format!(
                    "{SCORE_DESCRIPTION} Model: {model}. Besides JSON it takes binary bodies \
                     ({}), which Swagger 2.0 cannot describe: see the body parameter.",
                    binary.join(", ")
                ));
            }
        } else {
            let mut content = Map::new();
            content.insert(JSON.into(), json!({"schema": self.reference(input)}));
            if let Some(media) = media {
                for media_type in binary {
                    let body = if media_type == MULTIPART {
                        self.form(media)
                    } else {
                        json!({"schema": self.binary(&[media_type])})
                    };
                    content.insert(media_type.into(), body);
                }
            }
            post["requestBody"] = json!({
                "description": input_description,
                "required": true,
                "content": content
            });
        }
        post["responses"] = responses.clone();
        let mut get = scoring(
            format!("RunMLServiceQuery{suffix}"),
            format!("{QUERY_DESCRIPTION} Model: {model}."),
        );
        get["parameters"] = json!([self.query_data(query)]);
        get["responses"] = responses;
        let allow = if self.is_v2() {
            json!({"type": "string", "description": ALLOW_DESCRIPTION})
        } else {
            json!({"description": ALLOW_DESCRIPTION, "schema": {"type": "string"}})
        };
        // The server answers a preflight before the key check.
        let mut options = self.operation(
            &format!("RunMLServiceOptions{suffix}"),
            "The methods this path answers, in the Allow header; no key needed.",
            false,
        );
        options["responses"] = json!({"200": {
            "description": "No body; the Allow header lists the methods.",
            "headers": {"Allow": allow}
        }});
        json!({"post": post, "get": get, "options": options})
    }

    /// A binary value of one of `media_types`: 3.0's binary string; in 3.1,
    /// where `format` says nothing of encoding, JSON Schema's
    /// `contentMediaType` where there is one type (the part's or body's
    /// Content-Type says the rest).
    fn binary(&self, media_types: &[&str]) -> Value {
        match (self.version, media_types) {
            (SpecVersion::V31, [only]) => json!({"type": "string", "contentMediaType": only}),
            (SpecVersion::V31, _) => json!({"type": "string"}),
            _ => json!({"type": "string", "format": "binary"}),
        }
    }

    /// A multipart/form-data body: one part per input, named as the input,
    /// each of its decoder's types (the encoding says which); an image
    /// input takes one part per image, the parts of a batch.
    fn form(&self, media: &MediaInputs) -> Value {
        let mut properties = Map::new();
        let mut encoding = Map::new();
        let mut required = Vec::new();
        for (name, kind, types) in media.declared() {
            let part = self.binary(&types);
            let property = match kind {
                DecoderKind::Image => json!({
                    "type": "array",
                    "minItems": 1,
                    "items": part,
                    "description": "One part per image, each a row of the batch."
                }),
                DecoderKind::Npy | DecoderKind::Raw => part,
            };
            properties.insert(name.into(), property);
            encoding.insert(name.into(), json!({"contentType": types.join(", ")}));
            required.push(name);
        }
        json!({
            "schema": {
                "type": "object",
                "required": required,
                "properties": properties,
                "additionalProperties": false
            },
            "encoding": encoding
        })
    }

    /// The query parameter holding the data as JSON text. Swagger 2.0 has
    /// no JSON parameters: there it is a string that says so.
    fn query_data(&self, query: &QueryData<'_>) -> Value {
        let mut parameter = json!({
            "name": query.name,
            "in": "query",
            "required": true,
            "description": QUERY_DATA_DESCRIPTION,
        });
        if self.is_v2() {
            parameter["type"] = json!("string");
            parameter["format"] = json!("json");
        } else {
            let mut media = json!({"schema": query.schema});
            if let Some(example) = query.example {
                media["example"] = example.clone();
            }
            parameter["content"] = json!({JSON: media});
        }
        parameter
    }

    fn swagger(&self) -> Value {
        let values = SpecVersion::QUERY_VALUES;
        let description =
            "Which document: 2 (Swagger 2.0, the default), 3 (OpenAPI 3.0.3) or 3.1 (OpenAPI 3.1).";
        let parameter = if self.is_v2() {
            json!({"name": "version", "in": "query", "required": false, "description": description,
                   "type": "string", "enum": values})
        } else {
            json!({"name": "version", "in": "query", "required": false, "description": description,
                   "schema": {"type": "string", "enum": values}})
        };
        json!({
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "This document, in the version asked for.",
                "parameters": [parameter],
                "responses": {
                    "200": self.content("The API document.", JSON, json!({"type": "object"})),
                    "default": self.error_response()
                }
            },
            "head": {
                "operationId": "GetSwaggerSpecHead",
                "description": "As GET, without the body.",
                "parameters": [parameter],
                "responses": {
                    "200": {"description": "The document exists in that version."},
                    "default": {"description": "An unknown version; no body, as for any HEAD."}
                }
            }
        })
    }

    /// In 3.1, schemas carry `examples` (a list), JSON Schema's own keyword.
    pub(crate) fn sample_schema(&self, mut schema: Value) -> Value {
        if self.version == SpecVersion::V31
            && let Some(object) = schema.as_object_mut()
            && let Some(example) = object.remove("example")
        {
            object.insert("examples".into(), json!([example]));
        }
        schema
    }

    fn document(&self, paths: Map<String, Value>, schemas: Map<String, Value>) -> Value {
        let info = json!({
            "title": self.info.title,
            "description": format!("Scoring API of {}, served by inferd.", self.info.title),
            "version": self.info.version,
        });
        let bearer = json!({
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "The service key, sent as 'Bearer <key>'."
        });
        if self.is_v2() {
            return json!({
                "swagger": "2.0",
                "info": info,
                "schemes": [if self.info.https { "https" } else { "http" }],
                "consumes": [JSON],
                "produces": [JSON],
                "securityDefinitions": {"Bearer": bearer},
                "paths": paths,
                "definitions": schemas,
            });
        }
        let mut document = json!({
            "openapi": if self.version == SpecVersion::V3 { "3.0.3" } else { "3.1.0" },
            "info": info,
        });
        if self.info.auth_required {
            document["security"] = json!([{"Bearer": []}]);
        }
        document["paths"] = Value::Object(paths);
        document["components"] = json!({"schemas": schemas, "securitySchemes": {"Bearer": bearer}});
        document
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use inferd_config::{InputDecoder, OutputLayout, Postprocess};
    use inferd_schema::Labeller;
    use inferd_tensor::{DType, Dim, Signature, TensorSpec};

    use super::*;

    pub(crate) fn spec(name: &str, dtype: DType, shape: Option<Vec<Dim>>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape,
        }
    }

    /// A one-input model with a sample, and a model with three inputs (a
    /// fixed shape, a scalar, an undeclared shape) and two outputs.
    pub(crate) fn schemas() -> [ModelSchema; 2] {
        let mut ridge = ModelSchema::from_signature(Signature {
            inputs: vec![spec(
                "input",
                DType::F32,
                Some(vec![Dim::Free(Some("N".into())), Dim::Fixed(10)]),
            )],
            outputs: vec![spec(
                "variable",
                DType::F32,
                Some(vec![Dim::Free(None), Dim::Fixed(1)]),
            )],
        });
        ridge.input_sample = Some(json!([[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]));
        let multi = ModelSchema::from_signature(Signature {
            inputs: vec![
                spec("a", DType::I64, Some(vec![Dim::Fixed(2), Dim::Fixed(3)])),
                spec("b", DType::Bool, Some(vec![])),
                spec("c", DType::U8, None),
            ],
            outputs: vec![
                spec("label", DType::I64, Some(vec![Dim::Free(None)])),
                spec(
                    "probs",
                    DType::F64,
                    Some(vec![Dim::Free(None), Dim::Fixed(4)]),
                ),
            ],
        });
        [ridge, multi]
    }

    pub(crate) fn documents(schemas: &[ModelSchema; 2], info: &ServiceInfo) -> Vec<Value> {
        rendered(&[("ridge", &schemas[0]), ("multi", &schemas[1])], info)
    }

    /// Every version's document of `models`, as JSON values.
    fn rendered(models: &[(&str, &ModelSchema)], info: &ServiceInfo) -> Vec<Value> {
        let models: Vec<ModelDoc<'_>> = models
            .iter()
            .map(|&(name, schema)| ModelDoc { name, schema })
            .collect();
        let documents = Documents::render(info, &models);
        SpecVersion::ALL
            .into_iter()
            .map(|version| serde_json::from_slice(&documents.get(version)).unwrap())
            .collect()
    }

    /// `declared` (the inference config's `inputs`) for `schema`'s model.
    fn declare_media(schema: &mut ModelSchema, declared: Value) {
        let declared: BTreeMap<String, InputDecoder> = serde_json::from_value(declared).unwrap();
        schema.media = MediaInputs::build(&declared, &schema.signature)
            .unwrap()
            .map(Arc::new);
    }

    /// `postprocess` (by output name) for `schema`'s model.
    fn declare_labels(schema: &mut ModelSchema, postprocess: Value) {
        let postprocess: BTreeMap<String, Postprocess> =
            serde_json::from_value(postprocess).unwrap();
        schema.labels = schema
            .signature
            .outputs
            .iter()
            .map(|spec| {
                let declared = postprocess.get(&spec.name)?;
                Some(Labeller::build(declared, spec).unwrap())
            })
            .collect();
    }

    /// Models taking binary bodies: `digits`, an image classifier (a lone
    /// image or a form; its scores labelled); `pair`, two inputs (npy and
    /// raw) sent only as a form, answered as records with one output
    /// labelled; `vector`, one npy input and two outputs, one labelled.
    fn media_models() -> [(&'static str, ModelSchema); 3] {
        let free = || Dim::Free(Some("N".into()));
        let mut digits = ModelSchema::from_signature(Signature {
            inputs: vec![spec(
                "input",
                DType::F32,
                Some(vec![free(), Dim::Fixed(1), Dim::Fixed(28), Dim::Fixed(28)]),
            )],
            outputs: vec![spec(
                "scores",
                DType::F32,
                Some(vec![free(), Dim::Fixed(10)]),
            )],
        });
        declare_media(
            &mut digits,
            json!({"input": {"decoder": "image", "resize": {"width": 28, "height": 28},
                             "color": "gray", "scale": 0.00392156862745098}}),
        );
        declare_labels(
            &mut digits,
            json!({"scores": {"labels": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
                              "topK": 3, "softmax": true}}),
        );
        // A labelled model's sample is its raw scores, not its answer.
        digits.output_sample = Some(json!([vec![0.0; 10]]));

        let mut pair = ModelSchema::from_signature(Signature {
            inputs: vec![
                spec("x", DType::F32, Some(vec![free(), Dim::Fixed(4)])),
                spec("y", DType::I64, Some(vec![free(), Dim::Fixed(2)])),
            ],
            outputs: vec![
                spec("label", DType::I64, Some(vec![free()])),
                spec("probs", DType::F32, Some(vec![free(), Dim::Fixed(3)])),
            ],
        });
        pair.output = OutputLayout::Records;
        declare_media(
            &mut pair,
            json!({"x": {"decoder": "npy"}, "y": {"decoder": "raw"}}),
        );
        declare_labels(&mut pair, json!({"probs": {"labels": ["a", "b", "c"]}}));

        let mut vector = ModelSchema::from_signature(Signature {
            inputs: vec![spec("x", DType::F64, Some(vec![free(), Dim::Fixed(3)]))],
            outputs: vec![
                spec("label", DType::I64, Some(vec![free()])),
                spec("probs", DType::F64, Some(vec![free(), Dim::Free(None)])),
            ],
        });
        declare_media(&mut vector, json!({"x": {"decoder": "npy"}}));
        declare_labels(&mut vector, json!({"probs": {"topK": 1}}));
        [("digits", digits), ("pair", pair), ("vector", vector)]
    }

    fn media_documents(models: &[(&'static str, ModelSchema); 3]) -> Vec<Value> {
        let [(a, x), (b, y), (c, z)] = models;
        rendered(&[(a, x), (b, y), (c, z)], &ServiceInfo::default())
    }

    fn definition<'d>(doc: &'d Value, name: &str) -> &'d Value {
        match doc.get("definitions") {
            Some(definitions) => &definitions[name],
            None => &doc["components"]["schemas"][name],
        }
    }

    /// Every key in `value`, with the values of `$ref`s.
    fn walk<'v>(value: &'v Value, keys: &mut BTreeSet<&'v str>, refs: &mut Vec<&'v str>) {
        match value {
            Value::Object(object) => {
                for (key, inner) in object {
                    keys.insert(key);
                    if key == "$ref" {
                        refs.push(inner.as_str().unwrap());
                    }
                    walk(inner, keys, refs);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys, refs)),
            _ => {}
        }
    }

    /// What the validators (tests/api/check.py) would refuse, checked here
    /// without them: dangling references, repeated operation ids, path
    /// parameters not declared, keywords the version does not have.
    #[test]
    fn documents_are_well_formed() {
        let schemas = schemas();
        let media = media_models();
        for auth_required in [false, true] {
            let info = ServiceInfo {
                auth_required,
                path_prefix: "/api".into(),
                ..ServiceInfo::default()
            };
            let media: Vec<(&str, &ModelSchema)> =
                media.iter().map(|(name, schema)| (*name, schema)).collect();
            let all = documents(&schemas, &info)
                .into_iter()
                .zip(rendered(&media, &info));
            let all = SpecVersion::ALL
                .into_iter()
                .zip(all)
                .flat_map(|(version, (a, b))| [(version, a), (version, b)]);
            for (version, doc) in all {
                let (mut keys, mut refs) = (BTreeSet::new(), Vec::new());
                walk(&doc, &mut keys, &mut refs);
                for reference in refs {
                    let pointer = reference.trim_start_matches('#');
                    assert!(doc.pointer(pointer).is_some(), "{version:?}: {reference}");
                }
                let forbidden: &[&str] = match version {
                    SpecVersion::V2 => &[
                        "oneOf",
                        "anyOf",
                        "const",
                        "prefixItems",
                        "requestBody",
                        "contentMediaType",
                        "encoding",
                    ],
                    SpecVersion::V3 => &[
                        "const",
                        "prefixItems",
                        "examples",
                        "x-nullable",
                        "contentMediaType",
                    ],
                    SpecVersion::V31 => &["x-nullable", "nullable"],
                };
                for keyword in forbidden {
                    assert!(!keys.contains(keyword), "{version:?} uses {keyword}");
                }
                let mut ids = BTreeSet::new();
                for (path, item) in doc["paths"].as_object().unwrap() {
                    assert!(path.starts_with("/api/"), "{path}");
                    for (method, operation) in item.as_object().unwrap() {
                        let id = operation["operationId"].as_str().unwrap();
                        assert!(ids.insert(id), "{version:?}: {id} twice");
                        let declared: BTreeSet<&str> = operation["parameters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|p| p["in"] == "path")
                            .map(|p| p["name"].as_str().unwrap())
                            .collect();
                        let templated: BTreeSet<&str> = path
                            .split('/')
                            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                            .collect();
                        assert_eq!(declared, templated, "{version:?} {method} {path}");
                        assert!(operation["responses"].is_object(), "{method} {path}");
                    }
                }
            }
        }
    }

    #[test]
    fn open_routes_lift_the_key_requirement() {
        let schemas = schemas();
        let info = ServiceInfo {
            auth_required: true,
            ..ServiceInfo::default()
        };
        for doc in documents(&schemas, &info) {
            let paths = &doc["paths"];
            assert_eq!(paths["/"]["get"]["security"], json!([]));
            assert_eq!(paths["/"]["head"]["security"], json!([]));
            assert_eq!(paths["/score"]["options"]["security"], json!([]));
            assert_eq!(paths["/score"]["post"]["security"], json!([{"Bearer": []}]));
            assert_eq!(
                paths["/models/ridge/score"]["get"]["security"],
                json!([{"Bearer": []}])
            );
        }
    }

    #[test]
    fn binary_bodies_are_documented_in_every_version() {
        let models = media_models();
        let docs = media_documents(&models);
        let images = [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/bmp",
            "image/gif",
        ];
        let post = |doc: &Value, model: &str| {
            doc["paths"][format!("/models/{model}/score")]["post"].clone()
        };
        let keys = |content: &Value| -> Vec<String> {
            content.as_object().unwrap().keys().cloned().collect()
        };

        // Swagger 2.0: the types in consumes, the JSON body described.
        let digits = post(&docs[0], "digits");
        let mut consumes = vec![JSON];
        consumes.extend(images);
        consumes.push(MULTIPART);
        assert_eq!(digits["consumes"], json!(consumes));
        assert!(
            digits["description"]
                .as_str()
                .unwrap()
                .contains("image/gif, multipart/form-data")
        );
        let body = &digits["parameters"][0];
        assert_eq!(body["in"], "body");
        assert_eq!(body["schema"]["$ref"], "#/definitions/ServiceInput_digits");
        let text = body["description"].as_str().unwrap();
        assert!(
            text.contains("input 'input' takes an image (the image decoder: image/png, image/jpeg"),
            "{text}"
        );
        assert!(text.contains("one part per image"), "{text}");
        let pair = post(&docs[0], "pair");
        assert_eq!(pair["consumes"], json!([JSON, MULTIPART]));
        let text = pair["parameters"][0]["description"].as_str().unwrap();
        assert!(
            text.contains(
                "input 'x' takes a NumPy .npy array (the npy decoder: application/x-npy)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "input 'y' takes its raw little-endian elements \
                 (the raw decoder: application/octet-stream)"
            ),
            "{text}"
        );
        assert_eq!(
            post(&docs[0], "vector")["consumes"],
            json!([JSON, "application/x-npy", MULTIPART])
        );

        for (version, doc) in [(SpecVersion::V3, &docs[1]), (SpecVersion::V31, &docs[2])] {
            let digits = post(doc, "digits");
            assert!(digits.get("consumes").is_none());
            let content = &digits["requestBody"]["content"];
            let mut expected = vec![JSON.to_owned()];
            expected.extend(images.map(String::from));
            expected.push(MULTIPART.into());
            expected.sort();
            assert_eq!(keys(content), expected, "{version:?}");
            assert!(
                digits["requestBody"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("the image decoder")
            );
            let png = &content["image/png"]["schema"];
            let form = &content[MULTIPART];
            let part = &form["schema"]["properties"]["input"];
            assert_eq!(form["schema"]["required"], json!(["input"]));
            assert_eq!(form["schema"]["additionalProperties"], false);
            assert_eq!(
                (&part["type"], &part["minItems"]),
                (&json!("array"), &json!(1))
            );
            assert_eq!(
                form["encoding"]["input"]["contentType"],
                "image/png, image/jpeg, image/webp, image/bmp, image/gif"
            );
            let pair = post(doc, "pair");
            let content = &pair["requestBody"]["content"];
            assert_eq!(keys(content), [JSON, MULTIPART], "{version:?}");
            let form = &content[MULTIPART];
            assert_eq!(form["schema"]["required"], json!(["x", "y"]));
            assert_eq!(form["encoding"]["x"]["contentType"], "application/x-npy");
            assert_eq!(
                form["encoding"]["y"]["contentType"],
                "application/octet-stream"
            );
            let (x, y) = (
                &form["schema"]["properties"]["x"],
                &form["schema"]["properties"]["y"],
            );
            let vector = post(doc, "vector");
            let npy = &vector["requestBody"]["content"]["application/x-npy"]["schema"];
            if version == SpecVersion::V3 {
                let binary = json!({"type": "string", "format": "binary"});
                assert_eq!(png, &binary);
                assert_eq!(part["items"], binary);
                assert_eq!((x, y), (&binary, &binary));
                assert_eq!(npy, &binary);
            } else {
                assert_eq!(
                    png,
                    &json!({"type": "string", "contentMediaType": "image/png"})
                );
                // Five formats: the encoding names them.
                assert_eq!(part["items"], json!({"type": "string"}));
                assert_eq!(
                    x,
                    &json!({"type": "string", "contentMediaType": "application/x-npy"})
                );
                assert_eq!(
                    y,
                    &json!({"type": "string", "contentMediaType": "application/octet-stream"})
                );
                assert_eq!(
                    npy,
                    &json!({"type": "string", "contentMediaType": "application/x-npy"})
                );
            }
        }

        // A model without media documents JSON alone.
        for doc in documents(&schemas(), &ServiceInfo::default()) {
            let post = &doc["paths"]["/score"]["post"];
            assert!(post.get("consumes").is_none());
            if let Some(content) = post["requestBody"]["content"].as_object() {
                assert_eq!(content.keys().collect::<Vec<_>>(), [JSON]);
            }
        }
    }

    #[test]
    fn labelled_outputs_are_classes_with_scores() {
        let models = media_models();
        let docs = media_documents(&models);
        let classes = |version: SpecVersion, classes: Option<usize>| {
            let score = match version {
                SpecVersion::V2 => json!({"type": "number", "format": "float", "x-nullable": true}),
                SpecVersion::V3 => json!({"type": "number", "format": "float", "nullable": true}),
                SpecVersion::V31 => json!({"type": ["number", "null"], "format": "float"}),
            };
            let mut list = json!({
                "type": "array",
                "description": "One row's classes, best first, each with its score (after softmax, when declared).",
                "items": {
                    "type": "object",
                    "required": ["label", "score"],
                    "properties": {"label": {"type": "string"}, "score": score},
                    "additionalProperties": false
                }
            });
            if let Some(n) = classes {
                list["maxItems"] = json!(n);
            }
            list
        };
        for (version, doc) in SpecVersion::ALL.into_iter().zip(&docs) {
            // digits: a list of rows, or a lone image's classes.
            let digits = definition(doc, "ServiceOutput_digits");
            let one = classes(version, Some(10));
            if version == SpecVersion::V2 {
                assert_eq!(digits["items"], one);
                assert!(
                    digits["description"]
                        .as_str()
                        .unwrap()
                        .contains("one image on its own")
                );
            } else {
                assert_eq!(digits["anyOf"][0]["items"], one, "{version:?}");
                assert_eq!(digits["anyOf"][0]["type"], "array");
                assert_eq!(digits["anyOf"][1], one);
            }
            // The raw scores' sample is not the answer.
            assert!(digits.get("example").is_none() && digits.get("examples").is_none());

            // pair, as records: each record's value is the row's classes.
            let pair = definition(doc, "ServiceOutput_pair");
            let record = &pair["items"]["properties"];
            assert_eq!(pair["type"], "array");
            assert_eq!(record["probs"], classes(version, Some(3)));
            assert_eq!(record["label"]["type"], "integer");

            // vector: by name; no lone image, so always a list of rows.
            let vector = definition(doc, "ServiceOutput_vector");
            let probs = &vector["properties"]["probs"];
            assert_eq!(probs["type"], "array");
            let mut one = classes(version, None);
            if let Some(score) = one.pointer_mut("/items/properties/score") {
                *score =
                    crate::types::element(DType::F64, crate::types::Direction::Response, version);
            }
            assert_eq!(probs["items"], one);
            assert_eq!(vector["properties"]["label"]["items"]["type"], "integer");
        }
        // Unlabelled outputs are the tensors they were.
        let plain = documents(&schemas(), &ServiceInfo::default());
        assert_eq!(
            definition(&plain[1], "ServiceOutput_multi")["properties"]["label"]["type"],
            "array"
        );
    }
}
