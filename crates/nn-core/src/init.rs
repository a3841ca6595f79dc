//! Seeded weight and bias initialisers.

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;
use rand::Rng;
/// How the weights of a dense layer with `fan_in` inputs and `fan_out` outputs are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum WeightInit {
    /// Glorot & Bengio (2010): `U(−l, l)` with `l = √(6 / (fan_in + fan_out))`. Keras' default;
    /// suits sigmoid and tanh.
    GlorotUniform,
    /// He et al. (2015): `N(0, σ²)` with `σ = √(2 / fan_in)`; suits ReLU. (Keras truncates the
    /// normal at 2σ; this one does not.)
    HeNormal,
    /// Nielsen, chapter 3: `N(0, σ²)` with `σ = 1 / √fan_in`.
    NielsenGaussian,
    /// Nielsen, chapter 1 (`network.py`): the standard normal `N(0, 1)`, whatever the fan-in.
    /// Sigmoid units then start saturated, which is why chapter 3 replaces it.
    StandardNormal,
}

/// How the biases are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum BiasInit {
    /// All zero (Keras, Saitō).
    Zero,
    /// Standard normal `N(0, 1)`, as in Nielsen's `network.py`.
    Gaussian,
}

/// A weight rule and a bias rule.
///
/// The random numbers are drawn layer after layer, weights (column-major) before biases, so the
/// same seed always gives the same network, bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Init {
    /// Rule for the weights.
    pub weights: WeightInit,
    /// Rule for the biases.
    pub bias: BiasInit,
}

impl Init {
    /// Glorot uniform weights, zero biases.
    pub const GLOROT: Init = Init { weights: WeightInit::GlorotUniform, bias: BiasInit::Zero };
    /// He normal weights, zero biases.
    pub const HE: Init = Init { weights: WeightInit::HeNormal, bias: BiasInit::Zero };
    /// Nielsen's improved initialisation: `N(0, 1/fan_in)` weights and `N(0, 1)` biases.
    pub const NIELSEN: Init = Init { weights: WeightInit::NielsenGaussian, bias: BiasInit::Gaussian };
    /// `network.py`'s initialisation (Nielsen, chapter 1): every weight and bias from `N(0, 1)`.
    pub const NORMAL: Init = Init { weights: WeightInit::StandardNormal, bias: BiasInit::Gaussian };

    /// Draws a `fan_out × fan_in` weight matrix and a `fan_out × 1` bias.
    pub fn draw(self, fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> (DMatrix<f32>, DMatrix<f32>) {
        let weights = match self.weights {
            WeightInit::GlorotUniform => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                DMatrix::from_fn(fan_out, fan_in, |_, _| ((rng.random::<f64>() * 2.0 - 1.0) * limit) as f32)
            }
            WeightInit::HeNormal => gaussian(fan_out, fan_in, (2.0 / fan_in as f64).sqrt(), rng),
            WeightInit::NielsenGaussian => gaussian(fan_out, fan_in, 1.0 / (fan_in as f64).sqrt(), rng),
            WeightInit::StandardNormal => gaussian(fan_out, fan_in, 1.0, rng),
        };
        let bias = match self.bias {
            BiasInit::Zero => DMatrix::zeros(fan_out, 1),
            BiasInit::Gaussian => gaussian(fan_out, 1, 1.0, rng),
        };
        (weights, bias)
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Init::GLOROT => f.write_str("glorot"),
            Init::HE => f.write_str("he"),
            Init::NIELSEN => f.write_str("nielsen"),
            Init::NORMAL => f.write_str("normal"),
            Init { weights, bias } => write!(f, "{weights:?}+{bias:?}"),
        }
    }
}

/// The error of parsing an [`Init`] from text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseInitError(pub String);

// Written by hand rather than derived with thiserror, so that the lean build (no default
// features) compiles neither thiserror's proc-macro nor syn.
impl fmt::Display for ParseInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown initialiser {:?}: expected glorot, he, nielsen or normal", self.0)
    }
}

impl std::error::Error for ParseInitError {}

impl FromStr for Init {
    type Err = ParseInitError;

    /// Accepts `glorot` (or `xavier`), `he`, `nielsen` and `normal` (or `standard_normal`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "glorot" | "xavier" | "glorot_uniform" => Ok(Init::GLOROT),
            "he" | "he_normal" => Ok(Init::HE),
            "nielsen" => Ok(Init::NIELSEN),
            "normal" | "standard_normal" => Ok(Init::NORMAL),
            _ => Err(ParseInitError(text.to_string())),
        }
    }
}

/// A `rows × cols` matrix of `N(0, std²)` draws.
fn gaussian(rows: usize, cols: usize, std: f64, rng: &mut impl Rng) -> DMatrix<f32> {
    DMatrix::from_fn(rows, cols, |_, _| (standard_normal(rng) * std) as f32)
}

/// One standard normal draw by the Box–Muller transform `√(−2 ln u₁) cos(2π u₂)`.
/// Written here rather than taken from `rand_distr` to keep the dependencies few; the sine
/// twin is thrown away, which costs a little speed and keeps the draw order simple.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 − u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn moments(m: &DMatrix<f32>) -> (f64, f64) {
        let n = m.len() as f64;
        let mean = m.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = m.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn spreads_match_the_formulas() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (w, b) = Init::GLOROT.draw(400, 200, &mut rng);
        let limit = (6.0_f64 / 600.0).sqrt();
        assert!(w.iter().all(|&v| f64::from(v).abs() <= limit));
        assert!((moments(&w).1 - limit / 3f64.sqrt()).abs() < 0.003);
        assert!(b.iter().all(|&v| v == 0.0));
        let (w, _) = Init::HE.draw(400, 200, &mut rng);
        assert!((moments(&w).1 - (2.0_f64 / 400.0).sqrt()).abs() < 0.002);
        let (w, b) = Init::NIELSEN.draw(400, 200, &mut rng);
        assert!((moments(&w).1 - 0.05).abs() < 0.001);
        assert!(moments(&w).0.abs() < 0.002);
        assert!((moments(&b).1 - 1.0).abs() < 0.15);
    }

    #[test]
    fn normal_draws_every_weight_and_bias_from_the_standard_normal() {
        // 784 x 1000: the mean's standard error is 1/√784000 ≈ 0.0011, the deviation's 0.0008.
        let (w, b) = Init::NORMAL.draw(784, 1000, &mut ChaCha8Rng::seed_from_u64(3));
        let (mean, std) = moments(&w);
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((std - 1.0).abs() < 0.005, "std {std}");
        // About 0.27% of N(0, 1) lies beyond 3: far from zero on 784,000 draws, but present.
        let beyond_three = w.iter().filter(|v| v.abs() > 3.0).count() as f64 / w.len() as f64;
        assert!((beyond_three - 0.0027).abs() < 0.0005, "{beyond_three}");
        let (mean, std) = moments(&b);
        assert!(mean.abs() < 0.15 && (std - 1.0).abs() < 0.1, "bias mean {mean}, std {std}");
        assert_eq!("normal".parse::<Init>().unwrap(), Init::NORMAL);
        assert_eq!(Init::NORMAL.to_string(), "normal");
    }

    #[test]
    fn same_seed_same_bits() {
        let draw = || Init::NIELSEN.draw(30, 10, &mut ChaCha8Rng::seed_from_u64(42));
        assert_eq!(draw(), draw());
    }
}
