//! What building a network refuses, and when two networks are equal.

use nn_core::nalgebra::DMatrix;
use nn_core::{Activation, Architecture, Dense, Init, Loss, Network, NnError, Shape};

fn dense(inputs: usize, outputs: usize, activation: Activation) -> Dense {
    Dense::new(DMatrix::from_element(outputs, inputs, 0.1), DMatrix::zeros(outputs, 1), activation).unwrap()
}

#[test]
fn a_sigmoid_before_the_sigmoid_loss_is_refused() {
    let layers = vec![dense(4, 3, Activation::Relu), dense(3, 2, Activation::Sigmoid)];
    let error = Network::from_dense(layers.clone(), Loss::SigmoidQuadratic).unwrap_err();
    assert_eq!(error, NnError::OutputFunctionTwice { layer: 1, loss: Loss::SigmoidQuadratic });
    assert!(error.to_string().contains("applies the sigmoid again"), "{error}");
    // Softmax over sigmoid outputs is unusual but applies no function twice.
    let mut net = Network::from_dense(layers, Loss::SoftmaxCrossEntropy).unwrap();
    assert!(matches!(net.set_loss(Loss::SigmoidQuadratic), Err(NnError::OutputFunctionTwice { .. })));
    assert_eq!(net.loss(), Loss::SoftmaxCrossEntropy, "a refused loss is not set");

    // The same through an architecture, looking through a trailing dropout.
    let arch: Architecture = "dense(3) relu dense(2) sigmoid dropout(0.5)".parse().unwrap();
    let error = arch.with_input(Shape::flat(4)).build(Loss::SigmoidQuadratic, Init::GLOROT, 1).unwrap_err();
    assert!(matches!(error, NnError::OutputFunctionTwice { layer: 1, .. }), "{error}");
    // And through poolings: a mean or a maximum of sigmoids is still in (0, 1).
    for pool in ["maxpool(2)", "avgpool(2)", "globalavgpool", "avgpool(2) globalavgpool flatten"] {
        let arch: Architecture = format!("conv(3,3) sigmoid {pool}").parse().unwrap();
        let error = arch.with_input(Shape::new(1, 6, 6)).build(Loss::SigmoidQuadratic, Init::GLOROT, 1).unwrap_err();
        assert!(matches!(error, NnError::OutputFunctionTwice { layer: 0, .. }), "{pool}: {error}");
    }
    // An affine last layer is what the sigmoid loss expects.
    assert!(Network::dense(&[4, 3, 2], Activation::Sigmoid, Loss::SigmoidQuadratic, Init::NIELSEN, 1).is_ok());
}

#[test]
fn networks_are_equal_when_loss_layers_and_parameters_are() {
    let net = Network::dense(&[4, 3, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 5).unwrap();
    assert_eq!(net, net.clone());
    let other_seed = Network::dense(&[4, 3, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 6).unwrap();
    assert_ne!(net, other_seed);
    let mut other_loss = net.clone();
    other_loss.set_loss(Loss::SigmoidQuadratic).unwrap();
    assert_ne!(net, other_loss);
    let mut nudged = net.clone();
    nudged.parameters_mut()[0][(0, 0)] += 1e-3;
    assert_ne!(net, nudged);
}
