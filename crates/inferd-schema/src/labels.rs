//! Labelled answers: an output of class scores (`[N, classes]`, float)
//! becomes, per row, the best classes as `{"label": ..., "score": ...}`,
//! best first, as the inference config's `postprocess` declares (class
//! names, how many, softmax over logits first).

use inferd_config::Postprocess;
use inferd_tensor::{Dim, Tensor, TensorData, TensorSpec};

/// One output's labelling, checked against the output at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Labeller {
    /// Class names in the output's order; empty: classes are named by index.
    labels: Vec<String>,
    /// How many classes a row answers (at most the classes there are).
    top_k: Option<usize>,
    softmax: bool,
}

impl Labeller {
    /// `postprocess` for `spec`: the output must be float with a row and a
    /// class dimension, and as many classes as labels.
    pub fn build(postprocess: &Postprocess, spec: &TensorSpec) -> Result<Labeller, String> {
        if !spec.dtype.is_float() {
            return Err(format!(
                "output '{}' holds {}; labels and scores need float class scores",
                spec.name,
                spec.dtype.name()
            ));
        }
        let labels: Vec<String> = postprocess
            .labels
            .as_ref()
            .map(|l| l.names().to_vec())
            .unwrap_or_default();
        match spec.shape.as_deref() {
            Some([_, Dim::Fixed(classes)]) => {
                if !labels.is_empty() && labels.len() != *classes {
                    return Err(format!(
                        "{} labels given, and output '{}' {} has {classes} classes",
                        labels.len(),
                        spec.name,
                        spec.shape_text()
                    ));
                }
            }
            Some([_, Dim::Free(_)]) | None => {}
            Some(_) => {
                return Err(format!(
                    "output '{}' is {}; labels need [rows, classes]",
                    spec.name,
                    spec.shape_text()
                ));
            }
        }
        Ok(Labeller {
            labels,
            top_k: postprocess.top_k.map(|k| k as usize),
            softmax: postprocess.softmax,
        })
    }

    /// Writes every row's classes: a list of rows, or with `single` (the
    /// request was one image) that one row's list.
    pub fn write(&self, out: &mut Vec<u8>, tensor: &Tensor, single: bool) -> Result<(), String> {
        let [rows, _] = *tensor.shape() else {
            return Err(format!(
                "labels need [rows, classes], and the output is {:?}",
                tensor.shape()
            ));
        };
        if single && rows == 1 {
            return self.write_row(out, tensor, 0);
        }
        out.push(b'[');
        for row in 0..rows {
            if row > 0 {
                out.push(b',');
            }
            self.write_row(out, tensor, row)?;
        }
        out.push(b']');
        Ok(())
    }

    /// Writes row `row`'s best classes, best first (ties: the lower index
    /// first; a NaN score last).
    pub fn write_row(&self, out: &mut Vec<u8>, tensor: &Tensor, row: usize) -> Result<(), String> {
        let classes = tensor.shape().get(1).copied().unwrap_or(0);
        if !self.labels.is_empty() && self.labels.len() != classes {
            return Err(format!(
                "{} labels, and the output has {classes} classes",
                self.labels.len()
            ));
        }
        let range = row * classes..(row + 1) * classes;
        let mut scores: Vec<f64> = match tensor.data() {
            TensorData::F32(values) => values[range].iter().map(|&v| f64::from(v)).collect(),
            TensorData::F64(values) => values[range].to_vec(),
            _ => return Err("labels need float scores".to_owned()),
        };
        if self.softmax {
            softmax(&mut scores);
        }
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (scores[a], scores[b]);
            y.partial_cmp(&x)
                .unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
                .then(a.cmp(&b))
        });
        let keep = self.top_k.unwrap_or(classes).min(classes);
        out.push(b'[');
        for (n, &class) in order[..keep].iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"label\":");
            match self.labels.get(class) {
                Some(name) => serde_json::to_writer(&mut *out, name),
                None => serde_json::to_writer(&mut *out, &class.to_string()),
            }
            .expect("writing to a Vec cannot fail");
            out.extend_from_slice(b",\"score\":");
            let score = scores[class];
            // A float32 output's score prints as float32 does (0.98, not
            // 0.9800000190734863); JSON has no NaN: null.
            let written = match tensor.data() {
                TensorData::F32(_) => serde_json::to_writer(&mut *out, &(score as f32)),
                _ => serde_json::to_writer(&mut *out, &score),
            };
            written.expect("writing to a Vec cannot fail");
            out.push(b'}');
        }
        out.push(b']');
        Ok(())
    }
}

/// Logits to probabilities, stable: the largest is subtracted first.
fn softmax(scores: &mut [f64]) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_config::Labels;
    use inferd_tensor::DType;

    fn spec(classes: usize) -> TensorSpec {
        TensorSpec {
            name: "scores".into(),
            dtype: DType::F32,
            shape: Some(vec![Dim::Free(None), Dim::Fixed(classes)]),
        }
    }

    fn labeller(
        labels: Option<Vec<&str>>,
        top_k: Option<u32>,
        softmax: bool,
        classes: usize,
    ) -> Result<Labeller, String> {
        let postprocess = Postprocess {
            labels: labels.map(|l| Labels::List(l.into_iter().map(String::from).collect())),
            top_k,
            softmax,
        };
        Labeller::build(&postprocess, &spec(classes))
    }

    fn written(l: &Labeller, t: &Tensor, single: bool) -> String {
        let mut out = Vec::new();
        l.write(&mut out, t, single).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_answer_their_best_classes_best_first() {
        let l = labeller(Some(vec!["cat", "dog", "fox"]), Some(2), false, 3).unwrap();
        let t = Tensor::new(
            vec![2, 3],
            TensorData::F32(vec![0.1, 0.7, 0.2, 0.5, 0.0, 0.5]),
        )
        .unwrap();
        assert_eq!(
            written(&l, &t, false),
            r#"[[{"label":"dog","score":0.7},{"label":"fox","score":0.2}],[{"label":"cat","score":0.5},{"label":"fox","score":0.5}]]"#
        );
        let one = Tensor::new(vec![1, 3], TensorData::F32(vec![0.1, 0.7, 0.2])).unwrap();
        assert_eq!(
            written(&l, &one, true),
            r#"[{"label":"dog","score":0.7},{"label":"fox","score":0.2}]"#
        );
    }

    #[test]
    fn softmax_turns_logits_into_probabilities_and_indexes_name_unlabelled_classes() {
        let l = labeller(None, Some(1), true, 2).unwrap();
        let t = Tensor::new(vec![1, 2], TensorData::F32(vec![0.0, 2f32.ln()])).unwrap();
        let body = written(&l, &t, false);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value[0][0]["label"], "1");
        let score = value[0][0]["score"].as_f64().unwrap();
        assert!((score - 2.0 / 3.0).abs() < 1e-6, "{score}");
    }

    #[test]
    fn outputs_that_cannot_be_labelled_are_refused_at_start() {
        assert!(
            labeller(Some(vec!["a", "b"]), None, false, 3)
                .unwrap_err()
                .contains("2 labels given")
        );
        let ints = TensorSpec {
            name: "label".into(),
            dtype: DType::I64,
            shape: Some(vec![Dim::Free(None)]),
        };
        let postprocess = Postprocess {
            labels: None,
            top_k: None,
            softmax: false,
        };
        assert!(
            Labeller::build(&postprocess, &ints)
                .unwrap_err()
                .contains("int64")
        );
        let flat = TensorSpec {
            dtype: DType::F32,
            ..ints
        };
        assert!(
            Labeller::build(&postprocess, &flat)
                .unwrap_err()
                .contains("[rows, classes]")
        );
    }
}
