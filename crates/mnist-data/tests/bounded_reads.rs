//! A file is read only when its length fits what its IDX header declares: gigabytes behind a
//! small header, or a device that never ends, are refused before they are read.

use std::fs;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_data::{DataError, IdxArray, IdxError, idx, read_idx_file};

/// Ten labels as a raw IDX file.
fn ten_labels() -> Vec<u8> {
    idx::encode(&IdxArray::new(vec![10], (0..10).collect()).unwrap())
}

#[test]
fn a_huge_raw_file_behind_a_small_header_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels-idx1-ubyte");
    fs::write(&path, ten_labels()).unwrap();
    assert_eq!(read_idx_file(&path).unwrap().data().len(), 10);
    // 8 GiB, sparse: reading it whole would take 8 GiB of memory.
    fs::File::options().write(true).open(&path).unwrap().set_len(8 << 30).unwrap();
    match read_idx_file(&path) {
        Err(DataError::Idx { error: IdxError::TrailingData { expected: 10, extra }, .. }) => {
            assert_eq!(extra, (8 << 30) - 18);
        }
        other => panic!("expected trailing data, got {other:?}"),
    }
}

#[test]
fn a_gzip_file_larger_than_its_data_stored_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels-idx1-ubyte.gz");
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&ten_labels()).unwrap();
    fs::write(&path, encoder.finish().unwrap()).unwrap();
    assert_eq!(read_idx_file(&path).unwrap().data().len(), 10);
    fs::File::options().write(true).open(&path).unwrap().set_len(8 << 30).unwrap();
    match read_idx_file(&path) {
        Err(DataError::Idx { error: IdxError::GzipFileTooLarge { declared: 10, file }, .. }) => {
            assert_eq!(file, 8 << 30);
        }
        other => panic!("expected a file too large, got {other:?}"),
    }
}

#[test]
fn a_device_is_not_read() {
    let zero = std::path::Path::new("/dev/zero");
    if !zero.exists() {
        return;
    }
    let error = read_idx_file(zero).unwrap_err();
    assert!(error.to_string().contains("not a regular file"), "{error}");
}
