//! A data directory whose files do not fit together is refused with the files named: swapped
//! images and labels, and a raw file beside a `.gz` copy of other content.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_data::{DataError, FILE_NAMES, Mnist, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, find_file};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100")
}

fn copy_fixture(to: &Path) {
    for name in FILE_NAMES {
        fs::copy(find_file(&fixture(), name).unwrap(), to.join(name)).unwrap();
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn swapped_images_and_labels_are_named() {
    let data = tempfile::tempdir().unwrap();
    copy_fixture(data.path());
    let (images, labels) = (data.path().join(TRAIN_IMAGES), data.path().join(TRAIN_LABELS));
    let image_bytes = fs::read(&images).unwrap();
    fs::copy(&labels, &images).unwrap();
    fs::write(&labels, image_bytes).unwrap();
    let error = Mnist::load(data.path()).unwrap_err();
    assert!(matches!(error, DataError::Pair { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(TRAIN_IMAGES) && message.contains(TRAIN_LABELS), "{message}");
    assert!(message.contains("must have 3 dimensions"), "{message}");
}

#[test]
fn a_gzip_twin_of_other_content_is_refused_and_a_faithful_one_is_accepted() {
    let data = tempfile::tempdir().unwrap();
    copy_fixture(data.path());
    let labels = data.path().join(TEST_LABELS);
    let twin = data.path().join(format!("{}.gz", TEST_LABELS));
    let mut bytes = fs::read(&labels).unwrap();
    fs::write(&twin, gzip(&bytes)).unwrap();
    Mnist::load(data.path()).expect("a faithful copy is no conflict");

    *bytes.last_mut().unwrap() ^= 1;
    fs::write(&twin, gzip(&bytes)).unwrap();
    let error = Mnist::load(data.path()).unwrap_err();
    assert!(matches!(error, DataError::ConflictingCopies { .. }), "{error:?}");
    assert!(error.to_string().contains("hold different data"), "{error}");
}
