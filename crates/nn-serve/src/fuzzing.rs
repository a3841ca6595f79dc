//! The reading of a request body as the prediction route does it, for the fuzz target in
//! `fuzz/` (feature `fuzzing`, off by default): a content type and bytes in, the network's 784
//! inputs or the client's error out.

use axum::http::HeaderValue;

use crate::input::{body_kind, network_input};

/// What `POST /api/predict` makes of `body` sent with `content_type`: the network's inputs, or
/// the status and message the client would get.
pub fn request_body(content_type: Option<&str>, body: &[u8], max_image_pixels: u64) -> Result<Vec<f32>, (u16, String)> {
    let header = match content_type.map(HeaderValue::from_str) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => return Err((400, "not a header value".into())),
    };
    let kind = body_kind(header.as_ref()).map_err(|e| (e.status.as_u16(), e.message))?;
    network_input(kind, body, max_image_pixels).map(|input| input.pixels).map_err(|e| (e.status.as_u16(), e.message))
}
