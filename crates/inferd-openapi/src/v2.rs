//! The Open Inference Protocol's routes (KServe v2, REST) in the document,
//! beside `/score`: the server's own (`/v2`, its health, statistics, the
//! repository index) once, and each model's (metadata, readiness, infer,
//! configuration, statistics) under its name, with and without
//! `/versions/{model_version}`, carrying that model's schemas from
//! [`crate::v2_model`].
//!
//! Paths are written per model, as `/models/{name}/score` is, because each
//! model's infer request has its own inputs: one templated path could give
//! them only one schema.

use serde_json::{Map, Value, json};

use crate::document::{DocumentWriter, JSON, ModelDoc};
use crate::v2_model::{infer_request, infer_response, model_metadata};

const OCTET: &str = "application/octet-stream";
const HEADER_LENGTH: &str = "Inference-Header-Content-Length";
const V2_ERROR: &str = "V2Error";
const VERSION_DESCRIPTION: &str = "A version of the model the server holds.";
const NOT_FOUND: &str = "No such model, or no such version of it.";
const INFER_DESCRIPTION: &str = "Runs the model on the inputs in the request body. The body \
     is the JSON below, or, with the binary tensor extension, that JSON (each binary input \
     giving parameters.binary_data_size in place of data) followed by the inputs' raw \
     little-endian bytes, sent as application/octet-stream with the JSON's length in the \
     Inference-Header-Content-Length header. Outputs asked for as binary come back the same \
     way.";

/// One of a model's two bases: `/v2/models/{m}` or
/// `/v2/models/{m}/versions/{model_version}`.
struct Base {
    path: String,
    /// `Version`, in operation ids, for the versioned base.
    id: &'static str,
    /// The `model_version` path parameter, where there is one.
    parameters: Vec<Value>,
}

impl DocumentWriter<'_> {
    /// Adds the `/v2` paths and their schemas.
    pub(crate) fn v2(
        &self,
        models: &[ModelDoc<'_>],
        paths: &mut Map<String, Value>,
        schemas: &mut Map<String, Value>,
    ) {
        self.v2_server(paths, schemas);
        for model in models {
            self.v2_model(model, paths, schemas);
        }
    }

    /// The routes that are the server's, not a model's.
    fn v2_server(&self, paths: &mut Map<String, Value>, schemas: &mut Map<String, Value>) {
        let path = |p: &str| self.info.path(p);
        let mut metadata = self.operation(
            "V2ServerMetadata",
            "The server's name, version and the protocol extensions it implements.",
            true,
        );
        metadata["responses"] = json!({
            "200": self.content("The server's metadata.", JSON, self.reference("V2ServerMetadata")),
            "default": self.error_response()
        });
        paths.insert(path("/v2"), with_head(metadata));

        let mut live = self.operation(
            "V2ServerLive",
            "Liveness: answers as soon as the process serves HTTP. Open when keys are on.",
            false,
        );
        live["responses"] = json!({"200": {"description": "Live; no body."}});
        paths.insert(path("/v2/health/live"), with_head(live));

        let mut ready = self.operation(
            "V2ServerReady",
            "Readiness: 200 once every model is loaded. Open when keys are on.",
            false,
        );
        ready["responses"] = json!({
            "200": {"description": "Ready; no body."},
            "503": {"description": "Not ready yet: the models are loading."}
        });
        paths.insert(path("/v2/health/ready"), with_head(ready));

        let mut stats = self.operation(
            "V2Statistics",
            "Every model's inference statistics (Triton's statistics extension).",
            true,
        );
        stats["responses"] = json!({
            "200": self.content("The statistics.", JSON, self.reference("V2InferStatistics")),
            "default": self.error_response()
        });
        paths.insert(path("/v2/models/stats"), with_head(stats));

        let mut index = self.operation(
            "V2RepositoryIndex",
            "The models of the repository and their state (Triton's model repository \
             extension); the body is optional.",
            true,
        );
        let request = self.reference("V2RepositoryIndexRequest");
        self.body(
            &mut index,
            "repositoryIndexRequest",
            "Which models to list.",
            request,
            false,
        );
        index["responses"] = json!({
            "200": self.content("The models.", JSON, self.reference("V2RepositoryIndex")),
            "400": self.v2_error("The body is not a valid index request."),
            "default": self.error_response()
        });
        paths.insert(path("/v2/repository/index"), json!({"post": index}));

        let name_parameter = if self.is_v2() {
            json!({"name": "model_name", "in": "path", "required": true,
                   "description": "A model in the registry.", "type": "string", "minLength": 1})
        } else {
            json!({"name": "model_name", "in": "path", "required": true,
                   "description": "A model in the registry.", "schema": {"type": "string", "minLength": 1}})
        };
        for (action, id, description, body) in [
            (
                "load",
                "V2RepositoryModelLoad",
                "Serves the model: the registered version given (`parameters.version`), \
                 else by its version policy (the latest by default); added when not served. \
                 The new version is loaded beside the one serving, self-tested, then swapped \
                 in; the answer comes once it is live, or says why it was refused (the model \
                 then serves on as before). Always needs a key, even where scoring does not.",
                true,
            ),
            (
                "unload",
                "V2RepositoryModelUnload",
                "Stops serving the model (not the default model); requests in flight finish. \
                 Always needs a key, even where scoring does not.",
                false,
            ),
        ] {
            let mut operation = self.operation(id, description, true);
            operation["parameters"] = json!([name_parameter.clone()]);
            if body {
                let request = self.reference("V2RepositoryLoadRequest");
                self.body(
                    &mut operation,
                    "repositoryLoadRequest",
                    "Which version.",
                    request,
                    false,
                );
            }
            operation["responses"] = json!({
                "200": self.content("The versions that went live and those retired.", JSON,
                                    self.reference("V2RepositoryUpdate")),
                "400": self.v2_error("The body is not valid, or the version was refused (it failed to load or its self-test)."),
                "401": self.v2_error("No key, or a wrong one."),
                "403": self.v2_error("The server has no keys: model load and unload are off."),
                "404": self.v2_error("No such model or version in the registry, or the model is not served."),
                "409": self.v2_error("The default model cannot be unloaded."),
                "504": self.v2_error("The update runs on past the answer's wait."),
                "default": self.error_response()
            });
            paths.insert(
                path(&format!("/v2/repository/models/{{model_name}}/{action}")),
                json!({"post": operation}),
            );
        }

        for (name, schema) in server_schemas() {
            schemas.insert(name.to_owned(), schema);
        }
    }

    /// One model's routes and schemas.
    fn v2_model(
        &self,
        model: &ModelDoc<'_>,
        paths: &mut Map<String, Value>,
        schemas: &mut Map<String, Value>,
    ) {
        let name = model.name;
        let signature = &model.schema.signature;
        let request = format!("V2InferRequest_{name}");
        let response = format!("V2InferResponse_{name}");
        let metadata = format!("V2ModelMetadata_{name}");
        schemas.insert(
            request.clone(),
            self.sample_schema(infer_request(model.schema, self.version)),
        );
        schemas.insert(
            response.clone(),
            infer_response(name, signature, self.version),
        );
        schemas.insert(
            metadata.clone(),
            model_metadata(name, signature, self.version),
        );

        let version_parameter = if self.is_v2() {
            json!({"name": "model_version", "in": "path", "required": true,
                   "description": VERSION_DESCRIPTION, "type": "string", "minLength": 1})
        } else {
            json!({"name": "model_version", "in": "path", "required": true,
                   "description": VERSION_DESCRIPTION, "schema": {"type": "string", "minLength": 1}})
        };
        let bases = [
            Base {
                path: self.info.path(&format!("/v2/models/{name}")),
                id: "",
                parameters: Vec::new(),
            },
            Base {
                path: self
                    .info
                    .path(&format!("/v2/models/{name}/versions/{{model_version}}")),
                id: "Version",
                parameters: vec![version_parameter],
            },
        ];
        for base in &bases {
            let operation = |kind: &str, description: String| {
                let mut operation = self.operation(
                    &format!("V2Model{}{kind}_{name}", base.id),
                    &format!("{description} Model: {name}."),
                    true,
                );
                if !base.parameters.is_empty() {
                    operation["parameters"] = json!(base.parameters);
                }
                operation
            };

            let mut get = operation(
                "Metadata",
                "The model's versions, platform, and its inputs and outputs with their \
                 datatypes and shapes (-1: a free dimension)."
                    .into(),
            );
            get["responses"] = json!({
                "200": self.content("The model's metadata.", JSON, self.reference(&metadata)),
                "404": self.v2_error(NOT_FOUND),
                "default": self.error_response()
            });
            paths.insert(base.path.clone(), with_head(get));

            let mut ready = operation("Ready", "Whether the model is ready to infer.".into());
            ready["responses"] = json!({
                "200": {"description": "Ready; no body."},
                "404": self.v2_error(NOT_FOUND),
                "503": self.v2_error("Not ready yet: the model is loading."),
                "default": self.error_response()
            });
            paths.insert(format!("{}/ready", base.path), with_head(ready));

            let mut infer = operation("Infer", INFER_DESCRIPTION.into());
            self.infer(&mut infer, &request, &response);
            paths.insert(format!("{}/infer", base.path), json!({"post": infer}));

            let mut config = operation(
                "Config",
                "The model's configuration, as Triton's model configuration extension writes it."
                    .into(),
            );
            config["responses"] = json!({
                "200": self.content("The model's configuration.", JSON, self.reference("V2ModelConfig")),
                "404": self.v2_error(NOT_FOUND),
                "default": self.error_response()
            });
            paths.insert(format!("{}/config", base.path), with_head(config));
        }

        let mut stats = self.operation(
            &format!("V2ModelStatistics_{name}"),
            &format!(
                "The model's inference statistics (Triton's statistics extension). Model: {name}."
            ),
            true,
        );
        stats["responses"] = json!({
            "200": self.content("The model's statistics.", JSON, self.reference("V2InferStatistics")),
            "404": self.v2_error(NOT_FOUND),
            "default": self.error_response()
        });
        paths.insert(
            self.info.path(&format!("/v2/models/{name}/stats")),
            with_head(stats),
        );
    }

    /// The infer operation's body and answers: JSON, and (where the
    /// version can say so) the binary form as a second media type.
    fn infer(&self, operation: &mut Value, request: &str, response: &str) {
        let header_length = json!({"type": "integer", "minimum": 0});
        let header_description =
            "Present when the body is binary: the length of the JSON before the raw bytes.";
        if self.is_v2() {
            self.body(
                operation,
                "inferRequest",
                "The inputs, and the outputs wanted.",
                self.reference(request),
                true,
            );
            operation["produces"] = json!([JSON, OCTET]);
            operation["responses"] = json!({"200": {
                "description": "The outputs.",
                "schema": self.reference(response),
                "headers": {HEADER_LENGTH: {"description": header_description, "type": "integer"}}
            }});
        } else {
            let binary = self.binary_schema();
            operation["requestBody"] = json!({
                "description": "The inputs, and the outputs wanted: JSON, or (application/octet-stream) \
                    that JSON then the binary inputs' bytes, its length in the \
                    Inference-Header-Content-Length header.",
                "required": true,
                "content": {
                    JSON: {"schema": self.reference(request)},
                    OCTET: {"schema": binary}
                }
            });
            operation["responses"] = json!({"200": {
                "description": "The outputs: JSON, or (application/octet-stream) that JSON then \
                    the binary outputs' bytes.",
                "headers": {HEADER_LENGTH: {"description": header_description, "schema": header_length}},
                "content": {
                    JSON: {"schema": self.reference(response)},
                    OCTET: {"schema": self.binary_schema()}
                }
            }});
        }
        let responses = operation["responses"]
            .as_object_mut()
            .expect("responses are an object");
        let errors = [
            (
                "400",
                "The request does not fit the model; the message says where.",
            ),
            ("404", NOT_FOUND),
            ("500", "The model failed on these inputs."),
            (
                "503",
                "The model is not ready, or the server is too busy to queue the request; retry after Retry-After seconds.",
            ),
            ("504", "The model did not finish within the time allowed."),
        ];
        for (status, description) in errors {
            responses.insert(status.into(), self.v2_error(description));
        }
        let retry_after = if self.is_v2() {
            json!({"type": "integer", "description": "Seconds to wait before retrying."})
        } else {
            json!({"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}})
        };
        responses["503"]["headers"] = json!({"Retry-After": retry_after});
        responses.insert("default".into(), self.error_response());
    }

    /// A request body of `schema` (a `body` parameter in Swagger 2.0).
    fn body(
        &self,
        operation: &mut Value,
        name: &str,
        description: &str,
        schema: Value,
        required: bool,
    ) {
        if self.is_v2() {
            let parameter = json!({
                "name": name, "in": "body", "required": required,
                "description": description, "schema": schema
            });
            // After the path's own parameters, where it has some.
            match operation["parameters"].as_array_mut() {
                Some(parameters) => parameters.push(parameter),
                None => operation["parameters"] = json!([parameter]),
            }
        } else {
            operation["requestBody"] = json!({
                "description": description,
                "required": required,
                "content": {JSON: {"schema": schema}}
            });
        }
    }

    /// Raw bytes, as each 3.x version says it.
    fn binary_schema(&self) -> Value {
        if self.version == crate::SpecVersion::V31 {
            json!({"type": "string", "contentMediaType": OCTET})
        } else {
            json!({"type": "string", "format": "binary"})
        }
    }

    /// A refusal of a `/v2` route: `{"error": "..."}`, the protocol's body.
    fn v2_error(&self, description: &str) -> Value {
        self.content(description, JSON, self.reference(V2_ERROR))
    }
}

/// The schemas every model's routes share.
fn server_schemas() -> [(&'static str, Value); 8] {
    let count_ns = json!({
        "type": "object",
        "required": ["count", "ns"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "ns": {"type": "integer", "minimum": 0, "description": "Their total duration, in nanoseconds."}
        }
    });
    let stages = [
        "success",
        "fail",
        "queue",
        "compute_input",
        "compute_infer",
        "compute_output",
    ];
    let inference_stats: Map<String, Value> = stages
        .iter()
        .map(|stage| ((*stage).to_owned(), count_ns.clone()))
        .collect();
    let tensor_config = |with_format: bool| {
        let mut properties = json!({
            "name": {"type": "string"},
            "data_type": {"type": "string", "example": "TYPE_FP32"},
            "dims": {"type": "array", "items": {"type": "integer"}}
        });
        let mut required = vec!["name", "data_type", "dims"];
        if with_format {
            properties["format"] = json!({"type": "string"});
            required.push("format");
        }
        json!({"type": "object", "required": required, "properties": properties})
    };
    [
        (
            V2_ERROR,
            json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}),
        ),
        (
            "V2ServerMetadata",
            json!({
                "type": "object",
                "required": ["name", "version", "extensions"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}}
                }
            }),
        ),
        (
            "V2InferStatistics",
            json!({
                "type": "object",
                "required": ["model_stats"],
                "properties": {"model_stats": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "version", "last_inference", "inference_count",
                                 "execution_count", "inference_stats"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "last_inference": {"type": "integer", "minimum": 0,
                            "description": "When the model last answered, in milliseconds since the epoch; 0: never."},
                        "inference_count": {"type": "integer", "minimum": 0},
                        "execution_count": {"type": "integer", "minimum": 0},
                        "inference_stats": {
                            "type": "object",
                            "required": stages,
                            "properties": inference_stats
                        }
                    }
                }}}
            }),
        ),
        (
            "V2RepositoryIndexRequest",
            json!({
                "type": "object",
                "properties": {"ready": {"type": "boolean", "description": "List only the models ready to infer."}}
            }),
        ),
        (
            "V2RepositoryLoadRequest",
            json!({
                "type": "object",
                "properties": {"parameters": {
                    "type": "object",
                    "properties": {"version": {
                        "description": "A registered version, as a string or an integer; absent: the model's version policy."
                    }}
                }}
            }),
        ),
        (
            "V2RepositoryUpdate",
            json!({
                "type": "object",
                "required": ["live", "retired"],
                "properties": {
                    "live": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "version": {"type": "string"}}}},
                    "retired": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "version": {"type": "string"}}}}
                }
            }),
        ),
        (
            "V2RepositoryIndex",
            json!({"type": "array", "items": {
                "type": "object",
                "required": ["name", "version", "state"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "state": {"type": "string", "example": "READY",
                              "description": "READY (served), LOADING (loading or self-testing), UNLOADING (draining), UNAVAILABLE (refused; reason says why)."},
                    "reason": {"type": "string"}
                }
            }}),
        ),
        (
            "V2ModelConfig",
            json!({
                "type": "object",
                "required": ["name", "platform", "max_batch_size", "input", "output"],
                "properties": {
                    "name": {"type": "string"},
                    "platform": {"type": "string"},
                    "backend": {"type": "string"},
                    "max_batch_size": {"type": "integer", "minimum": 0,
                        "description": "Above 0: every dims leaves out a free first (batch) dimension."},
                    "input": {"type": "array", "items": tensor_config(true)},
                    "output": {"type": "array", "items": tensor_config(false)},
                    "dynamic_batching": {"type": "object", "properties": {
                        "preferred_batch_size": {"type": "array", "items": {"type": "integer"}},
                        "max_queue_delay_microseconds": {"type": "integer", "minimum": 0}
                    }}
                }
            }),
        ),
    ]
}

/// A GET operation and its HEAD twin: the v2 read routes answer HEAD as
/// GET, without the body.
fn with_head(get: Value) -> Value {
    let mut head = get.clone();
    if let Some(id) = get["operationId"].as_str() {
        head["operationId"] = json!(format!("{id}Head"));
    }
    if let Some(responses) = head["responses"].as_object_mut() {
        for response in responses.values_mut().filter_map(Value::as_object_mut) {
            for bodied in ["content", "schema", "examples"] {
                response.remove(bodied);
            }
        }
    }
    json!({"get": get, "head": head})
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::document::tests::{documents, schemas};
    use crate::{ServiceInfo, SpecVersion};

    fn schema<'d>(doc: &'d serde_json::Value, name: &str) -> &'d serde_json::Value {
        match doc.get("definitions") {
            Some(definitions) => &definitions[name],
            None => &doc["components"]["schemas"][name],
        }
    }

    #[test]
    fn every_version_has_the_v2_routes_of_every_model() {
        let schemas = schemas();
        for (version, doc) in SpecVersion::ALL
            .into_iter()
            .zip(documents(&schemas, &ServiceInfo::default()))
        {
            let paths = &doc["paths"];
            for path in [
                "/v2",
                "/v2/health/live",
                "/v2/health/ready",
                "/v2/models/stats",
                "/v2/repository/index",
            ] {
                assert!(paths[path].is_object(), "{version:?}: {path}");
            }
            for model in ["ridge", "multi"] {
                for base in [
                    format!("/v2/models/{model}"),
                    format!("/v2/models/{model}/versions/{{model_version}}"),
                ] {
                    for (suffix, method) in [
                        ("", "get"),
                        ("/ready", "get"),
                        ("/infer", "post"),
                        ("/config", "get"),
                    ] {
                        let path = format!("{base}{suffix}");
                        assert!(paths[&path][method].is_object(), "{version:?}: {path}");
                    }
                }
                assert!(paths[format!("/v2/models/{model}/stats")]["get"].is_object());
            }
            let infer = &paths["/v2/models/ridge/infer"]["post"];
            let body = match version {
                SpecVersion::V2 => &infer["parameters"][0]["schema"],
                _ => &infer["requestBody"]["content"]["application/json"]["schema"],
            };
            assert_eq!(
                body["$ref"].as_str().unwrap().rsplit('/').next(),
                Some("V2InferRequest_ridge")
            );
            for status in ["200", "400", "404", "500", "503", "504", "default"] {
                assert!(
                    infer["responses"][status].is_object(),
                    "{version:?}: {status}"
                );
            }
            if version != SpecVersion::V2 {
                // The binary tensor extension, as a second media type.
                let content = &infer["requestBody"]["content"];
                assert!(content["application/octet-stream"]["schema"].is_object());
                assert!(
                    infer["responses"]["200"]["content"]["application/octet-stream"].is_object()
                );
            }
            assert!(schema(&doc, "V2Error")["properties"]["error"].is_object());
            assert!(schema(&doc, "V2InferStatistics").is_object());
        }
    }

    #[test]
    fn requests_name_each_input_with_its_datatype_and_shape() {
        let schemas = schemas();
        let docs = documents(&schemas, &ServiceInfo::default());
        let item = |doc: &serde_json::Value| {
            schema(doc, "V2InferRequest_ridge")["properties"]["inputs"]["items"].clone()
        };
        // Swagger 2.0 and OpenAPI 3.0: one-value enums.
        for doc in &docs[..2] {
            let input = item(doc);
            assert_eq!(input["properties"]["name"]["enum"], json!(["input"]));
            assert_eq!(input["properties"]["datatype"]["enum"], json!(["FP32"]));
            let shape = &input["properties"]["shape"];
            assert_eq!(
                (shape["minItems"].clone(), shape["maxItems"].clone()),
                (json!(2), json!(2))
            );
        }
        // 3.1: const, and each dimension on its own.
        let input = item(&docs[2]);
        assert_eq!(input["properties"]["name"]["const"], "input");
        assert_eq!(input["properties"]["datatype"]["const"], "FP32");
        assert_eq!(
            input["properties"]["shape"]["prefixItems"],
            json!([{"type": "integer", "minimum": 1}, {"type": "integer", "const": 10}])
        );
        // Several inputs: one of each in 3.x, every name and datatype in 2.0.
        let multi = |doc: &serde_json::Value| {
            schema(doc, "V2InferRequest_multi")["properties"]["inputs"].clone()
        };
        let inputs = multi(&docs[1]);
        assert_eq!(
            (inputs["minItems"].clone(), inputs["maxItems"].clone()),
            (json!(3), json!(3))
        );
        let each = inputs["items"]["oneOf"].as_array().unwrap();
        let described: Vec<(&serde_json::Value, &serde_json::Value)> = each
            .iter()
            .map(|i| {
                (
                    &i["properties"]["name"]["enum"][0],
                    &i["properties"]["datatype"]["enum"][0],
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                (&json!("a"), &json!("INT64")),
                (&json!("b"), &json!("BOOL")),
                (&json!("c"), &json!("UINT8"))
            ]
        );
        assert_eq!(each[0]["properties"]["shape"]["enum"], json!([[2, 3]]));
        assert_eq!(each[0]["properties"]["data"]["anyOf"][0]["maxItems"], 6);
        let merged = &multi(&docs[0])["items"];
        assert_eq!(merged["properties"]["name"]["enum"], json!(["a", "b", "c"]));
        assert_eq!(
            merged["properties"]["datatype"]["enum"],
            json!(["BOOL", "INT64", "UINT8"])
        );
        // The outputs a request may ask for, by name.
        assert_eq!(
            schema(&docs[2], "V2InferRequest_multi")["properties"]["outputs"]["items"]["properties"]
                ["name"]["enum"],
            json!(["label", "probs"])
        );
    }

    #[test]
    fn metadata_and_responses_carry_the_models_tensors() {
        let schemas = schemas();
        let docs = documents(&schemas, &ServiceInfo::default());
        let inputs = json!([
            {"name": "a", "datatype": "INT64", "shape": [2, 3]},
            {"name": "b", "datatype": "BOOL", "shape": []},
            {"name": "c", "datatype": "UINT8", "shape": [-1]}
        ]);
        assert_eq!(
            schema(&docs[0], "V2ModelMetadata_multi")["properties"]["inputs"]["enum"],
            json!([inputs])
        );
        assert_eq!(
            schema(&docs[2], "V2ModelMetadata_multi")["properties"]["inputs"]["const"],
            inputs
        );
        let outputs =
            &schema(&docs[2], "V2InferResponse_multi")["properties"]["outputs"]["items"]["oneOf"];
        assert_eq!(outputs[1]["properties"]["name"]["const"], "probs");
        assert_eq!(outputs[1]["properties"]["datatype"]["const"], "FP64");
        // Answers write NaN as null, and may have no rows.
        assert_eq!(
            outputs[1]["properties"]["data"]["items"]["type"],
            json!(["number", "null"])
        );
        assert_eq!(outputs[1]["properties"]["shape"]["items"]["minimum"], 0);
    }

    #[test]
    fn health_is_open_and_the_rest_needs_the_key_when_auth_is_on() {
        let schemas = schemas();
        let info = ServiceInfo {
            auth_required: true,
            ..ServiceInfo::default()
        };
        for doc in documents(&schemas, &info) {
            let paths = &doc["paths"];
            for path in ["/v2/health/live", "/v2/health/ready"] {
                assert_eq!(paths[path]["get"]["security"], json!([]), "{path}");
            }
            for (path, method) in [
                ("/v2", "get"),
                ("/v2/models/ridge/infer", "post"),
                ("/v2/models/ridge/versions/{model_version}/ready", "get"),
                ("/v2/models/stats", "get"),
                ("/v2/repository/index", "post"),
            ] {
                assert_eq!(
                    paths[path][method]["security"],
                    json!([{"Bearer": []}]),
                    "{path}"
                );
            }
        }
        for doc in documents(&schemas, &ServiceInfo::default()) {
            assert!(
                doc["paths"]["/v2/models/ridge/infer"]["post"]
                    .get("security")
                    .is_none()
            );
            assert!(
                doc["paths"]["/v2/health/live"]["get"]
                    .get("security")
                    .is_none()
            );
        }
    }
}
