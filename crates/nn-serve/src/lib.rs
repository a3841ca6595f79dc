//! # nn-serve
//!
//! An HTTP server for `nn-core` digit models: a JSON prediction API, Prometheus metrics and a
//! page to draw a digit on and watch the networks answer. `nn-cli serve` is its command-line
//! front; a program can start it itself with [`Server::new`] and [`Server::serve`].
//!
//! What it is not for: it is not a general model server. It serves classifiers of 28x28 images
//! into ten digits, over plain HTTP (put a reverse proxy in front for TLS), without
//! authentication. Bind it to the loopback interface unless the network in front of it is
//! trusted.
//!
//! - `POST /api/predict[?model=NAME]`: a PNG, JPEG or BMP image, prepared exactly as
//!   `nn-cli predict` prepares a file (`mnist_data::image_file::prepare_bytes`, so the answer
//!   is the same, bit for bit), or JSON `{"pixels": [784 numbers in 0..1]}`; answers a
//!   [`Prediction`].
//! - `GET /api/models`, `GET /healthz`, `GET /metrics` (OpenMetrics text), `GET /` (the page).
//! - `GET /api/engine`: what the page needs to predict itself: the WebAssembly module's size and
//!   SHA-256 (`GET /nn.wasm`, built from `crates/nn-wasm`) and each model file's (`GET
//!   /api/model-file?model=NAME`, the started models only, each at most
//!   [`Config::max_model_file_bytes`], made in memory when the server starts).
//! - `GET /api/training-data?part=NAME`: the data set the server was started with
//!   ([`Server::with_training_data`]), for the page's "Train here" panel: one of the four IDX
//!   files ([`PARTS`]), gzip-compressed, made in memory when the server starts and listed with
//!   their sizes and SHA-256 by `GET /api/engine`; 404 on a server started without one.
//! - Errors are JSON `{"error": "..."}`: 400 bad input, 403 a request for another host than
//!   localhost on a loopback listener (DNS rebinding), 404 unknown model or route, 408 a body
//!   too slow to arrive, 413 a body or image over its limit, 414 a target over 8 kB, 415 a type
//!   it cannot read, 431 more than 100 headers or over 32 kB of them, 503 too busy or too slow.
//!   Only what hyper refuses itself (a request it cannot parse, a target over 65,534 bytes, more
//!   than 200 headers, a head over its ~400 kB buffer) gets an empty body.
//!
//! Every request's work is bounded ([`Config`]): body size, image pixels (from the header,
//! before decoding), time, and the predictions accepted and computed at once. Predictions run
//! on tokio's blocking pool, never on the threads that answer connections. A connection whose
//! client takes no answer for [`Config::write_timeout`] is closed, and on shutdown the
//! connections left after [`Config::shutdown_grace`] are dropped.
//!
//! A model is one network or a committee of networks ([`nn_core::Committee`], whose outputs
//! are the mean of its members'), read by [`NamedModel::load`] from either kind of file.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nn_serve::ServeError> {
//! use nn_serve::{Config, NamedModel, Server};
//!
//! let server = Server::new(vec![NamedModel::load("models/default.json")?], Config::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on http://{}", listener.local_addr()?);
//! server.serve(listener, std::future::pending()).await
//! # }
//! ```

#![forbid(unsafe_code)]
// Every panic a caller could reach is documented; the ones that cannot happen say why.
#![warn(clippy::missing_panics_doc)]
#![warn(missing_docs)]

mod config;
mod connection;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod guard;
mod input;
mod metrics;
mod model;
mod model_file;
mod page;
mod prediction;
mod routes;
mod server;
mod state;
mod training_data;

pub use axum;
pub use nn_core;
pub use tokio;

pub use config::Config;
pub use error::{ApiError, ServeError};
pub use model::{DIGITS, ModelInfo, NamedModel};
pub use prediction::Prediction;
pub use server::Server;
pub use training_data::{MAX_PART_BYTES, PARTS, TrainingData};
