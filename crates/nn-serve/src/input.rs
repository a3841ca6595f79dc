//! A prediction request's body made into the network's 784 inputs: an image prepared exactly as
//! `nn-cli predict` prepares a file (`mnist_data::image_file::prepare_bytes`), or pixels given
//! as JSON.

use std::io::Cursor;

use axum::http::{HeaderValue, StatusCode};
use image::{ImageError, ImageFormat, ImageReader, error::ImageFormatHint};
use mnist_data::image_file::ImageFileError;
use mnist_data::prepare::FIELD;
use serde::Deserialize;

use crate::ApiError;

/// What a body holds, told by its `Content-Type` before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `application/json`: `{"pixels": [...]}`.
    Json,
    /// `image/png`, `image/jpeg`, `image/bmp`: the format is still told by the content.
    Image,
    /// No type, `application/octet-stream`, or curl's default for `--data-binary`
    /// (`application/x-www-form-urlencoded`): JSON if it starts with `{`, else an image.
    Sniff,
}

/// The kind of body a `Content-Type` announces; 415 for any type we cannot read.
pub(crate) fn body_kind(content_type: Option<&HeaderValue>) -> Result<BodyKind, ApiError> {
    let Some(value) = content_type else { return Ok(BodyKind::Sniff) };
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BodyKind::Json),
        "image/png" | "image/jpeg" | "image/jpg" | "image/pjpeg" | "image/bmp" | "image/x-bmp" | "image/x-ms-bmp" => {
            Ok(BodyKind::Image)
        }
        "" | "application/octet-stream" | "application/x-www-form-urlencoded" => Ok(BodyKind::Sniff),
        _ => Err(unsupported(format!("content type {text:?}"))),
    }
}

fn unsupported(what: String) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("unsupported {what}: send a PNG, JPEG or BMP image, or JSON {{\"pixels\": [784 numbers in 0..1]}}"),
    )
}

/// The network's input and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetworkInput {
    /// 784 values in 0..1, row by row.
    pub pixels: Vec<f32>,
    /// For an image: whether it was dark ink on light paper, and so inverted.
    pub inverted: Option<bool>,
}

/// Reads the body as its kind says. CPU-bound for an image: call it off the async runtime.
pub(crate) fn network_input(kind: BodyKind, body: &[u8], max_image_pixels: u64) -> Result<NetworkInput, ApiError> {
    let is_json = match kind {
        BodyKind::Json => true,
        BodyKind::Image => false,
        BodyKind::Sniff => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    };
    if is_json { pixels_from_json(body) } else { prepare_image(body, max_image_pixels) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelsBody {
    pixels: Vec<f64>,
}

fn pixels_from_json(body: &[u8]) -> Result<NetworkInput, ApiError> {
    let parsed: PixelsBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("expected JSON {{\"pixels\": [784 numbers in 0..1]}}: {e}")))?;
    let expected = FIELD * FIELD;
    if parsed.pixels.len() != expected {
        return Err(ApiError::bad_request(format!(
            "expected {expected} pixels ({FIELD}x{FIELD}), got {}",
            parsed.pixels.len()
        )));
    }
    if let Some((index, value)) = parsed.pixels.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
        return Err(ApiError::bad_request(format!("pixel {index} is {value}: pixels are numbers in 0..1")));
    }
    // Each value is in 0..1, where f64 to f32 only rounds.
    let pixels = parsed.pixels.iter().map(|&v| v as f32).collect();
    Ok(NetworkInput { pixels, inverted: None })
}

fn prepare_image(body: &[u8], max_image_pixels: u64) -> Result<NetworkInput, ApiError> {
    refuse_large_image(body, max_image_pixels)?;
    let prepared = mnist_data::image_file::prepare_bytes(body).map_err(image_error)?;
    Ok(NetworkInput { pixels: prepared.input(), inverted: Some(prepared.inverted) })
}

/// The server's own bound on an image's pixels, read from its header; `prepare_bytes` has a
/// larger one of its own, made for files on a disk rather than for many requests at once.
fn refuse_large_image(body: &[u8], max_image_pixels: u64) -> Result<(), ApiError> {
    let dimensions =
        ImageReader::new(Cursor::new(body)).with_guessed_format().ok().and_then(|r| r.into_dimensions().ok());
    match dimensions {
        Some((width, height)) if u64::from(width) * u64::from(height) > max_image_pixels => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("image is {width}x{height} pixels; this server takes at most {max_image_pixels} pixels"),
        )),
        // Unreadable headers are left to `prepare_bytes`, which says what is wrong with them.
        _ => Ok(()),
    }
}

fn image_error(error: ImageFileError) -> ApiError {
    match &error {
        ImageFileError::Unreadable(ImageError::Unsupported(unsupported_error)) => match unsupported_error.format_hint()
        {
            ImageFormatHint::Exact(format)
                if ![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Bmp].contains(&format) =>
            {
                unsupported(format!("image format {}", format.extensions_str().first().unwrap_or(&"?")))
            }
            _ => ApiError::bad_request(error.to_string()),
        },
        ImageFileError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string()),
        _ => ApiError::bad_request(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_choose_the_reader() {
        let kind = |t: &str| body_kind(Some(&HeaderValue::from_str(t).unwrap()));
        assert_eq!(kind("application/json; charset=utf-8"), Ok(BodyKind::Json));
        assert_eq!(kind("IMAGE/PNG"), Ok(BodyKind::Image));
        assert_eq!(kind("application/octet-stream"), Ok(BodyKind::Sniff));
        assert_eq!(kind("application/x-www-form-urlencoded"), Ok(BodyKind::Sniff), "curl --data-binary");
        assert_eq!(body_kind(None), Ok(BodyKind::Sniff));
        assert_eq!(kind("image/gif").unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(kind("text/plain").unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn json_pixels_are_checked() {
        let ok = format!("{{\"pixels\": [{}]}}", vec!["0.5"; 784].join(","));
        assert_eq!(network_input(BodyKind::Sniff, ok.as_bytes(), 1).unwrap().pixels, vec![0.5; 784]);
        let short = format!("{{\"pixels\": [{}]}}", vec!["0"; 783].join(","));
        assert!(network_input(BodyKind::Json, short.as_bytes(), 1).unwrap_err().message.contains("got 783"));
        let high = ok.replacen("0.5", "1.5", 1);
        assert!(network_input(BodyKind::Json, high.as_bytes(), 1).unwrap_err().message.contains("pixel 0 is 1.5"));
        assert_eq!(network_input(BodyKind::Json, b"{\"pixels\": [NaN]}", 1).unwrap_err().status, 400);
    }

    #[test]
    fn a_gif_is_an_unsupported_type_and_noise_is_not_an_image() {
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(network_input(BodyKind::Sniff, gif, 100).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let noise = network_input(BodyKind::Image, b"hello", 100).unwrap_err();
        assert_eq!(noise.status, StatusCode::BAD_REQUEST, "{noise}");
    }
}
