//! Writing the four standard IDX files, raw or gzip-compressed.

use std::path::Path;

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
        let (file_name, bytes) = if gzip {
            (format!("{name}.gz"), idx::encode_gzip(&array))
        } else {
            (name.to_string(), idx::encode(&array))
        };
        let path = dir.join(file_name);
        write_atomically(&path, &bytes).map_err(|e| cause(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}
