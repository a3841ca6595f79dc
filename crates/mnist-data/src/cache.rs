//! A decompressed copy of each gzip file, kept beside the data so later loads skip gzip.
//!
//! A cache file is never trusted blindly: it records the size and modification time of the
//! file it was made from and a CRC-32 of its payload, and its payload is parsed and validated
//! as IDX again. Anything that does not match is ignored and rebuilt.

use std::fs::{self, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::idx::{self, IdxArray};

/// The folder, inside the data directory, that holds the cache files.
pub const CACHE_DIR: &str = ".idx-cache";
const MAGIC: &[u8; 8] = b"IDXCACH1";
/// magic, source size, source mtime (seconds, nanoseconds), payload CRC-32, payload size.
const HEADER_LEN: usize = 8 + 8 + 8 + 4 + 4 + 8;

/// Where the cache of `source` lives.
pub fn cache_path(source: &Path) -> PathBuf {
    let name = source.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    source.with_file_name(CACHE_DIR).join(format!("{stem}.cache"))
}

/// The fingerprint of a source file: its size and modification time.
fn fingerprint(meta: &Metadata) -> Option<[u8; 20]> {
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    let mut out = [0u8; 20];
    out[..8].copy_from_slice(&meta.len().to_le_bytes());
    out[8..16].copy_from_slice(&mtime.as_secs().to_le_bytes());
    out[16..].copy_from_slice(&mtime.subsec_nanos().to_le_bytes());
    Some(out)
}

/// The cached array for `source`, if a valid, fresh cache exists.
pub(crate) fn read(source: &Path, meta: &Metadata) -> Option<IdxArray> {
    let expected = fingerprint(meta)?;
    let bytes = fs::read(cache_path(source)).ok()?;
    let header = bytes.get(..HEADER_LEN)?;
    if &header[..8] != MAGIC || header[8..28] != expected {
        return None;
    }
    let crc = u32::from_le_bytes(header[28..32].try_into().ok()?);
    let payload_len = u64::from_le_bytes(header[32..40].try_into().ok()?);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != payload_len || crc32fast::hash(payload) != crc {
        return None;
    }
    idx::decode_raw(bytes, HEADER_LEN).ok()
}

/// Writes the cache of `source` atomically. Failure (a read-only directory, a full disk) only
/// means the next load decompresses again, so it is reported to the caller to ignore.
pub(crate) fn write(source: &Path, meta: &Metadata, array: &IdxArray) -> std::io::Result<()> {
    let fingerprint = fingerprint(meta).ok_or_else(|| std::io::Error::other("no modification time"))?;
    let path = cache_path(source);
    let dir = path.parent().expect("a cache path has a parent");
    fs::create_dir_all(dir)?;
    let idx_header = idx::encode_header(array);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&idx_header);
    crc.update(array.data());
    let payload_len = (idx_header.len() + array.data().len()) as u64;

    crate::atomic_write::write_atomically_with(&path, |out| {
        out.write_all(MAGIC)?;
        out.write_all(&fingerprint)?;
        out.write_all(&crc.finalize().to_le_bytes())?;
        out.write_all(&payload_len.to_le_bytes())?;
        out.write_all(&idx_header)?;
        out.write_all(array.data())
    })
}
