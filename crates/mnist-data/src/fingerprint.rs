//! A data set's fingerprint: the SHA-256 of its images and labels, so that a program can tell
//! that a training resumes on the data it started with, and not on a set of another size or one
//! edited in place.

use sha2::{Digest, Sha256};

use crate::Dataset;

/// `sha256:` and the hash of `parts` taken as one set, in order: their shape (images, rows,
/// columns, classes), then every pixel, then every label. The same images and labels give the
/// same fingerprint however the set was cut into parts (a training split and its validation
/// images), and any changed pixel or label gives another.
pub fn fingerprint(parts: &[&Dataset]) -> String {
    let mut hasher = Sha256::new();
    let images: usize = parts.iter().map(|p| p.len()).sum();
    let (rows, cols, classes) = parts.first().map_or((0, 0, 0), |p| (p.rows(), p.cols(), p.classes()));
    for number in [images, rows, cols, classes] {
        hasher.update((number as u64).to_le_bytes());
    }
    for part in parts {
        hasher.update(part.pixels());
    }
    for part in parts {
        hasher.update(part.labels());
    }
    let digest = hasher.finalize();
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pixels: Vec<u8>, labels: Vec<u8>) -> Dataset {
        Dataset::new(pixels, 1, 2, labels, 3).unwrap()
    }

    #[test]
    fn the_same_images_in_any_parts_give_the_same_fingerprint_and_any_change_another() {
        let whole = set(vec![1, 2, 3, 4, 5, 6], vec![0, 1, 2]);
        let (train, validation) = whole.split_validation(1).unwrap();
        assert_eq!(fingerprint(&[&whole]), fingerprint(&[&train, &validation]));
        assert!(fingerprint(&[&whole]).starts_with("sha256:") && fingerprint(&[&whole]).len() == 7 + 64);
        let pixel = set(vec![1, 2, 3, 4, 5, 7], vec![0, 1, 2]);
        let label = set(vec![1, 2, 3, 4, 5, 6], vec![0, 1, 1]);
        let fewer = set(vec![1, 2, 3, 4], vec![0, 1]);
        for other in [pixel, label, fewer] {
            assert_ne!(fingerprint(&[&whole]), fingerprint(&[&other]));
        }
        // The boundary between pixels and labels is fixed by the shape: moving bytes across it shows.
        let a = Dataset::new(vec![1, 2], 1, 2, vec![0], 3).unwrap();
        let b = Dataset::new(vec![1, 2, 0, 0], 1, 2, vec![0, 0], 3).unwrap();
        assert_ne!(fingerprint(&[&a]), fingerprint(&[&b]));
    }
}
