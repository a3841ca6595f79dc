//! Standardised inputs for a run: which kind, computed from the training images only.

use std::fmt;
use std::str::FromStr;

use nn_core::{NnError, Standardization};
use serde::{Deserialize, Serialize};

use crate::Samples;

/// How a run standardises its inputs before the first layer (kept in the network, so in the
/// model file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standardize {
    /// Each pixel by its own mean and deviation over the training images, as scikit-learn's
    /// `StandardScaler`. A pixel lit in few images gets a small deviation, and large values
    /// where it is lit.
    PerPixel,
    /// Every pixel by the mean and deviation of all pixels of all training images, as PyTorch's
    /// MNIST example (`Normalize((0.1307,), (0.3081,))`).
    Global,
}

impl fmt::Display for Standardize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Standardize::PerPixel => "per-pixel",
            Standardize::Global => "global",
        })
    }
}

impl FromStr for Standardize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "per-pixel" => Ok(Standardize::PerPixel),
            "global" => Ok(Standardize::Global),
            other => Err(format!("unknown standardisation {other:?}: expected per-pixel or global")),
        }
    }
}

/// The standardisation of `kind` over `samples`, read one sample at a time so that the set stays
/// in its compact form, for [`Network::set_standardization`](nn_core::Network::set_standardization).
/// Give it the training set only: the validation and test images must not shape the model.
///
/// ```
/// use nn_train::{FloatSamples, Standardize, standardization_of};
/// let set = FloatSamples::new(vec![0.0, 2.0, 1.0, 4.0], vec![0, 1], 2)?;
/// let per_pixel = standardization_of(&set, Standardize::PerPixel)?;
/// assert_eq!((per_pixel.mean(), per_pixel.deviation()), (&[0.5, 3.0][..], &[0.5, 1.0][..]));
/// let global = standardization_of(&set, Standardize::Global)?;
/// assert_eq!((global.mean(), global.deviation()), (&[1.75, 1.75][..], &[1.47902, 1.47902][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn standardization_of(samples: &dyn Samples, kind: Standardize) -> Result<Standardization, NnError> {
    let sample = |index, out: &mut [f32]| samples.write_input(index, out);
    match kind {
        Standardize::PerPixel => Standardization::of_each(samples.input_size(), samples.len(), sample),
        Standardize::Global => Standardization::pooled_of_each(samples.input_size(), samples.len(), sample),
    }
}
