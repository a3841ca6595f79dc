//! Reading a photo, scan or drawing of a digit, bounded: the image's size is read from its
//! header and refused above [`MAX_PIXELS`] before anything is decoded, and the decoder's memory
//! is capped, so a small file that claims a huge image costs nothing. [`prepare_file`] and
//! [`prepare_bytes`] then make it an MNIST input with [`crate::prepare::prepare`].

use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

use image::{DynamicImage, ImageReader};

use crate::prepare::{PrepError, Prepared, prepare};

/// Pixels an image may have (a 48-megapixel phone photo fits): larger ones are refused from
/// their header, before any is decoded.
pub const MAX_PIXELS: u64 = 64_000_000;

/// Memory the decoder may take: the largest image allowed, 16-bit RGBA.
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 8;

/// Why an image could not be read or prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageFileError {
    /// The file could not be opened or read.
    #[error("cannot open the file: {0}")]
    Io(std::io::Error),
    /// Not an image of a supported format, or a damaged or truncated one.
    // The decoder's message is part of this one rather than a `source()`, so that an error
    // chain printed whole does not say it twice.
    #[error("not a readable image (PNG, JPEG or BMP): {0}")]
    Unreadable(image::ImageError),
    /// The header declares more than [`MAX_PIXELS`] pixels.
    #[error("image is {width}x{height} pixels; the limit is {} megapixels", MAX_PIXELS / 1_000_000)]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The image holds no digit that can be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepError),
}

/// Decodes an image file (PNG, JPEG or BMP; the format is told by the content, then the
/// extension), refusing one of more than [`MAX_PIXELS`] before decoding it.
pub fn read_image(path: impl AsRef<Path>) -> Result<DynamicImage, ImageFileError> {
    let open =
        || ImageReader::open(path.as_ref()).and_then(ImageReader::with_guessed_format).map_err(ImageFileError::Io);
    decode_bounded(open()?, open)
}

/// Decodes an image held in memory (PNG, JPEG or BMP, told by the content), refusing one of
/// more than [`MAX_PIXELS`] before decoding it.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, ImageFileError> {
    let open = || ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(ImageFileError::Io);
    decode_bounded(open()?, open)
}

/// Reads an image file and prepares it as an MNIST input.
pub fn prepare_file(path: impl AsRef<Path>) -> Result<Prepared, ImageFileError> {
    Ok(prepare(&read_image(path)?)?)
}

/// Decodes an image held in memory and prepares it as an MNIST input.
pub fn prepare_bytes(bytes: &[u8]) -> Result<Prepared, ImageFileError> {
    Ok(prepare(&decode_image(bytes)?)?)
}

/// The header is read by a first reader, the image decoded by a second one, under limits.
fn decode_bounded<R: BufRead + Seek>(
    header: ImageReader<R>,
    open: impl Fn() -> Result<ImageReader<R>, ImageFileError>,
) -> Result<DynamicImage, ImageFileError> {
    let (width, height) = header.into_dimensions().map_err(ImageFileError::Unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageFileError::TooLarge { width, height });
    }
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(ImageFileError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut image = image::GrayImage::new(width, height);
        for y in 4..height - 4 {
            image.put_pixel(width / 2, y, image::Luma([255]));
        }
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn a_drawn_stroke_is_prepared_from_memory() {
        let prepared = prepare_bytes(&png(40, 40)).unwrap();
        assert_eq!(prepared.pixels.len(), 28 * 28);
        assert!(!prepared.inverted, "light ink on black is MNIST's own way");
    }

    #[test]
    fn a_header_claiming_a_huge_image_is_refused_before_decoding() {
        let mut bytes = png(40, 40);
        // The IHDR chunk's width and height, then its CRC, which the decoder checks.
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let error = decode_image(&bytes).unwrap_err();
        assert!(matches!(error, ImageFileError::TooLarge { width: 100_000, height: 100_000 }), "{error}");
        assert_eq!(error.to_string(), "image is 100000x100000 pixels; the limit is 64 megapixels");
    }

    #[test]
    fn truncated_and_foreign_bytes_are_errors() {
        let bytes = png(40, 40);
        assert!(matches!(decode_image(&bytes[..bytes.len() / 2]), Err(ImageFileError::Unreadable(_))));
        assert!(matches!(decode_image(b"hello"), Err(ImageFileError::Unreadable(_))));
        assert!(matches!(prepare_bytes(&png_blank()), Err(ImageFileError::Prepare(PrepError::NoInk { .. }))));
    }

    fn png_blank() -> Vec<u8> {
        let mut bytes = Vec::new();
        image::GrayImage::new(30, 30).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }
}
