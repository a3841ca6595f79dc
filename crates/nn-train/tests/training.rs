//! The training loop end to end: determinism across thread counts, interruption and exact
//! resumption, divergence, early stopping, and that every optimizer learns.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{bits, linear_rule, network};
use nn_core::{Activation, Init, Loss, Network};
use nn_train::{
    Checkpoint, Control, EpochReport, NoObserver, Observer, ObserverError, OptimizerConfig, Schedule, TrainConfig,
    TrainData, TrainError, TrainState, evaluate, save_checkpoint, train,
};

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 32,
        seed: 11,
        sampling: nn_train::Sampling::Shuffle,
        learning_rate: 0.01,
        optimizer: OptimizerConfig::adam(),
        schedule: Schedule::Cosine { min_lr: 0.001 },
        weight_decay: 1e-4,
        early_stopping_patience: None,
        eval_batch_size: 50,
        augmentation: None,
        max_norm: None,
    }
}

/// Reports without their timing, which legitimately differs between runs.
fn untimed(history: &[EpochReport]) -> Vec<EpochReport> {
    history.iter().map(|r| EpochReport { seconds: 0.0, ..r.clone() }).collect()
}

#[test]
fn same_bits_with_one_and_several_threads() {
    let train_set = linear_rule(700, 1, false);
    let validation = linear_rule(100, 2, false);
    // Batches of 256 are cut into 4 shards; the last batch of 188 into 2.
    let config = TrainConfig { batch_size: 256, epochs: 3, ..config() };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = network(5);
            let data = TrainData::new(&train_set).with_validation(&validation);
            let outcome = train(&mut net, &config, &data, &mut NoObserver, &Control::new(), None).unwrap();
            (bits(&net), untimed(&outcome.state.history))
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

/// Requests a stop after a number of batches, and optionally saves a checkpoint at the end of
/// one epoch.
struct Interrupter {
    control: Control,
    stop_after: Option<usize>,
    batches: usize,
    save_at: Option<(usize, std::path::PathBuf)>,
}

impl Observer for Interrupter {
    fn on_batch(&mut self, _epoch: usize, _batch: usize, _batches: usize, _loss: f32) {
        self.batches += 1;
        if Some(self.batches) == self.stop_after {
            self.control.request_stop();
        }
    }

    fn on_epoch_end(
        &mut self,
        report: &EpochReport,
        network: &Network,
        state: &TrainState,
    ) -> Result<(), ObserverError> {
        if let Some((epoch, path)) = &self.save_at
            && report.epoch == *epoch
        {
            save_checkpoint(network, state, path)?;
        }
        Ok(())
    }
}

#[test]
fn resuming_gives_the_bits_of_an_uninterrupted_run() {
    let train_set = linear_rule(600, 3, false); // 19 batches of 32 per epoch
    let validation = linear_rule(100, 4, false);
    let data = TrainData::new(&train_set).with_validation(&validation);
    let config = config();
    let mut reference = network(7);
    let full = train(&mut reference, &config, &data, &mut NoObserver, &Control::new(), None).unwrap();
    assert!(!full.interrupted && !full.stopped_early);
    assert_eq!(full.state.history.len(), 4);

    let dir = tempfile::tempdir().unwrap();
    let mid = dir.path().join("mid.ckpt");
    let end_of_epoch = dir.path().join("epoch2.ckpt");
    let control = Control::new();
    let mut observer = Interrupter {
        control: control.clone(),
        stop_after: Some(25),
        batches: 0,
        save_at: Some((2, end_of_epoch.clone())),
    };
    let mut net = network(7);
    let stopped = train(&mut net, &config, &data, &mut observer, &control, None).unwrap();
    assert!(stopped.interrupted);
    assert_eq!((stopped.state.epochs_completed, stopped.state.next_batch), (1, 6));
    assert!(stopped.state.is_mid_epoch());
    Checkpoint { network: net, state: stopped.state }.save(&mid).unwrap();

    let resume_from = |path: &std::path::Path| {
        let Checkpoint { mut network, state } = Checkpoint::load(path).unwrap();
        let outcome = train(&mut network, &config, &data, &mut NoObserver, &Control::new(), Some(state)).unwrap();
        assert!(!outcome.interrupted);
        (bits(&network), untimed(&outcome.state.history), outcome.state.optimizer)
    };
    let expected = (bits(&reference), untimed(&full.state.history), full.state.optimizer.clone());
    assert!(resume_from(&mid) == expected, "resumed mid-epoch differs");

    // The end-of-epoch checkpoint was written by a run that went on to epoch 4 uninterrupted.
    let mut observer =
        Interrupter { control: Control::new(), stop_after: None, batches: 0, save_at: Some((2, end_of_epoch.clone())) };
    train(&mut network(7), &config, &data, &mut observer, &Control::new(), None).unwrap();
    let saved = Checkpoint::load(&end_of_epoch).unwrap();
    assert_eq!((saved.state.epochs_completed, saved.state.next_batch), (2, 0));
    assert!(resume_from(&end_of_epoch) == expected, "resumed at an epoch boundary differs");
}

#[test]
fn resume_refuses_another_configuration_but_accepts_more_epochs() {
    let train_set = linear_rule(200, 3, false);
    let data = TrainData::new(&train_set);
    let config = TrainConfig { epochs: 2, ..config() };
    let mut net = network(1);
    let outcome = train(&mut net, &config, &data, &mut NoObserver, &Control::new(), None).unwrap();
    let other = TrainConfig { batch_size: 16, ..config.clone() };
    let error = train(&mut net.clone(), &other, &data, &mut NoObserver, &Control::new(), Some(outcome.state.clone()))
        .unwrap_err();
    assert!(error.to_string().contains("batch_size"), "{error}");
    let drawn = TrainConfig { sampling: nn_train::Sampling::Replacement, ..config.clone() };
    let error = train(&mut net.clone(), &drawn, &data, &mut NoObserver, &Control::new(), Some(outcome.state.clone()))
        .unwrap_err();
    assert!(error.to_string().contains("sampling"), "{error}");
    let more = TrainConfig { epochs: 3, ..config };
    let resumed = train(&mut net, &more, &data, &mut NoObserver, &Control::new(), Some(outcome.state)).unwrap();
    assert_eq!(resumed.state.history.len(), 3);
}

#[test]
fn a_huge_learning_rate_diverges_with_a_clear_error() {
    let train_set = linear_rule(200, 3, false);
    let config = TrainConfig { learning_rate: 1e30, optimizer: OptimizerConfig::Sgd, weight_decay: 0.0, ..config() };
    // ReLU does not saturate, so the logits overflow.
    let sizes = [common::FEATURES, 16, common::CLASSES];
    let mut net = Network::dense(&sizes, Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let error =
        train(&mut net, &config, &TrainData::new(&train_set), &mut NoObserver, &Control::new(), None).unwrap_err();
    let TrainError::Diverged { epoch, batch, batches, loss } = error else { panic!("{error}") };
    assert_eq!((epoch, batches), (1, 7));
    assert!(batch >= 2);
    let message = error.to_string();
    assert!(message.contains(&format!("epoch 1, batch {batch} of 7")), "{message}");
    assert!(message.contains("smaller learning rate"), "{message}");
    assert!(!loss.is_finite() || message.contains("gradient"));
    // The failing batch was not applied: the weights are those of the last good step.
    assert!(net.parameters().iter().all(|p| p.iter().all(|v| v.is_finite())));
    println!("{message}");
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let train_set = linear_rule(300, 3, false);
    // Random validation labels: the accuracy soon stops improving.
    let validation = linear_rule(200, 9, true);
    let config = TrainConfig { epochs: 60, early_stopping_patience: Some(3), ..config() };
    let data = TrainData::new(&train_set).with_validation(&validation);
    let mut net = network(2);
    let outcome = train(&mut net, &config, &data, &mut NoObserver, &Control::new(), None).unwrap();
    assert!(outcome.stopped_early && outcome.restored_best && !outcome.interrupted);
    let history = &outcome.state.history;
    let best = outcome.best_epoch.unwrap();
    assert_eq!(history.len(), best + 3, "stops exactly `patience` epochs after the best");
    let accuracy = |r: &EpochReport| r.validation.unwrap().accuracy;
    let best_accuracy = accuracy(&history[best - 1]);
    assert!(history[..best - 1].iter().all(|r| accuracy(r) < best_accuracy));
    assert!(history[best..].iter().all(|r| accuracy(r) <= best_accuracy));
    assert_eq!(evaluate(&net, &validation, 50).unwrap().accuracy, best_accuracy);
    assert_eq!(
        outcome.state.best.unwrap().parameters,
        net.parameters().iter().map(|p| p.as_slice().to_vec()).collect::<Vec<_>>()
    );
}

#[test]
fn every_optimizer_learns() {
    let train_set = linear_rule(600, 3, false);
    let validation = linear_rule(200, 4, false);
    let data = TrainData::new(&train_set).with_validation(&validation);
    for (optimizer, learning_rate) in [
        (OptimizerConfig::Sgd, 0.5),
        (OptimizerConfig::momentum(0.9), 0.05),
        (OptimizerConfig::nesterov(0.9), 0.05),
        (OptimizerConfig::rmsprop(), 0.005),
        (OptimizerConfig::adam(), 0.01),
    ] {
        let config = TrainConfig { epochs: 6, optimizer, learning_rate, schedule: Schedule::Constant, ..config() };
        let mut net = network(3);
        let before = evaluate(&net, &validation, 100).unwrap();
        let outcome = train(&mut net, &config, &data, &mut NoObserver, &Control::new(), None).unwrap();
        let after = outcome.state.history.last().unwrap().validation.unwrap();
        assert!(after.loss < 0.5 * before.loss, "{optimizer}: loss {} -> {}", before.loss, after.loss);
        assert!(after.accuracy > 0.85, "{optimizer}: accuracy {}", after.accuracy);
    }
}

#[test]
fn a_stop_flag_set_beforehand_stops_before_the_first_batch() {
    let train_set = linear_rule(100, 3, false);
    let flag = Arc::new(AtomicBool::new(true));
    let control = Control::from_flag(flag.clone());
    let mut net = network(1);
    let before = bits(&net);
    let outcome = train(&mut net, &config(), &TrainData::new(&train_set), &mut NoObserver, &control, None).unwrap();
    assert!(outcome.interrupted);
    assert_eq!((outcome.state.epochs_completed, outcome.state.next_batch), (0, 0));
    assert_eq!(bits(&net), before);
    flag.store(false, Ordering::SeqCst);
    assert!(!control.stop_requested());
}

#[test]
fn bad_inputs_are_refused_with_typed_errors() {
    let train_set = linear_rule(100, 3, false);
    let mut net = network(1);
    let run = |net: &mut Network, config: &TrainConfig, data: &TrainData<'_>| {
        train(net, config, data, &mut NoObserver, &Control::new(), None).unwrap_err()
    };
    let patience = TrainConfig { early_stopping_patience: Some(2), ..config() };
    assert!(matches!(run(&mut net, &patience, &TrainData::new(&train_set)), TrainError::Config(_)));
    let wrong = nn_train::FloatSamples::new(vec![0.0; 10], vec![0, 1], 5).unwrap();
    assert!(matches!(run(&mut net, &config(), &TrainData::new(&wrong)), TrainError::Samples(_)));
    let labels = nn_train::FloatSamples::new(vec![0.0; 40], vec![0, 7], 20).unwrap();
    let error = run(&mut net, &config(), &TrainData::new(&labels));
    assert!(error.to_string().contains("sample 1 of the training set has label 7"), "{error}");
}

#[test]
fn an_observer_error_stops_training() {
    struct Failing;
    impl Observer for Failing {
        fn on_epoch_end(&mut self, _: &EpochReport, _: &Network, _: &TrainState) -> Result<(), ObserverError> {
            Err("disk full".into())
        }
    }
    let train_set = linear_rule(100, 3, false);
    let error = train(&mut network(1), &config(), &TrainData::new(&train_set), &mut Failing, &Control::new(), None)
        .unwrap_err();
    assert!(matches!(error, TrainError::Observer { epoch: 1, .. }));
    assert_eq!(std::error::Error::source(&error).unwrap().to_string(), "disk full");
}

/// A small convolutional network with dropout on the 20 features seen as a 1x4x5 image.
fn conv_network(seed: u64) -> Network {
    let arch: nn_core::Architecture =
        "conv(4,2,pad=1) relu maxpool(2) dropout(0.25) flatten dense(8) relu dropout(0.5) dense(3)".parse().unwrap();
    arch.with_input(nn_core::Shape::new(1, 4, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap()
}

#[test]
fn convolutions_and_dropout_give_the_same_bits_with_any_thread_count_and_across_a_resume() {
    // Batches of 256 in 4 shards, the last one of 188 in 2: dropout masks must not depend on them.
    let config = TrainConfig { batch_size: 256, epochs: 3, learning_rate: 0.02, ..config() };
    assert_reproducible(&config);
}

#[test]
fn augmentation_and_max_norm_give_the_same_bits_with_any_thread_count_and_across_a_resume() {
    let config = TrainConfig {
        batch_size: 256,
        epochs: 3,
        learning_rate: 0.02,
        augmentation: Some("shift=1,rotate=10,scale=0.1,elastic=8/1".parse().unwrap()),
        max_norm: Some(1.5),
        ..config()
    };
    assert_reproducible(&config);
    let plain = TrainConfig { augmentation: None, max_norm: None, ..config.clone() };
    let train_set = linear_rule(700, 1, false);
    let weights = |config: &TrainConfig| {
        let mut net = conv_network(5);
        train(&mut net, config, &TrainData::new(&train_set), &mut NoObserver, &Control::new(), None).unwrap();
        bits(&net)
    };
    assert_ne!(weights(&config), weights(&plain), "augmentation changes what is learned");
}

#[test]
fn draws_with_replacement_give_the_same_bits_with_any_thread_count_and_across_a_resume() {
    let config = TrainConfig {
        batch_size: 256,
        epochs: 3,
        learning_rate: 0.02,
        sampling: nn_train::Sampling::Replacement,
        ..config()
    };
    assert_reproducible(&config);
    let train_set = linear_rule(700, 1, false);
    let weights = |config: &TrainConfig| {
        let mut net = conv_network(5);
        train(&mut net, config, &TrainData::new(&train_set), &mut NoObserver, &Control::new(), None).unwrap();
        bits(&net)
    };
    let shuffled = TrainConfig { sampling: nn_train::Sampling::Shuffle, ..config.clone() };
    assert_ne!(weights(&config), weights(&shuffled), "the draws are not the shuffle");
}

#[test]
fn augmentation_of_inputs_that_are_not_images_is_refused() {
    let train_set = linear_rule(100, 1, false);
    let config = TrainConfig { augmentation: Some("shift=1".parse().unwrap()), ..config() };
    let mut net = network(1);
    let error = train(&mut net, &config, &TrainData::new(&train_set), &mut NoObserver, &Control::new(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("images of one channel"), "{error}");
}

/// Trains `conv_network` with `config` on 1, 2 and 3 threads, and interrupted then resumed: the
/// same bits every time.
fn assert_reproducible(config: &TrainConfig) {
    assert_reproducible_with(config, conv_network);
}

/// [`assert_reproducible`] for the networks `build` makes: their parameters and running
/// statistics.
fn assert_reproducible_with(config: &TrainConfig, build: fn(u64) -> Network) {
    let bits = |net: &Network| {
        let statistics: Vec<Vec<u32>> = net
            .layers()
            .iter()
            .filter_map(|layer| layer.running_statistics())
            .flat_map(|s| [&s.mean, &s.variance].map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()))
            .collect();
        (bits(net), statistics)
    };
    let train_set = linear_rule(700, 1, false);
    let validation = linear_rule(100, 2, false);
    let data = TrainData::new(&train_set).with_validation(&validation);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = build(5);
            let outcome = train(&mut net, config, &data, &mut NoObserver, &Control::new(), None).unwrap();
            (bits(&net), untimed(&outcome.state.history))
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));

    // Interrupted after 4 batches (mid-epoch 2), checkpointed, resumed: the same bits.
    let control = Control::new();
    let mut observer = Interrupter { control: control.clone(), stop_after: Some(4), batches: 0, save_at: None };
    let mut net = build(5);
    let stopped = train(&mut net, config, &data, &mut observer, &control, None).unwrap();
    assert!(stopped.interrupted);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conv.ckpt");
    Checkpoint { network: net, state: stopped.state }.save(&path).unwrap();
    let Checkpoint { mut network, state } = Checkpoint::load(&path).unwrap();
    let outcome = train(&mut network, config, &data, &mut NoObserver, &Control::new(), Some(state)).unwrap();
    assert_eq!((bits(&network), untimed(&outcome.state.history)), one);
}

fn batch_normalised_network(seed: u64) -> Network {
    let arch: nn_core::Architecture =
        "conv(4,2,pad=1) batchnorm relu maxpool(2) flatten dense(8) batchnorm relu dropout(0.5) dense(3)"
            .parse()
            .unwrap();
    arch.with_input(nn_core::Shape::new(1, 4, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap()
}

#[test]
fn batch_normalisation_gives_the_same_bits_with_any_thread_count_and_across_a_resume() {
    // Batches of 256 would be 4 shards: batch normalisation computes each whole.
    let config = TrainConfig { batch_size: 256, epochs: 3, ..config() };
    assert_reproducible_with(&config, batch_normalised_network);
    let config = TrainConfig { batch_size: 50, epochs: 2, ..config };
    assert_reproducible_with(&config, batch_normalised_network);
}

#[test]
fn a_batch_normalised_network_learns_and_moves_its_running_statistics() {
    let train_set = linear_rule(1000, 3, false);
    let test = linear_rule(300, 4, false);
    let config = TrainConfig { batch_size: 32, epochs: 10, learning_rate: 0.01, ..config() };
    let arch: nn_core::Architecture =
        "conv(8,3,pad=1) batchnorm relu flatten dense(8) batchnorm relu dense(3)".parse().unwrap();
    let mut net = arch.with_input(nn_core::Shape::new(1, 4, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, 9).unwrap();
    let before = evaluate(&net, &test, 100).unwrap().accuracy;
    train(&mut net, &config, &TrainData::new(&train_set), &mut NoObserver, &Control::new(), None).unwrap();
    let after = evaluate(&net, &test, 100).unwrap().accuracy;
    assert!(after > 0.85 && after > before + 0.2, "accuracy {before} -> {after}");
    let statistics = net.layers()[1].running_statistics().unwrap();
    // 1,000 samples in batches of 32: 32 batches an epoch.
    assert_eq!(statistics.batches_tracked, 320);
    assert!(statistics.mean.iter().all(|m| *m != 0.0) && statistics.variance.iter().all(|v| *v != 1.0));
}

#[test]
fn a_convolutional_network_learns() {
    let train_set = linear_rule(1000, 3, false);
    let test = linear_rule(300, 4, false);
    let config = TrainConfig { batch_size: 32, epochs: 10, learning_rate: 0.01, ..config() };
    let arch: nn_core::Architecture = "conv(8,3,pad=1) relu dropout(0.1) flatten dense(3)".parse().unwrap();
    let mut net = arch.with_input(nn_core::Shape::new(1, 4, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, 9).unwrap();
    let before = evaluate(&net, &test, 100).unwrap().accuracy;
    train(&mut net, &config, &TrainData::new(&train_set), &mut NoObserver, &Control::new(), None).unwrap();
    let after = evaluate(&net, &test, 100).unwrap().accuracy;
    assert!(after > 0.85 && after > before + 0.2, "accuracy {before} -> {after}");
}
