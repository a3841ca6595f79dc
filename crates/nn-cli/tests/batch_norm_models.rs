//! End-to-end tests of batch normalisation through `nn-cli`: a tiny network with `batchnorm`
//! after a convolution and after a dense layer, trained on the 100-image fixture, is summarised,
//! evaluated as the library evaluates it, resumed to the bytes of an uninterrupted run, exported
//! to safetensors (running statistics included, in PyTorch's names) and imported back bit for
//! bit; `export --npz`, which has no place for the statistics, refuses it plainly.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

const NORMALISED: &str = "conv(4,3) batchnorm relu maxpool(2) flatten dense(16) batchnorm relu dense(10)";

/// `nn-cli train` on the fixture (80 training images, 20 for validation), quietly.
fn train(output: &Path, extra: &[&str]) -> Output {
    let data = fixtures().join("mnist-100");
    let mut args = vec![
        "train",
        "--data",
        path_str(&data),
        "--validation-size",
        "20",
        "--batch-size",
        "40",
        "--quiet",
        // A few steps on 80 images: what these tests check is the network, not how it learns.
        "--allow-no-learning",
        "-o",
        path_str(output),
    ];
    args.extend_from_slice(extra);
    nn_cli(&args)
}

/// Fails with the command's stderr unless it succeeded; returns its stdout.
fn ok(out: Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_batch_normalised_model_is_trained_evaluated_resumed_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bn.json");
    // Batches of 40 are cut into two parts per layer: the same bits on any number of threads.
    ok(train(&model, &["--arch", NORMALISED, "--epochs", "3", "--threads", "2"]));
    let network = nn_core::load_model(&model).unwrap();
    assert_eq!(network.architecture().to_string(), NORMALISED);
    let one_thread = dir.path().join("one.json");
    ok(train(&one_thread, &["--arch", NORMALISED, "--epochs", "3", "--threads", "1"]));
    assert_eq!(std::fs::read(&model).unwrap(), std::fs::read(&one_thread).unwrap());
    // Two batches an epoch for three epochs moved the running statistics six times.
    let file: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(file["version"], 3);
    assert_eq!(file["layers"][1]["num_batches_tracked"], 6);
    assert_eq!(file["layers"][6]["num_batches_tracked"], 6);

    let summary = ok(nn_cli(&["summary", "--model", path_str(&model)]));
    let summary: Vec<String> = summary.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    for line in ["1 batchnorm 4 channels -> 4x26x26 8", "6 batchnorm 16 channels -> 16 32"] {
        assert!(summary.iter().any(|l| l == line), "{line:?} in\n{}", summary.join("\n"));
    }

    // eval: the library's figures for the saved model (running statistics, not the batch's).
    let data = fixtures().join("mnist-100");
    let report = ok(nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--json"]));
    let report: Value = serde_json::from_str(&report).unwrap();
    let test = mnist_data::Mnist::load(&data).unwrap().test;
    let inputs = mnist_data::pixels_to_f32(test.pixels(), true);
    let labels: Vec<usize> = test.labels().iter().map(|&l| usize::from(l)).collect();
    let expected = network.evaluate(&inputs, &labels, 7).unwrap();
    assert_eq!(report["correct"].as_u64(), Some(expected.correct as u64));

    // Interrupted after one epoch and resumed: the bytes of the uninterrupted run.
    let parts = dir.path().join("parts.json");
    ok(train(&parts, &["--arch", NORMALISED, "--epochs", "1"]));
    ok(train(&parts, &["--resume", "--epochs", "3"]));
    assert_eq!(std::fs::read(&model).unwrap(), std::fs::read(&parts).unwrap());

    // PyTorch's names: conv 0, BatchNorm2d 1, ReLU 2, MaxPool2d 3, Flatten 4, Linear 5,
    // BatchNorm1d 6, ReLU 7, Linear 8.
    let exported = dir.path().join("bn.safetensors");
    ok(nn_cli(&["export", "--model", path_str(&model), "--safetensors", path_str(&exported)]));
    let bytes = std::fs::read(&exported).unwrap();
    let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
    assert_eq!(header["1.running_mean"]["shape"], serde_json::json!([4]));
    assert_eq!(header["6.running_var"]["shape"], serde_json::json!([16]));
    assert_eq!(header["6.num_batches_tracked"]["dtype"], "I64");
    let back = dir.path().join("back.json");
    let args = ["import", "--safetensors", path_str(&exported), "--arch", NORMALISED, "-o", path_str(&back)];
    ok(nn_cli(&args));
    assert_eq!(nn_core::load_model(&back).unwrap(), network);

    let out = nn_cli(&["export", "--model", path_str(&model), "--npz", path_str(&dir.path().join("bn.npz"))]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("batchnorm") && stderr.contains("safetensors"), "{stderr}");
    assert!(!dir.path().join("bn.npz").exists());
}
