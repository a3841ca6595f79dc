//! Any bytes given to nn-core's committee-file reader yield a committee or an error; never a
//! panic, a hang or a huge allocation. Members named by a relative path are looked up beside the
//! committee, in a directory that holds one small model file, `m.json`; a committee read back
//! survives the trip through `committee_to_json` (every member embedded) unchanged.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nn_core::{Activation, Init, Loss, Network, committee_from_json, committee_to_json, save_model};

/// `DIR/committee.json`, where `DIR` (made once per process) holds `m.json`.
fn committee_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nn-core-fuzz-committee-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the member");
        let network = Network::dense(&[4, 3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1)
            .expect("a valid network");
        save_model(&network, dir.join("m.json")).expect("the member is written");
        dir.join("committee.json")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = committee_path();
    if let Ok(committee) = committee_from_json(data, path) {
        let json = committee_to_json(&committee).expect("a committee read from a file can be written");
        let back = committee_from_json(json.as_bytes(), path).expect("a saved committee reads back");
        assert_eq!(back, committee);
    }
});
