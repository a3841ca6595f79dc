//! What every request shares.

use std::sync::Arc;

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::model_file::ModelFile;
use crate::training_data::TrainingData;
use crate::{ApiError, Config, ModelInfo, NamedModel};

#[derive(Debug)]
pub(crate) struct AppState {
    pub models: Vec<NamedModel>,
    pub infos: Vec<ModelInfo>,
    /// Each model's file for the page, in the order of `models`.
    pub files: Vec<ModelFile>,
    pub config: Config,
    /// The data set offered to the page's training panel, if any.
    pub training_data: Option<TrainingData>,
    pub metrics: Metrics,
    /// Predictions accepted (`Config::max_pending`).
    pub pending: Arc<Semaphore>,
    /// Predictions computing (`Config::workers`).
    pub workers: Arc<Semaphore>,
}

impl AppState {
    pub fn new(models: Vec<NamedModel>, config: Config, training_data: Option<TrainingData>) -> Self {
        let infos = models.iter().map(NamedModel::info).collect();
        let files = models.iter().map(|model| ModelFile::new(model, config.max_model_file_bytes)).collect();
        AppState {
            models,
            infos,
            files,
            pending: Arc::new(Semaphore::new(config.max_pending.min(Semaphore::MAX_PERMITS))),
            workers: Arc::new(Semaphore::new(config.workers.min(Semaphore::MAX_PERMITS))),
            config,
            training_data,
            metrics: Metrics::new(),
        }
    }

    /// The model a request names, or the first one when it names none.
    pub fn model_index(&self, name: Option<&str>) -> Result<usize, ApiError> {
        let Some(name) = name else { return Ok(0) };
        self.models.iter().position(|m| m.name() == name).ok_or_else(|| {
            let known: Vec<&str> = self.models.iter().map(NamedModel::name).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no model named {name:?}; this server has {}", known.join(", ")),
            )
        })
    }
}
