//! Any body sent to the server's prediction route, with any of the content types it tells apart,
//! is read into 784 finite inputs in [0, 1] or refused with a client error (4xx); never a panic,
//! a hang or a huge allocation. The same code the route runs (`nn_serve::fuzzing`).

#![no_main]

use libfuzzer_sys::fuzz_target;

const TYPES: [Option<&str>; 6] =
    [None, Some("application/json"), Some("image/png"), Some("image/jpeg"), Some("application/octet-stream"), Some("text/plain")];

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let content_type = TYPES[usize::from(which) % TYPES.len()];
    match nn_serve::fuzzing::request_body(content_type, body, 16_000_000) {
        Ok(pixels) => {
            assert_eq!(pixels.len(), 784);
            assert!(pixels.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)), "{pixels:?}");
        }
        Err((status, message)) => assert!((400..500).contains(&status), "{status} {message}"),
    }
});
