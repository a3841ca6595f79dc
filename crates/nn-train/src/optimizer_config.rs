//! Which optimizer, with its hyperparameters ([`OptimizerConfig`]): their ranges, the text form
//! of the command line (`adam`, `momentum:0.95`) and the serde form of recipes and checkpoints.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::OptimizerError;

/// Which optimizer to use, with its hyperparameters.
///
/// Text form (for the command line): `sgd`, `momentum`, `nesterov`, `rmsprop`, `adam`,
/// `adadelta`, each optionally followed by its hyperparameters after colons: `momentum:0.95`,
/// `nesterov:0.9`, `rmsprop:0.9:1e-7` (ρ, ε), `adam:0.9:0.999:1e-8` (β₁, β₂, ε),
/// `adadelta:0.9:1e-6` (ρ, ε).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Plain stochastic gradient descent: `p −= lr·g`.
    Sgd,
    /// Momentum in PyTorch's form: `buf = μ·buf + g`, `g' = nesterov ? g + μ·buf : buf`,
    /// `p −= lr·g'`.
    Momentum {
        /// `μ`, in `[0, 1)`; 0.9 is usual.
        momentum: f32,
        /// Nesterov's look-ahead variant.
        nesterov: bool,
    },
    /// RMSprop as in Keras: `s = ρ·s + (1−ρ)·g²`, `p −= lr·g / (√s + ε)`.
    RmsProp {
        /// Decay `ρ` of the mean square, in `[0, 1)` (Keras: 0.9).
        rho: f32,
        /// `ε` added to the root mean square (Keras: 1e-7).
        epsilon: f32,
    },
    /// Adam with bias correction (Kingma & Ba): `m = β₁m + (1−β₁)g`, `v = β₂v + (1−β₂)g²`,
    /// `p −= lr·m̂ / (√v̂ + ε)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
    Adam {
        /// `β₁`, in `[0, 1)` (0.9).
        beta1: f32,
        /// `β₂`, in `[0, 1)` (0.999).
        beta2: f32,
        /// `ε` (1e-8).
        epsilon: f32,
    },
    /// Adadelta (Zeiler 2012) in PyTorch's form: `v = ρv + (1−ρ)g²`,
    /// `Δ = √(u + ε) / √(v + ε) · g`, `u = ρu + (1−ρ)Δ²`, `p −= lr·Δ` (PyTorch's MNIST example
    /// uses lr 1.0).
    Adadelta {
        /// Decay `ρ` of both running averages, in `[0, 1)` (0.9).
        rho: f32,
        /// `ε` (1e-6).
        epsilon: f32,
    },
}

/// The usual momentum coefficient.
pub const DEFAULT_MOMENTUM: f32 = 0.9;

impl OptimizerConfig {
    /// Classical momentum with coefficient `momentum`.
    pub fn momentum(momentum: f32) -> Self {
        OptimizerConfig::Momentum { momentum, nesterov: false }
    }

    /// Nesterov momentum with coefficient `momentum`.
    pub fn nesterov(momentum: f32) -> Self {
        OptimizerConfig::Momentum { momentum, nesterov: true }
    }

    /// RMSprop with Keras's defaults, `ρ = 0.9`, `ε = 1e-7`.
    pub fn rmsprop() -> Self {
        OptimizerConfig::RmsProp { rho: 0.9, epsilon: 1e-7 }
    }

    /// Adam with the paper's defaults, `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`.
    pub fn adam() -> Self {
        OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    }

    /// Adadelta with PyTorch's defaults, `ρ = 0.9`, `ε = 1e-6`.
    pub fn adadelta() -> Self {
        OptimizerConfig::Adadelta { rho: 0.9, epsilon: 1e-6 }
    }

    /// The name of the kind: `sgd`, `momentum`, `nesterov`, `rmsprop`, `adam` or `adadelta`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd => "sgd",
            OptimizerConfig::Momentum { nesterov: false, .. } => "momentum",
            OptimizerConfig::Momentum { nesterov: true, .. } => "nesterov",
            OptimizerConfig::RmsProp { .. } => "rmsprop",
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::Adadelta { .. } => "adadelta",
        }
    }

    /// Checks the hyperparameters: decays in `[0, 1)`, `ε` finite and positive.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        let decay = |name: &'static str, value: f32| {
            if (0.0..1.0).contains(&value) { Ok(()) } else { Err(OptimizerError::Hyperparameter { name, value }) }
        };
        let epsilon = |value: f32| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(OptimizerError::Hyperparameter { name: "epsilon", value })
            }
        };
        match *self {
            OptimizerConfig::Sgd => Ok(()),
            OptimizerConfig::Momentum { momentum, .. } => decay("momentum", momentum),
            OptimizerConfig::RmsProp { rho, epsilon: e } | OptimizerConfig::Adadelta { rho, epsilon: e } => {
                decay("rho", rho).and(epsilon(e))
            }
            OptimizerConfig::Adam { beta1, beta2, epsilon: e } => {
                decay("beta1", beta1).and(decay("beta2", beta2)).and(epsilon(e))
            }
        }
    }

    /// Which state buffers the kind uses: (velocity or first moment, mean square or second moment).
    pub(crate) fn buffers(&self) -> (bool, bool) {
        match self {
            OptimizerConfig::Sgd => (false, false),
            OptimizerConfig::Momentum { .. } => (true, false),
            OptimizerConfig::RmsProp { .. } => (false, true),
            OptimizerConfig::Adam { .. } | OptimizerConfig::Adadelta { .. } => (true, true),
        }
    }

    /// The hyperparameters in text order, and whether they are the defaults.
    fn hyperparameters(&self) -> (Vec<f32>, bool) {
        match *self {
            OptimizerConfig::Sgd => (vec![], true),
            OptimizerConfig::Momentum { momentum, .. } => (vec![momentum], momentum == DEFAULT_MOMENTUM),
            OptimizerConfig::RmsProp { rho, epsilon } => (vec![rho, epsilon], *self == OptimizerConfig::rmsprop()),
            OptimizerConfig::Adam { beta1, beta2, epsilon } => {
                (vec![beta1, beta2, epsilon], *self == OptimizerConfig::adam())
            }
            OptimizerConfig::Adadelta { rho, epsilon } => (vec![rho, epsilon], *self == OptimizerConfig::adadelta()),
        }
    }
}

impl fmt::Display for OptimizerConfig {
    /// The name alone for default hyperparameters (`adam`), else `name:values` (`momentum:0.95`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let (values, default) = self.hyperparameters();
        if !default {
            values.iter().try_for_each(|v| write!(f, ":{v}"))?;
        }
        Ok(())
    }
}

/// An optimizer name or hyperparameter that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid optimizer {text:?}: {reason}; expected sgd, momentum[:μ], nesterov[:μ], rmsprop[:ρ:ε], adam[:β₁:β₂:ε] \
     or adadelta[:ρ:ε]"
)]
pub struct ParseOptimizerError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for OptimizerConfig {
    type Err = ParseOptimizerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| ParseOptimizerError { text: text.to_string(), reason };
        let mut parts = text.trim().split(':');
        let name = parts.next().unwrap_or_default().to_ascii_lowercase();
        let values = parts
            .map(|p| p.trim().parse::<f32>().map_err(|_| error(format!("{p:?} is not a number"))))
            .collect::<Result<Vec<f32>, _>>()?;
        let config = match (name.as_str(), values.as_slice()) {
            ("sgd", []) => OptimizerConfig::Sgd,
            ("momentum", []) => OptimizerConfig::momentum(DEFAULT_MOMENTUM),
            ("momentum", [m]) => OptimizerConfig::momentum(*m),
            ("nesterov", []) => OptimizerConfig::nesterov(DEFAULT_MOMENTUM),
            ("nesterov", [m]) => OptimizerConfig::nesterov(*m),
            ("rmsprop", []) => OptimizerConfig::rmsprop(),
            ("rmsprop", [rho, epsilon]) => OptimizerConfig::RmsProp { rho: *rho, epsilon: *epsilon },
            ("adam", []) => OptimizerConfig::adam(),
            ("adam", [beta1, beta2, epsilon]) => {
                OptimizerConfig::Adam { beta1: *beta1, beta2: *beta2, epsilon: *epsilon }
            }
            ("adadelta", []) => OptimizerConfig::adadelta(),
            ("adadelta", [rho, epsilon]) => OptimizerConfig::Adadelta { rho: *rho, epsilon: *epsilon },
            ("sgd" | "momentum" | "nesterov" | "rmsprop" | "adam" | "adadelta", _) => {
                return Err(error(format!("wrong number of hyperparameters ({})", values.len())));
            }
            _ => return Err(error("unknown optimizer".to_string())),
        };
        config.validate().map_err(|e| error(e.to_string()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for text in [
            "sgd",
            "momentum",
            "nesterov",
            "rmsprop",
            "adam",
            "adadelta",
            "momentum:0.95",
            "adam:0.8:0.99:0.001",
            "adadelta:0.95:0.0001",
        ] {
            let config: OptimizerConfig = text.parse().unwrap();
            assert_eq!(config.to_string(), text);
            assert_eq!(config.to_string().parse::<OptimizerConfig>().unwrap(), config);
        }
        assert_eq!("Nesterov".parse::<OptimizerConfig>().unwrap(), OptimizerConfig::nesterov(0.9));
        assert!("adagrad".parse::<OptimizerConfig>().is_err());
        assert!("adam:0.9".parse::<OptimizerConfig>().is_err());
        assert!("momentum:1.5".parse::<OptimizerConfig>().is_err());
        assert!("rmsprop:0.9:x".parse::<OptimizerConfig>().is_err());
    }

    #[test]
    fn serde_form_is_tagged() {
        let json = serde_json::to_string(&OptimizerConfig::adam()).unwrap();
        assert_eq!(json, r#"{"kind":"adam","beta1":0.9,"beta2":0.999,"epsilon":1e-8}"#);
        assert_eq!(serde_json::from_str::<OptimizerConfig>(&json).unwrap(), OptimizerConfig::adam());
    }
}
