//! The training loop: shuffled mini-batches, parallel gradients, optimizer steps, evaluation,
//! early stopping, interruption and resumption.

use std::fmt;

use nn_core::{Network, mix_seed};

use crate::ConfigError;
use crate::augment::Augmenter;
use crate::max_norm::constrain_max_norm;
use crate::samples::check_fits;
use crate::stopwatch::Stopwatch;
use crate::{
    BatchGradients, BestWeights, Control, EpochReport, NoObserver, Observer, Optimizer, Samples, SamplesError,
    TrainConfig, TrainError, TrainState, evaluate,
};

/// The data of a training run. Validation and test sets are evaluated after every epoch.
#[derive(Clone, Copy)]
pub struct TrainData<'a> {
    /// The samples trained on.
    pub train: &'a dyn Samples,
    /// Watched by early stopping and the best-weights record.
    pub validation: Option<&'a dyn Samples>,
    /// Reported only; never used to choose anything.
    pub test: Option<&'a dyn Samples>,
}

/// The sets by their sizes: a [`Samples`] need not be `Debug`.
impl fmt::Debug for TrainData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes = |set: &dyn Samples| format!("{} samples of {} values", set.len(), set.input_size());
        f.debug_struct("TrainData")
            .field("train", &sizes(self.train))
            .field("validation", &self.validation.map(sizes))
            .field("test", &self.test.map(sizes))
            .finish()
    }
}

impl<'a> TrainData<'a> {
    /// Training samples only.
    pub fn new(train: &'a dyn Samples) -> Self {
        TrainData { train, validation: None, test: None }
    }

    /// With a validation set.
    pub fn with_validation(self, validation: &'a dyn Samples) -> Self {
        TrainData { validation: Some(validation), ..self }
    }

    /// With a test set.
    pub fn with_test(self, test: &'a dyn Samples) -> Self {
        TrainData { test: Some(test), ..self }
    }
}

/// How a call to [`train`] ended (without error).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// The state at the end; give it back to [`train`] (with the network) to resume.
    pub state: TrainState,
    /// A stop was requested through the [`Control`]: the state resumes mid-epoch, and the
    /// network holds the latest weights (the best weights are not restored).
    pub interrupted: bool,
    /// Early stopping ended the run before the configured epochs.
    pub stopped_early: bool,
    /// The epoch (counted from 1) with the best validation accuracy, if there is a validation
    /// set.
    pub best_epoch: Option<usize>,
    /// The best weights were copied back into the network: this happens when early stopping
    /// is configured and the run was not interrupted.
    pub restored_best: bool,
}

/// Trains `network` according to `config` on `data`, reporting to `observer`.
///
/// - Each epoch visits the training samples in an order drawn from a ChaCha8 generator seeded
///   with `config.seed` on stream `epoch` (a permutation, or draws with replacement: see
///   [`Sampling`](crate::Sampling)), in mini-batches of `config.batch_size` (the
///   last one may be smaller). Each batch's gradient is computed by [`BatchGradients`] (in
///   parallel shards, thread-count independent), and the optimizer steps with the scheduled
///   learning rate. The same inputs give the same weights bit for bit with any number of
///   threads.
/// - After each epoch the validation and test sets are evaluated, the best weights by
///   validation accuracy are recorded, and `observer.on_epoch_end` receives the report, the
///   network and the state (a checkpoint).
/// - With `config.early_stopping_patience`, training stops after that many epochs without a
///   better validation accuracy, and the best weights are restored into `network`.
/// - `control` is checked before every mini-batch; when a stop is requested, the outcome is
///   `interrupted` and its state resumes exactly where training stopped.
/// - `resume`: the state of an earlier run of the same configuration (`epochs` may grow), with
///   `network` holding that run's weights.
///
/// A NaN or infinite loss or gradient stops training with [`TrainError::Diverged`], before the
/// update: the network keeps the weights of the last good step.
pub fn train(
    network: &mut Network,
    config: &TrainConfig,
    data: &TrainData<'_>,
    observer: &mut dyn Observer,
    control: &Control,
    resume: Option<TrainState>,
) -> Result<TrainOutcome, TrainError> {
    // The loop runs on a thread of rayon's pool. Called from any other thread, each parallel
    // step would block that thread on a lock and wake it afterwards: two context switches per
    // step, which cost 784-128-10 at batch 128 a seventh of its epoch (measured, 2 cores).
    rayon::scope(|_| train_in_pool(network, config, data, observer, control, resume))
}

/// Trains `network` according to `config` on `data`, for the common case of a run that nobody
/// watches, interrupts or resumes: [`train`] with no observer, a [`Control`] that never stops
/// and a fresh start. Everything else (determinism, evaluation after each epoch, early stopping
/// with the best weights restored, the errors) is `train`'s.
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// use nn_train::{FloatSamples, TrainConfig, TrainData, fit};
///
/// // XOR, repeated: four samples of two inputs, one after the other.
/// let set = FloatSamples::new([0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0].repeat(8), [0, 1, 1, 0].repeat(8), 2)?;
/// let mut net = Network::dense(&[2, 8, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 3)?;
/// let config = TrainConfig { epochs: 100, batch_size: 4, learning_rate: 0.05, ..TrainConfig::default() };
/// let outcome = fit(&mut net, &config, TrainData::new(&set).with_validation(&set))?;
/// assert_eq!(outcome.state.history.len(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fit(network: &mut Network, config: &TrainConfig, data: TrainData<'_>) -> Result<TrainOutcome, TrainError> {
    train(network, config, &data, &mut NoObserver, &Control::new(), None)
}

fn train_in_pool(
    network: &mut Network,
    config: &TrainConfig,
    data: &TrainData<'_>,
    observer: &mut dyn Observer,
    control: &Control,
    resume: Option<TrainState>,
) -> Result<TrainOutcome, TrainError> {
    config.validate(data.validation.is_some())?;
    network.check_trainable()?;
    let (inputs, classes) = (network.input_size(), network.output_size());
    if data.train.is_empty() {
        return Err(SamplesError::Empty { set: "training" }.into());
    }
    check_fits("training", data.train, inputs, classes)?;
    if let Some(validation) = data.validation {
        if validation.is_empty() {
            return Err(SamplesError::Empty { set: "validation" }.into());
        }
        check_fits("validation", validation, inputs, classes)?;
    }
    if let Some(test) = data.test {
        check_fits("test", test, inputs, classes)?;
    }
    let mut state = match resume {
        Some(mut state) => {
            config.check_resume(&state.config, state.epochs_completed)?;
            state.check_fits(network).map_err(TrainError::State)?;
            state.config = config.clone();
            state
        }
        None => TrainState::new(config.clone()),
    };
    let batches = data.train.len().div_ceil(config.batch_size);
    if state.next_batch >= batches {
        let detail = format!("it resumes at batch {} of an epoch of {batches} batches", state.next_batch + 1);
        return Err(TrainError::State(detail));
    }
    let optimizer = Optimizer::with_state(config.optimizer, config.weight_decay, std::mem::take(&mut state.optimizer))?;
    optimizer.check_fits(network)?;
    let augmenter = match config.augmentation {
        Some(augmentation) if !augmentation.is_identity() => {
            let input = network.input_shape();
            Some(Augmenter::new(augmentation, input).ok_or_else(|| {
                ConfigError::Augmentation(format!(
                    "augmentation moves images of one channel, but the network takes {input}: \
                     train without augmentation"
                ))
            })?)
        }
        _ => None,
    };
    let gradients = BatchGradients::new(network);
    let mut run = Run { config, data, batches, gradients, optimizer, order: Vec::new(), augmenter };

    let mut interrupted = false;
    while state.epochs_completed < config.epochs && !state.patience_exhausted() {
        if !run.epoch(network, &mut state, observer, control)? {
            interrupted = true;
            break;
        }
    }
    let stopped_early = !interrupted && state.epochs_completed < config.epochs;
    state.optimizer = run.optimizer.state().clone();
    let restored_best =
        !interrupted && config.early_stopping_patience.is_some() && state.restore_best(network).is_some();
    let best_epoch = state.best.as_ref().map(|best| best.epoch);
    Ok(TrainOutcome { state, interrupted, stopped_early, best_epoch, restored_best })
}

/// The buffers and fixed inputs of one call to [`train`].
struct Run<'r, 'd> {
    config: &'r TrainConfig,
    data: &'r TrainData<'d>,
    batches: usize,
    gradients: BatchGradients,
    optimizer: Optimizer,
    order: Vec<usize>,
    augmenter: Option<Augmenter>,
}

impl Run<'_, '_> {
    /// Trains (the rest of) epoch `state.epochs_completed`, evaluates and reports it; `false`
    /// if a stop was requested first.
    fn epoch(
        &mut self,
        network: &mut Network,
        state: &mut TrainState,
        observer: &mut dyn Observer,
        control: &Control,
    ) -> Result<bool, TrainError> {
        let config = self.config;
        let epoch = state.epochs_completed;
        let learning_rate = config.schedule.learning_rate(config.learning_rate, epoch, config.epochs);
        let started = Stopwatch::start();
        config.sampling.epoch_order(&mut self.order, self.data.train.len(), config.seed, epoch);
        observer.on_epoch_start(epoch + 1, config.epochs, self.batches);
        while state.next_batch < self.batches {
            if control.stop_requested() {
                state.partial_seconds += started.seconds();
                return Ok(false);
            }
            let batch = state.next_batch;
            let end = ((batch + 1) * config.batch_size).min(self.order.len());
            let indices = &self.order[batch * config.batch_size..end];
            let seed = batch_seed(config.seed, epoch, batch);
            let augmenter = self.augmenter.as_ref();
            let loss = self.gradients.compute_augmented(network, self.data.train, indices, seed, augmenter)?;
            if !loss.is_finite() || !self.gradients.all_finite() {
                return Err(TrainError::Diverged { epoch: epoch + 1, batch: batch + 1, batches: self.batches, loss });
            }
            self.optimizer.set_parallel(self.gradients.shards_used() > 1);
            self.optimizer.step(network, self.gradients.gradients(), learning_rate)?;
            self.gradients.update_running_statistics(network)?;
            if let Some(max_norm) = config.max_norm {
                constrain_max_norm(network, max_norm);
            }
            state.partial_loss_sum += f64::from(loss);
            state.partial_correct += self.gradients.correct();
            state.next_batch += 1;
            observer.on_batch(epoch + 1, batch + 1, self.batches, loss);
            let step = epoch * self.batches + state.next_batch;
            if state.next_batch < self.batches && observer.evaluate_now(step) {
                let seconds = state.partial_seconds + started.seconds();
                let report = self.report(network, state, learning_rate, seconds, true)?;
                state.history.push(report.clone());
                observer.on_evaluation(&report);
            }
        }

        let report = self.report(network, state, learning_rate, 0.0, false)?;
        if let Some(metrics) = report.validation {
            if state.best.as_ref().is_none_or(|best| metrics.accuracy > best.accuracy) {
                let parameters = network.parameters().iter().map(|p| p.as_slice().to_vec()).collect();
                state.best = Some(BestWeights { epoch: epoch + 1, accuracy: metrics.accuracy, parameters });
                state.epochs_without_improvement = 0;
            } else {
                state.epochs_without_improvement += 1;
            }
        }
        let report = EpochReport { seconds: state.partial_seconds + started.seconds(), ..report };
        state.history.push(report.clone());
        state.epochs_completed += 1;
        state.next_batch = 0;
        state.partial_loss_sum = 0.0;
        state.partial_correct = 0;
        state.partial_seconds = 0.0;
        state.optimizer = self.optimizer.state().clone();
        observer
            .on_epoch_end(&report, network, state)
            .map_err(|source| TrainError::Observer { epoch: epoch + 1, source })?;
        Ok(true)
    }

    /// The report of epoch `state.epochs_completed` over its first `state.next_batch` batches
    /// (all of them unless `partial`): the training loss and accuracy gathered from those
    /// batches, and the validation and test sets evaluated now.
    fn report(
        &self,
        network: &Network,
        state: &TrainState,
        learning_rate: f32,
        seconds: f64,
        partial: bool,
    ) -> Result<EpochReport, TrainError> {
        let eval_batch = self.config.eval_batch_size;
        let validation = self.data.validation.map(|set| evaluate(network, set, eval_batch)).transpose()?;
        let test = self.data.test.map(|set| evaluate(network, set, eval_batch)).transpose()?;
        let samples = (state.next_batch * self.config.batch_size).min(self.data.train.len());
        Ok(EpochReport {
            epoch: state.epochs_completed + 1,
            epochs: self.config.epochs,
            // Means over the batches trained so far in the epoch.
            train_loss: (state.partial_loss_sum / state.next_batch.max(1) as f64) as f32,
            train_accuracy: Some(state.partial_correct as f32 / samples.max(1) as f32),
            step: Some(state.epochs_completed * self.batches + state.next_batch),
            partial,
            learning_rate,
            validation,
            test,
            seconds,
        })
    }
}

/// The seed of batch `batch` of epoch `epoch` (both from 0), from which dropout draws its masks:
/// a function of the three numbers alone, so a resumed run draws the masks of an uninterrupted one.
pub fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    // Mixed one number at a time, so that nearby batches get unrelated seeds.
    mix_seed(mix_seed(mix_seed(seed) ^ epoch as u64) ^ batch as u64)
}
