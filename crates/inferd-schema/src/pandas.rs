//! pandas-style data: a list of records with named, typed columns, decoded
//! into the model's tensors. Columns either feed the inputs of the same name
//! (each a column vector, `[N]` or `[N, 1]`), or are stacked in the declared
//! order into one input `[N, columns]`.
//!
//! Every record must have exactly the declared columns, and each value the
//! column's type: a non-integer in an integer column, a string in a number
//! column, a missing or an extra column are each rejected with the path of
//! the record or the value (`data[3].children`).

use serde_json::Value;

use inferd_tensor::{DType, Tensor, TensorData, TensorSpec};

use crate::SchemaError;
use crate::bound::RawData;
use crate::decode::{Pushed, push_number};
use crate::error::json_kind;

/// The type of a column, from the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Whole numbers only (`2.7` is refused).
    Integer,
    /// Any finite number.
    Number,
    Boolean,
}

impl ColumnKind {
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Integer => "an integer",
            ColumnKind::Number => "a number",
            ColumnKind::Boolean => "a boolean",
        }
    }

    /// Whether values of this kind fit a tensor of `dtype` without loss of
    /// meaning.
    pub fn fits(self, dtype: DType) -> bool {
        match self {
            ColumnKind::Boolean => dtype == DType::Bool,
            ColumnKind::Integer => dtype != DType::Bool,
            ColumnKind::Number => dtype.is_float(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// Where the columns go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PandasTarget {
    /// All columns, in order, are the last dimension of this input.
    Stacked { input: usize },
    /// Column `i` is the whole of input `inputs[i]`.
    ByName { inputs: Vec<usize> },
}

/// The columns of a frame and where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PandasLayout {
    pub columns: Vec<Column>,
    pub target: PandasTarget,
}

impl PandasLayout {
    /// Decodes the records under `root` (the data field's name, for paths).
    /// Without the request's text, a value near ±f32::MAX is judged by its
    /// parsed float64 (see the `bound` module for why that can be a step off).
    pub fn decode(
        &self,
        data: &Value,
        specs: &[TensorSpec],
        root: &str,
    ) -> Result<Vec<Tensor>, SchemaError> {
        self.decode_in(data, specs, root, None)
    }

    /// [`PandasLayout::decode`], with the text `data` was parsed from, so
    /// that float32's bound is exact for integer literals too.
    pub(crate) fn decode_in(
        &self,
        data: &Value,
        specs: &[TensorSpec],
        root: &str,
        raw: Option<&RawData<'_>>,
    ) -> Result<Vec<Tensor>, SchemaError> {
        let rows = match data {
            Value::Array(rows) if !rows.is_empty() => rows,
            Value::Array(_) => {
                return Err(SchemaError::NotRecords {
                    path: root.to_owned(),
                    received: "an empty list".to_owned(),
                });
            }
            other => {
                return Err(SchemaError::NotRecords {
                    path: root.to_owned(),
                    received: json_kind(other).to_owned(),
                });
            }
        };
        let n = rows.len();
        let mut storage: Vec<TensorData> = match &self.target {
            PandasTarget::Stacked { input } => vec![TensorData::with_capacity(
                specs[*input].dtype,
                n * self.columns.len(),
            )],
            PandasTarget::ByName { inputs } => inputs
                .iter()
                .map(|&i| TensorData::with_capacity(specs[i].dtype, n))
                .collect(),
        };
        let mut path = String::with_capacity(root.len() + 32);
        // Cells near ±f32::MAX, (record, column), judged by their literal.
        let mut near_bound: Vec<(usize, &Column)> = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            path.clear();
            use std::fmt::Write;
            let _ = write!(path, "{root}[{index}]");
            let Value::Object(record) = row else {
                return Err(SchemaError::NotARecord {
                    path,
                    received: json_kind(row),
                });
            };
            self.check_keys(record, &path)?;
            for (c, column) in self.columns.iter().enumerate() {
                let value = &record[&column.name];
                let slot = match self.target {
                    PandasTarget::Stacked { .. } => 0,
                    PandasTarget::ByName { .. } => c,
                };
                if push_cell(&mut storage[slot], column, value, &path, raw.is_some())?
                    == Pushed::NearF32Max
                {
                    near_bound.push((index, column));
                }
            }
        }
        if let Some(raw) = raw
            && !near_bound.is_empty()
        {
            let cells: Vec<(usize, &str)> = near_bound
                .iter()
                .map(|(row, column)| (*row, column.name.as_str()))
                .collect();
            if let Some((at, literal)) = raw.beyond_f32_in_records(&cells) {
                let (row, column) = near_bound[at];
                return Err(SchemaError::WrongColumnType {
                    path: format!("{root}[{row}].{}", column.name),
                    column: column.name.clone(),
                    expected: column.kind.name(),
                    received: format!("{literal}, which is out of range for float32"),
                });
            }
        }
        let tensors = match &self.target {
            PandasTarget::Stacked { .. } => {
                let data = storage.pop().expect("one tensor");
                vec![
                    Tensor::new(vec![n, self.columns.len()], data).expect("n rows of every column"),
                ]
            }
            PandasTarget::ByName { inputs } => {
                // The tensors are pushed in column order; the model wants input order.
                let mut by_input: Vec<Option<Tensor>> = vec![None; specs.len()];
                for (data, &input) in storage.into_iter().zip(inputs) {
                    let rank = specs[input].shape.as_ref().map_or(1, Vec::len);
                    let shape = if rank == 2 { vec![n, 1] } else { vec![n] };
                    by_input[input] = Some(Tensor::new(shape, data).expect("n values"));
                }
                by_input
                    .into_iter()
                    .map(|t| t.expect("every input has its column"))
                    .collect()
            }
        };
        Ok(tensors)
    }

    fn check_keys(
        &self,
        record: &serde_json::Map<String, Value>,
        path: &str,
    ) -> Result<(), SchemaError> {
        if let Some(missing) = self.columns.iter().find(|c| !record.contains_key(&c.name)) {
            return Err(SchemaError::MissingColumn {
                path: path.to_owned(),
                column: missing.name.clone(),
                expected: self.column_names(),
            });
        }
        if record.len() != self.columns.len()
            && let Some(extra) = record
                .keys()
                .find(|k| !self.columns.iter().any(|c| &c.name == *k))
        {
            return Err(SchemaError::UnknownColumn {
                path: path.to_owned(),
                column: extra.clone(),
                expected: self.column_names(),
            });
        }
        Ok(())
    }

    fn column_names(&self) -> String {
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("'{}'", c.name))
            .collect();
        names.join(", ")
    }
}

fn push_cell(
    data: &mut TensorData,
    column: &Column,
    value: &Value,
    record_path: &str,
    text_known: bool,
) -> Result<Pushed, SchemaError> {
    let wrong = |received: String| SchemaError::WrongColumnType {
        path: format!("{record_path}.{}", column.name),
        column: column.name.clone(),
        expected: column.kind.name(),
        received,
    };
    match (column.kind, value) {
        (ColumnKind::Boolean, Value::Bool(b)) => match data {
            TensorData::Bool(v) => {
                v.push(*b);
                Ok(Pushed::Value)
            }
            _ => unreachable!("the layout puts boolean columns in bool tensors only"),
        },
        (ColumnKind::Integer, Value::Number(number)) => {
            let integral = number.is_i64()
                || number.is_u64()
                || number.as_f64().is_some_and(|x| x.fract() == 0.0);
            if !integral {
                return Err(wrong(format!("{number}, which is not an integer")));
            }
            push_number(data, number, text_known).map_err(wrong)
        }
        (ColumnKind::Number, Value::Number(number)) => {
            push_number(data, number, text_known).map_err(wrong)
        }
        (_, other) => Err(wrong(json_kind(other).to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::Dim;
    use serde_json::json;

    fn spec(name: &str, dtype: DType, dims: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape: Some(dims),
        }
    }

    fn stacked() -> (PandasLayout, Vec<TensorSpec>) {
        let layout = PandasLayout {
            columns: vec![
                Column {
                    name: "age".into(),
                    kind: ColumnKind::Number,
                },
                Column {
                    name: "children".into(),
                    kind: ColumnKind::Integer,
                },
            ],
            target: PandasTarget::Stacked { input: 0 },
        };
        let specs = vec![spec(
            "input",
            DType::F32,
            vec![Dim::Free(None), Dim::Fixed(2)],
        )];
        (layout, specs)
    }

    fn message(data: Value) -> String {
        let (layout, specs) = stacked();
        layout
            .decode(&data, &specs, "data")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn records_are_stacked_in_declared_order() {
        let (layout, specs) = stacked();
        let t = layout
            .decode(
                &json!([{"children": 0, "age": 31.5}, {"age": 62, "children": 3}]),
                &specs,
                "data",
            )
            .unwrap();
        assert_eq!(t[0].shape(), [2, 2]);
        assert_eq!(t[0].data(), &TensorData::F32(vec![31.5, 0.0, 62.0, 3.0]));
    }

    #[test]
    fn columns_feed_inputs_by_name() {
        let layout = PandasLayout {
            columns: vec![
                Column {
                    name: "b".into(),
                    kind: ColumnKind::Integer,
                },
                Column {
                    name: "a".into(),
                    kind: ColumnKind::Boolean,
                },
            ],
            target: PandasTarget::ByName { inputs: vec![1, 0] },
        };
        let specs = vec![
            spec("a", DType::Bool, vec![Dim::Free(None)]),
            spec("b", DType::I64, vec![Dim::Free(None), Dim::Fixed(1)]),
        ];
        let t = layout
            .decode(
                &json!([{"a": true, "b": 4}, {"a": false, "b": 5}]),
                &specs,
                "x",
            )
            .unwrap();
        assert_eq!(t[0].shape(), [2]);
        assert_eq!(t[0].data(), &TensorData::Bool(vec![true, false]));
        assert_eq!(t[1].shape(), [2, 1]);
        assert_eq!(t[1].data(), &TensorData::I64(vec![4, 5]));
    }

    #[test]
    fn rejections_name_the_place() {
        assert_eq!(
            message(json!([{"age": 1, "children": 2.7}])),
            "data[0].children: column 'children' expects an integer, received 2.7, which is not an integer"
        );
        assert_eq!(
            message(json!([{"age": 1, "children": 2}, {"age": "old", "children": 1}])),
            "data[1].age: column 'age' expects a number, received a string"
        );
        assert_eq!(
            message(json!([{"age": 1}])),
            "data[0]: missing column 'children'; the columns are 'age', 'children'"
        );
        assert_eq!(
            message(json!([{"age": 1, "children": 1, "bmi": 2}])),
            "data[0]: unknown column 'bmi'; the columns are 'age', 'children'"
        );
        assert_eq!(
            message(json!([{"age": 1, "children": 1}, [1, 2]])),
            "data[1]: expected a record (an object keyed by column), received a list"
        );
        assert_eq!(
            message(json!({"age": 1})),
            "data: expected a list of records, received an object"
        );
        assert_eq!(
            message(json!([])),
            "data: expected a list of records, received an empty list"
        );
        assert_eq!(
            message(json!([{"age": null, "children": 1}])),
            "data[0].age: column 'age' expects a number, received null"
        );
    }
}
