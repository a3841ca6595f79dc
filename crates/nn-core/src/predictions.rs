//! A batch's outputs laid out samples first, as NumPy and PyTorch hold them.

use nalgebra::DMatrix;

use crate::softmax::argmax;

/// The outputs of a batch, one row per sample: the `(batch, outputs)` array of NumPy's
/// `predict(x)` in Saitō's code, or of PyTorch's `model(x)`, from
/// [`Network::predict_rows`](crate::Network::predict_rows) or
/// [`Classifier::predict_rows`](crate::Classifier::predict_rows).
///
/// [`Network::predict_batch`](crate::Network::predict_batch) returns the same numbers as an
/// `outputs × batch` matrix, one *column* per sample: its transpose. Row `j` here is column `j`
/// there, and [`argmax`](Predictions::argmax) is NumPy's `np.argmax(y, axis=1)`.
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// let net = Network::dense(&[3, 4, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
/// let x = [0.1, 0.2, 0.3, 0.9, 0.8, 0.7]; // two samples of three values
/// let y = net.predict_rows(&x)?; // y.shape() == (2, 2), as NumPy's y.shape
/// assert_eq!(y.shape(), (2, 2));
/// assert_eq!(y.row(1), Some(net.predict(&x[3..])?.as_slice()));
/// assert_eq!(y.argmax(), net.classify_batch(&x, 100)?); // np.argmax(y, axis=1)
/// let columns = net.predict_batch(&x)?; // outputs × batch: the transpose
/// assert_eq!(columns.column(1).as_slice(), y.row(1).unwrap());
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Row-major `samples × outputs`: sample 0's outputs, then sample 1's, ...
    values: Vec<f32>,
    outputs: usize,
}

impl Predictions {
    /// Rows of `outputs` values, one sample after the other; `None` when `values` is not a whole
    /// number of rows or `outputs` is 0.
    pub fn new(values: Vec<f32>, outputs: usize) -> Option<Self> {
        (outputs > 0 && values.len().is_multiple_of(outputs)).then_some(Predictions { values, outputs })
    }

    /// From an `outputs × samples` matrix of [`Network::predict_batch`](crate::Network::predict_batch):
    /// nalgebra stores it column by column, so its memory already is these rows; nothing is copied.
    pub fn from_columns(matrix: DMatrix<f32>) -> Self {
        let outputs = matrix.nrows().max(1);
        Predictions { values: matrix.data.into(), outputs }
    }

    /// `(samples, outputs)`, NumPy's `y.shape`.
    pub fn shape(&self) -> (usize, usize) {
        (self.samples(), self.outputs)
    }

    /// Number of samples (rows).
    pub fn samples(&self) -> usize {
        self.values.len() / self.outputs
    }

    /// Values per sample (columns).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Sample `j`'s outputs, NumPy's `y[j]`.
    pub fn row(&self, sample: usize) -> Option<&[f32]> {
        self.values.get(sample * self.outputs..(sample + 1) * self.outputs)
    }

    /// Each sample's outputs in turn.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.outputs)
    }

    /// The index of each row's largest value, the first one on a tie: `np.argmax(y, axis=1)`.
    pub fn argmax(&self) -> Vec<usize> {
        self.rows().map(argmax).collect()
    }

    /// Every value, row after row (NumPy's `y.ravel()`, C order).
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// The values, row after row.
    pub fn into_vec(self) -> Vec<f32> {
        self.values
    }

    /// A `samples × outputs` matrix (a copy: nalgebra stores matrices column by column).
    pub fn to_matrix(&self) -> DMatrix<f32> {
        DMatrix::from_row_slice(self.samples(), self.outputs, &self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_the_columns_of_the_matrix_and_argmax_takes_the_first_maximum() {
        // Three samples (columns) of two outputs.
        let columns = DMatrix::from_column_slice(2, 3, &[0.1, 0.9, 0.7, 0.3, 0.5, 0.5]);
        let rows = Predictions::from_columns(columns.clone());
        assert_eq!(rows.shape(), (3, 2));
        assert_eq!(rows.to_matrix(), columns.transpose());
        assert_eq!(rows.row(1), Some(&[0.7, 0.3][..]));
        assert_eq!(rows.row(3), None);
        assert_eq!(rows.argmax(), vec![1, 0, 0]);
        assert_eq!(Predictions::new(vec![1.0; 5], 2), None);
        assert_eq!(Predictions::new(vec![1.0; 4], 0), None);
        assert_eq!(Predictions::new(vec![1.0, 2.0], 2).map(|p| p.argmax()), Some(vec![1]));
    }
}
