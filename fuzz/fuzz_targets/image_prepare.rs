//! Any bytes given as an image yield a prepared 28x28 input or an error; never a panic, a hang
//! or a huge allocation, whatever size the header claims. A prepared input is always 784
//! pixels.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_data::image_file::prepare_bytes;
use mnist_data::prepare::FIELD;

fuzz_target!(|data: &[u8]| {
    if let Ok(prepared) = prepare_bytes(data) {
        assert_eq!(prepared.pixels.len(), FIELD * FIELD);
    }
});
