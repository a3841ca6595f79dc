//! Loading a directory that holds the four standard MNIST files.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::cache;
use crate::dataset::Dataset;
use crate::error::DataError;
use crate::idx::{self, IdxArray};

/// Training images, (60000, 28, 28) for MNIST.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels, (60000).
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images, (10000, 28, 28).
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels, (10000).
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// The four standard file names, each found raw or with `.gz`.
pub const FILE_NAMES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// How to load files. The default reads the files and writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Read and write a decompressed copy of each gzip file in [`cache::CACHE_DIR`] beside it,
    /// so that later loads skip gzip (70,000 MNIST images then load in milliseconds). Off by
    /// default: a library should not write into a data directory unless asked to.
    pub cache: bool,
}

impl LoadOptions {
    /// With the decompressed cache on.
    pub fn cached() -> Self {
        LoadOptions { cache: true }
    }
}

/// The MNIST training and test sets (or any data set in the same four files, such as
/// Fashion-MNIST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The 60,000 training images.
    pub train: Dataset,
    /// The 10,000 test images.
    pub test: Dataset,
}

impl Mnist {
    /// Loads the four files from `dir`, writing nothing ([`Mnist::load_with`] and
    /// [`LoadOptions::cached`] keep a decompressed cache).
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, DataError> {
        Mnist::load_with(dir, LoadOptions::default())
    }

    /// Loads the four files from `dir`. The class count comes from the training labels; a test
    /// label outside it is an error.
    #[expect(clippy::missing_panics_doc, reason = "the loading thread returns errors, it does not panic")]
    pub fn load_with(dir: impl AsRef<Path>, options: LoadOptions) -> Result<Mnist, DataError> {
        let dir = dir.as_ref();
        let paths = FILE_NAMES.map(|name| find_file(dir, name));
        let [train_images, train_labels, test_images, test_labels] = paths;
        let paths = [train_images?, train_labels?, test_images?, test_labels?];
        // The big file decompresses on its own thread while this one reads the other three.
        let (train_images, rest) = std::thread::scope(|scope| {
            let big = scope.spawn(|| read_standard_file(&paths[0], options));
            let rest = [&paths[1], &paths[2], &paths[3]].map(|p| read_standard_file(p, options));
            (big.join().expect("a loading thread does not panic"), rest)
        });
        let [train_labels, test_images, test_labels] = rest;
        let pair = |error: DataError, images: &Path, labels: &Path| DataError::Pair {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            error: Box::new(error),
        };
        let train = Dataset::from_idx(train_images?, train_labels?, None).map_err(|e| pair(e, &paths[0], &paths[1]))?;
        let test = Dataset::from_idx(test_images?, test_labels?, Some(train.classes()))
            .map_err(|e| pair(e, &paths[2], &paths[3]))?;
        if (train.rows(), train.cols()) != (test.rows(), test.cols()) {
            return Err(DataError::ImageSizeMismatch {
                train: (train.rows(), train.cols()),
                test: (test.rows(), test.cols()),
            });
        }
        Ok(Mnist { train, test })
    }
}

/// The path of a standard file in `dir`: `name` if present, else `name.gz`.
pub fn find_file(dir: &Path, name: &'static str) -> Result<PathBuf, DataError> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile { dir: dir.to_path_buf(), name })
}

/// Reads a standard file found by [`find_file`]. When the raw file has a `.gz` twin, both are
/// read and must hold the same array: with two different copies, which one is meant cannot be
/// known.
fn read_standard_file(path: &Path, options: LoadOptions) -> Result<IdxArray, DataError> {
    let array = read_idx_file_with(path, options)?;
    let mut gzip = path.as_os_str().to_os_string();
    gzip.push(".gz");
    let gzip = PathBuf::from(gzip);
    if path.extension().is_none_or(|e| e != "gz") && gzip.is_file() {
        let twin = read_idx_file_with(&gzip, options);
        if twin.ok().as_ref() != Some(&array) {
            return Err(DataError::ConflictingCopies { raw: path.to_path_buf(), gzip });
        }
    }
    Ok(array)
}

/// Reads and validates one IDX file, raw or gzip, without the cache.
pub fn read_idx_file(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    read_idx_file_with(path.as_ref(), LoadOptions::default())
}

/// The bytes of an IDX file, read only once its header and length show that they are what the
/// header declares: a device that never ends (`/dev/zero`) or gigabytes behind a small header
/// are refused before they are read.
fn read_bounded(path: &Path, meta: &fs::Metadata) -> Result<Vec<u8>, DataError> {
    let io_error = |error| DataError::Io { path: path.to_path_buf(), error };
    if !meta.is_file() {
        let not_a_file =
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file (IDX data is read from files)");
        return Err(io_error(not_a_file));
    }
    let mut prefix = Vec::with_capacity(idx::PREFIX_LEN);
    fs::File::open(path)
        .and_then(|file| file.take(idx::PREFIX_LEN as u64).read_to_end(&mut prefix))
        .map_err(io_error)?;
    idx::check_file_len(&prefix, meta.len()).map_err(|error| DataError::Idx { path: path.to_path_buf(), error })?;
    fs::read(path).map_err(io_error)
}

/// Reads and validates one IDX file. With the cache on, a gzip file is decompressed once and
/// its validated content kept in [`cache::CACHE_DIR`] beside it.
pub fn read_idx_file_with(path: &Path, options: LoadOptions) -> Result<IdxArray, DataError> {
    let io_error = |error| DataError::Io { path: path.to_path_buf(), error };
    let meta = fs::metadata(path).map_err(io_error)?;
    if options.cache
        && let Some(array) = cache::read(path, &meta)
    {
        return Ok(array);
    }
    let bytes = read_bounded(path, &meta)?;
    let compressed = idx::is_gzip(&bytes);
    let array = idx::decode(bytes).map_err(|error| DataError::Idx { path: path.to_path_buf(), error })?;
    if options.cache && compressed {
        // A cache that cannot be written (read-only mirror, full disk) costs only speed.
        let _ = cache::write(path, &meta, &array);
    }
    Ok(array)
}
