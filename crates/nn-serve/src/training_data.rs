//! The data set the page's "Train here" panel trains on (`GET /api/training-data?part=NAME`):
//! the one the server was started with, as the four IDX files gzip-compressed (as MNIST is
//! distributed), made in memory when the server starts, and listed with their sizes and SHA-256
//! by `GET /api/engine`, so that the page can tell a truncated or corrupted download.

use axum::body::Bytes;
use mnist_data::Dataset;
use mnist_data::idx::{self, IdxArray};
use serde::Serialize;

use crate::ServeError;
use crate::model_file::{FileListing, sha256_hex};

/// The names of the four files, as `?part=` takes them, in the order the page's module numbers
/// them (`nn_data_part`).
pub const PARTS: [&str; 4] = ["train-images", "train-labels", "test-images", "test-labels"];

/// The most bytes one file may hold uncompressed: what the page's module accepts at once.
pub const MAX_PART_BYTES: usize = 256 << 20;

/// A data set offered to the page: 28x28 images labelled 0 to 9, training and test.
#[derive(Debug, Clone)]
pub struct TrainingData {
    parts: Vec<Part>,
    train_images: usize,
    test_images: usize,
}

#[derive(Debug, Clone)]
struct Part {
    gzip: Bytes,
    sha256: String,
}

impl TrainingData {
    /// The training and test sets as the page will receive them; refused unless they hold 28x28
    /// images of digits, and each file fits the page's module.
    pub fn new(train: &Dataset, test: &Dataset) -> Result<Self, ServeError> {
        for (name, set) in [("training", train), ("test", test)] {
            if (set.rows(), set.cols()) != (28, 28) {
                return Err(ServeError::TrainingData(format!(
                    "its {name} images are {}x{}, not 28x28",
                    set.rows(),
                    set.cols()
                )));
            }
            if set.classes() > 10 {
                return Err(ServeError::TrainingData(format!(
                    "its {name} set has {} classes, not 10 digits",
                    set.classes()
                )));
            }
            if set.is_empty() {
                return Err(ServeError::TrainingData(format!("its {name} set is empty")));
            }
        }
        let (train_images, train_labels) = train.to_idx();
        let (test_images, test_labels) = test.to_idx();
        let parts = [train_images, train_labels, test_images, test_labels]
            .iter()
            .zip(PARTS)
            .map(|(array, name)| part(array, name))
            .collect::<Result<_, _>>()?;
        Ok(TrainingData { parts, train_images: train.len(), test_images: test.len() })
    }

    /// Bytes sent for all four files.
    pub fn compressed_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.gzip.len()).sum()
    }

    /// The file `name` (one of [`PARTS`]), gzip-compressed.
    pub(crate) fn part(&self, name: &str) -> Option<Bytes> {
        PARTS.iter().position(|p| *p == name).map(|index| self.parts[index].gzip.clone())
    }

    /// What `GET /api/engine` says of it.
    pub(crate) fn listing(&self) -> DataListing {
        let parts = self
            .parts
            .iter()
            .zip(PARTS)
            .map(|(part, name)| FileListing {
                name: Some(name.to_string()),
                bytes: Some(part.gzip.len()),
                sha256: Some(part.sha256.clone()),
                not_offered: None,
            })
            .collect();
        DataListing { train_images: self.train_images, test_images: self.test_images, parts }
    }
}

fn part(array: &IdxArray, name: &str) -> Result<Part, ServeError> {
    let raw = array.data().len();
    if raw > MAX_PART_BYTES {
        return Err(ServeError::TrainingData(format!(
            "its {name} file holds {raw} bytes, over the {MAX_PART_BYTES} the page can take"
        )));
    }
    let gzip = idx::encode_gzip(array);
    Ok(Part { sha256: sha256_hex(&gzip), gzip: Bytes::from(gzip) })
}

/// The data set in `GET /api/engine`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DataListing {
    train_images: usize,
    test_images: usize,
    parts: Vec<FileListing>,
}
