//! What the page downloads to predict itself: `GET /nn.wasm`, `GET /api/engine` and
//! `GET /api/model-file`, which send the started models and nothing else, each within its limit,
//! with sizes and SHA-256 that match what they send.

use nn_core::Classifier;
use nn_serve::{Config, NamedModel};
use sha2::{Digest, Sha256};

mod common;
use common::{TestServer, get, trained_network, two_models};

/// Status, headers and bytes of a GET.
fn get_bytes(url: &str) -> (u16, ureq::http::HeaderMap, Vec<u8>) {
    let mut response = common::agent().get(url).call().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.body_mut().with_config().limit(u64::MAX).read_to_vec().unwrap())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_engine_lists_the_module_and_the_started_models_with_their_sizes_and_hashes() {
    let server = TestServer::start(two_models(), Config::default());
    let engine = get(&format!("{}/api/engine", server.url)).json();

    let (status, headers, module) = get_bytes(&format!("{}/nn.wasm", server.url));
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/wasm");
    assert_eq!(&module[..4], b"\0asm", "a WebAssembly module");
    assert_eq!(engine["module"]["bytes"], module.len());
    assert_eq!(engine["module"]["sha256"], sha256_hex(&module));

    let names: Vec<&str> = engine["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["small", "other"], "the started models, in order, and nothing else");
    for (listing, seed) in engine["models"].as_array().unwrap().iter().zip([7, 8]) {
        let name = listing["name"].as_str().unwrap();
        let (status, headers, file) = get_bytes(&format!("{}/api/model-file?model={name}", server.url));
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(listing["bytes"], file.len());
        assert_eq!(listing["sha256"], sha256_hex(&file));
        // The file is the model: the same answers, bit for bit.
        let network = nn_core::model_from_json(&file, std::path::Path::new(name)).unwrap();
        let pixels: Vec<f32> = (0..784).map(|i| (i % 13) as f32 / 12.0).collect();
        assert_eq!(network.predict(&pixels).unwrap(), trained_network(seed).predict(&pixels).unwrap());
    }
    let (_, _, first) = get_bytes(&format!("{}/api/model-file", server.url));
    assert_eq!(engine["models"][0]["sha256"], sha256_hex(&first), "without a name, the first model");
}

#[test]
fn a_committee_is_sent_with_its_members_embedded() {
    let committee = nn_core::Committee::new(vec![trained_network(7), trained_network(8)]).unwrap();
    let server = TestServer::start(vec![NamedModel::new("pair", committee.clone(), None).unwrap()], Config::default());
    let (status, _, file) = get_bytes(&format!("{}/api/model-file?model=pair", server.url));
    assert_eq!(status, 200);
    let read = nn_core::committee_from_json(&file, std::path::Path::new("/nowhere/pair.json")).unwrap();
    let pixels = vec![0.25; 784];
    assert_eq!(read.predict(&pixels).unwrap(), committee.predict(&pixels).unwrap());
}

#[test]
fn no_file_but_the_started_models_is_sent() {
    let server = TestServer::start(two_models(), Config::default());
    for query in ["model=nope", "model=../../Cargo.toml", "model=%2Fetc%2Fpasswd", "model=small%00", "model="] {
        let answer = get(&format!("{}/api/model-file?{query}", server.url));
        assert_eq!(answer.status, 404, "{query}: {}", answer.body);
        assert!(answer.error().contains("no model named"), "{}", answer.body);
    }
    assert_eq!(get(&format!("{}/api/model-file?model=small&model=other", server.url)).status, 400);
    assert_eq!(get(&format!("{}/api/model-file/small", server.url)).status, 404);
    assert_eq!(get(&format!("{}/nn.wasm/../Cargo.toml", server.url)).status, 404);
}

#[test]
fn a_model_file_over_the_limit_is_not_offered() {
    // The 784-32-10 network's file is some 500 kB.
    let config = Config { max_model_file_bytes: 100_000, ..Config::default() };
    let server = TestServer::start(two_models(), config);
    let engine = get(&format!("{}/api/engine", server.url)).json();
    for listing in engine["models"].as_array().unwrap() {
        assert!(listing.get("sha256").is_none(), "{listing}");
        assert!(listing["not_offered"].as_str().unwrap().contains("over this server's limit"), "{listing}");
    }
    let answer = get(&format!("{}/api/model-file?model=small", server.url));
    assert_eq!(answer.status, 404);
    assert!(answer.error().contains("not offered to the page"), "{}", answer.body);
}

/// The fixture's data set, offered to the training panel.
fn fixture_data() -> nn_serve::TrainingData {
    let mnist = common::mnist();
    nn_serve::TrainingData::new(&mnist.train, &mnist.test).unwrap()
}

#[test]
fn the_training_data_is_the_started_data_set_gzip_compressed_with_its_sizes_and_hashes() {
    let server = nn_serve::Server::with_training_data(two_models(), Config::default(), Some(fixture_data())).unwrap();
    let server = TestServer::serve(server);
    let engine = get(&format!("{}/api/engine", server.url)).json();
    let listing = &engine["training_data"];
    assert_eq!((listing["train_images"].as_u64(), listing["test_images"].as_u64()), (Some(100), Some(100)));
    let mnist = common::mnist();
    let (train_images, train_labels) = mnist.train.to_idx();
    let (test_images, test_labels) = mnist.test.to_idx();
    let expected = [train_images, train_labels, test_images, test_labels];
    let parts = listing["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    for ((part, name), array) in parts.iter().zip(nn_serve::PARTS).zip(expected) {
        assert_eq!(part["name"], name);
        let (status, headers, bytes) = get_bytes(&format!("{}/api/training-data?part={name}", server.url));
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/gzip");
        assert_eq!(part["bytes"], bytes.len());
        assert_eq!(part["sha256"], sha256_hex(&bytes));
        assert!(mnist_data::idx::is_gzip(&bytes));
        assert_eq!(mnist_data::idx::decode(bytes).unwrap(), array, "{name}: the started data, whole");
    }
}

#[test]
fn no_training_data_but_the_started_parts_is_sent() {
    let without = TestServer::start(two_models(), Config::default());
    assert_eq!(get(&format!("{}/api/engine", without.url)).json()["training_data"], serde_json::Value::Null);
    let answer = get(&format!("{}/api/training-data?part=train-images", without.url));
    assert_eq!(answer.status, 404);
    assert!(answer.error().contains("start it with `nn-cli serve --data DIR`"), "{}", answer.error());

    let server = nn_serve::Server::with_training_data(two_models(), Config::default(), Some(fixture_data())).unwrap();
    let server = TestServer::serve(server);
    for query in ["part=../../etc/passwd", "part=train-images.gz", "part=", "part=TRAIN-IMAGES"] {
        let answer = get(&format!("{}/api/training-data?{query}", server.url));
        assert_eq!(answer.status, 404, "{query}");
        assert!(answer.error().contains("the parts are train-images, train-labels"), "{query}: {}", answer.error());
    }
    for query in ["", "parts=train-images"] {
        let answer = get(&format!("{}/api/training-data?{query}", server.url));
        assert_eq!(answer.status, 400, "{query}");
    }
}

#[test]
fn a_data_set_the_page_cannot_train_on_is_refused_at_start() {
    let mnist = common::mnist();
    let small = mnist_data::Dataset::new(vec![0; 4 * 14 * 14], 14, 14, vec![0, 1, 2, 3], 10).unwrap();
    let error = nn_serve::TrainingData::new(&small, &mnist.test).unwrap_err().to_string();
    assert!(error.contains("its training images are 14x14, not 28x28"), "{error}");
    let many_classes = mnist_data::Dataset::new(vec![0; 784], 28, 28, vec![11], 12).unwrap();
    let error = nn_serve::TrainingData::new(&mnist.train, &many_classes).unwrap_err().to_string();
    assert!(error.contains("its test set has 12 classes, not 10 digits"), "{error}");
}
