//! Property tests: any IDX array written and parsed back is identical, and no input whatever
//! makes the decoder panic.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_data::IdxArray;
use mnist_data::idx::{decode, encode};
use proptest::prelude::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn arrays() -> impl Strategy<Value = IdxArray> {
    prop::collection::vec(0usize..12, 1..=3).prop_flat_map(|dims| {
        let len: usize = dims.iter().product();
        prop::collection::vec(any::<u8>(), len).prop_map(move |data| IdxArray::new(dims.clone(), data).unwrap())
    })
}

proptest! {
    #[test]
    fn raw_round_trip(array in arrays()) {
        prop_assert_eq!(decode(encode(&array)).unwrap(), array);
    }

    #[test]
    fn gzip_round_trip(array in arrays()) {
        prop_assert_eq!(decode(gzip(&encode(&array))).unwrap(), array);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(bytes.clone());
        let _ = decode(gzip(&bytes));
    }

    #[test]
    fn damaged_files_never_panic(array in arrays(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut raw = encode(&array);
        let i = at.index(raw.len());
        raw[i] = byte;
        let _ = decode(raw.clone());
        let mut compressed = gzip(&raw);
        let j = at.index(compressed.len());
        compressed[j] ^= byte;
        let k = cut.index(compressed.len());
        let _ = decode(compressed[..k].to_vec());
        let _ = decode(compressed);
    }
}
