//! Writing the four standard IDX files, raw or gzip-compressed.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{Result, cause};
use crate::atomic_write::write_atomically;
use crate::{Mnist, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, idx};

/// Writes `train-images-idx3-ubyte`, ... into `dir` (which exists), with `.gz` when `gzip`.
pub fn write(mnist: &Mnist, dir: &Path, gzip: bool) -> Result<()> {
    let (train_images, train_labels) = mnist.train.to_idx();
    let (test_images, test_labels) = mnist.test.to_idx();
    let files = [
        (TRAIN_IMAGES, train_images),
        (TRAIN_LABELS, train_labels),
        (TEST_IMAGES, test_images),
        (TEST_LABELS, test_labels),
    ];
    for (name, array) in files {
        let raw = idx::encode(&array);
        let (file_name, bytes) = if gzip { (format!("{name}.gz"), gzip_bytes(&raw)?) } else { (name.to_string(), raw) };
        let path = dir.join(file_name);
        write_atomically(&path, &bytes).map_err(|e| cause(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}

/// Gzip with a fixed header (no time stamp), so the same data always gives the same bytes.
fn gzip_bytes(raw: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::default());
    encoder.write_all(raw).and_then(|()| encoder.finish()).map_err(|e| cause("cannot compress", e))
}
