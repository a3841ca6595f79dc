//! How a recipe's test accuracy varies with the seed, as measured here, and what to say when a
//! run ends far below the published number.

use std::fmt;

use nn_core::{Activation, Init};

use super::Recipe;

/// Test accuracies of one recipe over seeds 1 to `seeds` on the full MNIST (`cargo xtask
/// reproduce NAME --seeds N`), as fractions 0 to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedSpread {
    /// How many seeds (1 to `seeds`).
    pub seeds: usize,
    /// The lowest final test accuracy.
    pub min: f32,
    /// The highest.
    pub max: f32,
    /// Their mean.
    pub mean: f32,
    /// When and where it was measured.
    pub measured: String,
}

impl fmt::Display for SeedSpread {
    /// `seeds 1-10: 85.37-96.55%, mean 92.56%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeds 1-{}: {:.2}-{:.2}%, mean {:.2}%",
            self.seeds,
            100.0 * self.min,
            100.0 * self.max,
            100.0 * self.mean
        )
    }
}

/// A final test accuracy this many points (fractions: 0.01 is one point) below the published
/// one is not the usual difference between seeds, hardware or rounding: it is said.
pub const SHORTFALL: f32 = 0.01;

impl Recipe {
    /// What to tell a user whose unchanged run of this recipe on the full data ended at
    /// `accuracy`, when that is more than [`SHORTFALL`] below the published number, with the
    /// spread measured over seeds if there is one; `None` otherwise.
    pub fn shortfall(&self, accuracy: f32) -> Option<String> {
        let published = self.published.as_ref()?;
        // Not "below the spread": a spread over seeds can hold the stalled runs themselves.
        if accuracy >= published.accuracy - SHORTFALL {
            return None;
        }
        let spread = self.seed_spread.as_ref().map_or(String::new(), |s| format!("; here over {s}"));
        Some(format!(
            "this run ended at {:.2}%, well below the {:.2}% published for {} ({}){spread}. {}",
            100.0 * accuracy,
            100.0 * published.accuracy,
            self.name,
            published.source,
            self.likely_cause()
        ))
    }

    /// The likeliest reason for a run far below the published number, and what to try.
    fn likely_cause(&self) -> &'static str {
        let saturating =
            self.init == Init::NORMAL && matches!(self.hidden_activation, Activation::Sigmoid) && self.arch.is_none();
        if saturating {
            "Likely cause: network.py's start draws every weight from N(0,1), so many sigmoid neurons begin \
             saturated and, with some seeds, stay so; try another --seed, or --init nielsen (N(0,1/n) weights, \
             chapter 3's cure)."
        } else {
            "Likely cause: an unlucky seed or a learning rate at the edge of divergence; try another --seed, and look \
             at the loss per epoch (nn-cli plot)."
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::recipe;

    #[test]
    fn a_run_far_below_the_published_number_is_said_with_its_likely_cause() {
        let nielsen_100 = recipe::named("nielsen-100").unwrap();
        let note = nielsen_100.shortfall(0.8741).expect("87.41% is far below");
        assert!(
            note.starts_with("this run ended at 87.41%, well below the 96.72% published for nielsen-100"),
            "{note}"
        );
        assert!(note.contains("N(0,1)") && note.contains("--seed"), "{note}");
        assert!(note.contains("here over seeds 1-10: 85.37-96.55%, mean 92.56%"), "{note}");
        assert_eq!(nielsen_100.shortfall(0.9655), None);
        let keras = recipe::named("keras").unwrap();
        assert!(keras.shortfall(0.90).unwrap().contains("unlucky seed"));
        assert_eq!(recipe::named("default").unwrap().shortfall(0.5), None, "nothing published");
    }
}
