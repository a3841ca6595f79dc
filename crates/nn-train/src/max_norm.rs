//! The max-norm constraint (Srivastava et al., 2014, with dropout): after every step, a neuron's
//! or filter's incoming weights are scaled back onto the ball of radius `c` when they leave it.

use nn_core::Network;

/// For each row `w` of every weight matrix (a neuron's or a filter's incoming weights):
/// `w ← w · c / ‖w‖` where `‖w‖ > c`. Biases are left alone. Row by row, in a fixed order, so the
/// result does not depend on threads.
pub(crate) fn constrain_max_norm(network: &mut Network, c: f32) {
    let weights: Vec<bool> = network
        .layers()
        .iter()
        .flat_map(|layer| layer.parameter_names().iter().map(|&name| name == "weights"))
        .collect();
    for (matrix, is_weights) in network.parameters_mut().into_iter().zip(weights) {
        if !is_weights {
            continue;
        }
        let rows = matrix.nrows();
        // Column-major: the squared norms of all rows are summed one column at a time.
        let mut squares = vec![0.0_f32; rows];
        for column in matrix.as_slice().chunks_exact(rows) {
            for (sum, w) in squares.iter_mut().zip(column) {
                *sum += w * w;
            }
        }
        let factors: Vec<f32> = squares.iter().map(|&s| if s > c * c { c / s.sqrt() } else { 1.0 }).collect();
        if factors.iter().all(|&f| f == 1.0) {
            continue;
        }
        for column in matrix.as_mut_slice().chunks_exact_mut(rows) {
            for (w, f) in column.iter_mut().zip(&factors) {
                *w *= f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nn_core::{Activation, Init, Loss};

    use super::*;

    #[test]
    fn long_rows_are_scaled_to_the_bound_and_short_ones_kept() {
        let mut net = Network::dense(&[50, 8, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 4).unwrap();
        let before: Vec<Vec<f32>> = net.parameters().iter().map(|p| p.as_slice().to_vec()).collect();
        let row_norms = |m: &nn_core::nalgebra::DMatrix<f32>| -> Vec<f32> {
            m.row_iter().map(|row| row.iter().map(|w| w * w).sum::<f32>().sqrt()).collect()
        };
        let c = 0.9 * row_norms(net.parameters()[0]).into_iter().fold(f32::MAX, f32::min).max(0.1);
        let first_layer_norms = row_norms(net.parameters()[0]);
        constrain_max_norm(&mut net, c);
        let after = net.parameters();
        for (norm_before, norm_after) in first_layer_norms.iter().zip(row_norms(after[0])) {
            let expected = norm_before.min(c);
            assert!((norm_after - expected).abs() <= 1e-5 * expected.max(1.0), "{norm_after} vs {expected}");
        }
        assert_eq!(after[1].as_slice(), &before[1][..], "biases are not constrained");
        let mut loose = Network::dense(&[50, 8, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 4).unwrap();
        constrain_max_norm(&mut loose, 1e6);
        assert_eq!(loose.parameters()[0].as_slice(), &before[0][..], "rows within the bound are untouched");
    }
}
