//! The figures of `docs/benchmarks.md`'s section on the page: the time from navigation to the
//! page's first answer, and one answer of the default recipe's network (784-512-256-10) and of
//! the `cnn` architecture in the page (WebAssembly), beside the same predictions native on one
//! thread. The networks are untrained (their time does not depend on their weights).
//!
//! With the full MNIST (`data/mnist`, or `MNIST_DIR`), also one epoch of the training panel's
//! recipe (`nielsen-ch3`, seed 1) in the page's worker beside the same epoch native on one
//! thread, in training images a second.
//!
//! `cargo run --release -p nn-wasm --example page_timing` (needs chromium and chromedriver).

use std::time::Instant;

use nn_core::{Activation, Architecture, Init, Loss, MNIST_INPUT, Network};
use nn_serve::{Config, NamedModel, Server};
use serde_json::json;

#[path = "../../nn-serve/tests/chromium/mod.rs"]
mod chromium;

const ANSWERS: usize = 200;

fn main() {
    let default =
        Network::dense(&[784, 512, 256, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let cnn = Architecture::named("cnn")
        .unwrap()
        .with_input(MNIST_INPUT)
        .build(Loss::SoftmaxCrossEntropy, Init::HE, 1)
        .unwrap();
    // A digit-like input: a bright bar across the middle rows.
    let pixels: Vec<f32> =
        (0..784).map(|i| if (12..16).contains(&(i / 28)) && (6..22).contains(&(i % 28)) { 1.0 } else { 0.0 }).collect();
    let native: Vec<f64> = [&default, &cnn]
        .iter()
        .map(|network| {
            network.predict(&pixels).unwrap();
            let started = Instant::now();
            for _ in 0..ANSWERS {
                network.predict(&pixels).unwrap();
            }
            started.elapsed().as_secs_f64() * 1000.0 / ANSWERS as f64
        })
        .collect();

    let data_dir = std::env::var_os("MNIST_DIR")
        .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"), Into::into);
    let mnist = mnist_data::Mnist::load(&data_dir).ok();
    if mnist.is_none() {
        eprintln!("note: no MNIST in {}: the training figures are left out", data_dir.display());
    }
    let native_training = mnist.as_ref().map(native_images_per_second);
    let training_data = mnist.as_ref().map(|m| nn_serve::TrainingData::new(&m.train, &m.test).unwrap());

    let models = vec![NamedModel::new("default", default, None).unwrap(), NamedModel::new("cnn", cnn, None).unwrap()];
    let server = Server::with_training_data(models, Config::default(), training_data).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(server.serve(listener, std::future::pending()));

    let report = chromium::in_browser(&[], async |client| {
        client.goto(&url).await.unwrap();
        // From navigation to the first answer: the module and both model files downloaded and
        // parsed, then one prediction (performance.now() counts from the navigation).
        let first = client
            .execute(
                "await new Promise((done) => { const wait = () => document.body.dataset.ready ? done() : setTimeout(wait, 5); wait(); });
                 await window.digits.predict(arguments[0], 'default');
                 return performance.now();",
                vec![json!(pixels)],
            )
            .await
            .unwrap();
        let mut each = Vec::new();
        for name in ["default", "cnn"] {
            let ms = client
                .execute(
                    "const [pixels, name, count] = arguments;
                     await window.digits.predict(pixels, name);
                     const started = performance.now();
                     for (let i = 0; i < count; i += 1) await window.digits.predict(pixels, name);
                     return (performance.now() - started) / count;",
                    vec![json!(pixels), json!(name), json!(ANSWERS)],
                )
                .await
                .unwrap();
            each.push(ms);
        }
        let engine = client.execute("return window.digits.engine", vec![]).await.unwrap();
        let training = if native_training.is_some() {
            let timeouts =
                fantoccini::wd::TimeoutConfiguration::new(Some(std::time::Duration::from_secs(600)), None, None);
            client.update_timeouts(timeouts).await.unwrap();
            Some(client.execute("return window.digits.train({seed: 1})", vec![]).await.unwrap())
        } else {
            None
        };
        (first, each, engine, training)
    });
    let Some((first, each, engine, training)) = report else { return };
    assert_eq!(engine, "wasm");
    println!("page load to first answer (default model): {:.0} ms", first.as_f64().unwrap());
    for ((name, page), native) in ["default 784-512-256-10", "cnn"].iter().zip(&each).zip(&native) {
        println!(
            "one answer, {name}: {:.3} ms in the page, {native:.3} ms native (one thread)",
            page.as_f64().unwrap()
        );
    }
    if let (Some(page), Some(native)) = (training, native_training) {
        let in_page = page["images_per_second"].as_f64().unwrap();
        println!(
            "training nielsen-ch3, one epoch: {in_page:.0} images/s in the page's worker, {native:.0} native (one \
             thread): {:.2}x; test accuracy {:.4} in the page",
            in_page / native,
            page["accuracy"].as_f64().unwrap()
        );
    }
}

/// One epoch of the panel's recipe, native on one thread, in training images a second.
fn native_images_per_second(mnist: &mnist_data::Mnist) -> f64 {
    let recipe = nn_train::recipe::named("nielsen-ch3").unwrap();
    let (train, _) = mnist.train.split_validation(recipe.validation_size).unwrap();
    let samples = nn_train::PixelSamples::new(train.pixels(), train.labels(), 784).unwrap();
    let config = nn_train::TrainConfig { epochs: 1, ..recipe.train_config(1, train.len()) };
    let mut network = recipe.new_network(MNIST_INPUT, 10, 1).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let started = Instant::now();
    pool.install(|| nn_train::fit(&mut network, &config, nn_train::TrainData::new(&samples))).unwrap();
    train.len() as f64 / started.elapsed().as_secs_f64()
}
