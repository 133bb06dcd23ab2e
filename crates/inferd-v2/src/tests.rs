//! The door end to end: request bodies as clients send them (JSON and
//! binary) through [`V2Model::decode_request`], every rule and every
//! error; responses through [`V2Model::encode_response`] read back as
//! tritonclient reads them; the metadata and config documents.

use std::time::Duration;

use serde_json::{Value, json};

use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData, TensorSpec};

use crate::binary::decode_raw;
use crate::*;

fn spec(name: &str, dtype: DType, shape: Option<Vec<Dim>>) -> TensorSpec {
    TensorSpec {
        name: name.to_owned(),
        dtype,
        shape,
    }
}

fn n() -> Dim {
    Dim::Free(Some("N".to_owned()))
}

/// A classifier: `input` FP32 [N, 3] -> `label` INT64 [N], `probabilities` FP32 [N, 2].
fn classifier() -> V2Model {
    V2Model::new(
        "classifier",
        "1",
        "onnxruntime_onnx",
        Signature {
            inputs: vec![spec("input", DType::F32, Some(vec![n(), Dim::Fixed(3)]))],
            outputs: vec![
                spec("label", DType::I64, Some(vec![n()])),
                spec("probabilities", DType::F32, Some(vec![n(), Dim::Fixed(2)])),
            ],
        },
    )
}

/// Two inputs: `a` FP32 [N, 2], `b` INT64 [N]; one output `y` FP64 [N].
fn two_inputs() -> V2Model {
    V2Model::new(
        "two",
        "3",
        "onnxruntime_onnx",
        Signature {
            inputs: vec![
                spec("a", DType::F32, Some(vec![n(), Dim::Fixed(2)])),
                spec("b", DType::I64, Some(vec![n()])),
            ],
            outputs: vec![spec("y", DType::F64, Some(vec![n()]))],
        },
    )
}

/// One input `x` of `dtype` with shape `shape` (None: undeclared), echoed as `y`.
fn echo(dtype: DType, shape: Option<Vec<Dim>>) -> V2Model {
    V2Model::new(
        "echo",
        "1",
        "onnxruntime_onnx",
        Signature {
            inputs: vec![spec("x", dtype, shape.clone())],
            outputs: vec![spec("y", dtype, shape)],
        },
    )
}

fn json_body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

/// A binary body: the header, then `buffers` in order; with its header length.
fn binary_body(header: Value, buffers: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
    let mut body = json_body(header);
    let length = body.len();
    for buffer in buffers {
        body.extend_from_slice(buffer);
    }
    (body, Some(length))
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_json(model: &V2Model, value: Value) -> Result<InferRequest, V2Error> {
    model.decode_request(&json_body(value), None)
}

fn json_error(model: &V2Model, value: Value) -> String {
    decode_json(model, value).unwrap_err().to_string()
}

fn binary_error(model: &V2Model, header: Value, buffers: &[&[u8]]) -> V2Error {
    let (body, length) = binary_body(header, buffers);
    model.decode_request(&body, length).unwrap_err()
}

fn f32_input(shape: Value, size: u64) -> Value {
    json!({"name": "input", "shape": shape, "datatype": "FP32", "parameters": {"binary_data_size": size}})
}

/// Reads a response body as tritonclient's InferResult does: the JSON
/// header, then each binary output's bytes in order.
fn read_response(body: &EncodedBody) -> (Value, Vec<(String, Tensor)>) {
    let json_end = body.header_length.unwrap_or(body.body.len());
    let header: Value = serde_json::from_slice(&body.body[..json_end]).unwrap();
    let mut offset = json_end;
    let mut tensors = Vec::new();
    for output in header["outputs"].as_array().unwrap() {
        let datatype = Datatype::parse(output["datatype"].as_str().unwrap()).unwrap();
        let shape: Vec<usize> = serde_json::from_value(output["shape"].clone()).unwrap();
        let data = match output["parameters"]["binary_data_size"].as_u64() {
            Some(size) => {
                let bytes = &body.body[offset..offset + size as usize];
                offset += size as usize;
                decode_raw(bytes, datatype.dtype().unwrap()).unwrap()
            }
            None => {
                let values = output["data"].clone();
                // As numpy reads it: each value as the datatype's type.
                fn typed<T: serde::de::DeserializeOwned>(values: Value) -> Vec<T> {
                    serde_json::from_value(values).unwrap()
                }
                match datatype {
                    Datatype::Fp32 => TensorData::F32(
                        typed::<Option<f32>>(values)
                            .into_iter()
                            .map(|v| v.unwrap_or(f32::NAN))
                            .collect(),
                    ),
                    Datatype::Fp64 => TensorData::F64(typed(values)),
                    Datatype::Int8 => TensorData::I8(typed(values)),
                    Datatype::Int16 => TensorData::I16(typed(values)),
                    Datatype::Int32 => TensorData::I32(typed(values)),
                    Datatype::Int64 => TensorData::I64(typed(values)),
                    Datatype::Uint8 => TensorData::U8(typed(values)),
                    Datatype::Uint16 => TensorData::U16(typed(values)),
                    Datatype::Uint32 => TensorData::U32(typed(values)),
                    Datatype::Uint64 => TensorData::U64(typed(values)),
                    Datatype::Bool => TensorData::Bool(typed(values)),
                    other => panic!("no response carries {other}"),
                }
            }
        };
        let name = output["name"].as_str().unwrap().to_owned();
        tensors.push((name, Tensor::new(shape, data).unwrap()));
    }
    assert_eq!(offset, body.body.len(), "every byte is some output's");
    (header, tensors)
}

fn classifier_outputs() -> Vec<Tensor> {
    vec![
        Tensor::new(vec![2], TensorData::I64(vec![1, 0])).unwrap(),
        Tensor::new(vec![2, 2], TensorData::F32(vec![0.25, 0.75, 1.0, f32::NAN])).unwrap(),
    ]
}

// ---- decoding: JSON --------------------------------------------------------

#[test]
fn a_json_request_decodes_flat_or_nested() {
    let model = classifier();
    let flat = decode_json(
        &model,
        json!({"id": "42", "inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6.5]}]}),
    )
    .unwrap();
    assert_eq!(flat.id.as_deref(), Some("42"));
    assert_eq!(flat.inputs.len(), 1);
    assert_eq!(flat.inputs[0].shape(), [2, 3]);
    assert_eq!(
        flat.inputs[0].data(),
        &TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5])
    );
    assert_eq!(flat.outputs, OutputPlan::all(2, false));
    assert_eq!((flat.timeout, flat.priority), (None, None));
    let nested = decode_json(
        &model,
        json!({"inputs": [{"data": [[1, 2, 3], [4, 5, 6.5]], "datatype": "FP32", "shape": [2, 3], "name": "input"}]}),
    )
    .unwrap();
    assert_eq!(nested.inputs, flat.inputs);
    assert_eq!(nested.id, None);
}

#[test]
fn inputs_come_in_the_models_order_whatever_the_requests() {
    let request = decode_json(
        &two_inputs(),
        json!({"inputs": [
            {"name": "b", "shape": [2], "datatype": "INT64", "data": [7, -8]},
            {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}
        ]}),
    )
    .unwrap();
    assert_eq!(
        request.inputs[0].data(),
        &TensorData::F32(vec![1.0, 2.0, 3.0, 4.0])
    );
    assert_eq!(request.inputs[1].data(), &TensorData::I64(vec![7, -8]));
}

#[test]
fn other_fields_and_custom_parameters_are_ignored() {
    let request = decode_json(
        &classifier(),
        json!({"model_name": "classifier", "parameters": {"my_flag": "on", "nested": {"a": 1}},
               "inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3],
                           "parameters": {"content_type": "np"}}]}),
    );
    assert!(request.is_ok(), "{request:?}");
}

#[test]
fn null_where_an_object_a_string_or_a_list_goes_is_refused() {
    let input = json!({"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]});
    for (field, body) in [
        ("parameters", json!({"parameters": null, "inputs": [input]})),
        ("id", json!({"id": null, "inputs": [input]})),
        ("outputs", json!({"outputs": null, "inputs": [input]})),
        (
            "input parameters",
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32",
                               "data": [1, 2, 3], "parameters": null}]}),
        ),
        (
            "output parameters",
            json!({"inputs": [input], "outputs": [{"name": "label", "parameters": null}]}),
        ),
    ] {
        let error = json_error(&classifier(), body);
        assert!(error.contains("null"), "{field}: {error}");
    }
}

// ---- decoding: binary ------------------------------------------------------

#[test]
fn a_binary_request_reads_its_buffers_in_header_order() {
    let a = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let b: Vec<u8> = [5i64, -6].iter().flat_map(|v| v.to_le_bytes()).collect();
    let (body, length) = binary_body(
        json!({"inputs": [
            {"name": "b", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}},
            {"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}}
        ], "outputs": [{"name": "y", "parameters": {"binary_data": true}}]}),
        &[&b, &a],
    );
    let request = two_inputs().decode_request(&body, length).unwrap();
    assert_eq!(
        request.inputs[0].data(),
        &TensorData::F32(vec![1.0, 2.0, 3.0, 4.0])
    );
    assert_eq!(request.inputs[1].data(), &TensorData::I64(vec![5, -6]));
    assert!(request.outputs.any_binary());
}

#[test]
fn binary_and_json_inputs_mix() {
    let a = f32_bytes(&[1.0, 2.0]);
    let (body, length) = binary_body(
        json!({"inputs": [
            {"name": "b", "shape": [1], "datatype": "INT64", "data": [3]},
            {"name": "a", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
        ]}),
        &[&a],
    );
    let request = two_inputs().decode_request(&body, length).unwrap();
    assert_eq!(request.inputs[0].data(), &TensorData::F32(vec![1.0, 2.0]));
    assert_eq!(request.inputs[1].data(), &TensorData::I64(vec![3]));
}

#[test]
fn every_datatype_round_trips_binary_and_json() {
    let samples = [
        TensorData::F32(vec![1.5, -0.0, f32::MAX, f32::MIN_POSITIVE, 0.1, 3.4028e38]),
        TensorData::F64(vec![1.5, -2.25e300, 0.1, f64::MIN_POSITIVE, 1e-300, 7.0]),
        TensorData::I8(vec![i8::MIN, -1, 0, 1, 2, i8::MAX]),
        TensorData::I16(vec![i16::MIN, -1, 0, 1, 2, i16::MAX]),
        TensorData::I32(vec![i32::MIN, -1, 0, 1, 2, i32::MAX]),
        TensorData::I64(vec![i64::MIN, -1, 0, 1, 2, i64::MAX]),
        TensorData::U8(vec![0, 1, 2, 3, 254, 255]),
        TensorData::U16(vec![0, 1, 2, 3, 4, u16::MAX]),
        TensorData::U32(vec![0, 1, 2, 3, 4, u32::MAX]),
        TensorData::U64(vec![0, 1, 2, 3, 4, u64::MAX]),
        TensorData::Bool(vec![true, false, true, true, false, false]),
    ];
    for data in samples {
        let dtype = data.dtype();
        let model = echo(dtype, Some(vec![n(), Dim::Fixed(3)]));
        let tensor = Tensor::new(vec![2, 3], data).unwrap();
        for binary in [true, false] {
            let body = encode_request(&[("x", &tensor)], binary, binary);
            let request = model
                .decode_request(&body.body, body.header_length)
                .unwrap_or_else(|e| panic!("{dtype} binary={binary}: {e}"));
            assert_eq!(
                request.inputs,
                std::slice::from_ref(&tensor),
                "{dtype} binary={binary}"
            );
            assert_eq!(request.outputs, OutputPlan::all(1, binary));
            // And back out, read as a client reads it.
            let response = model
                .encode_response(&request.outputs, None, &request.inputs)
                .unwrap();
            assert_eq!(response.header_length.is_some(), binary);
            let (header, outputs) = read_response(&response);
            assert_eq!(
                header["outputs"][0]["datatype"],
                Datatype::of(dtype).as_str()
            );
            assert_eq!(
                outputs,
                [("y".to_owned(), tensor.clone())],
                "{dtype} binary={binary}"
            );
        }
    }
}

#[test]
fn bytes_after_the_buffers_or_too_few_are_refused() {
    let model = classifier();
    let data = f32_bytes(&[1.0, 2.0, 3.0]);
    let header = json!({"inputs": [f32_input(json!([1, 3]), 12)]});
    assert_eq!(
        binary_error(&model, header.clone(), &[&data, b"xx"]).to_string(),
        "the inputs' binary_data_size add up to 12 bytes but 14 bytes follow the JSON header"
    );
    assert_eq!(
        binary_error(&model, header, &[&data[..10]]).to_string(),
        "input 'input': binary_data_size 12 from byte 0 runs past the 10 bytes that follow the JSON header"
    );
}

#[test]
fn a_size_that_disagrees_with_shape_and_datatype_is_refused() {
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let err = binary_error(
        &classifier(),
        json!({"inputs": [f32_input(json!([1, 3]), 16)]}),
        &[&data],
    );
    assert_eq!(
        err.to_string(),
        "input 'input': shape [1, 3] of FP32 is 12 bytes, but binary_data_size is 16"
    );
}

#[test]
fn a_huge_binary_size_is_refused_without_reading() {
    let err = binary_error(
        &classifier(),
        json!({"inputs": [f32_input(json!([1, 3]), u64::MAX)]}),
        &[b"abc"],
    );
    assert!(
        matches!(
            err,
            V2Error::BinaryPastBody {
                size: u64::MAX,
                available: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_header_length_past_the_body_is_refused() {
    let body = json_body(json!({"inputs": []}));
    let err = classifier()
        .decode_request(&body, Some(body.len() + 1))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Inference-Header-Content-Length is {} bytes but the body has only {}; the JSON header cannot end past the body",
            body.len() + 1,
            body.len()
        )
    );
    assert!(classifier().decode_request(b"", Some(usize::MAX)).is_err());
}

#[test]
fn a_header_length_cutting_the_json_is_malformed_json() {
    let (body, length) = binary_body(
        json!({"inputs": [f32_input(json!([1, 3]), 12)]}),
        &[&f32_bytes(&[1.0, 2.0, 3.0])],
    );
    let err = classifier()
        .decode_request(&body, length.map(|n| n - 1))
        .unwrap_err();
    assert!(matches!(err, V2Error::InvalidJson { .. }), "{err}");
}

#[test]
fn a_zero_header_length_means_all_json() {
    let body = json_body(
        json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}),
    );
    assert!(classifier().decode_request(&body, Some(0)).is_ok());
}

#[test]
fn binary_data_needs_the_header_length() {
    let mut body = json_body(json!({"inputs": [f32_input(json!([1, 3]), 12)]}));
    assert_eq!(
        classifier()
            .decode_request(&body, None)
            .unwrap_err()
            .to_string(),
        "input 'input' has binary_data_size but the request has no Inference-Header-Content-Length header to say where the JSON ends"
    );
    // With the bytes appended and no header length, the body is not JSON.
    body.extend_from_slice(&f32_bytes(&[1.0, 2.0, 3.0]));
    assert!(matches!(
        classifier().decode_request(&body, None),
        Err(V2Error::InvalidJson { .. })
    ));
}

#[test]
fn header_length_values_are_whole_numbers() {
    assert_eq!(parse_header_length(b"123"), Ok(123));
    assert_eq!(parse_header_length(b" 7 "), Ok(7));
    for bad in [
        &b""[..],
        b"-1",
        b"+1",
        b"1.5",
        b"0x10",
        b"99999999999999999999999",
        b"\xff",
    ] {
        assert!(
            matches!(parse_header_length(bad), Err(V2Error::HeaderLength { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        parse_header_length(b"abc").unwrap_err().to_string(),
        "Inference-Header-Content-Length must be a whole number of bytes, received 'abc'"
    );
}

#[test]
fn bool_bytes_are_zero_or_one() {
    let model = echo(DType::Bool, Some(vec![n()]));
    let err = binary_error(
        &model,
        json!({"inputs": [{"name": "x", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}}]}),
        &[&[1, 0, 7]],
    );
    assert_eq!(
        err.to_string(),
        "input 'x' (BOOL): byte 2 of its binary data is 7; a BOOL is 0 or 1"
    );
}

// ---- shapes ----------------------------------------------------------------

#[test]
fn negative_and_fractional_dimensions_are_refused() {
    let model = classifier();
    let input = |shape: Value| json!({"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": [1, 2, 3]}]});
    assert_eq!(
        json_error(&model, input(json!([-1, 3]))),
        "input 'input': shape [-1, 3] has a negative dimension; dimensions are sizes (0 or more)"
    );
    assert_eq!(
        json_error(&model, input(json!([1.5, 3]))),
        "input 'input': shape dimension 1.5 is not a whole number"
    );
    assert!(matches!(
        decode_json(&model, input(json!(["1", 3]))),
        Err(V2Error::InvalidJson { .. })
    ));
}

#[test]
fn shape_products_that_overflow_are_refused() {
    let model = echo(DType::I64, None);
    let input = |shape: Value| json!({"inputs": [{"name": "x", "shape": shape, "datatype": "INT64", "data": [1]}]});
    let err = decode_json(&model, input(json!([u64::MAX, 2]))).unwrap_err();
    assert!(matches!(err, V2Error::ShapeOverflow { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "input 'x': shape [{}, 2] (INT64) holds more elements or bytes than can be counted",
            u64::MAX
        )
    );
    // The element count fits; its bytes do not.
    let err = binary_error(
        &model,
        json!({"inputs": [{"name": "x", "shape": [1u64 << 62], "datatype": "INT64", "parameters": {"binary_data_size": 8}}]}),
        &[&[0; 8]],
    );
    assert!(matches!(err, V2Error::ShapeOverflow { .. }), "{err}");
    // A huge shape with little data: counted, never allocated.
    let err = decode_json(&model, input(json!([1u64 << 40, 1u64 << 20]))).unwrap_err();
    assert!(err.to_string().ends_with("\"data\" has 1"), "{err}");
}

#[test]
fn shapes_must_fit_the_signature() {
    let model = classifier();
    let input = |shape: Value, data: Value| json!({"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]});
    assert_eq!(
        json_error(&model, input(json!([1, 4]), json!([1, 2, 3, 4]))),
        "input 'input' expects shape [-1, 3] (FP32), received shape [1, 4]"
    );
    assert_eq!(
        json_error(&model, input(json!([3]), json!([1, 2, 3]))),
        "input 'input' expects shape [-1, 3] (FP32), received shape [3]"
    );
    assert_eq!(
        json_error(&model, input(json!([0, 3]), json!([]))),
        "input 'input': shape [0, 3] holds no elements; send at least one"
    );
    // Undeclared: any rank.
    let free = echo(DType::F64, None);
    let request = decode_json(
        &free,
        json!({"inputs": [{"name": "x", "shape": [], "datatype": "FP64", "data": [2.5]}]}),
    )
    .unwrap();
    assert!(request.inputs[0].shape().is_empty());
}

#[test]
fn data_nested_deeper_than_the_shape_is_refused() {
    let err = json_error(
        &classifier(),
        json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [[[1, 2, 3]]]}]}),
    );
    assert_eq!(
        err,
        "input 'input': \"data\" is nested 3 deep but shape [1, 3] has rank 2; send it flat or nested as the shape"
    );
}

#[test]
fn data_that_disagrees_with_the_shape_is_refused() {
    let model = classifier();
    let input = |data: Value| json!({"inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32", "data": data}]});
    assert_eq!(
        json_error(&model, input(json!([1, 2, 3, 4, 5]))),
        "input 'input': shape [2, 3] holds 6 elements, \"data\" has 5"
    );
    assert!(
        json_error(&model, input(json!([[1, 2, 3], [4, 5]])))
            .contains("at depth 1 expected 3 items, received 2 items")
    );
    assert!(
        json_error(&model, input(json!([1, 2, "3", 4, 5, 6])))
            .ends_with("element 2 of \"data\" must be FP32, received a string")
    );
    assert!(
        json_error(&model, input(json!(7))).ends_with("\"data\" must be a list, received a number")
    );
}

// ---- datatypes -------------------------------------------------------------

#[test]
fn datatypes_must_be_the_models() {
    let model = classifier();
    let input = |datatype: &str| json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": datatype, "data": [1, 2, 3]}]});
    assert_eq!(
        json_error(&model, input("INT64")),
        "input 'input' expects datatype FP32, received INT64"
    );
    assert_eq!(
        json_error(&model, input("FLOAT32")),
        "input 'input': unknown datatype 'FLOAT32'; the protocol's datatypes are BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES"
    );
    assert!(json_error(&model, input("fp32")).contains("unknown datatype 'fp32'"));
}

#[test]
fn datatypes_inferd_cannot_carry_are_refused_as_unsupported() {
    let model = classifier();
    for (datatype, why) in [("FP16", "no 16-bit floats"), ("BF16", "no 16-bit floats")] {
        let err = binary_error(
            &model,
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": datatype, "parameters": {"binary_data_size": 6}}]}),
            &[&[0; 6]],
        );
        assert_eq!(
            err.to_string(),
            format!(
                "input 'input': datatype {datatype} is not supported (inferd's tensors hold {why}); the model expects FP32"
            )
        );
    }
    let mut strings = Vec::new();
    for s in [&b"a"[..], b"bc", b""] {
        write_bytes_element(&mut strings, s).unwrap();
    }
    let err = binary_error(
        &model,
        json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "parameters": {"binary_data_size": strings.len()}}]}),
        &[&strings],
    );
    assert!(matches!(err, V2Error::UnsupportedDatatype { .. }), "{err}");
    assert!(err.to_string().contains("hold no strings"));
    let err = json_error(
        &model,
        json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["a", "b", "c"]}]}),
    );
    assert!(err.contains("BYTES is not supported"), "{err}");
}

#[test]
fn bytes_framing_is_checked_before_the_datatype() {
    let mut strings = Vec::new();
    write_bytes_element(&mut strings, b"abc").unwrap();
    strings[0] = 100;
    let err = binary_error(
        &classifier(),
        json!({"inputs": [{"name": "input", "shape": [1, 1], "datatype": "BYTES", "parameters": {"binary_data_size": strings.len()}}]}),
        &[&strings],
    );
    assert_eq!(
        err.to_string(),
        "input 'input' (BYTES): element 0 says it has 100 bytes from byte 4, past the buffer's end at byte 7"
    );
}

// ---- inputs ----------------------------------------------------------------

#[test]
fn inputs_must_be_the_models_each_once() {
    let model = two_inputs();
    let a = json!({"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]});
    let b = json!({"name": "b", "shape": [1], "datatype": "INT64", "data": [1]});
    assert_eq!(
        json_error(&model, json!({"inputs": [a.clone(), b.clone(), a.clone()]})),
        "input 'a' is given more than once; send each input once"
    );
    assert_eq!(
        json_error(&model, json!({"inputs": [a.clone()]})),
        "missing input 'b' (INT64, shape [-1]); the model's inputs are 'a', 'b'"
    );
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [a, b, {"name": "c", "shape": [1], "datatype": "FP32", "data": [1]}]})
        ),
        "unknown input 'c'; the model's inputs are 'a', 'b'"
    );
    assert!(json_error(&model, json!({"inputs": []})).starts_with("missing input 'a'"));
}

#[test]
fn an_input_has_its_values_one_way() {
    let model = classifier();
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32"}]})
        ),
        "input 'input' has no data: send \"data\" in the JSON or \"parameters\": {\"binary_data_size\": N} with N bytes after it"
    );
    let err = binary_error(
        &model,
        json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3], "parameters": {"binary_data_size": 12}}]}),
        &[&f32_bytes(&[1.0, 2.0, 3.0])],
    );
    assert_eq!(
        err.to_string(),
        "input 'input' has both \"data\" and \"binary_data_size\"; send its values one way only"
    );
}

#[test]
fn a_header_that_is_not_a_request_is_malformed() {
    let model = classifier();
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        b"{}",
        br#"{"inputs": {}}"#,
        br#"{"inputs": [], "id": 42}"#,
        br#"{"inputs": [{"name": "input"}]}"#,
        br#"{"inputs": [], "inputs": []}"#,
        br#"{"inputs": [{"name": 1, "shape": [1], "datatype": "FP32", "data": [1]}]}"#,
        b"{\"inputs\": [], \"id\": \"\xff\"}",
    ] {
        let err = model.decode_request(body, None).unwrap_err();
        assert!(
            matches!(err, V2Error::InvalidJson { .. }),
            "{body:?}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with("the inference request header is not a valid request: ")
        );
    }
}

// ---- outputs and parameters ------------------------------------------------

fn one_row() -> Value {
    json!({"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]})
}

#[test]
fn requested_outputs_are_returned_in_the_requests_order() {
    let request = decode_json(
        &classifier(),
        json!({"inputs": [one_row()], "parameters": {"binary_data_output": true},
               "outputs": [{"name": "probabilities", "parameters": {"binary_data": false}}, {"name": "label"}]}),
    )
    .unwrap();
    assert_eq!(
        request.outputs.choices(),
        [
            OutputChoice {
                index: 1,
                binary: false
            },
            OutputChoice {
                index: 0,
                binary: true
            }
        ]
    );
    assert!(request.outputs.wants(0) && request.outputs.wants(1));
    let only = decode_json(
        &classifier(),
        json!({"inputs": [one_row()], "outputs": [{"name": "label"}]}),
    )
    .unwrap();
    assert_eq!(
        only.outputs.choices(),
        [OutputChoice {
            index: 0,
            binary: false
        }]
    );
    assert!(!only.outputs.wants(1));
    assert!(!only.outputs.any_binary());
    let none_named =
        decode_json(&classifier(), json!({"inputs": [one_row()], "outputs": []})).unwrap();
    assert_eq!(none_named.outputs, OutputPlan::all(2, false));
}

#[test]
fn unknown_or_repeated_outputs_are_refused() {
    let model = classifier();
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [one_row()], "outputs": [{"name": "scores"}]})
        ),
        "unknown output 'scores' requested; the model's outputs are 'label', 'probabilities'"
    );
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [one_row()], "outputs": [{"name": "label"}, {"name": "label"}]})
        ),
        "output 'label' is requested more than once; request each output once"
    );
}

#[test]
fn timeout_and_priority_are_read() {
    let read = |parameters: Value| {
        decode_json(
            &classifier(),
            json!({"inputs": [one_row()], "parameters": parameters}),
        )
    };
    let request = read(json!({"timeout": 1500, "priority": 2})).unwrap();
    assert_eq!(request.timeout, Some(Duration::from_micros(1500)));
    assert_eq!(request.priority, Some(2));
    assert_eq!(read(json!({"timeout": 0})).unwrap().timeout, None);
    assert_eq!(
        read(json!({"timeout": -5})).unwrap_err().to_string(),
        "the request: parameter 'timeout' must be a whole number, 0 or more, received -5"
    );
    assert!(read(json!({"priority": "high"})).is_err());
    assert_eq!(
        read(json!({"binary_data_output": 1}))
            .unwrap_err()
            .to_string(),
        "the request: parameter 'binary_data_output' must be true or false, received 1"
    );
}

#[test]
fn features_inferd_lacks_are_refused_by_name() {
    let model = classifier();
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [one_row()], "parameters": {"sequence_id": 7, "sequence_start": true}})
        ),
        "the request: sequence batching (parameter 'sequence_id') is not supported by inferd"
    );
    // What tritonclient sends when no sequence is meant.
    assert!(decode_json(&model, json!({"inputs": [one_row()], "parameters": {"sequence_id": 0, "sequence_start": false, "sequence_end": false}})).is_ok());
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 12}}]})
        ),
        "input 'input': shared memory (parameter 'shared_memory_region') is not supported by inferd"
    );
    assert_eq!(
        json_error(
            &model,
            json!({"inputs": [one_row()], "outputs": [{"name": "label", "parameters": {"classification": 3}}]})
        ),
        "output 'label': classification (parameter 'classification') is not supported by inferd"
    );
}

// ---- responses -------------------------------------------------------------

#[test]
fn a_json_response_carries_flat_data() {
    let model = classifier();
    let response = model
        .encode_response(
            &OutputPlan::all(2, false),
            Some("42"),
            &classifier_outputs(),
        )
        .unwrap();
    assert_eq!(response.header_length, None);
    assert_eq!(
        String::from_utf8(response.body).unwrap(),
        r#"{"model_name":"classifier","model_version":"1","id":"42","outputs":[{"name":"label","datatype":"INT64","shape":[2],"data":[1,0]},{"name":"probabilities","datatype":"FP32","shape":[2,2],"data":[0.25,0.75,1.0,null]}]}"#
    );
}

#[test]
fn a_binary_response_puts_the_bytes_after_the_header() {
    let model = classifier();
    let response = model
        .encode_response(&OutputPlan::all(2, true), None, &classifier_outputs())
        .unwrap();
    let length = response.header_length.unwrap();
    assert_eq!(
        std::str::from_utf8(&response.body[..length]).unwrap(),
        r#"{"model_name":"classifier","model_version":"1","outputs":[{"name":"label","datatype":"INT64","shape":[2],"parameters":{"binary_data_size":16}},{"name":"probabilities","datatype":"FP32","shape":[2,2],"parameters":{"binary_data_size":16}}]}"#
    );
    assert_eq!(response.body.len(), length + 32);
    assert_eq!(&response.body[length..length + 8], 1i64.to_le_bytes());
    let (_, outputs) = read_response(&response);
    assert_eq!(outputs[0].1, classifier_outputs()[0]);
}

#[test]
fn a_response_returns_only_the_requested_outputs_in_order() {
    let model = classifier();
    let request = decode_json(
        &model,
        json!({"inputs": [one_row()], "id": "r\"1",
               "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}, {"name": "label", "parameters": {"binary_data": false}}]}),
    )
    .unwrap();
    let response = model
        .encode_response(
            &request.outputs,
            request.id.as_deref(),
            &classifier_outputs(),
        )
        .unwrap();
    let (header, outputs) = read_response(&response);
    assert_eq!(header["id"], "r\"1");
    assert_eq!(header["outputs"][1]["data"], json!([1, 0]));
    let names: Vec<&str> = outputs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["probabilities", "label"]);
    let only = decode_json(
        &model,
        json!({"inputs": [one_row()], "outputs": [{"name": "label"}]}),
    )
    .unwrap();
    let response = model
        .encode_response(&only.outputs, None, &classifier_outputs())
        .unwrap();
    let (header, _) = read_response(&response);
    assert_eq!(header["outputs"].as_array().unwrap().len(), 1);
}

#[test]
fn encoding_needs_every_output_of_the_model() {
    let err = classifier()
        .encode_response(&OutputPlan::all(2, false), None, &classifier_outputs()[..1])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the model has 2 outputs but 1 tensors were given to encode"
    );
    assert!(
        classifier()
            .encode_response(&OutputPlan::all(3, false), None, &classifier_outputs())
            .is_err()
    );
}

#[test]
fn a_request_made_here_is_what_tritonclient_sends() {
    let tensor = Tensor::new(vec![1, 3], TensorData::F32(vec![1.0, 2.0, 3.0])).unwrap();
    let body = encode_request(&[("input", &tensor)], true, true);
    let length = body.header_length.unwrap();
    assert_eq!(
        std::str::from_utf8(&body.body[..length]).unwrap(),
        r#"{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","datatype":"FP32","shape":[1,3],"parameters":{"binary_data_size":12}}]}"#
    );
    assert_eq!(&body.body[length..], f32_bytes(&[1.0, 2.0, 3.0]));
    let json = encode_request(&[("input", &tensor)], false, false);
    assert_eq!(
        String::from_utf8(json.body).unwrap(),
        r#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,3],"data":[1.0,2.0,3.0]}]}"#
    );
}

// ---- documents -------------------------------------------------------------

#[test]
fn model_metadata_gives_free_dimensions_as_minus_one() {
    let metadata: Value =
        serde_json::from_slice(&classifier().metadata(&["1".to_owned()])).unwrap();
    assert_eq!(
        metadata,
        json!({
            "name": "classifier",
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 3]}],
            "outputs": [
                {"name": "label", "datatype": "INT64", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}
            ]
        })
    );
    let free: Value = serde_json::from_slice(&echo(DType::Bool, None).metadata(&[])).unwrap();
    assert_eq!(
        free["inputs"][0],
        json!({"name": "x", "datatype": "BOOL", "shape": [-1]})
    );
}

#[test]
fn model_config_is_tritons_shape() {
    let model = classifier();
    assert!(model.batchable());
    let plain: Value =
        serde_json::from_slice(&model.config(&ConfigOptions::default()).unwrap()).unwrap();
    assert_eq!(
        plain,
        json!({
            "name": "classifier",
            "platform": "onnxruntime_onnx",
            "max_batch_size": 0,
            "input": [{"name": "input", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [-1, 3]}],
            "output": [
                {"name": "label", "data_type": "TYPE_INT64", "dims": [-1]},
                {"name": "probabilities", "data_type": "TYPE_FP32", "dims": [-1, 2]}
            ]
        })
    );
    let batched = ConfigOptions {
        backend: Some("onnxruntime".to_owned()),
        max_batch_size: 16,
        dynamic_batching: Some(DynamicBatching {
            preferred_batch_size: vec![8, 16],
            max_queue_delay_microseconds: 2000,
        }),
    };
    let config: Value = serde_json::from_slice(&model.config(&batched).unwrap()).unwrap();
    assert_eq!(config["backend"], "onnxruntime");
    assert_eq!(config["max_batch_size"], 16);
    assert_eq!(config["input"][0]["dims"], json!([3]));
    assert_eq!(config["output"][0]["dims"], json!([]));
    assert_eq!(
        config["dynamic_batching"],
        json!({"preferred_batch_size": [8, 16], "max_queue_delay_microseconds": 2000})
    );
}

#[test]
fn a_batch_size_needs_a_batch_dimension() {
    let fixed = echo(DType::F32, Some(vec![Dim::Fixed(1), Dim::Fixed(3)]));
    assert!(!fixed.batchable());
    assert!(!echo(DType::F32, None).batchable());
    let options = ConfigOptions {
        max_batch_size: 4,
        ..ConfigOptions::default()
    };
    assert_eq!(
        fixed.config(&options).unwrap_err().to_string(),
        "max_batch_size 4 needs a free first (batch) dimension on every input and output, and 'x' has shape [1, 3]"
    );
}

#[test]
fn server_metadata_lists_what_is_passed_in() {
    let body = server_metadata(
        "inferd",
        "0.1.0",
        &["binary_tensor_data", "model_configuration"],
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"name":"inferd","version":"0.1.0","extensions":["binary_tensor_data","model_configuration"]}"#
    );
}

#[test]
fn messages_never_grow_with_the_request() {
    let model = classifier();
    let long = "n".repeat(100_000);
    let errors = [
        json_error(
            &model,
            json!({"inputs": [{"name": long, "shape": [1], "datatype": "FP32", "data": [1]}]}),
        ),
        json_error(
            &model,
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": long, "data": [1, 2, 3]}]}),
        ),
        json_error(
            &model,
            json!({"inputs": [one_row()], "outputs": [{"name": long}]}),
        ),
        json_error(
            &model,
            json!({"inputs": [one_row()], "parameters": {"timeout": long}}),
        ),
        json_error(
            &model,
            json!({"inputs": [{"name": "input", "shape": vec![1; 50_000], "datatype": "FP32", "data": [1]}]}),
        ),
        json_error(
            &model,
            json!({"inputs": [{"name": "input", "shape": [1, long], "datatype": "FP32", "data": [1]}]}),
        ),
    ];
    for error in errors {
        assert!(
            error.len() < 400,
            "{} bytes: {}",
            error.len(),
            &error[..400]
        );
    }
}

// ---- encoded images as BYTES -------------------------------------------------

/// `image` FP32 [N, 1, 2, 2] takes encoded images; `b` INT64 [N] does not.
fn with_image(first: Dim) -> V2Model {
    V2Model::new(
        "digits",
        "1",
        "onnxruntime_onnx",
        Signature {
            inputs: vec![
                spec(
                    "image",
                    DType::F32,
                    Some(vec![first, Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(2)]),
                ),
                spec("b", DType::I64, Some(vec![n()])),
            ],
            outputs: vec![spec("y", DType::F32, Some(vec![n()]))],
        },
    )
}

/// What a fake decoder refuses, or the codec's own refusal.
#[derive(Debug, PartialEq)]
enum Refused {
    Request(V2Error),
    Image(String),
}

impl From<V2Error> for Refused {
    fn from(e: V2Error) -> Refused {
        Refused::Request(e)
    }
}

/// Takes images for `image`: each "image" is 4 bytes, its pixels, read as
/// byte / 255; anything else is refused as a corrupt image, by index.
/// Records every call.
#[derive(Default)]
struct FakeImages {
    decoded: Vec<(String, Vec<Vec<u8>>)>,
    reserved: Vec<u64>,
}

impl EncodedImages for FakeImages {
    type Error = Refused;

    fn takes_encoded_images(&self, input: &str) -> bool {
        input == "image"
    }

    fn reserve_copies(&mut self, bytes: u64) -> Result<(), Refused> {
        self.reserved.push(bytes);
        Ok(())
    }

    fn decode_images(&mut self, input: &str, images: &[&[u8]]) -> Result<Tensor, Refused> {
        self.decoded.push((
            input.to_owned(),
            images.iter().map(|i| i.to_vec()).collect(),
        ));
        let mut values = Vec::new();
        for (index, image) in images.iter().enumerate() {
            if image.len() != 4 {
                return Err(Refused::Image(format!("image {index} is corrupt")));
            }
            values.extend(image.iter().map(|&p| f32::from(p) / 255.0));
        }
        Ok(Tensor::new(vec![images.len(), 1, 2, 2], TensorData::F32(values)).unwrap())
    }
}

fn framed(elements: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for element in elements {
        write_bytes_element(&mut out, element).unwrap();
    }
    out
}

fn b_input(count: usize) -> Value {
    json!({"name": "b", "shape": [count], "datatype": "INT64", "data": vec![1; count]})
}

fn image_bytes_input(shape: Value, size: usize) -> Value {
    json!({"name": "image", "shape": shape, "datatype": "BYTES", "parameters": {"binary_data_size": size}})
}

fn decode_with(
    model: &V2Model,
    body: &[u8],
    length: Option<usize>,
) -> (Result<InferRequest, Refused>, FakeImages) {
    let mut images = FakeImages::default();
    let result = model.decode_request_with(body, length, &mut images);
    (result, images)
}

const SEVEN: [u8; 4] = [0, 255, 51, 102];
const THREE: [u8; 4] = [10, 20, 30, 40];

fn pixels(images: &[[u8; 4]]) -> TensorData {
    TensorData::F32(
        images
            .iter()
            .flatten()
            .map(|&p| f32::from(p) / 255.0)
            .collect(),
    )
}

#[test]
fn binary_bytes_elements_become_the_inputs_rows() {
    let model = with_image(n());
    let buffer = framed(&[&SEVEN, &THREE]);
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([2]), buffer.len()), b_input(2)]}),
        &[&buffer],
    );
    let (request, images) = decode_with(&model, &body, length);
    let request = request.unwrap();
    assert_eq!(request.inputs[0].shape(), [2, 1, 2, 2]);
    assert_eq!(request.inputs[0].data(), &pixels(&[SEVEN, THREE]));
    assert_eq!(request.inputs[1].data(), &TensorData::I64(vec![1, 1]));
    assert_eq!(
        images.decoded,
        [("image".to_owned(), vec![SEVEN.to_vec(), THREE.to_vec()])]
    );
    // The body's own bytes: nothing copied, nothing announced.
    assert!(images.reserved.is_empty());
}

#[test]
fn json_bytes_elements_are_base64_images() {
    let model = with_image(n());
    // base64.b64encode(bytes([0, 255, 51, 102])) and bytes([10, 20, 30, 40])
    let body = json!({"inputs": [
        {"name": "image", "shape": [2], "datatype": "BYTES", "data": ["AP8zZg==", "ChQeKA"]},
        b_input(2)
    ]});
    let (request, images) = decode_with(&model, &json_body(body), None);
    let request = request.unwrap();
    assert_eq!(request.inputs[0].data(), &pixels(&[SEVEN, THREE]));
    assert_eq!(images.reserved, [8]);
    // Escaped text (a JSON writer may escape '/') reads the same.
    let body = br#"{"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["AP8zZg\u003d="]}, {"name": "b", "shape": [1], "datatype": "INT64", "data": [1]}]}"#;
    let (request, _) = decode_with(&model, body, None);
    assert_eq!(request.unwrap().inputs[0].data(), &pixels(&[SEVEN]));
}

#[test]
fn an_image_input_still_takes_its_tensor() {
    let model = with_image(n());
    let values = [0.0, 1.0, 0.2, 0.4];
    let body = json!({"inputs": [
        {"name": "image", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": values},
        b_input(1)
    ]});
    let (request, images) = decode_with(&model, &json_body(body), None);
    assert_eq!(
        request.unwrap().inputs[0].data(),
        &TensorData::F32(values.to_vec())
    );
    assert!(images.decoded.is_empty());
    let raw = f32_bytes(&values);
    let (body, length) = binary_body(
        json!({"inputs": [
            {"name": "image", "shape": [1, 1, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": raw.len()}},
            b_input(1)
        ]}),
        &[&raw],
    );
    let (request, _) = decode_with(&model, &body, length);
    assert_eq!(
        request.unwrap().inputs[0].data(),
        &TensorData::F32(values.to_vec())
    );
}

#[test]
fn bytes_for_an_input_without_images_is_refused_as_before() {
    let model = with_image(n());
    let buffer = framed(&[b"ab"]);
    let (body, length) = binary_body(
        json!({"inputs": [
            {"name": "image", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [0, 0, 0, 0]},
            {"name": "b", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": buffer.len()}}
        ]}),
        &[&buffer],
    );
    let (result, images) = decode_with(&model, &body, length);
    let Err(Refused::Request(err)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        err.to_string(),
        "input 'b': datatype BYTES is not supported (inferd's tensors hold no strings); the model expects INT64"
    );
    assert!(images.decoded.is_empty());
    // And without a decoder, the image input refuses BYTES too.
    let buffer = framed(&[&SEVEN]);
    let err = binary_error(
        &model,
        json!({"inputs": [image_bytes_input(json!([1]), buffer.len()), b_input(1)]}),
        &[&buffer],
    );
    assert!(err.to_string().contains("hold no strings"), "{err}");
}

fn request_error(model: &V2Model, body: &[u8], length: Option<usize>) -> String {
    let (result, images) = decode_with(model, body, length);
    assert!(images.decoded.is_empty(), "decoded: {:?}", images.decoded);
    match result {
        Err(Refused::Request(e)) => e.to_string(),
        other => panic!("{other:?}"),
    }
}

fn image_json_error(model: &V2Model, image: Value) -> String {
    let count = image["shape"][0].as_u64().unwrap_or(1) as usize;
    let body = json_body(json!({"inputs": [image, b_input(count.max(1))]}));
    request_error(model, &body, None)
}

#[test]
fn image_shapes_are_one_image_per_element() {
    let free = with_image(n());
    let buffer = framed(&[&SEVEN, &THREE]);
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([2, 1]), buffer.len()), b_input(2)]}),
        &[&buffer],
    );
    assert_eq!(
        request_error(&free, &body, length),
        "input 'image' expects shape [-1] (BYTES, one encoded image per element), received shape [2, 1]"
    );
    assert_eq!(
        image_json_error(
            &free,
            json!({"name": "image", "shape": [], "datatype": "BYTES", "data": ["AP8zZg=="]})
        ),
        "input 'image' expects shape [-1] (BYTES, one encoded image per element), received shape []"
    );
    assert_eq!(
        image_json_error(
            &free,
            json!({"name": "image", "shape": [0], "datatype": "BYTES", "data": []})
        ),
        "input 'image': shape [0] holds no elements; send at least one"
    );
    // A model that takes one image at a time says so.
    let one = with_image(Dim::Fixed(1));
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([2]), buffer.len()), b_input(2)]}),
        &[&buffer],
    );
    assert_eq!(
        request_error(&one, &body, length),
        "input 'image' expects shape [1] (BYTES, one encoded image per element), received shape [2]"
    );
    let metadata: Value =
        serde_json::from_slice(&one.metadata_with_images(&[], &|n| n == "image")).unwrap();
    assert_eq!(metadata["inputs"][0]["shape"], json!([1]));
}

#[test]
fn json_image_data_is_a_list_of_base64_strings() {
    let model = with_image(n());
    let image =
        |data: Value| json!({"name": "image", "shape": [2], "datatype": "BYTES", "data": data});
    assert_eq!(
        image_json_error(&model, image(json!("AP8zZg=="))),
        "input 'image': \"data\" must be a list, received a string"
    );
    assert_eq!(
        image_json_error(&model, image(json!(["AP8zZg=="]))),
        "input 'image': shape [2] holds 2 elements, \"data\" has 1"
    );
    assert_eq!(
        image_json_error(&model, image(json!(["AP8zZg==", 7]))),
        "input 'image': element 1 of \"data\" must be BYTES (an encoded image as base64 text), received a number"
    );
    assert!(
        image_json_error(&model, image(json!([["AP8zZg=="], ["ChQeKA"]])))
            .contains("\"data\" is nested 2 deep but shape [2] has rank 1")
    );
    assert_eq!(
        image_json_error(&model, image(json!(["AP8zZg==", "\u{89}PNG"]))),
        "input 'image': element 1 of \"data\" is not base64 text (character '\\u{89}' at 0 is not in the base64 alphabet (A-Z, a-z, 0-9, '+', '/')); an encoded image goes in JSON as base64, or as its bytes in the binary tensor extension (tritonclient: binary_data=True)"
    );
    assert!(
        image_json_error(&model, image(json!(["AP8zZg==", "ChQeK"])))
            .contains("element 1 of \"data\" is not base64 text (5 base64 characters")
    );
}

#[test]
fn framing_is_checked_for_images_too() {
    let model = with_image(n());
    let mut buffer = framed(&[&SEVEN]);
    buffer[0] = 9;
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([1]), buffer.len()), b_input(1)]}),
        &[&buffer],
    );
    assert_eq!(
        request_error(&model, &body, length),
        "input 'image' (BYTES): element 0 says it has 9 bytes from byte 4, past the buffer's end at byte 8"
    );
}

#[test]
fn no_image_is_decoded_before_every_rule_has_held() {
    let model = with_image(n());
    let buffer = framed(&[&SEVEN]);
    // The other input is wrong, and comes after the images.
    let (body, length) = binary_body(
        json!({"inputs": [
            image_bytes_input(json!([1]), buffer.len()),
            {"name": "b", "shape": [1], "datatype": "INT64", "data": [1.5]}
        ]}),
        &[&buffer],
    );
    assert!(request_error(&model, &body, length).contains("not a whole number"));
    // Bytes left over after the images.
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([1]), buffer.len()), b_input(1)]}),
        &[&buffer, b"extra"],
    );
    assert!(
        request_error(&model, &body, length)
            .contains("add up to 8 bytes but 13 bytes follow the JSON header")
    );
    // A missing input.
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([1]), buffer.len())]}),
        &[&buffer],
    );
    assert!(request_error(&model, &body, length).starts_with("missing input 'b'"));
}

#[test]
fn a_decoders_refusal_is_its_own() {
    let model = with_image(n());
    let buffer = framed(&[&SEVEN, b"not a png"]);
    let (body, length) = binary_body(
        json!({"inputs": [image_bytes_input(json!([2]), buffer.len()), b_input(2)]}),
        &[&buffer],
    );
    let (result, _) = decode_with(&model, &body, length);
    assert_eq!(result, Err(Refused::Image("image 1 is corrupt".to_owned())));
}

#[test]
fn metadata_says_bytes_for_an_image_input() {
    let model = with_image(n());
    let plain: Value = serde_json::from_slice(&model.metadata(&["1".to_owned()])).unwrap();
    assert_eq!(
        plain["inputs"][0],
        json!({"name": "image", "datatype": "FP32", "shape": [-1, 1, 2, 2]})
    );
    let images: Value =
        serde_json::from_slice(&model.metadata_with_images(&["1".to_owned()], &|n| n == "image"))
            .unwrap();
    assert_eq!(
        images["inputs"],
        json!([
            {"name": "image", "datatype": "BYTES", "shape": [-1]},
            {"name": "b", "datatype": "INT64", "shape": [-1]}
        ])
    );
    assert_eq!(images["outputs"], plain["outputs"]);
    assert_eq!(images["versions"], json!(["1"]));
}
