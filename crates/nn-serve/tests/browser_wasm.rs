//! The page predicting itself in headless Chromium: nn-core compiled to WebAssembly
//! (`crates/nn-wasm`) answers in the page, with the server's digits and probabilities (within
//! 1e-4: the server's kernels fuse multiply-adds, WebAssembly does not), for a dense and a
//! convolutional model, without a request to `POST /api/predict`; a stroke drawn with the mouse
//! gets the digit the server gives the same canvas.
//!
//! The agreement on test images needs the full MNIST (`cargo xtask fetch-data`): skipped with a
//! note without it, a failure when `MNIST_DIR` is set (as `cargo xtask ci` does). Chromium:
//! see `chromium/mod.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use nn_core::{Architecture, Init, Loss, Shape};
use nn_serve::{Config, NamedModel};
use serde_json::{Value, json};

mod chromium;
mod common;
use chromium::{WAIT, in_browser};
use common::{TestServer, get, mnist, pixels_json, post, save_screenshot, trained_network};

/// A small convolutional network fitted on the fixture's 100 training digits.
fn trained_cnn() -> nn_core::Network {
    let architecture: Architecture = "conv(4,5) relu maxpool(2) flatten dense(10)".parse().unwrap();
    let network = architecture.with_input(Shape::new(1, 28, 28)).build(Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    test_support::fitted_on_fixture(network, 5)
}

fn dense_and_cnn() -> Vec<NamedModel> {
    vec![
        NamedModel::new("dense", trained_network(7), None).unwrap(),
        NamedModel::new("cnn", trained_cnn(), None).unwrap(),
    ]
}

/// The first `count` test images of the full MNIST as pixels in 0..1, or `None` with a note.
fn full_test_images(count: usize) -> Option<Vec<Vec<f32>>> {
    let (dir, required) = match std::env::var_os("MNIST_DIR") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"), false),
    };
    match mnist_data::Mnist::load(&dir) {
        Ok(data) => Some(
            data.test.iter().take(count).map(|d| d.pixels.iter().map(|&p| f32::from(p) / 255.0).collect()).collect(),
        ),
        Err(e) if !required => {
            eprintln!("note: skipping the agreement on test images: {e} (cargo xtask fetch-data)");
            None
        }
        Err(e) => panic!("MNIST_DIR is set but the data does not load: {e}"),
    }
}

/// Requests the server has answered on `route`, by its metrics.
fn requests_on(url: &str, route: &str) -> u64 {
    let prefix = format!("http_requests_total{{route=\"{route}\"");
    get(&format!("{url}/metrics"))
        .body
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// Opens the page and waits until it has started, returning its engine.
async fn open_page(client: &Client, url: &str) -> String {
    client.goto(url).await.unwrap();
    client.wait().at_most(WAIT).for_element(Locator::Css("body[data-ready='true']")).await.unwrap();
    client.execute("return window.digits.engine", vec![]).await.unwrap().as_str().unwrap().to_string()
}

#[test]
fn the_page_answers_200_test_images_as_the_server_does_without_asking_it() {
    let Some(images) = full_test_images(200) else { return };
    let server = TestServer::start(dense_and_cnn(), Config::default());
    let Some(answers) = in_browser(&[], async |client| {
        assert_eq!(open_page(client, &server.url).await, "wasm");
        for text in card_texts(client, ".answer .where").await {
            assert_eq!(text, "Answered in the page (WebAssembly)");
        }
        let mut answers = Vec::new();
        for name in ["dense", "cnn"] {
            let script = "return Promise.all(arguments[0].map((p) => window.digits.predict(p, arguments[1])));";
            answers.push(client.execute(script, vec![json!(images), json!(name)]).await.unwrap());
        }
        answers
    }) else {
        return;
    };
    assert_eq!(requests_on(&server.url, "/api/predict"), 0, "the page asked the server nothing");
    let mut largest = 0f64;
    for (name, page) in ["dense", "cnn"].iter().zip(&answers) {
        let page = page.as_array().unwrap();
        assert_eq!(page.len(), 200);
        for (index, (image, answer)) in images.iter().zip(page).enumerate() {
            let served = post(
                &format!("{}/api/predict?model={name}", server.url),
                Some("application/json"),
                pixels_json(image).as_bytes(),
            )
            .json();
            assert_eq!(answer["digit"], served["digit"], "{name}, image {index}");
            for (p, q) in
                answer["probabilities"].as_array().unwrap().iter().zip(served["probabilities"].as_array().unwrap())
            {
                let difference = (p.as_f64().unwrap() - q.as_f64().unwrap()).abs();
                largest = largest.max(difference);
                assert!(difference <= 1e-4, "{name}, image {index}: {p} in the page, {q} from the server");
            }
        }
    }
    eprintln!("page and server: the same 400 digits, probabilities within {largest:e}");
}

#[test]
fn a_stroke_drawn_with_the_mouse_gets_the_servers_digit() {
    let server = TestServer::start(dense_and_cnn(), Config::default());
    let Some((page, canvas, prepared, screenshot)) = in_browser(&[], async |client| {
        assert_eq!(open_page(client, &server.url).await, "wasm");
        let pad = client.find(Locator::Id("pad")).await.unwrap();
        // A "7": a bar, then a slanted stroke down, in small steps as a real mouse moves.
        let mut path = vec![(-60.0, -80.0)];
        path.extend((1..=12).map(|i| (-60.0 + 10.0 * f64::from(i), -80.0)));
        path.extend((1..=16).map(|i| (60.0 - 4.5 * f64::from(i), -80.0 + 10.0 * f64::from(i))));
        let mut stroke = MouseActions::new("mouse".to_string());
        for (step, &(x, y)) in path.iter().enumerate() {
            let duration = Some(Duration::from_millis(if step == 0 { 0 } else { 15 }));
            stroke = stroke.then(PointerAction::MoveToElement { element: pad.clone(), duration, x, y });
            if step == 0 {
                stroke = stroke.then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
            }
        }
        stroke = stroke.then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        client.perform_actions(stroke).await.unwrap();
        let page = final_digits(client).await;
        let canvas: Vec<u8> = serde_json::from_value(
            client
                .execute(
                    "return await new Promise((done) => document.getElementById('pad').toBlob(
                        (blob) => blob.arrayBuffer().then((b) => done(Array.from(new Uint8Array(b)))), 'image/png'));",
                    vec![],
                )
                .await
                .unwrap(),
        )
        .unwrap();
        let prepared = client
            .execute(
                "const c = document.querySelector('.answer .prepared').getContext('2d');
                 return Array.from(c.getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0));",
                vec![],
            )
            .await
            .unwrap();
        (page, canvas, prepared, client.screenshot().await.unwrap())
    }) else {
        return;
    };
    assert_eq!(requests_on(&server.url, "/api/predict"), 0, "the page asked the server nothing");
    for (name, digit) in &page {
        let served = post(&format!("{}/api/predict?model={name}", server.url), Some("image/png"), &canvas).json();
        assert_eq!(served["digit"], json!(digit), "{name}: the server's digit for the same canvas");
        let levels: Vec<Value> = served["prepared"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| json!((v.as_f64().unwrap() * 255.0).round() as u8))
            .collect();
        assert_eq!(prepared.as_array().unwrap(), &levels, "the page prepared the canvas as the server does");
    }
    eprintln!("a mouse stroke: {page:?} in the page and from the server");
    save_screenshot("nn-serve-page-wasm.png", &screenshot);
}

/// A model whose file is over the server's limit for the page is answered by the server and its
/// card says so; the others still answer in the page. A download that is not what the server
/// listed (another SHA-256, another size) is refused before the module sees it. Where the
/// browser cannot run WebAssembly at all, the page says so in one line and the server answers.
#[test]
fn the_page_falls_back_to_the_server_and_says_so() {
    // The dense network's file is some 500 kB, the convolutional one's some 120 kB.
    let config = Config { max_model_file_bytes: 300_000, ..Config::default() };
    let server = TestServer::start(dense_and_cnn(), config);
    let pixels = fixture_image();
    let Some(()) = in_browser(&[], async |client| {
        assert_eq!(open_page(client, &server.url).await, "wasm");
        // Started without --data, the training panel says how to start it with a data set.
        assert_eq!(
            training_status(client).await,
            "Cannot train here: this server offers no data set to train on: start it with `nn-cli serve --model \
             MODEL --data data/mnist`."
        );
        let wheres: Vec<String> = card_texts(client, ".answer .where").await;
        assert!(wheres[0].starts_with("Answered by the server: its file is"), "{wheres:?}");
        assert!(wheres[0].contains("over this server's limit"), "{wheres:?}");
        assert_eq!(wheres[1], "Answered in the page (WebAssembly)");
        for name in ["dense", "cnn"] {
            let answer = client
                .execute("return window.digits.predict(arguments[0], arguments[1])", vec![json!(pixels), json!(name)])
                .await
                .unwrap();
            assert!(answer["digit"].as_u64().unwrap() < 10, "{answer}");
        }
        assert_eq!(requests_on(&server.url, "/api/predict"), 1, "only the model the page cannot run asks the server");
        // The listing of the cnn's file with one digit of its hash changed, then with one byte more.
        let listing = get(&format!("{}/api/engine", server.url)).json()["models"][1].clone();
        let mut wrong_hash = listing.clone();
        let hash = listing["sha256"].as_str().unwrap();
        wrong_hash["sha256"] = json!(format!("{}{}", if hash.starts_with('0') { "1" } else { "0" }, &hash[1..]));
        let mut wrong_size = listing.clone();
        wrong_size["bytes"] = json!(listing["bytes"].as_u64().unwrap() + 1);
        for (bad, says) in [(wrong_hash, "did not arrive intact"), (wrong_size, "arrived with")] {
            let error = client
                .execute("return wasmEngine.loadModel(arguments[0]).then(() => 'loaded', (e) => e.message)", vec![bad])
                .await
                .unwrap();
            assert!(error.as_str().unwrap().contains(says), "{error}");
        }
    }) else {
        return;
    };
    // V8 without its compilers (`--jitless`) runs no WebAssembly.
    let Some(()) = in_browser(&["--js-flags=--jitless"], async |client| {
        assert_eq!(open_page(client, &server.url).await, "server");
        assert_eq!(
            training_status(client).await,
            "Cannot train here: training in the page needs WebAssembly, which this browser cannot run."
        );
        let line = client.find(Locator::Id("engine")).await.unwrap().text().await.unwrap();
        assert_eq!(
            line,
            "The page cannot predict itself (this browser cannot run WebAssembly): the server answers (POST \
             /api/predict)."
        );
        let before = requests_on(&server.url, "/api/predict");
        let answer =
            client.execute("return window.digits.predict(arguments[0], 'cnn')", vec![json!(pixels)]).await.unwrap();
        assert!(answer["digit"].as_u64().unwrap() < 10, "{answer}");
        assert_eq!(requests_on(&server.url, "/api/predict"), before + 1);
    }) else {
        return;
    };
}

/// The first test image of the fixture, as pixels in 0..1.
fn fixture_image() -> Vec<f32> {
    mnist().test.iter().next().unwrap().pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
}

/// The training panel's status line, once the panel has set itself up.
async fn training_status(client: &Client) -> String {
    client.wait().at_most(WAIT).for_element(Locator::Css("body[data-training]")).await.unwrap();
    client.find(Locator::Id("training-status")).await.unwrap().text().await.unwrap()
}

async fn card_texts(client: &Client, selector: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(selector)).await.unwrap() {
        texts.push(element.text().await.unwrap());
    }
    texts
}

/// Each card's model and digit, once every card shows one and no answer is pending.
async fn final_digits(client: &Client) -> Vec<(String, u8)> {
    let started = Instant::now();
    loop {
        let state = client
            .execute(
                "return { pending: document.body.dataset.pending,
                          cards: Array.from(document.querySelectorAll('.answer'),
                                            (c) => [c.dataset.model, c.dataset.digit ?? null]) };",
                vec![],
            )
            .await
            .unwrap();
        let cards: Vec<(String, Option<String>)> = serde_json::from_value(state["cards"].clone()).unwrap();
        if state["pending"] == "false" && cards.iter().all(|(_, digit)| digit.is_some()) {
            return cards.into_iter().map(|(name, digit)| (name, digit.unwrap().parse().unwrap())).collect();
        }
        assert!(started.elapsed() < WAIT, "no final answer after {WAIT:?}: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
