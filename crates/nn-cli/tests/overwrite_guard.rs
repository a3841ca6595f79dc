//! Every command refuses, before doing any work, an output path that names one of its inputs,
//! and leaves that input as it was.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// A copy of the 100-image fixture in `dir`, so that a test that went wrong cannot harm it.
fn data_copy(dir: &Path) -> PathBuf {
    let data = dir.join("mnist-100");
    fs::create_dir(&data).unwrap();
    for entry in fs::read_dir(fixtures().join("mnist-100")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    data
}

/// A small trained model at `dir/model.json`.
fn model(dir: &Path, data: &Path) -> PathBuf {
    let model = dir.join("model.json");
    let out = nn_cli(&[
        "train",
        "--data",
        path_str(data),
        "--validation-size",
        "20",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--quiet",
        "-o",
        path_str(&model),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    model
}

/// Runs `args`, expects a refusal that names `input`, and `input`'s bytes unchanged.
fn assert_refused(args: &[&str], input: &Path) {
    let before = fs::read(input).unwrap();
    let out = nn_cli(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains("this command reads") && stderr.contains("choose another path"), "{args:?}: {stderr}");
    assert_eq!(fs::read(input).unwrap(), before, "{args:?} changed {}", input.display());
}

#[test]
fn no_command_writes_over_what_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_copy(dir.path());
    let model = model(dir.path(), &data);
    let images = data.join("train-images-idx3-ubyte");
    let (data, model_str) = (path_str(&data), path_str(&model));

    // The model over one of the data set's files, or the metrics log over it.
    assert_refused(&["train", "--data", data, "--hidden", "8", "--epochs", "1", "-o", path_str(&images)], &images);
    let metrics = ["train", "--data", data, "--epochs", "1", "--metrics", path_str(&images), "-o"];
    assert_refused(&[&metrics[..], &[path_str(&dir.path().join("other.json"))]].concat(), &images);
    // Pictures over the model they draw.
    assert_refused(&["eval", "--model", model_str, "--data", data, "--png", model_str], &model);
    assert_refused(&["misclassified", "--model", model_str, "--data", data, "--png", model_str], &model);
    // Weights over the file they come from.
    let npz = dir.path().join("weights.npz");
    let out = nn_cli(&["export", "--model", model_str, "--npz", path_str(&npz)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_refused(&["export", "--model", model_str, "--npz", model_str], &model);
    assert_refused(&["import", "--npz", path_str(&npz), "-o", path_str(&npz)], &npz);
    // The best recipe over the data.
    assert_refused(&["search", "--data", data, "--epochs", "1", "-o", path_str(&images)], &images);
}

#[test]
fn a_link_to_an_input_is_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_copy(dir.path());
    let model = model(dir.path(), &data);
    let link = dir.path().join("link.json");
    fs::hard_link(&model, &link).unwrap();
    assert_refused(&["eval", "--model", path_str(&model), "--data", path_str(&data), "--png", path_str(&link)], &model);
}

#[test]
fn two_outputs_of_one_run_cannot_share_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_copy(dir.path());
    let model = dir.path().join("new.json");
    let out = nn_cli(&[
        "train",
        "--data",
        path_str(&data),
        "--epochs",
        "1",
        "--metrics",
        path_str(&model),
        "-o",
        path_str(&model),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("would be both the model and the metrics log"), "{stderr}");
    assert!(!model.exists(), "nothing is written");
}

#[test]
fn a_picture_not_named_png_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixtures().join("mnist-100");
    // No model is read: the name is refused first.
    let model = dir.path().join("no-such-model.json");
    let jpg = dir.path().join("out.jpg");
    let (data, model, jpg_str) = (path_str(&data), path_str(&model), path_str(&jpg));
    let commands: [&[&str]; 5] = [
        &["show", "--data", data, "--png", jpg_str],
        &["eval", "--model", model, "--data", data, "--png", jpg_str],
        &["misclassified", "--model", model, "--data", data, "--png", jpg_str],
        &["weights", "--model", model, "--png", jpg_str],
        &["explain", "--model", model, "--index", "0", "--data", data, "--png", jpg_str],
    ];
    for args in commands {
        let out = nn_cli(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let expected = format!("{jpg_str}: the picture is written as a PNG, so its name must end in .png");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("no-such-model"), "{args:?} read the model first: {stderr}");
        assert!(!jpg.exists(), "{args:?} wrote {jpg_str}");
    }
    // Any case of the extension is a PNG's name.
    let upper = dir.path().join("digits.PNG");
    let out = nn_cli(&["show", "--data", data, "--png", path_str(&upper)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fs::read(&upper).unwrap().starts_with(b"\x89PNG"));
}
