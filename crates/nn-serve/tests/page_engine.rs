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
