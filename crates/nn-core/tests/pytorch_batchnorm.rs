//! Batch normalisation against PyTorch (`fixtures/pytorch-batchnorm`, made by its `make.py`): a
//! network with a `BatchNorm2d` and a `BatchNorm1d`, trained three steps by PyTorch, imported
//! from its safetensors file, predicts what PyTorch predicts in eval mode; in training mode it
//! computes PyTorch's loss, gradients and running statistics for a batch; and our export holds
//! PyTorch's tensors, names, shapes and dtypes, so that `load_state_dict(strict=True)` takes it.
//!
//! Workspace-only, as `pytorch_safetensors.rs`: the fixture lives at the workspace root.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nn_core::{
    Architecture, Conv2d, Dense, Gradients, Loss, Mode, Shape, Targets, Workspace, import_safetensors,
    network_to_safetensors_bytes, pytorch_state_dict_names,
};
use safetensors::SafeTensors;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    arch: String,
    input: [usize; 3],
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    eval: Eval,
    train: Train,
}

#[derive(Deserialize)]
struct Eval {
    /// Channels first (NCHW), as PyTorch holds them.
    inputs: Vec<Vec<f32>>,
    probabilities: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Train {
    inputs: Vec<Vec<f32>>,
    labels: Vec<usize>,
    loss: f64,
    /// By `state_dict` name, flattened in PyTorch's shapes.
    gradients: BTreeMap<String, Vec<f64>>,
    running: BTreeMap<String, Vec<f64>>,
    batches_tracked: u64,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pytorch-batchnorm")
}

fn case() -> Case {
    serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap()
}

fn architecture(case: &Case) -> Architecture {
    let [c, h, w] = case.input;
    case.arch.parse::<Architecture>().unwrap().with_input(Shape::new(c, h, w))
}

/// Samples from PyTorch's channels-first order to ours, channels last.
fn channels_last(samples: &[Vec<f32>], shape: Shape) -> Vec<f32> {
    let (channels, pixels) = (shape.channels, shape.height * shape.width);
    samples.iter().flat_map(|x| (0..x.len()).map(move |i| x[(i % channels) * pixels + i / channels])).collect()
}

fn assert_close(ours: &[f32], theirs: &[f64], tolerance: f64, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let worst = ours.iter().zip(theirs).map(|(&a, &b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
    assert!(worst < tolerance, "{what}: largest difference from PyTorch {worst}");
}

#[test]
fn a_network_trained_by_pytorch_predicts_what_pytorch_computes_in_eval_mode() {
    let case = case();
    let arch = architecture(&case);
    assert_eq!(pytorch_state_dict_names(&arch), case.names);
    let net = import_safetensors(dir().join("model.safetensors"), &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert!(net.normalises_batches());
    let inputs = channels_last(&case.eval.inputs, arch.input);
    let ours = net.predict_batch(&inputs).unwrap();
    let theirs: Vec<f64> = case.eval.probabilities.concat();
    assert_close(ours.as_slice(), &theirs, 1e-6, "eval-mode probabilities");
}

#[test]
fn a_training_pass_gives_pytorchs_loss_gradients_and_running_statistics() {
    let case = case();
    let arch = architecture(&case);
    let mut net = import_safetensors(dir().join("model.safetensors"), &arch, Loss::SoftmaxCrossEntropy).unwrap();
    let inputs = channels_last(&case.train.inputs, arch.input);
    let mut workspace = Workspace::new();
    let mut gradients = Gradients::zeros_like(&net);
    let loss = net
        .loss_and_gradients(
            &inputs,
            Targets::Classes(&case.train.labels),
            Mode::training(7),
            &mut workspace,
            &mut gradients,
        )
        .unwrap();
    assert!((f64::from(loss) - case.train.loss).abs() < 1e-5, "loss {loss} against PyTorch's {}", case.train.loss);

    // Our gradients in PyTorch's layouts and order: conv (out, in, kh, kw), linear (out, in).
    let mut tensors = gradients.tensors().iter();
    let mut ours: Vec<Vec<f32>> = Vec::new();
    for layer in net.layers() {
        if let Some(conv) = layer.as_any().downcast_ref::<Conv2d>() {
            let weights = tensors.next().unwrap().clone();
            let as_conv = Conv2d::new(*conv.params(), weights, conv.bias().clone(), nn_core::Activation::Identity);
            ours.push(as_conv.unwrap().weights_channels_first());
            ours.push(tensors.next().unwrap().as_slice().to_vec());
        } else if layer.as_any().downcast_ref::<Dense>().is_some() {
            ours.push(tensors.next().unwrap().transpose().as_slice().to_vec());
            ours.push(tensors.next().unwrap().as_slice().to_vec());
        } else {
            for _ in 0..layer.parameters().len() {
                ours.push(tensors.next().unwrap().as_slice().to_vec());
            }
        }
    }
    let names: Vec<&String> = case.names.iter().filter(|n| n.ends_with("weight") || n.ends_with("bias")).collect();
    assert_eq!(ours.len(), names.len());
    for (gradient, name) in ours.iter().zip(names) {
        assert_close(gradient, &case.train.gradients[name], 1e-5, &format!("gradient of {name}"));
    }

    net.update_running_statistics(&inputs, &workspace).unwrap();
    let normalisations: Vec<_> = net.layers().iter().filter_map(|l| l.running_statistics()).collect();
    for (statistics, module) in normalisations.iter().zip([1, 6]) {
        assert_close(&statistics.mean, &case.train.running[&format!("{module}.running_mean")], 1e-6, "running mean");
        assert_close(&statistics.variance, &case.train.running[&format!("{module}.running_var")], 1e-5, "running var");
        assert_eq!(statistics.batches_tracked, case.train.batches_tracked);
    }
}

#[test]
fn our_export_holds_pytorchs_tensors() {
    let case = case();
    let arch = architecture(&case);
    let bytes = std::fs::read(dir().join("model.safetensors")).unwrap();
    let net = nn_core::network_from_safetensors_bytes(&bytes, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    let exported = network_to_safetensors_bytes(&net).unwrap();
    let (theirs, ours) = (SafeTensors::deserialize(&bytes).unwrap(), SafeTensors::deserialize(&exported).unwrap());
    let mut names: Vec<&str> = ours.names().into_iter().collect();
    names.sort();
    let mut expected: Vec<&str> = case.names.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, shape) in case.names.iter().zip(&case.shapes) {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), shape.as_slice()), "{name}");
        assert_eq!(a.data(), b.data(), "{name}: the same bytes");
    }
    // And the network read back from our file is the same, running statistics included.
    let again = nn_core::network_from_safetensors_bytes(&exported, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(again, net);
}

#[test]
fn a_batch_normalisation_without_its_running_statistics_is_refused() {
    let case = case();
    let arch = architecture(&case);
    let bytes = std::fs::read(dir().join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        file.tensors().into_iter().filter(|(name, _)| name != "6.running_var").collect();
    let without = safetensors::serialize(kept, None).unwrap();
    let error = nn_core::network_from_safetensors_bytes(&without, &arch, Loss::SoftmaxCrossEntropy).unwrap_err();
    assert!(error.to_string().contains("6.running_var is missing"), "{error}");
}
