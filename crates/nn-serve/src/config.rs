//! The server's limits.

use std::time::Duration;

/// How much work the server accepts. Every limit turns an excess into an answer (413, 408 or
/// 503) or a closed connection, never into unbounded memory or waiting.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bytes a request body may hold (1 MB by default); a larger one gets 413.
    pub body_limit: usize,
    /// Pixels an uploaded image may declare in its header (16 megapixels by default: a phone
    /// photo); a larger one is refused with 413 before it is decoded. Decoding is what costs
    /// memory, so this bounds it per request.
    pub max_image_pixels: u64,
    /// Time to receive a request's headers (the connection is closed after it), its body (408
    /// after it) and, separately, to compute its answer (503 after it).
    pub request_timeout: Duration,
    /// Predictions accepted at once, computing or waiting for a worker; one more gets 503 at
    /// once rather than a growing queue. 0 refuses every prediction.
    pub max_pending: usize,
    /// Predictions computed at the same time, each on a thread of tokio's blocking pool: the
    /// cores worth using (all of them by default).
    pub workers: usize,
    /// Time a connection may wait for its client to take the answers (10 s by default): when
    /// the socket accepts no byte of an answer for this long, as with a client that sends
    /// requests and never reads, the connection is closed.
    pub write_timeout: Duration,
    /// Time the connections still open when [`Server::serve`](crate::Server::serve) is asked to
    /// stop get to finish (5 s by default); the ones left then are dropped and `serve` returns.
    pub shutdown_grace: Duration,
    /// Bytes of a model file the page may download to predict itself (`GET /api/model-file`;
    /// 256 MB by default, what the page's module accepts). A model whose file is larger is not
    /// offered, and the page asks `POST /api/predict` for it.
    pub max_model_file_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            body_limit: 1_000_000,
            max_image_pixels: 16_000_000,
            request_timeout: Duration::from_secs(10),
            max_pending: 64,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            max_model_file_bytes: 256 << 20,
        }
    }
}
