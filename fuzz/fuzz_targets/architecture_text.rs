//! Any text given to nn-core's architecture parser yields an architecture or an error; never a
//! panic, a hang or a huge allocation. A parsed architecture prints as text that parses back to
//! it, and its memory is estimated (what `train` checks before building it) without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_core::Architecture;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(architecture) = Architecture::named_or_parsed(text) {
        let printed = architecture.to_string();
        let back: Architecture = printed.parse().expect("a printed architecture parses");
        assert_eq!(back.layers, architecture.layers, "{printed}");
        let _ = architecture.memory_use();
    }
});
