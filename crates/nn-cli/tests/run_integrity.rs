//! A training run's files are one unit, a resumed run is the run it says it is, and what a
//! command reports is true: the reliability cases of issue 13 that concern `train`, `eval`,
//! `predict` and `bench`, each run end to end on the 100-image fixture.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nn_core::{Activation, Init, Loss, Network};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

fn data() -> PathBuf {
    fixtures().join("mnist-100")
}

/// `nn-cli train` on the fixture with 20 images held out and a small network.
fn train_args<'a>(data: &'a Path, model: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", path_str(data), "--validation-size", "20", "--hidden", "16"];
    // These runs are too short to learn: what they test is the files they write.
    args.extend_from_slice(&["--batch-size", "40", "--quiet", "--allow-no-learning", "-o", path_str(model)]);
    args.extend_from_slice(extra);
    args
}

fn train(model: &Path, extra: &[&str]) -> Output {
    let data = data();
    nn_cli(&train_args(&data, model, extra))
}

fn run_files(model: &Path) -> [PathBuf; 4] {
    let stem = model.file_stem().unwrap().to_str().unwrap();
    let beside = |suffix: &str| model.with_file_name(format!("{stem}{suffix}"));
    [model.to_path_buf(), beside(".metrics.jsonl"), beside(".checkpoint"), beside(".checkpoint.run.json")]
}

fn contents(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))).collect()
}

#[test]
fn a_new_run_interrupted_leaves_the_finished_run_whole_and_replaces_it_when_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let out = train(&model, &["--epochs", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let files = run_files(&model);
    let finished = contents(&files);

    // A new run of many epochs, killed (no chance to clean up) once its first epoch is logged.
    let data = data();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nn-cli"))
        .args(train_args(&data, &model, &["--epochs", "100000", "--seed", "2"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pending_metrics = dir.path().join("m.metrics.jsonl.partial");
    let started = Instant::now();
    while !dir.path().join("m.checkpoint.partial").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the new run logged no epoch");
        assert!(child.try_wait().unwrap().is_none(), "the new run ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(contents(&files), finished, "the finished run's four files are untouched");

    // Resumed, the new run finishes after one more epoch and replaces all four files at once.
    let logged = std::fs::read_to_string(&pending_metrics).unwrap().lines().count();
    let epochs = (logged + 1).to_string();
    let out = train(&model, &["--resume", "--epochs", &epochs, "--seed", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let resumed = contents(&files);
    for (before, after) in finished.iter().zip(&resumed) {
        assert_ne!(before, after);
    }
    assert_eq!(String::from_utf8_lossy(&resumed[1]).lines().count(), logged + 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn resume_refuses_flags_that_contradict_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    assert!(train(&model, &["--epochs", "1"]).status.success());
    let before = contents(&run_files(&model));
    let out = train(&model, &["--resume", "--epochs", "2", "--hidden", "32", "--lr", "0.5"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for named in ["--hidden (layers) 784,32,10 (the run's: 784,16,10)", "--lr 0.5 (the run's: 0.001)"] {
        assert!(stderr.contains(named), "{named} in {stderr}");
    }
    let data = data();
    let mut args = train_args(&data, &model, &["--resume", "--arch", "cnn"]);
    args.retain(|a| *a != "--hidden" && *a != "16");
    let out = nn_cli(&args);
    assert!(text(&out.stderr).contains("--arch cnn (the run's: 784,16,10)"), "{}", text(&out.stderr));
    assert_eq!(contents(&run_files(&model)), before);
    // Flags that agree with the run are no contradiction.
    let out = train(&model, &["--resume", "--epochs", "2", "--hidden", "16", "--seed", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn invalid_settings_are_refused_before_the_data_is_read_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let missing = dir.path().join("no-data-here");
    for (flag, value, said) in [
        ("--batch-size", "0", "batch size must be at least 1"),
        ("--epochs", "0", "epochs must be at least 1"),
        ("--lr=-1", "", "learning rate must be finite and positive"),
        ("--lambda=-2", "", "--lambda must be finite and at least 0"),
        ("--max-steps", "0", "--max-steps must be at least 1"),
        // Sizes that would abort on allocation (4e9 x 784 weights) or overflow a capacity.
        ("--hidden", "4000000000", "784 inputs and 4000000000 outputs make no layer or too large a one"),
        ("--hidden", "18446744073709551615", "too large"),
        ("--layers", "4000000000,10", "4000000000 inputs and 10 outputs make no layer or too large a one"),
    ] {
        let mut args = vec!["train", "--data", path_str(&missing), "-o", path_str(&model), flag];
        if !value.is_empty() {
            args.push(value);
        }
        let out = nn_cli(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {stderr}");
        assert!(stderr.contains(said), "{flag}: {stderr}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{flag} left files behind");
    }
}

#[test]
fn a_recipe_file_with_hidden_layers_too_large_is_refused_before_the_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("huge.json");
    std::fs::write(&recipe, r#"{"base": "nielsen", "hidden": [4000000000]}"#).unwrap();
    let model = dir.path().join("m.json");
    let missing = dir.path().join("no-data-here");
    let out =
        nn_cli(&["train", "--recipe-file", path_str(&recipe), "--data", path_str(&missing), "-o", path_str(&model)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("hidden layers [4000000000] cannot be built"), "{stderr}");
    assert!(!model.exists());
}

#[test]
fn a_short_run_says_only_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let out = train(&model, &["--epochs", "1", "--max-steps", "1"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("metrics") && stdout.contains("checkpoint"), "{stdout}");
    for file in run_files(&model) {
        assert!(file.is_file(), "{} was said to be written", file.display());
    }
}

#[test]
fn a_repeated_hidden_flag_replaces_the_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let out = train(&model, &["--epochs", "1", "--hidden", "12,8", "--hidden", "6"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(nn_core::load_model(&model).unwrap().sizes(), vec![784, 6, 10]);
}

#[test]
fn a_log_that_cannot_be_written_is_named_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    // A directory where the metrics log should go: writing it fails after the first epoch.
    let metrics = dir.path().join("log.jsonl.partial");
    std::fs::create_dir(&metrics).unwrap();
    let out = train(&model, &["--epochs", "2", "--metrics", path_str(&dir.path().join("log.jsonl"))]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("log.jsonl.partial") && stderr.contains("os error"), "{stderr}");
    assert!(!stderr.contains("observer failed"), "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "the reason is said once: {stderr}");
    assert!(!model.exists());
}

#[test]
fn eval_uses_the_split_the_model_was_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    let data = data();
    let model = dir.path().join("m.json");
    assert!(train(&model, &["--epochs", "1"]).status.success());
    let eval = |model: &Path, extra: &[&str]| {
        let args = [&["eval", "--model", path_str(model), "--data", path_str(&data), "--json"][..], extra].concat();
        nn_cli(&args)
    };
    let out = eval(&model, &["--set", "validation"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["total"], 20, "the 20 images held out, no more");
    let out = eval(&model, &["--set", "train"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["total"], 80);

    let out = eval(&model, &["--set", "validation", "--validation-size", "50"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("last 20 training images held out"), "{}", text(&out.stderr));

    let all = dir.path().join("all.json");
    assert!(train(&all, &["--epochs", "1", "--validation-size", "0"]).status.success());
    let out = eval(&all, &["--set", "validation"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no validation set"), "{}", text(&out.stderr));

    // A model that records no split (imported, or older) needs the split to be given.
    let plain = dir.path().join("plain.json");
    nn_core::save_model(&nn_core::load_model(&model).unwrap(), &plain).unwrap();
    let out = eval(&plain, &["--set", "validation"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not record which images"), "{}", text(&out.stderr));
    assert!(eval(&plain, &["--set", "validation", "--validation-size", "20"]).status.success());
}

#[test]
fn a_model_whose_outputs_overflow_is_an_error_not_a_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("huge.json");
    let mut network = Network::dense(&[784, 8, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    for parameter in network.parameters_mut() {
        parameter.fill(1e30);
    }
    nn_core::save_model(&network, &model).unwrap();
    let image = fixtures().join("images/seven.png");
    let out = nn_cli(&["predict", "--model", path_str(&model), path_str(&image)]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("NaN"), "{stdout}");
    assert!(stderr.contains("overflow"), "{stderr}");
    let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("overflow"), "{}", text(&out.stderr));
}

#[test]
fn bench_refuses_an_unknown_recipe() {
    let out = nn_cli(&["bench", "no-such-recipe"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no bench recipe no-such-recipe"), "{}", text(&out.stderr));
}

#[test]
fn search_refuses_an_unusable_output_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.txt");
    std::fs::write(&file, "not a folder").unwrap();
    let data = data();
    for (output, said) in
        [(file.join("best.json"), "cannot create the folder"), (dir.path().to_path_buf(), "is a directory")]
    {
        let out = nn_cli(&[
            "search",
            "--data",
            path_str(&data),
            "--validation-size",
            "20",
            "--hidden",
            "8",
            "--lr",
            "0.1,0.2",
            "--epochs",
            "1",
            "-o",
            path_str(&output),
        ]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(!stdout.contains("20.00%") && !stdout.contains("  1  "), "no run was made: {stdout}");
    }
}

#[test]
fn an_npz_whose_arrays_do_not_fit_is_named() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let npz = |hidden: usize| {
        let network = Network::dense(&[784, hidden, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1);
        nn_core::network_to_npz_bytes(&network.unwrap()).unwrap()
    };
    let (wide, narrow) = (npz(16), npz(8));
    // W1 and b1 of a 16-unit layer, W2 and b2 of an 8-unit one.
    let mixed = dir.path().join("mixed.npz");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&mixed).unwrap());
    for (source, name) in [(&wide, "W1.npy"), (&wide, "b1.npy"), (&narrow, "W2.npy"), (&narrow, "b2.npy")] {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(source.as_slice())).unwrap();
        let mut bytes = Vec::new();
        archive.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
        writer.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        writer.write_all(&bytes).unwrap();
    }
    writer.finish().unwrap();
    let out = nn_cli(&["import", "--npz", path_str(&mixed), "-o", path_str(&dir.path().join("m.json"))]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mixed.npz") && stderr.contains("W2 has 8 rows"), "{stderr}");
}

/// A copy of the fixture whose training file is changed by `edit(images, labels)`.
fn edited_copy(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) -> PathBuf {
    let copy = dir.join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for file in std::fs::read_dir(data()).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, copy.join(file.file_name().unwrap())).unwrap();
    }
    let (images, labels) = (copy.join("train-images-idx3-ubyte"), copy.join("train-labels-idx1-ubyte"));
    let (mut image_bytes, mut label_bytes) = (std::fs::read(&images).unwrap(), std::fs::read(&labels).unwrap());
    edit(&mut image_bytes, &mut label_bytes);
    std::fs::write(&images, image_bytes).unwrap();
    std::fs::write(&labels, label_bytes).unwrap();
    copy
}

#[test]
fn resume_refuses_other_data_and_a_record_that_disagrees_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let first = train(&model, &["--epochs", "1"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // One pixel changed in place, and the first 60 images only: both are other data.
    let edited = edited_copy(dir.path(), "edited", |images, _| images[16 + 300] ^= 0xff);
    let fewer = edited_copy(dir.path(), "fewer", |images, labels| {
        images[4..8].copy_from_slice(&60u32.to_be_bytes());
        images.truncate(16 + 60 * 784);
        labels[4..8].copy_from_slice(&60u32.to_be_bytes());
        labels.truncate(8 + 60);
    });
    let before = contents(&run_files(&model));
    for (other, holds) in [(&edited, "holds 100 training images"), (&fewer, "holds 60 training images")] {
        let out = nn_cli(&train_args(other, &model, &["--resume", "--epochs", "2"]));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("--resume continues a run trained on 100 training images (sha256:"), "{stderr}");
        assert!(stderr.contains(holds), "{stderr}");
        assert_eq!(contents(&run_files(&model)), before, "a refused resume changes no file");
    }
    // The run's own data, even as a copy in another folder, resumes.
    let same = edited_copy(dir.path(), "same", |_, _| {});
    let out = nn_cli(&train_args(&same, &model, &["--resume", "--epochs", "2"]));
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A record edited by hand no longer matches its checkpoint.
    let record = run_files(&model)[3].clone();
    let text_of_record = std::fs::read_to_string(&record).unwrap();
    assert!(text_of_record.contains("\"eval_batch_size\": 1000"), "{text_of_record}");
    std::fs::write(&record, text_of_record.replace("\"eval_batch_size\": 1000", "\"eval_batch_size\": 999")).unwrap();
    let data = data();
    let out = nn_cli(&["train", "--resume", "--epochs", "3", "--data", path_str(&data), "-o", path_str(&model)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("do not belong together") && stderr.contains("the training settings"), "{stderr}");
}

#[test]
fn a_run_too_large_for_the_memory_is_refused_with_the_estimate_before_it_allocates() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let data = data();
    // 80,000 feature maps of 28x28 for each image: tens of GB a batch, which the allocator
    // would abort on; refused instead, naming the estimate and what to change.
    let wide = "conv(80000,3,pad=1) relu maxpool(28) flatten dense(10)";
    let out = nn_cli(&[
        "train",
        "--arch",
        wide,
        "--data",
        path_str(&data),
        "--validation-size",
        "20",
        "-o",
        path_str(&model),
        "--memory-limit",
        "16G",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this network needs about") && stderr.contains("GB to train on batches of 80"), "{stderr}");
    assert!(stderr.contains("--memory-limit allows 17.2 GB") && stderr.contains("use a smaller batch"), "{stderr}");
    // A run that fits trains; the same run under a limit below its estimate is refused.
    let small = ["--epochs", "1", "--batch-size", "10", "--allow-no-learning", "--quiet"];
    let out = nn_cli(&[&train_args(&data, &model, &[])[..], &small, &["--memory-limit", "1G"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = nn_cli(&[&train_args(&data, &model, &[])[..], &small, &["--memory-limit", "10M"]].concat());
    assert!(text(&out.stderr).contains("and --memory-limit allows 10.5 MB"), "{}", text(&out.stderr));
    let out = nn_cli(&["train", "--memory-limit", "lots", "--data", path_str(&data)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // `summary` says what `train` checks.
    let summary = text(&nn_cli(&["summary", "--model", path_str(&model)]).stdout);
    assert!(summary.contains("memory: parameters 50.9 KB; training on batches of 128 with Adam about"), "{summary}");
}
