//! What a model declares: its inputs and outputs, each with a name, an
//! element type and a shape whose dimensions are fixed or free.

use std::fmt;

use crate::{DType, Tensor, TensorData, for_each_data};

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Dim {
    /// The model accepts exactly this size.
    Fixed(usize),
    /// Any size; the model may name it (`"N"` for a batch) so several inputs
    /// can say they share it.
    Free(Option<String>),
}

impl Dim {
    pub fn accepts(&self, size: usize) -> bool {
        match self {
            Dim::Fixed(n) => *n == size,
            Dim::Free(_) => true,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Free(Some(name)) => f.write_str(name),
            Dim::Free(None) => f.write_str("?"),
        }
    }
}

/// A named tensor a model takes or gives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    /// `None` when the model does not declare a shape at all.
    pub shape: Option<Vec<Dim>>,
}

impl TensorSpec {
    /// The shape as users read it in messages: `[N, 10]`, or `any` when undeclared.
    pub fn shape_text(&self) -> String {
        match &self.shape {
            Some(dims) => format_dims(dims),
            None => "any".to_owned(),
        }
    }

    /// A tensor of this type and shape holding zeros (false), the smallest
    /// the model accepts (a free dimension 1, an undeclared shape one
    /// value); `None` when it would hold more than `max_values`. What an
    /// example or a self-test sends when no sample says otherwise.
    pub fn zeros(&self, max_values: usize) -> Option<Tensor> {
        let shape: Vec<usize> = match &self.shape {
            None => vec![1],
            Some(dims) => dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => *n,
                    Dim::Free(_) => 1,
                })
                .collect(),
        };
        let count = shape
            .iter()
            .try_fold(1usize, |all, n| all.checked_mul(*n))
            .filter(|count| *count <= max_values)?;
        let mut data = TensorData::with_capacity(self.dtype, count);
        for_each_data!(&mut data, values => values.resize(count, Default::default()));
        Tensor::new(shape, data).ok()
    }
}

/// `[1, 10]` style text for a list of dimensions.
pub fn format_dims<D: fmt::Display>(dims: &[D]) -> String {
    let inner: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("[{}]", inner.join(", "))
}

/// A model's inputs and outputs, in the model's own order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

impl Signature {
    /// The inputs' names, in order (an engine session names its inputs so).
    pub fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|s| s.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_read_as_users_write_them() {
        let spec = TensorSpec {
            name: "input".into(),
            dtype: DType::F32,
            shape: Some(vec![Dim::Free(Some("N".into())), Dim::Fixed(10)]),
        };
        assert_eq!(spec.shape_text(), "[N, 10]");
        assert_eq!(format_dims(&[Dim::Free(None)]), "[?]");
    }

    #[test]
    fn free_dims_accept_any_size() {
        assert!(Dim::Free(None).accepts(7));
        assert!(Dim::Fixed(3).accepts(3));
        assert!(!Dim::Fixed(3).accepts(4));
    }
}
