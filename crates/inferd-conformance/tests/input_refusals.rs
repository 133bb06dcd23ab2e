//! Every engine built in sorts a failed run the same way: values the model
//! cannot take are the request's fault ([`BackendError::Input`], naming the
//! input and saying why in the model's terms, with none of the engine's
//! own text), whichever engine notices them. The models are built here, a
//! node or two each, so what each engine is given is plain.

use std::path::{Path, PathBuf};

use inferd_backend::{BackendError, Engine};
use inferd_conformance::engines::{self, NamedEngine};
use inferd_tensor::{Tensor, TensorData};
use prost::Message;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::Dimension;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A declared input or output: its name, element type and dimensions (a
/// number is fixed, a name free).
fn value(name: &str, data_type: DataType, dims: &[&str]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d.parse() {
                Ok(n) => DimValue::DimValue(n),
                Err(_) => DimValue::DimParam((*d).to_owned()),
            }),
            ..Dimension::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: data_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, axis: Option<i64>) -> NodeProto {
    NodeProto {
        op_type: op.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        attribute: axis
            .map(|i| AttributeProto {
                name: "axis".to_owned(),
                i,
                r#type: 2, // INT
                ..AttributeProto::default()
            })
            .into_iter()
            .collect(),
        ..NodeProto::default()
    }
}

fn floats(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: data,
        ..TensorProto::default()
    }
}

fn int64s(name: &str, dims: &[i64], data: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: data,
        ..TensorProto::default()
    }
}

/// Writes the one-graph model to `dir/name.onnx` (opset 17).
fn write(dir: &Path, name: &str, graph: GraphProto) -> PathBuf {
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..ModelProto::default()
    };
    let path = dir.join(format!("{name}.onnx"));
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

/// `y = table[idx]`, the table 4 rows of 2, `idx` an input: the range is
/// the graph's own statement.
fn gather_from_a_table(dir: &Path) -> PathBuf {
    let graph = GraphProto {
        name: "gather".to_owned(),
        node: vec![node("Gather", &["table", "idx"], "y", Some(0))],
        initializer: vec![floats("table", &[4, 2], (0..8).map(|i| i as f32).collect())],
        input: vec![value("idx", DataType::Int64, &["N"])],
        output: vec![value("y", DataType::Float, &["N", "2"])],
        ..GraphProto::default()
    };
    write(dir, "gather", graph)
}

/// `y = reshape(x, [2, -1])`, `x` being `[N, 3]`: only an even N fits.
fn reshape_to_two_rows(dir: &Path) -> PathBuf {
    let graph = GraphProto {
        name: "reshape".to_owned(),
        node: vec![node("Reshape", &["x", "shape"], "y", None)],
        initializer: vec![int64s("shape", &[2], vec![2, -1])],
        input: vec![value("x", DataType::Float, &["N", "3"])],
        output: vec![value("y", DataType::Float, &["2", "M"])],
        ..GraphProto::default()
    };
    write(dir, "reshape", graph)
}

/// `y = a + b`, each of a free length of its own: only lengths that
/// broadcast (equal, or one of them 1) fit.
fn add_two_inputs(dir: &Path) -> PathBuf {
    let graph = GraphProto {
        name: "add".to_owned(),
        node: vec![node("Add", &["a", "b"], "y", None)],
        input: vec![
            value("a", DataType::Float, &["N"]),
            value("b", DataType::Float, &["M"]),
        ],
        output: vec![value("y", DataType::Float, &["K"])],
        ..GraphProto::default()
    };
    write(dir, "add", graph)
}

fn ints(values: Vec<i64>) -> Tensor {
    Tensor::new(vec![values.len()], TensorData::I64(values)).unwrap()
}

fn zeros(shape: &[usize]) -> Tensor {
    let len = shape.iter().product();
    Tensor::new(shape.to_vec(), TensorData::F32(vec![0.0; len])).unwrap()
}

fn run_all(
    engine: &dyn Engine,
    path: &Path,
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, BackendError> {
    let model = engine.load(path).unwrap();
    let mut session = model.new_session().unwrap();
    session.run(inputs)
}

fn run(engine: &dyn Engine, path: &Path, input: Tensor) -> Result<Vec<Tensor>, BackendError> {
    run_all(engine, path, vec![input])
}

/// The refusal's text, checked to name `inputs` and none of the engine's own words.
fn refusal(
    named: &NamedEngine,
    result: Result<Vec<Tensor>, BackendError>,
    names: &[&str],
) -> String {
    let error = match result {
        Err(e @ BackendError::Input { .. }) => e,
        other => panic!("{}: not a refusal of the input: {other:?}", named.name),
    };
    let BackendError::Input { inputs, .. } = &error else {
        unreachable!()
    };
    assert_eq!(inputs, names, "{}", named.name);
    let text = error.to_string();
    for internal in [
        "tract",
        "onnxruntime",
        "ONNX Runtime",
        "ndarray",
        "panicked",
        "::",
        ".cc",
    ] {
        assert!(
            !text.contains(internal),
            "{}: {internal:?} in {text:?}",
            named.name
        );
    }
    text
}

#[test]
fn an_index_past_a_constant_table_is_refused_as_the_inputs_by_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let path = gather_from_a_table(dir.path());
    for named in engines::all().unwrap() {
        let engine = named.engine.as_ref();
        let text = refusal(&named, run(engine, &path, ints(vec![1, 7])), &["idx"]);
        assert!(
            text.starts_with("input 'idx': index 7 ")
                && text.contains("is out of the range the model accepts, -4 to 3"),
            "{}: {text}",
            named.name
        );
        let rows = run(engine, &path, ints(vec![3, -4])).unwrap();
        assert_eq!(
            rows[0].data(),
            &TensorData::F32(vec![6.0, 7.0, 0.0, 1.0]),
            "{}: the range's ends answer",
            named.name
        );
    }
}

#[test]
fn onnx_runtime_refuses_a_shape_a_reshape_cannot_take_as_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = reshape_to_two_rows(dir.path());
    let engines = engines::all().unwrap();
    let ort = engines
        .iter()
        .find(|e| e.name.starts_with("onnxruntime"))
        .unwrap();
    let text = refusal(ort, run(ort.engine.as_ref(), &path, zeros(&[1, 3])), &["x"]);
    assert_eq!(
        text,
        "input 'x': its shape does not fit the model: a Reshape node cannot reshape [1, 3] to [2, -1]"
    );
    assert!(run(ort.engine.as_ref(), &path, zeros(&[2, 3])).is_ok());
    // tract never gets this far: it refuses the model itself at load, as it
    // cannot reshape N rows of 3 to two rows for every N.
}

#[test]
fn lengths_that_cannot_broadcast_are_refused_as_the_inputs_by_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let path = add_two_inputs(dir.path());
    for named in engines::all().unwrap() {
        let engine = named.engine.as_ref();
        let result = run_all(engine, &path, vec![zeros(&[3]), zeros(&[2])]);
        let text = refusal(&named, result, &["a", "b"]);
        assert!(
            text.starts_with("inputs 'a', 'b': the shapes do not fit the model: ")
                && text.contains("3")
                && text.contains("2"),
            "{}: {text}",
            named.name
        );
        assert!(run_all(engine, &path, vec![zeros(&[3]), zeros(&[1])]).is_ok());
    }
}

#[test]
fn onnx_runtime_gives_onehot_an_all_off_row_for_an_index_out_of_range() {
    // As ONNX specifies OneHot; tract cannot (it would panic), so it refuses
    // the index instead (tests/tests/engine_failures.rs). Pinned here so a
    // change on either side is seen.
    let path = engines::repo_root().join("models/onehot-4/1/files/model.onnx");
    let engines = engines::all().unwrap();
    let ort = engines
        .iter()
        .find(|e| e.name.starts_with("onnxruntime"))
        .unwrap();
    let rows = run(ort.engine.as_ref(), &path, ints(vec![7, 1])).unwrap();
    assert_eq!(
        rows[0].data(),
        &TensorData::F32(vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    );
    let tract = engines.iter().find(|e| e.name == "tract").unwrap();
    let result = run(tract.engine.as_ref(), &path, ints(vec![7, 1]));
    let text = refusal(tract, result, &["indices"]);
    assert_eq!(
        text,
        "input 'indices': index 7 at [0] is out of the range the model accepts, -4 to 3 (one-hot depth 4)"
    );
}
