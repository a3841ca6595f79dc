//! `GET /`: the draw-a-digit page, its script, its style and its WebAssembly module (built from
//! `crates/nn-wasm` by `cargo xtask wasm`), compiled into the binary (nothing is fetched from
//! elsewhere, and the page's policy forbids it).

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const ENGINE_SCRIPT: &str = include_str!("page/engine.js");
const STYLE: &str = include_str!("page/style.css");
const TRAINING_SCRIPT: &str = include_str!("page/train.js");
const TRAINING_WORKER: &str = include_str!("page/train-worker.js");
pub(crate) const MODULE: &[u8] = include_bytes!("page/nn.wasm");

/// Nothing from elsewhere, and no other site may frame the page (clickjacking). Scripts are the
/// page's own; `'wasm-unsafe-eval'` lets them compile its WebAssembly module, and nothing else
/// (no `eval`, no inline script).
const POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data: blob:; \
                      object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset<B: IntoResponse>(content_type: &'static str, body: B) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub(crate) async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub(crate) async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(crate) async fn engine_script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", ENGINE_SCRIPT)
}

pub(crate) async fn training_script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", TRAINING_SCRIPT)
}

/// The worker the training panel trains in; served with the page's policy, which a worker
/// follows (it may compile the module, and fetch from this server only).
pub(crate) async fn training_worker() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", TRAINING_WORKER)
}

pub(crate) async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

pub(crate) async fn module() -> impl IntoResponse {
    asset("application/wasm", MODULE)
}
