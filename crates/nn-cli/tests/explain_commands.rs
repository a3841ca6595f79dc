//! End-to-end tests of what `nn-cli eval` explains (per-class table, confusion matrix, heat
//! map) and of `nn-cli misclassified`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nn_core::{Activation, Init, Loss, Network};
use nn_train::{Control, NoObserver, OptimizerConfig, PixelSamples, TrainConfig, TrainData};

mod common;
use common::{nn_cli, path_str, text};

fn fixture_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100")
}

/// The fixture's test set as network inputs and labels.
fn test_set() -> (Vec<f32>, Vec<usize>) {
    let set = mnist_data::Mnist::load(fixture_data()).unwrap().test;
    let inputs = mnist_data::pixels_to_f32(set.pixels(), true);
    (inputs, set.labels().iter().map(|&l| usize::from(l)).collect())
}

fn random_model(path: &Path) -> Network {
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
    nn_core::save_model(&network, path).unwrap();
    network
}

/// A model trained briefly on the fixture's 100 training images: better than chance on its
/// test images, far from perfect.
fn trained_model(path: &Path) -> Network {
    let train = mnist_data::Mnist::load(fixture_data()).unwrap().train;
    let samples = PixelSamples::new(train.pixels(), train.labels(), 784).unwrap();
    let mut network = Network::dense(&[784, 32, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
    let config = TrainConfig {
        epochs: 15,
        batch_size: 10,
        learning_rate: 0.005,
        optimizer: OptimizerConfig::adam(),
        ..TrainConfig::default()
    };
    nn_train::train(&mut network, &config, &TrainData::new(&samples), &mut NoObserver, &Control::new(), None).unwrap();
    nn_core::save_model(&network, path).unwrap();
    network
}

/// Decodes a PNG and counts its distinct pixel values.
fn decode(path: &Path) -> (image::RgbImage, usize) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{} decodes: {e}", path.display())).to_rgb8();
    let distinct = image.pixels().map(|p| p.0).collect::<BTreeSet<_>>().len();
    (image, distinct)
}

#[test]
fn eval_explains_classes_and_keeps_accuracy_last() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("trained.json");
    let network = trained_model(&model);
    let (inputs, labels) = test_set();
    let expected = network.evaluate(&inputs, &labels, 100).unwrap();
    assert!(expected.accuracy() > 0.3, "the test model should beat chance: {}", expected.accuracy());

    let png = dir.path().join("confusion.png");
    let data = fixture_data();
    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--png", path_str(&png)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(*lines.last().unwrap(), format!("accuracy: {:.4}", expected.accuracy()), "{stdout}");

    // The per-class table: a header and one row per class.
    let header = lines.iter().position(|l| l.contains("precision")).expect("a per-class table");
    assert!(lines[header].contains("recall") && lines[header].contains("support"), "{stdout}");
    for class in 0..10 {
        let row: Vec<&str> = lines[header + 1 + class].split_whitespace().collect();
        assert_eq!(row.len(), 4, "{stdout}");
        assert_eq!(row[0], class.to_string());
        let support = labels.iter().filter(|&&l| l == class).count();
        assert_eq!(row[3], support.to_string(), "{stdout}");
        assert!(!row.contains(&"NaN"), "{stdout}");
    }

    // The matrix: a header of predicted classes, a row per true class, counts summing to the
    // total and the diagonal marked and summing to the correct answers.
    let top = lines.iter().position(|l| l.starts_with("true\\pred")).expect("a confusion matrix");
    let (mut total, mut diagonal) = (0, 0);
    for (t, line) in lines[top + 1..top + 11].iter().enumerate() {
        let (label, cells) = line.split_at("true\\pred".len());
        assert_eq!(label.trim(), t.to_string(), "{stdout}");
        let marked = cells.split('[').nth(1).and_then(|r| r.split(']').next()).expect("a marked diagonal");
        diagonal += marked.trim().parse::<usize>().unwrap();
        let numbers = cells.replace(['[', ']'], " ");
        total += numbers.split_whitespace().filter_map(|c| c.parse::<usize>().ok()).sum::<usize>();
    }
    assert_eq!((total, diagonal), (100, expected.correct), "{stdout}");

    let (image, distinct) = decode(&png);
    assert!(image.width() >= 300 && image.height() >= 300, "{}x{}", image.width(), image.height());
    assert!(distinct >= 5, "the heat map has only {distinct} colours");
    assert!(stdout.contains(&format!("heat map: {}", png.display())), "{stdout}");
}

#[test]
fn eval_json_has_per_class_figures_and_the_confusion_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("random.json");
    let network = random_model(&model);
    let (inputs, labels) = test_set();
    let expected = network.evaluate(&inputs, &labels, 100).unwrap();

    let png = dir.path().join("heat.png");
    let data = fixture_data();
    let out = nn_cli(&[
        "eval",
        "--model",
        path_str(&model),
        "--data",
        path_str(&data),
        "--json",
        "--batch-size",
        "7",
        "--png",
        path_str(&png),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["correct"], expected.correct);
    assert_eq!(report["total"], 100);
    assert!((report["accuracy"].as_f64().unwrap() - f64::from(expected.accuracy())).abs() < 1e-6);

    let confusion: Vec<Vec<usize>> = serde_json::from_value(report["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 10);
    assert!(confusion.iter().all(|row| row.len() == 10));
    assert_eq!(confusion.iter().flatten().sum::<usize>(), 100);
    assert_eq!((0..10).map(|c| confusion[c][c]).sum::<usize>(), expected.correct);

    let per_class = report["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    assert_eq!(per_class.iter().map(|c| c["support"].as_u64().unwrap()).sum::<u64>(), 100);
    assert_eq!(per_class.iter().map(|c| c["predicted"].as_u64().unwrap()).sum::<u64>(), 100);
    for (class, stats) in per_class.iter().enumerate() {
        assert_eq!(stats["class"], class);
        assert_eq!(stats["support"], confusion[class].iter().sum::<usize>());
        for key in ["precision", "recall"] {
            // A ratio with nothing to divide by is null, never NaN.
            let value = &stats[key];
            assert!(value.is_null() || (0.0..=1.0).contains(&value.as_f64().unwrap()), "{key}: {value}");
        }
    }
    // The heat map was written too, and stdout holds the JSON object alone.
    assert!(decode(&png).1 >= 3);
    assert_eq!(text(&out.stdout).lines().count(), 1);
}

#[test]
fn eval_png_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("random.json");
    random_model(&model);
    let png = dir.path().join("no/such/dir/heat.png");
    let data = fixture_data();
    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--png", path_str(&png)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).is_empty());
    assert!(!png.exists());
}

/// Cell and gap sizes of the misclassified grid (3x scaled 28x28 images, a caption strip).
const CELL_W: u32 = 84;
const CELL_H: u32 = 84 + 16;
const GAP: u32 = 4;

/// (columns, rows, width, height) of a grid of `cells`.
fn grid_size(cells: u32) -> (u32, u32, u32, u32) {
    let columns = (1..=cells).find(|c| c * c >= cells).unwrap();
    let rows = cells.div_ceil(columns);
    (columns, rows, columns * (CELL_W + GAP) + GAP, rows * (CELL_H + GAP) + GAP)
}

/// Whether the grid cell at (`column`, `row`) is nothing but the gap's grey.
fn cell_is_empty(image: &image::RgbImage, column: u32, row: u32) -> bool {
    let (x0, y0) = (GAP + column * (CELL_W + GAP), GAP + row * (CELL_H + GAP));
    (y0..y0 + CELL_H).all(|y| (x0..x0 + CELL_W).all(|x| image.get_pixel(x, y).0 == [96, 96, 96]))
}

fn errors(network: &Network) -> usize {
    let (inputs, labels) = test_set();
    let predicted = network.classify_batch(&inputs, 100).unwrap();
    predicted.iter().zip(&labels).filter(|(p, l)| p != l).count()
}

#[test]
fn misclassified_draws_one_cell_per_error_shown() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture_data();
    let random = dir.path().join("random.json");
    let trained = dir.path().join("trained.json");
    let cases = [(random_model(&random), random, "5"), (trained_model(&trained), trained, "1000")];
    for (network, model, count) in cases {
        let errors = errors(&network);
        assert!(errors > 5, "the test model should make errors: {errors}");
        let shown = errors.min(count.parse().unwrap()) as u32;
        let png = dir.path().join(format!("errors-{count}.png"));
        let out = nn_cli(&[
            "misclassified",
            "--model",
            path_str(&model),
            "--data",
            path_str(&data),
            "--png",
            path_str(&png),
            "--count",
            count,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with(&format!("{errors} of 100 test images misclassified")), "{stdout}");
        assert!(stdout.contains(&format!("{shown} images)")), "{stdout}");

        let (image, distinct) = decode(&png);
        assert!(distinct >= 3, "only {distinct} grey levels");
        let (columns, rows, width, height) = grid_size(shown);
        assert_eq!((image.width(), image.height()), (width, height));
        for n in 0..columns * rows {
            assert_eq!(cell_is_empty(&image, n % columns, n / columns), n >= shown, "cell {n} of {shown}");
        }

        // One listed line per image shown, most confident first.
        let confidences: Vec<f64> = stdout
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with("wrote"))
            .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
            .collect();
        assert_eq!(confidences.len(), shown as usize);
        assert!(confidences.windows(2).all(|w| w[0] >= w[1]), "{confidences:?}");
    }
}

/// A data directory whose every image is labelled 3, and a model that answers 3 to anything.
fn all_threes(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("threes");
    std::fs::create_dir(&data).unwrap();
    let pixels: Vec<u8> = (0..3 * 784).map(|i| (i % 251) as u8).collect();
    let set = mnist_data::Dataset::new(pixels, 28, 28, vec![3; 3], 10).unwrap();
    let (images, labels) = set.to_idx();
    for (name, array) in [
        ("train-images-idx3-ubyte", &images),
        ("train-labels-idx1-ubyte", &labels),
        ("t10k-images-idx3-ubyte", &images),
        ("t10k-labels-idx1-ubyte", &labels),
    ] {
        std::fs::write(data.join(name), mnist_data::idx::encode(array)).unwrap();
    }
    let mut network = Network::dense(&[784, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let mut parameters = network.parameters_mut();
    parameters[0].fill(0.0);
    parameters[1].fill(0.0);
    parameters[1][3] = 5.0;
    let model = dir.join("threes.json");
    nn_core::save_model(&network, &model).unwrap();
    (data, model)
}

#[test]
fn misclassified_without_errors_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = all_threes(dir.path());
    let png = dir.path().join("none.png");
    let out =
        nn_cli(&["misclassified", "--model", path_str(&model), "--data", path_str(&data), "--png", path_str(&png)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no misclassified images"), "{}", text(&out.stdout));
    assert!(!png.exists());

    // And eval agrees: every answer on the diagonal, class 3's precision 1, others undefined.
    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["accuracy"], 1.0);
    assert_eq!(report["confusion"][3][3], 3);
    assert_eq!(report["per_class"][3]["precision"], 1.0);
    assert!(report["per_class"][0]["precision"].is_null() && report["per_class"][0]["recall"].is_null());
    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data)]);
    assert!(text(&out.stdout).contains('—'), "{}", text(&out.stdout));
}

#[test]
fn misclassified_refuses_bad_models_data_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture_data();
    let png = dir.path().join("errors.png");
    let run = |model: &Path, data: &Path, extra: &[&str]| {
        let mut args = vec!["misclassified", "--model", path_str(model), "--data", path_str(data)];
        args.extend(["--png", path_str(&png)]);
        args.extend(extra);
        nn_cli(&args)
    };

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{\"format\": \"nn-core-model\", \"version\": 1, \"layers\": [").unwrap();
    let out = run(&garbage, &data, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("garbage.json"), "{}", text(&out.stderr));

    let small = dir.path().join("small.json");
    let network = Network::dense(&[4, 3], Activation::Sigmoid, Loss::SoftmaxCrossEntropy, Init::GLOROT, 1).unwrap();
    nn_core::save_model(&network, &small).unwrap();
    let out = run(&small, &data, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("takes 4 inputs"), "{}", text(&out.stderr));

    let model = dir.path().join("random.json");
    random_model(&model);
    let empty = tempfile::tempdir().unwrap();
    let out = run(&model, empty.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot load the data"), "{}", text(&out.stderr));

    let out = run(&model, &data, &["--count", "0"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a count of 0");
    assert!(!png.exists(), "no file is written on failure");
}

#[test]
fn a_closed_standard_output_ends_quietly() {
    // The reading end is closed before nn-cli writes (usually; if not, it simply succeeds).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nn-cli"))
        .args(["recipes", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nn-cli runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("nn-cli ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(output.status.code(), Some(0 | 141)), "{:?}", output.status);
}

#[test]
fn a_full_standard_output_is_a_clear_error() {
    // /dev/full takes no byte: every write fails with "no space left on device".
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    for args in [&["recipes"][..], &["recipes", "--json"][..]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_nn-cli"))
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .expect("nn-cli runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}
