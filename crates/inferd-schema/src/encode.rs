//! Output tensors to the response body: one output gives its values as
//! nested lists; several give an object keyed by output name, in the
//! model's order. Floats are written in their shortest exact form
//! (`4042.264`, not `4042.26416015625` for a float32), and non-finite values,
//! which JSON cannot carry, as `null`.

use serde::Serialize;

use inferd_config::OutputLayout;
use inferd_tensor::{Tensor, TensorSpec, for_each_data};

use crate::labels::Labeller;

/// Writes the response body for `outputs`, described by `specs`.
pub fn encode_outputs(outputs: &[Tensor], specs: &[TensorSpec]) -> Vec<u8> {
    let mut out = buffer_for(outputs);
    if let [only] = outputs {
        write_tensor(&mut out, only);
        return out;
    }
    write_object(&mut out, outputs, specs, |out, _, tensor| {
        write_tensor(out, tensor);
        Ok(())
    })
    .expect("plain values always write");
    out
}

/// Writes one record per row: `[{"label": 3, "probabilities": [...]}, ...]`.
/// Every output must have the same number of rows.
pub fn encode_records(outputs: &[Tensor], specs: &[TensorSpec]) -> Result<Vec<u8>, String> {
    encode_records_labelled(outputs, specs, &[])
}

/// [`encode_records`], each output with a labeller (`labels`, by output
/// index) written as its row's labelled classes.
fn encode_records_labelled(
    outputs: &[Tensor],
    specs: &[TensorSpec],
    labels: &[Option<Labeller>],
) -> Result<Vec<u8>, String> {
    let rows = outputs.first().and_then(|t| t.shape().first().copied());
    let Some(rows) = rows else {
        return Err("records need outputs with a row dimension".to_owned());
    };
    if let Some((t, spec)) = outputs
        .iter()
        .zip(specs)
        .find(|(t, _)| t.shape().first() != Some(&rows))
    {
        return Err(format!(
            "output '{}' has shape {:?}, not {rows} rows like the first output",
            spec.name,
            t.shape()
        ));
    }
    let mut out = buffer_for(outputs);
    out.push(b'[');
    for row in 0..rows {
        if row > 0 {
            out.push(b',');
        }
        write_object(&mut out, outputs, specs, |out, index, tensor| {
            match labels.get(index).and_then(Option::as_ref) {
                Some(labeller) => labeller.write_row(out, tensor, row)?,
                None => write_row(out, tensor, row),
            }
            Ok(())
        })?;
    }
    out.push(b']');
    Ok(out)
}

/// [`encode_outputs`] or [`encode_records`], with each output that has a
/// labeller (`labels`, by output index) written as labelled classes:
/// every row's, or with `single` (one image on its own) that row's alone.
pub fn encode_labelled(
    outputs: &[Tensor],
    specs: &[TensorSpec],
    layout: OutputLayout,
    labels: &[Option<Labeller>],
    single: bool,
) -> Result<Vec<u8>, String> {
    if layout == OutputLayout::Records {
        return encode_records_labelled(outputs, specs, labels);
    }
    let write_all = |out: &mut Vec<u8>, index: usize, tensor: &Tensor| {
        match labels.get(index).and_then(Option::as_ref) {
            Some(labeller) => labeller.write(out, tensor, single)?,
            None => write_tensor(out, tensor),
        }
        Ok(())
    };
    let mut out = buffer_for(outputs);
    if let [only] = outputs {
        write_all(&mut out, 0, only)?;
    } else {
        write_object(&mut out, outputs, specs, write_all)?;
    }
    Ok(out)
}

/// A body buffer roomy enough for most answers (about 12 bytes a value),
/// and for the ~80 bytes the server appends after a small one (its timing
/// headers' values share the body's allocation).
fn buffer_for(outputs: &[Tensor]) -> Vec<u8> {
    Vec::with_capacity(160 + outputs.iter().map(|t| t.data().len() * 12).sum::<usize>())
}

/// Writes `{"name": value, ...}` over the outputs in the model's order, each
/// value written by `write_value` (given the output's index): the whole
/// answer's object and each record share this.
fn write_object(
    out: &mut Vec<u8>,
    outputs: &[Tensor],
    specs: &[TensorSpec],
    mut write_value: impl FnMut(&mut Vec<u8>, usize, &Tensor) -> Result<(), String>,
) -> Result<(), String> {
    out.push(b'{');
    for (index, (tensor, spec)) in outputs.iter().zip(specs).enumerate() {
        if index > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &spec.name).expect("writing to a Vec cannot fail");
        out.push(b':');
        write_value(out, index, tensor)?;
    }
    out.push(b'}');
    Ok(())
}

/// Writes row `row` of `tensor` (its first dimension) as JSON: a value, or
/// nested lists by the rest of its shape. The caller checks the row is
/// there: past the end, it panics.
pub fn write_row(out: &mut Vec<u8>, tensor: &Tensor, row: usize) {
    let rest = &tensor.shape()[1..];
    let stride: usize = rest.iter().product();
    for_each_data!(tensor.data(), values => {
        write_nested(out, rest, &values[row * stride..(row + 1) * stride])
    });
}

/// Writes element `index` of `tensor`'s values (flat, in row-major order)
/// as a JSON value. Past the end, it panics.
pub fn write_element(out: &mut Vec<u8>, tensor: &Tensor, index: usize) {
    for_each_data!(tensor.data(), values => write_nested(out, &[], &values[index..=index]))
}

fn write_tensor(out: &mut Vec<u8>, tensor: &Tensor) {
    for_each_data!(tensor.data(), values => write_nested(out, tensor.shape(), values))
}

fn write_nested<T: Serialize>(out: &mut Vec<u8>, shape: &[usize], values: &[T]) {
    match shape.split_first() {
        None => {
            serde_json::to_writer(&mut *out, &values[0]).expect("writing to a Vec cannot fail");
        }
        Some((&len, rest)) => {
            let stride: usize = rest.iter().product();
            out.push(b'[');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                write_nested(out, rest, &values[i * stride..(i + 1) * stride]);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::{DType, TensorData};

    fn spec(name: &str) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: DType::F32,
            shape: None,
        }
    }

    fn text(outputs: &[Tensor], specs: &[TensorSpec]) -> String {
        String::from_utf8(encode_outputs(outputs, specs)).unwrap()
    }

    #[test]
    fn one_output_is_its_values() {
        let t = Tensor::new(vec![2], TensorData::F32(vec![4042.264, 0.5])).unwrap();
        assert_eq!(text(&[t], &[spec("predictions")]), "[4042.264,0.5]");
    }

    #[test]
    fn nesting_follows_the_shape() {
        let t = Tensor::new(vec![2, 1, 2], TensorData::I64(vec![1, 2, 3, 4])).unwrap();
        assert_eq!(text(&[t], &[spec("x")]), "[[[1,2]],[[3,4]]]");
        let scalar = Tensor::new(vec![], TensorData::Bool(vec![true])).unwrap();
        assert_eq!(text(&[scalar], &[spec("x")]), "true");
    }

    #[test]
    fn records_put_rows_side_by_side() {
        let label = Tensor::new(vec![2], TensorData::I64(vec![3, 1])).unwrap();
        let probs = Tensor::new(vec![2, 2], TensorData::F32(vec![0.25, 0.75, 1.0, 0.0])).unwrap();
        let body = encode_records(&[label, probs], &[spec("label"), spec("probabilities")]);
        assert_eq!(
            String::from_utf8(body.unwrap()).unwrap(),
            r#"[{"label":3,"probabilities":[0.25,0.75]},{"label":1,"probabilities":[1.0,0.0]}]"#
        );
        let short = Tensor::new(vec![1], TensorData::I64(vec![3])).unwrap();
        let probs = Tensor::new(vec![2, 1], TensorData::F32(vec![0.25, 0.75])).unwrap();
        assert!(encode_records(&[short, probs], &[spec("a"), spec("b")]).is_err());
    }

    #[test]
    fn several_outputs_are_an_object_in_model_order() {
        let label = Tensor::new(vec![1], TensorData::I64(vec![3])).unwrap();
        let probs = Tensor::new(vec![1, 2], TensorData::F32(vec![0.25, f32::NAN])).unwrap();
        assert_eq!(
            text(&[label, probs], &[spec("label"), spec("probabilities")]),
            r#"{"label":[3],"probabilities":[[0.25,null]]}"#
        );
    }
}
