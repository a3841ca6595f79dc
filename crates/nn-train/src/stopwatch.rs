//! The time an epoch took, for its report.
//!
//! `wasm32-unknown-unknown` (a web page) has no clock that std can read: `Instant::now` panics
//! there. Training in a page is timed by the page itself, so on that target the stopwatch
//! reads 0 seconds rather than take the page down.

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
use std::time::Instant;

/// Seconds since [`Stopwatch::start`]; always 0 on `wasm32-unknown-unknown`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopwatch {
    #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
    started: Instant,
}

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch {
            #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
            started: Instant::now(),
        }
    }

    pub fn seconds(&self) -> f64 {
        #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
        return self.started.elapsed().as_secs_f64();
        #[cfg(all(target_family = "wasm", target_os = "unknown"))]
        return 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_moves_forward_from_zero() {
        let watch = Stopwatch::start();
        let first = watch.seconds();
        let second = watch.seconds();
        assert!(first >= 0.0 && second >= first);
    }
}
