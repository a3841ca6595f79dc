//! End-to-end tests of the commands that show a network's inside (`weights`, `show --model`,
//! `explain`) and of `baseline`, on the fixtures. Pictures are checked by decoding them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

fn fixture_data() -> PathBuf {
    fixtures().join("mnist-100")
}

/// Trains a small model on the fixture with `extra` flags (a few epochs, quietly).
fn train(model: &Path, extra: &[&str]) {
    let data = fixture_data();
    let base = ["train", "--data", path_str(&data), "--validation-size", "0", "--epochs", "3", "--quiet"];
    let args = [&base[..], extra, &["--allow-no-learning", "-o", path_str(model)]].concat();
    let out = nn_cli(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Decodes a PNG: its size and the number of distinct grey values.
fn decode(path: &Path) -> (u32, u32, usize) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{} decodes: {e}", path.display())).to_luma8();
    let distinct = image.pixels().map(|p| p.0[0]).collect::<BTreeSet<_>>().len();
    (image.width(), image.height(), distinct)
}

#[test]
fn weights_draws_a_tile_per_hidden_unit_or_filter() {
    let dir = tempfile::tempdir().unwrap();
    let dense = dir.path().join("dense.json");
    train(&dense, &["--hidden", "16", "--optimizer", "adam", "--lr", "0.001"]);
    let png = dir.path().join("w.png");
    let out = nn_cli(&["weights", "--model", path_str(&dense), "--png", path_str(&png)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("16 tiles of 28x28, the weights of layer 0 (dense(16) relu)"), "{stdout}");
    let (width, height, distinct) = decode(&png);
    // 4x4 tiles of 56 pixels and their captions.
    assert!(width > 4 * 56 && height > 4 * 56, "{width}x{height}");
    assert!(distinct > 50, "{distinct} greys");

    let conv = dir.path().join("conv.json");
    train(&conv, &["--arch", "conv(6,5) relu maxpool(2) flatten dense(10)", "--optimizer", "adam", "--lr", "0.001"]);
    let out = nn_cli(&["weights", "--model", path_str(&conv), "--png", path_str(&png), "--count", "4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("4 tiles of 5x5"), "{}", text(&out.stdout));
    let (width, height, distinct) = decode(&png);
    assert!(width > 2 * 55 && height > 2 * 55 && distinct > 10, "{width}x{height}, {distinct}");

    let out = nn_cli(&["weights", "--model", path_str(&dense), "--png", path_str(&dense)]);
    assert_eq!(out.status.code(), Some(1), "the model is not overwritten");
}

#[test]
fn show_with_a_model_captions_each_image_with_its_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    train(&model, &["--hidden", "32", "--optimizer", "adam", "--lr", "0.003", "--epochs", "10"]);
    let png = dir.path().join("grid.png");
    let data = fixture_data();
    let out = nn_cli(&["show", "--data", path_str(&data), "--model", path_str(&model), "--png", path_str(&png)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("test images 0..25") && stdout.contains("of 25 predicted right"), "{stdout}");
    let (width, height, distinct) = decode(&png);
    assert!(width >= 5 * 28 * 4 && height >= 5 * 28 * 4 && distinct > 20, "{width}x{height}, {distinct}");

    let out = nn_cli(&["show", "--data", path_str(&data), "--model", path_str(&model), "--index", "3"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("test image 3: label ") && stdout.contains(", predicted "), "{stdout}");
}

#[test]
fn explain_draws_input_layers_and_saliency() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("c.json");
    train(&model, &["--arch", "conv(4,3) relu maxpool(2) flatten dense(16) relu dense(10)", "--optimizer", "adam"]);
    let png = dir.path().join("inside.png");
    let seven = fixtures().join("images/seven.png");
    let out = nn_cli(&["explain", "--model", path_str(&model), path_str(&seven), "--png", path_str(&png)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("the activations of 4 layers") && stdout.contains("saliency of class"), "{stdout}");
    let (width, height, distinct) = decode(&png);
    // Input and saliency (112 pixels each), feature maps, two dense layers, and captions.
    assert!(width > 112 && height > 2 * 112 + 100 && distinct > 50, "{width}x{height}, {distinct}");

    let data = fixture_data();
    let args = ["explain", "--model", path_str(&model), "--data", path_str(&data), "--index", "0", "--class", "3"];
    let out = nn_cli(&[&args[..], &["--png", path_str(&png)]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("saliency of class 3"), "{}", text(&out.stdout));

    let out = nn_cli(&[&args[..7], &["--class", "12", "--png", path_str(&png)]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--class 12 is not a class of the model"), "{}", text(&out.stderr));
}

#[test]
fn baselines_print_their_accuracy_beside_the_published_one() {
    let data = fixture_data();
    let out = nn_cli(&["baseline", "darkness", "--data", path_str(&data)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("average darkness: ") && stdout.contains("/ 100 test images right"), "{stdout}");
    assert!(stdout.contains("(published: 22.25%, Nielsen"), "{stdout}");

    // 100 images are one batch: 100 epochs are 100 steps.
    let out = nn_cli(&["baseline", "linear", "--data", path_str(&data), "--epochs", "100"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = stdout.lines().last().unwrap();
    assert!(line.starts_with("softmax regression: ") && line.contains("(published: 92.00%"), "{line}");
    // 100 images are enough for a linear model to beat chance by far (64 with seed 1).
    let right: usize = line["softmax regression: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(right > 50, "{line}");
}
