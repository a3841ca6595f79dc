//! What the gradient checks share: activations in f64, written from their definitions, and the
//! tolerance of a backprop value against a central difference.
//!
//! The networks compute in f32; the references recompute the loss in f64 from the same
//! parameters, so the finite differences (h = 1e-6) are accurate to about 1e-10 and the
//! comparison measures only the f32 rounding of backprop: a few ulps (~1e-7 relative) per
//! operation over at most a few dozen operations per value. The tolerance 1e-4 + 1e-3·|g| is
//! far above that rounding and far below what a wrong formula gives (errors of order |g|).

use nn_core::Activation;

/// `f(z)` in f64.
pub fn f64_activation(activation: Activation, z: f64) -> f64 {
    match activation {
        Activation::Identity => z,
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu { slope } => {
            if z > 0.0 {
                z
            } else {
                f64::from(slope) * z
            }
        }
        Activation::Step => unreachable!("not trainable"),
    }
}

/// Whether a backprop value agrees with a central difference.
pub fn close(analytic: f32, numeric: f64) -> bool {
    (f64::from(analytic) - numeric).abs() <= 1e-4 + 1e-3 * numeric.abs()
}

/// Backprop against the differences of the loss at `x - h`, `x` and `x + h`. ReLU and max
/// pooling make the loss piecewise smooth: when a pre-activation lies within `h` of zero, or a
/// pooling window's two largest inputs within `h` of each other, the central difference
/// straddles the kink, while one of the one-sided differences still sees the piece backprop
/// differentiates (their error, `h/2 · f''`, is far below the tolerance). A wrong gradient
/// disagrees with all three.
pub fn agrees_with_differences(analytic: f32, base: f64, plus: f64, minus: f64, h: f64) -> bool {
    let (central, forward, backward) = ((plus - minus) / (2.0 * h), (plus - base) / h, (base - minus) / h);
    close(analytic, central) || close(analytic, forward) || close(analytic, backward)
}
