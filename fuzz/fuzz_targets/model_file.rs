//! Any bytes given to nn-core's model-file parser yield a network or an error; never a panic, a
//! hang or a huge allocation. A network read back must survive the trip through
//! `model_to_json` unchanged.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nn_core::{model_from_json, model_to_json};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.json");
    if let Ok(network) = model_from_json(data, path) {
        let json = model_to_json(&network).expect("a network read from a model file can be written");
        let back = model_from_json(json.as_bytes(), path).expect("a saved model reads back");
        assert_eq!(back, network);
    }
});
