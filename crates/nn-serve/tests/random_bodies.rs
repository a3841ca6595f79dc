//! Thousands of random and mutated bodies, with random content types and model names: every
//! one gets an answer, a JSON error when it is not a prediction, and no status of 500 or above
//! (503 is not expected either: the pending limit is above the clients' count).

use image::ImageFormat;
use nn_serve::Config;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{TestServer, encode, photo, pixels_json, post, two_models};

const CLIENTS: u64 = 4;
const BODIES_PER_CLIENT: usize = 750;

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("image/png"),
    Some("image/jpeg"),
    Some("image/bmp"),
    Some("application/json"),
    Some("application/octet-stream"),
    Some("text/plain"),
    Some("application/json; charset=utf-8"),
];

fn seeds() -> Vec<Vec<u8>> {
    let image = photo(3);
    vec![
        encode(&image, ImageFormat::Png),
        encode(&image, ImageFormat::Jpeg),
        encode(&image, ImageFormat::Bmp),
        pixels_json(&[0.25; 784]).into_bytes(),
        b"{\"pixels\": [0, 1, 0.5]}".to_vec(),
    ]
}

/// A seed with a few bytes changed, cut short, grown or spliced, or plain noise.
fn mutate(seeds: &[Vec<u8>], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut body = seeds[rng.random_range(0..seeds.len())].clone();
    match rng.random_range(0..6) {
        0 => {
            let mut noise = vec![0u8; rng.random_range(0..4096)];
            rng.fill_bytes(&mut noise);
            return noise;
        }
        1 => body.truncate(rng.random_range(0..=body.len())),
        2 => {
            let at = rng.random_range(0..=body.len());
            let mut noise = vec![0u8; rng.random_range(1..64)];
            rng.fill_bytes(&mut noise);
            body.splice(at..at, noise);
        }
        3 => {
            let other = &seeds[rng.random_range(0..seeds.len())];
            let at = rng.random_range(0..=body.len().min(other.len()));
            body.truncate(at);
            body.extend_from_slice(&other[at..]);
        }
        _ => {}
    }
    if !body.is_empty() {
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..body.len());
            body[at] = rng.random();
        }
    }
    body
}

#[test]
fn random_and_mutated_bodies_get_answers_not_failures() {
    let server = TestServer::start(two_models(), Config { body_limit: 64_000, ..Config::default() });
    let seeds = seeds();
    let outcomes: Vec<Vec<u16>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (server, seeds) = (&server, &seeds);
                scope.spawn(move || {
                    let mut rng = ChaCha8Rng::seed_from_u64(client);
                    (0..BODIES_PER_CLIENT)
                        .map(|_| {
                            let body = mutate(seeds, &mut rng);
                            let content_type = CONTENT_TYPES[rng.random_range(0..CONTENT_TYPES.len())];
                            let model =
                                ["", "?model=small", "?model=other", "?model=x", "?model"][rng.random_range(0..5)];
                            let answer = post(&format!("{}/api/predict{model}", server.url), content_type, &body);
                            assert!(answer.status < 500, "{} for {content_type:?}: {}", answer.status, answer.body);
                            if answer.status != 200 {
                                assert!(!answer.error().is_empty());
                            }
                            answer.status
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = outcomes.into_iter().flatten().collect();
    assert_eq!(statuses.len(), CLIENTS as usize * BODIES_PER_CLIENT);
    // The mutations reach every answer, not only the first check.
    for status in [200, 400, 404, 415] {
        assert!(statuses.contains(&status), "no {status} among {} answers", statuses.len());
    }
}
