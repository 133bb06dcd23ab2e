//! Rows of a table (a CSV file's records, say) as a scoring request's data,
//! for a batch job that scores a file the way the server scores requests:
//!
//! - [`ModelSchema::column_plan`]: which of the file's columns feed the
//!   model, from its header, checked against the contract once per file;
//! - [`ModelSchema::row_json`]: one row as the JSON a client would send
//!   for it (a record for a pandas contract, a list of values otherwise);
//! - [`ModelSchema::decode_rows`]: a chunk of rows into the model's input
//!   tensors, every row that does not fit set aside with the message the
//!   server answers for that row sent alone. The general reader decides
//!   every row, so the messages are the server's by construction.
//!
//! A cell is text as a table holds it: a JSON number literal is a number,
//! `true`/`false` (or `True`/`False`) a boolean, an empty cell null, and
//! anything else a string.

use inferd_tensor::{Dim, Tensor};
use serde_json::{Map, Value};

use crate::direct::CellValues;
use crate::{InputLayout, ModelSchema, SchemaError};

/// Where a header's problems are said to be.
const HEADER: &str = "header";

/// One cell of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Null,
}

impl Cell<'_> {
    /// The JSON value a client would send for this cell.
    pub fn to_json(&self) -> Value {
        let Cell::Text(text) = *self else {
            return Value::Null;
        };
        match text {
            "" => Value::Null,
            "true" | "True" => Value::Bool(true),
            "false" | "False" => Value::Bool(false),
            _ => match serde_json::from_str::<serde_json::Number>(text) {
                Ok(number) => Value::Number(number),
                Err(_) => Value::String(text.to_owned()),
            },
        }
    }
}

/// How a file's columns feed the model, from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    /// Per file column: `Some(key)` for model data (a record's key, or the
    /// column's name under a tensor contract), `None` for a column that is
    /// not (the id column, pandas' index).
    uses: Vec<Option<String>>,
    /// Records (a pandas contract) or lists of values.
    records: bool,
}

impl ColumnPlan {
    /// The file's columns, as the header named them.
    pub fn width(&self) -> usize {
        self.uses.len()
    }

    /// The header's columns that are model data, by index, in order.
    pub fn data_columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.uses
            .iter()
            .enumerate()
            .filter_map(|(i, used)| used.as_ref().map(|_| i))
    }

    /// Whether rows are records keyed by column (a pandas contract), not
    /// lists of values.
    pub fn records(&self) -> bool {
        self.records
    }
}

/// A chunk of rows decoded: the inputs of the rows that fit, which rows
/// those are (indexes into the chunk, ascending), and why each other row
/// does not fit.
#[derive(Debug)]
pub struct DecodedRows {
    /// `None` when no row fits.
    pub inputs: Option<Vec<Tensor>>,
    pub kept: Vec<usize>,
    pub failed: Vec<(usize, SchemaError)>,
}

/// Headers pandas writes for a frame's index: not model data.
fn is_index(name: &str) -> bool {
    name.is_empty() || name == "__index_level_0__" || name.starts_with("Unnamed: ")
}

impl ModelSchema {
    /// Checks a file's header against the contract: a pandas contract
    /// takes exactly its columns, in any order; a one-input tensor
    /// contract of shape `[N, K]` (or `[N]`) takes K columns (or one) by
    /// position, whatever their names. `id` names a column that is carried
    /// beside the answers, not scored; pandas' index column is skipped.
    pub fn column_plan(
        &self,
        header: &[&str],
        id: Option<&str>,
    ) -> Result<ColumnPlan, SchemaError> {
        if let Some(id) = id
            && !header.contains(&id)
        {
            return Err(SchemaError::MissingColumn {
                path: HEADER.into(),
                column: id.to_owned(),
                expected: format!("'{}'", header.join("', '")),
            });
        }
        for (i, name) in header.iter().enumerate() {
            if !is_index(name) && header[..i].contains(name) {
                return Err(SchemaError::DuplicateColumn {
                    path: HEADER.into(),
                    column: (*name).to_owned(),
                });
            }
        }
        let data = |name: &str| Some(name) != id && !is_index(name);
        match &self.input {
            InputLayout::Pandas(layout) => {
                let expected: Vec<&str> = layout.columns.iter().map(|c| c.name.as_str()).collect();
                let listed = format!("'{}'", expected.join("', '"));
                if let Some(unknown) = header.iter().find(|n| data(n) && !expected.contains(n)) {
                    return Err(SchemaError::UnknownColumn {
                        path: HEADER.into(),
                        column: (*unknown).to_owned(),
                        expected: listed,
                    });
                }
                if let Some(missing) = expected.iter().find(|e| !header.contains(e)) {
                    return Err(SchemaError::MissingColumn {
                        path: HEADER.into(),
                        column: (*missing).to_owned(),
                        expected: listed,
                    });
                }
                let uses = header
                    .iter()
                    .map(|name| data(name).then(|| (*name).to_owned()))
                    .collect();
                Ok(ColumnPlan {
                    uses,
                    records: true,
                })
            }
            InputLayout::Tensors => {
                let [input] = self.signature.inputs.as_slice() else {
                    return Err(SchemaError::NotTabular {
                        reason: format!(
                            "the model has {} inputs; a table's row feeds one",
                            self.signature.inputs.len()
                        ),
                    });
                };
                let width = match input.shape.as_deref() {
                    Some([_]) => 1,
                    Some([_, Dim::Fixed(k)]) => *k,
                    _ => {
                        return Err(SchemaError::NotTabular {
                            reason: format!(
                                "input '{}' has shape {}; a table's row fills [N] or [N, K] with K fixed",
                                input.name,
                                input.shape_text()
                            ),
                        });
                    }
                };
                let uses: Vec<Option<String>> = header
                    .iter()
                    .map(|name| data(name).then(|| (*name).to_owned()))
                    .collect();
                let given = uses.iter().flatten().count();
                if given != width {
                    return Err(SchemaError::WrongShape {
                        path: HEADER.into(),
                        input: input.name.clone(),
                        expected: input.shape_text(),
                        dtype: input.dtype.to_string(),
                        received: format!("[N, {given}] ({given} data columns in the header)"),
                    });
                }
                Ok(ColumnPlan {
                    uses,
                    records: false,
                })
            }
        }
    }

    /// One row as a client would send it in `data`: a record keyed by
    /// column (pandas) or a list of its values. Cells past the header are
    /// kept, keyed `(column N)`, so that a ragged row is refused by the
    /// reader with the server's message.
    pub fn row_json(&self, plan: &ColumnPlan, cells: &[Cell<'_>]) -> Value {
        self.row_of_values(plan, cells.iter().map(Cell::to_json))
    }

    /// As [`ModelSchema::row_json`], for a row whose cells are already
    /// values (a typed column's, as a Parquet file holds them), one per
    /// column of the header in order.
    pub fn row_of_values(&self, plan: &ColumnPlan, values: impl Iterator<Item = Value>) -> Value {
        let used = values
            .enumerate()
            .filter_map(|(i, value)| match plan.uses.get(i) {
                Some(Some(key)) => Some((key.clone(), value)),
                Some(None) => None,
                None => Some((format!("(column {})", i + 1), value)),
            });
        if plan.records {
            Value::Object(used.collect::<Map<String, Value>>())
        } else {
            Value::Array(used.map(|(_, value)| value).collect())
        }
    }

    /// Decodes `rows` together; when any does not fit, each alone to find
    /// which (with the message the server gives for it alone), and the
    /// others together again.
    pub fn decode_rows(&self, plan: &ColumnPlan, rows: &[&[Cell<'_>]]) -> DecodedRows {
        if let Some(inputs) = self.cells_fast(plan, rows) {
            return DecodedRows {
                inputs: Some(inputs),
                kept: (0..rows.len()).collect(),
                failed: Vec::new(),
            };
        }
        self.decode_json_rows(rows.iter().map(|row| self.row_json(plan, row)).collect())
    }

    /// The fast path for a tensor contract's one input: every row as wide
    /// as the header, every data cell a plain number, read straight into
    /// the tensor (no JSON value per cell; for mlp-784's 784 columns that
    /// was most of a chunk's cost). Answers what the general path would,
    /// or `None` to leave the rows to it.
    fn cells_fast(&self, plan: &ColumnPlan, rows: &[&[Cell<'_>]]) -> Option<Vec<Tensor>> {
        let [input] = self.signature.inputs.as_slice() else {
            return None;
        };
        if plan.records || rows.is_empty() {
            return None;
        }
        let width = plan.uses.iter().flatten().count();
        let mut values = CellValues::new(input, rows.len() * width);
        for row in rows {
            if row.len() != plan.uses.len() {
                return None;
            }
            for (cell, used) in row.iter().zip(&plan.uses) {
                match (cell, used) {
                    (_, None) => {}
                    (Cell::Text(text), Some(_)) if values.push(text) => {}
                    _ => return None,
                }
            }
        }
        let shape = match input.shape.as_deref() {
            Some([first]) if first.accepts(rows.len()) => vec![rows.len()],
            Some([first, _]) if first.accepts(rows.len()) => vec![rows.len(), width],
            _ => return None,
        };
        Tensor::new(shape, values.into_data()).ok().map(|t| vec![t])
    }

    /// As [`ModelSchema::decode_rows`], for rows already JSON: each as a
    /// client would send one row in `data` (a JSON Lines file's lines).
    pub fn decode_json_rows(&self, rows: Vec<Value>) -> DecodedRows {
        let all = Value::Array(rows);
        if let Ok(inputs) = self.decode(&all) {
            let Value::Array(rows) = &all else {
                unreachable!("built as an array above")
            };
            return DecodedRows {
                inputs: Some(inputs),
                kept: (0..rows.len()).collect(),
                failed: Vec::new(),
            };
        }
        let Value::Array(json) = all else {
            unreachable!("built as an array above")
        };
        let mut kept = Vec::new();
        let mut failed = Vec::new();
        for (i, row) in json.iter().enumerate() {
            match self.decode(&Value::Array(vec![row.clone()])) {
                Ok(_) => kept.push(i),
                Err(error) => failed.push((i, error)),
            }
        }
        let together: Vec<Value> = kept.iter().map(|&i| json[i].clone()).collect();
        let inputs = match (together.is_empty(), self.decode(&Value::Array(together))) {
            (true, _) => None,
            (false, Ok(inputs)) => Some(inputs),
            // Rows that fit alone and not together (a contract whose
            // shape ties rows to each other): each is set aside.
            (false, Err(error)) => {
                failed.extend(kept.drain(..).map(|i| (i, error.clone())));
                failed.sort_by_key(|(i, _)| *i);
                None
            }
        };
        DecodedRows {
            inputs,
            kept,
            failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Column, ColumnKind, PandasLayout, PandasTarget};
    use inferd_tensor::{DType, Signature, TensorData, TensorSpec};

    fn spec(name: &str, shape: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: DType::F32,
            shape: Some(shape),
        }
    }

    /// diabetes-ridge's contract: one input of shape [N, 3] here.
    fn tensors() -> ModelSchema {
        ModelSchema::from_signature(Signature {
            inputs: vec![spec(
                "input",
                vec![Dim::Free(Some("N".into())), Dim::Fixed(3)],
            )],
            outputs: vec![spec("y", vec![Dim::Free(Some("N".into()))])],
        })
    }

    /// Two named columns stacked into the input, as a pandas sample makes it.
    fn records() -> ModelSchema {
        let mut schema = ModelSchema::from_signature(Signature {
            inputs: vec![spec(
                "input",
                vec![Dim::Free(Some("N".into())), Dim::Fixed(2)],
            )],
            outputs: vec![spec("y", vec![Dim::Free(Some("N".into()))])],
        });
        schema.input = InputLayout::Pandas(PandasLayout {
            columns: vec![
                Column {
                    name: "age".into(),
                    kind: ColumnKind::Number,
                },
                Column {
                    name: "sex".into(),
                    kind: ColumnKind::Integer,
                },
            ],
            target: PandasTarget::Stacked { input: 0 },
        });
        schema
    }

    fn cells<'a>(texts: &[&'a str]) -> Vec<Cell<'a>> {
        texts.iter().map(|t| Cell::Text(t)).collect()
    }

    #[test]
    fn the_fast_path_reads_cells_as_the_general_path_does() {
        let schema = tensors();
        let plan = schema.column_plan(&["a", "b", "c"], None).unwrap();
        let texts = [
            ["1", "-2.5e3", "0.1"],
            ["3.4e38", "-0", "7"],
            ["123456789", "1e-46", "2.0000001"],
        ];
        let rows: Vec<Vec<Cell<'_>>> = texts.iter().map(|r| cells(r)).collect();
        let refs: Vec<&[Cell<'_>]> = rows.iter().map(Vec::as_slice).collect();
        let fast = schema
            .cells_fast(&plan, &refs)
            .expect("plain numbers take the fast path");
        let general = schema
            .decode_json_rows(refs.iter().map(|r| schema.row_json(&plan, r)).collect())
            .inputs
            .unwrap();
        assert_eq!(fast, general);
        // Anything doubtful is the general path's: a string, an empty
        // cell, a ragged row, a number past float32's range.
        for bad in [
            &["1", "x", "2"][..],
            &["1", "", "2"],
            &["1", "2"],
            &["1", "2", "1e39"],
        ] {
            let row = cells(bad);
            assert!(schema.cells_fast(&plan, &[&row]).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn cells_read_as_a_client_would_write_them() {
        let json: Vec<Value> = cells(&["1", "-2.5e3", "", "true", "False", "abc", "1."])
            .iter()
            .map(Cell::to_json)
            .collect();
        assert_eq!(
            Value::Array(json),
            serde_json::json!([1, -2.5e3, null, true, false, "abc", "1."])
        );
        assert_eq!(Cell::Null.to_json(), Value::Null);
    }

    #[test]
    fn a_tensor_contract_takes_its_width_by_position() {
        let schema = tensors();
        let plan = schema
            .column_plan(&["", "a", "b", "id", "c"], Some("id"))
            .unwrap();
        assert_eq!(plan.width(), 5);
        let row = cells(&["7", "1", "2", "row-7", "3"]);
        assert_eq!(schema.row_json(&plan, &row), serde_json::json!([1, 2, 3]));
        let decoded = schema.decode_rows(&plan, &[&row, &row]);
        assert_eq!(decoded.kept, vec![0, 1]);
        assert_eq!(
            decoded.inputs.unwrap()[0].data(),
            &TensorData::F32(vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
        );

        let narrow = schema
            .column_plan(&["a", "b"], None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            narrow,
            "header: input 'input' expects shape [N, 3] (float32), received shape [N, 2] (2 data columns in the header)"
        );
        let missing_id = schema
            .column_plan(&["a", "b", "c"], Some("key"))
            .unwrap_err();
        assert_eq!(
            missing_id.to_string(),
            "header: missing column 'key'; the columns are 'a', 'b', 'c'"
        );
        let twice = schema.column_plan(&["a", "a", "c"], None).unwrap_err();
        assert_eq!(
            twice.to_string(),
            "header: column 'a' appears more than once"
        );
    }

    #[test]
    fn bad_rows_get_the_servers_message_and_the_rest_are_scored() {
        let schema = tensors();
        let plan = schema.column_plan(&["a", "b", "c"], None).unwrap();
        let good = cells(&["1", "2", "3"]);
        let text = cells(&["1", "two", "3"]);
        let short = cells(&["1", "2"]);
        let long = cells(&["1", "2", "3", "4"]);
        let decoded = schema.decode_rows(&plan, &[&good, &text, &good, &short, &long]);
        assert_eq!(decoded.kept, vec![0, 2]);
        assert_eq!(
            decoded.inputs.unwrap()[0].data(),
            &TensorData::F32(vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
        );
        let messages: Vec<(usize, String)> = decoded
            .failed
            .iter()
            .map(|(i, e)| (*i, e.to_string()))
            .collect();
        // Each is what `POST /score` answers for `{"data": [row]}`.
        for (i, row) in [(1, &text), (3, &short), (4, &long)] {
            let alone = serde_json::json!([schema.row_json(&plan, row)]);
            let server = schema.decode(&alone).unwrap_err().to_string();
            assert!(
                messages.contains(&(i, server.clone())),
                "{i}: {server} in {messages:?}"
            );
        }
        assert!(
            messages[0]
                .1
                .starts_with("data[0][1]: input 'input' expects float32"),
            "{messages:?}"
        );

        let none = schema.decode_rows(&plan, &[&text]);
        assert!(none.inputs.is_none() && none.kept.is_empty() && none.failed.len() == 1);
    }

    #[test]
    fn a_pandas_contract_takes_its_columns_by_name() {
        let schema = records();
        let plan = schema.column_plan(&["sex", "", "age"], None).unwrap();
        let row = cells(&["1", "0", "42.5"]);
        assert_eq!(
            schema.row_json(&plan, &row),
            serde_json::json!({"sex": 1, "age": 42.5})
        );
        let decoded = schema.decode_rows(&plan, &[&row]);
        assert_eq!(
            decoded.inputs.unwrap()[0].data(),
            &TensorData::F32(vec![42.5, 1.0])
        );
        let fraction = cells(&["2.7", "0", "40"]);
        let failed = schema.decode_rows(&plan, &[&fraction]).failed;
        assert_eq!(
            failed[0].1.to_string(),
            "data[0].sex: column 'sex' expects an integer, received 2.7, which is not an integer"
        );
        let extra = schema
            .column_plan(&["age", "sex", "bmi"], None)
            .unwrap_err();
        assert_eq!(
            extra.to_string(),
            "header: unknown column 'bmi'; the columns are 'age', 'sex'"
        );
        let missing = schema.column_plan(&["age"], None).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "header: missing column 'sex'; the columns are 'age', 'sex'"
        );
        let ragged = cells(&["1", "0", "40", "9"]);
        let failed = schema.decode_rows(&plan, &[&ragged]).failed;
        assert!(
            failed[0]
                .1
                .to_string()
                .contains("unknown column '(column 4)'"),
            "{failed:?}"
        );
    }

    #[test]
    fn a_model_a_row_cannot_feed_is_refused_from_the_header() {
        let wide = ModelSchema::from_signature(Signature {
            inputs: vec![spec(
                "image",
                vec![
                    Dim::Free(Some("N".into())),
                    Dim::Fixed(1),
                    Dim::Fixed(28),
                    Dim::Fixed(28),
                ],
            )],
            outputs: vec![spec("y", vec![Dim::Free(Some("N".into()))])],
        });
        let error = wide.column_plan(&["a"], None).unwrap_err().to_string();
        assert!(error.starts_with("the model's data does not fit the rows of a table: input 'image' has shape [N, 1, 28, 28]"), "{error}");
        assert!(error.ends_with("send it as JSON Lines"));
    }
}
