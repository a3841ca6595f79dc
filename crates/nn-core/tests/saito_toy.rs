//! Saitō's three-layer toy network (*Deep Learning from Scratch*, section 3.4.3: `init_network`
//! and `forward`), built in code: 2 inputs, hidden layers of 3 and 2 sigmoid units, 2 identity
//! outputs. The book prints `[ 0.31682708  0.69627909]` for the input `(1.0, 0.5)`.

use nn_core::nalgebra::DMatrix;
use nn_core::{
    Activation, Classifier, Committee, Dense, Gradients, Init, Loss, Mode, Network, Predictions, Targets, Workspace,
};

/// The book's printed outputs for `x = (1.0, 0.5)`.
const BOOK_OUTPUTS: [f64; 2] = [0.316_827_08, 0.696_279_09];

/// A dense layer from NumPy's `x @ W + b` weights, given as rows of `W` (one row per input).
fn layer(w_rows: &[&[f32]], b: &[f32], activation: Activation) -> Dense {
    let (inputs, outputs) = (w_rows.len(), b.len());
    let numpy = DMatrix::from_row_slice(inputs, outputs, &w_rows.concat());
    Dense::new(numpy.transpose(), DMatrix::from_column_slice(outputs, 1, b), activation).unwrap()
}

fn toy() -> Network {
    let layers = vec![
        layer(&[&[0.1, 0.3, 0.5], &[0.2, 0.4, 0.6]], &[0.1, 0.2, 0.3], Activation::Sigmoid),
        layer(&[&[0.1, 0.4], &[0.2, 0.5], &[0.3, 0.6]], &[0.1, 0.2], Activation::Sigmoid),
        layer(&[&[0.1, 0.3], &[0.2, 0.4]], &[0.1, 0.2], Activation::Identity),
    ];
    Network::from_dense(layers, Loss::IdentityMeanSquared).unwrap()
}

#[test]
fn the_toy_network_gives_the_books_outputs() {
    let net = toy();
    assert_eq!(net.sizes(), vec![2, 3, 2, 2]);
    let y = net.predict(&[1.0, 0.5]).unwrap();
    for (found, book) in y.iter().zip(BOOK_OUTPUTS) {
        assert!((f64::from(*found) - book).abs() < 1e-6, "{y:?} vs the book's {BOOK_OUTPUTS:?}");
    }
    let summary = net.summary().to_string();
    assert!(summary.contains("output: identity (identity_mean_squared)"), "{summary}");
}

#[test]
fn its_mean_squared_error_is_the_books_half_sum_of_squares_averaged_over_samples() {
    let net = toy();
    let x = [1.0, 0.5, 1.0, 0.5];
    let t = [0.0, 1.0, 1.0, 0.0];
    let mut gradients = Gradients::zeros_like(&net);
    let loss = net
        .loss_and_gradients(&x, Targets::OneHot(&t), Mode::Inference, &mut Workspace::new(), &mut gradients)
        .unwrap();
    let [y0, y1] = BOOK_OUTPUTS;
    // Saitō's sum_squared_error, ½ Σ (y − t)², of each sample, then their mean.
    let first = 0.5 * (y0.powi(2) + (y1 - 1.0).powi(2));
    let second = 0.5 * ((y0 - 1.0).powi(2) + y1.powi(2));
    assert!((f64::from(loss) - (first + second) / 2.0).abs() < 1e-6, "{loss}");
    // The same sample with opposite targets: the last bias's gradient is the mean of (y − t).
    let last_bias = gradients.tensors().last().unwrap().as_slice().to_vec();
    let expected = [(y0 + (y0 - 1.0)) / 2.0, ((y1 - 1.0) + y1) / 2.0];
    for (g, e) in last_bias.iter().zip(expected) {
        assert!((f64::from(*g) - e).abs() < 1e-6, "{last_bias:?} vs {expected:?}");
    }
}

#[test]
fn a_regression_trains_on_vector_targets() {
    // Two points to fit, targets any real numbers: y = (x0 − x1, 2 x1).
    let x = [1.0, 0.5, -0.5, 1.0];
    let t = [0.5, 1.0, -1.5, 2.0];
    let mut net = Network::dense(&[2, 8, 2], Activation::Tanh, Loss::IdentityMeanSquared, Init::GLOROT, 3).unwrap();
    let (mut workspace, mut gradients) = (Workspace::new(), Gradients::zeros_like(&net));
    let mut first = None;
    let mut last = f32::INFINITY;
    for _ in 0..500 {
        last =
            net.loss_and_gradients(&x, Targets::OneHot(&t), Mode::training(0), &mut workspace, &mut gradients).unwrap();
        first.get_or_insert(last);
        net.sgd_step(&gradients, 0.1).unwrap();
    }
    assert!(last < 1e-3 && last < first.unwrap() / 100.0, "loss {first:?} -> {last}");
    let y = net.predict_rows(&x).unwrap();
    for (found, wanted) in y.as_slice().iter().zip(t) {
        assert!((found - wanted).abs() < 0.1, "{y:?} vs {t:?}");
    }
}

#[test]
fn rows_and_columns_hold_the_same_outputs_transposed() {
    let net = toy();
    let x: Vec<f32> = (0..14).map(|i| (i as f32 * 0.37).sin()).collect(); // 7 samples
    let columns = net.predict_batch(&x).unwrap();
    let rows = net.predict_rows(&x).unwrap();
    assert_eq!(columns.shape(), (2, 7));
    assert_eq!(rows.shape(), (7, 2));
    assert_eq!(rows.to_matrix(), columns.transpose());
    for j in 0..7 {
        assert_eq!(rows.row(j).unwrap(), columns.column(j).as_slice());
        assert_eq!(rows.row(j).unwrap(), net.predict(&x[2 * j..2 * j + 2]).unwrap().as_slice());
    }
    assert_eq!(rows.argmax(), net.classify_batch(&x, 3).unwrap());
    // The trait's form, for a committee too.
    let committee = Committee::new(vec![toy(), toy()]).unwrap();
    let committee_rows: Predictions = Classifier::predict_rows(&committee, &x).unwrap();
    assert_eq!(committee_rows.to_matrix(), committee.predict_batch(&x).unwrap().transpose());
}
