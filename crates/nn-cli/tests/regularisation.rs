//! `nn-cli train --dropout`, `--max-norm` and `--augment` end to end on the 100-image fixture:
//! they reach the network and the run's settings, give the same model on 1 and 2 threads, and a
//! resumed run refuses to change them.

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

fn train(model: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let data = fixtures().join("mnist-100");
    let mut args = vec![
        "train",
        "--data",
        path_str(&data),
        "--validation-size",
        "20",
        "--hidden",
        "32,16",
        "--hidden-activation",
        "relu",
        "--loss",
        "softmax",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--batch-size",
        "20",
        "--epochs",
        "2",
        "--quiet",
        "-o",
        path_str(model),
    ];
    args.extend_from_slice(extra);
    nn_cli(&args)
}

const REGULARISED: [&str; 6] = ["--dropout", "0.3", "--max-norm", "2", "--augment", "shift=2,rotate=10,elastic=20/3"];

#[test]
fn dropout_max_norm_and_augmentation_reach_the_run_and_stay_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("reg.json");
    let out = train(&model, &REGULARISED);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let network = nn_core::load_model(&model).unwrap();
    assert_eq!(network.architecture().to_string(), "dense(32) relu dropout(0.3) dense(16) relu dropout(0.3) dense(10)");
    for layer in network.parameters().iter().step_by(2) {
        for row in layer.row_iter() {
            assert!(row.norm() <= 2.0 + 1e-4, "max-norm holds: {}", row.norm());
        }
    }
    let settings = std::fs::read_to_string(dir.path().join("reg.checkpoint.run.json")).unwrap();
    assert!(settings.contains("\"max_norm\": 2.0") && settings.contains("\"elastic_alpha\": 20.0"), "{settings}");

    let two_threads = dir.path().join("reg2.json");
    let out = train(&two_threads, &[&REGULARISED[..], &["--threads", "2"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let one = nn_core::load_model(&model).unwrap();
    let two = nn_core::load_model(&two_threads).unwrap();
    assert_eq!(one.parameters(), two.parameters(), "the same bits on 1 and 2 threads");

    let out = train(&model, &["--resume", "--epochs", "3", "--augment", "shift=1", "--max-norm", "3"]);
    assert!(!out.status.success());
    let error = text(&out.stderr);
    assert!(error.contains("--augment shift=1 (the run's: shift=2,rotate=10,elastic=20/3)"), "{error}");
    assert!(error.contains("--max-norm 3 (the run's: 2)"), "{error}");
    let out = train(&model, &["--resume", "--epochs", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Without --quiet, the first line states them.
    let data = fixtures().join("mnist-100");
    let shown = dir.path().join("shown.json");
    let args = ["train", "--data", path_str(&data), "--validation-size", "20", "--hidden", "8", "--epochs", "1"];
    let out = nn_cli(&[&args[..], &REGULARISED, &["-o", path_str(&shown)]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).lines().next().unwrap_or_default().to_string();
    for part in [
        "changed by --hidden 8 --epochs 1 --validation-size 20 --dropout 0.3 --max-norm 2 --augment shift=2,rotate=10,elastic=20/3",
        "dense(8) relu dropout(0.3) dense(10)",
        "max-norm 2, training images moved by shift=2,rotate=10,elastic=20/3",
    ] {
        assert!(first.contains(part), "{part:?} missing from {first}");
    }
}

#[test]
fn bad_regularisation_flags_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bad.json");
    for (flags, expected) in [
        (&["--dropout", "1.5"][..], "--dropout must be at least 0 and below 1"),
        (&["--max-norm=-1"][..], "max-norm constraint must be finite and positive"),
        (&["--augment", "twist=3"][..], "unknown augmentation \"twist\""),
        (&["--augment", "scale=2"][..], "scale must be below 1"),
        (&["--arch", "conv(4,3) relu flatten dense(10)", "--dropout", "0.5"][..], "cannot be used with"),
    ] {
        let out = nn_cli(
            &[&["train", "--data", path_str(&fixtures().join("mnist-100")), "-o", path_str(&model)][..], flags]
                .concat(),
        );
        assert!(!out.status.success(), "{flags:?}");
        assert!(text(&out.stderr).contains(expected), "{flags:?}: {}", text(&out.stderr));
        assert!(!model.exists(), "{flags:?} wrote a model");
    }
}

#[test]
fn an_augmentation_off_the_field_is_refused_before_the_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (missing, model) = (dir.path().join("no-data-here"), dir.path().join("model.json"));
    for (spec, expected) in [
        ("shift=100", "shift must be at most 7 pixels (a quarter of a 28-pixel image), not 100"),
        ("shift=1e30", "shift must be at most 7 pixels"),
        ("shift=2,shift=3", "shift is given twice"),
        ("elastic=34", "elastic=34 needs a sigma: write elastic=ALPHA/SIGMA"),
    ] {
        let out = nn_cli(&["train", "--data", path_str(&missing), "-o", path_str(&model), "--augment", spec]);
        let error = text(&out.stderr);
        assert!(!out.status.success(), "{spec}");
        assert!(error.contains(expected), "{spec}: {error}");
        assert!(!error.contains("no-data-here"), "{spec}: the data was looked for first: {error}");
        assert!(!model.exists(), "{spec} wrote a model");
    }
}
