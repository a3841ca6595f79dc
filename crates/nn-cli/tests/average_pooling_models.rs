//! End-to-end tests of average pooling through `nn-cli`: a tiny network with `avgpool` and
//! `globalavgpool`, trained on the 100-image fixture, is summarised, evaluated as the library
//! evaluates it, and exported to safetensors and imported back bit for bit; a window that does
//! not fit is a clear error.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// 28x28 -> 4x26x26 -> 4x13x13 -> 8x13x13 -> one mean per channel: dense(10) reads 8 values.
const POOLED: &str = "conv(4,3) relu avgpool(2) conv(8,3,pad=1) relu globalavgpool dense(10)";

/// `nn-cli train` on the fixture (80 training images, 20 for validation), quietly.
fn train(output: &Path, arch: &str) -> Output {
    let data = fixtures().join("mnist-100");
    nn_cli(&[
        "train",
        "--data",
        path_str(&data),
        "--arch",
        arch,
        "--epochs",
        "2",
        "--validation-size",
        "20",
        "--batch-size",
        "16",
        "--quiet",
        // A few steps on 80 images: what these tests check is the network, not how it learns.
        "--allow-no-learning",
        "-o",
        path_str(output),
    ])
}

/// Fails with the command's stderr unless it succeeded; returns its stdout.
fn ok(out: Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_trained_average_pooling_model_is_evaluated_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("pooled.json");
    let stdout = ok(train(&model, POOLED));
    assert!(stdout.lines().last().unwrap().starts_with("test accuracy: 0."), "{stdout}");
    let network = nn_core::load_model(&model).unwrap();
    assert_eq!(network.architecture().to_string(), POOLED);

    let summary = ok(nn_cli(&["summary", "--model", path_str(&model)]));
    let summary: Vec<String> = summary.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    for line in [
        "1 avgpool 2x2 -> 4x13x13 0",
        "2 conv 8@3x3 pad 1, relu -> 8x13x13 296",
        "3 globalavgpool 13x13 -> 8 0",
        "4 dense identity -> 10 90",
        "total parameters: 426",
    ] {
        assert!(summary.iter().any(|l| l == line), "{line:?} in\n{}", summary.join("\n"));
    }

    // eval: the library's figures for the saved model.
    let data = fixtures().join("mnist-100");
    let report = ok(nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--json"]));
    let report: Value = serde_json::from_str(&report).unwrap();
    let test = mnist_data::Mnist::load(&data).unwrap().test;
    let inputs = mnist_data::pixels_to_f32(test.pixels(), true);
    let labels: Vec<usize> = test.labels().iter().map(|&l| usize::from(l)).collect();
    let expected = network.evaluate(&inputs, &labels, 100).unwrap();
    assert_eq!((report["correct"].as_u64(), report["total"].as_u64()), (Some(expected.correct as u64), Some(100)));

    // The poolings take module indices 2 and 5 in PyTorch's numbering; export and import with the
    // command the export prints give the same network, bit for bit.
    let arch = network.architecture();
    assert_eq!(
        nn_core::pytorch_state_dict_names(&arch),
        ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    );
    let exported = dir.path().join("pooled.safetensors");
    let printed = ok(nn_cli(&["export", "--model", path_str(&model), "--safetensors", path_str(&exported)]));
    assert!(printed.contains(&format!("--arch \"{POOLED}\" --input 1x28x28 --loss softmax")), "{printed}");
    let back = dir.path().join("back.json");
    let args = ["import", "--safetensors", path_str(&exported), "--arch", POOLED, "-o", path_str(&back)];
    ok(nn_cli(&args));
    let reimported = nn_core::load_model(&back).unwrap();
    assert_eq!(reimported, network);
    let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(reimported.predict_batch(&inputs).unwrap().as_slice()),
        bits(network.predict_batch(&inputs).unwrap().as_slice())
    );
}

#[test]
fn a_window_larger_than_its_input_is_refused_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bad.json");
    let out = train(&model, "conv(4,3) relu avgpool(27) flatten dense(10)");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: ") && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("layer 1 (avgpool)") && stderr.contains("27x27 window"), "{stderr}");
    assert!(!model.exists());
}
