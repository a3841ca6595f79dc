//! Convolution, max- and average pooling, batch normalisation, flattening and stand-alone
//! activations against a plain f64 reference written from the definitions (channels first,
//! direct sums, no im2col), and their backpropagation against central finite differences of that
//! reference, on random shapes, strides and paddings.
//!
//! The activations and the tolerance are those of `gradient_check.rs` (`reference/mod.rs`).

mod reference;

use nn_core::{
    Activation, Architecture, BatchNorm, Conv2d, Dense, Gradients, Init, LayerSpec, Loss, Mode, Network, Shape,
    Targets, Workspace,
};
use proptest::prelude::*;
use reference::{agrees_with_differences, close, f64_activation};

/// One layer of the reference, with its parameters as f64 in the books' layouts.
#[derive(Debug, Clone)]
enum Reference {
    /// Kernel `(filters, channels, kh, kw)` in C order, bias, input shape, stride, padding.
    Conv {
        kernel: Vec<f64>,
        bias: Vec<f64>,
        filters: usize,
        k: (usize, usize),
        input: Shape,
        stride: usize,
        pad: usize,
        act: Activation,
    },
    Pool {
        window: usize,
        stride: usize,
        input: Shape,
    },
    AvgPool {
        window: usize,
        stride: usize,
        input: Shape,
    },
    /// The mean of each channel.
    GlobalAvgPool {
        input: Shape,
    },
    /// Batch normalisation in training: each channel by the mean and biased variance of the
    /// batch (over its samples and pixels), then `γ·x̂ + β`.
    BatchNorm {
        scale: Vec<f64>,
        shift: Vec<f64>,
        input: Shape,
    },
    /// Weights `outputs × inputs` column-major (ours), bias.
    Dense {
        weights: Vec<f64>,
        bias: Vec<f64>,
        act: Activation,
    },
    Identity,
    /// An activation on its own.
    Act(Activation),
}

impl Reference {
    /// Forward pass of one sample stored channels first.
    fn forward(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Reference::Conv { kernel, bias, filters, k, input, stride, pad, act } => {
                let oh = (input.height + 2 * pad - k.0) / stride + 1;
                let ow = (input.width + 2 * pad - k.1) / stride + 1;
                let mut out = vec![0.0; filters * oh * ow];
                for o in 0..*filters {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let mut z = bias[o];
                            for c in 0..input.channels {
                                for ky in 0..k.0 {
                                    for kx in 0..k.1 {
                                        let iy = (y * stride + ky) as isize - *pad as isize;
                                        let ix = (xx * stride + kx) as isize - *pad as isize;
                                        if iy < 0 || ix < 0 || iy >= input.height as isize || ix >= input.width as isize
                                        {
                                            continue;
                                        }
                                        let value = x[(c * input.height + iy as usize) * input.width + ix as usize];
                                        z += kernel[((o * input.channels + c) * k.0 + ky) * k.1 + kx] * value;
                                    }
                                }
                            }
                            out[(o * oh + y) * ow + xx] = f64_activation(*act, z);
                        }
                    }
                }
                out
            }
            Reference::Pool { window, stride, input } => {
                let oh = (input.height - window) / stride + 1;
                let ow = (input.width - window) / stride + 1;
                let mut out = vec![f64::NEG_INFINITY; input.channels * oh * ow];
                for c in 0..input.channels {
                    for y in 0..oh {
                        for xx in 0..ow {
                            for dy in 0..*window {
                                for dx in 0..*window {
                                    let v = x[(c * input.height + y * stride + dy) * input.width + xx * stride + dx];
                                    let slot = &mut out[(c * oh + y) * ow + xx];
                                    *slot = slot.max(v);
                                }
                            }
                        }
                    }
                }
                out
            }
            Reference::AvgPool { window, stride, input } => {
                let oh = (input.height - window) / stride + 1;
                let ow = (input.width - window) / stride + 1;
                let mut out = vec![0.0; input.channels * oh * ow];
                for c in 0..input.channels {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let mut sum = 0.0;
                            for dy in 0..*window {
                                for dx in 0..*window {
                                    sum += x[(c * input.height + y * stride + dy) * input.width + xx * stride + dx];
                                }
                            }
                            out[(c * oh + y) * ow + xx] = sum / (window * window) as f64;
                        }
                    }
                }
                out
            }
            Reference::GlobalAvgPool { input } => {
                let pixels = input.height * input.width;
                x.chunks(pixels).map(|plane| plane.iter().sum::<f64>() / pixels as f64).collect()
            }
            Reference::Dense { weights, bias, act } => {
                let outputs = bias.len();
                (0..outputs)
                    .map(|o| {
                        f64_activation(
                            *act,
                            bias[o] + x.iter().enumerate().map(|(i, v)| weights[i * outputs + o] * v).sum::<f64>(),
                        )
                    })
                    .collect()
            }
            Reference::BatchNorm { .. } => unreachable!("batch normalisation reads the whole batch"),
            Reference::Identity => x.to_vec(),
            Reference::Act(activation) => x.iter().map(|&z| f64_activation(*activation, z)).collect(),
        }
    }

    /// Forward pass of a batch of samples stored channels first.
    fn forward_batch(&self, samples: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        let Reference::BatchNorm { scale, shift, input } = self else {
            return samples.iter().map(|x| self.forward(x)).collect();
        };
        let pixels = input.height * input.width;
        let count = (samples.len() * pixels) as f64;
        let mut out = samples.clone();
        for c in 0..input.channels {
            let values = || samples.iter().flat_map(|x| x[c * pixels..(c + 1) * pixels].iter().copied());
            let mean = values().sum::<f64>() / count;
            let variance = values().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
            let deviation = (variance + 1e-5).sqrt();
            for sample in &mut out {
                for v in &mut sample[c * pixels..(c + 1) * pixels] {
                    *v = scale[c] * (*v - mean) / deviation + shift[c];
                }
            }
        }
        out
    }

    fn parameters_mut(&mut self) -> Vec<&mut Vec<f64>> {
        match self {
            Reference::Conv { kernel, bias, .. } => vec![kernel, bias],
            Reference::Dense { weights, bias, .. } => vec![weights, bias],
            Reference::BatchNorm { scale, shift, .. } => vec![scale, shift],
            _ => Vec::new(),
        }
    }
}

/// The reference of a network, its parameters converted to f64 and to the books' layouts.
fn reference_of(net: &Network) -> Vec<Reference> {
    net.layers()
        .iter()
        .map(|layer| {
            let f64s = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
            match layer.spec() {
                LayerSpec::Conv { filters, kernel, stride, padding, activation } => {
                    let conv = layer.as_any().downcast_ref::<Conv2d>().unwrap();
                    Reference::Conv {
                        kernel: f64s(&conv.weights_channels_first()),
                        bias: f64s(conv.bias().as_slice()),
                        filters,
                        k: kernel,
                        input: layer.input_shape(),
                        stride,
                        pad: padding,
                        act: activation,
                    }
                }
                LayerSpec::MaxPool { window, stride } => Reference::Pool { window, stride, input: layer.input_shape() },
                LayerSpec::AvgPool { window, stride } => {
                    Reference::AvgPool { window, stride, input: layer.input_shape() }
                }
                LayerSpec::GlobalAvgPool => Reference::GlobalAvgPool { input: layer.input_shape() },
                LayerSpec::BatchNorm => {
                    let norm = layer.as_any().downcast_ref::<BatchNorm>().unwrap();
                    Reference::BatchNorm {
                        scale: f64s(norm.scale().as_slice()),
                        shift: f64s(norm.shift().as_slice()),
                        input: layer.input_shape(),
                    }
                }
                LayerSpec::Dense { activation, .. } => {
                    let dense = layer.as_any().downcast_ref::<Dense>().unwrap();
                    Reference::Dense {
                        weights: f64s(dense.weights().as_slice()),
                        bias: f64s(dense.bias().as_slice()),
                        act: activation,
                    }
                }
                LayerSpec::Flatten => Reference::Identity,
                LayerSpec::Activation(activation) => Reference::Act(activation),
                other => panic!("no reference for {other}"),
            }
        })
        .collect()
}

/// Mean softmax cross-entropy of `batch` samples stored channels first.
fn reference_loss(layers: &[Reference], x: &[f64], classes: &[usize]) -> f64 {
    let per_sample = x.len() / classes.len();
    let samples = x.chunks(per_sample).map(<[f64]>::to_vec).collect();
    let logits = layers.iter().fold(samples, |a, layer| layer.forward_batch(a));
    let mut total = 0.0;
    for (z, &class) in logits.iter().zip(classes) {
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        total += lse - z[class];
    }
    total / classes.len() as f64
}

/// An activation after a layer, or none.
fn activation_strategy() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " tanh", " sigmoid", " relu", " leaky_relu:0.1"])
}

/// A random small network: a convolution, maybe a max-pooling, maybe a second convolution,
/// flatten, dense. Returns the architecture text for failure messages.
fn architecture_strategy() -> impl Strategy<Value = (Shape, String)> {
    // An activation after a pooling stays a layer of its own.
    let pool = prop::option::of((1usize..=2, 1usize..=2, activation_strategy()))
        .prop_map(|pool| pool.map(|(window, stride, act)| format!(" maxpool({window},stride={stride}){act}")));
    network_strategy(pool, Just("flatten"))
}

/// A random small network with an average pooling (windows up to 3, so that they overlap, leave
/// gaps or leave an edge out), and maybe a global one before the dense layer, with or without a
/// flatten.
fn average_pooling_strategy() -> impl Strategy<Value = (Shape, String)> {
    let pool = (1usize..=3, 1usize..=3, activation_strategy())
        .prop_map(|(window, stride, act)| Some(format!(" avgpool({window},stride={stride}){act}")));
    network_strategy(pool, prop::sample::select(vec!["flatten", "globalavgpool", "globalavgpool flatten"]))
}

/// A convolution without activation, a batch normalisation with one, maybe a max-pooling, then
/// `flatten` and a dense layer, maybe normalised too (after which batches of one sample see a
/// variance of 0, and every output is β).
fn batch_norm_strategy() -> impl Strategy<Value = (Shape, String)> {
    (
        (1usize..=3, 3usize..=6, 3usize..=6),
        (1usize..=4, 1usize..=3, activation_strategy()),
        prop::bool::ANY,
        prop::sample::select(vec!["flatten", "flatten dense(5) batchnorm tanh", "globalavgpool batchnorm"]),
        2usize..=4,
    )
        .prop_filter_map("the layers must fit", |((c, h, w), (filters, kernel, act), pool, ending, outputs)| {
            let input = Shape::new(c, h, w);
            let pool = if pool { " maxpool(2)" } else { "" };
            let text = format!("conv({filters},{kernel},pad=1) batchnorm{act}{pool} {ending} dense({outputs})");
            let arch: Architecture = text.parse().ok()?;
            arch.with_input(input).build(Loss::SoftmaxCrossEntropy, Init::GLOROT, 0).ok()?;
            Some((input, text))
        })
}

/// Two convolutions, the second followed by ReLU and a max-pooling so wide that nearly all of
/// its `δZ` is zero: its backward visits the nonzero values only (`conv_sparse.rs`, taken below
/// 5% nonzero: at most one pixel in 16 here, and only a positive one).
fn sparse_gradient_strategy() -> impl Strategy<Value = (Shape, String)> {
    ((1usize..=2, 8usize..=9, 8usize..=9), (1usize..=3, 2usize..=6, 4usize..=5, 2usize..=3), prop::bool::ANY)
        .prop_filter_map("the layers must fit", |((c, h, w), (first, second, window, outputs), stride)| {
            let input = Shape::new(c, h, w);
            let stride = if stride { ",stride=2" } else { "" };
            let text = format!(
                "conv({first},3,pad=1) relu conv({second},3{stride},pad=1) relu maxpool({window}) flatten dense({outputs})"
            );
            let arch: Architecture = text.parse().ok()?;
            arch.with_input(input).build(Loss::SoftmaxCrossEntropy, Init::GLOROT, 0).ok()?;
            Some((input, text))
        })
}

/// A convolution of 4 to 6 filters, then one that Winograd's method computes and a max-pooling
/// after it, which the training pass computes together (`conv_then_pool.rs`): windows that
/// tile, overlap, leave gaps or leave an edge out, and wide ones behind ReLU, under which the
/// second convolution's backward visits the nonzero values only (`conv_sparse.rs`).
fn winograd_pool_strategy() -> impl Strategy<Value = (Shape, String)> {
    (
        (1usize..=2, 4usize..=9, 4usize..=9),
        (4usize..=6, 1usize..=5, 0usize..=2, activation_strategy()),
        (1usize..=5, 1usize..=3, 2usize..=3),
    )
        .prop_filter_map("the layers must fit", |((c, h, w), (first, second, pad, act), (window, stride, outputs))| {
            let input = Shape::new(c, h, w);
            let text = format!(
                "conv({first},3,pad=1) relu conv({second},3,pad={pad}){act} maxpool({window},stride={stride}) flatten dense({outputs})"
            );
            let arch: Architecture = text.parse().ok()?;
            arch.with_input(input).build(Loss::SoftmaxCrossEntropy, Init::GLOROT, 0).ok()?;
            Some((input, text))
        })
}

/// A convolution, the `pool` text if any, maybe a second convolution, the `ending`, dense.
fn network_strategy(
    pool: impl Strategy<Value = Option<String>>,
    ending: impl Strategy<Value = &'static str>,
) -> impl Strategy<Value = (Shape, String)> {
    (
        (1usize..=3, 3usize..=8, 3usize..=8),
        (1usize..=6, 1usize..=3, 1usize..=3, 1usize..=2, 0usize..=2, activation_strategy()),
        pool,
        // Kernels of 3 on 4 channels or more go through Winograd's method.
        prop::option::of((1usize..=3, 1usize..=3, 0usize..=2, activation_strategy())),
        2usize..=4,
        ending,
    )
        .prop_filter_map("the layers must fit", |((c, h, w), conv, pool, conv2, outputs, ending)| {
            let input = Shape::new(c, h, w);
            let mut text = format!("conv({},{}x{},stride={},pad={}){}", conv.0, conv.1, conv.2, conv.3, conv.4, conv.5);
            text += &pool.unwrap_or_default();
            if let Some((filters, kernel, pad, act)) = conv2 {
                text += &format!(" conv({filters},{kernel},pad={pad}){act}");
            }
            text += &format!(" {ending} dense({outputs})");
            let arch: Architecture = text.parse().ok()?;
            arch.with_input(input).build(Loss::SoftmaxCrossEntropy, Init::GLOROT, 0).ok()?;
            Some((input, text))
        })
}

/// Channels last (ours) to channels first (the reference's), one sample at a time.
fn to_channels_first(x: &[f32], shape: Shape) -> Vec<f64> {
    let pixels = shape.height * shape.width;
    x.chunks(shape.len())
        .flat_map(|sample| (0..shape.len()).map(move |i| f64::from(sample[(i % pixels) * shape.channels + i / pixels])))
        .collect()
}

/// The network of `text` on `input` computes the loss of the reference, and its gradients are
/// the reference's finite differences, for parameters and inputs; one image and a batch give
/// the same bits.
fn check_against_the_reference(input: Shape, text: &str, seed: u64, batch: usize) -> Result<(), TestCaseError> {
    let arch: Architecture = text.parse().unwrap();
    let init = Init { weights: nn_core::WeightInit::GlorotUniform, bias: nn_core::BiasInit::Gaussian };
    let mut net = arch.with_input(input).build(Loss::SoftmaxCrossEntropy, init, seed).unwrap();
    // Batch normalisations start at γ = 1, β = 0: other values check their gradients' factors.
    let names: Vec<&str> = net.layers().iter().flat_map(|layer| layer.parameter_names().iter().copied()).collect();
    for (parameter, name) in net.parameters_mut().into_iter().zip(names) {
        if name == "scale" || name == "shift" {
            let mut k = seed;
            parameter.iter_mut().for_each(|v| {
                k = k.wrapping_mul(6364136223846793005).wrapping_add(1);
                *v = (k >> 40) as f32 / (1u64 << 24) as f32 + if name == "scale" { 0.5 } else { -0.5 };
            });
        }
    }
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    };
    let x: Vec<f32> = (0..input.len() * batch).map(|_| next()).collect();
    let classes: Vec<usize> = (0..batch).map(|_| ((next() + 2.0) * 1000.0) as usize % net.output_size()).collect();

    let mut workspace = Workspace::new().with_input_gradient();
    let mut gradients = Gradients::zeros_like(&net);
    let loss = net
        .loss_and_gradients(&x, Targets::Classes(&classes), Mode::training(seed), &mut workspace, &mut gradients)
        .unwrap();

    let mut reference = reference_of(&net);
    let x64 = to_channels_first(&x, input);
    prop_assert!(close(loss, reference_loss(&reference, &x64, &classes)), "{}: loss", text);

    let h = 1e-6;
    let base = reference_loss(&reference, &x64, &classes);
    let mut p = 0;
    for layer in 0..reference.len() {
        let count = reference[layer].parameters_mut().len();
        for q in 0..count {
            let analytic: Vec<f32> = match &reference[layer] {
                // Our kernel is filters × (ky, kx, c); the reference's (filters, c, ky, kx).
                Reference::Conv { .. } if q == 0 => {
                    let conv = net.layers()[layer].as_any().downcast_ref::<Conv2d>().unwrap();
                    let params = *conv.params();
                    let grad = gradients.tensors()[p].clone();
                    let as_conv = Conv2d::new(params, grad, conv.bias().clone(), Activation::Identity);
                    as_conv.unwrap().weights_channels_first()
                }
                _ => gradients.tensors()[p].as_slice().to_vec(),
            };
            for (k, &analytic) in analytic.iter().enumerate() {
                let saved = reference[layer].parameters_mut()[q][k];
                reference[layer].parameters_mut()[q][k] = saved + h;
                let plus = reference_loss(&reference, &x64, &classes);
                reference[layer].parameters_mut()[q][k] = saved - h;
                let minus = reference_loss(&reference, &x64, &classes);
                reference[layer].parameters_mut()[q][k] = saved;
                let numeric = (plus - minus) / (2.0 * h);
                prop_assert!(
                    agrees_with_differences(analytic, base, plus, minus, h),
                    "{}: layer {} parameter {} index {}: backprop {} vs differences {}",
                    text,
                    layer,
                    q,
                    k,
                    analytic,
                    numeric
                );
            }
            p += 1;
        }
    }
    let input_gradient = to_channels_first(workspace.input_gradient().unwrap(), input);
    let mut shifted = x64.clone();
    for k in 0..x64.len() {
        shifted[k] = x64[k] + h;
        let plus = reference_loss(&reference, &shifted, &classes);
        shifted[k] = x64[k] - h;
        let minus = reference_loss(&reference, &shifted, &classes);
        shifted[k] = x64[k];
        let numeric = (plus - minus) / (2.0 * h);
        prop_assert!(
            agrees_with_differences(input_gradient[k] as f32, base, plus, minus, h),
            "{}: input {}: backprop {} vs differences {}",
            text,
            k,
            input_gradient[k],
            numeric
        );
    }

    // One image and a batch give the same bits.
    let batched = net.predict_batch(&x).unwrap();
    for (j, sample) in x.chunks(input.len()).enumerate() {
        let (one, column) = (net.predict(sample).unwrap(), batched.column(j).iter().copied().collect::<Vec<f32>>());
        prop_assert_eq!(one, column);
    }
    Ok(())
}

/// A batch of 70 goes through a network with batch normalisation in two parts (`batch_parts.rs`):
/// the sums of the parts' gradients are still the reference's.
#[test]
fn a_batch_cut_in_parts_gives_the_gradients_of_the_reference() {
    let text = "conv(3,3,pad=1) batchnorm relu maxpool(2) flatten dense(4) batchnorm tanh dense(3)";
    check_against_the_reference(Shape::new(2, 4, 4), text, 5, 70).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn convolutions_match_the_definition_and_their_gradients((input, text) in architecture_strategy(), seed in any::<u64>(), batch in 1usize..=3) {
        check_against_the_reference(input, &text, seed, batch)?;
    }

    #[test]
    fn batch_normalisations_match_the_definition_and_their_gradients((input, text) in batch_norm_strategy(), seed in any::<u64>(), batch in 1usize..=3) {
        check_against_the_reference(input, &text, seed, batch)?;
    }

    #[test]
    fn sparse_convolution_gradients_match_the_definition((input, text) in sparse_gradient_strategy(), seed in any::<u64>(), batch in 1usize..=3) {
        check_against_the_reference(input, &text, seed, batch)?;
    }

    #[test]
    fn winograd_convolutions_pooled_together_match_the_definition((input, text) in winograd_pool_strategy(), seed in any::<u64>(), batch in 1usize..=3) {
        check_against_the_reference(input, &text, seed, batch)?;
    }

    #[test]
    fn average_poolings_match_the_definition_and_their_gradients((input, text) in average_pooling_strategy(), seed in any::<u64>(), batch in 1usize..=3) {
        check_against_the_reference(input, &text, seed, batch)?;
    }
}
