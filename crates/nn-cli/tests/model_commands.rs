//! End-to-end tests of `nn-cli import`, `export`, `eval` and `summary`.

use nn_core::{Activation, Init, Loss, Network};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

#[test]
fn import_summary_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("hand.json");
    let npz = fixtures().join("npz/hand_made.npz");
    let out = nn_cli(&[
        "import",
        "--npz",
        path_str(&npz),
        "--hidden-activation",
        "sigmoid",
        "--output",
        "softmax",
        "-o",
        path_str(&model),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = nn_cli(&["summary", "--model", path_str(&model)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("sigmoid") && stdout.contains("43"), "{stdout}");

    let exported = dir.path().join("again.npz");
    let out = nn_cli(&["export", "--model", path_str(&model), "--npz", path_str(&exported)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let original = nn_core::import_npz(&npz, Activation::Sigmoid, Loss::SoftmaxCrossEntropy).unwrap();
    let again = nn_core::import_npz(&exported, Activation::Sigmoid, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(original.parameters(), again.parameters());
}

#[test]
fn import_refuses_a_file_that_is_not_an_npz() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let labels = fixtures().join("mnist-100/t10k-labels-idx1-ubyte");
    let out = nn_cli(&["import", "--npz", path_str(&labels), "-o", path_str(&model)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(".npz"), "{}", text(&out.stderr));
    assert!(!model.exists(), "no model file is written on failure");
}

#[test]
fn eval_reports_the_accuracy_the_library_computes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("random.json");
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    nn_core::save_model(&network, &model).unwrap();
    let data = fixtures().join("mnist-100");
    let set = mnist_data::Mnist::load(&data).unwrap().test;
    let inputs = mnist_data::pixels_to_f32(set.pixels(), true);
    let labels: Vec<usize> = set.labels().iter().map(|&l| usize::from(l)).collect();
    let expected = network.evaluate(&inputs, &labels, 100).unwrap();

    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().last().unwrap(), format!("accuracy: {:.4}", expected.accuracy()));

    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--json", "--batch-size", "7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["correct"], expected.correct);
    assert_eq!(report["total"], 100);
    assert!((report["accuracy"].as_f64().unwrap() - f64::from(expected.accuracy())).abs() < 1e-6);
}

#[test]
fn eval_refuses_bad_models_and_mismatched_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixtures().join("mnist-100");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{\"format\": \"nn-core-model\", \"version\": 1, \"layers\": [").unwrap();
    let out = nn_cli(&["eval", "--model", path_str(&garbage), "--data", path_str(&data)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("garbage.json"), "{}", text(&out.stderr));

    let small = dir.path().join("small.json");
    let network = Network::dense(&[4, 3], Activation::Sigmoid, Loss::SoftmaxCrossEntropy, Init::GLOROT, 1).unwrap();
    nn_core::save_model(&network, &small).unwrap();
    let out = nn_cli(&["eval", "--model", path_str(&small), "--data", path_str(&data)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("takes 4 inputs"), "{}", text(&out.stderr));

    // A model that does not record its training split has no known validation set.
    let out = nn_cli(&["eval", "--model", path_str(&small), "--data", path_str(&data), "--set", "validation"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not record which images"), "{}", text(&out.stderr));
}
