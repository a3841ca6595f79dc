//! End-to-end tests of `nn-cli train` on the 100-image fixture: it trains, writes what it says,
//! resumes to the same weights, gives the same weights with 1 and 2 threads, and reports
//! divergence cleanly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::text;

fn fixture_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100")
}

fn train(output: &Path, extra: &[&str]) -> Output {
    let data = fixture_data();
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--validation-size",
        "20",
        "--hidden",
        "16",
        "--hidden-activation",
        "relu",
        "--loss",
        "softmax",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--batch-size",
        "40",
        "--epochs",
        "3",
        "-o",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_nn-cli")).args(&args).output().expect("nn-cli runs")
}

#[test]
fn train_writes_model_metrics_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let out = train(&model, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("epoch 1/3  loss "), "{stdout}");
    assert!(stdout.contains(" val ") && stdout.contains(" test "), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("test accuracy: 0.") && last.len() == "test accuracy: 0.1234".len(), "{last}");

    let network = nn_core::load_model(&model).unwrap();
    assert_eq!(network.sizes(), vec![784, 16, 10]);
    let metrics = std::fs::read_to_string(dir.path().join("m.metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["epoch"], 3);
    assert!(records[0]["validation"]["accuracy"].is_number());
    assert!(dir.path().join("m.checkpoint").is_file());
}

#[test]
fn quiet_prints_only_the_final_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = train(&dir.path().join("q.json"), &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("epoch 1/3"), "{stdout}");
    assert!(stdout.trim_end().ends_with(|c: char| c.is_ascii_digit()));
}

#[test]
fn resuming_ends_with_the_weights_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    assert!(train(&whole, &["--quiet"]).status.success());
    let parts = dir.path().join("parts.json");
    let out = train(&parts, &["--quiet", "--epochs", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = train(&parts, &["--quiet", "--resume"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&parts).unwrap());
    let metrics = std::fs::read_to_string(dir.path().join("parts.metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
}

#[test]
fn one_and_two_threads_give_identical_models() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.json");
    let two = dir.path().join("two.json");
    // Batches of 80 are cut into shards, so two threads really do work in parallel.
    for (path, threads) in [(&one, "1"), (&two, "2")] {
        let out = train(path, &["--quiet", "--threads", threads, "--batch-size", "80", "--validation-size", "0"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
}

#[test]
fn divergence_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("d.json");
    let out = train(&model, &["--quiet", "--optimizer", "sgd", "--lr", "1e30"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("epoch 1") && stderr.contains("batch"), "{stderr}");
    assert!(stderr.contains("learning rate"), "{stderr}");
    assert!(!model.exists(), "no model is written from a diverged run");
}

#[test]
fn bad_flags_and_missing_data_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("x.json");
    let out = train(&model, &["--recipe", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the recipes are default, nielsen"), "{}", text(&out.stderr));

    let out = train(&model, &["--resume"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing to resume"), "{}", text(&out.stderr));

    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nn-cli"))
        .args(["train", "--data", empty.path().to_str().unwrap(), "-o", model.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cargo xtask fetch-data"), "{}", text(&out.stderr));
}

#[test]
fn a_run_writing_the_same_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    // This test's own process stands for a run in progress.
    std::fs::write(dir.path().join("m.json.lock"), std::process::id().to_string()).unwrap();
    let data = common::fixtures().join("mnist-100");
    let args = ["train", "--data", common::path_str(&data), "--validation-size", "20", "--epochs", "1", "--quiet"];
    let out = common::nn_cli(&[&args[..], &["-o", common::path_str(&model)]].concat());
    let stderr = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("another training run (process {})", std::process::id())), "{stderr}");
    assert!(!model.exists(), "nothing is written");
}
