//! End-to-end tests of `nn-cli baseline svm`: on the fixtures, beside scikit-learn's `SVC()` on
//! the same images (`scripts/sklearn_svc.py`; needs python3 with numpy and scikit-learn, skipped
//! with a note without them, required under CI), its refusals, and on the real data when present.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

fn fixture_data() -> PathBuf {
    fixtures().join("mnist-100")
}

/// The number before " / N test images right" in `line`.
fn right(line: &str) -> usize {
    let before = &line[..line.find(" / ").unwrap_or_else(|| panic!("no count in {line:?}"))];
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

/// The number before `word` in `text`.
fn count_before(text: &str, word: &str) -> usize {
    let before = &text[..text.find(word).unwrap_or_else(|| panic!("no {word:?} in {text:?}"))];
    before.trim_end().rsplit([' ', ',']).next().unwrap().parse().unwrap()
}

#[test]
fn svm_prints_its_accuracy_beside_the_published_one() {
    let out = nn_cli(&["baseline", "svm", "--data", path_str(&fixture_data())]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("svm: RBF kernel, C = 1, gamma 'scale', tolerance 0.001"), "{stdout}");
    assert!(stdout.contains("on 100 training images"), "{stdout}");
    assert!(stdout.contains("45 binary problems, "), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("svm (RBF, C=1, gamma=0.0138"), "{last}");
    assert!(
        last.ends_with("/ 100 test images right, 68.00% (published: 94.35%, Nielsen, ch. 1, scikit-learn's SVC)"),
        "{last}"
    );
    // The first 50 images only.
    let out = nn_cli(&["baseline", "svm", "--data", path_str(&fixture_data()), "--train-size", "50"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("on 50 training images"), "{}", text(&out.stdout));
}

/// scikit-learn's answer on `data` with `extra` arguments, or `None` (with a note) when python3,
/// numpy or scikit-learn is missing outside CI.
fn scikit_learn(data: &Path, extra: &[&str]) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sklearn_svc.py");
    let required = std::env::var("CI").is_ok_and(|v| v == "true");
    let out = Command::new("python3").arg(&script).arg("--data").arg(data).args(extra).output();
    let missing = match &out {
        Err(e) => Some(format!("python3 does not run: {e}")),
        Ok(out) if text(&out.stderr).contains("ModuleNotFoundError") => Some(text(&out.stderr)),
        Ok(_) => None,
    };
    if let Some(why) = missing {
        assert!(!required, "CI=true but scikit-learn's side cannot run: {why}");
        eprintln!("skipping the comparison with scikit-learn: {why}");
        return None;
    }
    let out = out.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    Some(text(&out.stdout))
}

#[test]
fn svm_agrees_with_scikit_learn_on_the_fixtures() {
    // Today's default gamma, the one before scikit-learn 0.22 and a given one.
    for gamma in ["scale", "auto", "0.02"] {
        let Some(theirs) = scikit_learn(&fixture_data(), &["--gamma", gamma]) else { return };
        let out = nn_cli(&["baseline", "svm", "--data", path_str(&fixture_data()), "--gamma", gamma]);
        let ours = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        // The same support vectors and the same test images right.
        let vectors = |text: &str| count_before(text, "support vectors");
        assert_eq!(vectors(&ours), vectors(&theirs), "--gamma {gamma}:\n{ours}\n{theirs}");
        assert_eq!(right(ours.lines().last().unwrap()), right(theirs.lines().last().unwrap()), "{ours}\n{theirs}");
        // The same gamma, to the 6 places both print.
        let gamma_of =
            |text: &str| text[text.find("gamma").unwrap()..].split([' ', '=', ')', ',']).nth(1).unwrap().to_owned();
        assert_eq!(gamma_of(ours.lines().last().unwrap()), gamma_of(&theirs), "{ours}\n{theirs}");
    }
}

#[test]
fn svm_refuses_bad_sizes_with_a_clear_error() {
    let data = fixture_data();
    let run = |extra: &[&str]| nn_cli(&[&["baseline", "svm", "--data", path_str(&data)][..], extra].concat());
    let out = run(&["--train-size", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid value '0' for '--train-size <N>'"), "{}", text(&out.stderr));
    let out = run(&["--train-size", "101"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--train-size 101 is more than the 100 training images"),
        "{}",
        text(&out.stderr)
    );
    // The fixture's first image is a 5.
    let out = run(&["--train-size", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("every training sample is of class 5"), "{}", text(&out.stderr));
    let out = run(&["--gamma=-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("\"-1\" is not scale, auto or a positive number"), "{}", text(&out.stderr));
    let out = run(&["--memory-limit", "10M"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("this SVM needs at least") && stderr.contains("and the limit is 10.5 MB"), "{stderr}");
}

#[test]
fn svm_on_two_thousand_real_images_matches_scikit_learn() {
    let Some(data) = test_support::full_data_dir() else { return };
    let out = nn_cli(&["baseline", "svm", "--data", path_str(&data), "--train-size", "2000"]);
    let ours = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let right = right(ours.lines().last().unwrap());
    // scikit-learn 1.9.1's SVC() on the same 2000 images: 1232 support vectors, 9302 right.
    assert!(right.abs_diff(9302) <= 50, "{ours}");
    assert!(count_before(&ours, "support vectors").abs_diff(1232) <= 10, "{ours}");
}
