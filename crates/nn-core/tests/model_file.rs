//! Model files: round trips, atomic writes, and clean refusal of bad files.

use std::fs;
use std::path::Path;

use nn_core::{Activation, Dense, Init, Loss, ModelFileError, Network, NnError, load_model, model_to_json, save_model};

fn network() -> Network {
    Network::dense(&[6, 5, 3], Activation::LeakyRelu { slope: 0.05 }, Loss::SoftmaxCrossEntropy, Init::NIELSEN, 11)
        .unwrap()
}

fn inputs() -> Vec<f32> {
    (0..60).map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0).collect()
}

/// Writes `text` to a file and loads it, returning the error.
fn load_text(dir: &Path, text: &str) -> ModelFileError {
    let path = dir.join("edited.json");
    fs::write(&path, text).unwrap();
    let error = load_model(&path).expect_err("the file should be refused");
    let message = error.to_string();
    assert!(message.contains("edited.json"), "the message names the file: {message}");
    error
}

fn valid_json() -> String {
    model_to_json(&network()).unwrap()
}

/// The same network in the version 1 format (dense layers with sizes and activations), which
/// every later version still reads.
fn version_1_json() -> String {
    let net = network();
    let layers: Vec<serde_json::Value> = net
        .layers()
        .iter()
        .map(|layer| {
            let dense = layer.as_any().downcast_ref::<Dense>().unwrap();
            serde_json::json!({
                "kind": "dense",
                "inputs": dense.weights().ncols(),
                "outputs": dense.weights().nrows(),
                "activation": dense.activation(),
                "weights": dense.weights().as_slice(),
                "bias": dense.bias().as_slice(),
            })
        })
        .collect();
    serde_json::json!({"format": "nn-core-model", "version": 1, "loss": net.loss(), "layers": layers}).to_string()
}

#[test]
fn version_1_files_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    fs::write(&path, version_1_json()).unwrap();
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.parameters(), network().parameters());
    assert_eq!(loaded.summary(), network().summary());
}

#[test]
fn save_then_load_gives_the_same_network_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let net = network();
    save_model(&net, &path).unwrap();
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.parameters(), net.parameters());
    assert_eq!(loaded.loss(), net.loss());
    assert_eq!(loaded.summary(), net.summary());
    assert_eq!(loaded.predict_batch(&inputs()).unwrap(), net.predict_batch(&inputs()).unwrap());
    let quadratic = Network::dense(&[3, 4, 4, 2], Activation::Step, Loss::SigmoidQuadratic, Init::GLOROT, 5).unwrap();
    save_model(&quadratic, &path).unwrap();
    assert_eq!(load_model(&path).unwrap().summary(), quadratic.summary());
}

#[test]
fn average_poolings_are_stored_by_their_text_and_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pooled.json");
    let arch: nn_core::Architecture =
        "conv(3,3,pad=1) relu avgpool(3,stride=2) conv(4,2) tanh avgpool(2) globalavgpool dense(5)".parse().unwrap();
    let net = arch.with_input(nn_core::Shape::new(2, 9, 11)).build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
    save_model(&net, &path).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    for layer in [r#"{"layer":"avgpool(3,stride=2)"}"#, r#"{"layer":"avgpool(2)"}"#, r#"{"layer":"globalavgpool"}"#] {
        assert!(text.contains(layer), "{layer} in {text:.400}");
    }
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded, net);
    assert_eq!(loaded.summary(), net.summary());
    let inputs: Vec<f32> = (0..3 * 2 * 9 * 11).map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0).collect();
    assert_eq!(loaded.predict_batch(&inputs).unwrap(), net.predict_batch(&inputs).unwrap());
}

#[test]
fn identity_outputs_make_the_round_trip_in_a_version_2_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regression.json");
    let net = Network::dense(&[3, 4, 2], Activation::Sigmoid, Loss::IdentityMeanSquared, Init::GLOROT, 5).unwrap();
    save_model(&net, &path).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""version":2"#) && text.contains(r#""loss":"identity_mean_squared""#), "{text:.120}");
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded, net);
    assert_eq!(loaded.predict_batch(&inputs()).unwrap(), net.predict_batch(&inputs()).unwrap());
    // A version 1 file names its loss the same way.
    let version_1 = version_1_json().replace("softmax_cross_entropy", "identity_mean_squared");
    assert!(version_1.contains("identity_mean_squared"));
    let path_1 = dir.path().join("v1.json");
    fs::write(&path_1, version_1).unwrap();
    assert_eq!(load_model(&path_1).unwrap().loss(), Loss::IdentityMeanSquared);
}

#[test]
fn writes_are_atomic_and_leave_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    save_model(&network(), &path).unwrap();
    let before = fs::read(&path).unwrap();
    // A failing save (NaN weights after a diverged training) leaves the old file as it was.
    let mut diverged = network();
    diverged.parameters_mut()[0][(0, 0)] = f32::NAN;
    let error = save_model(&diverged, &path).unwrap_err();
    assert!(matches!(error, ModelFileError::NonFinite(NnError::NonFinite { layer: 0, .. })), "{error}");
    assert_eq!(fs::read(&path).unwrap(), before);
    // A directory that does not exist: an error, not a panic.
    let missing = dir.path().join("no/such/dir/model.json");
    assert!(matches!(save_model(&network(), &missing), Err(ModelFileError::Write { .. })));
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.json")], "no temporary file left behind");
}

#[test]
fn missing_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load_model(dir.path().join("absent.json")), Err(ModelFileError::Read { .. })));
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load_text(dir.path(), ""), ModelFileError::Empty { .. }));
    assert!(matches!(load_text(dir.path(), "  \n"), ModelFileError::Empty { .. }));
}

#[test]
fn truncated_files_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let json = valid_json();
    for cut in (1..json.len()).step_by(97).chain([json.len() - 1]) {
        let error = load_text(dir.path(), &json[..cut]);
        assert!(
            matches!(error, ModelFileError::Truncated { .. } | ModelFileError::NotAModel { .. }),
            "cut at {cut}: {error}"
        );
    }
    assert!(matches!(load_text(dir.path(), &json[..json.len() / 2]), ModelFileError::Truncated { .. }));
}

#[test]
fn random_bytes_and_other_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.bin");
    let mut state = 1_u32;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    fs::write(&path, bytes).unwrap();
    assert!(matches!(load_model(&path), Err(ModelFileError::NotAModel { .. })));
    assert!(matches!(load_text(dir.path(), "[1, 2, 3]"), ModelFileError::NotAModel { .. }));
    let other = r#"{"format": "keras", "version": 1, "loss": "softmax_cross_entropy", "layers": []}"#;
    assert!(load_text(dir.path(), other).to_string().contains("keras"));
}

#[test]
fn unknown_version() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_text(dir.path(), &valid_json().replace(r#""version":2"#, r#""version":7"#));
    assert!(matches!(error, ModelFileError::UnsupportedVersion { found: 7, supported: 3, .. }), "{error}");
    // A future version with a different layout is still reported as a version problem.
    let future = r#"{"format": "nn-core-model", "version": 4, "graph": {"nodes": []}}"#;
    assert!(matches!(load_text(dir.path(), future), ModelFileError::UnsupportedVersion { found: 4, .. }));
}

#[test]
fn unknown_activation_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_text(dir.path(), &valid_json().replace("leaky_relu:0.05", "swish"));
    assert!(matches!(error, ModelFileError::Malformed { .. }), "{error}");
    assert!(error.to_string().contains("swish"), "{error}");
    let error = load_text(dir.path(), &version_1_json().replace(r#""name":"leaky_relu""#, r#""name":"swish""#));
    assert!(matches!(error, ModelFileError::Malformed { .. }), "{error}");
    assert!(error.to_string().contains("swish"), "{error}");
    let error = load_text(dir.path(), &version_1_json().replace(r#""slope":0.05"#, r#""slope":3.0"#));
    assert!(matches!(error, ModelFileError::InvalidNetwork { source: NnError::InvalidSlope(3.0), .. }), "{error}");
    let error = load_text(dir.path(), &valid_json().replace(r#""loss":"softmax_cross_entropy""#, r#""loss":"hinge""#));
    assert!(error.to_string().contains("hinge"), "{error}");
}

#[test]
fn wrong_shapes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // Declared sizes that disagree with the number of values.
    let error = load_text(dir.path(), &version_1_json().replacen(r#""inputs":6"#, r#""inputs":7"#, 1));
    assert!(matches!(error, ModelFileError::Malformed { .. }), "{error}");
    assert!(error.to_string().contains("layer 0 declares 7 inputs"), "{error}");
    // Version 2: sizes come from the description and the input shape.
    let error = load_text(dir.path(), &valid_json().replacen(r#""dense(3)""#, r#""dense(4)""#, 1));
    assert!(error.to_string().contains("layer 1 (dense(4)) needs 4x5 weights values, but holds 15"), "{error}");
    let error = load_text(dir.path(), &valid_json().replacen(r#""channels":6"#, r#""channels":7"#, 1));
    assert!(error.to_string().contains("needs 5x7 weights values, but holds 30"), "{error}");
    // Consistent layers that do not chain: the second layer takes 5 inputs, give it 4 (and 12 weights).
    let mut model: serde_json::Value = serde_json::from_str(&version_1_json()).unwrap();
    model["layers"][1]["inputs"] = 4.into();
    model["layers"][1]["weights"] = serde_json::Value::Array(vec![0.5.into(); 12]);
    let error = load_text(dir.path(), &model.to_string());
    assert!(
        matches!(
            error,
            ModelFileError::InvalidNetwork { source: NnError::LayerMismatch { layer: 1, kind: "dense", .. }, .. }
        ),
        "{error}"
    );
    // Version 1 sizes whose product overflows (it panicked in a debug build).
    let mut model: serde_json::Value = serde_json::from_str(&version_1_json()).unwrap();
    model["layers"][0]["inputs"] = (1_u64 << 40).into();
    model["layers"][0]["outputs"] = (1_u64 << 40).into();
    let error = load_text(dir.path(), &model.to_string());
    assert!(error.to_string().contains("so more than 64 bits count weights values, but holds 30"), "{error}");
    // Missing field.
    let mut model: serde_json::Value = serde_json::from_str(&valid_json()).unwrap();
    model["layers"][0].as_object_mut().unwrap().remove("bias");
    assert!(load_text(dir.path(), &model.to_string()).to_string().contains("bias"));
}

#[test]
fn nan_and_infinite_weights_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut model: serde_json::Value = serde_json::from_str(&valid_json()).unwrap();
    model["layers"][1]["weights"][4] = serde_json::Value::Null; // how JSON writers spell NaN
    let error = load_text(dir.path(), &model.to_string());
    assert!(
        matches!(
            error,
            ModelFileError::InvalidNetwork {
                source: NnError::NonFinite { layer: 1, name: "weights", index: 4, .. },
                ..
            }
        ),
        "{error}"
    );
    let text = valid_json();
    let start = text.find(r#""bias":["#).unwrap() + r#""bias":["#.len();
    let edited = format!("{}1e39{}", &text[..start], &text[text[start..].find(',').unwrap() + start..]);
    // Beyond f32's range: read exactly, such a number has no f32 value, so the file is refused
    // where the number stands.
    let error = load_text(dir.path(), &edited);
    assert!(
        matches!(&error, ModelFileError::Malformed { detail, .. } if detail.contains("number out of range at line 1")),
        "{error}"
    );
    assert!(matches!(load_text(dir.path(), &text.replacen("[", "[NaN,", 1)), ModelFileError::NotAModel { .. }));
}

/// A network with batch normalisations whose γ, β and running statistics are no longer fresh.
fn normalised_network() -> nn_core::Network {
    let arch: nn_core::Architecture = "conv(3,3) batchnorm relu flatten dense(4) batchnorm dense(2)".parse().unwrap();
    let mut net = arch.with_input(nn_core::Shape::new(1, 5, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
    let inputs: Vec<f32> = (0..75).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut workspace = nn_core::Workspace::new();
    let mut gradients = nn_core::Gradients::zeros_like(&net);
    let targets = nn_core::Targets::Classes(&[0, 1, 1]);
    net.loss_and_gradients(&inputs, targets, nn_core::Mode::training(1), &mut workspace, &mut gradients).unwrap();
    net.update_running_statistics(&inputs, &workspace).unwrap();
    net.sgd_step(&gradients, 0.5).unwrap();
    net
}

#[test]
fn batch_normalisation_is_kept_with_its_running_statistics_in_version_3() {
    let net = normalised_network();
    let json = model_to_json(&net).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["version"], 3, "running statistics came with version 3");
    assert_eq!(value["layers"][1]["layer"], "batchnorm");
    assert_eq!(value["layers"][1]["num_batches_tracked"], 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.json");
    fs::write(&path, &json).unwrap();
    let back = load_model(&path).unwrap();
    assert_eq!(back, net);
    let statistics = |n: &nn_core::Network| n.layers()[1].running_statistics().cloned().unwrap();
    assert_eq!(statistics(&back), statistics(&net));
    assert_ne!(statistics(&net).mean, vec![0.0; 3], "the statistics moved");
    // Networks without batch normalisation stay version 2, which earlier builds read.
    assert!(valid_json().contains(r#""version":2"#));

    let edit = |from: &str, to: &str| {
        assert!(json.contains(from), "{from}");
        load_text(dir.path(), &json.replacen(from, to, 1)).to_string()
    };
    assert!(edit(r#""version":3"#, r#""version":2"#).contains("format version 3"));
    assert!(edit(r#","num_batches_tracked":1"#, "").contains("needs running_mean, running_var"));
    assert!(edit(r#""running_var":["#, r#""running_var":[-1,"#).contains("running"));
}
