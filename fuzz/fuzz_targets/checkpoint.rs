//! Any bytes given to nn-train's checkpoint parser yield a checkpoint or an error; never a
//! panic, a hang or a huge allocation. A checkpoint read back must write the same bytes again
//! (compared as bytes: a training state may hold NaN, which is not equal to itself).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nn_train::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.checkpoint");
    if let Ok(checkpoint) = Checkpoint::from_bytes(data, path) {
        let bytes = checkpoint.to_bytes().expect("a checkpoint read can be written");
        let back = Checkpoint::from_bytes(&bytes, path).expect("a written checkpoint reads back");
        assert_eq!(back.network, checkpoint.network);
        assert_eq!(back.to_bytes().expect("written again"), bytes);
    }
});
