//! The model files the page downloads to predict itself (`GET /api/model-file`), made once when
//! the server starts from the models it was started with, and their sizes and SHA-256, which
//! `GET /api/engine` lists so that the page can tell a truncated or corrupted download.

use axum::body::Bytes;
use nn_core::Model;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::NamedModel;

/// A model as model-file text (a committee with its members embedded), or why it is not offered.
#[derive(Debug, Clone)]
pub(crate) enum ModelFile {
    Offered { text: Bytes, sha256: String },
    NotOffered(String),
}

impl ModelFile {
    /// `model`'s file, unless it is over `limit` bytes or cannot be written.
    pub fn new(model: &NamedModel, limit: usize) -> ModelFile {
        let text = match model.model() {
            Model::Network(network) => nn_core::model_to_json(network),
            Model::Committee(committee) => nn_core::committee_to_json(committee),
        };
        match text {
            Ok(text) if text.len() > limit => ModelFile::NotOffered(format!(
                "its file is {} bytes, over this server's limit for the page ({limit} bytes)",
                text.len()
            )),
            Ok(text) => ModelFile::Offered { sha256: sha256_hex(text.as_bytes()), text: Bytes::from(text) },
            Err(error) => ModelFile::NotOffered(format!("its file cannot be written: {error}")),
        }
    }

    /// What `GET /api/engine` says of it.
    pub fn listing(&self, name: &str) -> FileListing {
        match self {
            ModelFile::Offered { text, sha256 } => FileListing {
                name: Some(name.to_string()),
                bytes: Some(text.len()),
                sha256: Some(sha256.clone()),
                not_offered: None,
            },
            ModelFile::NotOffered(reason) => FileListing {
                name: Some(name.to_string()),
                bytes: None,
                sha256: None,
                not_offered: Some(reason.clone()),
            },
        }
    }
}

/// A file the page may download: its size and SHA-256 (hex), or why it is not offered.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileListing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_offered: Option<String>,
}

/// The SHA-256 of `bytes` in hex, as `sha256sum` prints it.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
