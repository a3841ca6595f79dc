//! A network saved by PyTorch as safetensors (`fixtures/pytorch-safetensors`, made by its
//! `make.py`) predicts what PyTorch predicts; our export has PyTorch's names and shapes and
//! reads back bit for bit; malformed files give typed errors.
//!
//! Workspace-only: the fixture lives at the workspace root, shared with nn-cli's tests, so this
//! file is left out of the published crate (`exclude` in Cargo.toml).

use std::path::PathBuf;

use nn_core::{
    Architecture, Init, Loss, SafetensorsError, Shape, import_safetensors, network_from_safetensors_bytes,
    network_to_safetensors_bytes, pytorch_state_dict_names,
};
use safetensors::SafeTensors;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    arch: String,
    input: [usize; 3],
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    /// Channels first (NCHW), as PyTorch holds them.
    inputs: Vec<Vec<f32>>,
    probabilities: Vec<Vec<f64>>,
    classes: Vec<usize>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pytorch-safetensors")
}

fn case() -> Case {
    serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap()
}

fn architecture(case: &Case) -> Architecture {
    let [c, h, w] = case.input;
    case.arch.parse::<Architecture>().unwrap().with_input(Shape::new(c, h, w))
}

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(dir().join("model.safetensors")).unwrap()
}

/// A sample from PyTorch's channels-first order `(C, H, W)` to ours, channels last.
fn channels_last(sample: &[f32], shape: Shape) -> Vec<f32> {
    let (channels, pixels) = (shape.channels, shape.height * shape.width);
    (0..sample.len()).map(|i| sample[(i % channels) * pixels + i / channels]).collect()
}

#[test]
fn a_network_saved_by_pytorch_predicts_what_pytorch_computes() {
    let case = case();
    let arch = architecture(&case);
    assert_eq!(pytorch_state_dict_names(&arch), case.names);
    let net = import_safetensors(dir().join("model.safetensors"), &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(net.architecture(), arch);
    let inputs: Vec<f32> = case.inputs.iter().flat_map(|x| channels_last(x, arch.input)).collect();
    let ours = net.predict_batch(&inputs).unwrap();
    let mut worst = 0.0_f64;
    for (j, expected) in case.probabilities.iter().enumerate() {
        assert_eq!(expected.len(), ours.nrows());
        for (i, &p) in expected.iter().enumerate() {
            worst = worst.max((f64::from(ours[(i, j)]) - p).abs());
        }
    }
    // Both in float32, summed in different orders: a few ulps.
    assert!(worst < 1e-6, "largest difference from PyTorch: {worst}");
    assert_eq!(net.classify_batch(&inputs, 2).unwrap(), case.classes);

    // PyTorch's NCHW batch as it is, rows as `softmax(model(x), dim=1)`: the same bits.
    let nchw: Vec<f32> = case.inputs.concat();
    let rows = nn_core::Classifier::predict_nchw(&net, &nchw).unwrap();
    assert_eq!(rows, net.predict_rows(&inputs).unwrap());
    assert_eq!(rows.argmax(), case.classes);
}

#[test]
fn the_names_count_every_module_of_the_sequential() {
    // PyTorch's examples/mnist as an nn.Sequential: the dropouts and the flatten take indices.
    let arch = Architecture::named("pytorch-example").unwrap();
    let names = pytorch_state_dict_names(&arch);
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias", "7.weight", "7.bias", "10.weight", "10.bias"]);
    // Activations on their own, and layers without activation, are one module each.
    let arch: Architecture = "flatten dense(30) sigmoid dense(20) tanh dense(10)".parse().unwrap();
    let names = pytorch_state_dict_names(&arch);
    assert_eq!(names, ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]);
    // Poolings too: nn.AvgPool2d(3, stride=2) and nn.AdaptiveAvgPool2d(1) are modules 2 and 5,
    // nn.Flatten() 6.
    let arch: Architecture =
        "conv(8,3) relu avgpool(3,stride=2) conv(8,3) relu globalavgpool flatten dense(10)".parse().unwrap();
    let names = pytorch_state_dict_names(&arch);
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias"]);
}

#[test]
fn average_poolings_round_trip_through_a_file() {
    let arch: Architecture = "conv(4,3) relu avgpool(2) globalavgpool dense(10)".parse().unwrap();
    let net = arch.clone().with_input(Shape::new(3, 9, 9)).build(Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let bytes = network_to_safetensors_bytes(&net).unwrap();
    let mut names: Vec<String> =
        SafeTensors::deserialize(&bytes).unwrap().names().into_iter().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["0.bias", "0.weight", "4.bias", "4.weight"]);
    let arch = arch.with_input(Shape::new(3, 9, 9));
    assert_eq!(network_from_safetensors_bytes(&bytes, &arch, Loss::SoftmaxCrossEntropy).unwrap(), net);
}

#[test]
fn an_export_has_pytorchs_names_and_shapes_and_reads_back_bit_for_bit() {
    let case = case();
    let arch = architecture(&case);
    let original = fixture_bytes();
    let net = network_from_safetensors_bytes(&original, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    let exported = network_to_safetensors_bytes(&net).unwrap();
    // The same tensors, value for value, as PyTorch wrote them.
    let (ours, theirs) = (SafeTensors::deserialize(&exported).unwrap(), SafeTensors::deserialize(&original).unwrap());
    let mut names: Vec<&str> = ours.names();
    names.sort();
    let mut expected: Vec<&str> = case.names.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, shape) in case.names.iter().zip(&case.shapes) {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!(a.shape(), shape.as_slice(), "{name}");
        assert_eq!(a.dtype(), safetensors::Dtype::F32, "{name}");
        assert_eq!(a.data(), b.data(), "{name}");
    }
    let (_, metadata) = SafeTensors::read_metadata(&exported).unwrap();
    assert_eq!(metadata.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str), Some("pt"));
    let back = network_from_safetensors_bytes(&exported, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(back, net);
}

#[test]
fn a_fresh_network_round_trips_through_a_file() {
    let arch = Architecture::named("pytorch-example").unwrap();
    let net = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    nn_core::export_safetensors(&net, &path).unwrap();
    let back = import_safetensors(&path, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(back, net);
    // Nothing but the file: the temporary file was renamed over it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A safetensors file of the given tensors (name, dtype, shape, raw bytes), written by hand so
/// that it can be wrong in every way.
fn file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let (mut data, mut offset) = (Vec::new(), 0);
    for (name, dtype, shape, bytes) in tensors {
        let entry = serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()]});
        header.insert(name.to_string(), entry);
        offset += bytes.len();
        data.extend_from_slice(bytes);
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend(data);
    out
}

/// The fixture's tensors, as `file` takes them, with `change` applied.
fn fixture_tensors_with(change: impl FnOnce(&mut Vec<(&'static str, &'static str, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let bytes = fixture_bytes();
    let original = SafeTensors::deserialize(&bytes).unwrap();
    let names: [&'static str; 8] =
        ["0.weight", "0.bias", "4.weight", "4.bias", "7.weight", "7.bias", "9.weight", "9.bias"];
    let mut tensors: Vec<_> = names
        .iter()
        .map(|&name| {
            let tensor = original.tensor(name).unwrap();
            (name, "F32", tensor.shape().to_vec(), tensor.data().to_vec())
        })
        .collect();
    change(&mut tensors);
    file(&tensors)
}

fn import(bytes: &[u8]) -> Result<nn_core::Network, SafetensorsError> {
    network_from_safetensors_bytes(bytes, &architecture(&case()), Loss::SoftmaxCrossEntropy)
}

#[test]
fn the_hand_written_file_reads_as_the_fixture() {
    // The test's writer is right, so the errors below come from what each test changes.
    let same = fixture_tensors_with(|_| {});
    assert_eq!(import(&same).unwrap(), import(&fixture_bytes()).unwrap());
}

#[test]
fn float64_tensors_are_read_as_the_nearest_float32() {
    let wide = fixture_tensors_with(|tensors| {
        for (_, dtype, _, bytes) in tensors.iter_mut() {
            *dtype = "F64";
            *bytes = bytes
                .chunks_exact(4)
                .flat_map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
                .collect();
        }
    });
    assert_eq!(import(&wide).unwrap(), import(&fixture_bytes()).unwrap());
}

#[test]
fn missing_extra_misshapen_and_half_precision_tensors_are_named() {
    let missing = fixture_tensors_with(|t| t.retain(|(name, ..)| *name != "7.bias"));
    let error = import(&missing).unwrap_err();
    assert!(matches!(&error, SafetensorsError::Missing { name, layer: 5, .. } if name == "7.bias"), "{error}");

    // A model wrapped in another module: every name is prefixed.
    let prefixed = file(&[("model.0.weight", "F32", vec![1], vec![0; 4])]);
    let error = import(&prefixed).unwrap_err();
    assert!(
        matches!(&error, SafetensorsError::Missing { name, found, .. } if name == "0.weight" && found == &["model.0.weight"])
    );
    assert!(error.to_string().contains("model.0.weight"), "{error}");

    let extra = fixture_tensors_with(|t| t.push(("2.running_mean", "F32", vec![1], vec![0; 4])));
    let error = import(&extra).unwrap_err();
    assert!(matches!(&error, SafetensorsError::Unexpected { extra, .. } if extra == &["2.running_mean"]), "{error}");

    // A dense weight transposed, as NumPy's `x @ W` would hold it.
    let transposed = fixture_tensors_with(|t| t[4].2 = vec![18, 8]);
    let error = import(&transposed).unwrap_err();
    assert!(
        matches!(&error, SafetensorsError::Shape { name, found, expected, .. }
            if name == "7.weight" && found == &[18, 8] && expected == &[8, 18]),
        "{error}"
    );

    let half = fixture_tensors_with(|t| {
        t[1] = ("0.bias", "F16", vec![4], vec![0; 8]);
    });
    let error = import(&half).unwrap_err();
    assert!(matches!(&error, SafetensorsError::UnsupportedDtype { name, dtype } if name == "0.bias" && dtype == "F16"));

    let integers = fixture_tensors_with(|t| t[1] = ("0.bias", "I32", vec![4], vec![0; 16]));
    assert!(matches!(import(&integers).unwrap_err(), SafetensorsError::UnsupportedDtype { .. }));

    // An architecture that is no network: it is reported as such, before any tensor is read.
    let invalid = "conv(4,3,pad=1) relu dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(2, 8, 8));
    let error = network_from_safetensors_bytes(&fixture_bytes(), &invalid, Loss::SoftmaxCrossEntropy).unwrap_err();
    assert!(error.to_string().contains("put `flatten` before it"), "{error}");

    let not_a_number = fixture_tensors_with(|t| t[1].3[0..4].copy_from_slice(&f32::NAN.to_le_bytes()));
    assert!(matches!(import(&not_a_number).unwrap_err(), SafetensorsError::Network(_)));
}

#[test]
fn damaged_files_give_errors_not_panics() {
    let good = fixture_bytes();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("shorter than its header length", good[..5].to_vec()),
        ("cut in the header", good[..40].to_vec()),
        ("cut in the data", good[..good.len() - 3].to_vec()),
        ("garbage", b"PK\x03\x04 this is a zip archive, not safetensors".to_vec()),
    ];
    let mut longer = good.clone();
    longer.push(0);
    cases.push(("a byte too many", longer));
    // A header length of 2^64 - 1 bytes, and one just past the end of the file.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    cases.push(("a header length of 2^64 - 1", huge));
    let mut past_end = 100_u64.to_le_bytes().to_vec();
    past_end.extend_from_slice(b"{}");
    cases.push(("a header past the end", past_end));
    // Tensors that declare far more data than the file holds, or sizes that overflow.
    let terabytes = file(&[("0.weight", "F32", vec![1 << 20, 1 << 20], vec![0; 16])]);
    cases.push(("a tensor of 4 TiB in a small file", terabytes));
    let overflow = file(&[("0.weight", "F64", vec![usize::MAX, 3], vec![0; 16])]);
    cases.push(("a shape whose size overflows", overflow));
    let mut lying = file(&[("0.weight", "F32", vec![4], vec![0; 16])]);
    let at = lying.windows(2).position(|w| w == b"16").unwrap();
    lying[at..at + 2].copy_from_slice(b"99");
    cases.push(("offsets past the end", lying));
    let not_json = {
        let mut bytes = 8_u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{\"a\":[1,");
        bytes
    };
    cases.push(("a header that is not JSON", not_json));
    for (what, bytes) in cases {
        let error = import(&bytes).expect_err(what);
        assert!(matches!(error, SafetensorsError::NotSafetensors(_)), "{what}: {error}");
    }
}

#[test]
fn an_unreadable_path_is_a_read_error() {
    let arch = architecture(&case());
    let error = import_safetensors(dir().join("absent.safetensors"), &arch, Loss::SoftmaxCrossEntropy).unwrap_err();
    assert!(matches!(error, SafetensorsError::Read { .. }), "{error}");
    let net = import(&fixture_bytes()).unwrap();
    let error = nn_core::export_safetensors(&net, dir().join("no-such-dir/model.safetensors")).unwrap_err();
    assert!(matches!(error, SafetensorsError::Write { .. }), "{error}");
}

#[test]
fn a_tensor_named_twice_is_said_to_be() {
    // The fixture's tensors with 4.bias renamed 0.bias, written by hand: a JSON map would keep
    // one of the two.
    let bytes = fixture_bytes();
    let original = SafeTensors::deserialize(&bytes).unwrap();
    let names = ["0.weight", "0.bias", "4.weight", "4.bias", "7.weight", "7.bias", "9.weight", "9.bias"];
    let (mut entries, mut data) = (Vec::new(), Vec::new());
    for name in names {
        let tensor = original.tensor(name).unwrap();
        let offsets = [data.len(), data.len() + tensor.data().len()];
        let entry = serde_json::json!({"dtype": "F32", "shape": tensor.shape(), "data_offsets": offsets});
        entries.push(format!("\"{}\":{entry}", if name == "4.bias" { "0.bias" } else { name }));
        data.extend_from_slice(tensor.data());
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut twice = (header.len() as u64).to_le_bytes().to_vec();
    twice.extend_from_slice(header.as_bytes());
    twice.extend(data);
    let error = import(&twice).unwrap_err();
    assert!(matches!(error, SafetensorsError::NotSafetensors(_)), "{error}");
    assert_eq!(error.to_string(), "not a valid safetensors file: its header names tensor \"0.bias\" twice");
}
