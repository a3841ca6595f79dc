//! Any bytes given to nn-core's pickle readers yield a network or an error; never a panic, a
//! hang or a huge allocation. nn-core writes no pickles, so the trip back goes through the
//! `.npz` writer, whose arrays are the same: a network read from a pickle, written by
//! `network_to_npz_bytes` and read back by the `.npz` reader, is unchanged.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nn_core::{
    Activation, Architecture, Loss, Shape, network_from_npz_bytes, network_from_npz_bytes_with_architecture,
    network_from_pickle_bytes, network_from_pickle_bytes_with_architecture, network_to_npz_bytes,
};

/// The architecture of `fixtures/numpy-pickle/tiny_convnet.pkl` and of the conv seeds.
static ARCH: LazyLock<Architecture> = LazyLock::new(|| {
    "conv(4,3,pad=1) relu maxpool(2) flatten dense(10)".parse::<Architecture>().unwrap().with_input(Shape::new(1, 8, 8))
});

fuzz_target!(|data: &[u8]| {
    let loss = Loss::SoftmaxCrossEntropy;
    if let Ok(network) = network_from_pickle_bytes(data, Activation::Sigmoid, loss) {
        let bytes = network_to_npz_bytes(&network).expect("a network read from a pickle can be written");
        let back = network_from_npz_bytes(&bytes, Activation::Sigmoid, loss).expect("an export reads back");
        assert_eq!(back, network);
    }
    if let Ok(network) = network_from_pickle_bytes_with_architecture(data, &ARCH, loss) {
        assert_eq!(network.architecture(), *ARCH);
        let bytes = network_to_npz_bytes(&network).expect("a network read from a pickle can be written");
        let back = network_from_npz_bytes_with_architecture(&bytes, &ARCH, loss).expect("an export reads back");
        assert_eq!(back, network);
    }
});
