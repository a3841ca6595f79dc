//! End-to-end tests of `nn-cli predict`: real MNIST test digits are turned into "photos" (dark
//! ink on off-white paper, enlarged, placed off-centre in a larger non-square RGB image, saved
//! as PNG, JPEG and BMP), and the command must see them as the model sees the originals.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, Rgb, RgbImage};
use mnist_data::Dataset;
use nn_core::{Activation, Init, Loss, Network};
use serde_json::Value;

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// Test digits turned into photos.
const PHOTOS: usize = 100;

fn mnist() -> &'static mnist_data::Mnist {
    static DATA: OnceLock<mnist_data::Mnist> = OnceLock::new();
    DATA.get_or_init(|| mnist_data::Mnist::load(fixtures().join("mnist-100")).unwrap())
}

fn inputs(pixels: &[u8]) -> Vec<f32> {
    mnist_data::pixels_to_f32(pixels, true)
}

/// A small model fitted in the test on the 100 training digits of the fixture: good enough to
/// tell digits apart, so its answers on a prepared photo and on the original can be compared.
fn model(dir: &Path) -> (Network, PathBuf) {
    let network = test_support::trained_network(7, 40);
    let path = dir.join("model.json");
    nn_core::save_model(&network, &path).unwrap();
    (network, path)
}

/// An MNIST digit as a photo of dark (bluish) ink on off-white paper: enlarged `scale` times
/// (smoothly) and placed at `at` on a sheet of `size`, in RGB.
fn photo(pixels: &[u8], scale: u32, size: (u32, u32), at: (u32, u32)) -> RgbImage {
    let digit = GrayImage::from_raw(28, 28, pixels.to_vec()).unwrap();
    let big = imageops::resize(&digit, 28 * scale, 28 * scale, FilterType::Triangle);
    let mut sheet = RgbImage::from_pixel(size.0, size.1, Rgb([238, 233, 222]));
    for (x, y, p) in big.enumerate_pixels() {
        let ink = f32::from(p.0[0]) / 255.0;
        let paper = *sheet.get_pixel(at.0 + x, at.1 + y);
        let dark = [30.0, 30.0, 60.0];
        let mixed = std::array::from_fn(|c| (f32::from(paper.0[c]) * (1.0 - ink) + dark[c] * ink).round() as u8);
        sheet.put_pixel(at.0 + x, at.1 + y, Rgb(mixed));
    }
    sheet
}

const FORMATS: [(ImageFormat, &str); 3] =
    [(ImageFormat::Png, "png"), (ImageFormat::Jpeg, "jpg"), (ImageFormat::Bmp, "bmp")];

/// Writes the first `count` test digits as photos (7x, off-centre on a 230x290 sheet), cycling
/// through PNG, JPEG and BMP.
fn write_photos(dir: &Path, test: &Dataset, count: usize) -> Vec<PathBuf> {
    test.iter()
        .take(count)
        .enumerate()
        .map(|(i, image)| {
            let (format, ext) = FORMATS[i % FORMATS.len()];
            let path = dir.join(format!("digit-{i:02}.{ext}"));
            let at = (5 + (i as u32 * 7) % 25, 10 + (i as u32 * 13) % 80);
            photo(image.pixels, 7, (230, 290), at).save_with_format(&path, format).unwrap();
            path
        })
        .collect()
}

/// One committed example image and how it was made.
struct Example {
    path: PathBuf,
    format: ImageFormat,
    scale: u32,
    size: (u32, u32),
    at: (u32, u32),
}

/// The committed examples in `fixtures/images` (see its README), written by
/// `regenerate_example_images`: test digits 0, 1 and 2 (a 7, a 2 and a 1) as small photos.
fn example_images() -> Vec<Example> {
    let dir = fixtures().join("images");
    let example = |name: &str, format, scale, size, at| Example { path: dir.join(name), format, scale, size, at };
    vec![
        example("seven.png", ImageFormat::Png, 3, (110, 130), (14, 30)),
        example("two.jpg", ImageFormat::Jpeg, 3, (130, 100), (30, 6)),
        example("one.bmp", ImageFormat::Bmp, 2, (70, 90), (4, 20)),
    ]
}

/// Rewrites the committed example images: `cargo test -p nn-cli --test predict_command --
/// --ignored regenerate_example_images`.
#[test]
#[ignore = "writes fixtures/images"]
fn regenerate_example_images() {
    for (n, Example { path, format, scale, size, at }) in example_images().into_iter().enumerate() {
        let image = photo(mnist().test.get(n).unwrap().pixels, scale, size, at);
        if format == ImageFormat::Bmp {
            // Grey, so the uncompressed file stays small.
            image::DynamicImage::ImageRgb8(image).to_luma8().save_with_format(&path, format).unwrap();
        } else {
            image.save_with_format(&path, format).unwrap();
        }
    }
}

#[test]
fn the_example_images_are_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let (network, model) = model(dir.path());
    let examples = example_images();
    let mut args = vec!["predict", "--model", path_str(&model), "--json"];
    args.extend(examples.iter().map(|e| path_str(&e.path)));
    let out = nn_cli(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(results.len(), 3);
    for (n, result) in results.iter().enumerate() {
        assert_eq!(result["inverted"], true);
        let expected = network.classify(&inputs(mnist().test.get(n).unwrap().pixels)).unwrap();
        assert_eq!(result["digit"].as_u64(), Some(expected as u64), "{}", result["file"]);
    }
}

/// Shade characters back to levels 0..=4 (see `render::shade_text`), one per pixel.
fn shade_levels(lines: &[&str]) -> Vec<f64> {
    lines
        .iter()
        .flat_map(|line| line.chars().step_by(2))
        .map(|c| [' ', '░', '▒', '▓', '█'].iter().position(|&s| s == c).expect("a shade character") as f64)
        .collect()
}

fn labels(set: &Dataset, count: usize) -> Vec<usize> {
    set.labels()[..count].iter().map(|&l| usize::from(l)).collect()
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    cov / (va * vb).sqrt()
}

#[test]
fn photos_of_mnist_digits_are_seen_as_the_originals() {
    let dir = tempfile::tempdir().unwrap();
    let (network, model) = model(dir.path());
    let test = &mnist().test;
    let files = write_photos(dir.path(), test, PHOTOS);

    let mut args = vec!["predict", "--model", path_str(&model), "--json", "--show"];
    args.extend(files.iter().map(|f| path_str(f)));
    let out = nn_cli(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(results.len(), PHOTOS);

    // The model's answers on the photos agree with its answers on the original digits.
    let mut agree = 0;
    for (result, (file, original)) in results.iter().zip(files.iter().zip(test.iter())) {
        assert_eq!(result["file"], path_str(file));
        assert_eq!(result["inverted"], true);
        let expected = network.classify(&inputs(original.pixels)).unwrap();
        agree += usize::from(result["digit"].as_u64() == Some(expected as u64));
    }
    let accuracy = network.accuracy(&inputs(&test.pixels()[..PHOTOS * 784]), &labels(test, PHOTOS), PHOTOS).unwrap();
    eprintln!("{agree} of {PHOTOS} photos agree; the model gets {accuracy:.2} of the originals right");
    assert!(accuracy > 0.5, "the model tells digits apart ({accuracy})");
    assert!(agree * 10 >= PHOTOS * 8, "only {agree} of {PHOTOS} photos agree with the originals");

    // What the network sees (drawn on stderr with --json) looks like the original digit.
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let mut correlations = Vec::new();
    for (n, original) in test.iter().take(PHOTOS).enumerate() {
        let block = &lines[n * 29..(n + 1) * 29];
        assert_eq!(block[0], format!("{}:", path_str(&files[n])));
        let seen = shade_levels(&block[1..]);
        let original: Vec<f64> = original.pixels.iter().map(|&p| f64::from(p)).collect();
        correlations.push(correlation(&seen, &original));
    }
    let worst = correlations.iter().copied().fold(1.0, f64::min);
    let mean = correlations.iter().sum::<f64>() / correlations.len() as f64;
    eprintln!("correlation with the originals: mean {mean:.3}, worst {worst:.3}");
    assert!(mean > 0.85 && worst > 0.6, "mean {mean:.3}, worst {worst:.3}: {correlations:.2?}");
}

#[test]
fn json_output_has_the_fields_and_probabilities_sum_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let model = dir.path().join("random.json");
    nn_core::save_model(&network, &model).unwrap();
    let files = write_photos(dir.path(), &mnist().test, 3);
    let out = nn_cli(&[
        "predict",
        "--model",
        path_str(&model),
        "--json",
        path_str(&files[0]),
        path_str(&files[1]),
        path_str(&files[2]),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(results.len(), 3);
    for (result, file) in results.iter().zip(&files) {
        assert_eq!(result["file"], path_str(file));
        let probabilities: Vec<f64> =
            result["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        assert_eq!(probabilities.len(), 10);
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{probabilities:?}");
        let digit = result["digit"].as_u64().unwrap() as usize;
        let best = (0..10).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b])).unwrap();
        assert_eq!(digit, best);
        let top3 = result["top3"].as_array().unwrap();
        assert_eq!(top3.len(), 3);
        assert_eq!(top3[0]["digit"].as_u64(), Some(digit as u64));
        let ranked: Vec<f64> = top3.iter().map(|t| t["probability"].as_f64().unwrap()).collect();
        assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{ranked:?}");
    }
}

#[test]
fn human_output_and_show_draw_what_the_network_sees() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let model = dir.path().join("random.json");
    nn_core::save_model(&network, &model).unwrap();
    let files = write_photos(dir.path(), &mnist().test, 1);
    let out = nn_cli(&["predict", "--model", path_str(&model), "--show", path_str(&files[0])]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 29, "{stdout}");
    let first = lines[0];
    assert!(first.starts_with(&format!("{}: ", path_str(&files[0]))), "{first}");
    assert_eq!(first.matches('%').count(), 3, "{first}");
    for line in &lines[1..] {
        assert_eq!(line.chars().count(), 56, "{line:?}");
        assert!(line.chars().all(|c| " ░▒▓█".contains(c)), "{line:?}");
    }
    assert!(lines[1..].iter().any(|l| l.contains('█')), "{stdout}");
}

#[test]
fn unreadable_blank_and_missing_files_are_reported_and_the_rest_processed() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let model = dir.path().join("random.json");
    nn_core::save_model(&network, &model).unwrap();
    let good = write_photos(dir.path(), &mnist().test, 2);
    let blank = dir.path().join("blank.png");
    RgbImage::from_pixel(120, 90, Rgb([250, 250, 250])).save(&blank).unwrap();
    let text_file = dir.path().join("x.png");
    std::fs::write(&text_file, "this is not an image\n").unwrap();
    let missing = dir.path().join("missing.jpg");

    let files = [&good[0], &blank, &text_file, &missing, &good[1]];
    let mut args = vec!["predict", "--model", path_str(&model)];
    args.extend(files.iter().map(|f| path_str(f)));
    let out = nn_cli(&args);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for good in &good {
        assert!(stdout.contains(&format!("{}: ", path_str(good))), "{stdout}");
    }
    let line_of = |file: &Path| {
        stderr.lines().find(|l| l.starts_with(path_str(file))).unwrap_or_else(|| panic!("{file:?} reported: {stderr}"))
    };
    assert!(line_of(&blank).contains("blank"), "{stderr}");
    assert!(line_of(&text_file).contains("not a readable image"), "{stderr}");
    assert!(line_of(&missing).contains("cannot open"), "{stderr}");
    assert!(stderr.contains("3 of 5"), "{stderr}");

    // With --json the good files still make a valid array.
    args.push("--json");
    let out = nn_cli(&args);
    assert_eq!(out.status.code(), Some(1));
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(results.len(), 2);
}

#[test]
fn a_model_that_does_not_take_784_inputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::dense(&[64, 8, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let model = dir.path().join("small.json");
    nn_core::save_model(&network, &model).unwrap();
    let files = write_photos(dir.path(), &mnist().test, 1);
    let out = nn_cli(&["predict", "--model", path_str(&model), path_str(&files[0])]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("64 inputs") && stderr.contains("784"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// A PNG whose header says `width × height` grey pixels, with no image data.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(b"IHDR");
    crc.update(&ihdr);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc.sum().to_be_bytes());
    // An empty IDAT and IEND: a decoder reads the header up to the first data chunk.
    for name in [b"IDAT", b"IEND"] {
        let mut crc = flate2::Crc::new();
        crc.update(name);
        png.extend_from_slice(&0u32.to_be_bytes());
        png.extend_from_slice(name);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    png
}

#[test]
fn huge_and_truncated_images_are_errors_not_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::dense(&[784, 16, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let model = dir.path().join("random.json");
    nn_core::save_model(&network, &model).unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, png_header_only(100_000, 100_000)).unwrap();
    // A real photo cut in the middle of its data.
    let good = write_photos(dir.path(), &mnist().test, 1);
    let bytes = std::fs::read(&good[0]).unwrap();
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let out = nn_cli(&["predict", "--model", path_str(&model), path_str(&huge), path_str(&truncated)]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "no prediction: {stdout}");
    assert!(stderr.contains("image is 100000x100000 pixels; the limit is 64 megapixels"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with(path_str(&truncated)) && l.contains("not a readable image")),
        "{stderr}"
    );
}

#[test]
fn a_truncated_jpeg_or_bmp_is_an_error_not_a_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = model(dir.path());
    let images = fixtures().join("images");
    let mut cut = Vec::new();
    for (name, keep) in [("my-three.jpg", 50), ("two.jpg", 80), ("one.bmp", 60)] {
        let bytes = std::fs::read(images.join(name)).unwrap();
        let path = dir.path().join(format!("cut-{name}"));
        std::fs::write(&path, &bytes[..bytes.len() * keep / 100]).unwrap();
        cut.push(path);
    }
    let args: Vec<&str> =
        ["predict", "--model", path_str(&model)].into_iter().chain(cut.iter().map(|p| path_str(p))).collect();
    let out = nn_cli(&args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "no prediction: {stdout}");
    let line_of = |path: &Path| stderr.lines().find(|l| l.starts_with(path_str(path))).unwrap_or_default().to_string();
    let expected = "truncated JPEG image: the data stops inside a scan, before the end-of-image marker (FF D9)";
    assert!(line_of(&cut[0]).contains(expected), "{stderr}");
    assert!(line_of(&cut[1]).contains("truncated JPEG image"), "{stderr}");
    assert!(line_of(&cut[2]).contains("truncated BMP image: the pixel array holds"), "{stderr}");
}
