//! What can go wrong: [`ServeError`] for the program that starts the server, [`ApiError`] for
//! a client, as a status and a JSON `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a server could not be built or could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A model file could not be read.
    #[error("cannot load model {path}: {source}")]
    Load {
        /// The file.
        path: String,
        /// What was wrong with it.
        source: Box<nn_core::ModelFileError>,
    },
    /// A model does not take 28x28 images, does not answer ten digits, or answers no
    /// probabilities (identity outputs).
    #[error("model {name} cannot read digits: {reason}")]
    NotADigitModel {
        /// The model's name.
        name: String,
        /// What does not fit.
        reason: String,
    },
    /// A model's name is empty, too long or holds control characters.
    #[error("invalid model name {0:?}: use 1 to 100 printable characters")]
    InvalidName(String),
    /// Two models have the same name.
    #[error("two models are named {0:?}: names must be unique")]
    DuplicateName(String),
    /// No model was given.
    #[error("no model to serve")]
    NoModels,
    /// A limit of the configuration cannot work (no worker, no body).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The data set given for the page's training panel cannot be offered.
    #[error("cannot offer the data set to the page: {0}")]
    TrainingData(String),
    /// The listening socket failed.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// An answer other than success, sent as JSON `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Says what was wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with its status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    /// 400: the request cannot be used as it is.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: &self.message })).into_response()
    }
}
