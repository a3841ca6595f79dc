//! `cargo xtask fixtures`: regenerates `fixtures/` so it never drifts from what made it.
//!
//! - `fixtures/mnist-100/`: the first 100 training and 100 test images of the real data, as
//!   raw IDX files with the standard names (a directory `Mnist::load` and `--data` accept).
//! - `fixtures/malformed/`: one hand-made bad file for every error the IDX reader reports.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use mnist_data::{IdxArray, Mnist, idx};

use crate::project_root;

pub fn run(from: &Path) -> Result<()> {
    let fixtures = project_root().join("fixtures");
    let mnist = Mnist::load(from).with_context(|| format!("cannot load MNIST from {}", from.display()))?;
    let slice = fixtures.join("mnist-100");
    fs::create_dir_all(&slice)?;
    let train = mnist.train.take(100)?;
    let test = mnist.test.take(100)?;
    for (set, images_name, labels_name) in [
        (&train, mnist_data::TRAIN_IMAGES, mnist_data::TRAIN_LABELS),
        (&test, mnist_data::TEST_IMAGES, mnist_data::TEST_LABELS),
    ] {
        let (images, labels) = set.to_idx();
        fs::write(slice.join(images_name), idx::encode(&images))?;
        fs::write(slice.join(labels_name), idx::encode(&labels))?;
    }
    eprintln!("wrote {}", slice.display());

    let malformed = fixtures.join("malformed");
    fs::create_dir_all(&malformed)?;
    for (name, bytes) in malformed_files() {
        fs::write(malformed.join(name), bytes)?;
    }
    eprintln!("wrote {}", malformed.display());
    Ok(())
}

fn header(type_code: u8, dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn with_data(mut header: Vec<u8>, data_len: usize) -> Vec<u8> {
    header.extend((0..data_len).map(|i| (i * 37 % 256) as u8));
    header
}

/// The bad files, each named after what is wrong with it.
fn malformed_files() -> Vec<(&'static str, Vec<u8>)> {
    let good = idx::encode(&IdxArray::new(vec![3, 4, 4], (0..48).collect()).expect("consistent"));
    let good_gz = gzip(&good);
    let mut corrupt_gz = good_gz.clone();
    let middle = corrupt_gz.len() / 2;
    corrupt_gz[middle] ^= 0xff;
    let mut bad_crc_gz = good_gz.clone();
    let crc_at = bad_crc_gz.len() - 8;
    bad_crc_gz[crc_at] ^= 1;
    let huge_claim = with_data(header(0x08, &[4_000_000_000, 1, 1]), 2);
    vec![
        ("empty.idx", vec![]),
        ("bad-magic.idx", b"GIF89a not an idx file".to_vec()),
        ("truncated-header.idx", vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0]),
        ("float-type.idx", with_data(header(0x0d, &[2]), 8)),
        ("unknown-type.idx", with_data(header(0x07, &[2]), 2)),
        ("zero-dimensions.idx", header(0x08, &[])),
        ("four-dimensions.idx", with_data(header(0x08, &[1, 1, 1, 1]), 1)),
        ("size-overflow.idx", header(0x08, &[u32::MAX, u32::MAX, u32::MAX])),
        ("huge-claim.idx", huge_claim.clone()),
        ("huge-claim.gz", gzip(&huge_claim)),
        ("truncated-data.idx", good[..good.len() - 5].to_vec()),
        ("trailing-data.idx", [&good[..], b"extra"].concat()),
        ("truncated.gz", good_gz[..good_gz.len() / 2].to_vec()),
        ("corrupt.gz", corrupt_gz),
        ("crc-mismatch.gz", bad_crc_gz),
        // Declares one byte, expands to a megabyte of zeros.
        (
            "expands-past-header.gz",
            gzip(&with_data(header(0x08, &[1]), 0).into_iter().chain(vec![0; 1 << 20]).collect::<Vec<_>>()),
        ),
        ("labels-out-of-range-idx1-ubyte", [header(0x08, &[4]), vec![1, 2, 200, 3]].concat()),
    ]
}
