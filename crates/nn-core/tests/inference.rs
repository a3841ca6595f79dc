//! Inference: single and batched predictions agree exactly; accuracy over a data set.

use nn_core::{Activation, Gradients, Init, Loss, Mode, Network, NnError, Targets, Workspace};

fn data(samples: usize, features: usize) -> Vec<f32> {
    (0..samples * features).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect()
}

#[test]
fn single_and_batched_predictions_are_identical() {
    for (sizes, hidden) in [
        (vec![784, 30, 10], Activation::Sigmoid),
        (vec![20, 64, 32, 10], Activation::Relu),
        (vec![3, 4, 2], Activation::Tanh),
    ] {
        let net = Network::dense(&sizes, hidden, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
        let inputs = data(103, sizes[0]);
        let batch = net.predict_batch(&inputs).unwrap();
        for (j, sample) in inputs.chunks(sizes[0]).enumerate() {
            assert_eq!(net.predict(sample).unwrap().as_slice(), batch.column(j).as_slice(), "sample {j} of {sizes:?}");
        }
        let labels: Vec<usize> = (0..103).map(|j| j % sizes[sizes.len() - 1]).collect();
        let reference = net.evaluate(&inputs, &labels, 103).unwrap();
        for batch_size in [1, 3, 7, 100, 1000] {
            let classes = net.classify_batch(&inputs, batch_size).unwrap();
            let single: Vec<usize> = inputs.chunks(sizes[0]).map(|s| net.classify(s).unwrap()).collect();
            assert_eq!(classes, single);
            let evaluation = net.evaluate(&inputs, &labels, batch_size).unwrap();
            assert_eq!(evaluation.correct, reference.correct);
            let (together, predicted) = net.evaluate_and_classify(&inputs, &labels, batch_size).unwrap();
            assert_eq!((together, predicted), (evaluation, single));
            assert!((evaluation.loss - reference.loss).abs() < 1e-6);
        }
    }
}

#[test]
fn bad_inputs_give_errors_not_panics() {
    let net = Network::dense(&[4, 3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    assert_eq!(net.predict(&[1.0; 3]), Err(NnError::InputSize { expected: 4, found: 3 }));
    assert_eq!(net.predict_batch(&[1.0; 6]).unwrap_err(), NnError::RaggedInput { len: 6, features: 4 });
    assert_eq!(net.predict_batch(&[]).unwrap_err(), NnError::EmptyBatch);
    assert_eq!(net.evaluate(&[1.0; 8], &[0, 1], 0).unwrap_err(), NnError::EmptyBatch);
    assert!(matches!(
        net.evaluate(&[1.0; 8], &[0, 2], 10),
        Err(NnError::ClassOutOfRange { sample: 1, class: 2, classes: 2 })
    ));
    assert!(matches!(net.evaluate(&[1.0; 8], &[0], 10), Err(NnError::TargetCount { .. })));
    assert!(matches!(
        Network::dense(&[4], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1),
        Err(NnError::TooFewSizes(1))
    ));
    assert!(matches!(
        Network::dense(&[4, 0, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1),
        Err(NnError::EmptyLayer { layer: 0, .. })
    ));
    // An input that is not a number is named, not answered with a uniform guess.
    let mut nan_image = vec![0.5; 8];
    nan_image[6] = f32::NAN;
    let named = NnError::NonFiniteInput { sample: 1, index: 2, value: f32::NAN };
    for error in [
        net.predict_batch(&nan_image).unwrap_err(),
        net.evaluate(&nan_image, &[0, 1], 10).unwrap_err(),
        net.classify_batch(&nan_image, 1).unwrap_err(),
    ] {
        assert!(matches!(error, NnError::NonFiniteInput { sample: 1, index: 2, value } if value.is_nan()), "{error}");
    }
    assert!(named.to_string().contains("input value 2 of sample 1 is NaN"), "{named}");
    let infinite = net.predict(&[1.0, f32::INFINITY, 0.0, 0.0]).unwrap_err();
    assert!(matches!(infinite, NnError::NonFiniteInput { sample: 0, index: 1, value } if value == f32::INFINITY));
    // Too large a layer is refused before anything is allocated, as `dense(N)` is in an
    // architecture: no abort, no capacity overflow.
    for sizes in [[784, 4_000_000_000, 10], [784, usize::MAX, 10], [usize::MAX, 2, 10]] {
        let refused = Network::dense(&sizes, Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap_err();
        assert!(refused.to_string().contains("too large"), "{sizes:?}: {refused}");
        assert_eq!(Network::check_dense_sizes(&sizes), Err(refused));
    }
    let other = Network::dense(&[4, 5, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let mut gradients = Gradients::zeros_like(&other);
    let result = net.loss_and_gradients(
        &[1.0; 4],
        Targets::Classes(&[0]),
        Mode::training(0),
        &mut Workspace::new(),
        &mut gradients,
    );
    assert!(matches!(result, Err(NnError::GradientMismatch { .. })));
}

#[test]
fn training_a_step_network_is_a_clear_error() {
    let net = Network::dense(&[2, 3, 2], Activation::Step, Loss::SigmoidQuadratic, Init::GLOROT, 1).unwrap();
    assert!(net.predict(&[0.5, -0.5]).is_ok(), "inference is fine");
    let mut gradients = Gradients::zeros_like(&net);
    let error = net
        .loss_and_gradients(
            &[0.5, -0.5],
            Targets::Classes(&[1]),
            Mode::training(0),
            &mut Workspace::new(),
            &mut gradients,
        )
        .unwrap_err();
    assert_eq!(error, NnError::StepNotTrainable { layer: 0 });
    assert!(error.to_string().contains("inference only"));
}

#[test]
fn same_seed_same_network_bit_for_bit() {
    let build =
        |seed| Network::dense(&[784, 128, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap();
    assert_eq!(build(9).parameters(), build(9).parameters());
    assert_ne!(build(9).parameters(), build(10).parameters());
}

#[test]
fn gradients_of_shards_combine_into_the_gradient_of_the_batch() {
    let net = Network::dense(&[10, 16, 4], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 2).unwrap();
    let inputs = data(12, 10);
    let labels: Vec<usize> = (0..12).map(|j| j % 4).collect();
    let mut workspace = Workspace::new();
    let mut whole = Gradients::zeros_like(&net);
    net.loss_and_gradients(&inputs, Targets::Classes(&labels), Mode::training(0), &mut workspace, &mut whole).unwrap();
    let mut combined = Gradients::zeros_like(&net);
    let mut shard = Gradients::zeros_like(&net);
    for (part, classes) in inputs.chunks(4 * 10).zip(labels.chunks(4)) {
        net.loss_and_gradients(part, Targets::Classes(classes), Mode::training(0), &mut workspace, &mut shard).unwrap();
        combined.add_scaled(&shard, 4.0 / 12.0).unwrap();
    }
    for (a, b) in whole.tensors().iter().zip(combined.tensors()) {
        assert!((a - b).abs().max() < 1e-6);
    }
}

/// Batches wider than any of the product's internal thresholds (256 columns, 512 inner values,
/// one-row layers) still give each sample the bits of its single prediction.
#[test]
fn wide_batches_and_one_unit_layers_match_single_predictions() {
    for sizes in [vec![784, 1, 37, 2], vec![1100, 64, 10]] {
        let net = Network::dense(&sizes, Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::HE, 2).unwrap();
        let inputs = data(333, sizes[0]);
        let batch = net.predict_batch(&inputs).unwrap();
        for (j, sample) in inputs.chunks(sizes[0]).enumerate() {
            assert_eq!(net.predict(sample).unwrap().as_slice(), batch.column(j).as_slice(), "sample {j} of {sizes:?}");
        }
    }
}

#[test]
fn parameters_of_another_shape_are_refused_never_read_out_of_bounds() {
    use nn_core::nalgebra::DMatrix;
    let mut net = Network::dense(&[4, 3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let before = net.predict(&[0.5; 4]).unwrap();
    // Through parameters_mut, a matrix of another shape: every pass refuses, none panics.
    let saved = net.parameters()[0].clone();
    *net.parameters_mut()[0] = DMatrix::zeros(1, 1);
    let refused = NnError::ParameterShape { layer: 0, name: "weights", expected: (3, 4), found: (1, 1) };
    assert_eq!(net.predict(&[0.5; 4]), Err(refused.clone()));
    assert_eq!(net.evaluate(&[0.5; 4], &[0], 1).unwrap_err(), refused);
    let mut gradients = Gradients::zeros_like(
        &Network::dense(&[4, 3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap(),
    );
    let step = net.loss_and_gradients(
        &[0.5; 4],
        Targets::Classes(&[0]),
        Mode::training(0),
        &mut Workspace::new(),
        &mut gradients,
    );
    assert!(step.is_err());
    *net.parameters_mut()[0] = saved;
    assert_eq!(net.predict(&[0.5; 4]).unwrap(), before, "put back, it runs as before");

    // set_parameter checks the shape and the values.
    assert_eq!(
        net.set_parameter(1, DMatrix::zeros(2, 1)),
        Err(NnError::ParameterShape { layer: 0, name: "bias", expected: (3, 1), found: (2, 1) })
    );
    let mut nan = DMatrix::zeros(2, 3);
    nan[(1, 2)] = f32::NAN;
    assert!(matches!(net.set_parameter(2, nan), Err(NnError::NonFinite { layer: 1, name: "weights", index: 5, .. })));
    assert!(matches!(net.set_parameter(4, DMatrix::zeros(1, 1)), Err(NnError::ParameterCount { .. })));
    net.set_parameter(2, DMatrix::zeros(2, 3)).unwrap();
    assert_eq!(net.parameters()[2], &DMatrix::zeros(2, 3));
    assert_ne!(net.predict(&[0.5; 4]).unwrap(), before);
}
