//! The decompressed cache, when asked for: written on the first load of a gzip file, used
//! afterwards, and rebuilt when stale or corrupt, never trusted blindly. Without it nothing is
//! written.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_data::cache::cache_path;
use mnist_data::{IdxArray, LoadOptions, read_idx_file, read_idx_file_with};

/// Reads `source` with the cache on.
fn read_cached(source: &Path) -> Result<IdxArray, mnist_data::DataError> {
    read_idx_file_with(source, LoadOptions::cached())
}

fn write_gz(path: &Path, array: &IdxArray) {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&mnist_data::idx::encode(array)).unwrap();
    fs::write(path, encoder.finish().unwrap()).unwrap();
}

fn array(seed: u8) -> IdxArray {
    IdxArray::new(vec![5, 4, 4], (0..80).map(|i: u8| i.wrapping_mul(seed)).collect()).unwrap()
}

#[test]
fn the_cache_is_written_only_when_asked_and_then_used() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("images.gz");
    write_gz(&source, &array(3));
    assert_eq!(read_idx_file(&source).unwrap(), array(3));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "by default nothing but the source is there");
    assert_eq!(read_cached(&source).unwrap(), array(3));
    let cache = cache_path(&source);
    assert!(cache.is_file(), "no cache at {}", cache.display());
    let written = fs::metadata(&cache).unwrap().modified().unwrap();
    assert_eq!(read_cached(&source).unwrap(), array(3));
    assert_eq!(fs::metadata(&cache).unwrap().modified().unwrap(), written, "a valid cache is not rewritten");
    assert_eq!(read_idx_file_with(&source, LoadOptions::default()).unwrap(), array(3));
}

#[test]
fn raw_files_need_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("images");
    fs::write(&source, mnist_data::idx::encode(&array(3))).unwrap();
    assert_eq!(read_cached(&source).unwrap(), array(3));
    assert!(!cache_path(&source).exists());
}

#[test]
fn a_changed_source_makes_the_cache_stale() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("images.gz");
    write_gz(&source, &array(3));
    read_cached(&source).unwrap();
    write_gz(&source, &array(5));
    // Make sure the time differs even on coarse file systems.
    let later = SystemTime::now() + Duration::from_secs(5);
    fs::File::options().write(true).open(&source).unwrap().set_modified(later).unwrap();
    assert_eq!(read_cached(&source).unwrap(), array(5));
    assert_eq!(read_cached(&source).unwrap(), array(5));
}

#[test]
fn a_corrupt_cache_is_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("images.gz");
    write_gz(&source, &array(7));
    read_cached(&source).unwrap();
    let cache = cache_path(&source);
    let good_cache = fs::read(&cache).unwrap();
    for damage in [0, 20, 45, good_cache.len() - 1] {
        let mut bad = good_cache.clone();
        bad[damage] ^= 0x40;
        fs::write(&cache, &bad).unwrap();
        assert_eq!(read_cached(&source).unwrap(), array(7), "damage at {damage}");
        assert_eq!(fs::read(&cache).unwrap(), good_cache, "rebuilt after damage at {damage}");
    }
    fs::write(&cache, &good_cache[..30]).unwrap();
    assert_eq!(read_cached(&source).unwrap(), array(7));
    fs::write(&cache, b"").unwrap();
    assert_eq!(read_cached(&source).unwrap(), array(7));
}

#[test]
fn a_bad_source_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("images.gz");
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&[0, 0, 8, 1, 0, 0, 0, 9, 1, 2]).unwrap();
    fs::write(&source, encoder.finish().unwrap()).unwrap();
    assert!(read_cached(&source).is_err());
    assert!(!cache_path(&source).exists());
}
