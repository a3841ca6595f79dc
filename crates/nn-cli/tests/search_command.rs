//! End-to-end tests of `nn-cli search` and of recipe files on the 100-image fixture: a small
//! grid prints a ranked table and writes a recipe file that `nn-cli train --recipe-file`
//! trains with; the test set is never read; diverged runs rank last; bad recipe files and
//! oversized grids are refused clearly.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{nn_cli, text};

fn fixture_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100")
}

/// `nn-cli search` on `data` with a SGD/ReLU/softmax base, writing `output`.
fn search(data: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "search",
        "--recipe",
        "torch-seed",
        "--data",
        data.to_str().unwrap(),
        "--validation-size",
        "20",
        "--threads",
        "1",
        "-o",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    nn_cli(&args)
}

/// The table's rows (after the header), as cells.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("rank  hidden")).expect("a table header");
    lines[header + 1..]
        .iter()
        .take_while(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn a_small_grid_ranks_its_runs_and_writes_a_recipe_that_train_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.json");
    let out = search(&fixture_data(), &best, &["--hidden", "4,12", "--lr", "0.05,0.2", "--epochs", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("searching 4 configurations"), "{stdout}");
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 4, "{stdout}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (i + 1).to_string(), "{stdout}");
        assert!(["4", "12"].contains(&row[1].as_str()) && ["0.05", "0.2"].contains(&row[2].as_str()), "{stdout}");
        assert_eq!((row[3].as_str(), row[4].as_str()), ("32", "2"), "{stdout}");
        assert!(row[5].ends_with('%') && ["1", "2"].contains(&row[6].as_str()), "{stdout}");
    }
    let accuracies: Vec<f32> = rows.iter().map(|r| r[5].trim_end_matches('%').parse().unwrap()).collect();
    assert!(accuracies.windows(2).all(|w| w[0] >= w[1]), "ranked best first: {stdout}");
    assert!(!stdout.contains(" test"), "the search reports no test figure: {stdout}");

    let recipe: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&best).unwrap()).unwrap();
    let hidden: usize = rows[0][1].parse().unwrap();
    assert_eq!(recipe["hidden"], serde_json::json!([hidden]));
    assert_eq!(recipe["learning_rate"].as_f64().unwrap() as f32, rows[0][2].parse::<f32>().unwrap());
    assert_eq!(recipe["epochs"], 2);
    assert_eq!(recipe["batch_size"], 32);
    assert_eq!(recipe["validation_size"], 20);
    assert_eq!(recipe["optimizer"], "sgd");

    let model = dir.path().join("m.json");
    let data = fixture_data();
    let out = nn_cli(&[
        "train",
        "--recipe-file",
        best.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--validation-size",
        "20",
        "-o",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("epoch 2/2") && !stdout.contains("epoch 3/"), "{stdout}");
    assert_eq!(nn_core::load_model(&model).unwrap().sizes(), vec![784, hidden, 10]);
}

#[test]
fn train_flags_override_a_recipe_file_and_conflict_with_a_recipe_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.json");
    std::fs::write(
        &file,
        r#"{"base": "torch-seed", "hidden": [6], "epochs": 1, "validation_size": 20, "sampling": "shuffle"}"#,
    )
    .unwrap();
    let model = dir.path().join("m.json");
    let data = fixture_data();
    let (file, model, data) = (file.to_str().unwrap(), model.to_str().unwrap(), data.to_str().unwrap());
    let out = nn_cli(&["train", "--recipe-file", file, "--data", data, "--hidden", "5", "--epochs", "2", "-o", model]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("recipe mine (from "), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("epoch 2/2"), "{}", text(&out.stdout));
    assert_eq!(nn_core::load_model(Path::new(model)).unwrap().sizes(), vec![784, 5, 10]);

    let out = nn_cli(&["train", "--recipe", "nielsen", "--recipe-file", file, "--data", data, "-o", model]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot be used with"), "{}", text(&out.stderr));
}

#[test]
fn the_search_never_reads_the_test_set() {
    // A data directory with the training files only: loading a test file would fail.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train-only");
    std::fs::create_dir(&data).unwrap();
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        std::fs::copy(fixture_data().join(name), data.join(name)).unwrap();
    }
    let best = dir.path().join("best.json");
    let out = search(&data, &best, &["--hidden", "4", "--lr", "0.1", "--epochs", "1", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(best.is_file());
}

#[test]
fn diverged_runs_are_ranked_last_and_are_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.json");
    let out = search(&fixture_data(), &best, &["--hidden", "4", "--lr", "1e30,0.1", "--epochs", "1", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!((rows[0][2].as_str(), rows[1][2].as_str()), ("0.1", "1e30"), "{stdout}");
    assert_eq!(rows[1][5], "diverged", "{stdout}");
    assert!(!stdout.contains("run 1/2"), "--quiet prints no line per run: {stdout}");
    let recipe: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&best).unwrap()).unwrap();
    assert_eq!(recipe["learning_rate"].as_f64().unwrap() as f32, 0.1);

    let out =
        search(&fixture_data(), &dir.path().join("none.json"), &["--hidden", "4", "--lr", "1e30", "--epochs", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("every run diverged"), "{}", text(&out.stderr));
    assert!(!dir.path().join("none.json").exists());
}

#[test]
fn a_random_search_is_deterministic_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let grid = ["--hidden", "3,5,7", "--lr", "0.05,0.1,0.2", "--batch-size", "16,40", "--epochs", "1", "--random", "3"];
    let run = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        let out = search(&fixture_data(), &path, &[&grid[..], &["--seed", seed, "--quiet"]].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        // Everything but the seconds.
        let rows: Vec<Vec<String>> = table_rows(&text(&out.stdout)).into_iter().map(|r| r[..7].to_vec()).collect();
        assert_eq!(rows.len(), 3);
        (rows, std::fs::read_to_string(path).unwrap())
    };
    let (rows, recipe) = run("a.json", "5");
    let (again, recipe_again) = run("b.json", "5");
    assert_eq!(rows, again);
    assert_eq!(recipe.replace("\"b\"", "\"a\""), recipe_again.replace("\"b\"", "\"a\""));
}

#[test]
fn oversized_grids_and_missing_validation_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.json");
    let rates: Vec<String> = (1..=101).map(|i| format!("0.{i:03}")).collect();
    let rates = rates.join(",");
    let out = search(&fixture_data(), &best, &["--hidden", "4,8", "--lr", &rates]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("202 configurations") && stderr.contains("200"), "{stderr}");

    let data = fixture_data();
    let out = nn_cli(&["search", "--recipe", "keras", "--data", data.to_str().unwrap(), "-o", best.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--validation-size"), "{}", text(&out.stderr));

    let out = search(&fixture_data(), &best, &["--lr=-0.5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("learning rate must be finite and positive"), "{}", text(&out.stderr));
    assert!(!best.exists());
}

#[test]
fn bad_recipe_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture_data();
    let model = dir.path().join("m.json");
    let cases = [
        ("not-json.json", "hidden: 30\n", "not a valid recipe file"),
        ("unknown.json", r#"{"base": "nielsen", "hiden": [30]}"#, "unknown field `hiden`"),
        ("negative.json", r#"{"base": "nielsen", "learning_rate": -0.1}"#, "learning rate must be finite and positive"),
        ("partial.json", r#"{"hidden": [30]}"#, "missing \"hidden_activation\""),
    ];
    for (name, content, expected) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let file = file.to_str().unwrap();
        for command in ["train", "search"] {
            let out = nn_cli(&[
                command,
                "--recipe-file",
                file,
                "--data",
                data.to_str().unwrap(),
                "-o",
                model.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(1), "{command} {name}");
            let stderr = text(&out.stderr);
            assert!(stderr.contains(expected) && stderr.contains(name), "{command} {name}: {stderr}");
        }
    }
    let out = nn_cli(&["train", "--recipe-file", dir.path().join("absent.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read the recipe file"), "{}", text(&out.stderr));
    assert!(!model.exists());
}
