//! End-to-end tests of `nn-cli forward` on Saitō's toy network (section 3.4.3 of *Deep Learning
//! from Scratch*), imported from `fixtures/saito-toy/saito-toy.npz` (written by its `make.py`
//! from the book's `init_network`), and of what the other commands do with a model whose outputs
//! are the identity.

use std::path::{Path, PathBuf};

use nn_core::{Loss, Network};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// What the book prints for `forward(network, np.array([1.0, 0.5]))`.
const BOOK_OUTPUTS: [f64; 2] = [0.316_827_08, 0.696_279_09];

/// The toy network imported as the book runs it: sigmoid hidden layers, identity output.
fn import_toy(dir: &Path) -> PathBuf {
    let model = dir.join("toy.json");
    let npz = fixtures().join("saito-toy/saito-toy.npz");
    let out = nn_cli(&[
        "import",
        "--npz",
        path_str(&npz),
        "--hidden-activation",
        "sigmoid",
        "--output",
        "identity",
        "-o",
        path_str(&model),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("imported 2-3-2-2, identity_mean_squared"), "{}", text(&out.stdout));
    model
}

fn assert_book_outputs(values: &[f64]) {
    assert_eq!(values.len(), 2, "{values:?}");
    for (found, book) in values.iter().zip(BOOK_OUTPUTS) {
        assert!((found - book).abs() < 1e-6, "{values:?} vs the book's {BOOK_OUTPUTS:?}");
    }
}

#[test]
fn the_toy_network_prints_the_books_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let model = import_toy(dir.path());
    let out = nn_cli(&["forward", "--model", path_str(&model), "--input", "1.0,0.5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let values: Vec<f64> = stdout.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_book_outputs(&values);

    let out = nn_cli(&["forward", "--model", path_str(&model), "--input", "1.0, 0.5", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["output"], "identity");
    assert_eq!(report["inputs"], serde_json::json!([1.0, 0.5]));
    let outputs: Vec<f64> = report["outputs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_book_outputs(&outputs);

    // Negative numbers are values, not flags.
    let out = nn_cli(&["forward", "--model", path_str(&model), "--input", "-1,2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = nn_cli(&["summary", "--model", path_str(&model)]);
    assert!(text(&out.stdout).contains("output: identity (identity_mean_squared)"), "{}", text(&out.stdout));
}

#[test]
fn wrong_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = import_toy(dir.path());
    let forward = |input: &str| nn_cli(&["forward", "--model", path_str(&model), "--input", input]);
    for (input, message) in [
        ("1,2,3", "toy.json takes 2 inputs, but --input gives 3"),
        ("1", "toy.json takes 2 inputs, but --input gives 1"),
        ("1.0,half", "--input: value 2 (\"half\") is not a number"),
        ("1.0,NaN", "--input: value 2 (NaN) is not a finite number"),
        ("", "--input is empty"),
    ] {
        let out = forward(input);
        assert_eq!(out.status.code(), Some(1), "{input}");
        assert!(text(&out.stderr).contains(message), "{input}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{input}");
    }
    let out = nn_cli(&["forward", "--model", path_str(&model)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--input"), "{}", text(&out.stderr));
}

/// A 784-32-10 network saved twice: with softmax outputs, and the same weights with identity
/// outputs.
fn digit_models(dir: &Path) -> (Network, PathBuf, PathBuf) {
    let mut network = test_support::trained_network(7, 3);
    let softmax = dir.join("softmax.json");
    nn_core::save_model(&network, &softmax).unwrap();
    network.set_loss(Loss::IdentityMeanSquared).unwrap();
    let identity = dir.join("identity.json");
    nn_core::save_model(&network, &identity).unwrap();
    (network, softmax, identity)
}

#[test]
fn eval_scores_identity_outputs_by_their_argmax() {
    let dir = tempfile::tempdir().unwrap();
    let (network, softmax, identity) = digit_models(dir.path());
    let data = fixtures().join("mnist-100");
    let set = mnist_data::Mnist::load(&data).unwrap().test;
    let inputs = mnist_data::pixels_to_f32(set.pixels(), true);
    let labels: Vec<usize> = set.labels().iter().map(|&l| usize::from(l)).collect();
    let expected = network.evaluate(&inputs, &labels, 100).unwrap();
    let predicted = network.predict_rows(&inputs).unwrap().argmax();
    assert_eq!(expected.correct, predicted.iter().zip(&labels).filter(|(p, l)| p == l).count());

    let eval = |model: &Path| {
        let out = nn_cli(&["eval", "--model", path_str(model), "--data", path_str(&data), "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (with_identity, with_softmax) = (eval(&identity), eval(&softmax));
    assert_eq!(with_identity["correct"], expected.correct);
    assert!((with_identity["loss"].as_f64().unwrap() - f64::from(expected.loss)).abs() < 1e-6);
    // The softmax is increasing: the same weights classify the same images either way.
    assert_eq!(with_identity["correct"], with_softmax["correct"]);
    assert_eq!(with_identity["confusion"], with_softmax["confusion"]);
    assert!(expected.correct > 30, "the network tells digits apart: {expected:?}");
}

#[test]
fn commands_that_show_probabilities_refuse_identity_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, identity) = digit_models(dir.path());
    let model = path_str(&identity);
    let data = fixtures().join("mnist-100");
    let image = fixtures().join("images/seven.png");
    let png = dir.path().join("out.png");
    let runs: [(&str, Vec<&str>); 5] = [
        ("predict", vec!["predict", "--model", model, path_str(&image)]),
        ("misclassified", vec!["misclassified", "--model", model, "--data", path_str(&data), "--png", path_str(&png)]),
        ("show --model", vec!["show", "--model", model, "--data", path_str(&data)]),
        ("explain", vec!["explain", "--model", model, path_str(&image), "--png", path_str(&png)]),
        ("serve", vec!["serve", "--addr", "127.0.0.1:0", "--model", model]),
    ];
    for (command, args) in runs {
        let out = nn_cli(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("identity outputs (identity_mean_squared)")
                || stderr.contains("its outputs are identity (identity_mean_squared)"),
            "{command}: {stderr}"
        );
        assert!(!png.exists(), "{command}");
    }
    let out = nn_cli(&["forward", "--model", model, "--input", &vec!["0"; 784].join(",")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).split_whitespace().count(), 10);
}
