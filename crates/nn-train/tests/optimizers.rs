//! One-step and two-step updates of each optimizer against the formulas, computed by hand in
//! f64 on a 2-input, 1-output layer.

use nalgebra::DMatrix;
use nn_core::{Activation, Dense, Gradients, Loss, Network};
use nn_train::{Optimizer, OptimizerConfig};

const W: [f64; 2] = [0.5, -1.0];
const B: f64 = 0.25;
const G1: [f64; 3] = [0.1, -0.2, 0.3]; // ∂W₀, ∂W₁, ∂b of step 1
const G2: [f64; 3] = [-0.05, 0.4, 0.3]; // of step 2
const LR: f64 = 0.01;
const WD: f64 = 0.1;

fn network() -> Network {
    let weights = DMatrix::from_row_slice(1, 2, &[W[0] as f32, W[1] as f32]);
    let bias = DMatrix::from_element(1, 1, B as f32);
    Network::from_dense(vec![Dense::new(weights, bias, Activation::Identity).unwrap()], Loss::SoftmaxCrossEntropy)
        .unwrap()
}

fn gradients(net: &Network, values: [f64; 3]) -> Gradients {
    let mut gradients = Gradients::zeros_like(net);
    let tensors = gradients.tensors_mut();
    tensors[0].as_mut_slice().copy_from_slice(&[values[0] as f32, values[1] as f32]);
    tensors[1].as_mut_slice()[0] = values[2] as f32;
    gradients
}

/// Runs two steps of `config` and compares with `expected(step, index, p, g)` applied by hand.
fn check(config: OptimizerConfig, mut update: impl FnMut(usize, f64, f64) -> f64) {
    let mut net = network();
    let mut optimizer = Optimizer::new(config, WD as f32).unwrap();
    let mut expected = [W[0], W[1], B];
    for g in [G1, G2] {
        let grads = gradients(&net, g);
        optimizer.step(&mut net, &grads, LR as f32).unwrap();
        for index in 0..3 {
            // Weight decay on the weights only: g += wd·w.
            let decayed = if index < 2 { g[index] + WD * expected[index] } else { g[index] };
            expected[index] -= update(index, decayed, expected[index]);
        }
        let params = net.parameters();
        let got = [params[0][0], params[0][1], params[1][0]];
        for (index, (got, want)) in got.iter().zip(expected).enumerate() {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{config}: parameter {index}: {got} vs {want}");
        }
    }
    assert_eq!(optimizer.state().steps, 2);
}

#[test]
fn sgd() {
    check(OptimizerConfig::Sgd, |_, g, _| LR * g);
}

#[test]
fn momentum_and_nesterov() {
    for nesterov in [false, true] {
        let mu = 0.9;
        let mut buffers = [0.0; 3];
        let config = OptimizerConfig::Momentum { momentum: mu as f32, nesterov };
        check(config, |i, g, _| {
            buffers[i] = mu * buffers[i] + g;
            LR * if nesterov { g + mu * buffers[i] } else { buffers[i] }
        });
    }
}

#[test]
fn rmsprop() {
    let (rho, epsilon) = (0.9, 1e-7);
    let mut s = [0.0; 3];
    check(OptimizerConfig::rmsprop(), |i, g, _| {
        s[i] = rho * s[i] + (1.0 - rho) * g * g;
        LR * g / (s[i].sqrt() + epsilon)
    });
}

#[test]
fn adam() {
    let (beta1, beta2, epsilon) = (0.9, 0.999, 1e-8);
    let (mut m, mut v, mut t) = ([0.0; 3], [0.0; 3], [0; 3]);
    check(OptimizerConfig::adam(), |i, g, _| {
        t[i] += 1;
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        let m_hat = m[i] / (1.0 - f64::powi(beta1, t[i]));
        let v_hat = v[i] / (1.0 - f64::powi(beta2, t[i]));
        LR * m_hat / (v_hat.sqrt() + epsilon)
    });
}

#[test]
fn adam_first_step_moves_by_the_learning_rate() {
    // m̂ = g and v̂ = g² after one step, so every parameter moves by lr·sign(g).
    let mut net = network();
    let mut optimizer = Optimizer::new(OptimizerConfig::adam(), 0.0).unwrap();
    let grads = gradients(&net, G1);
    optimizer.step(&mut net, &grads, 0.01).unwrap();
    let params = net.parameters();
    assert!(
        (params[0][0] - 0.49).abs() < 1e-7 && (params[0][1] + 0.99).abs() < 1e-7 && (params[1][0] - 0.24).abs() < 1e-7
    );
}

#[test]
fn a_state_of_another_network_is_refused() {
    let mut net = network();
    let mut optimizer = Optimizer::new(OptimizerConfig::adam(), 0.0).unwrap();
    let grads = gradients(&net, G1);
    optimizer.step(&mut net, &grads, 0.01).unwrap();
    let other = Network::dense(&[3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, nn_core::Init::HE, 1).unwrap();
    assert!(optimizer.check_fits(&other).is_err());
    let mut resumed = Optimizer::with_state(OptimizerConfig::adam(), 0.0, optimizer.state().clone()).unwrap();
    let mut other = other;
    let grads = Gradients::zeros_like(&other);
    assert!(resumed.step(&mut other, &grads, 0.01).is_err());
}
