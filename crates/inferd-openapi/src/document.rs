//! The whole document for one version, and [`Documents`]: all three,
//! rendered once at start into bytes the server hands out as they are.

use bytes::Bytes;
use serde_json::{Map, Value, json};

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
        if self.is_v2() {
            post["parameters"] = json!([{
                "name": "serviceInputPayload",
                "in": "body",
                "required": true,
                "description": INPUT_DESCRIPTION,
                "schema": self.reference(input)
            }]);
        } else {
            post["requestBody"] = json!({
                "description": INPUT_DESCRIPTION,
                "required": true,
                "content": {JSON: {"schema": self.reference(input)}}
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
    use std::collections::BTreeSet;

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
        let models = [
            ModelDoc {
                name: "ridge",
                schema: &schemas[0],
            },
            ModelDoc {
                name: "multi",
                schema: &schemas[1],
            },
        ];
        let documents = Documents::render(info, &models);
        SpecVersion::ALL
            .into_iter()
            .map(|version| serde_json::from_slice(&documents.get(version)).unwrap())
            .collect()
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
        for auth_required in [false, true] {
            let info = ServiceInfo {
                auth_required,
                path_prefix: "/api".into(),
                ..ServiceInfo::default()
            };
            for (version, doc) in SpecVersion::ALL.into_iter().zip(documents(&schemas, &info)) {
                let (mut keys, mut refs) = (BTreeSet::new(), Vec::new());
                walk(&doc, &mut keys, &mut refs);
                for reference in refs {
                    let pointer = reference.trim_start_matches('#');
                    assert!(doc.pointer(pointer).is_some(), "{version:?}: {reference}");
                }
                let forbidden: &[&str] = match version {
                    SpecVersion::V2 => &["oneOf", "anyOf", "const", "prefixItems", "requestBody"],
                    SpecVersion::V3 => &["const", "prefixItems", "examples", "x-nullable"],
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
}
