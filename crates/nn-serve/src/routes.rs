//! The HTTP routes and the middleware that counts them.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Query, Request, State, rejection::QueryRejection};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::guard::{HostRule, check_request};
use crate::input::{BodyKind, body_kind, network_input};
use crate::model_file::{FileListing, ModelFile, sha256_hex};
use crate::prediction::{Prediction, predict_with};
use crate::state::AppState;
use crate::training_data::{DataListing, PARTS, TrainingData};
use crate::{ApiError, metrics, page};

/// A body may be this many times over the limit and still be read to its end (and thrown
/// away) before the 413 is sent: a client that is still sending then reads its answer rather
/// than a reset connection. A body declared larger is refused before it is read.
const DRAIN_FACTOR: usize = 8;

/// The routes; every request passes [`check_request`] under `hosts`, and is counted (refusals
/// too).
pub(crate) fn router(state: Arc<AppState>, hosts: HostRule) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/engine.js", get(page::engine_script))
        .route("/style.css", get(page::style))
        .route("/nn.wasm", get(page::module))
        .route("/train.js", get(page::training_script))
        .route("/train-worker.js", get(page::training_worker))
        .route("/api/engine", get(engine))
        .route("/api/model-file", get(model_file))
        .route("/api/training-data", get(training_data))
        .route("/api/predict", post(predict))
        .route("/api/models", get(models))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(hosts, check_request))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

#[derive(Deserialize)]
struct PredictQuery {
    model: Option<String>,
}

async fn predict(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Prediction>, ApiError> {
    let started = Instant::now();
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let kind = body_kind(headers.get(header::CONTENT_TYPE))?;
    let model = state.model_index(query.model.as_deref())?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let bytes = tokio::time::timeout(state.config.request_timeout, read_body(body, declared, state.config.body_limit))
        .await
        .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request body took too long to arrive"))??;
    let prediction = compute(&state, model, kind, bytes, started).await?;
    state.metrics.record_prediction(&prediction.model, prediction.digit);
    Ok(Json(prediction))
}

/// Reads a body of at most `limit` bytes.
async fn read_body(mut body: Body, declared: Option<u64>, limit: usize) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over the limit of {limit} bytes"));
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    if declared.is_some_and(|length| length > drain_limit as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > drain_limit {
            return Err(too_large());
        }
        if seen <= limit {
            bytes.extend_from_slice(&data);
        }
    }
    if seen > limit { Err(too_large()) } else { Ok(Bytes::from(bytes)) }
}

/// Prepares and predicts on tokio's blocking pool, `workers` at a time, refusing (503) a
/// request beyond `max_pending` rather than queueing it.
async fn compute(
    state: &Arc<AppState>,
    model: usize,
    kind: BodyKind,
    body: Bytes,
    started: Instant,
) -> Result<Prediction, ApiError> {
    let busy = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is busy: try again shortly");
    let pending = state.pending.clone().try_acquire_owned().map_err(|_| busy())?;
    let work = async {
        let worker = state.workers.clone().acquire_owned().await.map_err(|_| busy())?;
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the work is done, even if the client has gone or timed out.
            let _permits = (pending, worker);
            let input = network_input(kind, &body, state.config.max_image_pixels)?;
            predict_with(&state.models[model], input, started)
        })
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the prediction failed"))?
    };
    tokio::time::timeout(state.config.request_timeout, work)
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the prediction took too long"))?
}

/// What the page downloads to predict itself: the module and each model's file, with their
/// sizes and SHA-256.
#[derive(serde::Serialize)]
struct Engine {
    module: FileListing,
    models: Vec<FileListing>,
    /// The data set of the training panel; `null` when the server was started without one.
    training_data: Option<DataListing>,
}

async fn engine(State(state): State<Arc<AppState>>) -> Json<Engine> {
    let module = FileListing {
        name: Some("/nn.wasm".to_string()),
        bytes: Some(page::MODULE.len()),
        sha256: Some(sha256_hex(page::MODULE)),
        not_offered: None,
    };
    let models = state.models.iter().zip(&state.files).map(|(model, file)| file.listing(model.name())).collect();
    let training_data = state.training_data.as_ref().map(TrainingData::listing);
    Json(Engine { module, models, training_data })
}

#[derive(Deserialize)]
struct PartQuery {
    part: String,
}

/// One file of the data set the server was started with (`?part=train-images`, ...): never a
/// file named by the request.
async fn training_data(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let data = state.training_data.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this server offers no training data: start it with `nn-cli serve --data DIR` (for example --data data/mnist)",
        )
    })?;
    let bytes = data.part(&query.part).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no part {:?}: the parts are {}", query.part, PARTS.join(", ")))
    })?;
    Ok(([(header::CONTENT_TYPE, "application/gzip")], Body::from(bytes)).into_response())
}

/// A started model's file (`?model=NAME`, the first model without it), made when the server
/// started: never a file named by the request.
async fn model_file(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PredictQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let index = state.model_index(query.model.as_deref())?;
    match &state.files[index] {
        ModelFile::Offered { text, .. } => {
            Ok(([(header::CONTENT_TYPE, "application/json")], Body::from(text.clone())).into_response())
        }
        ModelFile::NotOffered(reason) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model {} is not offered to the page: {reason}", state.models[index].name()),
        )),
    }
}

async fn models(State(state): State<Arc<AppState>>) -> Response {
    Json(&state.infos).into_response()
}

#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    models: usize,
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health { status: "ok", models: state.models.len() })
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.encode()).into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not take {method}", uri.path()))
}

/// Counts every answer by route (the router's pattern; one label for all unknown paths, so a
/// scan cannot grow the metrics), method and status, and times it.
async fn count_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_string();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        _ => "other",
    };
    let response = next.run(request).await;
    state.metrics.record_request(&route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
