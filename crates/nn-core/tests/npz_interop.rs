//! NumPy interop: networks written by hand in NumPy (fixtures/npz, made by make_fixtures.py)
//! predict what NumPy predicts; exports read back; inconsistent archives are refused.

use std::io::{Cursor, Write};
use std::path::PathBuf;

use nn_core::{Activation, Init, Loss, Network, NpzError, import_npz, network_from_npz_bytes, network_to_npz_bytes};
use npyz::WriterBuilder;
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    hidden: String,
    inputs: Vec<Vec<f32>>,
    probabilities: Vec<Vec<f64>>,
    classes: Vec<usize>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/npz")
}

#[test]
fn networks_made_in_numpy_predict_what_numpy_predicts() {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).unwrap();
    let cases: Cases = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.cases.len(), 2);
    for case in cases.cases {
        let hidden: Activation = case.hidden.parse().unwrap();
        let net = import_npz(fixtures().join(&case.file), hidden, Loss::SoftmaxCrossEntropy).unwrap();
        let inputs: Vec<f32> = case.inputs.concat();
        let ours = net.predict_batch(&inputs).unwrap();
        for (j, expected) in case.probabilities.iter().enumerate() {
            for (i, &p) in expected.iter().enumerate() {
                // NumPy computed in float64, we in float32 from the same (float32-exact) inputs:
                // a few ulps of 2⁻²⁴ over sums of at most 8 terms.
                assert!(
                    (f64::from(ours[(i, j)]) - p).abs() < 1e-6,
                    "{}: sample {j} class {i}: {} vs {p}",
                    case.file,
                    ours[(i, j)]
                );
            }
        }
        assert_eq!(net.classify_batch(&inputs, 100).unwrap(), case.classes, "{}", case.file);
    }
}

#[test]
fn export_then_import_is_exact() {
    let net = Network::dense(&[7, 9, 6, 3], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 8).unwrap();
    let bytes = network_to_npz_bytes(&net).unwrap();
    let back = network_from_npz_bytes(&bytes, Activation::Tanh, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(back.parameters(), net.parameters());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.npz");
    nn_core::export_npz(&net, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// An archive built from `(name, shape, values)`; `i32` arrays when `values` is empty.
fn archive(arrays: &[(&str, &[u64], Vec<f64>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, shape, values) in arrays {
        zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default()).unwrap();
        if values.is_empty() {
            let count = shape.iter().product::<u64>() as i32;
            let mut w =
                npyz::WriteOptions::<i32>::new().default_dtype().shape(shape).writer(&mut zip).begin_nd().unwrap();
            w.extend(0..count).unwrap();
            w.finish().unwrap();
        } else {
            let mut w =
                npyz::WriteOptions::<f64>::new().default_dtype().shape(shape).writer(&mut zip).begin_nd().unwrap();
            w.extend(values.iter().copied()).unwrap();
            w.finish().unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

fn ones(n: u64) -> Vec<f64> {
    vec![0.5; n as usize]
}

fn import(bytes: &[u8]) -> NpzError {
    let error =
        network_from_npz_bytes(bytes, Activation::Relu, Loss::SoftmaxCrossEntropy).expect_err("should be refused");
    assert!(!error.to_string().is_empty());
    error
}

#[test]
fn a_well_formed_archive_is_accepted() {
    let bytes = archive(&[
        ("W1", &[3, 4], ones(12)),
        ("b1", &[4], ones(4)),
        ("W2", &[4, 2], ones(8)),
        ("b2", &[1, 2], ones(2)),
    ]);
    let net = network_from_npz_bytes(&bytes, Activation::Step, Loss::SigmoidQuadratic).unwrap();
    assert_eq!(net.sizes(), vec![3, 4, 2]);
}

#[test]
fn inconsistent_archives_are_refused_with_typed_errors() {
    let error = import(&archive(&[
        ("W1", &[3, 4], ones(12)),
        ("b1", &[4], ones(4)),
        ("W2", &[5, 2], ones(10)),
        ("b2", &[2], ones(2)),
    ]));
    assert!(matches!(error, NpzError::ChainMismatch { layer: 2, rows: 5, previous_columns: 4 }), "{error}");
    assert_eq!(error.to_string(), "W2 has 5 rows but W1 has 4 columns");

    let error = import(&archive(&[("W1", &[3, 4], ones(12)), ("b1", &[3], ones(3))]));
    assert!(matches!(error, NpzError::BiasMismatch { layer: 1, len: 3, columns: 4 }), "{error}");

    let error = import(&archive(&[
        ("W1", &[3, 4], ones(12)),
        ("b1", &[4], ones(4)),
        ("W2", &[4, 2], ones(8)),
        ("b2", &[2], ones(2)),
        ("W3", &[2, 2], ones(4)),
    ]));
    assert!(matches!(&error, NpzError::Missing { name, .. } if name == "b3"), "{error}");

    let error = import(&archive(&[
        ("W1", &[3, 4], ones(12)),
        ("b1", &[4], ones(4)),
        ("W3", &[4, 2], ones(8)),
        ("b3", &[2], ones(2)),
    ]));
    assert!(matches!(&error, NpzError::Missing { name, .. } if name == "W2"), "{error}");

    let error = import(&archive(&[("W1", &[3, 4], ones(12)), ("b1", &[4], ones(4)), ("b2", &[2], ones(2))]));
    assert!(matches!(&error, NpzError::Missing { name, .. } if name == "W2"), "{error}");

    let error = import(&archive(&[("W1", &[2, 3, 4], ones(24)), ("b1", &[4], ones(4))]));
    assert!(matches!(error, NpzError::NotTwoDimensional { .. }), "{error}");
    let error = import(&archive(&[("W1", &[12], ones(12)), ("b1", &[4], ones(4))]));
    assert!(matches!(error, NpzError::NotTwoDimensional { .. }), "{error}");

    let error = import(&archive(&[("W1", &[3, 4], ones(12)), ("b1", &[2, 2], ones(4))]));
    assert!(matches!(error, NpzError::NotOneDimensional { .. }), "{error}");

    let error = import(&archive(&[("W1", &[3, 4], vec![]), ("b1", &[4], ones(4))]));
    assert!(matches!(&error, NpzError::UnsupportedDtype { dtype, .. } if dtype == "<i4"), "{error}");

    let error = import(&archive(&[("weights", &[3, 4], ones(12))]));
    assert!(matches!(&error, NpzError::NoLayers { found } if found == "weights"), "{error}");

    let mut nan = ones(12);
    nan[5] = f64::NAN;
    let error = import(&archive(&[("W1", &[3, 4], nan), ("b1", &[4], ones(4))]));
    assert!(matches!(error, NpzError::Network(nn_core::NnError::NonFinite { layer: 0, .. })), "{error}");
}

#[test]
fn damaged_archives_are_refused() {
    assert!(matches!(import(b""), NpzError::NotAnArchive(_)));
    assert!(matches!(import(&[0x5a; 300]), NpzError::NotAnArchive(_)));
    let good = archive(&[("W1", &[3, 4], ones(12)), ("b1", &[4], ones(4))]);
    for cut in [10, good.len() / 2, good.len() - 5] {
        let error = import(&good[..cut]);
        assert!(matches!(error, NpzError::NotAnArchive(_) | NpzError::BadArray { .. }), "cut {cut}: {error}");
    }
    // A .npy member whose header promises far more data than it holds.
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("W1.npy", zip::write::SimpleFileOptions::default()).unwrap();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16 + 1).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.push(b'\n');
    zip.write_all(&npy).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert!(matches!(import(&bytes), NpzError::BadArray { .. }));
}
