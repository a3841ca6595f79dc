//! Backpropagation against central finite differences (the tolerance is explained in
//! `reference/mod.rs`), and the properties of softmax.

mod reference;

use nn_core::softmax::{argmax, softmax};
use nn_core::{Activation, Gradients, Init, Loss, Mode, Network, Standardization, Targets, Workspace};
use proptest::prelude::*;
use reference::{agrees_with_differences, close, f64_activation};

/// f64 forward pass and mean loss, written independently of the crate; `scaler` is the input
/// standardisation's mean and deviation, `x ← (x − μ) / σ`.
fn reference_loss(
    scaler: Option<&(Vec<f64>, Vec<f64>)>,
    params: &[Vec<f64>],
    shapes: &[(usize, usize)],
    acts: &[Activation],
    loss: Loss,
    x: &[f64],
    t: &[f64],
) -> f64 {
    let inputs = shapes[0].1;
    let outputs = shapes.last().unwrap().0;
    let batch = x.len() / inputs;
    let mut total = 0.0;
    for j in 0..batch {
        let mut a: Vec<f64> = x[j * inputs..(j + 1) * inputs].to_vec();
        if let Some((mean, deviation)) = scaler {
            a.iter_mut().zip(mean).zip(deviation).for_each(|((x, m), d)| *x = (*x - m) / d);
        }
        for (l, &(rows, cols)) in shapes.iter().enumerate() {
            let (w, b) = (&params[2 * l], &params[2 * l + 1]);
            let z: Vec<f64> =
                (0..rows).map(|o| b[o] + (0..cols).map(|i| w[i * rows + o] * a[i]).sum::<f64>()).collect();
            a = z.iter().map(|&z| f64_activation(acts[l], z)).collect();
        }
        let target = &t[j * outputs..(j + 1) * outputs];
        total += match loss {
            Loss::SoftmaxCrossEntropy => {
                let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + a.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                -a.iter().zip(target).map(|(z, t)| t * (z - lse)).sum::<f64>()
            }
            Loss::SigmoidQuadratic => {
                a.iter().zip(target).map(|(z, t)| 0.5 * (1.0 / (1.0 + (-z).exp()) - t).powi(2)).sum::<f64>()
            }
            Loss::IdentityMeanSquared => a.iter().zip(target).map(|(z, t)| 0.5 * (z - t).powi(2)).sum::<f64>(),
        };
    }
    total / batch as f64
}

fn network_strategy() -> impl Strategy<Value = (Vec<usize>, Activation, Loss, u64, usize, bool, bool)> {
    (
        prop::collection::vec(1usize..=8, 3..=5), // inputs, 1 to 3 hidden layers, outputs
        prop::sample::select(Activation::TRAINABLE.to_vec()),
        prop::sample::select(Loss::ALL.to_vec()),
        any::<u64>(),
        1usize..=8,    // batch
        any::<bool>(), // target vectors instead of classes: one-hot, or any numbers for a regression
        any::<bool>(), // inputs standardised by the network
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn backprop_matches_central_differences((mut sizes, hidden, loss, seed, batch, one_hot, standardize) in network_strategy()) {
        let last = sizes.len() - 1;
        sizes[last] = sizes[last].max(2);
        let init = Init { weights: nn_core::WeightInit::GlorotUniform, bias: nn_core::BiasInit::Gaussian };
        let mut net = Network::dense(&sizes, hidden, loss, init, seed).unwrap();
        let outputs = net.output_size();
        // Inputs and targets from the seed too, so that a failure reproduces.
        let mut state = seed;
        let mut next = || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0 };
        let x: Vec<f32> = (0..sizes[0] * batch).map(|_| next()).collect();
        let classes: Vec<usize> = (0..batch).map(|_| ((next() + 2.0) * 1000.0) as usize % outputs).collect();
        let mut t = vec![0.0_f32; outputs * batch];
        for (j, &c) in classes.iter().enumerate() { t[j * outputs + c] = 1.0; }
        if one_hot && loss == Loss::IdentityMeanSquared {
            t.iter_mut().for_each(|v| *v = 2.0 * next());
        }
        let targets = if one_hot { Targets::OneHot(&t) } else { Targets::Classes(&classes) };
        let scaler = standardize.then(|| {
            let mean: Vec<f32> = (0..sizes[0]).map(|_| next()).collect();
            let deviation: Vec<f32> = (0..sizes[0]).map(|_| 0.25 + (next() + 2.0)).collect();
            net.set_standardization(Some(Standardization::new(mean.clone(), deviation.clone()).unwrap())).unwrap();
            let wide = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
            (wide(mean), wide(deviation))
        });
        let scaler = scaler.as_ref();

        let mut workspace = Workspace::new().with_input_gradient();
        let mut gradients = Gradients::zeros_like(&net);
        let loss_value = net.loss_and_gradients(&x, targets, Mode::training(0), &mut workspace, &mut gradients).unwrap();

        let shapes: Vec<(usize, usize)> = net.layers().iter().map(|l| (l.output_size(), l.input_size())).collect();
        let acts: Vec<Activation> = (0..shapes.len()).map(|l| if l + 1 == shapes.len() { Activation::Identity } else { hidden }).collect();
        let mut params: Vec<Vec<f64>> = net.parameters().iter().map(|p| p.iter().map(|&v| f64::from(v)).collect()).collect();
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let t64: Vec<f64> = t.iter().map(|&v| f64::from(v)).collect();
        let reference = reference_loss(scaler, &params, &shapes, &acts, loss, &x64, &t64);
        prop_assert!(close(loss_value, reference), "loss {} vs {}", loss_value, reference);

        let h = 1e-6;
        for p in 0..params.len() {
            for k in 0..params[p].len() {
                let saved = params[p][k];
                params[p][k] = saved + h;
                let plus = reference_loss(scaler, &params, &shapes, &acts, loss, &x64, &t64);
                params[p][k] = saved - h;
                let minus = reference_loss(scaler, &params, &shapes, &acts, loss, &x64, &t64);
                params[p][k] = saved;
                let numeric = (plus - minus) / (2.0 * h);
                let analytic = gradients.tensors()[p].as_slice()[k];
                prop_assert!(agrees_with_differences(analytic, reference, plus, minus, h), "parameter {} index {}: backprop {} vs differences {}", p, k, analytic, numeric);
            }
        }
        let input_gradient = workspace.input_gradient().unwrap();
        let mut x_shifted = x64.clone();
        for k in 0..x64.len() {
            x_shifted[k] = x64[k] + h;
            let plus = reference_loss(scaler, &params, &shapes, &acts, loss, &x_shifted, &t64);
            x_shifted[k] = x64[k] - h;
            let minus = reference_loss(scaler, &params, &shapes, &acts, loss, &x_shifted, &t64);
            x_shifted[k] = x64[k];
            let numeric = (plus - minus) / (2.0 * h);
            prop_assert!(agrees_with_differences(input_gradient[k], reference, plus, minus, h), "input {}: backprop {} vs differences {}", k, input_gradient[k], numeric);
        }
    }

    /// Logits are multiples of 1/256 below 64 in size and shifts are integers, so `z + c` is
    /// exact in f32 and the invariance can be checked bit for bit.
    #[test]
    fn softmax_sums_to_one_and_ignores_shifts(steps in prop::collection::vec(-16384i32..16384, 1..12), shift in -1000i32..1000) {
        let z: Vec<f32> = steps.iter().map(|&k| k as f32 / 256.0).collect();
        let p = softmax(&z);
        // n terms each rounded to half an ulp: |Σp − 1| ≤ n·2⁻²⁴ < 1e-6 for n < 12.
        prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        prop_assert!(p.iter().all(|v| v.is_finite() && *v >= 0.0));
        let shifted: Vec<f32> = z.iter().map(|v| v + shift as f32).collect();
        prop_assert_eq!(softmax(&shifted), p.clone());
        prop_assert_eq!(argmax(&p), argmax(&z));
    }

    #[test]
    fn softmax_of_huge_logits_is_finite(z in prop::collection::vec(-1e30f32..1e30, 1..10)) {
        let p = softmax(&z);
        prop_assert!(p.iter().all(|v| v.is_finite()));
        prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        prop_assert_eq!(argmax(&p), argmax(&z));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A dense layer behind a ReLU that leaves at most a quarter of its inputs nonzero computes
    /// `∂X` at those inputs alone, zero elsewhere (nothing below reads the rest: the ReLU's
    /// derivative is zero there); every gradient, down to the first layer's and the input's,
    /// still matches the differences.
    #[test]
    fn backprop_behind_a_mostly_silent_relu_matches_central_differences(
        inputs in 1usize..=6,
        silent_layer in 8usize..=16,
        hidden in 1usize..=8,
        outputs in 2usize..=5,
        seed in any::<u64>(),
        batch in 1usize..=6,
    ) {
        let sizes = [inputs, silent_layer, hidden, outputs];
        let init = Init { weights: nn_core::WeightInit::GlorotUniform, bias: nn_core::BiasInit::Gaussian };
        let mut net = Network::dense(&sizes, Activation::Relu, Loss::SoftmaxCrossEntropy, init, seed).unwrap();
        // Seven units in eight never fire: at most 2 of 9 inputs of the next layer are nonzero.
        let mut bias = net.parameters()[1].clone();
        bias.iter_mut().enumerate().filter(|(o, _)| o % 8 != 0).for_each(|(_, b)| *b = -100.0);
        net.set_parameter(1, bias).unwrap();
        let mut state = seed;
        let mut next = || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0 };
        let x: Vec<f32> = (0..inputs * batch).map(|_| next()).collect();
        let classes: Vec<usize> = (0..batch).map(|_| ((next() + 2.0) * 1000.0) as usize % outputs).collect();
        let mut t = vec![0.0_f64; outputs * batch];
        for (j, &c) in classes.iter().enumerate() { t[j * outputs + c] = 1.0; }

        let mut workspace = Workspace::new().with_input_gradient();
        let mut gradients = Gradients::zeros_like(&net);
        net.loss_and_gradients(&x, Targets::Classes(&classes), Mode::training(0), &mut workspace, &mut gradients).unwrap();

        let shapes: Vec<(usize, usize)> = net.layers().iter().map(|l| (l.output_size(), l.input_size())).collect();
        let acts = [Activation::Relu, Activation::Relu, Activation::Identity];
        let loss = Loss::SoftmaxCrossEntropy;
        let mut params: Vec<Vec<f64>> = net.parameters().iter().map(|p| p.iter().map(|&v| f64::from(v)).collect()).collect();
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let reference = reference_loss(None, &params, &shapes, &acts, loss, &x64, &t);
        let h = 1e-6;
        for p in 0..params.len() {
            for k in 0..params[p].len() {
                let saved = params[p][k];
                params[p][k] = saved + h;
                let plus = reference_loss(None, &params, &shapes, &acts, loss, &x64, &t);
                params[p][k] = saved - h;
                let minus = reference_loss(None, &params, &shapes, &acts, loss, &x64, &t);
                params[p][k] = saved;
                let analytic = gradients.tensors()[p].as_slice()[k];
                prop_assert!(agrees_with_differences(analytic, reference, plus, minus, h), "parameter {} index {}: backprop {} vs differences {}", p, k, analytic, (plus - minus) / (2.0 * h));
            }
        }
        let input_gradient = workspace.input_gradient().unwrap();
        let mut x_shifted = x64.clone();
        for k in 0..x64.len() {
            x_shifted[k] = x64[k] + h;
            let plus = reference_loss(None, &params, &shapes, &acts, loss, &x_shifted, &t);
            x_shifted[k] = x64[k] - h;
            let minus = reference_loss(None, &params, &shapes, &acts, loss, &x_shifted, &t);
            x_shifted[k] = x64[k];
            prop_assert!(agrees_with_differences(input_gradient[k], reference, plus, minus, h), "input {}: backprop {} vs differences {}", k, input_gradient[k], (plus - minus) / (2.0 * h));
        }
    }
}
