//! Any bytes given to nn-core's `.npz` weight readers yield a network or an error; never a
//! panic, a hang or a huge allocation. A network read back must survive the trip through
//! `network_to_npz_bytes` unchanged.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nn_core::{
    Activation, Architecture, Loss, Shape, network_from_npz_bytes, network_from_npz_bytes_with_architecture,
    network_to_npz_bytes,
};

/// The architecture of `fixtures/numpy-conv/small.npz`, so that the seed reaches the end.
static ARCH: LazyLock<Architecture> = LazyLock::new(|| {
    "conv(4,3,pad=1) relu maxpool(2) flatten dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(1, 8, 8))
});

fuzz_target!(|data: &[u8]| {
    let loss = Loss::SoftmaxCrossEntropy;
    if let Ok(network) = network_from_npz_bytes(data, Activation::Sigmoid, loss) {
        let bytes = network_to_npz_bytes(&network).expect("a network read from npz can be written");
        let back = network_from_npz_bytes(&bytes, Activation::Sigmoid, loss).expect("an export reads back");
        assert_eq!(back, network);
    }
    if let Ok(network) = network_from_npz_bytes_with_architecture(data, &ARCH, loss) {
        assert_eq!(network.architecture(), *ARCH);
        let bytes = network_to_npz_bytes(&network).expect("a network read from npz can be written");
        let back = network_from_npz_bytes_with_architecture(&bytes, &ARCH, loss).expect("an export reads back");
        assert_eq!(back, network);
    }
});
