//! Every hand-made bad file in `fixtures/malformed/` is refused with the error that names its
//! fault (regenerate them with `cargo xtask fixtures`).
//!
//! Workspace-only: `fixtures/` lives at the workspace root, so this file is left out of the
//! published crate (`exclude` in Cargo.toml).

use std::path::PathBuf;

use mnist_data::{DataError, IdxError, LoadOptions, read_idx_file_with};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/malformed").join(name)
}

fn idx_error(name: &str) -> IdxError {
    match read_idx_file_with(&fixture(name), LoadOptions { cache: false }) {
        Err(DataError::Idx { error, path }) => {
            assert!(path.ends_with(name));
            error
        }
        other => panic!("{name}: expected an IDX error, got {other:?}"),
    }
}

type ErrorCheck = fn(&IdxError) -> bool;

#[test]
fn each_malformed_file_gets_its_own_error() {
    use IdxError::*;
    let cases: Vec<(&str, ErrorCheck)> = vec![
        ("empty.idx", |e| matches!(e, Empty)),
        ("bad-magic.idx", |e| matches!(e, BadMagic { found: [b'G', b'I'] })),
        ("truncated-header.idx", |e| matches!(e, TruncatedHeader { needed: 16, available: 10 })),
        ("float-type.idx", |e| matches!(e, UnsupportedType { code: 0x0d, name: "32-bit float" })),
        ("unknown-type.idx", |e| matches!(e, UnknownType(0x07))),
        ("zero-dimensions.idx", |e| matches!(e, BadDimensionCount(0))),
        ("four-dimensions.idx", |e| matches!(e, BadDimensionCount(4))),
        ("size-overflow.idx", |e| matches!(e, SizeOverflow { .. })),
        ("huge-claim.idx", |e| matches!(e, Truncated { expected: 4_000_000_000, available: 2, .. })),
        ("huge-claim.gz", |e| matches!(e, ImpossibleGzipSize { expected: 4_000_000_000, .. })),
        ("truncated-data.idx", |e| matches!(e, Truncated { expected: 48, available: 43, .. })),
        ("trailing-data.idx", |e| matches!(e, TrailingData { expected: 48, extra: 5 })),
        ("truncated.gz", |e| matches!(e, Truncated { expected: 48, .. } | Gzip(_))),
        ("corrupt.gz", |e| matches!(e, Gzip(_))),
        ("crc-mismatch.gz", |e| matches!(e, Gzip(_))),
        ("expands-past-header.gz", |e| matches!(e, GzipTooLong { expected: 1 })),
    ];
    for (name, expected) in cases {
        let error = idx_error(name);
        assert!(expected(&error), "{name}: unexpected error {error:?}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn messages_name_the_fault() {
    let message = |name| idx_error(name).to_string();
    assert!(message("float-type.idx").contains("0x0d (32-bit float)"));
    assert!(message("unknown-type.idx").contains("0x07"));
    assert!(message("huge-claim.idx").contains("4000000000"));
    assert!(message("trailing-data.idx").contains("trailing"));
    assert!(message("crc-mismatch.gz").contains("gzip"));
}

#[test]
fn labels_out_of_range_are_refused_against_the_class_count() {
    let labels = read_idx_file_with(&fixture("labels-out-of-range-idx1-ubyte"), LoadOptions { cache: false }).unwrap();
    let images = mnist_data::IdxArray::new(vec![4, 1, 1], vec![0; 4]).unwrap();
    let err = mnist_data::Dataset::from_idx(images, labels, Some(10)).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { index: 2, label: 200, classes: 10 }), "{err}");
}

#[test]
fn a_missing_file_says_how_to_get_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let err = mnist_data::Mnist::load(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { name: mnist_data::TRAIN_IMAGES, .. }));
    assert!(err.to_string().contains("cargo xtask fetch-data"));
}
