//! End-to-end tests of `nn-cli committee` and of the commands that take its file as a model:
//! two models fitted on the fixture's 100 training digits make a committee, which `eval`,
//! `predict`, `misclassified`, `summary` and `serve` use as the library does (the mean of the
//! members' probabilities), and which the commands that need one network's weights refuse.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use image::{GrayImage, ImageFormat, Luma};
use nn_core::{Classifier, Committee, Network};
use serde_json::Value;

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// The two members, fitted once: 10 and 20 epochs of the same start.
fn members() -> &'static [Network; 2] {
    static MEMBERS: OnceLock<[Network; 2]> = OnceLock::new();
    MEMBERS.get_or_init(|| [test_support::trained_network(7, 10), test_support::trained_network(7, 20)])
}

/// The members saved as `dir/models/a.json` and `b.json`, and the committee the library makes
/// of them.
fn member_files(dir: &Path) -> ([PathBuf; 2], Committee) {
    std::fs::create_dir_all(dir.join("models")).unwrap();
    let paths = [dir.join("models/a.json"), dir.join("models/b.json")];
    for (network, path) in members().iter().zip(&paths) {
        nn_core::save_model(network, path).unwrap();
    }
    (paths, Committee::new(members().to_vec()).unwrap())
}

/// `nn-cli committee -o dir/committee.json a.json b.json [--embed]`, checked to succeed.
fn committee_file(dir: &Path, paths: &[PathBuf; 2], embed: bool) -> (PathBuf, String) {
    let output = dir.join("committee.json");
    let mut args = vec!["committee", "-o", path_str(&output), path_str(&paths[0]), path_str(&paths[1])];
    if embed {
        args.push("--embed");
    }
    let run = nn_cli(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    (output, text(&run.stdout))
}

fn mnist() -> mnist_data::Mnist {
    mnist_data::Mnist::load(fixtures().join("mnist-100")).unwrap()
}

/// Test digit `index` as a photo: dark ink on light paper, three times larger, in a PNG.
fn photo(dir: &Path, index: usize) -> PathBuf {
    let digit = mnist().test.get(index).unwrap().pixels.to_vec();
    let mut sheet = GrayImage::from_pixel(100, 90, Luma([230]));
    for y in 0..84u32 {
        for x in 0..84u32 {
            let ink = digit[(y / 3) as usize * 28 + (x / 3) as usize];
            sheet.put_pixel(8 + x, 3 + y, Luma([230 - (f32::from(ink) * 0.8) as u8]));
        }
    }
    let path = dir.join(format!("digit-{index}.png"));
    sheet.save_with_format(&path, ImageFormat::Png).unwrap();
    path
}

#[test]
fn a_committee_is_written_with_relative_paths_and_evaluated_as_the_library_evaluates_it() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, committee) = member_files(dir.path());
    let (output, printed) = committee_file(dir.path(), &paths, false);
    assert!(printed.contains("committee of 2 models ->"), "{printed}");
    assert!(printed.contains("models/a.json  784-32-10, softmax_cross_entropy"), "{printed}");
    assert!(printed.contains("input 784 (784 values), 10 outputs"), "{printed}");
    let file: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(file["members"], serde_json::json!([{"path": "models/a.json"}, {"path": "models/b.json"}]));

    let data = fixtures().join("mnist-100");
    let run = nn_cli(&["eval", "--model", path_str(&output), "--data", path_str(&data), "--json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let test = mnist().test;
    let inputs = mnist_data::pixels_to_f32(test.pixels(), true);
    let labels: Vec<usize> = test.labels().iter().map(|&l| usize::from(l)).collect();
    let expected = committee.evaluate(&inputs, &labels, 100).unwrap();
    assert_eq!(report["correct"], expected.correct);
    assert_eq!(report["total"], 100);
    assert_eq!(report["accuracy"].as_f64().unwrap() as f32, expected.accuracy());
    assert_eq!(report["loss"].as_f64().unwrap() as f32, expected.loss);

    let run = nn_cli(&["eval", "--model", path_str(&output), "--data", path_str(&data)]);
    let printed = text(&run.stdout);
    assert!(printed.contains("(committee of 2 × 784-32-10, softmax_cross_entropy)"), "{printed}");
    assert!(printed.contains(&format!("accuracy: {:.4}", expected.accuracy())), "{printed}");
}

#[test]
fn predict_answers_the_mean_of_the_members_and_summary_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = member_files(dir.path());
    let (output, _) = committee_file(dir.path(), &paths, false);
    let image = photo(dir.path(), 0);
    let run = nn_cli(&["predict", "--json", "--model", path_str(&output), path_str(&image)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let answer: Value = serde_json::from_slice(&run.stdout).unwrap();
    let input = mnist_data::image_file::prepare_file(&image).unwrap().input();
    let [a, b] = members().each_ref().map(|m| m.predict(&input).unwrap());
    let mean: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
    let found: Vec<f32> =
        answer[0]["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap() as f32).collect();
    assert_eq!(found, mean);
    assert_eq!(answer[0]["digit"], nn_core::softmax::argmax(&mean));

    let run = nn_cli(&["summary", "--model", path_str(&output)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let printed = text(&run.stdout);
    let parameters = 784 * 32 + 32 + 32 * 10 + 10;
    assert!(printed.starts_with("committee of 2 models: the mean of their softmax outputs; input 784, 10 outputs"));
    assert!(printed.contains(&format!("     1       {parameters}  784-32-10, softmax_cross_entropy")), "{printed}");
    assert!(printed.contains(&format!(" total       {}", 2 * parameters)), "{printed}");
}

#[test]
fn an_embedded_committee_stands_alone_for_misclassified() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, committee) = member_files(dir.path());
    let (output, printed) = committee_file(dir.path(), &paths, true);
    assert!(printed.contains("members embedded"), "{printed}");
    paths.iter().for_each(|path| std::fs::remove_file(path).unwrap());
    let png = dir.path().join("errors.png");
    let data = fixtures().join("mnist-100");
    let run =
        nn_cli(&["misclassified", "--model", path_str(&output), "--data", path_str(&data), "--png", path_str(&png)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let test = mnist().test;
    let labels: Vec<usize> = test.labels().iter().map(|&l| usize::from(l)).collect();
    let wrong = committee.evaluate(&mnist_data::pixels_to_f32(test.pixels(), true), &labels, 100).unwrap();
    let printed = text(&run.stdout);
    assert!(printed.starts_with(&format!("{} of 100 test images misclassified", 100 - wrong.correct)), "{printed}");
    assert!(png.exists());
}

#[test]
fn commands_that_need_one_network_refuse_a_committee() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = member_files(dir.path());
    let (output, _) = committee_file(dir.path(), &paths, false);
    let (model, data, png) =
        (path_str(&output), path_str(&fixtures().join("mnist-100")).to_string(), dir.path().join("out.png"));
    let png = path_str(&png);
    let npz = dir.path().join("out.npz");
    for args in [
        vec!["weights", "--model", model, "--png", png],
        vec!["explain", "--model", model, "--index", "0", "--data", &data, "--png", png],
        vec!["show", "--model", model, "--data", &data],
        vec!["export", "--model", model, "--npz", path_str(&npz)],
    ] {
        let run = nn_cli(&args);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("committee.json is a committee of 2 models, not one network: give one of its members"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!Path::new(png).exists() && !npz.exists());
}

#[test]
fn committees_that_cannot_work_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = member_files(dir.path());
    let before = std::fs::read(&paths[0]).unwrap();
    let run = nn_cli(&["committee", "-o", path_str(&paths[0]), path_str(&paths[0]), path_str(&paths[1])]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("would destroy it"), "{}", text(&run.stderr));
    assert_eq!(std::fs::read(&paths[0]).unwrap(), before);

    let other = dir.path().join("other.json");
    let small =
        Network::dense(&[100, 10], nn_core::Activation::Relu, nn_core::Loss::SoftmaxCrossEntropy, nn_core::Init::HE, 1);
    nn_core::save_model(&small.unwrap(), &other).unwrap();
    let output = dir.path().join("c.json");
    let run = nn_cli(&["committee", "-o", path_str(&output), path_str(&paths[0]), path_str(&other)]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("member 1 of the committee takes inputs of 100"), "{}", text(&run.stderr));
    assert!(!output.exists());

    let (inner, _) = committee_file(dir.path(), &paths, false);
    let run = nn_cli(&["committee", "-o", path_str(&output), path_str(&paths[0]), path_str(&inner)]);
    assert!(text(&run.stderr).contains("committees do not nest"), "{}", text(&run.stderr));
    assert!(!output.exists());
}

/// `nn-cli serve` running; killed if a test fails before stopping it.
struct Serving {
    child: Child,
    url: String,
}

impl Serving {
    fn start(model: &Path) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nn-cli"))
            .args(["serve", "--addr", "127.0.0.1:0", "--threads", "2", "--model", path_str(model)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.split_whitespace().find(|word| word.starts_with("http://")).unwrap_or_else(|| panic!("{line:?}"));
        Serving { url: url.trim_end_matches('/').to_string(), child }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_answers_with_a_committee_named_by_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = member_files(dir.path());
    let (output, _) = committee_file(dir.path(), &paths, false);
    let image = photo(dir.path(), 3);
    let run = nn_cli(&["predict", "--json", "--model", path_str(&output), path_str(&image)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let predicted: Value = serde_json::from_slice(&run.stdout).unwrap();

    let server = Serving::start(&output);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(&format!("{}/api/models", server.url)).call().unwrap();
    let models: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(models[0]["name"], "committee");
    assert_eq!(models[0]["members"], 2, "{models}");
    assert_eq!(models[0]["architecture"], "committee of 2 × dense(32) relu dense(10)");
    let body = std::fs::read(&image).unwrap();
    let mut response =
        agent.post(&format!("{}/api/predict", server.url)).header("content-type", "image/png").send(&body[..]).unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(answer["model"], "committee");
    assert_eq!(answer["probabilities"], predicted[0]["probabilities"]);
    assert_eq!(answer["digit"], predicted[0]["digit"]);
}
