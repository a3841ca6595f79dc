//! End-to-end tests of `nn-cli convert`, and of other commands reading `.npz` files and PNG
//! folders as `--data`.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

use mnist_data::Mnist;
use nn_core::{Activation, Init, Loss, Network};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// Runs `nn-cli convert` and checks it succeeds.
fn convert(from: &Path, to: &Path, extra: &[&str]) {
    let mut args = vec!["convert", path_str(from), path_str(to)];
    args.extend_from_slice(extra);
    let out = nn_cli(&args);
    assert!(out.status.success(), "convert {} {}: {}", from.display(), to.display(), text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("wrote {}", to.display())), "{}", text(&out.stdout));
}

/// Runs a command expected to fail cleanly, naming `names` in its message; returns the message.
fn refused(args: &[&str], names: &[&str]) -> String {
    let out = nn_cli(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for name in names {
        assert!(stderr.contains(name), "{args:?}: the message should name {name}: {stderr}");
    }
    stderr
}

const IDX_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

fn assert_same_idx_files(a: &Path, b: &Path) {
    for name in IDX_FILES {
        assert!(fs::read(a.join(name)).unwrap() == fs::read(b.join(name)).unwrap(), "{name} differs");
    }
}

/// Paths in `dir` whose names start with a dot: the leftovers a failed write could leave.
fn hidden_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn round_trips_are_lossless_in_every_direction() {
    let source = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);

    // IDX -> npz -> PNG folder -> IDX.
    convert(&source, &d("a.npz"), &[]);
    convert(&d("a.npz"), &d("a-png"), &[]);
    convert(&d("a-png"), &d("a-idx"), &[]);
    assert_same_idx_files(&source, &d("a-idx"));

    // IDX -> PNG folder -> npz -> IDX (gz): the same archive and images either way.
    convert(&source, &d("b-png"), &[]);
    convert(&d("b-png"), &d("b.npz"), &[]);
    assert!(fs::read(d("a.npz")).unwrap() == fs::read(d("b.npz")).unwrap(), "the two .npz files differ");
    for set in ["train_x", "test_x"] {
        for entry in fs::read_dir(d("a-png").join(set)).unwrap() {
            let name = entry.unwrap().file_name();
            let (a, b) = (d("a-png").join(set).join(&name), d("b-png").join(set).join(&name));
            assert!(fs::read(a).unwrap() == fs::read(b).unwrap(), "{set}/{name:?} differs");
        }
    }
    convert(&d("b.npz"), &d("b-gz"), &["--to-format", "idx-gz"]);
    assert!(d("b-gz").join("train-images-idx3-ubyte.gz").is_file());
    assert_eq!(Mnist::load(d("b-gz")).unwrap(), Mnist::load(&source).unwrap());
    convert(&d("b-gz"), &d("c-idx"), &["--to-format", "idx"]);
    assert_same_idx_files(&source, &d("c-idx"));

    // The layout: 8-bit grey PNGs numbered from 00001, labels as JSON lists.
    let first = image::open(d("a-png").join("train_x/00001.png")).unwrap();
    assert!(matches!(first, image::DynamicImage::ImageLuma8(_)));
    assert_eq!((first.width(), first.height()), (28, 28));
    assert!(d("a-png").join("test_x/00100.png").is_file());
    let labels: Vec<u8> = serde_json::from_slice(&fs::read(d("a-png").join("test_y.json")).unwrap()).unwrap();
    assert_eq!(labels, Mnist::load(&source).unwrap().test.labels());
    assert!(hidden_entries(dir.path()).is_empty(), "temporary folders are cleaned up");
}

#[test]
fn show_and_eval_read_npz_files_and_png_folders() {
    let source = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let (npz, png) = (dir.path().join("m.npz"), dir.path().join("m-png"));
    convert(&source, &npz, &[]);
    convert(&source, &png, &[]);

    let model = dir.path().join("model.json");
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    nn_core::save_model(&network, &model).unwrap();
    let eval = |data: &Path| {
        let out = nn_cli(&["eval", "--model", path_str(&model), "--data", path_str(data), "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let expected = eval(&source);
    for data in [&npz, &png] {
        let out = nn_cli(&["show", "--data", path_str(data), "--set", "test", "--index", "0"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).lines().last().unwrap(), "test image 0: label 7");
        assert_eq!(eval(data).replace(path_str(data), "DATA"), expected.replace(path_str(&source), "DATA"));
    }
}

#[test]
fn an_existing_target_is_replaced_only_with_force() {
    let source = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let (npz, png) = (dir.path().join("m.npz"), dir.path().join("m-png"));
    fs::write(&npz, b"precious").unwrap();
    fs::create_dir(&png).unwrap();
    fs::write(png.join("notes.txt"), b"precious").unwrap();

    refused(&["convert", path_str(&source), path_str(&npz)], &["m.npz", "--force"]);
    refused(&["convert", path_str(&source), path_str(&png)], &["m-png", "--force"]);
    assert_eq!(fs::read(&npz).unwrap(), b"precious");
    assert_eq!(fs::read(png.join("notes.txt")).unwrap(), b"precious");

    convert(&source, &npz, &["--force"]);
    // --force replaces a previous conversion, never a folder holding other files.
    refused(&["convert", path_str(&source), path_str(&png), "--force"], &["notes.txt", "convert does not write"]);
    assert_eq!(fs::read(png.join("notes.txt")).unwrap(), b"precious");
    fs::remove_file(png.join("notes.txt")).unwrap();
    convert(&source, &png, &[]);
    convert(&source, &png, &["--force"]);
    assert_eq!(Mnist::load(&source).unwrap(), mnist_from(&png));
    let idx = dir.path().join("m-idx");
    convert(&source, &idx, &["--to-format", "idx-gz"]);
    convert(&source, &idx, &["--to-format", "idx", "--force"]);
    assert_eq!(Mnist::load(&source).unwrap(), Mnist::load(&idx).unwrap());
    assert!(hidden_entries(dir.path()).is_empty(), "temporary folders are cleaned up");

    // An empty directory is not data: it is filled without --force.
    let empty = dir.path().join("empty-png");
    fs::create_dir(&empty).unwrap();
    convert(&source, &empty, &[]);

    // Never over the source itself, even with --force.
    refused(&["convert", path_str(&png), path_str(&png), "--force", "--to-format", "png"], &["m-png"]);
    assert_eq!(Mnist::load(&source).unwrap(), mnist_from(&png));
}

/// Reads data in any form through a round trip to IDX files.
fn mnist_from(data: &Path) -> Mnist {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    convert(data, &idx, &["--to-format", "idx"]);
    Mnist::load(&idx).unwrap()
}

/// An `.npz` archive of uint8 arrays.
fn npz_bytes(arrays: &[(&str, &[u64], &[u8])]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for &(name, shape, values) in arrays {
        zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default()).unwrap();
        let mut writer =
            npyz::WriteOptions::<u8>::new().default_dtype().shape(shape).writer(&mut zip).begin_nd().unwrap();
        writer.extend(values.iter().copied()).unwrap();
        writer.finish().unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn bad_npz_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out-png");
    let check = |name: &str, bytes: &[u8], detail: &str| {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        refused(&["convert", path_str(&path), path_str(&out)], &[name, detail]);
        refused(&["show", "--data", path_str(&path)], &[name, detail]);
        assert!(!out.exists(), "nothing is written on failure");
    };
    let mut corrupt = fs::read(fixtures().join("npz/hand_made.npz")).unwrap();
    corrupt.truncate(corrupt.len() / 2);
    check("corrupt.npz", &corrupt, "not a NumPy .npz archive");
    check("text.npz", b"not a zip at all", "not a NumPy .npz archive");

    let images = vec![0_u8; 3 * 4 * 4];
    let x: &[u64] = &[3, 4, 4];
    let no_y_test = npz_bytes(&[("x_train", x, &images), ("y_train", &[3], &[0, 1, 2]), ("x_test", x, &images)]);
    check("no-y-test.npz", &no_y_test, "y_test");
    let short = npz_bytes(&[
        ("x_train", x, &images),
        ("y_train", &[2], &[0, 1]),
        ("x_test", x, &images),
        ("y_test", &[3], &[0, 1, 2]),
    ]);
    check("short.npz", &short, "x_train holds 3 images but y_train holds 2 labels");
    let flat = npz_bytes(&[
        ("x_train", &[3, 16], &images),
        ("y_train", &[3], &[0, 1, 2]),
        ("x_test", x, &images),
        ("y_test", &[3], &[0, 1, 2]),
    ]);
    check("flat.npz", &flat, "x_train has shape (3, 16)");
    assert!(hidden_entries(dir.path()).is_empty());
}

/// Writes a grey PNG of `width x height` black pixels.
fn write_png(path: &Path, width: u32, height: u32) {
    image::GrayImage::new(width, height).save(path).unwrap();
}

#[test]
fn bad_png_folders_are_refused_with_the_file_named() {
    let source = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npz");
    let fresh = |name: &str| {
        let folder = dir.path().join(name);
        convert(&source, &folder, &["--to-format", "png"]);
        folder
    };
    let check = |folder: &Path, names: &[&str]| {
        refused(&["convert", path_str(folder), path_str(&out)], names);
        refused(&["show", "--data", path_str(folder)], names);
        assert!(!out.exists(), "nothing is written on failure");
    };

    let folder = fresh("wrong-size");
    write_png(&folder.join("test_x/00005.png"), 20, 20);
    check(&folder, &["00005.png", "20x20", "28x28"]);

    let folder = fresh("no-labels");
    fs::remove_file(folder.join("train_y.json")).unwrap();
    check(&folder, &["train_y.json"]);

    let folder = fresh("too-few-labels");
    let labels: Vec<u8> = serde_json::from_slice(&fs::read(folder.join("test_y.json")).unwrap()).unwrap();
    fs::write(folder.join("test_y.json"), serde_json::to_vec(&labels[..99]).unwrap()).unwrap();
    check(&folder, &["test_x", "100 images", "test_y.json", "99 labels"]);

    let folder = fresh("gap");
    fs::remove_file(folder.join("train_x/00042.png")).unwrap();
    check(&folder, &["train_x", "42"]);

    let folder = fresh("not-png");
    fs::write(folder.join("train_x/00003.png"), b"GIF89a").unwrap();
    check(&folder, &["00003.png", "PNG"]);

    let folder = fresh("bad-json");
    fs::File::create(folder.join("test_y.json")).unwrap().write_all(b"[7, 2, \"one\"").unwrap();
    check(&folder, &["test_y.json", "JSON"]);
}

#[test]
fn colour_and_16_bit_pngs_are_converted_to_8_bit_grey() {
    let source = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("m-png");
    convert(&source, &folder, &[]);
    let path = folder.join("train_x/00001.png");
    let grey = image::open(&path).unwrap().to_luma8();
    image::DynamicImage::ImageLuma8(grey.clone()).to_rgb8().save(&path).unwrap();
    assert_eq!(Mnist::load(&source).unwrap(), mnist_from(&folder), "grey as RGB reads back the same");
    image::DynamicImage::ImageLuma8(grey).to_luma16().save(&path).unwrap();
    assert_eq!(Mnist::load(&source).unwrap(), mnist_from(&folder), "grey as 16-bit reads back the same");
}

/// An archive whose `x_train.npy`, stored uncompressed first, declares `count` bytes while 16
/// follow, the archive's sizes then edited to claim `count` bytes too (the other arrays are one
/// value each): what a crafted file can say to make a reader allocate.
fn lying_npz(count: u64) -> Vec<u8> {
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({count},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend_from_slice(&[0; 16]);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("x_train.npy", stored).unwrap();
    zip.write_all(&npy).unwrap();
    write_other_arrays(&mut zip);
    let mut bytes = zip.finish().unwrap().into_inner();
    let claim = u32::try_from(count).unwrap().to_le_bytes();
    bytes[22..26].copy_from_slice(&claim);
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 24..central + 28].copy_from_slice(&claim);
    bytes
}

#[test]
fn an_npz_that_declares_more_than_it_can_hold_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.npz");
    fs::write(&path, lying_npz(4_000_000_000)).unwrap();
    refused(&["show", "--data", path_str(&path)], &["x_train", "compressed"]);
}

/// `y_train`, `x_test` and `y_test` of one value each, beside a crafted `x_train`.
fn write_other_arrays(zip: &mut zip::ZipWriter<Cursor<Vec<u8>>>) {
    for (name, shape) in [("y_train", &[1][..]), ("x_test", &[1, 1, 1]), ("y_test", &[1])] {
        use npyz::WriterBuilder;
        zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default()).unwrap();
        let mut writer =
            npyz::WriteOptions::<u8>::new().default_dtype().shape(shape).writer(&mut *zip).begin_nd().unwrap();
        writer.push(&0).unwrap();
        writer.finish().unwrap();
    }
}

/// An archive whose `x_train.npy` is `npy`, as given (the other arrays are one value each).
fn npz_with_x_train(npy: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("x_train.npy", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(npy).unwrap();
    write_other_arrays(&mut zip);
    zip.finish().unwrap().into_inner()
}

#[test]
fn an_npy_header_that_would_overflow_or_allocate_gigabytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("header.npz");
    // Dimensions whose product passes 64 bits (npyz multiplies them unchecked).
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }\n";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    fs::write(&path, npz_with_x_train(&npy)).unwrap();
    refused(&["show", "--data", path_str(&path)], &["x_train", "64 bits"]);
    // A version 2 header whose length field claims 4 GB.
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend_from_slice(&u32::MAX.to_le_bytes());
    npy.extend_from_slice(b"{'descr': '|u1'");
    fs::write(&path, npz_with_x_train(&npy)).unwrap();
    refused(&["show", "--data", path_str(&path)], &["x_train", "header is 4294967295 bytes"]);
}

#[test]
fn png_folders_with_any_names_and_labels_by_name_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let numbered = dir.path().join("numbered");
    convert(&fixtures().join("mnist-100"), &numbered, &["--to-format", "png"]);
    // The same images under other names, labelled by a JSON object.
    let named = dir.path().join("named");
    for set in ["train", "test"] {
        let from = numbered.join(format!("{set}_x"));
        let to = named.join(format!("{set}_x"));
        fs::create_dir_all(&to).unwrap();
        let labels: Vec<u8> =
            serde_json::from_str(&fs::read_to_string(numbered.join(format!("{set}_y.json"))).unwrap()).unwrap();
        let mut by_name = serde_json::Map::new();
        for (n, label) in labels.iter().enumerate() {
            let name = format!("digit-{:03}.png", n + 1);
            fs::copy(from.join(format!("{:05}.png", n + 1)), to.join(&name)).unwrap();
            by_name.insert(name, serde_json::Value::from(*label));
        }
        fs::write(named.join(format!("{set}_y.json")), serde_json::to_string(&by_name).unwrap()).unwrap();
    }
    assert_eq!(mnist_from(&named), mnist_from(&numbered));
}

#[test]
fn the_pytorch_tutorials_npz_names_are_read_as_keras_ones() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..4 * 9).map(|v| (v * 7) as u8).collect();
    let labels = [0_u8, 1, 2, 1];
    let write = |path: &Path, names: [&str; 4], image_shape: &[u64]| {
        let arrays: [(&str, &[u64], &[u8]); 4] = [
            (names[0], image_shape, &pixels),
            (names[1], &[4], &labels),
            (names[2], image_shape, &pixels),
            (names[3], &[4], &labels),
        ];
        fs::write(path, npz_bytes(&arrays)).unwrap();
    };
    let keras = dir.path().join("keras.npz");
    write(&keras, ["x_train", "y_train", "x_test", "y_test"], &[4, 3, 3]);
    let tutorial = dir.path().join("tutorial.npz");
    write(&tutorial, ["train_x", "train_y", "test_x", "test_y"], &[4, 3, 3]);
    assert_eq!(mnist_from(&tutorial), mnist_from(&keras));
}

#[test]
fn the_tutorials_names_are_written_with_keys_tutorial_and_read_by_numpy() {
    let source = fixtures().join("mnist-100");
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("mnist.npz");
    convert(&source, &npz, &["--keys", "tutorial"]);
    assert_eq!(mnist_from(&npz), mnist_from(&source));

    // The tutorial's PNG layout (train_x/00001.png ..., train_y.json) and back: the same bytes.
    let png = dir.path().join("mnist-png");
    convert(&npz, &png, &[]);
    assert!(png.join("train_x/00001.png").is_file() && png.join("train_y.json").is_file());
    let again = dir.path().join("again.npz");
    convert(&png, &again, &["--keys", "tutorial"]);
    assert_eq!(fs::read(&again).unwrap(), fs::read(&npz).unwrap());

    refused(&["convert", path_str(&source), path_str(&dir.path().join("x-png")), "--keys", "tutorial"], &["--keys"]);

    if test_support::python_with_numpy("the check with NumPy's own np.load") {
        // What the tutorial's loading does: np.load, the four names, images scaled to 0..1.
        let script = "import sys, numpy as np\n\
            data = np.load(sys.argv[1])\n\
            train_x, train_y, test_x, test_y = data['train_x'], data['train_y'], data['test_x'], data['test_y']\n\
            x = train_x.reshape(-1, 784).astype(np.float64) / 255\n\
            print(train_x.shape, train_x.dtype, train_y.shape, train_y.dtype, test_x.shape, test_y.dtype)\n\
            print(' '.join(str(int(v)) for v in train_y[:10]), int(test_y.sum()), round(float(x.mean()), 4))\n";
        let out = std::process::Command::new("python3").args(["-c", script, path_str(&npz)]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mnist = mnist_from(&source);
        let labels: Vec<String> = mnist.train.labels()[..10].iter().map(u8::to_string).collect();
        let test_sum: u64 = mnist.test.labels().iter().map(|&l| u64::from(l)).sum();
        let mean = mnist.train.pixels().iter().map(|&p| f64::from(p) / 255.0).sum::<f64>() / (100.0 * 784.0);
        let count = mnist.test.len();
        assert_eq!(
            text(&out.stdout),
            format!(
                "(100, 28, 28) uint8 (100,) int64 ({count}, 28, 28) int64\n{} {test_sum} {}\n",
                labels.join(" "),
                (mean * 1e4).round() / 1e4
            )
        );
    }
}
