//! The index ranges a graph states for its integer inputs, and the check of
//! a request's values against them before a run.
//!
//! Where a graph input is, as it stands, the index operand of an operator
//! whose bound is a constant of the model (OneHot's `depth`; the length
//! along its axis of the constant table a Gather or GatherElements reads),
//! each of its values must lie in `-size ..= size - 1`. That range is the
//! graph's own statement, so a value outside it is the request's fault and
//! can be said in the model's terms, naming the input.
//!
//! Why check before the run: tract does not check these indices itself. An
//! index past the bound panics inside its array code (the client could
//! only be told "the engine failed"), and OneHot first casts indices to 32
//! bits, so 2^32 + 1 would quietly answer row 1. ONNX itself gives OneHot
//! an all-`off` row for an index out of range; ONNX Runtime does so, tract
//! cannot, and a refusal that says why is better than a panic or a wrong
//! row.
//!
//! Only direct uses are checked: an index computed inside the graph (say,
//! an input plus one) has no range that can be stated honestly from the
//! graph alone, and a panic there stays a server failure.

use std::collections::HashMap;

use inferd_tensor::{Signature, Tensor, TensorData};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

use crate::BackendError;

/// The checks of one model; empty for most models (no integer index
/// inputs), which then pay nothing per run.
#[derive(Debug, Clone, Default)]
pub struct IndexRanges(Vec<IndexRange>);

/// One graph input feeding one bounded index operand.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexRange {
    /// The input's place in the signature (the order inputs are run in).
    input: usize,
    name: String,
    /// Values must lie in `-size ..= size - 1`.
    size: i64,
    /// What the bound is, in the model's terms (`one-hot depth 4`).
    bound: String,
}

impl IndexRanges {
    /// The ranges `graph` states for the inputs of `signature`.
    pub fn of(graph: &GraphProto, signature: &Signature) -> IndexRanges {
        let constants = Constants::of(graph);
        let mut ranges = Vec::new();
        for node in &graph.node {
            let Some((index_operand, size, bound)) = bounded_index(node, &constants) else {
                continue;
            };
            let Some(input) = signature
                .inputs
                .iter()
                .position(|spec| spec.name == index_operand)
            else {
                continue;
            };
            let range = IndexRange {
                input,
                name: index_operand.to_owned(),
                size,
                bound,
            };
            if !ranges.contains(&range) {
                ranges.push(range);
            }
        }
        IndexRanges(ranges)
    }

    /// Refuses the first value out of its range, naming the input, the
    /// value, where it is and the range the model accepts.
    pub fn check(&self, inputs: &[Tensor]) -> Result<(), BackendError> {
        for range in &self.0 {
            let Some(tensor) = inputs.get(range.input) else {
                continue;
            };
            let low = -i128::from(range.size);
            let high = i128::from(range.size) - 1;
            let Some(found) = first_outside(tensor.data(), low, high) else {
                continue;
            };
            let (at, value) = found;
            return Err(BackendError::Input {
                inputs: vec![range.name.clone()],
                reason: format!(
                    "index {value} at {} is out of the range the model accepts, {low} to {high} ({})",
                    place(tensor.shape(), at),
                    range.bound
                ),
            });
        }
        Ok(())
    }
}

/// The operand of `node` that is an index with a constant bound: its name,
/// the bound, and the bound in words.
fn bounded_index<'g>(node: &'g NodeProto, constants: &Constants) -> Option<(&'g str, i64, String)> {
    let operand = |at: usize| {
        node.input
            .get(at)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    };
    match node.op_type.as_str() {
        "OneHot" => {
            let (index, depth) = (operand(0)?, constants.scalar(operand(1)?)?);
            (depth > 0).then(|| (index, depth, format!("one-hot depth {depth}")))
        }
        "Gather" | "GatherElements" => {
            let (index, dims) = (operand(1)?, constants.dims(operand(0)?)?);
            let axis = node
                .attribute
                .iter()
                .find(|a| a.name == "axis")
                .map_or(0, |a| a.i);
            let rank = i64::try_from(dims.len()).ok()?;
            let axis = if axis < 0 { axis + rank } else { axis };
            let size = *dims.get(usize::try_from(axis).ok()?)?;
            (size > 0).then(|| (index, size, format!("{} from {size} entries", node.op_type)))
        }
        _ => None,
    }
}

/// The graph's constants by name: its initializers and the outputs of its
/// Constant nodes.
struct Constants<'g>(HashMap<&'g str, &'g TensorProto>);

impl<'g> Constants<'g> {
    fn of(graph: &'g GraphProto) -> Constants<'g> {
        let mut known: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
            let value = node.attribute.iter().find(|a| a.name == "value");
            if let (Some(tensor), Some(output)) =
                (value.and_then(|a| a.t.as_ref()), node.output.first())
            {
                known.insert(output.as_str(), tensor);
            }
        }
        Constants(known)
    }

    fn dims(&self, name: &str) -> Option<&'g [i64]> {
        self.0.get(name).map(|t| t.dims.as_slice())
    }

    /// A one-element integer (or integral float: OneHot casts its depth)
    /// constant's value.
    fn scalar(&self, name: &str) -> Option<i64> {
        let t = self.0.get(name)?;
        if t.dims.iter().product::<i64>() != 1 {
            return None;
        }
        let raw = |n: usize| t.raw_data.get(..n).filter(|_| t.raw_data.len() == n);
        let float = |x: f64| (x.fract() == 0.0 && x.abs() < 2f64.powi(53)).then_some(x as i64);
        match DataType::try_from(t.data_type).ok()? {
            DataType::Int64 => match raw(8) {
                Some(bytes) => Some(i64::from_le_bytes(bytes.try_into().ok()?)),
                None => t.int64_data.first().copied(),
            },
            DataType::Int32 => match raw(4) {
                Some(bytes) => Some(i32::from_le_bytes(bytes.try_into().ok()?).into()),
                None => t.int32_data.first().map(|v| i64::from(*v)),
            },
            DataType::Float => match raw(4) {
                Some(bytes) => float(f32::from_le_bytes(bytes.try_into().ok()?).into()),
                None => float(f64::from(*t.float_data.first()?)),
            },
            DataType::Double => match raw(8) {
                Some(bytes) => float(f64::from_le_bytes(bytes.try_into().ok()?)),
                None => float(*t.double_data.first()?),
            },
            _ => None,
        }
    }
}

/// The flat position and value of the first integer in `data` outside
/// `low ..= high`; `None` for floats (not index types here) or when all fit.
fn first_outside(data: &TensorData, low: i128, high: i128) -> Option<(usize, i128)> {
    fn find<T: Copy + Into<i128>>(values: &[T], low: i128, high: i128) -> Option<(usize, i128)> {
        values
            .iter()
            .map(|v| (*v).into())
            .enumerate()
            .find(|(_, v)| !(low..=high).contains(v))
    }
    match data {
        TensorData::I8(v) => find(v, low, high),
        TensorData::I16(v) => find(v, low, high),
        TensorData::I32(v) => find(v, low, high),
        TensorData::I64(v) => find(v, low, high),
        TensorData::U8(v) => find(v, low, high),
        TensorData::U16(v) => find(v, low, high),
        TensorData::U32(v) => find(v, low, high),
        TensorData::U64(v) => find(v, low, high),
        TensorData::F32(_) | TensorData::F64(_) | TensorData::Bool(_) => None,
    }
}

/// The flat position `at` of a tensor of `shape` as `[i][j]`, the way the
/// request's JSON nests it.
fn place(shape: &[usize], mut at: usize) -> String {
    let mut index = vec![0; shape.len()];
    for (axis, size) in shape.iter().enumerate().rev() {
        if *size > 0 {
            index[axis] = at % size;
            at /= size;
        }
    }
    index.iter().map(|i| format!("[{i}]")).collect()
}

#[cfg(test)]
mod tests {
    use inferd_tensor::{DType, Dim, TensorSpec};
    use tract_onnx::pb::{AttributeProto, NodeProto};

    use super::*;

    fn node(op: &str, inputs: &[&str], axis: Option<i64>) -> NodeProto {
        NodeProto {
            op_type: op.to_owned(),
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![format!("{op}_out")],
            attribute: axis
                .map(|i| AttributeProto {
                    name: "axis".to_owned(),
                    i,
                    ..AttributeProto::default()
                })
                .into_iter()
                .collect(),
            ..NodeProto::default()
        }
    }

    fn constant(name: &str, data_type: DataType, dims: &[i64], raw: Vec<u8>) -> TensorProto {
        TensorProto {
            name: name.to_owned(),
            data_type: data_type as i32,
            dims: dims.to_vec(),
            raw_data: raw,
            ..TensorProto::default()
        }
    }

    fn signature(inputs: &[&str]) -> Signature {
        let spec = |name: &&str| TensorSpec {
            name: (*name).to_owned(),
            dtype: DType::I64,
            shape: Some(vec![Dim::Free(None)]),
        };
        Signature {
            inputs: inputs.iter().map(spec).collect(),
            outputs: Vec::new(),
        }
    }

    fn ints(values: Vec<i64>) -> Tensor {
        Tensor::new(vec![values.len()], TensorData::I64(values)).unwrap()
    }

    fn refusal(ranges: &IndexRanges, inputs: &[Tensor]) -> String {
        ranges.check(inputs).unwrap_err().to_string()
    }

    #[test]
    fn a_onehot_depth_bounds_its_indices_both_ways() {
        let graph = GraphProto {
            node: vec![node("OneHot", &["indices", "depth", "values"], Some(-1))],
            initializer: vec![constant(
                "depth",
                DataType::Int64,
                &[],
                4i64.to_le_bytes().to_vec(),
            )],
            ..GraphProto::default()
        };
        let ranges = IndexRanges::of(&graph, &signature(&["indices"]));
        assert!(ranges.check(&[ints(vec![0, 3, -1, -4])]).is_ok());
        assert_eq!(
            refusal(&ranges, &[ints(vec![2, 7])]),
            "input 'indices': index 7 at [1] is out of the range the model accepts, -4 to 3 (one-hot depth 4)"
        );
        assert!(ranges.check(&[ints(vec![-5])]).is_err());
        // 2^32 + 1 would become 1 in 32 bits: refused, not answered as row 1.
        assert!(ranges.check(&[ints(vec![(1 << 32) + 1])]).is_err());
    }

    #[test]
    fn a_gather_from_a_constant_table_bounds_its_indices_on_its_axis() {
        let table = constant("table", DataType::Float, &[3, 5], vec![0; 60]);
        let graph = GraphProto {
            node: vec![node("Gather", &["table", "idx"], Some(-1))],
            initializer: vec![table],
            ..GraphProto::default()
        };
        let ranges = IndexRanges::of(&graph, &signature(&["x", "idx"]));
        let x = ints(vec![100]);
        assert!(ranges.check(&[x.clone(), ints(vec![4, -5])]).is_ok());
        let idx = Tensor::new(vec![2, 2], TensorData::I64(vec![0, 1, 2, 5])).unwrap();
        assert_eq!(
            refusal(&ranges, &[x, idx]),
            "input 'idx': index 5 at [1][1] is out of the range the model accepts, -5 to 4 (Gather from 5 entries)"
        );
    }

    #[test]
    fn a_constant_node_bounds_as_an_initializer_does() {
        let depth = AttributeProto {
            name: "value".to_owned(),
            t: Some(constant(
                "",
                DataType::Int32,
                &[1],
                3i32.to_le_bytes().to_vec(),
            )),
            ..AttributeProto::default()
        };
        let mut make_depth = node("Constant", &[], None);
        make_depth.output = vec!["depth".to_owned()];
        make_depth.attribute = vec![depth];
        let graph = GraphProto {
            node: vec![make_depth, node("OneHot", &["i", "depth", "v"], None)],
            ..GraphProto::default()
        };
        let ranges = IndexRanges::of(&graph, &signature(&["i"]));
        assert!(ranges.check(&[ints(vec![3])]).is_err());
        assert!(ranges.check(&[ints(vec![2])]).is_ok());
    }

    #[test]
    fn what_the_graph_does_not_bound_is_not_checked() {
        // The table is an input, and the index is computed: no stated range.
        let graph = GraphProto {
            node: vec![
                node("Gather", &["data", "idx"], None),
                node("Add", &["idx", "one"], None),
                node("Gather", &["table", "Add_out"], None),
            ],
            initializer: vec![constant("table", DataType::Float, &[2], vec![0; 8])],
            ..GraphProto::default()
        };
        let ranges = IndexRanges::of(&graph, &signature(&["data", "idx"]));
        assert!(ranges.0.is_empty());
    }
}
