//! Networks written by NumPy predict what NumPy predicts: dense ones in `fixtures/npz` (made by
//! `make_fixtures.py`), convolutional ones in `fixtures/numpy-conv` (made by `make.py`).
//!
//! Workspace-only: the fixtures live at the workspace root, shared with nn-cli's tests, so this
//! file is left out of the published crate (`exclude` in Cargo.toml).

use std::path::PathBuf;

use nn_core::{
    Activation, Architecture, Loss, NpzError, Shape, import_npz, import_npz_with_architecture, network_from_npz_bytes,
    network_from_npz_bytes_with_architecture,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    hidden: String,
    inputs: Vec<Vec<f32>>,
    probabilities: Vec<Vec<f64>>,
    classes: Vec<usize>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/npz")
}

#[test]
fn networks_made_in_numpy_predict_what_numpy_predicts() {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    let cases: Cases = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.cases.len(), 2);
    for case in cases.cases {
        let hidden: Activation = case.hidden.parse().unwrap();
        let net = import_npz(fixtures().join(&case.file), hidden, Loss::SoftmaxCrossEntropy).unwrap();
        let inputs: Vec<f32> = case.inputs.concat();
        let ours = net.predict_batch(&inputs).unwrap();
        for (j, expected) in case.probabilities.iter().enumerate() {
            for (i, &p) in expected.iter().enumerate() {
                // NumPy computed in float64, we in float32 from the same (float32-exact) inputs:
                // a few ulps of 2⁻²⁴ over sums of at most 8 terms.
                assert!(
                    (f64::from(ours[(i, j)]) - p).abs() < 1e-6,
                    "{}: sample {j} class {i}: {} vs {p}",
                    case.file,
                    ours[(i, j)]
                );
            }
        }
        assert_eq!(net.classify_batch(&inputs, 100).unwrap(), case.classes, "{}", case.file);
    }
}

#[derive(Deserialize)]
struct ConvCases {
    cases: Vec<ConvCase>,
}

#[derive(Deserialize)]
struct ConvCase {
    file: String,
    arch: String,
    input: [usize; 3],
    /// Channels first, as NumPy holds them.
    inputs: Vec<Vec<f32>>,
    probabilities: Vec<Vec<f64>>,
    classes: Vec<usize>,
}

/// A sample from NumPy's channels-first order `(C, H, W)` to ours, channels last.
fn channels_last(sample: &[f32], shape: Shape) -> Vec<f32> {
    let (channels, pixels) = (shape.channels, shape.height * shape.width);
    (0..sample.len()).map(|i| sample[(i % channels) * pixels + i / channels]).collect()
}

#[test]
fn convolutional_networks_made_in_numpy_predict_what_numpy_computes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/numpy-conv");
    let cases: ConvCases = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    assert_eq!(cases.cases.len(), 2);
    for case in cases.cases {
        let [c, h, w] = case.input;
        let shape = Shape::new(c, h, w);
        let arch = case.arch.parse::<Architecture>().unwrap().with_input(shape);
        let net = import_npz_with_architecture(dir.join(&case.file), &arch, Loss::SoftmaxCrossEntropy).unwrap();
        assert_eq!(net.architecture().to_string(), case.arch);
        let inputs: Vec<f32> = case.inputs.iter().flat_map(|x| channels_last(x, shape)).collect();
        let ours = net.predict_batch(&inputs).unwrap();
        let mut worst = 0.0_f64;
        for (j, expected) in case.probabilities.iter().enumerate() {
            assert_eq!(expected.len(), ours.nrows());
            for (i, &p) in expected.iter().enumerate() {
                let difference = (f64::from(ours[(i, j)]) - p).abs();
                worst = worst.max(difference);
                assert!(difference < 1e-5, "{}: sample {j} class {i}: {} vs NumPy's {p}", case.file, ours[(i, j)]);
            }
        }
        // float32 against float64 over sums of at most 60 terms: far inside the bound.
        assert!(worst < 1e-6, "{}: {worst}", case.file);
        assert_eq!(net.classify_batch(&inputs, 2).unwrap(), case.classes, "{}", case.file);
    }
}

#[test]
fn a_dense_archive_does_not_fit_a_convolutional_architecture() {
    let arch =
        "conv(4,3) relu maxpool(2) flatten dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(1, 8, 8));
    // A dense archive (Saito's two-layer net) given a convolutional architecture.
    let dense = std::fs::read(fixtures().join("hand_made.npz")).unwrap();
    let error = network_from_npz_bytes_with_architecture(&dense, &arch, Loss::SoftmaxCrossEntropy);
    let error = error.expect_err("a dense archive");
    assert!(matches!(&error, NpzError::ArrayShape { name, .. } if name == "W1"), "{error}");
}

#[test]
fn a_dense_architecture_reads_what_the_dense_reader_reads() {
    let bytes = std::fs::read(fixtures().join("hand_made.npz")).unwrap();
    let dense = network_from_npz_bytes(&bytes, Activation::Sigmoid, Loss::SoftmaxCrossEntropy).unwrap();
    let arch = "dense(5) sigmoid dense(3)".parse::<Architecture>().unwrap().with_input(Shape::flat(4));
    let same = network_from_npz_bytes_with_architecture(&bytes, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(same.parameters(), dense.parameters());
    let inputs = [0.5, -1.0, 2.0, 0.25];
    assert_eq!(same.predict(&inputs).unwrap(), dense.predict(&inputs).unwrap());
}
