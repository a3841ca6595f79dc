//! NumPy interop: exports read back, bit for bit; inconsistent archives are refused. (What
//! NumPy itself computes for archives it wrote is checked in `numpy_fixtures.rs`.)

use std::io::{Cursor, Write};

use nn_core::{
    Activation, Architecture, Init, Loss, Network, NnError, NpzError, Shape, network_from_npz_bytes,
    network_from_npz_bytes_with_architecture, network_to_npz_bytes,
};
use npyz::WriterBuilder;

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
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16 + 1).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.push(b'\n');
    zip.write_all(&npy).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert!(matches!(import(&bytes), NpzError::BadArray { .. }));
}

/// A small convolutional network with every kind of layer, two input channels, a stride and
/// padding, built with seeded weights.
fn small_conv_net() -> Network {
    let arch: Architecture =
        "conv(4,3,pad=1) relu maxpool(2) conv(6,3x2,stride=2) tanh dropout(0.25) flatten dense(12) leaky_relu:0.1 \
         dense(10)"
            .parse()
            .unwrap();
    arch.with_input(Shape::new(2, 10, 9)).build(Loss::SoftmaxCrossEntropy, Init::HE, 11).unwrap()
}

/// `count` samples of `net`'s input, spread over [0, 1).
#[cfg(feature = "serde")]
fn samples(net: &Network, count: usize) -> Vec<f32> {
    (0..net.input_size() * count).map(|i| (i * 7919 % 1000) as f32 / 1000.0).collect()
}

#[cfg(feature = "serde")]
fn bits(m: &nalgebra::DMatrix<f32>) -> Vec<u32> {
    m.iter().map(|v| v.to_bits()).collect()
}

// The network goes through a model file first, which needs the `serde` feature.
#[cfg(feature = "serde")]
#[test]
fn a_saved_convolutional_network_exported_and_reimported_gives_the_same_bits() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("conv.json");
    nn_core::save_model(&small_conv_net(), &model).unwrap();
    let net = nn_core::load_model(&model).unwrap();

    let npz = dir.path().join("conv.npz");
    nn_core::export_npz(&net, &npz).unwrap();
    // The architecture as a user would give it: its text, and the input shape.
    let arch = net.architecture().to_string().parse::<Architecture>().unwrap().with_input(Shape::new(2, 10, 9));
    let back = nn_core::import_npz_with_architecture(&npz, &arch, Loss::SoftmaxCrossEntropy).unwrap();

    assert_eq!(back.architecture(), net.architecture());
    assert_eq!(back.parameters(), net.parameters());
    let inputs = samples(&net, 5);
    assert_eq!(bits(&back.predict_batch(&inputs).unwrap()), bits(&net.predict_batch(&inputs).unwrap()));
    // And again through bytes: the same archive, the same network.
    let bytes = network_to_npz_bytes(&back).unwrap();
    assert_eq!(bytes, std::fs::read(&npz).unwrap());
    let again = network_from_npz_bytes_with_architecture(&bytes, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(again.parameters(), net.parameters());
}

#[test]
fn average_poolings_take_no_arrays_and_read_back_bit_for_bit() {
    let arch: Architecture =
        "conv(4,3,pad=1) relu avgpool(3,stride=2) conv(5,2) relu globalavgpool dense(10)".parse().unwrap();
    let arch = arch.with_input(Shape::new(2, 9, 8));
    let net = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 4).unwrap();
    let bytes = network_to_npz_bytes(&net).unwrap();
    let archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let mut names: Vec<&str> = archive.file_names().collect();
    names.sort();
    assert_eq!(names, ["W1.npy", "W2.npy", "W3.npy", "b1.npy", "b2.npy", "b3.npy"]);
    let back = network_from_npz_bytes_with_architecture(&bytes, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(back, net);
}

#[test]
fn batch_normalisation_has_no_numpy_form_either_way() {
    let plain: Architecture = "conv(4,3) relu flatten dense(10)".parse().unwrap();
    let bytes = network_to_npz_bytes(&plain.build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap()).unwrap();
    // Its W1 and b1 would fit a batch normalisation's γ and β no better than anything else: the
    // running statistics are what is missing, and the import says so before reading an array.
    let normalised: Architecture = "conv(4,3) batchnorm relu flatten dense(10)".parse().unwrap();
    let error = network_from_npz_bytes_with_architecture(&bytes, &normalised, Loss::SoftmaxCrossEntropy).unwrap_err();
    assert!(matches!(error, NpzError::NoRunningStatistics { layer: 1 }), "{error}");
    assert!(error.to_string().contains("safetensors"), "{error}");
    let net = normalised.build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    assert!(matches!(network_to_npz_bytes(&net), Err(NpzError::UnsupportedLayer { layer: 1, kind: "batchnorm" })));
}

#[test]
fn the_export_holds_kernels_in_numpy_layout() {
    let net = small_conv_net();
    let bytes = network_to_npz_bytes(&net).unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let shape = |archive: &mut zip::ZipArchive<Cursor<&Vec<u8>>>, name: &str| {
        npyz::NpyFile::new(archive.by_name(&format!("{name}.npy")).unwrap()).unwrap().shape().to_vec()
    };
    // conv 2->4 3x3; conv 4->6 3x2 on 4x5x4, stride 2: 6x2x2 = 24 values flattened; 24->12; 12->10.
    for (name, expected) in [
        ("W1", vec![4, 2, 3, 3]),
        ("b1", vec![4]),
        ("W2", vec![6, 4, 3, 2]),
        ("b2", vec![6]),
        ("W3", vec![24, 12]),
        ("b3", vec![12]),
        ("W4", vec![12, 10]),
        ("b4", vec![10]),
    ] {
        assert_eq!(shape(&mut archive, name), expected, "{name}");
    }
    assert_eq!(archive.len(), 8);
    // Every kernel value is where PyTorch has it: W[o, c, ky, kx] in C order, while our weight
    // matrix has filter o in row o and a patch's values in the order (ky, kx, channel).
    let conv = net.layers()[0].as_any().downcast_ref::<nn_core::Conv2d>().unwrap();
    let npy = npyz::NpyFile::new(archive.by_name("W1.npy").unwrap()).unwrap().into_vec::<f32>().unwrap();
    assert_eq!(npy, conv.weights_channels_first());
    for (o, c, ky, kx) in (0..4).flat_map(|o| (0..2).flat_map(move |c| (0..9).map(move |k| (o, c, k / 3, k % 3)))) {
        assert_eq!(npy[((o * 2 + c) * 3 + ky) * 3 + kx], conv.weights()[(o, (ky * 3 + kx) * 2 + c)]);
    }
}

/// `conv(4,3) relu maxpool(2) flatten dense(10)` on 1x8x8: W1 (4, 1, 3, 3), b1 (4,), W2 (36, 10),
/// b2 (10,).
fn tiny_arch() -> Architecture {
    "conv(4,3) relu maxpool(2) flatten dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(1, 8, 8))
}

fn import_tiny(arrays: &[(&str, &[u64], Vec<f64>)]) -> NpzError {
    let error = network_from_npz_bytes_with_architecture(&archive(arrays), &tiny_arch(), Loss::SoftmaxCrossEntropy)
        .expect_err("should be refused");
    assert!(!error.to_string().is_empty());
    error
}

#[test]
fn archives_that_do_not_fit_the_architecture_are_refused_naming_the_array() {
    let w1 = ("W1", &[4_u64, 1, 3, 3][..], ones(36));
    let b1 = ("b1", &[4_u64][..], ones(4));
    let w2 = ("W2", &[36_u64, 10][..], ones(360));
    let b2 = ("b2", &[10_u64][..], ones(10));
    let good = [w1.clone(), b1.clone(), w2.clone(), b2.clone()];
    let net = network_from_npz_bytes_with_architecture(&archive(&good), &tiny_arch(), Loss::SoftmaxCrossEntropy);
    assert_eq!(net.unwrap().parameter_count(), 36 + 4 + 360 + 10);

    // Too few arrays, too many, none.
    let error = import_tiny(&[w1.clone(), b1.clone()]);
    assert!(matches!(error, NpzError::ArrayCount { expected: 2, found: 1, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "the file holds W1, b1 (numbered up to 1) but the architecture has 2 layers with weights (conv(4,3) relu, \
         dense(10)), so it needs W1, b1, W2, b2"
    );
    let error = import_tiny(&[good.as_slice(), &[("W3", &[10, 10], ones(100)), ("b3", &[10], ones(10))]].concat());
    assert!(matches!(error, NpzError::ArrayCount { expected: 2, found: 3, .. }), "{error}");
    assert!(error.to_string().contains("W1, b1, W2, b2, W3, b3 (numbered up to 3)"), "{error}");
    let error = import_tiny(&[("weights", &[3, 4], ones(12))]);
    assert!(matches!(error, NpzError::ArrayCount { found: 0, .. }), "{error}");
    assert!(error.to_string().starts_with("the file holds no Wk or bk array (it has: weights)"), "{error}");

    // A kernel without its channel axis, with the wrong channels, a dense kernel transposed, a
    // bias of the wrong length.
    let error = import_tiny(&[("W1", &[4, 3, 3], ones(36)), b1.clone(), w2.clone(), b2.clone()]);
    assert!(
        matches!(&error, NpzError::ArrayShape { name, layer: 0, found, expected, .. }
            if name == "W1" && found == &[4, 3, 3] && expected == &[4, 1, 3, 3]),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "W1 has shape (4, 3, 3) but layer 0 of the architecture (conv(4,3) relu) needs (4, 1, 3, 3) (out_channels, \
         in_channels, kh, kw)"
    );
    let error = import_tiny(&[("W1", &[4, 2, 3, 3], ones(72)), b1.clone(), w2.clone(), b2.clone()]);
    assert!(error.to_string().starts_with("W1 has shape (4, 2, 3, 3)"), "{error}");
    let error = import_tiny(&[w1.clone(), b1.clone(), ("W2", &[10, 36], ones(360)), b2.clone()]);
    assert!(matches!(&error, NpzError::ArrayShape { name, layer: 3, .. } if name == "W2"), "{error}");
    assert_eq!(
        error.to_string(),
        "W2 has shape (10, 36) but layer 3 of the architecture (dense(10)) needs (36, 10) (inputs, outputs)"
    );
    let error = import_tiny(&[w1.clone(), ("b1", &[5], ones(5)), w2.clone(), b2.clone()]);
    assert_eq!(
        error.to_string(),
        "b1 has shape (5,) but layer 0 of the architecture (conv(4,3) relu) needs (4,) (outputs,)"
    );

    // Integers, a missing bias, a NaN.
    let error = import_tiny(&[("W1", &[4, 1, 3, 3], vec![]), b1.clone(), w2.clone(), b2.clone()]);
    assert!(matches!(&error, NpzError::UnsupportedDtype { name, dtype } if name == "W1" && dtype == "<i4"), "{error}");
    assert!(error.to_string().contains("only float32 and float64"), "{error}");
    let error = import_tiny(&[w1.clone(), b1.clone(), w2.clone()]);
    assert!(matches!(&error, NpzError::Missing { name, .. } if name == "b2"), "{error}");
    let mut nan = ones(360);
    nan[7] = f64::NAN;
    let error = import_tiny(&[w1.clone(), b1.clone(), ("W2", &[36, 10], nan), b2.clone()]);
    assert!(matches!(error, NpzError::Network(NnError::NonFinite { layer: 3, .. })), "{error}");

    // An architecture that does not fit its input.
    let arch = "conv(4,9) flatten dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(1, 8, 8));
    let error = network_from_npz_bytes_with_architecture(&archive(&good), &arch, Loss::SoftmaxCrossEntropy);
    let error = error.expect_err("a 9x9 kernel on 8x8");
    assert!(matches!(error, NpzError::Network(NnError::InvalidLayer { layer: 0, .. })), "{error}");
}

/// An archive whose `W1.npy`, stored uncompressed, declares `shape` (float32) while 16 bytes of
/// data follow, the archive's sizes then edited to claim `claim` bytes: what a crafted file can
/// say to make a reader allocate. `b1` is a valid `(4,)`.
fn lying_npz(shape: &str, claim: u32) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend_from_slice(&[0; 16]);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("W1.npy", stored).unwrap();
    zip.write_all(&npy).unwrap();
    zip.start_file("b1.npy", zip::write::SimpleFileOptions::default()).unwrap();
    let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(&[4]).writer(&mut zip).begin_nd().unwrap();
    w.extend([0.5; 4]).unwrap();
    w.finish().unwrap();
    let mut bytes = zip.finish().unwrap().into_inner();
    // The uncompressed size, in the local header and in the central directory.
    bytes[22..26].copy_from_slice(&claim.to_le_bytes());
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 24..central + 28].copy_from_slice(&claim.to_le_bytes());
    bytes
}

#[test]
fn an_array_that_declares_more_than_its_bytes_can_hold_is_refused_unread() {
    let start = std::time::Instant::now();
    let bytes = lying_npz("(10000, 6000)", 240_000_000);

    // The architecture knows the shape: that is the clearer message.
    let arch = "dense(4)".parse::<Architecture>().unwrap().with_input(Shape::flat(3));
    let error = network_from_npz_bytes_with_architecture(&bytes, &arch, Loss::SoftmaxCrossEntropy).unwrap_err();
    assert!(
        matches!(&error, NpzError::ArrayShape { name, found, .. } if name == "W1" && found == &[10_000, 6_000]),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "W1 has shape (10000, 6000) but layer 0 of the architecture (dense(4)) needs (3, 4) (inputs, outputs)"
    );

    // Without one, the size the compressed bytes can inflate to.
    let error = import(&bytes);
    assert!(matches!(&error, NpzError::Inflation { name, declared: 240_000_000, .. } if name == "W1"), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("array W1 cannot be read: its shape (10000, 6000) declares 240000000 bytes"));
    assert!(message.ends_with("compressed bytes can hold"), "{message}");

    // A dense layer larger than any architecture allows, and a shape of more than 2^64 values.
    let error = import(&lying_npz("(100000, 100000)", u32::MAX));
    assert!(matches!(&error, NpzError::TooManyValues { values: Some(10_000_000_000), .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "array W1 has shape (100000, 100000), 10000000000 values; the limit for weights is 67108864 values"
    );
    let error = import(&lying_npz("(4294967296, 4294967296)", u32::MAX));
    assert!(matches!(&error, NpzError::BadArray { .. }), "{error}");
    assert!(error.to_string().contains("more values than 64 bits count"), "{error}");
    let error = import(&lying_npz("(0x100000000, 0x100000000, 0)", u32::MAX));
    assert!(error.to_string().contains("more values than 64 bits count"), "{error}");

    assert!(start.elapsed() < std::time::Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn npy_headers_that_would_make_the_parser_allocate_or_recurse_are_refused() {
    // A version 2 header whose 32-bit length claims 4 GB.
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend_from_slice(&u32::MAX.to_le_bytes());
    npy.extend_from_slice(b"{'descr': '<f4'");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("W1.npy", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(&npy).unwrap();
    let error = import(&zip.finish().unwrap().into_inner());
    assert_eq!(error.to_string(), "array W1 cannot be read: its .npy header is 4294967295 bytes; the limit is 10000");

    let error = import(&lying_npz(&format!("{}1,{}", "(".repeat(1000), ")".repeat(1000)), 100));
    assert!(error.to_string().contains("nests brackets more than 16 deep"), "{error}");
}
