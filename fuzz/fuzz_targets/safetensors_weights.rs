//! Any bytes given to nn-core's safetensors reader yield a network or an error; never a panic, a
//! hang or a huge allocation. A network read back must survive the trip through
//! `network_to_safetensors_bytes` unchanged.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nn_core::{Architecture, Loss, Shape, network_from_safetensors_bytes, network_to_safetensors_bytes};

/// The architecture of `fixtures/pytorch-safetensors/model.safetensors`, and a small dense one.
static ARCHES: LazyLock<[Architecture; 2]> = LazyLock::new(|| {
    [
        "conv(4,3,pad=1) relu maxpool(2) dropout(0.25) conv(3,3x2) tanh flatten dense(8) relu dense(10)"
            .parse::<Architecture>()
            .unwrap()
            .with_input(Shape::new(2, 8, 8)),
        "dense(3) relu dense(2)".parse::<Architecture>().unwrap().with_input(Shape::flat(4)),
    ]
});

fuzz_target!(|data: &[u8]| {
    let loss = Loss::SoftmaxCrossEntropy;
    for arch in ARCHES.iter() {
        if let Ok(network) = network_from_safetensors_bytes(data, arch, loss) {
            assert_eq!(network.architecture(), *arch);
            let bytes = network_to_safetensors_bytes(&network).expect("a network read from safetensors can be written");
            let back = network_from_safetensors_bytes(&bytes, arch, loss).expect("an export reads back");
            assert_eq!(back, network);
        }
    }
});
