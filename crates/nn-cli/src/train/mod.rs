//! `nn-cli train`: turns MNIST into a model, printing one line per epoch, writing the model, a
//! metrics log (JSON lines) and a checkpoint after every epoch.

mod progress;
mod resume;
mod settings;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};
use clap::Args;
use nn_core::{Activation, Init, Loss, Network, Shape, TrainingRecord};
use nn_train::recipe;
use nn_train::run_files::RunFiles;
use nn_train::run_lock::RunLock;
use nn_train::{
    Augmentation, Control, OptimizerConfig, PixelSamples, Sampling, Schedule, Standardize, TrainConfig, TrainData,
    TrainState,
};

use crate::data::Splits;
use crate::files::{check_can_write, refuse_output_over_inputs, refuse_shared_outputs, write_atomically};
use crate::memory_check;
use crate::output::outln;
use crate::recipes;

use progress::CliObserver;
use resume::resume_run;
use settings::{DataRecord, given_flags, settings_from, settings_line};

#[derive(Args)]
// A later flag overrides an earlier one, so scripts can append to a base command line.
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// A named set-up: default, nielsen, nielsen-100, nielsen-ch3, keras, torch-seed,
    /// saito-simple, saito-deep, pytorch-example, cnn [default: default]. Flags override it.
    #[arg(long, conflicts_with = "recipe_file")]
    recipe: Option<String>,
    /// A recipe file (JSON), such as the one `nn-cli search` writes. Flags override it.
    #[arg(long, value_name = "FILE")]
    recipe_file: Option<PathBuf>,
    /// The layers, as text or a name: "conv(32,3) relu maxpool(2) flatten dense(10)",
    /// saito-simple, saito-deep, pytorch-example, cnn. Replaces the recipe's network.
    #[arg(long, value_name = "SPEC_OR_NAME", conflicts_with_all = ["layers", "hidden"])]
    arch: Option<String>,
    /// All layer sizes, input to output, in one list: 784,100,10.
    #[arg(long, value_delimiter = ',', conflicts_with = "hidden", action = clap::ArgAction::Set)]
    layers: Option<Vec<usize>>,
    /// Hidden layer sizes only, in one list: 100 or 512,256 (a second --hidden replaces the
    /// first, as any repeated flag does).
    #[arg(long, value_delimiter = ',', action = clap::ArgAction::Set)]
    hidden: Option<Vec<usize>>,
    /// Activation of the hidden layers: sigmoid, tanh, relu, leaky_relu[:SLOPE], identity.
    #[arg(long)]
    hidden_activation: Option<Activation>,
    /// Output and loss: softmax_cross_entropy (softmax), sigmoid_quadratic (quadratic) or
    /// identity_mean_squared (mse: identity outputs regressing the one-hot labels).
    #[arg(long)]
    loss: Option<Loss>,
    /// Initialisation: glorot, he, nielsen (weights N(0,1/n), biases N(0,1)), normal (every
    /// weight and bias N(0,1), as network.py).
    #[arg(long)]
    init: Option<Init>,
    /// sgd, momentum[:MU], nesterov[:MU], rmsprop[:RHO:EPS], adam[:B1:B2:EPS], adadelta[:RHO:EPS].
    #[arg(long)]
    optimizer: Option<OptimizerConfig>,
    /// Base learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// Learning-rate schedule: constant, step:EVERY:FACTOR, cosine[:MIN_LR].
    #[arg(long)]
    schedule: Option<Schedule>,
    /// Samples per mini-batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Passes over the training set.
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many mini-batches.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Seed of the initial weights and of the shuffles [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Training images kept apart for validation (0: train on all of them).
    #[arg(long)]
    validation_size: Option<usize>,
    /// Nielsen's L2 regularisation λ (weight decay λ/n).
    #[arg(long)]
    lambda: Option<f32>,
    /// Dropout rate after each hidden layer of a dense network (for other networks, put
    /// dropout(P) in --arch).
    #[arg(long, value_name = "P", conflicts_with = "arch")]
    dropout: Option<f32>,
    /// The max-norm constraint: each neuron's incoming weights are scaled back to this norm
    /// after every step when longer (Srivastava et al. use 3 or 4 with dropout).
    #[arg(long, value_name = "C")]
    max_norm: Option<f32>,
    /// How each epoch picks its training images: shuffle (each once, in a new order) or
    /// replacement (as many independent draws, like the PyTorch tutorial's np.random.randint).
    #[arg(long, value_name = "HOW")]
    sampling: Option<Sampling>,
    /// Standardise the pixels, (x − μ) / σ, before the first layer, with the mean and deviation
    /// of the training images: per-pixel (each pixel its own; the default when no value is
    /// given) or global (one for all pixels, as PyTorch's MNIST example). Kept in the model
    /// file, so predict, eval and serve apply them.
    #[arg(long, value_name = "HOW", num_args = 0..=1, default_missing_value = "per-pixel")]
    standardize: Option<Standardize>,
    /// Move training images at random each time they are learned from, drawn from the seed:
    /// shift=PIXELS,rotate=DEGREES,scale=FRACTION,elastic=ALPHA/SIGMA (any of them, each once),
    /// or none. Shifts up to 7 pixels, scales below 1; elastic needs its sigma.
    #[arg(long, value_name = "SPEC")]
    augment: Option<Augmentation>,
    /// Stop after this many epochs without a better validation accuracy; keep the best weights.
    #[arg(long, value_name = "PATIENCE")]
    early_stopping: Option<usize>,
    /// Do not evaluate the test set after each epoch (it is still evaluated at the end).
    #[arg(long)]
    no_test_each_epoch: bool,
    /// Also evaluate every N mini-batches, mid-epoch (a line and a partial record in the log).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    eval_every: Option<u64>,
    /// Finish with status 0 even when the run learns nothing (accuracy near chance, or a loss
    /// that explodes); the warning is printed all the same.
    #[arg(long)]
    allow_no_learning: bool,
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The model file to write [default: models/RECIPE.json].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The metrics log, one JSON object per epoch [default: the model path with .metrics.jsonl].
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Continue the run of this output: an interrupted one, or a finished one for more epochs
    /// (same data and settings; only --epochs may be given another value).
    #[arg(long)]
    resume: bool,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    threads: Option<usize>,
    /// Refuse a run estimated to need more memory than this (8G, 512M) [default: the memory
    /// this machine has available].
    #[arg(long, value_name = "SIZE", value_parser = crate::memory_check::parse_size)]
    memory_limit: Option<u64>,
    /// Only the final lines: no progress bars, no per-epoch lines.
    #[arg(short, long)]
    quiet: bool,
    /// First show where an epoch of this run goes, layer by layer (as `nn-cli bench --profile`),
    /// then train.
    #[arg(long)]
    profile: bool,
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("cannot start the threads")?;
    }
    let recipe = recipes::resolve(args.recipe.as_deref(), args.recipe_file.as_deref())?;
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from(format!("models/{}.json", recipe.name)));
    let files = RunFiles::new(output, args.metrics.clone());
    let pending = files.pending();
    let mut inputs = vec![("the data set", args.data.as_path())];
    inputs.extend(args.recipe_file.as_deref().map(|file| ("the recipe file", file)));
    let outputs: Vec<(&str, &Path)> = files.finished().into_iter().chain(pending.finished()).collect();
    refuse_output_over_inputs(&outputs, &inputs)?;
    refuse_shared_outputs(&outputs)?;
    let _lock = RunLock::take(&files.model)?;
    // Every setting is checked before the data is read and before any file is written.
    let (settings, network, resume) = if args.resume {
        let (settings, network, state) = resume_run(args, &recipe, &files)?;
        (settings, Some(network), Some(state))
    } else {
        (settings_from(args, &recipe)?, None, None)
    };
    for (what, path) in files.finished() {
        check_can_write(what, path)?;
    }
    let splits = Splits::load(&args.data, settings.validation_size)?;
    let data = DataRecord::of(&splits);
    if let Some(trained_on) = settings.data.as_ref().filter(|saved| **saved != data) {
        bail!(
            "--resume continues a run trained on {}, but {} holds {}: the metrics log and the held-out \
             images would mix two data sets; resume with the run's data, or train a new run without --resume",
            trained_on.describe(),
            args.data.display(),
            data.describe()
        );
    }
    let input = Shape::new(1, splits.train.rows(), splits.train.cols());
    // Before the network and its batches are allocated: a run that cannot fit is refused here,
    // not ended by the allocator.
    let usage = memory_check::network_memory(settings.arch.as_deref(), &settings.layers, input)?;
    let data_bytes = memory_check::data_bytes(&[&splits.train, &splits.validation, &splits.test]);
    // A batch larger than the training set is the training set.
    let batch_size = settings.config.batch_size.min(splits.train.len().max(1));
    let config = TrainConfig { batch_size, ..settings.config.clone() };
    let eval_samples = splits.validation.len().max(splits.test.len());
    memory_check::check_training(&usage, &config, data_bytes, eval_samples, args.memory_limit)?;
    let mut network = match network {
        Some(network) => network,
        None => recipe::new_network(
            settings.arch.as_deref(),
            &settings.layers,
            settings.hidden_activation,
            settings.loss,
            settings.init,
            settings.seed,
            input,
        )?,
    };
    let input_size = splits.train.pixels_per_image();
    if network.input_size() != input_size || network.output_size() != splits.train.classes() {
        bail!(
            "the network is {} but the data has {input_size} pixels per image and {} classes",
            sizes(&network),
            splits.train.classes()
        );
    }
    let mut settings = settings;
    settings.data = Some(data);
    if !args.resume {
        // Nielsen's λ is per training image: the decay coefficient is λ/n.
        settings.config.weight_decay = settings.lambda / splits.train.len() as f32;
    }
    let config = settings.config.clone();
    let batches_per_epoch = splits.train.len().div_ceil(config.batch_size.max(1));
    let steps_done = resume.as_ref().map_or(0, |s| s.epochs_completed * batches_per_epoch + s.next_batch);
    let train = pixels(&splits.train, input_size)?;
    let validation = pixels(&splits.validation, input_size)?;
    let test = pixels(&splits.test, input_size)?;
    if let Some(kind) = settings.standardize.filter(|_| !args.resume) {
        // The training images alone: the held-out ones must not shape the model.
        network.set_standardization(Some(nn_train::standardization_of(&train, kind)?))?;
    }
    if args.profile {
        let profile = nn_train::profile::profile(&network, &config, &train, 5)?;
        outln!("{}", crate::profile_table::profile_table(&settings.recipe, &profile))?;
    }
    let data = TrainData {
        train: &train,
        validation: (settings.validation_size > 0).then_some(&validation as &dyn nn_train::Samples),
        test: settings.test_each_epoch.then_some(&test as &dyn nn_train::Samples),
    };

    write_atomically(&pending.settings, serde_json::to_string_pretty(&settings)?.as_bytes())?;

    let control = Control::new();
    let flag = control.flag();
    // The first Ctrl-C asks for a checkpoint and a clean stop; a second one ends at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if !args.quiet {
        outln!("{}", settings_line(args, &recipe, &settings))?;
        let unchanged = !args.resume && given_flags(args).is_empty();
        if unchanged && !recipe.about.is_empty() {
            outln!("  ({})", recipe.about)?;
        }
        let described = match settings.arch {
            Some(_) => {
                format!("{} ({} parameters, {})", network.architecture(), network.parameter_count(), settings.loss)
            }
            None => format!("{} ({}, {})", sizes(&network), settings.hidden_activation, settings.loss),
        };
        outln!(
            "training {described} on {} images, {} epochs of batches of {}",
            splits.train.len(),
            config.epochs,
            config.batch_size
        )?;
    }
    let mut observer = CliObserver::new(args.quiet, &pending, settings.max_steps, steps_done, control.clone());
    observer.eval_every = args.eval_every.map(|n| n as usize);
    observer.learning = nn_train::LearningCheck::new(splits.train.classes(), config.batch_size, splits.train.len());
    let outcome = nn_train::train(&mut network, &config, &data, &mut observer, &control, resume);
    observer.finish();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            let kept = if pending.checkpoint.exists() {
                format!("; its last good checkpoint stays at {} for --resume", pending.checkpoint.display())
            } else {
                String::new()
            };
            match e {
                // Its message already starts with "training stopped after epoch N".
                nn_train::TrainError::Observer { .. } => bail!("{e}{kept}"),
                _ => bail!("training stopped: {e}{kept}"),
            }
        }
    };
    if outcome.interrupted && !observer.reached_max_steps() {
        nn_train::save_checkpoint(&network, &outcome.state, &pending.checkpoint)?;
        eprintln!(
            "interrupted: checkpoint written to {}; continue with the same command and --resume{}",
            pending.checkpoint.display(),
            if files.model.exists() {
                format!(" ({} is left as it was)", files.model.display())
            } else {
                String::new()
            }
        );
        std::process::exit(130);
    }
    if let Some(best) = outcome.best_epoch {
        let restored = if outcome.restored_best { " (weights restored)" } else { "" };
        outln!("best epoch: {best}{restored}")?;
    }
    let (inputs, labels) = crate::data::inputs_and_labels(&splits.test);
    let evaluation = network.evaluate(&inputs, &labels, config.eval_batch_size)?;
    let record = TrainingRecord {
        train_samples: splits.train.len(),
        validation_samples: splits.validation.len(),
        recipe: Some(settings.arch.clone().unwrap_or_else(|| settings.recipe.clone())),
        seed: settings.seed,
        epochs: outcome.state.epochs_completed,
        test_accuracy: Some(evaluation.accuracy()),
    };
    // The whole set is written under pending names, then replaces the previous run's at once.
    write_metrics(&pending.metrics, &outcome.state)?;
    nn_train::save_checkpoint(&network, &outcome.state, &pending.checkpoint)?;
    nn_core::save_trained_model(&network, &record, &pending.model)?;
    files.commit_pending()?;
    outln!(
        "wrote {} (metrics {}, checkpoint {})",
        files.model.display(),
        files.metrics.display(),
        files.checkpoint.display()
    )?;
    outln!("test accuracy: {:.4}", evaluation.accuracy())?;
    // A published number holds for the recipe as published, on MNIST's 60,000 training images.
    let as_published = given_flags(args).iter().all(|flag| flag.starts_with("--seed "))
        && !args.resume
        && splits.train.len() + splits.validation.len() == 60_000
        && splits.test.len() == 10_000;
    if let Some(note) = recipe.shortfall(evaluation.accuracy()).filter(|_| as_published) {
        eprintln!("note: {note}");
    }
    if let Some(problem) = observer.last_problem.as_ref().filter(|_| !args.allow_no_learning) {
        bail!(
            "the run learnt nothing: {problem} (the files are written; --allow-no-learning ends such a run with status \
             0)"
        );
    }
    Ok(())
}

/// The metrics log: every completed epoch, one JSON object per line, rewritten whole from the
/// state, so that a resumed run's log has no gap or repeat.
fn write_metrics(path: &Path, state: &TrainState) -> Result<()> {
    let mut log = String::new();
    for record in &state.history {
        log.push_str(&serde_json::to_string(record)?);
        log.push('\n');
    }
    write_atomically(path, log.as_bytes())
}

/// A set as training samples, kept as bytes (scaled to [0, 1] batch by batch).
fn pixels(set: &mnist_data::Dataset, input_size: usize) -> Result<PixelSamples<'_>> {
    Ok(PixelSamples::new(set.pixels(), set.labels(), input_size)?)
}

fn sizes(network: &Network) -> String {
    network.sizes().iter().map(usize::to_string).collect::<Vec<_>>().join("-")
}
