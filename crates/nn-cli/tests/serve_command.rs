//! End-to-end tests of `nn-cli serve`: it listens on the address given (an ephemeral port of
//! 127.0.0.1 here), answers an image as `nn-cli predict` answers the same file, bit for bit,
//! stops cleanly on Ctrl-C (SIGINT), and on SIGTERM within its grace even while a client that
//! never reads holds a connection.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use image::{GrayImage, ImageFormat, Luma};
use serde_json::Value;

mod common;
use common::serving::{Serving, Stderr};
use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// A small model fitted on the fixture's 100 training digits, saved in `dir` as `name.json`.
fn model(dir: &Path, name: &str) -> PathBuf {
    let network = test_support::trained_network(7, 20);
    let path = dir.join(format!("{name}.json"));
    nn_core::save_model(&network, &path).unwrap();
    path
}

/// Test digits as dark ink on light paper, enlarged, in PNG, JPEG and BMP.
fn photos(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mnist = mnist_data::Mnist::load(fixtures().join("mnist-100")).unwrap();
    let formats = [
        (ImageFormat::Png, "png", "image/png"),
        (ImageFormat::Jpeg, "jpg", "image/jpeg"),
        (ImageFormat::Bmp, "bmp", "image/bmp"),
    ];
    mnist
        .test
        .iter()
        .take(6)
        .enumerate()
        .map(|(i, digit)| {
            let (format, ext, content_type) = formats[i % 3];
            let mut sheet = GrayImage::from_pixel(100, 90, Luma([230]));
            for y in 0..84u32 {
                for x in 0..84u32 {
                    let ink = digit.pixels[(y / 3) as usize * 28 + (x / 3) as usize];
                    sheet.put_pixel(8 + x, 3 + y, Luma([230 - (f32::from(ink) * 0.8) as u8]));
                }
            }
            let path = dir.join(format!("digit-{i}.{ext}"));
            image::DynamicImage::ImageLuma8(sheet).to_rgb8().save_with_format(&path, format).unwrap();
            (path, content_type)
        })
        .collect()
}

/// `nn-cli serve` with `models` and `options`.
fn serve(models: &[&Path], options: &[&str]) -> Serving {
    let mut args = options.to_vec();
    for model in models {
        args.extend(["--model", path_str(model)]);
    }
    Serving::start(&args, Stderr::Kept)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

#[test]
fn the_server_answers_images_as_predict_does_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), "digits");
    let photos = photos(dir.path());

    let mut args = vec!["predict", "--json", "--model", path_str(&model)];
    args.extend(photos.iter().map(|(path, _)| path_str(path)));
    let output = nn_cli(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let predicted: Value = serde_json::from_slice(&output.stdout).unwrap();

    let server = serve(&[&model], &[]);
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    let agent = agent();
    for (index, (path, content_type)) in photos.iter().enumerate() {
        let body = std::fs::read(path).unwrap();
        let mut response = agent
            .post(&format!("{}/api/predict", server.url))
            .header("content-type", *content_type)
            .send(&body[..])
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        let expected = &predicted[index];
        // Both print each f32 in its shortest exact form: equal text is equal bits.
        assert_eq!(answer["probabilities"], expected["probabilities"], "{}", path.display());
        assert_eq!(answer["digit"], expected["digit"]);
        assert_eq!(answer["inverted"], expected["inverted"]);
        assert_eq!(answer["model"], "digits");
    }
    let (status, stderr) = server.interrupt();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
}

#[test]
fn several_models_are_served_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let first = model(dir.path(), "first");
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let second = model(&dir.path().join("b"), "second");
    let server = serve(&[&first, &second], &[]);
    let mut response = agent().get(&format!("{}/api/models", server.url)).call().unwrap();
    let models: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let names: Vec<&str> = models.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first", "second"]);
}

#[test]
fn models_of_the_same_name_and_missing_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = model(dir.path(), "same");
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let second = model(&dir.path().join("b"), "same");
    let output = nn_cli(&["serve", "--addr", "127.0.0.1:0", "--model", path_str(&first), "--model", path_str(&second)]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("two models are named \"same\""), "{}", text(&output.stderr));
    let output = nn_cli(&["serve", "--addr", "127.0.0.1:0", "--model", "missing.json"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).starts_with("error: cannot load model missing.json"), "{}", text(&output.stderr));
}

/// A service manager's SIGTERM stops the server within `--shutdown-grace`, with status 0, even
/// while a client pipelines requests and never reads the answers.
#[test]
fn sigterm_stops_the_server_within_the_grace_while_a_client_never_reads() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), "digits");
    let server = serve(&[&model], &["--shutdown-grace", "1"]);
    let mut client = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    client.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
    // 3,000 answers of the page's script (9 kB each): far more than the sockets hold.
    for _ in 0..3_000 {
        if client.write_all(b"GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n").is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr, waited) = server.signal("-TERM", Duration::from_secs(20));
    eprintln!("--shutdown-grace 1: exited after {waited:?}");
    let status = status.unwrap_or_else(|| panic!("still running after {waited:?}: {stderr}"));
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(waited < Duration::from_secs(4), "exited after {waited:?}");
    drop(client);
}

#[test]
fn the_shutdown_grace_must_be_a_number_of_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), "digits");
    for grace in ["-1", "soon", "NaN", "1e9"] {
        let flag = format!("--shutdown-grace={grace}");
        let output = nn_cli(&["serve", "--addr", "127.0.0.1:0", "--model", path_str(&model), &flag]);
        assert!(!output.status.success(), "{grace}");
        assert!(text(&output.stderr).contains("--shutdown-grace"), "{grace}: {}", text(&output.stderr));
    }
}

#[test]
fn a_data_set_that_cannot_be_offered_to_the_page_stops_the_server_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let served = model(dir.path(), "small");
    let missing = dir.path().join("no-such-data");
    let out = nn_cli(&["serve", "--model", path_str(&served), "--data", path_str(&missing), "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot load the data from"), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("serving"), "{}", text(&out.stdout));
}

#[test]
fn the_fixture_data_set_is_offered_to_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let served = model(dir.path(), "small");
    let data = fixtures().join("mnist-100");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nn-cli"))
        .args(["serve", "--model", path_str(&served), "--data", path_str(&data), "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let offering = lines.next().unwrap().unwrap();
    let serving = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(offering.starts_with("offering "), "{offering}");
    assert!(offering.contains("to the page's training panel: 100 training and 100 test images"), "{offering}");
    assert!(serving.starts_with("serving small on http://127.0.0.1:"), "{serving}");
}
