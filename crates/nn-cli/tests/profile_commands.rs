//! `nn-cli bench --profile RECIPE` and `train --profile`: a line for every layer and every other
//! part of a step, on the 100-image fixture. The figures themselves are timings, checked for
//! their form only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::text;

fn fixture_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100")
}

fn nn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nn-cli")).args(args).output().expect("nn-cli runs")
}

/// The part names of the table, first column, between the header and the total, which it ends
/// with (the notes below it are not parts).
fn parts(table: &str) -> Vec<String> {
    let mut after_total = false;
    table
        .lines()
        .skip_while(|line| !line.starts_with("part"))
        .skip(1)
        .take_while(|line| !std::mem::replace(&mut after_total, line.starts_with("total")))
        .map(|line| line.split("  ").next().unwrap_or_default().trim().to_string())
        .collect()
}

#[test]
fn bench_profile_has_a_line_for_every_layer_and_part() {
    let data = fixture_data();
    let out = nn(&["bench", "--profile", "pytorch-example", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("where an epoch of pytorch-example goes: batches of 64"), "{table}");
    assert_eq!(
        parts(&table),
        [
            "0 conv 32@3x3, relu",
            "1 conv 64@3x3, relu",
            "2 maxpool 2x2",
            "3 dropout 0.25",
            "4 flatten",
            "5 dense relu",
            "6 dropout 0.5",
            "7 dense identity",
            "loss",
            "optimizer step",
            "sum of shards",
            "total",
        ],
        "{table}"
    );
    let total = table.lines().find(|l| l.starts_with("total")).unwrap();
    assert!(total.trim_end().ends_with("100.0%"), "{total}");
    // The first layer computes no input gradient: training does not need one.
    let first = table.lines().find(|l| l.starts_with("0 conv")).unwrap();
    assert_eq!(first.split_whitespace().nth(6), Some("-"), "{first}");
    assert!(table.lines().last().unwrap().starts_with("peak: "), "{table}");
    // The trainer computes conv2 and its pooling in one pass, and the profile times them so.
    let note = "layer 1's times include layer 2's: the trainer computes conv 64@3x3, relu and maxpool 2x2 in one pass";
    assert!(table.lines().any(|line| line == note), "{table}");
    let pool = table.lines().find(|l| l.starts_with("2 maxpool")).unwrap();
    assert_eq!(pool.split_whitespace().skip(3).take(3).collect::<Vec<_>>(), ["0.000"; 3], "{pool}");

    let out = nn(&["bench", "--profile", "nope", "--data", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown recipe \"nope\""), "{}", text(&out.stderr));
}

#[test]
fn train_profile_shows_the_run_then_trains_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let data = fixture_data();
    let out = nn(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--validation-size",
        "20",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
        "--profile",
        "-o",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("where an epoch of default goes: batches of 10, 8 an epoch"), "{stdout}");
    assert_eq!(parts(&stdout)[..2], ["0 dense relu", "1 dense identity"], "{stdout}");
    assert!(stdout.lines().last().unwrap().starts_with("test accuracy: "), "{stdout}");
    assert!(model.exists());
}

#[test]
fn bench_lines_carry_each_recipes_floor() {
    let data = fixture_data();
    let out = nn(&["bench", "--training-only", "--data", data.to_str().unwrap(), "keras-512"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("keras-512 ")).unwrap();
    let field = |key: &str| -> f64 {
        line.split_whitespace().find_map(|w| w.strip_prefix(key)).and_then(|v| v.parse().ok()).unwrap()
    };
    // The reference's fields first, as `cargo xtask bench --compare` reads them.
    assert!(line.starts_with("keras-512 epoch_s="), "{line}");
    assert!(field("epoch_s=") > 0.0 && (0.0..=1.0).contains(&field("test_acc=")), "{line}");
    assert!(field("floor_s=") > 0.0, "{line}");
}
