//! Element-wise activation functions and their derivatives.

use std::fmt;
use std::str::FromStr;

use crate::NnError;
use crate::map_in_place::{map_in_place, zip_map_in_place};
use crate::sigmoid::{sigmoid, sigmoid_in_place};
use crate::tanh::{tanh, tanh_in_place};

/// The slope of [`Activation::LeakyRelu`] when none is given (Keras uses 0.3, PyTorch 0.01).
pub const DEFAULT_LEAKY_SLOPE: f32 = 0.01;

/// An element-wise activation function applied after a layer's affine map.
///
/// Derivatives are computed from the activation's *output* `a = f(z)` (for example
/// `σ'(z) = a (1 − a)`), so backpropagation needs no copy of the pre-activations.
///
/// ```
/// use nn_core::Activation;
/// let mut v = [-1000.0, 0.0, 1000.0];
/// Activation::Sigmoid.apply(&mut v);
/// assert_eq!(v, [0.0, 0.5, 1.0]);
/// assert_eq!("leaky_relu:0.1".parse::<Activation>().unwrap(), Activation::LeakyRelu { slope: 0.1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "name", rename_all = "snake_case", deny_unknown_fields))]
pub enum Activation {
    /// `f(z) = z`.
    Identity,
    /// `f(z) = 1 if z > 0 else 0`, the perceptron of Nielsen's chapter 1 and Saitō's chapter 3.
    /// Inference only: its derivative is zero almost everywhere, so training refuses it.
    Step,
    /// `f(z) = 1 / (1 + e^−z)`, computed without overflow for any `z`.
    Sigmoid,
    /// `f(z) = tanh z`.
    Tanh,
    /// `f(z) = max(0, z)`.
    Relu,
    /// `f(z) = z if z > 0 else slope · z`.
    LeakyRelu {
        /// Slope for negative inputs, in `[0, 1)`.
        slope: f32,
    },
}

impl Activation {
    /// Every activation with a usable derivative, for tests and command-line help.
    pub const TRAINABLE: [Activation; 5] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { slope: DEFAULT_LEAKY_SLOPE },
    ];

    /// Checks the parameters (the leaky ReLU slope).
    pub fn validate(self) -> Result<(), NnError> {
        match self {
            // A slope outside [0, 1) makes the derivative-from-output trick ambiguous.
            Activation::LeakyRelu { slope } if !(slope.is_finite() && (0.0..1.0).contains(&slope)) => {
                Err(NnError::InvalidSlope(slope))
            }
            _ => Ok(()),
        }
    }

    /// Whether a network using this activation can be trained (everything but [`Activation::Step`]).
    pub fn is_trainable(self) -> bool {
        self != Activation::Step
    }

    /// `f(z)` for one value.
    #[inline(always)]
    pub fn value(self, z: f32) -> f32 {
        match self {
            Activation::Identity => z,
            Activation::Step => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => tanh(z),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu { slope } => {
                if z > 0.0 {
                    z
                } else {
                    slope * z
                }
            }
        }
    }

    /// `f'(z)` expressed through the output `a = f(z)`.
    #[inline(always)]
    pub fn derivative_from_output(self, a: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Step => 0.0,
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // With slope ≥ 0, a > 0 exactly when z > 0.
            Activation::LeakyRelu { slope } => {
                if a > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
        }
    }

    /// Applies the function in place to every value.
    ///
    /// Each activation has a loop of its own, in which it is a constant: the loop then compiles
    /// to vector code, with no branch per value on which activation it is.
    pub fn apply(self, values: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Sigmoid => sigmoid_in_place(values),
            Activation::Tanh => tanh_in_place(values),
            Activation::Step => map_in_place(values, |z| Activation::Step.value(z)),
            Activation::Relu => map_in_place(values, |z| Activation::Relu.value(z)),
            Activation::LeakyRelu { slope } => map_in_place(values, move |z| Activation::LeakyRelu { slope }.value(z)),
        }
    }

    /// Multiplies each gradient by `f'` at the matching output: `δz = δa ⊙ f'(z)`, with a loop
    /// per activation as in [`apply`](Activation::apply).
    pub fn backprop(self, outputs: &[f32], gradients: &mut [f32]) {
        // A closure written out in each arm: one closure shared by the arms would be one type,
        // compiled once with the activation as data, matched again at every value.
        match self {
            Activation::Identity => {}
            Activation::Step => {
                zip_map_in_place(gradients, outputs, |g, a| g * Activation::Step.derivative_from_output(a))
            }
            Activation::Sigmoid => {
                zip_map_in_place(gradients, outputs, |g, a| g * Activation::Sigmoid.derivative_from_output(a))
            }
            Activation::Tanh => {
                zip_map_in_place(gradients, outputs, |g, a| g * Activation::Tanh.derivative_from_output(a))
            }
            Activation::Relu => {
                zip_map_in_place(gradients, outputs, |g, a| g * Activation::Relu.derivative_from_output(a))
            }
            Activation::LeakyRelu { slope } => zip_map_in_place(gradients, outputs, move |g, a| {
                g * Activation::LeakyRelu { slope }.derivative_from_output(a)
            }),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => f.write_str("identity"),
            Activation::Step => f.write_str("step"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { slope } => write!(f, "leaky_relu:{slope}"),
        }
    }
}

/// The error of parsing an [`Activation`] from text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseActivationError(pub String);

// Written by hand rather than derived with thiserror, so that the lean build (no default
// features) compiles neither thiserror's proc-macro nor syn.
impl fmt::Display for ParseActivationError {
    /// Says what is wrong with a `leaky_relu:SLOPE` whose name is right, from the text alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.trim();
        if let Some(slope) =
            text.get(..11).filter(|p| p.eq_ignore_ascii_case("leaky_relu:")).and_then(|_| text.get(11..))
        {
            return match slope.trim().parse::<f32>() {
                Ok(value) if !value.is_finite() => {
                    write!(
                        f,
                        "the slope of {text:?} is not a finite number: give a slope in [0, 1), e.g. leaky_relu:0.1"
                    )
                }
                Ok(_) => write!(f, "the slope of {text:?} is not in [0, 1)"),
                Err(_) => {
                    write!(f, "the slope of {text:?} is not a number: give a slope in [0, 1), e.g. leaky_relu:0.1")
                }
            };
        }
        write!(
            f,
            "unknown activation {:?}: expected identity, step, sigmoid, tanh, relu, leaky_relu or leaky_relu:SLOPE \
             (SLOPE in [0, 1))",
            self.0
        )
    }
}

impl std::error::Error for ParseActivationError {}

impl FromStr for Activation {
    type Err = ParseActivationError;

    /// Parses the names printed by `Display`: `relu`, `leaky_relu` (slope 0.01), `leaky_relu:0.2`, ...
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseActivationError(text.to_string());
        let activation = match text.trim().to_ascii_lowercase().as_str() {
            "identity" | "linear" => Activation::Identity,
            "step" => Activation::Step,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { slope: DEFAULT_LEAKY_SLOPE },
            other => {
                let slope = other.strip_prefix("leaky_relu:").ok_or_else(error)?;
                Activation::LeakyRelu { slope: slope.parse().map_err(|_| error())? }
            }
        };
        activation.validate().map_err(|_| error())?;
        Ok(activation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_matches_the_book_and_is_not_trainable() {
        assert_eq!(Activation::Step.value(-0.1), 0.0);
        assert_eq!(Activation::Step.value(0.0), 0.0);
        assert_eq!(Activation::Step.value(0.1), 1.0);
        assert!(!Activation::Step.is_trainable());
    }

    #[test]
    fn display_and_parse_round_trip() {
        for a in Activation::TRAINABLE.into_iter().chain([Activation::Step]) {
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
        }
        assert!("softplus".parse::<Activation>().unwrap_err().to_string().contains("softplus"));
        assert!("leaky_relu:2".parse::<Activation>().is_err());
    }

    #[test]
    fn a_bad_slope_is_named_as_such() {
        let error = |text: &str| text.parse::<Activation>().unwrap_err().to_string();
        assert_eq!(
            error("leaky_relu:NaN"),
            "the slope of \"leaky_relu:NaN\" is not a finite number: give a slope in [0, 1), e.g. leaky_relu:0.1"
        );
        assert!(error("LEAKY_RELU:inf").contains("is not a finite number"));
        assert_eq!(error("leaky_relu:2"), "the slope of \"leaky_relu:2\" is not in [0, 1)");
        assert!(error("leaky_relu:x").contains("is not a number"));
        assert!(error("softplus").starts_with("unknown activation \"softplus\""));
    }

    #[test]
    fn invalid_slopes_are_refused() {
        for slope in [f32::NAN, -0.1, 1.0, f32::INFINITY] {
            assert!(Activation::LeakyRelu { slope }.validate().is_err(), "{slope}");
        }
    }

    #[test]
    fn backprop_multiplies_each_gradient_by_the_derivative_at_its_output() {
        let outputs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 400.0).collect();
        let gradients: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 201) as f32 / 100.0 - 1.0).collect();
        let every = Activation::TRAINABLE.into_iter().chain([Activation::Step, Activation::LeakyRelu { slope: 0.1 }]);
        for activation in every {
            let mut backprop = gradients.clone();
            activation.backprop(&outputs, &mut backprop);
            let one_at_a_time: Vec<f32> =
                gradients.iter().zip(&outputs).map(|(&g, &a)| g * activation.derivative_from_output(a)).collect();
            assert_eq!(backprop, one_at_a_time, "{activation}");
        }
    }
}
