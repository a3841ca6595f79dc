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
    let data = test_support::fixtures().join("mnist-100");
    let args = ["train", "--data", common::path_str(&data), "--validation-size", "20", "--epochs", "1", "--quiet"];
    let out = common::nn_cli(&[&args[..], &["-o", common::path_str(&model)]].concat());
    let stderr = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("another training run (process {})", std::process::id())), "{stderr}");
    assert!(!model.exists(), "nothing is written");
}

/// `nn-cli train` on the 100-image fixture with `args` after the data and output.
fn train_fixture(output: &Path, args: &[&str]) -> Output {
    let data = fixture_data();
    let base = ["train", "--data", data.to_str().unwrap(), "-o", output.to_str().unwrap()];
    common::nn_cli(&[&base[..], args].concat())
}

#[test]
fn nielsen_is_network_py_and_chapter_3_is_a_recipe_of_its_own() {
    let listing = text(&common::nn_cli(&["recipes"]).stdout);
    let line = |name: &str| listing.lines().find(|l| l.split_whitespace().next() == Some(name)).map(str::to_string);
    assert!(line("nielsen").unwrap().contains("N(0,1)"), "{listing}");
    assert!(line("nielsen-ch3").unwrap().contains("N(0,1/n)"), "{listing}");

    // A model trained one short epoch by the recipe still has its first weights spread as N(0, 1).
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("n.json");
    let out = train_fixture(&model, &["--recipe", "nielsen", "--epochs", "1", "--validation-size", "20", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let network = nn_core::load_model(&model).unwrap();
    let weights = network.parameters()[0];
    assert_eq!(weights.len(), 784 * 30);
    let n = weights.len() as f64;
    let mean = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / n;
    let std = (weights.iter().map(|&w| (f64::from(w) - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.03 && (std - 1.0).abs() < 0.03, "mean {mean}, std {std}");
}

#[test]
fn the_first_line_states_the_settings_used_with_every_override() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("o.json");
    let flags = ["--recipe", "nielsen", "--lr", "0.01", "--epochs", "1", "--validation-size", "20"];
    let out = train_fixture(&model, &flags);
    assert!(out.status.success() || out.status.code() == Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("recipe nielsen, changed by --lr 0.01 --epochs 1 --validation-size 20: "), "{first}");
    assert!(
        first.contains("784-30-10 sigmoid, sigmoid_quadratic, init normal, sgd lr 0.01 (constant), batch 10"),
        "{first}"
    );
    assert!(first.contains("1 epochs") && first.contains("20 images held out") && first.contains("seed 1"), "{first}");
    assert!(!stdout.contains("eta 3.0") && !stdout.contains("lr 3 "), "{stdout}");

    let flags = ["--recipe", "nielsen-ch3", "--epochs", "1", "--validation-size", "20"];
    let out = train_fixture(&dir.path().join("p.json"), &flags);
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("recipe nielsen-ch3, changed by --epochs 1 --validation-size 20: "), "{first}");
    assert!(
        first.contains("softmax_cross_entropy, init nielsen, sgd lr 0.1") && first.contains("L2 lambda 5"),
        "{first}"
    );
}

/// The metrics log of a model file, one JSON value per record.
fn metrics_of(model: &Path) -> Vec<serde_json::Value> {
    let log = std::fs::read_to_string(model.with_extension("metrics.jsonl")).unwrap();
    log.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn each_epoch_reports_the_training_loss_and_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("k.json");
    let out = train(&model, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let epoch = stdout.lines().find(|l| l.starts_with("epoch 3/3")).unwrap();
    assert!(epoch.contains("  acc ") && epoch.contains("  val ") && epoch.contains("  test "), "{epoch}");
    let records = metrics_of(&model);
    assert_eq!(records.len(), 3);
    for (n, record) in records.iter().enumerate() {
        let accuracy = record["train_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{record}");
        // 80 training images in batches of 40: two steps an epoch.
        assert_eq!(record["step"], 2 * (n + 1), "{record}");
        assert!(record.get("partial").is_none(), "complete epochs keep the old form: {record}");
    }
}

#[test]
fn eval_every_and_a_stop_mid_epoch_are_logged_as_partial_records() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("e.json");
    // Batches of 20 on 80 images: four steps an epoch; evaluations after steps 3, 6 (and 9, 12).
    let out = train(&model, &["--batch-size", "20", "--eval-every", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("step 3 (epoch 1/3, 3/4 batches)  loss "), "{stdout}");
    assert!(stdout.contains("step 6 (epoch 2/3, 2/4 batches)  loss "), "{stdout}");
    let records = metrics_of(&model);
    let steps: Vec<(u64, bool)> =
        records.iter().map(|r| (r["step"].as_u64().unwrap(), r["partial"].as_bool().unwrap_or(false))).collect();
    let expected = [(3, true), (4, false), (6, true), (8, false), (9, true), (12, false)];
    assert_eq!(steps, expected);

    // A run stopped by --max-steps mid-epoch logs the part of the epoch it trained.
    let stopped = dir.path().join("s.json");
    let out = train(&stopped, &["--batch-size", "20", "--max-steps", "6"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = metrics_of(&stopped);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!((records[1]["epoch"].as_u64(), records[1]["step"].as_u64()), (Some(2), Some(6)));
    assert_eq!(records[1]["partial"], true);
    assert!(records[1]["test"]["accuracy"].is_number());
}

#[test]
fn metrics_are_the_same_with_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut logs = Vec::new();
    for threads in ["1", "2"] {
        let model = dir.path().join(format!("t{threads}.json"));
        let out = train(&model, &["--quiet", "--threads", threads, "--batch-size", "80", "--validation-size", "0"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let records: Vec<serde_json::Value> = metrics_of(&model)
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("seconds");
                r
            })
            .collect();
        logs.push(records);
    }
    assert_eq!(logs[0], logs[1]);
}

#[test]
fn a_run_that_learns_nothing_is_said_plainly_and_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    // Nielsen's network at eta = 100: the sigmoids saturate and the accuracy stays at chance.
    let model = dir.path().join("eta100.json");
    let flags = ["--recipe", "nielsen", "--lr", "100", "--epochs", "3", "--validation-size", "0", "--quiet"];
    let out = train_fixture(&model, &flags);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("warning: after epoch 1, test accuracy ") && stderr.contains("near chance"), "{stderr}");
    assert!(stderr.contains("learning rate is probably too high"), "{stderr}");
    assert!(stderr.contains("error: the run learnt nothing") && model.exists(), "{stderr}");
    let out = train_fixture(&model, &[&flags[..], &["--allow-no-learning"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: after epoch 1"), "the warning stays");

    // Adam at a learning rate of 1000: the loss explodes without becoming NaN.
    let flags = ["--optimizer", "adam", "--lr", "1000", "--batch-size", "10", "--hidden", "32", "--epochs", "2"];
    let out = train_fixture(&dir.path().join("adam.json"), &[&flags[..], &["--validation-size", "0"]].concat());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the training loss exploded from "), "{stderr}");

    // One batch holds the whole training set: one step an epoch.
    let flags = ["--hidden", "16", "--batch-size", "100", "--epochs", "1", "--validation-size", "0", "--lr", "1e-6"];
    let out = train_fixture(&dir.path().join("batch.json"), &flags);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a batch of 100 holds all 100 training samples"), "{stderr}");
}

#[test]
fn thread_counts_beyond_serves_range_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("threads.json");
    for threads in ["5000", "0", "1025"] {
        let out = train(&model, &["--threads", threads]);
        let error = text(&out.stderr);
        assert!(!out.status.success(), "--threads {threads}");
        assert!(error.contains(&format!("invalid value '{threads}' for '--threads <THREADS>'")), "{error}");
        assert!(error.contains("1..=1024"), "{error}");
        assert!(!model.exists(), "--threads {threads} wrote a model");
    }
}

#[test]
fn draws_with_replacement_are_said_resumed_exactly_and_kept_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    let out = train(&whole, &["--sampling", "replacement"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).lines().next().unwrap().to_string();
    assert!(first.contains("changed by") && first.contains("--sampling replacement"), "{first}");
    assert!(first.contains("images drawn with replacement"), "{first}");

    let parts = dir.path().join("parts.json");
    assert!(train(&parts, &["--quiet", "--sampling", "replacement", "--epochs", "1"]).status.success());
    let out = train(&parts, &["--quiet", "--resume", "--sampling", "shuffle"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--sampling shuffle"), "{}", text(&out.stderr));
    let out = train(&parts, &["--quiet", "--resume"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&parts).unwrap());

    let shuffled = dir.path().join("shuffled.json");
    assert!(train(&shuffled, &["--quiet"]).status.success());
    assert_ne!(std::fs::read(&whole).unwrap(), std::fs::read(&shuffled).unwrap());

    let out = train(&dir.path().join("x.json"), &["--sampling", "randint"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("shuffle or replacement"), "{}", text(&out.stderr));
}

#[test]
fn standardised_pixels_are_kept_in_the_model_applied_by_eval_and_export_and_resumed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    let out = train(&whole, &["--standardize"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.lines().next().unwrap().contains("pixels standardised"), "{stdout}");
    let accuracy = stdout.lines().last().unwrap().trim_start_matches("test accuracy: ").to_string();

    let network = nn_core::load_model(&whole).unwrap();
    let standardization = network.standardization().expect("the model keeps its standardisation");
    // A corner pixel is 0 in every image: centred on 0, not scaled. Pixels that vary are scaled.
    assert_eq!((standardization.mean()[0], standardization.deviation()[0]), (0.0, 1.0));
    assert!(standardization.deviation().iter().any(|&d| d < 0.5), "{:?}", &standardization.deviation()[300..310]);

    let nn = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_nn-cli")).args(args).output().unwrap();
    let data = fixture_data();
    let (data, model) = (data.to_str().unwrap(), whole.to_str().unwrap());
    let correct = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("inputs standardised"), "{stdout}");
        stdout.lines().find(|l| l.starts_with("correct:")).unwrap().to_string()
    };
    let evaluated = correct(nn(&["eval", "--model", model, "--data", data]));
    let hundredths: f32 = accuracy.parse().unwrap();
    assert_eq!(evaluated, format!("correct:  {} / 100", (hundredths * 100.0).round()));
    let summary = nn(&["summary", "--model", model]);
    assert!(text(&summary.stdout).contains("input, standardised"), "{}", text(&summary.stdout));

    // Through NumPy's and PyTorch's files and back: the same answers.
    let npz = dir.path().join("w.npz");
    let out = nn(&["export", "--model", model, "--npz", npz.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("input_mean and input_deviation"), "{}", text(&out.stdout));
    let back = dir.path().join("back.json");
    let (npz, back_path) = (npz.to_str().unwrap(), back.to_str().unwrap());
    let out = nn(&["import", "--npz", npz, "--hidden-activation", "relu", "--loss", "softmax", "-o", back_path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(correct(nn(&["eval", "--model", back_path, "--data", data])), evaluated);

    let parts = dir.path().join("parts.json");
    assert!(train(&parts, &["--quiet", "--standardize", "--epochs", "1"]).status.success());
    assert!(train(&parts, &["--quiet", "--resume"]).status.success());
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&parts).unwrap());

    let global = dir.path().join("global.json");
    let out = train(&global, &["--quiet", "--standardize", "global", "--epochs", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let global = nn_core::load_model(&global).unwrap();
    let pooled = global.standardization().unwrap();
    assert!(
        pooled.mean().iter().all(|&m| m == pooled.mean()[0]) && pooled.mean()[0] > 0.05,
        "{:?}",
        &pooled.mean()[..3]
    );
    assert!(pooled.deviation().iter().all(|&d| d == pooled.deviation()[0]));
    let out = train(&dir.path().join("x.json"), &["--standardize", "zca"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected per-pixel or global"), "{}", text(&out.stderr));

    let plain = dir.path().join("plain.json");
    assert!(train(&plain, &["--quiet", "--epochs", "1"]).status.success());
    assert!(nn_core::load_model(&plain).unwrap().standardization().is_none());
    let out = train(&plain, &["--quiet", "--resume", "--standardize"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--standardize per-pixel (the run's: none)"), "{}", text(&out.stderr));
}
