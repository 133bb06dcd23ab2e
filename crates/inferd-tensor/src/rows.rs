//! Rows along the first (batch) dimension: stacking several requests'
//! tensors into one batch, and cutting a batch's outputs back into each
//! request's share. Both copy elements in order, so a row's values never
//! change on the way in or out.

use crate::{Tensor, TensorData};

/// Why tensors cannot be stacked or cut along their first dimension.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RowsError {
    #[error("nothing to stack")]
    Empty,
    #[error("a scalar has no rows")]
    Scalar,
    #[error("tensors differ beyond their first dimension or in element type")]
    Mismatch,
    #[error("{actual} rows cannot be cut into shares of {wanted} rows in all")]
    Count { actual: usize, wanted: usize },
}

/// Calls `$body` on the `Vec`s of two tensors' storage when both hold the
/// same element type, else evaluates `$else`.
macro_rules! both {
    ($a:expr, $b:expr, ($x:ident, $y:ident) => $body:expr, $else:expr) => {
        match ($a, $b) {
            (TensorData::F32($x), TensorData::F32($y)) => $body,
            (TensorData::F64($x), TensorData::F64($y)) => $body,
            (TensorData::I8($x), TensorData::I8($y)) => $body,
            (TensorData::I16($x), TensorData::I16($y)) => $body,
            (TensorData::I32($x), TensorData::I32($y)) => $body,
            (TensorData::I64($x), TensorData::I64($y)) => $body,
            (TensorData::U8($x), TensorData::U8($y)) => $body,
            (TensorData::U16($x), TensorData::U16($y)) => $body,
            (TensorData::U32($x), TensorData::U32($y)) => $body,
            (TensorData::U64($x), TensorData::U64($y)) => $body,
            (TensorData::Bool($x), TensorData::Bool($y)) => $body,
            _ => $else,
        }
    };
}

impl Tensor {
    /// Rows along the first dimension; `None` for a scalar.
    pub fn rows(&self) -> Option<usize> {
        self.shape().first().copied()
    }

    /// Whether `other` could be stacked under `self`: same element type,
    /// same rank, same size in every dimension but the first.
    pub fn stacks_with(&self, other: &Tensor) -> bool {
        let (a, b) = (self.shape(), other.shape());
        self.dtype() == other.dtype() && !a.is_empty() && a.len() == b.len() && a[1..] == b[1..]
    }

    /// One tensor holding the rows of `parts`, in order.
    pub fn concat_rows(parts: &[&Tensor]) -> Result<Tensor, RowsError> {
        let first = parts.first().ok_or(RowsError::Empty)?;
        if first.shape().is_empty() {
            return Err(RowsError::Scalar);
        }
        if !parts.iter().all(|p| first.stacks_with(p)) {
            return Err(RowsError::Mismatch);
        }
        let total: usize = parts.iter().map(|p| p.data().len()).sum();
        let mut data = TensorData::with_capacity(first.dtype(), total);
        for part in parts {
            both!(&mut data, part.data(), (into, from) => into.extend_from_slice(from), unreachable!("types checked above"));
        }
        let mut shape = first.shape().to_vec();
        shape[0] = parts.iter().map(|p| p.shape()[0]).sum();
        Ok(Tensor::new(shape, data).expect("element count follows the shapes"))
    }

    /// Cuts the tensor into consecutive shares of `rows[i]` rows each; the
    /// shares must add up to the first dimension.
    pub fn split_rows(&self, rows: &[usize]) -> Result<Vec<Tensor>, RowsError> {
        let shape = self.shape();
        let actual = *shape.first().ok_or(RowsError::Scalar)?;
        let wanted: usize = rows.iter().sum();
        if actual != wanted {
            return Err(RowsError::Count { actual, wanted });
        }
        let row_len: usize = shape[1..].iter().product();
        let mut start = 0;
        let mut out = Vec::with_capacity(rows.len());
        for &n in rows {
            let range = start * row_len..(start + n) * row_len;
            start += n;
            let mut data = TensorData::with_capacity(self.dtype(), range.len());
            both!(&mut data, self.data(), (into, from) => into.extend_from_slice(&from[range]), unreachable!("same type"));
            let mut part_shape = shape.to_vec();
            part_shape[0] = n;
            out.push(Tensor::new(part_shape, data).expect("element count follows the shapes"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn zeros(dtype: DType, shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        let mut data = TensorData::with_capacity(dtype, n);
        crate::for_each_data!(&mut data, v => v.resize(n, Default::default()));
        Tensor::new(shape, data).expect("n elements for the shape")
    }

    fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::F32(v)).unwrap()
    }

    #[test]
    fn stacking_then_cutting_gives_the_parts_back() {
        let a = f32s(vec![1, 2], vec![1.0, 2.0]);
        let b = f32s(vec![2, 2], vec![3.0, 4.0, 5.0, 6.0]);
        let both = Tensor::concat_rows(&[&a, &b]).unwrap();
        assert_eq!(both.shape(), &[3, 2]);
        assert_eq!(
            both.data(),
            &TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(both.split_rows(&[1, 2]).unwrap(), vec![a, b]);
    }

    #[test]
    fn only_like_tensors_stack() {
        let a = f32s(vec![1, 2], vec![1.0, 2.0]);
        let wide = f32s(vec![1, 3], vec![1.0, 2.0, 3.0]);
        let ints = Tensor::new(vec![1, 2], TensorData::I64(vec![1, 2])).unwrap();
        let scalar = f32s(vec![], vec![1.0]);
        assert_eq!(Tensor::concat_rows(&[&a, &wide]), Err(RowsError::Mismatch));
        assert_eq!(Tensor::concat_rows(&[&a, &ints]), Err(RowsError::Mismatch));
        assert_eq!(Tensor::concat_rows(&[&scalar]), Err(RowsError::Scalar));
        assert_eq!(Tensor::concat_rows(&[]), Err(RowsError::Empty));
        assert!(!scalar.stacks_with(&scalar));
    }

    #[test]
    fn shares_must_cover_the_rows() {
        let t = zeros(DType::I64, vec![3]);
        assert_eq!(
            t.split_rows(&[1, 1]),
            Err(RowsError::Count {
                actual: 3,
                wanted: 2
            })
        );
        assert_eq!(t.split_rows(&[2, 1]).unwrap()[0].shape(), &[2]);
    }
}
