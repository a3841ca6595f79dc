//! End-to-end tests of `nn-cli import --pickle`: pickles that Python's own `pickle` writes from
//! NumPy arrays (`pickle_commands.py`: float32 and float64, protocols 2, 4 and 5, a dict like
//! Saitō's `sample_weight.pkl` and a small convolutional one) import into networks whose outputs
//! are NumPy's forward pass; a file given under the wrong flag is named for what it is.
//!
//! The first test needs `python3` with NumPy: without them it is skipped with a note, except
//! under CI (env `CI` set), where it fails.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

fn ok(out: Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), text(&out.stderr));
    text(&out.stdout)
}

/// Exit 1 with a message (no panic, no usage error); returns the message.
fn fails(out: Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: ") && !stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Rows of numbers from the cases' JSON.
fn rows(value: &serde_json::Value) -> Vec<Vec<f64>> {
    let rows = value.as_array().expect("rows");
    rows.iter()
        .map(|row| row.as_array().expect("a row").iter().map(|v| v.as_f64().expect("a number")).collect())
        .collect()
}

/// Imports `file` with `extra` arguments and checks the network's outputs on `inputs` against
/// NumPy's `expected`, to 1e-5.
fn import_and_compare(dir: &Path, file: &str, extra: &[&str], inputs: &[Vec<f64>], expected: &[Vec<f64>]) {
    let pickle = dir.join(file);
    let model = dir.join(format!("{file}.json"));
    let args = [&["import", "--pickle", path_str(&pickle)][..], extra, &["-o", path_str(&model)]].concat();
    let printed = ok(nn_cli(&args));
    assert!(printed.starts_with("imported ") && printed.contains(file), "{printed}");
    let network = nn_core::load_model(&model).unwrap();
    let flat: Vec<f32> = inputs.iter().flatten().map(|&v| v as f32).collect();
    let outputs = network.predict_batch(&flat).unwrap();
    assert_eq!(outputs.ncols(), expected.len());
    for (sample, row) in expected.iter().enumerate() {
        assert_eq!(row.len(), outputs.nrows());
        for (class, &numpy) in row.iter().enumerate() {
            let ours = f64::from(outputs[(class, sample)]);
            assert!((ours - numpy).abs() <= 1e-5, "{file}, sample {sample}, class {class}: {ours} vs NumPy's {numpy}");
        }
    }
}

#[test]
fn pickles_written_by_python_import_to_numpys_outputs() {
    if !test_support::python_with_numpy("the NumPy pickle test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pickle_commands.py");
    let out = Command::new("python3").arg(&script).arg(dir.path()).output().expect("python3 runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cases.json")).unwrap()).unwrap();

    let dense_inputs = rows(&cases["dense_inputs"]);
    let dense = cases["dense"].as_object().unwrap();
    assert_eq!(dense.len(), 6);
    for (file, expected) in dense {
        // Saitō's predict: sigmoid hidden layers, softmax output (import's defaults, said here).
        let extra = ["--hidden-activation", "sigmoid", "--output", "softmax"];
        import_and_compare(dir.path(), file, &extra, &dense_inputs, &rows(expected));
    }

    let conv_inputs = rows(&cases["conv_inputs"]);
    let conv = cases["conv"].as_object().unwrap();
    assert_eq!(conv.len(), 2);
    for (file, expected) in conv {
        let extra = ["--arch", "conv(3,3) relu maxpool(2) flatten dense(5) relu dense(10)", "--input", "1x8x8"];
        import_and_compare(dir.path(), file, &extra, &conv_inputs, &rows(expected));
    }
}

#[test]
fn the_fixture_imports_as_the_user_guide_shows() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.json");
    let fixture = fixtures().join("numpy-pickle/tiny_convnet.pkl");
    let arch = "conv(4,3,pad=1) relu maxpool(2) flatten dense(10)";
    let printed = ok(nn_cli(&[
        "import",
        "--pickle",
        path_str(&fixture),
        "--arch",
        arch,
        "--input",
        "1x8x8",
        "-o",
        path_str(&model),
    ]));
    assert_eq!(
        printed,
        format!(
            "imported {arch} on 1x8x8, 690 parameters, softmax_cross_entropy ({}) -> {}\n",
            fixture.display(),
            model.display()
        )
    );
    // The same arrays as the .npz NumPy wrote beside it.
    let arch = arch.parse::<nn_core::Architecture>().unwrap().with_input(nn_core::Shape::new(1, 8, 8));
    let npz = nn_core::import_npz_with_architecture(
        fixtures().join("numpy-conv/small.npz"),
        &arch,
        nn_core::Loss::SoftmaxCrossEntropy,
    );
    assert_eq!(nn_core::load_model(&model).unwrap(), npz.unwrap());
}

#[test]
fn a_file_under_the_wrong_flag_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = path_str(&dir.path().join("x.json")).to_string();
    let pickle = fixtures().join("numpy-pickle/tiny_convnet.pkl");
    let npz = fixtures().join("numpy-conv/small.npz");
    let safetensors = fixtures().join("pytorch-safetensors/model.safetensors");
    let cases = [
        (
            &["--npz", path_str(&pickle)][..],
            format!("{} is a Python pickle, not an .npz: use --pickle", pickle.display()),
        ),
        (
            &["--pickle", path_str(&npz)][..],
            format!("{} is a zip archive (as an .npz is), not a Python pickle: use --npz", npz.display()),
        ),
        (
            &["--pickle", path_str(&safetensors)][..],
            format!("{} is a safetensors file, not a Python pickle: use --safetensors", safetensors.display()),
        ),
        (
            &["--npz", path_str(&safetensors)][..],
            format!("{} is a safetensors file, not an .npz: use --safetensors", safetensors.display()),
        ),
        (
            &["--safetensors", path_str(&pickle), "--arch", "cnn"][..],
            format!("{} is a Python pickle, not a safetensors file: use --pickle", pickle.display()),
        ),
    ];
    for (args, message) in cases {
        let stderr = fails(nn_cli(&[&["import"][..], args, &["-o", &out]].concat()));
        assert_eq!(stderr.trim_end(), format!("error: {message}"));
    }
    assert!(!dir.path().join("x.json").exists());
}

#[test]
fn a_hostile_pickle_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("hostile.pkl");
    // pickle.dumps(os.system('echo owned'), protocol=2) as an attacker writes it.
    std::fs::write(&hostile, b"\x80\x02cposix\nsystem\nq\x00X\n\x00\x00\x00echo ownedq\x01\x85q\x02Rq\x03.").unwrap();
    let model = dir.path().join("m.json");
    let stderr = fails(nn_cli(&["import", "--pickle", path_str(&hostile), "-o", path_str(&model)]));
    assert!(
        stderr.contains("refusing to load `posix.system`: a pickle of NumPy arrays needs only numpy's array globals"),
        "{stderr}"
    );
    assert!(!model.exists());
    // A cut file says so.
    let pickle = std::fs::read(fixtures().join("numpy-pickle/tiny_convnet.pkl")).unwrap();
    let cut = dir.path().join("cut.pkl");
    std::fs::write(&cut, &pickle[..pickle.len() / 2]).unwrap();
    let stderr = fails(nn_cli(&["import", "--pickle", path_str(&cut), "--arch", "cnn", "-o", path_str(&model)]));
    assert!(stderr.contains("the file is truncated"), "{stderr}");
    assert!(!model.exists());
}
