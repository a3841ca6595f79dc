//! The errors this crate returns. Every way an input can be wrong has its own variant, so a
//! caller can react to it and a user reads what exactly is wrong.

use std::io;
use std::path::PathBuf;

/// What is wrong with the bytes of an IDX file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// The input holds no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The input ends inside the IDX header.
    #[error("the IDX header is truncated: it needs {needed} bytes, the data holds {available}")]
    TruncatedHeader {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The first two bytes of the magic number are not zero.
    #[error(
        "not an IDX file: the magic number must start with two zero bytes, found 0x{:02x} 0x{:02x}",
        .found[0], .found[1]
    )]
    BadMagic {
        /// The first two bytes found.
        found: [u8; 2],
    },
    /// A type code the IDX format defines, but this crate does not read.
    #[error("IDX data type 0x{code:02x} ({name}) is not supported: only unsigned bytes (0x08) are")]
    UnsupportedType {
        /// The type code.
        code: u8,
        /// The format's name for it.
        name: &'static str,
    },
    /// A type code the IDX format does not define.
    #[error("unknown IDX data type 0x{0:02x} (the format defines 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)")]
    UnknownType(u8),
    /// Zero dimensions, or more than unsigned-byte data may have here.
    #[error("the IDX header declares {0} dimensions; unsigned-byte data must have 1 to 3")]
    BadDimensionCount(u8),
    /// The dimension sizes multiply to more than a `usize` (or `u64`) holds.
    #[error("the IDX dimension sizes {dims:?} multiply to more bytes than this machine can address")]
    SizeOverflow {
        /// The declared sizes.
        dims: Vec<u32>,
    },
    /// The header promises more data than the input holds.
    #[error(
        "the IDX header declares dimensions {dims:?} ({expected} bytes of data), but the data holds only {available} bytes"
    )]
    Truncated {
        /// The declared sizes.
        dims: Vec<usize>,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        available: u64,
    },
    /// The header promises more data than a gzip stream of this size can possibly expand to.
    #[error("the IDX header declares {expected} bytes of data, more than a {compressed}-byte gzip stream can hold")]
    ImpossibleGzipSize {
        /// Bytes the header promises.
        expected: u64,
        /// Size of the compressed input.
        compressed: u64,
    },
    /// Bytes follow the data the header declares.
    #[error("{extra} bytes of trailing data follow the {expected} bytes the IDX header declares")]
    TrailingData {
        /// Bytes the header declares.
        expected: u64,
        /// Bytes beyond them.
        extra: u64,
    },
    /// A gzip file is larger than the data its header declares could take even stored without
    /// compression: it was refused before being read.
    #[error(
        "the file holds {file} bytes, more than the {declared} bytes of data its IDX header declares could take \
         compressed (it was not read)"
    )]
    GzipFileTooLarge {
        /// Bytes of data the header declares.
        declared: u64,
        /// Bytes in the file.
        file: u64,
    },
    /// A gzip stream expands to more than the header declares; reading stopped there.
    #[error(
        "the gzip stream expands to more than the {expected} bytes of data its IDX header declares (reading stopped)"
    )]
    GzipTooLong {
        /// Bytes the header declares.
        expected: u64,
    },
    /// The gzip stream is corrupt or ends early.
    #[error("corrupt or truncated gzip stream: {0}")]
    Gzip(io::Error),
}

/// An error while loading a data set: a file that cannot be read or parsed, or files that do
/// not fit together.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Reading or writing a file failed.
    // The cause is part of the message rather than a `source()`, so that error chains printed
    // whole (anyhow's `{:#}`) do not say it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: io::Error,
    },
    /// A file is not a valid IDX file.
    #[error("{}: {error}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: IdxError,
    },
    /// A standard file is missing from a data directory.
    #[error(
        "{}: neither {name} nor {name}.gz is there (pass the directory that holds the MNIST files, or download them into it, \
         e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/; in the nn-mnist repository `cargo xtask fetch-data` does it)",
        dir.display()
    )]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The standard file name.
        name: &'static str,
    },
    /// An IDX array has the wrong number of dimensions for its role.
    #[error("{what} must have {expected} dimensions, found {found:?}")]
    WrongShape {
        /// "images" or "labels".
        what: &'static str,
        /// The expected number of dimensions.
        expected: usize,
        /// The dimensions found.
        found: Vec<usize>,
    },
    /// There are not as many labels as images.
    #[error("{images} images but {labels} labels")]
    CountMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is not below the class count.
    #[error("label {label} at index {index} is out of range: there are {classes} classes (0 to {})", classes - 1)]
    LabelOutOfRange {
        /// Position of the label.
        index: usize,
        /// Its value.
        label: u8,
        /// The class count.
        classes: usize,
    },
    /// The training and test images differ in size.
    #[error("training images are {train:?} pixels but test images are {test:?}")]
    ImageSizeMismatch {
        /// (rows, cols) of the training images.
        train: (usize, usize),
        /// (rows, cols) of the test images.
        test: (usize, usize),
    },
    /// A split asks for more samples than the set holds.
    #[error("cannot take {requested} samples from a set of {available}")]
    NotEnoughSamples {
        /// Samples asked for.
        requested: usize,
        /// Samples present.
        available: usize,
    },
    /// An images file and a labels file that do not fit together (swapped, of different
    /// lengths, ...): the fault, with the two files it concerns.
    #[error("{} and {}: {error}", images.display(), labels.display())]
    Pair {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// What is wrong.
        error: Box<DataError>,
    },
    /// A standard file is there both raw and gzip-compressed, with different content: which one
    /// is meant cannot be known.
    #[error(
        "{} and {} hold different data: remove the one that is out of date",
        raw.display(),
        gzip.display()
    )]
    ConflictingCopies {
        /// The raw file.
        raw: PathBuf,
        /// The gzip file.
        gzip: PathBuf,
    },
    /// A dataset with no classes, or more than 256.
    #[error("class count {0} is out of range: it must be 1 to 256")]
    BadClassCount(usize),
}
