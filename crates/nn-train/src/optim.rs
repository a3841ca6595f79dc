//! Optimizers: how a gradient becomes a parameter update (SGD, momentum, RMSprop, Adam,
//! Adadelta).

use nn_core::{Gradients, Network};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::vectorized::vectorized;
use crate::{OptimizerConfig, OptimizerError, PARALLEL_CHUNK};

/// What an optimizer remembers between steps; saved in checkpoints so that a resumed run goes
/// on exactly as an uninterrupted one. Its serde form stores each buffer as the hexadecimal
/// bits of its values, so that it round-trips exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// Steps taken so far (Adam's `t` before the next step).
    pub steps: u64,
    /// Per parameter tensor: the velocity (momentum), first moment `m` (Adam) or mean square of
    /// the updates `u` (Adadelta); empty if unused.
    #[serde(with = "crate::bits::vectors")]
    pub first: Vec<Vec<f32>>,
    /// Per parameter tensor: the mean square `s` (RMSprop), second moment `v` (Adam) or mean
    /// square of the gradients `v` (Adadelta); empty if unused.
    #[serde(with = "crate::bits::vectors")]
    pub second: Vec<Vec<f32>>,
}

/// An optimizer with its state: turns gradients into parameter updates.
///
/// L2 weight decay (`wd`, Nielsen's `λ/n`) is added to the gradient of weight matrices only,
/// `g += wd·w`, never to biases: it applies to the parameters that layers name `"weights"`
/// (those of dense and convolutional layers).
///
/// ```
/// use nn_core::{Activation, Gradients, Init, Loss, Mode, Network, Targets, Workspace};
/// use nn_train::{Optimizer, OptimizerConfig};
/// let mut net = Network::dense(&[2, 3, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 1)?;
/// let mut optimizer = Optimizer::new(OptimizerConfig::adam(), 0.0)?;
/// let mut gradients = Gradients::zeros_like(&net);
/// net.loss_and_gradients(&[0.5, -1.0], Targets::Classes(&[1]), Mode::training(0), &mut Workspace::new(), &mut gradients)?;
/// optimizer.step(&mut net, &gradients, 0.001)?;
/// assert_eq!(optimizer.state().steps, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    config: OptimizerConfig,
    weight_decay: f32,
    state: OptimizerState,
    parallel: bool,
}

impl Optimizer {
    /// A fresh optimizer; its buffers are created, zeroed, at the first step.
    pub fn new(config: OptimizerConfig, weight_decay: f32) -> Result<Self, OptimizerError> {
        Optimizer::with_state(config, weight_decay, OptimizerState::default())
    }

    /// An optimizer that continues from a saved state (shapes are checked at the next step).
    pub fn with_state(
        config: OptimizerConfig,
        weight_decay: f32,
        state: OptimizerState,
    ) -> Result<Self, OptimizerError> {
        config.validate()?;
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(OptimizerError::Hyperparameter { name: "weight_decay", value: weight_decay });
        }
        Ok(Optimizer { config, weight_decay, state, parallel: false })
    }

    /// Whether [`step`](Optimizer::step) updates long tensors in [`PARALLEL_CHUNK`]s on rayon's
    /// pool (off by default). It pays only while the pool's threads are awake, as right after a
    /// batch computed in parallel shards, and from a thread of the pool (as in
    /// [`train`](crate::train)): waking a sleeping thread cost about 100 µs on a 2-core
    /// machine (measured for the repository's `docs/benchmark-history.md`), more than the whole update
    /// of a 784-128-10 network. The
    /// result is the same either way.
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    /// The configuration.
    pub fn config(&self) -> OptimizerConfig {
        self.config
    }

    /// The state, for checkpoints.
    pub fn state(&self) -> &OptimizerState {
        &self.state
    }

    /// Checks that the state's buffers (if any were created) fit the parameters of `network`.
    pub fn check_fits(&self, network: &Network) -> Result<(), OptimizerError> {
        let sizes: Vec<usize> = network.parameters().iter().map(|p| p.len()).collect();
        for (name, buffers) in [("first", &self.state.first), ("second", &self.state.second)] {
            let fits = buffers.is_empty()
                || (buffers.len() == sizes.len() && buffers.iter().zip(&sizes).all(|(b, &s)| b.len() == s));
            if !fits {
                return Err(OptimizerError::Mismatch(format!(
                    "the {name} state buffers hold {:?} values, the parameters {sizes:?}",
                    buffers.iter().map(Vec::len).collect::<Vec<_>>()
                )));
            }
        }
        Ok(())
    }

    /// One update of every parameter of `network` from `gradients` with step size
    /// `learning_rate`.
    pub fn step(
        &mut self,
        network: &mut Network,
        gradients: &Gradients,
        learning_rate: f32,
    ) -> Result<(), OptimizerError> {
        let decayed = decayed_tensors(network);
        let mut parameters = network.parameters_mut();
        let tensors = gradients.tensors();
        if tensors.len() != parameters.len() || tensors.iter().zip(&parameters).any(|(g, p)| g.shape() != p.shape()) {
            return Err(OptimizerError::Mismatch(format!(
                "{} gradient tensors for {} parameter tensors",
                tensors.len(),
                parameters.len()
            )));
        }
        let (first, second) = self.config.buffers();
        for (wanted, buffers) in [(first, &mut self.state.first), (second, &mut self.state.second)] {
            if wanted && buffers.is_empty() {
                *buffers = parameters.iter().map(|p| vec![0.0; p.len()]).collect();
            }
        }
        // check_fits, without borrowing the network again.
        for buffers in [&self.state.first, &self.state.second] {
            if !buffers.is_empty()
                && (buffers.len() != parameters.len()
                    || buffers.iter().zip(&parameters).any(|(b, p)| b.len() != p.len()))
            {
                return Err(OptimizerError::Mismatch("the state buffers have other sizes than the parameters".into()));
            }
        }
        self.state.steps += 1;
        let t = self.state.steps;
        for (k, (parameter, gradient)) in parameters.iter_mut().zip(tensors).enumerate() {
            let wd = if decayed[k] { self.weight_decay } else { 0.0 };
            let p = parameter.as_mut_slice();
            let g = gradient.as_slice();
            let lr = learning_rate;
            let chunk = if self.parallel { PARALLEL_CHUNK } else { usize::MAX };
            match self.config {
                OptimizerConfig::Sgd => in_chunks(
                    chunk,
                    p,
                    g,
                    [],
                    #[inline(always)]
                    |p, g, []| sgd(p, g, wd, lr),
                ),
                OptimizerConfig::Momentum { momentum, nesterov } => in_chunks(
                    chunk,
                    p,
                    g,
                    [&mut self.state.first[k]],
                    #[inline(always)]
                    |p, g, [velocity]| momentum_step(p, g, velocity, wd, lr, momentum, nesterov),
                ),
                OptimizerConfig::RmsProp { rho, epsilon } => in_chunks(
                    chunk,
                    p,
                    g,
                    [&mut self.state.second[k]],
                    #[inline(always)]
                    |p, g, [mean_square]| rmsprop(p, g, mean_square, wd, lr, rho, epsilon),
                ),
                OptimizerConfig::Adam { beta1, beta2, epsilon } => in_chunks(
                    chunk,
                    p,
                    g,
                    [&mut self.state.first[k], &mut self.state.second[k]],
                    #[inline(always)]
                    |p, g, [m, v]| adam(p, g, m, v, wd, lr, (beta1, beta2, epsilon), t),
                ),
                OptimizerConfig::Adadelta { rho, epsilon } => in_chunks(
                    chunk,
                    p,
                    g,
                    [&mut self.state.first[k], &mut self.state.second[k]],
                    #[inline(always)]
                    |p, g, [u, v]| adadelta(p, g, u, v, wd, lr, rho, epsilon),
                ),
            }
        }
        Ok(())
    }
}

/// For each parameter tensor, whether weight decay applies: the weights of every layer (dense and
/// convolutional), not the biases.
fn decayed_tensors(network: &Network) -> Vec<bool> {
    network.layers().iter().flat_map(|layer| layer.parameter_names().iter().map(|&name| name == "weights")).collect()
}

/// Runs an element-wise update over `p`, `g` and the `N` state buffers of the optimizer, in
/// chunks of `chunk` values on the rayon pool (on the calling thread for a tensor of one chunk).
/// Element-wise, so the result never depends on the chunks.
fn in_chunks<const N: usize>(
    chunk: usize,
    p: &mut [f32],
    g: &[f32],
    states: [&mut [f32]; N],
    update: impl Fn(&mut [f32], &[f32], [&mut [f32]; N]) + Sync,
) {
    if p.len() <= chunk {
        return vectorized(
            #[inline(always)]
            || update(p, g, states),
        );
    }
    let mut state_chunks = states.map(|state| state.chunks_mut(chunk));
    let jobs: Vec<_> = p
        .chunks_mut(chunk)
        .zip(g.chunks(chunk))
        .map(|(p, g)| (p, g, state_chunks.each_mut().map(|c| c.next().expect("states as long as the parameters"))))
        .collect();
    jobs.into_par_iter().for_each(|(p, g, states)| {
        vectorized(
            #[inline(always)]
            || update(p, g, states),
        )
    });
}

/// `p −= lr·(g + wd·p)`.
#[inline(always)]
fn sgd(p: &mut [f32], g: &[f32], wd: f32, lr: f32) {
    for (p, &g) in p.iter_mut().zip(g) {
        *p -= lr * (g + wd * *p);
    }
}

/// `buf = μ·buf + g`, `g' = nesterov ? g + μ·buf : buf`, `p −= lr·g'` with `g = ∂C/∂p + wd·p`.
#[inline(always)]
fn momentum_step(p: &mut [f32], g: &[f32], buf: &mut [f32], wd: f32, lr: f32, mu: f32, nesterov: bool) {
    for ((p, &g), b) in p.iter_mut().zip(g).zip(buf) {
        let g = g + wd * *p;
        *b = mu * *b + g;
        let update = if nesterov { g + mu * *b } else { *b };
        *p -= lr * update;
    }
}

/// `s = ρ·s + (1−ρ)·g²`, `p −= lr·g / (√s + ε)` with `g = ∂C/∂p + wd·p`.
#[inline(always)]
fn rmsprop(p: &mut [f32], g: &[f32], s: &mut [f32], wd: f32, lr: f32, rho: f32, epsilon: f32) {
    for ((p, &g), s) in p.iter_mut().zip(g).zip(s) {
        let g = g + wd * *p;
        *s = rho * *s + (1.0 - rho) * g * g;
        *p -= lr * g / (s.sqrt() + epsilon);
    }
}

/// Adam: `m = β₁m + (1−β₁)g`, `v = β₂v + (1−β₂)g²`, `p −= lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], wd: f32, lr: f32, betas: (f32, f32, f32), t: u64) {
    let (beta1, beta2, epsilon) = betas;
    let exponent = i32::try_from(t).unwrap_or(i32::MAX);
    let correction1 = (1.0 - f64::from(beta1).powi(exponent)) as f32;
    let correction2 = (1.0 - f64::from(beta2).powi(exponent)) as f32;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        let g = g + wd * *p;
        *m = beta1 * *m + (1.0 - beta1) * g;
        *v = beta2 * *v + (1.0 - beta2) * g * g;
        let m_hat = *m / correction1;
        let v_hat = *v / correction2;
        *p -= lr * m_hat / (v_hat.sqrt() + epsilon);
    }
}

/// Adadelta: `v = ρv + (1−ρ)g²`, `Δ = √(u + ε)/√(v + ε)·g`, `u = ρu + (1−ρ)Δ²`, `p −= lr·Δ`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adadelta(p: &mut [f32], g: &[f32], u: &mut [f32], v: &mut [f32], wd: f32, lr: f32, rho: f32, epsilon: f32) {
    for (((p, &g), u), v) in p.iter_mut().zip(g).zip(u).zip(v) {
        let g = g + wd * *p;
        *v = rho * *v + (1.0 - rho) * g * g;
        let delta = (*u + epsilon).sqrt() / (*v + epsilon).sqrt() * g;
        *u = rho * *u + (1.0 - rho) * delta * delta;
        *p -= lr * delta;
    }
}

#[cfg(test)]
mod tests {
    use nn_core::{Activation, Init, Loss};

    use super::*;
    #[test]
    fn decay_applies_to_dense_weights_only() {
        let net = Network::dense(&[2, 3, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 1).unwrap();
        assert_eq!(decayed_tensors(&net), [true, false, true, false]);
    }

    #[test]
    fn adadelta_matches_pytorch() {
        // The first step of torch.optim.Adadelta(lr=1.0) from zero state: v = 0.1·g² = 0.025,
        // Δ = √1e-6 / √(0.025 + 1e-6) · 0.5, u = 0.1·Δ².
        let (mut p, mut u, mut v) = ([1.0_f32, -2.0], [0.0; 2], [0.0; 2]);
        adadelta(&mut p, &[0.5, 0.5], &mut u, &mut v, 0.0, 1.0, 0.9, 1e-6);
        let delta = (1e-6_f64).sqrt() / (0.025_f64 + 1e-6).sqrt() * 0.5;
        assert!((f64::from(p[0]) - (1.0 - delta)).abs() < 1e-6, "{p:?}");
        assert!((f64::from(u[0]) - 0.1 * delta * delta).abs() < 1e-9);
        assert!(v.iter().all(|v| (v - 0.025).abs() < 1e-8), "{v:?}");
    }

    #[test]
    fn sgd_with_weight_decay() {
        let mut p = [1.0, -2.0];
        sgd(&mut p, &[0.5, 0.5], 0.1, 0.1);
        // p − 0.1·(0.5 + 0.1·p)
        assert_eq!(p, [1.0 - 0.1 * (0.5 + 0.1), -2.0 - 0.1 * (0.5 - 0.2)]);
    }
}
