//! Reading a photo, scan or drawing of a digit, bounded: the image's size is read from its
//! header and refused above [`MAX_PIXELS`] before anything is decoded, and the decoder's memory
//! is capped, so a small file that claims a huge image costs nothing. [`prepare_file`] and
//! [`prepare_bytes`] then make it an MNIST input with [`crate::prepare::prepare`].
//!
//! A truncated stream is refused in every format: the PNG decoder finds it itself, and
//! the reader checks that a JPEG reaches its end-of-image marker and that a BMP holds
//! the pixel array its header declares, since their decoders fill what is missing with grey.

use std::io::{BufRead, Cursor, Read, Seek};
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader};

use crate::prepare::{PrepError, Prepared, prepare};

/// Pixels an image may have (a 48-megapixel phone photo fits): larger ones are refused from
/// their header, before any is decoded.
pub const MAX_PIXELS: u64 = 64_000_000;

/// Memory the decoder may take: the largest image allowed, 16-bit RGBA. A file is read into
/// memory only up to this size too.
pub const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 8;

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
    /// The data stops before the end of the image: a file cut short, or a partial upload.
    #[error("truncated {format} image: {missing}")]
    Truncated {
        /// The format ("JPEG", "BMP").
        format: &'static str,
        /// What is missing ("no end-of-image marker (FF D9)").
        missing: String,
    },
    /// The file is larger than any image that may be decoded ([`MAX_DECODE_BYTES`] bytes).
    #[error("the file is over {} MB, larger than any image this reads", MAX_DECODE_BYTES / 1_000_000)]
    FileTooLarge,
    /// The image holds no digit that can be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepError),
}

/// Decodes an image file (PNG, JPEG or BMP; the format is told by the content, then the
/// extension), refusing one of more than [`MAX_PIXELS`] before decoding it, and a truncated one.
pub fn read_image(path: impl AsRef<Path>) -> Result<DynamicImage, ImageFileError> {
    let path = path.as_ref();
    // The header first, from the file as it is read: a huge image (or a device) costs nothing.
    let header = ImageReader::open(path).and_then(ImageReader::with_guessed_format).map_err(ImageFileError::Io)?;
    let format = header.format();
    match check_dimensions(header) {
        // A header of a known format that cannot be read may be a cut one: the whole stream
        // says which.
        Err(ImageFileError::Unreadable(_)) if format.is_some() => {}
        result => result?,
    }
    let file = std::fs::File::open(path).map_err(ImageFileError::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_DECODE_BYTES + 1).read_to_end(&mut bytes).map_err(ImageFileError::Io)?;
    if bytes.len() as u64 > MAX_DECODE_BYTES {
        return Err(ImageFileError::FileTooLarge);
    }
    decode_bounded(&bytes, format)
}

/// Decodes an image held in memory (PNG, JPEG or BMP, told by the content), refusing one of
/// more than [`MAX_PIXELS`] before decoding it, and a truncated one.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, ImageFileError> {
    decode_bounded(bytes, None)
}

/// Reads an image file and prepares it as an MNIST input.
pub fn prepare_file(path: impl AsRef<Path>) -> Result<Prepared, ImageFileError> {
    Ok(prepare(&read_image(path)?)?)
}

/// Decodes an image held in memory and prepares it as an MNIST input.
pub fn prepare_bytes(bytes: &[u8]) -> Result<Prepared, ImageFileError> {
    Ok(prepare(&decode_image(bytes)?)?)
}

/// Refuses an image whose header declares more than [`MAX_PIXELS`].
fn check_dimensions<R: BufRead + Seek>(header: ImageReader<R>) -> Result<(), ImageFileError> {
    let (width, height) = header.into_dimensions().map_err(ImageFileError::Unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageFileError::TooLarge { width, height });
    }
    Ok(())
}

/// The header is read by a first reader, the whole stream checked, and the image decoded by a
/// second reader, under limits. `fallback` is the format to assume when the content does not
/// tell (a file's extension).
fn decode_bounded(bytes: &[u8], fallback: Option<ImageFormat>) -> Result<DynamicImage, ImageFileError> {
    let open = || -> Result<ImageReader<Cursor<&[u8]>>, ImageFileError> {
        let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(ImageFileError::Io)?;
        if reader.format().is_none()
            && let Some(format) = fallback
        {
            reader.set_format(format);
        }
        Ok(reader)
    };
    let header = open()?;
    // First, so that a stream cut even in its header says so.
    check_complete(bytes, header.format())?;
    check_dimensions(header)?;
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(ImageFileError::Unreadable)
}

/// Refuses a stream that stops before its image does, in the formats whose decoders would
/// not say so (the PNG decoder does: every chunk has its length and CRC).
fn check_complete(bytes: &[u8], format: Option<ImageFormat>) -> Result<(), ImageFileError> {
    let (name, missing) = match format {
        Some(ImageFormat::Jpeg) => ("JPEG", jpeg_missing(bytes)),
        Some(ImageFormat::Bmp) => ("BMP", bmp_missing(bytes)),
        _ => return Ok(()),
    };
    match missing {
        Some(missing) => Err(ImageFileError::Truncated { format: name, missing }),
        None => Ok(()),
    }
}

/// What a JPEG stream lacks, if it stops before its end-of-image marker (FF D9): its segments
/// are walked by their lengths (so an embedded thumbnail's marker is skipped), and each scan's
/// entropy-coded data up to the next marker. Bytes after the marker are allowed (some cameras
/// and editors append data there).
fn jpeg_missing(bytes: &[u8]) -> Option<String> {
    const NO_END: &str = "the data stops before the end-of-image marker (FF D9)";
    const IN_SCAN: &str = "the data stops inside a scan, before the end-of-image marker (FF D9)";
    // After the start-of-image marker (FF D8), which told the format.
    let mut at = 2;
    loop {
        // The next marker: FF, any fill bytes FF, then its code. Stray bytes between segments
        // are skipped, as the decoder skips them.
        let Some(ff) = bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) else {
            return Some(NO_END.to_string());
        };
        let code_at = at + ff + 1 + bytes.get(at + ff + 1..).unwrap_or(&[]).iter().take_while(|&&b| b == 0xFF).count();
        let Some(&code) = bytes.get(code_at) else { return Some(NO_END.to_string()) };
        at = code_at + 1;
        match code {
            0xD9 => return None,
            // Markers without a length: start of image, restarts, TEM, and a stuffed zero.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let (Some(&high), Some(&low)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Some(format!("the data stops in the length of the segment of marker FF {code:02X}"));
        };
        let length = usize::from(u16::from_be_bytes([high, low]));
        let end = at + length;
        if end > bytes.len() {
            return Some(format!(
                "the segment of marker FF {code:02X} declares {length} bytes but {} are present",
                bytes.len() - at
            ));
        }
        at = end;
        if code == 0xDA {
            // A scan: entropy-coded data, where FF is followed by 00 (a stuffed byte), a restart
            // marker or fill, up to the next marker.
            loop {
                let Some(ff) = bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) else {
                    return Some(IN_SCAN.to_string());
                };
                let Some(&next) = bytes.get(at + ff + 1) else {
                    return Some(IN_SCAN.to_string());
                };
                match next {
                    0x00 | 0xD0..=0xD7 => at += ff + 2,
                    0xFF => at += ff + 1,
                    _ => {
                        at += ff;
                        break;
                    }
                }
            }
        }
    }
}

/// What a BMP lacks, if its pixel array is shorter than its header declares. Only the
/// uncompressed layouts are measured from the header's size (RLE ones by their declared size).
fn bmp_missing(bytes: &[u8]) -> Option<String> {
    let u16_at = |i: usize| bytes.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |i: usize| bytes.get(i..i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    // The header was read by the decoder; what it cannot tell is left to the decoder.
    let offset = u64::from(u32_at(10)?);
    let info_size = u32_at(14)?;
    let (width, height, bits, compression, image_size) = if info_size == 12 {
        (u64::from(u16_at(18)?), u64::from(u16_at(20)?), u64::from(u16_at(24)?), 0, 0)
    } else {
        let width = u64::from(u32_at(18)?.cast_signed().unsigned_abs());
        let height = u64::from(u32_at(22)?.cast_signed().unsigned_abs());
        (width, height, u64::from(u16_at(28)?), u32_at(30)?, u64::from(u32_at(34)?))
    };
    let needed = match compression {
        // BI_RGB and BI_BITFIELDS (and its alpha variant): rows padded to four bytes.
        0 | 3 | 6 => (width.checked_mul(bits)?.checked_add(31)? / 32 * 4).checked_mul(height)?,
        // RLE: only the size the header declares, when it declares one.
        _ => image_size,
    };
    let present = (bytes.len() as u64).saturating_sub(offset);
    (present < needed)
        .then(|| format!("the pixel array holds {present} bytes but the header declares {needed} (from byte {offset})"))
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
