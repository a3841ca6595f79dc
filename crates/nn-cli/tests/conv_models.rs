//! End-to-end tests of convolutional models through `nn-cli`: a tiny network trained on the
//! 100-image fixture goes through eval, summary, predict, misclassified, export and
//! `import --arch` (the same bits back), resumes to the weights of an uninterrupted run;
//! weights computed by NumPy (fixtures/numpy-conv) are imported; a named recipe runs a few
//! steps; `search` keeps an architecture recipe's layers; mistakes give clear errors, never a
//! panic.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Output;

use nn_core::{Architecture, Loss, Shape};
use npyz::WriterBuilder;
use serde_json::Value;

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

const TINY: &str = "conv(4,3) relu maxpool(2) flatten dense(10)";

fn data() -> PathBuf {
    fixtures().join("mnist-100")
}

/// `nn-cli train` on the fixture (80 training images, 20 for validation), quietly.
fn train(output: &Path, extra: &[&str]) -> Output {
    let data = data();
    let mut args = vec![
        "train",
        "--data",
        path_str(&data),
        "--validation-size",
        "20",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--quiet",
        // A few steps on 80 images: what these tests check is the network, not how it learns.
        "--allow-no-learning",
        "-o",
        path_str(output),
    ];
    args.extend_from_slice(extra);
    nn_cli(&args)
}

/// Fails with the command's stderr unless it succeeded; returns its stdout.
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

/// Runs of whitespace as one space, so table columns can be matched.
fn squeezed(text: &str) -> String {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_trained_convolutional_model_goes_through_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.json");
    let stdout = ok(train(&model, &["--arch", TINY, "--epochs", "1"]));
    assert!(stdout.lines().last().unwrap().starts_with("test accuracy: 0."), "{stdout}");
    let network = nn_core::load_model(&model).unwrap();
    assert_eq!(network.architecture().to_string(), TINY);
    assert_eq!(network.input_shape(), Shape::new(1, 28, 28));

    // summary: one line per layer with its output shape and parameters.
    let summary = squeezed(&ok(nn_cli(&["summary", "--model", path_str(&model)])));
    for line in [
        "input 1x28x28",
        "0 conv 4@3x3, relu -> 4x26x26 40",
        "1 maxpool 2x2 -> 4x13x13 0",
        "2 flatten -> 676 0",
        "3 dense identity -> 10 6770",
        "total parameters: 6810",
    ] {
        assert!(summary.contains(line), "{line:?} in\n{summary}");
    }

    // eval: the library's figures.
    let report = ok(nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data()), "--json"]));
    let report: Value = serde_json::from_str(&report).unwrap();
    let test = mnist_data::Mnist::load(data()).unwrap().test;
    let inputs = mnist_data::pixels_to_f32(test.pixels(), true);
    let labels: Vec<usize> = test.labels().iter().map(|&l| usize::from(l)).collect();
    let expected = network.evaluate(&inputs, &labels, 100).unwrap();
    assert_eq!((report["correct"].as_u64(), report["total"].as_u64()), (Some(expected.correct as u64), Some(100)));
    let text_report = ok(nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data())]));
    assert!(text_report.contains("conv(4,3) relu maxpool(2) flatten dense(10) on 1x28x28, 6810 parameters"));

    // predict: a PNG photo.
    let seven = fixtures().join("images/seven.png");
    let predicted = ok(nn_cli(&["predict", "--model", path_str(&model), "--json", path_str(&seven)]));
    let predicted: Value = serde_json::from_str(&predicted).unwrap();
    let probabilities: Vec<f64> =
        predicted[0]["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    assert_eq!(probabilities.len(), 10);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{probabilities:?}");

    // misclassified: a grid of the errors (one epoch on 80 images leaves some).
    let errors = dir.path().join("errors.png");
    let listed = ok(nn_cli(&[
        "misclassified",
        "--model",
        path_str(&model),
        "--data",
        path_str(&data()),
        "--png",
        path_str(&errors),
        "--count",
        "9",
    ]));
    assert_eq!(100 - expected.correct, listed.split_whitespace().next().unwrap().parse::<usize>().unwrap());
    assert!(image::open(&errors).is_ok(), "{listed}");

    // export, then import with --arch: the same network, bit for bit.
    let npz = dir.path().join("tiny.npz");
    let exported = ok(nn_cli(&["export", "--model", path_str(&model), "--npz", path_str(&npz)]));
    assert!(exported.contains(&format!("--arch \"{TINY}\" --input 1x28x28 --loss softmax")), "{exported}");
    let back = dir.path().join("back.json");
    ok(nn_cli(&["import", "--npz", path_str(&npz), "--arch", TINY, "-o", path_str(&back)]));
    let reimported = nn_core::load_model(&back).unwrap();
    assert_eq!(reimported.parameters(), network.parameters());
    // The same model file, but for the record of its training, which an npz does not hold.
    let trained = nn_core::model_to_json(&nn_core::load_model(&model).unwrap()).unwrap();
    assert!(std::fs::read(&back).unwrap() == trained.as_bytes(), "the same model file");
    let again = ok(nn_cli(&["predict", "--model", path_str(&back), "--json", path_str(&seven)]));
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), predicted);
    let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(reimported.predict_batch(&inputs).unwrap().as_slice()),
        bits(network.predict_batch(&inputs).unwrap().as_slice())
    );
}

#[test]
fn a_resumed_convolutional_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    ok(train(&whole, &["--arch", TINY, "--epochs", "2", "--optimizer", "adam"]));
    let parts = dir.path().join("parts.json");
    ok(train(&parts, &["--arch", TINY, "--epochs", "1", "--optimizer", "adam"]));
    // The run's settings (architecture included) come from the checkpoint's run file.
    ok(train(&parts, &["--resume", "--epochs", "2"]));
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&parts).unwrap());
    let metrics = std::fs::read_to_string(dir.path().join("parts.metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
}

#[test]
fn a_named_convolutional_recipe_runs_a_few_steps() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn.json");
    let out = train(&model, &["--recipe", "cnn", "--max-steps", "3", "--no-test-each-epoch"]);
    ok(out);
    let network = nn_core::load_model(&model).unwrap();
    assert_eq!(network.architecture(), Architecture::named("cnn").unwrap());
    let metrics = std::fs::read_to_string(dir.path().join("cnn.metrics.jsonl")).unwrap_or_default();
    assert!(metrics.lines().count() <= 1, "3 steps of 16 images are less than an epoch of 80: {metrics}");
}

#[test]
fn bad_architectures_are_refused_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bad.json");
    let stderr = fails(train(&model, &["--arch", "conv(4,3) relu bogus flatten dense(10)"]));
    assert!(stderr.contains("at \"bogus\"") && stderr.contains("unknown layer"), "{stderr}");
    let stderr = fails(train(&model, &["--arch", "conv(4) relu flatten dense(10)"]));
    assert!(stderr.contains("at \"conv(4)\"") && stderr.contains("kernel size is missing"), "{stderr}");
    // Parsed, but not a network of 28x28 images.
    let stderr = fails(train(&model, &["--arch", "conv(4,3) relu dense(10)"]));
    assert!(stderr.contains("flatten"), "{stderr}");
    let stderr = fails(train(&model, &["--arch", "conv(4,29) flatten dense(10)"]));
    assert!(stderr.contains("layer 0 (conv)") && stderr.contains("29x29 kernel"), "{stderr}");
    assert!(!model.exists());
}

/// The cases NumPy computed: architecture text, input shape.
fn numpy_cases() -> Vec<(String, String, String)> {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("numpy-conv/cases.json")).unwrap()).unwrap();
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let input: Vec<String> = case["input"].as_array().unwrap().iter().map(|d| d.to_string()).collect();
            let file = case["file"].as_str().unwrap().to_string();
            (file, case["arch"].as_str().unwrap().to_string(), input.join("x"))
        })
        .collect()
}

#[test]
fn weights_computed_by_numpy_import_and_export_back() {
    let dir = tempfile::tempdir().unwrap();
    for (file, arch, input) in numpy_cases() {
        let npz = fixtures().join("numpy-conv").join(&file);
        let model = dir.path().join(format!("{file}.json"));
        let imported = ok(nn_cli(&[
            "import",
            "--npz",
            path_str(&npz),
            "--arch",
            &arch,
            "--input",
            &input,
            "--loss",
            "softmax",
            "-o",
            path_str(&model),
        ]));
        assert!(imported.contains(&format!("{arch} on {input}")), "{imported}");
        let network = nn_core::load_model(&model).unwrap();
        let architecture = arch.parse::<Architecture>().unwrap();
        let library = nn_core::import_npz_with_architecture(
            &npz,
            &architecture.with_input(network.input_shape()),
            Loss::SoftmaxCrossEntropy,
        )
        .unwrap();
        assert_eq!(network.parameters(), library.parameters(), "{file}");

        // Exported again, the arrays are NumPy's values, in C order and float32.
        let again = dir.path().join(format!("again-{file}"));
        ok(nn_cli(&["export", "--model", path_str(&model), "--npz", path_str(&again)]));
        let (original, exported) = (arrays(&npz), arrays(&again));
        assert_eq!(original.len(), exported.len(), "{file}");
        for ((name, shape, values), (name2, shape2, values2)) in original.iter().zip(&exported) {
            assert_eq!((name, shape), (name2, shape2));
            let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            assert_eq!(&values, &values2.iter().map(|&v| v as f32).collect::<Vec<_>>(), "{file}: {name}");
        }
    }
}

/// Every array of an archive, by name: shape and values in C order.
fn arrays(path: &Path) -> Vec<(String, Vec<u64>, Vec<f64>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut names: Vec<String> = archive.file_names().map(|n| n.trim_end_matches(".npy").to_string()).collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let npy = npyz::NpyFile::new(archive.by_name(&format!("{name}.npy")).unwrap()).unwrap();
            let shape = npy.shape().to_vec();
            let fortran = npy.order() == npyz::Order::Fortran;
            let values: Vec<f64> = match npy.dtype() {
                npyz::DType::Plain(t) if t.size_field() == 4 => {
                    npy.into_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
                }
                _ => npy.into_vec::<f64>().unwrap(),
            };
            let values = if fortran { c_order(&shape, &values) } else { values };
            (name, shape, values)
        })
        .collect()
}

/// A Fortran-ordered array's values in C order.
fn c_order(shape: &[u64], values: &[f64]) -> Vec<f64> {
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    (0..values.len())
        .map(|c_index| {
            // The multi-index of position `c_index` in C order, then its Fortran offset.
            let (mut rest, mut offset, mut stride) = (c_index, 0, 1);
            let mut index = vec![0; shape.len()];
            for axis in (0..shape.len()).rev() {
                index[axis] = rest % shape[axis];
                rest /= shape[axis];
            }
            for axis in 0..shape.len() {
                offset += index[axis] * stride;
                stride *= shape[axis];
            }
            values[offset]
        })
        .collect()
}

/// An archive of `(name, shape)` float64 arrays of 0.5, or int32 ones when `int` is set.
fn archive(arrays: &[(&str, &[u64], bool)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for &(name, shape, int) in arrays {
        zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default()).unwrap();
        let count = shape.iter().product::<u64>() as usize;
        if int {
            let mut w =
                npyz::WriteOptions::<i32>::new().default_dtype().shape(shape).writer(&mut zip).begin_nd().unwrap();
            w.extend(std::iter::repeat_n(1, count)).unwrap();
            w.finish().unwrap();
        } else {
            let mut w =
                npyz::WriteOptions::<f64>::new().default_dtype().shape(shape).writer(&mut zip).begin_nd().unwrap();
            w.extend(std::iter::repeat_n(0.5, count)).unwrap();
            w.finish().unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn import_with_an_architecture_names_the_array_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let small = fixtures().join("numpy-conv/small.npz");
    let model = dir.path().join("m.json");
    let arch = "conv(4,3,pad=1) relu maxpool(2) flatten dense(10)";
    let import = |npz: &Path, arch: &str, extra: &[&str]| {
        let mut args = vec!["import", "--npz", path_str(npz), "--arch", arch, "-o", path_str(&model)];
        args.extend_from_slice(extra);
        nn_cli(&args)
    };

    // Too many layers with weights for the archive.
    let stderr = fails(import(
        &small,
        "conv(4,3,pad=1) relu maxpool(2) flatten dense(16) relu dense(10)",
        &["--input", "1x8x8"],
    ));
    assert!(stderr.contains("the file holds W1, b1, W2, b2 (numbered up to 2)"), "{stderr}");
    assert!(
        stderr.contains("has 3 layers with weights") && stderr.contains("needs W1, b1, W2, b2, W3, b3"),
        "{stderr}"
    );
    // The kernel of one channel given to two-channel inputs.
    let stderr = fails(import(&small, arch, &["--input", "2x8x8"]));
    assert!(
        stderr.contains(
            "W1 has shape (4, 1, 3, 3) but layer 0 of the architecture (conv(4,3,pad=1) relu) needs (4, 2, 3, 3)"
        ),
        "{stderr}"
    );
    // The default 1x28x28 input: the dense layer after the flatten reads 784 values, not 64.
    let stderr = fails(import(&small, arch, &[]));
    assert!(
        stderr.contains("W2 has shape (64, 10) but layer 3 of the architecture (dense(10)) needs (784, 10)"),
        "{stderr}"
    );
    assert!(stderr.contains("on inputs of 1x28x28"), "{stderr}");
    // Integers.
    let ints = dir.path().join("ints.npz");
    std::fs::write(
        &ints,
        archive(&[("W1", &[4, 1, 3, 3], true), ("b1", &[4], false), ("W2", &[64, 10], false), ("b2", &[10], false)]),
    )
    .unwrap();
    let stderr = fails(import(&ints, arch, &["--input", "1x8x8"]));
    assert!(stderr.contains("array W1 has dtype <i4; only float32 and float64 are supported"), "{stderr}");
    // A name that is not an architecture, a shape that is not one.
    let stderr = fails(import(&small, "saito-simpel", &[]));
    assert!(stderr.contains("at \"saito-simpel\""), "{stderr}");
    let out = import(&small, arch, &["--input", "8x8"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("such as 1x28x28"), "{}", text(&out.stderr));
    assert!(!model.exists(), "no model file is written on failure");

    // --input and --hidden-activation belong to one form of import each.
    let out = nn_cli(&["import", "--npz", path_str(&small), "--input", "1x8x8", "-o", path_str(&model)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = import(&small, arch, &["--input", "1x8x8", "--hidden-activation", "relu"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // And the right shape imports.
    ok(import(&small, arch, &["--input", "1x8x8"]));
    assert!(model.exists());
}

#[test]
fn commands_that_need_28x28_images_refuse_a_model_of_another_shape() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    // 784 inputs, but as 4 channels of 14x14.
    let arch = "conv(2,3) relu flatten dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(4, 14, 14));
    nn_core::save_model(&arch.build(Loss::SoftmaxCrossEntropy, nn_core::Init::HE, 1).unwrap(), &model).unwrap();
    let stderr = fails(nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(&data())]));
    assert!(stderr.contains("takes inputs of 4x14x14 but the images are 1x28x28"), "{stderr}");
    let png = dir.path().join("e.png");
    let stderr = fails(nn_cli(&[
        "misclassified",
        "--model",
        path_str(&model),
        "--data",
        path_str(&data()),
        "--png",
        path_str(&png),
    ]));
    assert!(stderr.contains("4x14x14"), "{stderr}");
    let stderr =
        fails(nn_cli(&["predict", "--model", path_str(&model), path_str(&fixtures().join("images/seven.png"))]));
    assert!(stderr.contains("4x14x14"), "{stderr}");
}

#[test]
fn search_on_an_architecture_recipe_keeps_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("tiny-recipe.json");
    std::fs::write(&base, format!(r#"{{"base": "cnn", "arch": "{TINY}", "batch_size": 16}}"#)).unwrap();
    let best = dir.path().join("best.json");
    let search = |extra: &[&str]| {
        let data = data();
        let mut args = vec![
            "search",
            "--recipe-file",
            path_str(&base),
            "--data",
            path_str(&data),
            "--validation-size",
            "20",
            "--quiet",
            "-o",
            path_str(&best),
        ];
        args.extend_from_slice(extra);
        nn_cli(&args)
    };
    let stdout = ok(search(&["--lr", "0.01,0.003", "--epochs", "1"]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(squeezed(lines[0]).starts_with("rank lr batch epochs"), "no hidden column: {stdout}");
    assert_eq!(lines.iter().filter(|l| l.trim_start().starts_with(['1', '2'])).count(), 2, "{stdout}");
    let recipe: Value = serde_json::from_str(&std::fs::read_to_string(&best).unwrap()).unwrap();
    assert_eq!(recipe["arch"], TINY);
    assert_eq!(recipe["batch_size"], 16);

    let stderr = fails(search(&["--hidden", "30"]));
    assert!(stderr.contains("--hidden cannot change") && stderr.contains(TINY), "{stderr}");
}
