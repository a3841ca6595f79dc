//! End-to-end tests of `nn-cli inspect` and `nn-cli show` on `fixtures/`.

mod common;
use common::{nn_cli, text};
use test_support::fixtures;

#[test]
fn inspect_images_reports_shape_and_pixels() {
    let file = fixtures().join("mnist-100/train-images-idx3-ubyte");
    let out = nn_cli(&["inspect", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("dimensions:  100 x 28 x 28"), "{stdout}");
    assert!(stdout.contains("min 0  max 255"), "{stdout}");
}

#[test]
fn inspect_labels_prints_a_histogram() {
    let file = fixtures().join("mnist-100/t10k-labels-idx1-ubyte");
    let out = nn_cli(&["inspect", file.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("100 labels"), "{stdout}");
    assert!(stdout.contains("classes:     10"), "{stdout}");
}

#[test]
fn inspect_refuses_every_malformed_file_cleanly() {
    for entry in std::fs::read_dir(fixtures().join("malformed")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap().starts_with("labels-out-of-range") {
            continue; // a valid IDX file; its fault shows only against a class count
        }
        let out = nn_cli(&["inspect", path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(path.file_name().unwrap().to_str().unwrap()), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn show_draws_a_digit_with_its_label() {
    let data = fixtures().join("mnist-100");
    let out = nn_cli(&["show", "--data", data.to_str().unwrap(), "--set", "test", "--index", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 29);
    assert!(stdout.contains('█'));
    assert!(stdout.ends_with("test image 0: label 7\n"), "{stdout}");
}

#[test]
fn show_writes_a_png_grid() {
    let data = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grid.png");
    let out = nn_cli(&["show", "--data", data.to_str().unwrap(), "--count", "12", "--png", png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image = image::open(&png).unwrap().into_luma8();
    // 10 columns and 2 rows of 28x28 digits at 4x, with 2-pixel gaps.
    assert_eq!(image.dimensions(), (10 * 114 + 2, 2 * 114 + 2));
    let ink = image.pixels().filter(|p| p.0[0] > 200).count();
    assert!(ink > 1000, "the grid looks blank ({ink} bright pixels)");
}

#[test]
fn show_out_of_range_and_missing_data_fail_cleanly() {
    let data = fixtures().join("mnist-100");
    let out = nn_cli(&["show", "--data", data.to_str().unwrap(), "--index", "100"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the training set has 100 images"), "{}", text(&out.stderr));
    let empty = tempfile::tempdir().unwrap();
    let out = nn_cli(&["show", "--data", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cargo xtask fetch-data"));
}
