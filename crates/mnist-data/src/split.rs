//! Seeded shuffling and the train/validation split.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::Dataset;
use crate::error::DataError;

/// The usual validation set: the last 10,000 of MNIST's 60,000 training images (50k/10k).
pub const DEFAULT_VALIDATION_SIZE: usize = 10_000;

/// A permutation of `0..len` that depends only on `seed` (ChaCha8, so it is the same on every
/// platform).
pub fn shuffled_indices(len: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..len).collect();
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    indices
}

impl Dataset {
    /// The same images in an order fixed by `seed`.
    #[expect(clippy::missing_panics_doc, reason = "a permutation's indices are in range")]
    pub fn shuffled(&self, seed: u64) -> Dataset {
        self.select(&shuffled_indices(self.len(), seed)).expect("a permutation's indices are in range")
    }

    /// Splits off the last `validation` images as a validation set: `(train, validation)`.
    pub fn split_validation(&self, validation: usize) -> Result<(Dataset, Dataset), DataError> {
        let train = self
            .len()
            .checked_sub(validation)
            .ok_or(DataError::NotEnoughSamples { requested: validation, available: self.len() })?;
        self.split_at(train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffling_is_a_seeded_permutation() {
        let a = shuffled_indices(100, 7);
        assert_eq!(a, shuffled_indices(100, 7));
        assert_ne!(a, shuffled_indices(100, 8));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn validation_is_the_tail() {
        let set = Dataset::new((0..10).collect(), 1, 1, (0..10).collect(), 10).unwrap();
        let (train, validation) = set.split_validation(3).unwrap();
        assert_eq!(train.labels(), &[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(validation.labels(), &[7, 8, 9]);
        assert!(set.split_validation(11).is_err());
        let shuffled = set.shuffled(1);
        assert_eq!(shuffled.len(), 10);
        assert_eq!(shuffled.pixels(), shuffled.labels());
    }
}
