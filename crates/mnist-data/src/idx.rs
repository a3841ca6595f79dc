//! The IDX format of the MNIST files: two zero bytes, a type code, a dimension count, one
//! big-endian `u32` size per dimension, then the data in row-major order.
//!
//! Decoding never trusts the header: every size is checked against the bytes really present
//! before anything is allocated, and a gzip stream is never inflated past what the header
//! declares.

use std::io::{self, Read};

use flate2::read::GzDecoder;

use crate::error::IdxError;

/// The type code of unsigned-byte data, the only one MNIST uses.
pub const TYPE_U8: u8 = 0x08;
/// The most dimensions an unsigned-byte array may have here (images: count, rows, cols).
pub const MAX_DIMS: usize = 3;

/// Deflate cannot expand data by more than about 1032:1; a header that claims more than this
/// from a gzip file of a given size is lying, and is refused before anything is allocated.
const MAX_DEFLATE_RATIO: u64 = 1032;
/// Pre-allocate at most this much when the gzip trailer does not confirm the declared size.
const UNCONFIRMED_PREALLOCATION: usize = 64 << 20;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl IdxArray {
    /// An array from its dimensions and row-major data; `None` when they disagree or the
    /// dimension count is not 1 to 3.
    pub fn new(dims: Vec<usize>, data: Vec<u8>) -> Option<Self> {
        let len = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
        let dims_ok = (1..=MAX_DIMS).contains(&dims.len()) && dims.iter().all(|&d| d <= u32::MAX as usize);
        (dims_ok && len == data.len()).then_some(IdxArray { dims, data })
    }

    /// The size of each dimension, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The data, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Gives up the array, returning its dimensions and data.
    pub fn into_parts(self) -> (Vec<usize>, Vec<u8>) {
        (self.dims, self.data)
    }
}

/// Whether bytes start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decodes an IDX file held in memory, raw or gzip-compressed (told apart by content).
pub fn decode(bytes: Vec<u8>) -> Result<IdxArray, IdxError> {
    if bytes.is_empty() {
        return Err(IdxError::Empty);
    }
    if is_gzip(&bytes) { decode_gzip(&bytes) } else { decode_raw(bytes, 0) }
}

/// Encodes an array as a raw (uncompressed) IDX file of unsigned bytes.
pub fn encode(array: &IdxArray) -> Vec<u8> {
    let mut out = encode_header(array);
    out.extend_from_slice(&array.data);
    out
}

/// Encodes an array as a gzip-compressed IDX file (as MNIST is distributed), with a fixed gzip
/// header (no time stamp), so the same array always gives the same bytes.
#[expect(clippy::missing_panics_doc, reason = "writing to memory cannot fail")]
pub fn encode_gzip(array: &IdxArray) -> Vec<u8> {
    use std::io::Write;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(array.data.len() / 4), flate2::Compression::default());
    encoder.write_all(&encode_header(array)).expect("writing to memory cannot fail");
    encoder.write_all(&array.data).expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

/// The IDX header of an array: what precedes its data in a raw file.
pub fn encode_header(array: &IdxArray) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * array.dims.len() + array.data.len());
    out.extend_from_slice(&[0, 0, TYPE_U8, array.dims.len() as u8]);
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out
}

/// What the header says: the dimensions and the data size they imply.
struct Header {
    dims: Vec<usize>,
    len: usize,
    data_len: u64,
}

/// Decodes a raw IDX file that starts `skip` bytes into `bytes` (a cache file's payload).
pub(crate) fn decode_raw(mut bytes: Vec<u8>, skip: usize) -> Result<IdxArray, IdxError> {
    let header = read_header(&mut &bytes[skip..])?;
    let available = (bytes.len() - skip - header.len) as u64;
    if header.data_len > available {
        return Err(IdxError::Truncated { dims: header.dims, expected: header.data_len, available });
    }
    if header.data_len < available {
        return Err(IdxError::TrailingData { expected: header.data_len, extra: available - header.data_len });
    }
    bytes.drain(..skip + header.len);
    Ok(IdxArray { dims: header.dims, data: bytes })
}

fn decode_gzip(compressed: &[u8]) -> Result<IdxArray, IdxError> {
    let mut decoder = GzDecoder::new(compressed);
    let header = read_header(&mut decoder)?;
    let compressed_len = compressed.len() as u64;
    if header.data_len > compressed_len.saturating_mul(MAX_DEFLATE_RATIO) {
        return Err(IdxError::ImpossibleGzipSize { expected: header.data_len, compressed: compressed_len });
    }
    // The check above bounds data_len by memory we already hold a thousandth of, so it fits.
    let data_len = header.data_len as usize;
    let mut data = Vec::with_capacity(preallocation(compressed, header.len, data_len));
    // One byte more than declared: enough to notice a longer stream without inflating it all.
    let read = decoder.by_ref().take(header.data_len + 1).read_to_end(&mut data);
    match read {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && data.len() < data_len => {
            return Err(truncated(header, data.len()));
        }
        Err(e) => return Err(IdxError::Gzip(e)),
        Ok(_) => {}
    }
    if data.len() > data_len {
        return Err(IdxError::GzipTooLong { expected: header.data_len });
    }
    if data.len() < data_len {
        return Err(truncated(header, data.len()));
    }
    Ok(IdxArray { dims: header.dims, data })
}

fn truncated(header: Header, available: usize) -> IdxError {
    IdxError::Truncated { dims: header.dims, expected: header.data_len, available: available as u64 }
}

/// The gzip trailer's last four bytes hold the uncompressed size modulo 2^32. When it agrees
/// with the header, reserve the whole size at once; otherwise grow as the data really comes.
fn preallocation(compressed: &[u8], header_len: usize, data_len: usize) -> usize {
    let trailer = compressed.len().checked_sub(4).map(|at| &compressed[at..]);
    let isize = trailer.map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]));
    let declared_total = (header_len as u64 + data_len as u64) as u32;
    if isize == Some(declared_total) { data_len } else { data_len.min(UNCONFIRMED_PREALLOCATION) }
}

/// Bytes read from the start of a file before the rest, to learn its header.
pub(crate) const PREFIX_LEN: usize = 64 << 10;

/// Refuses, from its first bytes `prefix` and its length alone, a file larger than the data its
/// header declares: a raw file holds exactly header and data; a gzip file at most the data
/// stored uncompressed (deflate's worst case, 5 bytes per stored block of 65,535) and 64 KiB of
/// gzip header and trailer. A prefix that does not tell (a header in a gzip stream longer than
/// the prefix) is let through, to be decoded whole.
pub(crate) fn check_file_len(prefix: &[u8], file_len: u64) -> Result<(), IdxError> {
    if is_gzip(prefix) {
        let Ok(header) = read_header(&mut GzDecoder::new(prefix)) else { return Ok(()) };
        let largest = header.data_len.saturating_add((header.data_len / 65_535 + 1) * 5).saturating_add(64 << 10);
        if file_len > largest {
            return Err(IdxError::GzipFileTooLarge { declared: header.data_len, file: file_len });
        }
        return Ok(());
    }
    let Ok(header) = read_header(&mut &prefix[..]) else { return Ok(()) };
    let declared = header.len as u64 + header.data_len;
    if file_len > declared {
        return Err(IdxError::TrailingData { expected: header.data_len, extra: file_len - declared });
    }
    Ok(())
}

fn read_header(input: &mut impl Read) -> Result<Header, IdxError> {
    let mut magic = [0u8; 4];
    let got = read_up_to(input, &mut magic)?;
    if got == 0 {
        return Err(IdxError::Empty);
    }
    if magic[..got.min(2)].iter().any(|&b| b != 0) {
        return Err(IdxError::BadMagic { found: [magic[0], magic[1]] });
    }
    if got < 4 {
        return Err(IdxError::TruncatedHeader { needed: 4, available: got });
    }
    check_type(magic[2])?;
    let ndims = magic[3];
    if ndims == 0 || ndims as usize > MAX_DIMS {
        return Err(IdxError::BadDimensionCount(ndims));
    }
    let len = 4 + 4 * ndims as usize;
    let mut sizes = [0u8; 4 * MAX_DIMS];
    let sizes = &mut sizes[..4 * ndims as usize];
    let got = read_up_to(input, sizes)?;
    if got < sizes.len() {
        return Err(IdxError::TruncatedHeader { needed: len, available: 4 + got });
    }
    let raw: Vec<u32> = sizes.chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect();
    let data_len = raw.iter().try_fold(1u64, |n, &d| n.checked_mul(u64::from(d)));
    match data_len {
        Some(data_len) if usize::try_from(data_len).is_ok() => {
            Ok(Header { dims: raw.iter().map(|&d| d as usize).collect(), len, data_len })
        }
        _ => Err(IdxError::SizeOverflow { dims: raw }),
    }
}

fn check_type(code: u8) -> Result<(), IdxError> {
    let name = match code {
        TYPE_U8 => return Ok(()),
        0x09 => "signed byte",
        0x0b => "16-bit integer",
        0x0c => "32-bit integer",
        0x0d => "32-bit float",
        0x0e => "64-bit float",
        other => return Err(IdxError::UnknownType(other)),
    };
    Err(IdxError::UnsupportedType { code, name })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, IdxError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(IdxError::Gzip(e)),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn sample() -> IdxArray {
        IdxArray::new(vec![2, 3, 2], (0..12).collect()).unwrap()
    }

    #[test]
    fn raw_and_gzip_decode_to_the_same_array() {
        let raw = encode(&sample());
        assert_eq!(decode(raw.clone()).unwrap(), sample());
        assert_eq!(decode(gzip(&raw)).unwrap(), sample());
    }

    #[test]
    fn empty_input_is_refused() {
        assert!(matches!(decode(vec![]), Err(IdxError::Empty)));
        assert!(matches!(decode(gzip(&[])), Err(IdxError::Empty)));
    }

    #[test]
    fn bad_magic_is_refused() {
        assert!(matches!(decode(b"PK\x03\x04rest".to_vec()), Err(IdxError::BadMagic { found: [b'P', b'K'] })));
        assert!(matches!(decode(vec![0x50]), Err(IdxError::BadMagic { .. })));
        assert!(matches!(decode(vec![0]), Err(IdxError::TruncatedHeader { needed: 4, available: 1 })));
    }

    #[test]
    fn header_cut_short_is_refused() {
        assert!(matches!(decode(vec![0, 0, 8]), Err(IdxError::TruncatedHeader { needed: 4, available: 3 })));
        let err = decode(vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0]).unwrap_err();
        assert!(matches!(err, IdxError::TruncatedHeader { needed: 16, available: 10 }), "{err}");
    }

    #[test]
    fn type_codes_are_named() {
        let err = decode(vec![0, 0, 0x0d, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(matches!(err, IdxError::UnsupportedType { code: 0x0d, .. }));
        assert!(err.to_string().contains("32-bit float"), "{err}");
        assert!(matches!(decode(vec![0, 0, 0x42, 1, 0, 0, 0, 0]), Err(IdxError::UnknownType(0x42))));
    }

    #[test]
    fn dimension_count_must_be_one_to_three() {
        assert!(matches!(decode(vec![0, 0, 8, 0]), Err(IdxError::BadDimensionCount(0))));
        assert!(matches!(decode(vec![0, 0, 8, 4, 0, 0, 0, 1]), Err(IdxError::BadDimensionCount(4))));
    }

    #[test]
    fn overflowing_sizes_are_refused() {
        let mut bytes = vec![0, 0, 8, 3];
        for _ in 0..3 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        assert!(matches!(decode(bytes), Err(IdxError::SizeOverflow { .. })));
    }

    #[test]
    fn a_tiny_file_claiming_billions_fails_at_once() {
        // 18 bytes claiming 4e9 images of 1x1: refused by size, before any allocation.
        let mut bytes = vec![0, 0, 8, 3];
        for d in [4_000_000_000u32, 1, 1] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(&[7, 7]);
        assert_eq!(bytes.len(), 18);
        assert!(matches!(
            decode(bytes.clone()),
            Err(IdxError::Truncated { expected: 4_000_000_000, available: 2, .. })
        ));
        let err = decode(gzip(&bytes)).unwrap_err();
        assert!(matches!(err, IdxError::ImpossibleGzipSize { .. }), "{err}");
    }

    #[test]
    fn missing_and_trailing_data_are_refused() {
        let raw = encode(&sample());
        let short = raw[..raw.len() - 1].to_vec();
        assert!(matches!(decode(short.clone()), Err(IdxError::Truncated { expected: 12, available: 11, .. })));
        assert!(matches!(decode(gzip(&short)), Err(IdxError::Truncated { expected: 12, available: 11, .. })));
        let mut long = raw.clone();
        long.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(decode(long.clone()), Err(IdxError::TrailingData { expected: 12, extra: 3 })));
        assert!(matches!(decode(gzip(&long)), Err(IdxError::GzipTooLong { expected: 12 })));
    }

    #[test]
    fn gzip_stream_far_longer_than_declared_stops_early() {
        // Declares one byte but expands to 50 MB of zeros: refused after reading two.
        let mut raw = vec![0, 0, 8, 1, 0, 0, 0, 1];
        raw.resize(50 << 20, 0);
        assert!(matches!(decode(gzip(&raw)), Err(IdxError::GzipTooLong { expected: 1 })));
    }

    #[test]
    fn truncated_or_corrupt_gzip_is_refused() {
        let big = IdxArray::new(vec![4000], (0..4000).map(|i| (i * 7 % 251) as u8).collect()).unwrap();
        let compressed = gzip(&encode(&big));
        for cut in [11, 20, compressed.len() / 2, compressed.len() - 5, compressed.len() - 1] {
            let err = decode(compressed[..cut].to_vec()).unwrap_err();
            assert!(
                matches!(err, IdxError::Gzip(_) | IdxError::Truncated { .. } | IdxError::TruncatedHeader { .. }),
                "cut {cut}: {err}"
            );
        }
        let mut flipped = compressed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        assert!(decode(flipped).is_err());
        let mut bad_crc = compressed;
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 1;
        assert!(matches!(decode(bad_crc), Err(IdxError::Gzip(_))));
    }
}
