//! `nn-cli train`: turns MNIST into a model, printing one line per epoch, writing the model, a
//! metrics log (JSON lines) and a checkpoint after every epoch.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nn_core::{Activation, Architecture, Init, Loss, Network, Shape, TrainingRecord};
use nn_train::{
    Augmentation, Checkpoint, Control, EpochReport, Observer, ObserverError, OptimizerConfig, PixelSamples, Sampling,
    Schedule, Standardize, TrainConfig, TrainData, TrainState,
};
use serde::{Deserialize, Serialize};

use crate::data::Splits;
use crate::files::{check_can_write, refuse_output_over_inputs, refuse_shared_outputs, write_atomically};
use crate::output::outln;
use nn_train::recipe::{self, Recipe};

use crate::memory_check;
use crate::recipes;
use nn_train::run_files::RunFiles;
use nn_train::run_lock::RunLock;

/// The seed when --seed is not given.
const DEFAULT_SEED: u64 = 1;

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
}

/// What a run needs besides the trainer's own configuration; saved beside the checkpoint so a
/// resumed run uses the same network shape and data split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunSettings {
    recipe: String,
    /// The architecture's text when the network is not a plain dense one of `layers`.
    #[serde(default)]
    arch: Option<String>,
    layers: Vec<usize>,
    hidden_activation: Activation,
    loss: Loss,
    init: Init,
    seed: u64,
    validation_size: usize,
    /// Nielsen's λ (the configuration holds λ/n).
    #[serde(default)]
    lambda: f32,
    /// `--dropout`: the rate after each hidden layer of the dense network `layers` (then `arch`
    /// is that network with its dropout layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dropout: Option<f32>,
    max_steps: Option<usize>,
    test_each_epoch: bool,
    /// How the inputs are standardised, from the training images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    standardize: Option<Standardize>,
    config: TrainConfig,
    /// The data the run trains on; a resume on other data is refused. Absent in the records
    /// of runs started before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<DataRecord>,
}

/// The sizes and fingerprints (`mnist_data::fingerprint`) of a run's training file (its
/// training and validation images together) and test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DataRecord {
    training_images: usize,
    training_fingerprint: String,
    test_images: usize,
    test_fingerprint: String,
}

impl DataRecord {
    fn of(splits: &Splits) -> DataRecord {
        DataRecord {
            training_images: splits.train.len() + splits.validation.len(),
            training_fingerprint: mnist_data::fingerprint(&[&splits.train, &splits.validation]),
            test_images: splits.test.len(),
            test_fingerprint: mnist_data::fingerprint(&[&splits.test]),
        }
    }

    /// `60000 training images (sha256:1a2b3c4d...) and 10000 test images (sha256:...)`.
    fn describe(&self) -> String {
        let short = |f: &str| f.chars().take(7 + 12).collect::<String>();
        format!(
            "{} training images ({}...) and {} test images ({}...)",
            self.training_images,
            short(&self.training_fingerprint),
            self.test_images,
            short(&self.test_fingerprint)
        )
    }
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

fn settings_from(args: &TrainArgs, recipe: &Recipe) -> Result<RunSettings> {
    let arch = match (&args.arch, &args.layers, &args.hidden) {
        (Some(arch), _, _) => Some(arch.clone()),
        (None, None, None) => recipe.arch.clone(),
        _ => None,
    };
    if let Some(arch) = &arch {
        Architecture::named_or_parsed(arch)?;
    }
    let layers = requested_layers(args).unwrap_or_else(|| [vec![784], recipe.hidden.clone(), vec![10]].concat());
    if layers.len() < 2 || layers.contains(&0) {
        bail!("--layers needs at least an input and an output size, none of them 0 (got {layers:?})");
    }
    // The check of Network::dense itself, before the data is read: no size can abort a run.
    Network::check_dense_sizes(&layers).with_context(|| format!("invalid layer sizes {layers:?}"))?;
    let hidden_activation = args.hidden_activation.unwrap_or(recipe.hidden_activation);
    let arch = match (args.dropout, arch) {
        (Some(_), Some(arch)) => bail!(
            "--dropout adds dropout to a dense network, but this one is the architecture {arch:?}: \
             put dropout(P) in --arch instead"
        ),
        (Some(rate), None) => {
            Some(recipe::dense_with_dropout(&layers, hidden_activation, rate).map_err(|e| anyhow::anyhow!("--{e}"))?)
        }
        (None, arch) => arch,
    };
    let seed = args.seed.or(recipe.seed).unwrap_or(DEFAULT_SEED);
    let config = TrainConfig {
        epochs: args.epochs.unwrap_or(recipe.epochs),
        batch_size: args.batch_size.unwrap_or(recipe.batch_size),
        seed,
        learning_rate: args.lr.unwrap_or(recipe.learning_rate),
        optimizer: args.optimizer.unwrap_or(recipe.optimizer),
        schedule: args.schedule.unwrap_or(recipe.schedule),
        weight_decay: 0.0,
        early_stopping_patience: args.early_stopping,
        eval_batch_size: 1000,
        augmentation: args.augment.or(recipe.augmentation).filter(|a| !a.is_identity()),
        max_norm: args.max_norm.or(recipe.max_norm),
        sampling: args.sampling.unwrap_or(recipe.sampling),
    };
    let settings = RunSettings {
        recipe: recipe.name.clone(),
        arch,
        layers,
        hidden_activation,
        loss: args.loss.unwrap_or(recipe.loss),
        init: args.init.unwrap_or(recipe.init),
        seed,
        validation_size: args.validation_size.unwrap_or(recipe.validation_size),
        lambda: args.lambda.unwrap_or(recipe.lambda),
        dropout: args.dropout,
        max_steps: args.max_steps.or(recipe.max_steps),
        test_each_epoch: !args.no_test_each_epoch,
        standardize: args.standardize.or(recipe.standardize),
        config,
        data: None,
    };
    check_settings(&settings)?;
    Ok(settings)
}

/// The run's settings as they will be used, every flag applied: `recipe nielsen, changed by
/// --lr 0.01: 784-30-10 sigmoid, sigmoid_quadratic, init normal, sgd lr 0.01 (constant), ...`.
fn settings_line(args: &TrainArgs, recipe: &Recipe, settings: &RunSettings) -> String {
    let config = &settings.config;
    let mut origin = match (&args.recipe_file, args.resume) {
        (_, true) => format!("resuming recipe {}", settings.recipe),
        (Some(file), false) => format!("recipe {} (from {})", recipe.name, file.display()),
        (None, false) => format!("recipe {}", recipe.name),
    };
    let flags = given_flags(args);
    if !args.resume && !flags.is_empty() {
        origin.push_str(&format!(", changed by {}", flags.join(" ")));
    }
    let network = match &settings.arch {
        Some(arch) => arch.clone(),
        None => format!("{} {}", saved_layers(settings).replace(',', "-"), settings.hidden_activation),
    };
    let mut parts = vec![
        network,
        settings.loss.to_string(),
        format!("init {}", settings.init),
        format!("{} lr {} ({})", config.optimizer, config.learning_rate, config.schedule),
        format!("batch {}", config.batch_size),
        format!("{} epochs", config.epochs),
    ];
    if let Some(steps) = settings.max_steps {
        parts.push(format!("at most {steps} steps"));
    }
    if settings.lambda > 0.0 {
        parts.push(format!("L2 lambda {}", settings.lambda));
    }
    if let Some(patience) = config.early_stopping_patience {
        parts.push(format!("early stopping after {patience} epochs without progress"));
    }
    if let Some(max_norm) = config.max_norm {
        parts.push(format!("max-norm {max_norm}"));
    }
    if let Some(augmentation) = config.augmentation {
        parts.push(format!("training images moved by {augmentation}"));
    }
    if config.sampling == Sampling::Replacement {
        parts.push("images drawn with replacement".into());
    }
    if let Some(kind) = settings.standardize {
        parts.push(format!("pixels standardised ({kind})"));
    }
    parts.push(format!("{} images held out for validation", settings.validation_size));
    parts.push(format!("seed {}", settings.seed));
    format!("{origin}: {}", parts.join(", "))
}

/// The flags of `train` that change a recipe's settings, as given (`--lr 0.01`).
fn given_flags(args: &TrainArgs) -> Vec<String> {
    let list = |values: &[usize]| values.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let flags: [(&str, Option<String>); 22] = [
        ("--arch", args.arch.clone()),
        ("--layers", args.layers.as_deref().map(list)),
        ("--hidden", args.hidden.as_deref().map(list)),
        ("--hidden-activation", args.hidden_activation.map(|a| a.to_string())),
        ("--loss", args.loss.map(|l| l.to_string())),
        ("--init", args.init.map(|i| i.to_string())),
        ("--optimizer", args.optimizer.map(|o| o.to_string())),
        ("--lr", args.lr.map(|l| l.to_string())),
        ("--schedule", args.schedule.map(|s| s.to_string())),
        ("--batch-size", args.batch_size.map(|b| b.to_string())),
        ("--epochs", args.epochs.map(|e| e.to_string())),
        ("--max-steps", args.max_steps.map(|m| m.to_string())),
        ("--seed", args.seed.map(|s| s.to_string())),
        ("--validation-size", args.validation_size.map(|v| v.to_string())),
        ("--lambda", args.lambda.map(|l| l.to_string())),
        ("--early-stopping", args.early_stopping.map(|p| p.to_string())),
        ("--dropout", args.dropout.map(|p| p.to_string())),
        ("--max-norm", args.max_norm.map(|m| m.to_string())),
        ("--augment", args.augment.map(|a| a.to_string())),
        ("--sampling", args.sampling.map(|s| s.to_string())),
        ("--standardize", args.standardize.map(|s| s.to_string())),
        ("--no-test-each-epoch", args.no_test_each_epoch.then(String::new)),
    ];
    flags
        .into_iter()
        .filter_map(|(flag, value)| value.map(|v| if v.is_empty() { flag.to_string() } else { format!("{flag} {v}") }))
        .collect()
}

/// Refuses settings no run can use, before the data is read and any file written.
fn check_settings(settings: &RunSettings) -> Result<()> {
    settings.config.validate(settings.validation_size > 0).context("invalid training settings")?;
    if !(settings.lambda.is_finite() && settings.lambda >= 0.0) {
        bail!("invalid training settings: --lambda must be finite and at least 0, not {}", settings.lambda);
    }
    if settings.max_steps == Some(0) {
        bail!("invalid training settings: --max-steps must be at least 1");
    }
    Ok(())
}

/// The layer sizes the flags ask for, if they ask: --layers as given, --hidden between MNIST's
/// 784 inputs and 10 classes.
fn requested_layers(args: &TrainArgs) -> Option<Vec<usize>> {
    match (&args.layers, &args.hidden) {
        (Some(layers), _) => Some(layers.clone()),
        (None, Some(hidden)) => Some([vec![784], hidden.clone(), vec![10]].concat()),
        (None, None) => None,
    }
}

/// The settings and state of the run to resume: an interrupted one (pending files) if there is
/// one, else the finished one, to train it for more epochs.
fn resume_run(args: &TrainArgs, recipe: &Recipe, files: &RunFiles) -> Result<(RunSettings, Network, TrainState)> {
    let pending = files.pending();
    let from = if files.is_interrupted_run() { &pending } else { files };
    let text = std::fs::read(&from.settings).with_context(|| {
        format!("nothing to resume: {} is missing (train once without --resume first)", from.settings.display())
    })?;
    let mut settings: RunSettings = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid run description", from.settings.display()))?;
    refuse_contradicting_flags(args, recipe, &settings, &from.settings)?;
    let checkpoint = Checkpoint::load(&from.checkpoint)?;
    refuse_disagreeing_record(&settings, &checkpoint, &from.settings, &from.checkpoint)?;
    if let Some(epochs) = args.epochs {
        settings.config.epochs = epochs;
    }
    let (network, mut state) = (checkpoint.network, checkpoint.state);
    state.config.epochs = settings.config.epochs;
    settings.config = state.config.clone();
    check_settings(&settings)?;
    Ok((settings, network, state))
}

/// The run's settings and its checkpoint are written together; where they disagree, one was
/// edited or belongs to another run, and neither can be trusted to resume from.
fn refuse_disagreeing_record(
    settings: &RunSettings,
    checkpoint: &Checkpoint,
    record: &Path,
    saved: &Path,
) -> Result<()> {
    let network = &checkpoint.network;
    let mut differences = Vec::new();
    if settings.config != checkpoint.state.config {
        differences.push(format!(
            "the training settings ({:?} in the record, {:?} in the checkpoint)",
            settings.config, checkpoint.state.config
        ));
    }
    if settings.seed != checkpoint.state.config.seed {
        differences.push(format!("the seed ({} and {})", settings.seed, checkpoint.state.config.seed));
    }
    let same_network = match &settings.arch {
        Some(arch) => Architecture::named_or_parsed(arch).is_ok_and(|a| a.layers == network.architecture().layers),
        None => settings.layers == network.sizes(),
    };
    if !same_network {
        differences.push(format!(
            "the network ({} in the record, {} in the checkpoint)",
            settings.arch.clone().unwrap_or_else(|| saved_layers(settings)),
            network.architecture()
        ));
    }
    if differences.is_empty() {
        return Ok(());
    }
    bail!(
        "{} and {} do not belong together: they differ in {}; was one of them edited? Train a new run without --resume",
        record.display(),
        saved.display(),
        differences.join(", ")
    )
}

/// A resumed run keeps its network, data split and optimizer: a flag that asks for another
/// value is refused, naming each such flag with the run's value (only --epochs may change).
fn refuse_contradicting_flags(args: &TrainArgs, recipe: &Recipe, saved: &RunSettings, file: &Path) -> Result<()> {
    let config = &saved.config;
    let given = |value: Option<String>, run: String| value.map(|v| (v, run));
    // (flag, value given, the run's value) for every flag given.
    let mut asked: Vec<(&str, Option<(String, String)>)> = vec![
        (
            "--recipe",
            (args.recipe.is_some() || args.recipe_file.is_some()).then(|| (recipe.name.clone(), saved.recipe.clone())),
        ),
        (
            "--hidden-activation",
            given(args.hidden_activation.map(|a| a.to_string()), saved.hidden_activation.to_string()),
        ),
        ("--loss", given(args.loss.map(|l| l.to_string()), saved.loss.to_string())),
        ("--init", given(args.init.map(|i| i.to_string()), saved.init.to_string())),
        ("--optimizer", given(args.optimizer.map(|o| o.to_string()), config.optimizer.to_string())),
        ("--lr", given(args.lr.map(|l| l.to_string()), config.learning_rate.to_string())),
        ("--schedule", given(args.schedule.map(|s| s.to_string()), config.schedule.to_string())),
        ("--batch-size", given(args.batch_size.map(|b| b.to_string()), config.batch_size.to_string())),
        ("--seed", given(args.seed.map(|s| s.to_string()), saved.seed.to_string())),
        ("--validation-size", given(args.validation_size.map(|v| v.to_string()), saved.validation_size.to_string())),
        ("--lambda", given(args.lambda.map(|l| l.to_string()), saved.lambda.to_string())),
        ("--max-steps", given(args.max_steps.map(|m| m.to_string()), optional(saved.max_steps))),
        (
            "--early-stopping",
            given(args.early_stopping.map(|p| p.to_string()), optional(config.early_stopping_patience)),
        ),
        (
            "--augment",
            given(
                args.augment.map(|a| a.to_string()),
                config.augmentation.map_or_else(|| "none".to_string(), |a| a.to_string()),
            ),
        ),
        (
            "--max-norm",
            given(
                args.max_norm.map(|m| m.to_string()),
                config.max_norm.map_or_else(|| "none".into(), |m| m.to_string()),
            ),
        ),
        ("--sampling", given(args.sampling.map(|s| s.to_string()), config.sampling.to_string())),
        (
            "--standardize",
            given(args.standardize.map(|s| s.to_string()), saved.standardize.map_or("none".into(), |s| s.to_string())),
        ),
    ];
    let network = saved.arch.clone().unwrap_or_else(|| saved_layers(saved));
    if let Some(arch) = &args.arch {
        let same = saved.arch.as_deref().is_some_and(|a| {
            matches!((Architecture::named_or_parsed(a), Architecture::named_or_parsed(arch)), (Ok(x), Ok(y)) if x == y)
        });
        let shown = if same { network.clone() } else { arch.clone() };
        asked.push(("--arch", Some((shown, network.clone()))));
    }
    if let Some(layers) = requested_layers(args) {
        let flag = if args.layers.is_some() { "--layers" } else { "--hidden (layers)" };
        // A dense run with dropout records its sizes too: the same sizes are no contradiction.
        let sized = saved.arch.is_none() || saved.dropout.is_some();
        let run = if sized { saved_layers(saved) } else { network.clone() };
        asked.push((flag, Some((layers.iter().map(usize::to_string).collect::<Vec<_>>().join(","), run))));
    }
    if let Some(rate) = args.dropout {
        asked.push((
            "--dropout",
            Some((rate.to_string(), saved.dropout.map_or_else(|| "none".into(), |r| r.to_string()))),
        ));
    }
    if args.no_test_each_epoch && saved.test_each_epoch {
        asked.push(("--no-test-each-epoch", Some(("given".into(), "tests after each epoch".into()))));
    }
    let conflicts: Vec<String> = asked
        .into_iter()
        .filter_map(|(flag, pair)| pair.filter(|(given, run)| given != run).map(|(given, run)| (flag, given, run)))
        .map(|(flag, given, run)| format!("{flag} {given} (the run's: {run})"))
        .collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    bail!(
        "--resume continues the run described in {} and cannot change it: {}; only --epochs may be raised \
         (leave these flags out, or train a new run without --resume)",
        file.display(),
        conflicts.join(", ")
    )
}

/// "none" or the value.
fn optional(value: Option<usize>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// "784,16,10": the dense sizes of a run.
fn saved_layers(saved: &RunSettings) -> String {
    saved.layers.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
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

/// Progress bars and epoch lines for people; the metrics log and checkpoints for later.
struct CliObserver {
    quiet: bool,
    bar: Option<ProgressBar>,
    metrics: PathBuf,
    checkpoint: PathBuf,
    max_steps: Option<usize>,
    steps: usize,
    control: Control,
    /// Sum of this epoch's batch losses, for the live mean on the progress bar.
    loss_sum: f64,
    /// Evaluate every this many steps, mid-epoch.
    eval_every: Option<usize>,
    /// Batches per epoch, for the lines of mid-epoch evaluations.
    batches: usize,
    learning: nn_train::LearningCheck,
    /// What the last record says is wrong with the run, if anything.
    last_problem: Option<nn_train::NoLearning>,
    /// A problem was already printed (each kind is told once).
    warned: bool,
}

impl CliObserver {
    fn new(quiet: bool, paths: &RunFiles, max_steps: Option<usize>, steps: usize, control: Control) -> Self {
        CliObserver {
            quiet,
            bar: None,
            metrics: paths.metrics.clone(),
            checkpoint: paths.checkpoint.clone(),
            max_steps,
            steps,
            control,
            loss_sum: 0.0,
            eval_every: None,
            batches: 0,
            learning: nn_train::LearningCheck::new(0, 1, 0),
            last_problem: None,
            warned: false,
        }
    }

    /// Checks a record for a run that learns nothing; warns on standard error the first time.
    fn check_learning(&mut self, report: &EpochReport) {
        self.last_problem = self.learning.check_and_advance(report);
        if let Some(problem) = self.last_problem.clone().filter(|_| !self.warned) {
            self.finish();
            eprintln!("warning: after epoch {}, {problem}", report.epoch);
            self.warned = true;
        }
    }

    fn reached_max_steps(&self) -> bool {
        self.max_steps.is_some_and(|max| self.steps >= max)
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for CliObserver {
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  {per_sec}, eta {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn on_batch(&mut self, _epoch: usize, batch: usize, batches: usize, loss: f32) {
        self.steps += 1;
        self.batches = batches;
        self.learning.on_batch(loss);
        if self.reached_max_steps() {
            self.control.request_stop();
        }
        if batch == 1 {
            self.loss_sum = 0.0;
        }
        self.loss_sum += f64::from(loss);
        if let Some(bar) = &self.bar {
            // Redrawing costs more than a small batch: update every 16 batches, with the
            // epoch's running mean loss so far.
            if batch.is_multiple_of(16) || batch == batches {
                bar.set_position(batch as u64);
                bar.set_message(format!("loss {:.4}", self.loss_sum / batch as f64));
            }
        }
    }

    fn evaluate_now(&mut self, step: usize) -> bool {
        self.eval_every.is_some_and(|every| step.is_multiple_of(every)) || self.max_steps == Some(step)
    }

    fn on_evaluation(&mut self, report: &EpochReport) {
        if !self.quiet {
            // The trainer's hooks cannot fail: a closed output ends the run at the epoch's end.
            let _ = if let Some(bar) = &self.bar {
                bar.suspend(|| outln!("{}", epoch_line(report, self.batches)))
            } else {
                outln!("{}", epoch_line(report, self.batches))
            };
        }
        self.check_learning(report);
    }

    fn on_epoch_end(
        &mut self,
        report: &EpochReport,
        network: &Network,
        state: &TrainState,
    ) -> Result<(), ObserverError> {
        self.finish();
        if !self.quiet {
            outln!("{}", epoch_line(report, self.batches))?;
        }
        self.check_learning(report);
        // The whole message, with the file and the system's reason: the trainer only adds the epoch.
        write_metrics(&self.metrics, state).map_err(|e| format!("{e:#}"))?;
        nn_train::save_checkpoint(network, state, &self.checkpoint).map_err(|e| format!("{e:#}"))?;
        Ok(())
    }
}

/// `epoch 3/30  loss 0.1230  acc 97.50%  val 97.12%  test 97.05%  1.8s`, and for a partial
/// record `step 500 (epoch 1/30, 500/5000 batches)  loss ...`.
fn epoch_line(report: &EpochReport, batches: usize) -> String {
    let mut line = match report.step {
        Some(step) if report.partial => {
            let done = step.saturating_sub((report.epoch - 1) * batches);
            format!("step {step} (epoch {}/{}, {done}/{batches} batches)", report.epoch, report.epochs)
        }
        _ => format!("epoch {}/{}", report.epoch, report.epochs),
    };
    line.push_str(&format!("  loss {:.4}", report.train_loss));
    if let Some(accuracy) = report.train_accuracy {
        line.push_str(&format!("  acc {:.2}%", 100.0 * accuracy));
    }
    if let Some(validation) = &report.validation {
        line.push_str(&format!("  val {:.2}%", 100.0 * validation.accuracy));
    }
    if let Some(test) = &report.test {
        line.push_str(&format!("  test {:.2}%", 100.0 * test.accuracy));
    }
    line.push_str(&format!("  {:.1}s", report.seconds));
    line
}
