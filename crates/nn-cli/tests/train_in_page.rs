//! The draw page's "Train here" panel, end to end: `nn-cli serve --data` offers the full MNIST,
//! headless Chromium trains one epoch of Nielsen's chapter-3 network in the page's worker
//! (`window.digits.train({seed: 1})`), its accuracy is within half a point of `nn-cli train
//! --recipe nielsen-ch3` with the same seed and data, the saved model file passes `nn-cli eval`, and
//! the panel's buttons train, stop and answer a drawing with the network in training.
//!
//! Needs the full MNIST (skipped with a note without it, required under `cargo xtask ci`) and
//! Chromium with chromedriver (see `nn-serve/tests/chromium/mod.rs`).

use std::path::Path;
use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

mod common;
use common::serving::{Serving, Stderr};
use common::{nn_cli, path_str, text};

#[path = "../../nn-serve/tests/chromium/mod.rs"]
mod chromium;
use chromium::{WAIT, in_browser};

/// One epoch in a page on a loaded machine takes some seconds; WebDriver waits this long for a
/// script's promise.
const TRAINING_WAIT: Duration = Duration::from_secs(300);

/// `nn-cli serve` with a small model (saved in `dir`), offering the data set `data` to the page.
fn serve(dir: &Path, data: &Path) -> Serving {
    let served = dir.join("served.json");
    nn_core::save_model(&test_support::trained_network(7, 20), &served).unwrap();
    let serving = Serving::start(&["--model", path_str(&served), "--data", path_str(data)], Stderr::Shown);
    let said = &serving.said;
    assert!(said.iter().any(|line| line.contains("to the page's training panel")), "{said:?}");
    serving
}

/// The test accuracy `nn-cli` prints (`test accuracy: 0.9123`).
fn printed_accuracy(output: &str) -> f64 {
    let line = output.lines().find(|l| l.contains("accuracy")).unwrap_or_else(|| panic!("no accuracy in {output}"));
    let number = line.split_whitespace().find_map(|w| w.trim_end_matches('%').parse::<f64>().ok()).unwrap();
    if line.contains('%') { number / 100.0 } else { number }
}

async fn open_page(client: &Client, url: &str) {
    client.goto(url).await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("body[data-training='ready']")).await.unwrap();
    client.update_timeouts(TimeoutConfiguration::new(Some(TRAINING_WAIT), None, None)).await.unwrap();
}

#[test]
fn a_network_trained_in_the_page_learns_as_nn_cli_train_does_and_nn_cli_evaluates_it() {
    let Some(data) = test_support::full_data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let native = dir.path().join("native.json");
    let args = ["train", "--recipe", "nielsen-ch3", "--epochs", "1", "--seed", "1", "--data", path_str(&data)];
    let out = nn_cli(&[&args[..], &["-o", path_str(&native)]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let native_accuracy = printed_accuracy(&text(&out.stdout));

    let serving = serve(dir.path(), &data);
    let Some((result, model, description)) = in_browser(&[], async |client| {
        open_page(client, &serving.url).await;
        let result = client.execute("return window.digits.train({seed: 1})", vec![]).await.unwrap();
        let model = client.execute("return window.digits.model()", vec![]).await.unwrap();
        let card = Locator::Css(".answer[data-model='trained here'] .meta");
        let description = client.find(card).await.unwrap().text().await.unwrap();
        (result, model, description)
    }) else {
        return;
    };
    eprintln!("in the page: {result}; natively: {native_accuracy}");
    let accuracy = result["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.85, "{result}");
    assert!((accuracy - native_accuracy).abs() <= 0.005, "page {accuracy}, native {native_accuracy}");
    assert_eq!(result["steps"], json!(5000), "one epoch of 50,000 images in batches of 10");
    assert!(result["loss"].as_f64().unwrap() > 0.0 && result["seconds"].as_f64().unwrap() > 0.0, "{result}");
    assert_eq!(
        description,
        "784-30-10 sigmoid, cross-entropy, SGD η 0.1, λ 5, batches of 10, 1 epoch on 50000 images, seed 1"
    );

    let saved = dir.path().join("trained-here.json");
    std::fs::write(&saved, model.as_str().expect("model-file text")).unwrap();
    let out = nn_cli(&["eval", "--model", path_str(&saved), "--data", path_str(&data)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let evaluated = printed_accuracy(&text(&out.stdout));
    assert!((evaluated - accuracy).abs() < 1e-4, "nn-cli eval: {evaluated}, the page: {accuracy}");

    // How far the weights are from the native run's (the docs say whether they are the same).
    let load = |path: &Path| nn_core::model_from_json(&std::fs::read(path).unwrap(), path).unwrap();
    let (page, native) = (load(&saved), load(&native));
    let pairs: Vec<(f32, f32)> = page
        .parameters()
        .iter()
        .zip(native.parameters())
        .flat_map(|(p, n)| p.iter().copied().zip(n.iter().copied()).collect::<Vec<_>>())
        .collect();
    let same = pairs.iter().filter(|(p, n)| p.to_bits() == n.to_bits()).count();
    let largest = pairs.iter().map(|(p, n)| (p - n).abs()).fold(0f32, f32::max);
    eprintln!("weights: {same} of {} the same bits as natively; largest difference {largest:e}", pairs.len());
}

/// The panel's own controls: Train with the form's choices, the network in training answering
/// the drawing beside the served model, Stop, and Save offered once something was trained.
#[test]
fn the_panel_trains_answers_the_drawing_and_stops() {
    let Some(data) = test_support::full_data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let serving = serve(dir.path(), &data);
    let Some((cards, status, save_enabled, screenshots)) = in_browser(&[], async |client| {
        open_page(client, &serving.url).await;
        // A "1" on the pad: one vertical stroke, drawn by the page's own pointer handlers.
        let pad = client.find(Locator::Id("pad")).await.unwrap();
        let mut stroke = MouseActions::new("mouse".to_string());
        for (step, y) in (-90..=90).step_by(15).enumerate() {
            let duration = Some(Duration::from_millis(15));
            stroke =
                stroke.then(PointerAction::MoveToElement { element: pad.clone(), duration, x: 0.0, y: f64::from(y) });
            if step == 0 {
                stroke = stroke.then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
            }
        }
        stroke = stroke.then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        client.perform_actions(stroke).await.unwrap();

        client.execute("document.querySelector('[name=hidden]').value = '100'", vec![]).await.unwrap();
        client.execute("document.querySelector('[name=activation]').value = 'relu'", vec![]).await.unwrap();
        client.find(Locator::Id("train")).await.unwrap().click().await.unwrap();
        // After the first chunk, the network in training has answered the drawing.
        let answered = Locator::Css(".answer[data-model='trained here'][data-digit]");
        client.wait().at_most(TRAINING_WAIT).for_element(answered).await.unwrap();
        client.find(Locator::Id("stop")).await.unwrap().click().await.unwrap();
        client.wait().at_most(TRAINING_WAIT).for_element(Locator::Css("body[data-trained='true']")).await.unwrap();
        let cards = client
            .execute(
                "return Array.from(document.querySelectorAll('.answer'), (c) => [c.dataset.model, c.dataset.digit ?? null])",
                vec![],
            )
            .await
            .unwrap();
        let status = client.find(Locator::Id("training-status")).await.unwrap().text().await.unwrap();
        let save_enabled = client.execute("return !document.getElementById('save').disabled", vec![]).await.unwrap();
        client.execute("document.getElementById('answers').scrollIntoView({block: 'start'})", vec![]).await.unwrap();
        let answers = client.screenshot().await.unwrap();
        client.execute("document.getElementById('training').scrollIntoView({block: 'start'})", vec![]).await.unwrap();
        (cards, status, save_enabled, [answers, client.screenshot().await.unwrap()])
    }) else {
        return;
    };
    let cards: Vec<(String, Option<String>)> = serde_json::from_value(cards).unwrap();
    assert_eq!(cards.len(), 2, "{cards:?}");
    assert_eq!(cards[1].0, "trained here");
    assert!(cards.iter().all(|(_, digit)| digit.is_some()), "{cards:?}");
    assert!(status.starts_with("Stopped: "), "{status}");
    assert_eq!(save_enabled, Value::Bool(true));
    for (name, png) in ["nn-serve-page-trained-here.png", "nn-serve-page-training.png"].iter().zip(screenshots) {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot of the page: {}", path.display());
    }
}
