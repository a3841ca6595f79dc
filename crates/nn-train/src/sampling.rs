//! How each epoch picks its training samples: a shuffle (every sample once, the usual way), or
//! independent draws with replacement (the PyTorch tutorial's `np.random.randint` loop).

use std::fmt;
use std::str::FromStr;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The order in which an epoch visits the training samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// A fresh permutation each epoch: every sample is learned from exactly once.
    #[default]
    Shuffle,
    /// As many samples per epoch as the set holds, each drawn uniformly and independently, so
    /// some come twice and about 1/e of them not at all (NumPy's
    /// `np.random.randint(0, n, size=batch)` at every step).
    Replacement,
}

impl Sampling {
    /// Both ways, in the order the help lists them.
    pub const ALL: [Sampling; 2] = [Sampling::Shuffle, Sampling::Replacement];

    /// The name used on the command line and in recipe files.
    pub fn name(self) -> &'static str {
        match self {
            Sampling::Shuffle => "shuffle",
            Sampling::Replacement => "replacement",
        }
    }

    /// Whether this is the default, which files leave out.
    pub fn is_shuffle(&self) -> bool {
        *self == Sampling::Shuffle
    }

    /// The samples of epoch `epoch` (from 0) of a set of `samples`, drawn from ChaCha8 seeded with
    /// `seed` on stream `epoch`: any epoch's order is recomputed without replaying the earlier
    /// ones, so a resumed run visits what an uninterrupted one does.
    pub fn epoch_order(self, order: &mut Vec<usize>, samples: usize, seed: u64, epoch: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(epoch as u64);
        order.clear();
        match self {
            Sampling::Shuffle => {
                order.extend(0..samples);
                // Fisher–Yates: position i swaps with a uniform j in 0..=i.
                for i in (1..samples).rev() {
                    order.swap(i, below(&mut rng, i + 1));
                }
            }
            Sampling::Replacement => order.extend((0..samples).map(|_| below(&mut rng, samples))),
        }
    }
}

/// A uniform integer in `0..n` by multiply-shift: ⌊r·n / 2⁶⁴⌋ (bias below 2⁻⁴⁰ for any data set).
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Sampling {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Sampling::ALL
            .into_iter()
            .find(|sampling| sampling.name() == name)
            .ok_or_else(|| format!("unknown sampling {name:?}: expected shuffle or replacement"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_visits_every_sample_once_and_changes_with_the_epoch() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        Sampling::Shuffle.epoch_order(&mut a, 1000, 7, 0);
        Sampling::Shuffle.epoch_order(&mut b, 1000, 7, 1);
        assert_ne!(a, b);
        Sampling::Shuffle.epoch_order(&mut b, 1000, 8, 0);
        assert_ne!(a, b);
        Sampling::Shuffle.epoch_order(&mut b, 0, 8, 0);
        assert!(b.is_empty());
        Sampling::Shuffle.epoch_order(&mut b, 1000, 7, 1);
        for order in [&mut a, &mut b] {
            order.sort_unstable();
            assert_eq!(*order, (0..1000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn draws_with_replacement_repeat_some_samples_and_miss_about_one_in_e() {
        let mut order = Vec::new();
        Sampling::Replacement.epoch_order(&mut order, 60_000, 1, 3);
        assert_eq!(order.len(), 60_000);
        assert!(order.iter().all(|&i| i < 60_000));
        let mut seen = vec![false; 60_000];
        order.iter().for_each(|&i| seen[i] = true);
        let missed = seen.iter().filter(|s| !**s).count() as f64 / 60_000.0;
        // (1 − 1/n)ⁿ → 1/e ≈ 0.368; the deviation of the fraction is about 0.002.
        assert!((missed - (-1.0f64).exp()).abs() < 0.01, "{missed}");
        let mut again = Vec::new();
        Sampling::Replacement.epoch_order(&mut again, 60_000, 1, 3);
        assert_eq!(order, again);
    }

    #[test]
    fn names_read_back() {
        for sampling in Sampling::ALL {
            assert_eq!(sampling.name().parse::<Sampling>(), Ok(sampling));
        }
        assert!("randint".parse::<Sampling>().unwrap_err().contains("shuffle or replacement"));
    }
}
