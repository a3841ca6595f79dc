//! Gradients of a network's parameters, as a value that can be summed and scaled.

use nalgebra::DMatrix;

use crate::{Network, NnError};

/// `∂C/∂p` for every parameter matrix `p` of a network, in the order of
/// [`Network::parameters`].
///
/// A value type: shards of a batch computed in parallel can be combined in a fixed order with
/// [`add_scaled`](Gradients::add_scaled) (weights `n_shard / n_batch`, since each shard's
/// gradient is a mean), and an optimiser zips [`tensors`](Gradients::tensors) with
/// [`Network::parameters_mut`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    tensors: Vec<DMatrix<f32>>,
}

impl Gradients {
    /// Zero gradients shaped like the parameters of `network`.
    pub fn zeros_like(network: &Network) -> Self {
        let tensors = network.parameters().iter().map(|p| DMatrix::zeros(p.nrows(), p.ncols())).collect();
        Gradients { tensors }
    }

    /// The gradient matrices, in parameter order.
    pub fn tensors(&self) -> &[DMatrix<f32>] {
        &self.tensors
    }

    /// The gradient matrices, mutable.
    pub fn tensors_mut(&mut self) -> &mut [DMatrix<f32>] {
        &mut self.tensors
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        self.tensors.iter_mut().for_each(|t| t.fill(0.0));
    }

    /// Multiplies every value by `factor`.
    pub fn scale(&mut self, factor: f32) {
        self.tensors.iter_mut().for_each(|t| *t *= factor);
    }

    /// `self += other`.
    pub fn add_assign(&mut self, other: &Gradients) -> Result<(), NnError> {
        self.add_scaled(other, 1.0)
    }

    /// `self += factor · other`, refusing gradients of another architecture.
    pub fn add_scaled(&mut self, other: &Gradients, factor: f32) -> Result<(), NnError> {
        self.check_same_shapes(other)?;
        for (mine, theirs) in self.tensors.iter_mut().zip(&other.tensors) {
            mine.iter_mut().zip(theirs.iter()).for_each(|(m, t)| *m += factor * t);
        }
        Ok(())
    }

    /// The Euclidean norm of all values together, `√(Σ g²)`, for clipping and monitoring.
    pub fn norm(&self) -> f32 {
        self.tensors.iter().map(|t| t.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>()).sum::<f64>().sqrt()
            as f32
    }

    pub(crate) fn check_same_shapes(&self, other: &Gradients) -> Result<(), NnError> {
        let same = self.tensors.len() == other.tensors.len()
            && self.tensors.iter().zip(&other.tensors).all(|(a, b)| a.shape() == b.shape());
        if same {
            Ok(())
        } else {
            Err(NnError::GradientMismatch { expected: self.tensors.len(), found: other.tensors.len() })
        }
    }

    pub(crate) fn fits(&self, network: &Network) -> Result<(), NnError> {
        let parameters = network.parameters();
        let same = self.tensors.len() == parameters.len()
            && self.tensors.iter().zip(&parameters).all(|(a, b)| a.shape() == b.shape());
        if same {
            Ok(())
        } else {
            Err(NnError::GradientMismatch { expected: parameters.len(), found: self.tensors.len() })
        }
    }
}
