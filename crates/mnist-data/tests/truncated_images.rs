//! Every format refuses a truncated stream: the example images and JPEGs made here (baseline,
//! progressive, with restart markers, with a thumbnail), cut at every percent from 10 to 99,
//! are refused, and whole they decode.
//!
//! Workspace-only: the example images live in `fixtures/` at the workspace root, so this file
//! is left out of the published crate (`exclude` in Cargo.toml).

use std::io::Cursor;
use std::path::PathBuf;

use mnist_data::image_file::{ImageFileError, decode_image, read_image};

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A grey 60x80 sheet with a dark diagonal stroke, as a photo of a digit would be.
fn sheet() -> (Vec<u8>, u16, u16) {
    let (width, height) = (60u16, 80u16);
    let pixels = (0..usize::from(width) * usize::from(height))
        .map(|i| {
            let (x, y) = (i % usize::from(width), i / usize::from(width));
            if x.abs_diff(y * 3 / 4) < 4 { 30 } else { 230 - (x + y) as u8 % 7 }
        })
        .collect();
    (pixels, width, height)
}

fn encoded(progressive: bool, restart_interval: u16) -> Vec<u8> {
    let (pixels, width, height) = sheet();
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    encoder.set_progressive(progressive);
    encoder.set_restart_interval(restart_interval);
    encoder.encode(&pixels, width, height, jpeg_encoder::ColorType::Luma).unwrap();
    bytes
}

fn by_image_crate() -> Vec<u8> {
    let (pixels, width, height) = sheet();
    let image = image::GrayImage::from_raw(u32::from(width), u32::from(height), pixels).unwrap();
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes
}

/// `jpeg` with an APP1 segment after its start marker holding a whole small JPEG, as EXIF
/// thumbnails are: its end-of-image marker comes long before the image's.
fn with_thumbnail(jpeg: &[u8], thumbnail: &[u8]) -> Vec<u8> {
    let length = u16::try_from(thumbnail.len() + 2).unwrap();
    let mut bytes = jpeg[..2].to_vec();
    bytes.extend([0xFF, 0xE1]);
    bytes.extend(length.to_be_bytes());
    bytes.extend(thumbnail);
    bytes.extend(&jpeg[2..]);
    bytes
}

fn assert_cuts_refused(name: &str, bytes: &[u8], format: &str) {
    let whole = decode_image(bytes).unwrap_or_else(|e| panic!("{name} whole: {e}"));
    assert!(whole.width() > 0, "{name}");
    for percent in 10..=99 {
        let cut = bytes.len() * percent / 100;
        match decode_image(&bytes[..cut]) {
            Err(ImageFileError::Truncated { format: found, missing }) => {
                assert_eq!(found, format, "{name} cut at {percent}%: {missing}");
            }
            // PNG's decoder finds a truncated stream itself.
            Err(ImageFileError::Unreadable(_)) if format == "PNG" => {}
            other => panic!("{name} cut at {percent}% ({cut} of {} bytes): {other:?}", bytes.len()),
        }
    }
}

#[test]
fn every_cut_of_the_example_images_is_refused() {
    assert_cuts_refused("my-three.jpg", &example("my-three.jpg"), "JPEG");
    assert_cuts_refused("two.jpg", &example("two.jpg"), "JPEG");
    assert_cuts_refused("one.bmp", &example("one.bmp"), "BMP");
    assert_cuts_refused("seven.png", &example("seven.png"), "PNG");
}

#[test]
fn every_cut_of_baseline_progressive_and_restart_jpegs_is_refused() {
    let progressive = encoded(true, 0);
    // The start-of-frame marker of a progressive JPEG is FF C2.
    assert!(progressive.windows(2).any(|w| w == [0xFF, 0xC2]), "the encoder wrote a progressive JPEG");
    assert_cuts_refused("progressive", &progressive, "JPEG");
    assert_cuts_refused("progressive with restarts", &encoded(true, 2), "JPEG");
    assert_cuts_refused("baseline", &encoded(false, 0), "JPEG");
    assert_cuts_refused("baseline with restarts", &encoded(false, 3), "JPEG");
    assert_cuts_refused("image's encoder", &by_image_crate(), "JPEG");
    let thumbnail = with_thumbnail(&example("my-three.jpg"), &encoded(false, 0));
    assert_cuts_refused("with a thumbnail", &thumbnail, "JPEG");
}

#[test]
fn bytes_after_the_end_marker_are_allowed() {
    let mut bytes = example("two.jpg");
    bytes.extend([0u8; 64]);
    bytes.extend(b"trailing data some cameras append");
    assert!(decode_image(&bytes).is_ok());
}

#[test]
fn a_truncated_file_is_refused_with_its_format_and_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = example("my-three.jpg");
    let path = dir.path().join("half.jpg");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = read_image(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        "truncated JPEG image: the data stops inside a scan, before the end-of-image marker (FF D9)"
    );
    // Cut in its header, a file says so too.
    let path = dir.path().join("header.jpg");
    std::fs::write(&path, &bytes[..100]).unwrap();
    assert!(matches!(read_image(&path), Err(ImageFileError::Truncated { format: "JPEG", .. })));
    let bmp = example("one.bmp");
    let path = dir.path().join("half.bmp");
    std::fs::write(&path, &bmp[..bmp.len() / 2]).unwrap();
    let message = read_image(&path).unwrap_err().to_string();
    assert!(message.starts_with("truncated BMP image: the pixel array holds "), "{message}");
    assert!(message.contains("but the header declares"), "{message}");
}
