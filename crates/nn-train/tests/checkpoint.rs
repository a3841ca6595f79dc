//! Checkpoint files: exact round trip, atomic replacement, and clear errors for bad files.

mod common;

use std::path::Path;

use common::{bits, linear_rule, network};
use nn_train::{Checkpoint, CheckpointError, Control, NoObserver, OptimizerConfig, TrainConfig, TrainData, train};

fn trained() -> Checkpoint {
    let train_set = linear_rule(200, 3, false);
    let validation = linear_rule(50, 4, false);
    let config = TrainConfig { epochs: 2, optimizer: OptimizerConfig::adam(), ..TrainConfig::default() };
    let mut net = network(3);
    let data = TrainData::new(&train_set).with_validation(&validation);
    let outcome = train(&mut net, &config, &data, &mut NoObserver, &Control::new(), None).unwrap();
    Checkpoint { network: net, state: outcome.state }
}

#[test]
fn round_trips_bit_for_bit() {
    let checkpoint = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    checkpoint.save(&path).unwrap();
    checkpoint.save(&path).unwrap(); // replaces
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["run.ckpt"], "no temporary file is left behind");
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(bits(&loaded.network), bits(&checkpoint.network));
    assert_eq!(loaded.state, checkpoint.state);
    let (a, b) = (&loaded.state.optimizer.second[0], &checkpoint.state.optimizer.second[0]);
    assert!(a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(std::fs::read(&path).unwrap(), checkpoint.to_bytes().unwrap());
}

fn load_bytes(bytes: &[u8]) -> CheckpointError {
    Checkpoint::from_bytes(bytes, Path::new("bad.ckpt")).unwrap_err()
}

#[test]
fn bad_files_are_refused_with_typed_errors() {
    let bytes = trained().to_bytes().unwrap();
    assert!(matches!(load_bytes(b""), CheckpointError::Empty { .. }));
    assert!(matches!(load_bytes(b"  \n"), CheckpointError::Empty { .. }));
    for cut in [1, 10, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let error = load_bytes(&bytes[..cut]);
        assert!(matches!(error, CheckpointError::Truncated { .. }), "cut at {cut}: {error}");
    }
    assert!(matches!(load_bytes(b"\x00\xffgarbage"), CheckpointError::NotACheckpoint { .. }));
    assert!(matches!(load_bytes(b"[1, 2]"), CheckpointError::NotACheckpoint { .. }));
    let model = nn_core::model_to_json(&network(1)).unwrap();
    let error = load_bytes(model.as_bytes());
    assert!(matches!(error, CheckpointError::NotACheckpoint { .. }), "{error}");
    assert!(error.to_string().contains("bad.ckpt"));

    let text = String::from_utf8(bytes).unwrap();
    let version = text.replacen("\"version\":2", "\"version\":3", 1);
    assert!(matches!(load_bytes(version.as_bytes()), CheckpointError::UnsupportedVersion { found: 3, .. }));
    // A corrupted hex digit in the weights.
    let at = text.find("\"parameters\":[\"").unwrap() + 16;
    let mut corrupt = text.clone();
    corrupt.replace_range(at..at + 1, "z");
    assert!(matches!(load_bytes(corrupt.as_bytes()), CheckpointError::Malformed { .. }));
    // Weights that are NaN.
    let mut nan = text.clone();
    nan.replace_range(at - 1..at + 7, "7fc00000");
    assert!(matches!(load_bytes(nan.as_bytes()), CheckpointError::InvalidNetwork { .. }));
    // Optimizer state of another size.
    let mut checkpoint = trained();
    checkpoint.state.optimizer.first[0].pop();
    let error = load_bytes(&checkpoint.to_bytes().unwrap());
    assert!(matches!(error, CheckpointError::Inconsistent { .. }), "{error}");
}

#[test]
fn missing_and_unwritable_paths_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Checkpoint::load(dir.path().join("none")), Err(CheckpointError::Read { .. })));
    let error = trained().save(dir.path().join("no/such/dir/run.ckpt")).unwrap_err();
    assert!(matches!(error, CheckpointError::Write { .. }), "{error}");
}

#[test]
fn a_network_that_standardises_its_inputs_keeps_it_bit_for_bit() {
    let mut network = nn_core::Network::dense(
        &[3, 4, 2],
        nn_core::Activation::Relu,
        nn_core::Loss::SoftmaxCrossEntropy,
        nn_core::Init::HE,
        9,
    )
    .unwrap();
    let standardization = nn_core::Standardization::new(vec![0.1, 1.0 / 3.0, 0.0], vec![0.7, 0.2, 1.0]).unwrap();
    network.set_standardization(Some(standardization)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.checkpoint");
    let checkpoint = nn_train::Checkpoint {
        network: network.clone(),
        state: nn_train::TrainState::new(nn_train::TrainConfig::default()),
    };
    checkpoint.save(&path).unwrap();
    let loaded = nn_train::Checkpoint::load(&path).unwrap();
    assert_eq!(loaded.network, network);
    assert_eq!(loaded.network.standardization(), network.standardization());
}
