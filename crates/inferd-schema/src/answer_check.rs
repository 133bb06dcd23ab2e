//! Whether a model's answer is the one its contract promises: what a new
//! model version's self-test asks of the answer to the sample request
//! before the version takes traffic.

use serde_json::Value;

use inferd_tensor::Tensor;

use crate::ModelSchema;

impl ModelSchema {
    /// `outputs` are as the signature declares (count, element types, fixed
    /// dimensions), and, with an output sample, their answer has the
    /// sample's shape: the same nesting, keys and kinds of value, lists of
    /// the same lengths below the outermost (its rows may differ from the
    /// sample's). The error says what differs and where.
    pub fn check_answer(&self, outputs: &[Tensor]) -> Result<(), String> {
        let specs = &self.signature.outputs;
        if outputs.len() != specs.len() {
            return Err(format!(
                "the model gave {} outputs, its signature declares {}",
                outputs.len(),
                specs.len()
            ));
        }
        for (spec, tensor) in specs.iter().zip(outputs) {
            if tensor.dtype() != spec.dtype {
                return Err(format!(
                    "output '{}' is {}, its signature declares {}",
                    spec.name,
                    tensor.dtype().name(),
                    spec.dtype.name()
                ));
            }
            if let Some(dims) = &spec.shape {
                let fits = dims.len() == tensor.shape().len()
                    && dims.iter().zip(tensor.shape()).all(|(d, n)| d.accepts(*n));
                if !fits {
                    return Err(format!(
                        "output '{}' has shape {:?}, its signature declares {}",
                        spec.name,
                        tensor.shape(),
                        spec.shape_text()
                    ));
                }
            }
        }
        let Some(sample) = &self.output_sample else {
            return Ok(());
        };
        let answer = self.encode(outputs)?;
        let answer: Value =
            serde_json::from_slice(&answer).map_err(|e| format!("the answer is not JSON: {e}"))?;
        same_shape(sample, &answer, "outputSample", true)
    }
}

/// `answer` has `sample`'s shape; `outermost` lists may differ in length.
fn same_shape(sample: &Value, answer: &Value, at: &str, outermost: bool) -> Result<(), String> {
    let differ = |what: String| Err(format!("the answer differs from {at}: {what}"));
    match (sample, answer) {
        (Value::Array(want), Value::Array(got)) => {
            if !outermost && want.len() != got.len() {
                return differ(format!(
                    "{} values, the sample has {}",
                    got.len(),
                    want.len()
                ));
            }
            // Every row of the answer against the sample's first: a sample
            // of one row describes all of them.
            match want.first() {
                Some(first) => got.iter().enumerate().try_for_each(|(i, value)| {
                    let row = if outermost { first } else { &want[i] };
                    same_shape(row, value, &format!("{at}[{i}]"), false)
                }),
                None => Ok(()),
            }
        }
        (Value::Object(want), Value::Object(got)) => {
            let (keys, got_keys): (Vec<&String>, Vec<&String>) =
                (want.keys().collect(), got.keys().collect());
            if keys != got_keys {
                return differ(format!("keys {got_keys:?}, the sample has {keys:?}"));
            }
            want.iter().try_for_each(|(key, value)| {
                same_shape(value, &got[key], &format!("{at}.{key}"), outermost)
            })
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(()),
        (want, got) => differ(format!("{} where the sample has {}", kind(got), kind(want))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_may_differ_and_the_rest_may_not() {
        let sample = json!([[1.0, 2.0]]);
        assert!(same_shape(&sample, &json!([[3.5, 4.0], [0.0, 1.0]]), "s", true).is_ok());
        let short = same_shape(&sample, &json!([[3.5]]), "s", true).unwrap_err();
        assert!(
            short.contains("s[0]") && short.contains("1 values"),
            "{short}"
        );
        let nested = same_shape(&sample, &json!([3.5]), "s", true).unwrap_err();
        assert!(
            nested.contains("a number where the sample has a list"),
            "{nested}"
        );
        let keyed = json!({"a": [1], "b": [[1, 2]]});
        assert!(same_shape(&keyed, &json!({"a": [7, 8], "b": [[3, 4]]}), "s", true).is_ok());
        let keys = same_shape(&keyed, &json!({"a": [7]}), "s", true).unwrap_err();
        assert!(keys.contains("keys"), "{keys}");
    }
}
