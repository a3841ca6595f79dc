//! A stop flag shared between the trainer and whoever may interrupt it (a Ctrl-C handler).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Lets another thread, a signal handler or an observer ask training to stop.
///
/// The trainer checks the flag between mini-batches; when it is set, [`train`](crate::train)
/// returns an interrupted [`TrainOutcome`](crate::TrainOutcome) whose state resumes exactly
/// where it stopped. Clones share the same flag.
#[derive(Debug, Clone, Default)]
pub struct Control {
    stop: Arc<AtomicBool>,
}

impl Control {
    /// A control whose flag is not set.
    pub fn new() -> Self {
        Control::default()
    }

    /// A control around an existing flag (for example one set by a Ctrl-C handler).
    pub fn from_flag(stop: Arc<AtomicBool>) -> Self {
        Control { stop }
    }

    /// The shared flag, for a signal handler.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Asks training to stop after the current mini-batch.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop has been requested.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
