//! Any bytes given to the IDX decoder yield an array or an error; never a panic, a hang or a
//! huge allocation. A decoded array must also survive the trip back through `encode`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_data::idx::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = decode(data.to_vec()) {
        let expected: usize = array.dims().iter().product();
        assert_eq!(array.data().len(), expected);
        assert_eq!(decode(encode(&array)).expect("an encoded array decodes"), array);
    }
});
