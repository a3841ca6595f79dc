//! `nn-cli train`: turns MNIST into a model, printing one line per epoch, writing the model, a
//! metrics log (JSON lines) and a checkpoint after every epoch.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nn_core::{Activation, Architecture, Init, Loss, Network, Shape};
use nn_train::{
    Checkpoint, Control, EpochReport, Observer, ObserverError, OptimizerConfig, PixelSamples, Schedule, TrainConfig,
    TrainData, TrainState,
};
use serde::{Deserialize, Serialize};

use crate::data::Splits;
use crate::files::{refuse_output_over_inputs, refuse_shared_outputs, write_atomically};
use crate::output::outln;
use crate::recipes::{self, RecipeSpec};
use crate::run_lock::RunLock;

#[derive(Args)]
// A later flag overrides an earlier one, so scripts can append to a base command line.
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// A named set-up: default, nielsen, nielsen-100, keras, torch-seed, saito-simple,
    /// saito-deep, pytorch-example, cnn [default: default]. Flags override it.
    #[arg(long, conflicts_with = "recipe_file")]
    recipe: Option<String>,
    /// A recipe file (JSON), such as the one `nn-cli search` writes. Flags override it.
    #[arg(long, value_name = "FILE")]
    recipe_file: Option<PathBuf>,
    /// The layers, as text or a name: "conv(32,3) relu maxpool(2) flatten dense(10)",
    /// saito-simple, saito-deep, pytorch-example, cnn. Replaces the recipe's network.
    #[arg(long, value_name = "SPEC_OR_NAME", conflicts_with_all = ["layers", "hidden"])]
    arch: Option<String>,
    /// All layer sizes, input to output: 784,100,10.
    #[arg(long, value_delimiter = ',', conflicts_with = "hidden")]
    layers: Option<Vec<usize>>,
    /// Hidden layer sizes only: 100 or 512,256.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Activation of the hidden layers: sigmoid, tanh, relu, leaky_relu[:SLOPE], identity.
    #[arg(long)]
    hidden_activation: Option<Activation>,
    /// Output and loss: softmax_cross_entropy (softmax) or sigmoid_quadratic (quadratic).
    #[arg(long)]
    loss: Option<Loss>,
    /// Weight initialisation: glorot, he, nielsen.
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
    /// Seed of the initial weights and of the shuffles.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Training images kept apart for validation (0: train on all of them).
    #[arg(long)]
    validation_size: Option<usize>,
    /// Nielsen's L2 regularisation λ (weight decay λ/n).
    #[arg(long)]
    lambda: Option<f32>,
    /// Stop after this many epochs without a better validation accuracy; keep the best weights.
    #[arg(long, value_name = "PATIENCE")]
    early_stopping: Option<usize>,
    /// Do not evaluate the test set after each epoch (it is still evaluated at the end).
    #[arg(long)]
    no_test_each_epoch: bool,
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The model file to write [default: models/RECIPE.json].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The metrics log, one JSON object per epoch [default: the model path with .metrics.jsonl].
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Continue from the checkpoint of this output (same data; --epochs may be raised).
    #[arg(long)]
    resume: bool,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
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
    max_steps: Option<usize>,
    test_each_epoch: bool,
    config: TrainConfig,
}

struct Paths {
    model: PathBuf,
    metrics: PathBuf,
    checkpoint: PathBuf,
    settings: PathBuf,
}

impl Paths {
    fn new(args: &TrainArgs, recipe: &RecipeSpec) -> Paths {
        let model = args.output.clone().unwrap_or_else(|| PathBuf::from(format!("models/{}.json", recipe.name)));
        let with = |suffix: &str| {
            let mut name = model.file_stem().unwrap_or_default().to_os_string();
            name.push(suffix);
            model.with_file_name(name)
        };
        Paths {
            metrics: args.metrics.clone().unwrap_or_else(|| with(".metrics.jsonl")),
            checkpoint: with(".checkpoint"),
            settings: with(".checkpoint.run.json"),
            model,
        }
    }
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("cannot start the threads")?;
    }
    let recipe = recipes::resolve(args.recipe.as_deref(), args.recipe_file.as_deref())?;
    let paths = Paths::new(args, &recipe);
    let mut inputs = vec![("the data set", args.data.as_path())];
    inputs.extend(args.recipe_file.as_deref().map(|file| ("the recipe file", file)));
    let outputs = [
        ("the model", paths.model.as_path()),
        ("the metrics log", paths.metrics.as_path()),
        ("the checkpoint", paths.checkpoint.as_path()),
        ("the run's settings", paths.settings.as_path()),
    ];
    refuse_output_over_inputs(&outputs, &inputs)?;
    refuse_shared_outputs(&outputs)?;
    let _lock = RunLock::take(&paths.model)?;
    let (settings, network, resume) = if args.resume {
        let (settings, network, state) = resume_run(args, &paths)?;
        (settings, Some(network), state)
    } else {
        let settings = settings_from(args, &recipe)?;
        (settings, None, None)
    };
    let splits = Splits::load(&args.data, settings.validation_size)?;
    let mut network = match network {
        Some(network) => network,
        None => recipes::new_network(
            settings.arch.as_deref(),
            &settings.layers,
            settings.hidden_activation,
            settings.loss,
            settings.init,
            settings.seed,
            Shape::new(1, splits.train.rows(), splits.train.cols()),
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
    if settings.validation_size == 0 && settings.config.early_stopping_patience.is_some() {
        bail!("early stopping watches the validation set: give --validation-size a positive value");
    }
    if !args.resume {
        // Nielsen's λ is per training image: the decay coefficient is λ/n.
        settings.config.weight_decay = args.lambda.unwrap_or(recipe.lambda) / splits.train.len() as f32;
    }
    let config = settings.config.clone();
    let batches_per_epoch = splits.train.len().div_ceil(config.batch_size.max(1));
    let steps_done = resume.as_ref().map_or(0, |s| s.epochs_completed * batches_per_epoch + s.next_batch);
    let train = pixels(&splits.train, input_size)?;
    let validation = pixels(&splits.validation, input_size)?;
    let test = pixels(&splits.test, input_size)?;
    let data = TrainData {
        train: &train,
        validation: (settings.validation_size > 0).then_some(&validation as &dyn nn_train::Samples),
        test: settings.test_each_epoch.then_some(&test as &dyn nn_train::Samples),
    };

    if let Some(dir) = paths.model.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomically(&paths.settings, serde_json::to_string_pretty(&settings)?.as_bytes())?;

    let control = Control::new();
    let flag = control.flag();
    // The first Ctrl-C asks for a checkpoint and a clean stop; a second one ends at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if !args.quiet {
        if !args.resume {
            match &args.recipe_file {
                Some(file) => outln!("recipe {} (from {}): {}", recipe.name, file.display(), recipe.about)?,
                None => outln!("recipe {}: {}", recipe.name, recipe.about)?,
            }
        } else if let Some(recipe) = recipes::find(&settings.recipe) {
            outln!("recipe {}: {}", recipe.name, recipe.about)?;
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
    let mut observer = CliObserver::new(args.quiet, &paths, settings.max_steps, steps_done, control.clone());
    let outcome = nn_train::train(&mut network, &config, &data, &mut observer, &control, resume);
    observer.finish();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            let kept = if paths.checkpoint.exists() {
                format!("; the last good checkpoint stays at {}", paths.checkpoint.display())
            } else {
                String::new()
            };
            bail!("training stopped: {e}{kept}");
        }
    };
    let reached_max_steps = observer.reached_max_steps();
    if outcome.interrupted && !reached_max_steps {
        nn_train::save_checkpoint(&network, &outcome.state, &paths.checkpoint)?;
        eprintln!(
            "interrupted: checkpoint written to {}; continue with the same command and --resume",
            paths.checkpoint.display()
        );
        std::process::exit(130);
    }
    nn_core::save_model(&network, &paths.model)?;
    if let Some(best) = outcome.best_epoch {
        let restored = if outcome.restored_best { " (weights restored)" } else { "" };
        outln!("best epoch: {best}{restored}")?;
    }
    let (inputs, labels) = crate::data::inputs_and_labels(&splits.test);
    let evaluation = network.evaluate(&inputs, &labels, config.eval_batch_size)?;
    outln!(
        "wrote {} (metrics {}, checkpoint {})",
        paths.model.display(),
        paths.metrics.display(),
        paths.checkpoint.display()
    )?;
    outln!("test accuracy: {:.4}", evaluation.accuracy())?;
    Ok(())
}

fn settings_from(args: &TrainArgs, recipe: &RecipeSpec) -> Result<RunSettings> {
    let arch = match (&args.arch, &args.layers, &args.hidden) {
        (Some(arch), _, _) => Some(arch.clone()),
        (None, None, None) => recipe.arch.clone(),
        _ => None,
    };
    if let Some(arch) = &arch {
        Architecture::named_or_parsed(arch)?;
    }
    let layers = match (&args.layers, &args.hidden) {
        (Some(layers), _) => layers.clone(),
        (None, hidden) => {
            let hidden = hidden.clone().unwrap_or_else(|| recipe.hidden.clone());
            [vec![784], hidden, vec![10]].concat()
        }
    };
    if layers.len() < 2 || layers.contains(&0) {
        bail!("--layers needs at least an input and an output size, none of them 0 (got {layers:?})");
    }
    let config = TrainConfig {
        epochs: args.epochs.unwrap_or(recipe.epochs),
        batch_size: args.batch_size.unwrap_or(recipe.batch_size),
        seed: args.seed,
        learning_rate: args.lr.unwrap_or(recipe.learning_rate),
        optimizer: args.optimizer.unwrap_or(recipe.optimizer),
        schedule: args.schedule.unwrap_or(recipe.schedule),
        weight_decay: 0.0,
        early_stopping_patience: args.early_stopping,
        eval_batch_size: 1000,
    };
    Ok(RunSettings {
        recipe: recipe.name.clone(),
        arch,
        layers,
        hidden_activation: args.hidden_activation.unwrap_or(recipe.hidden_activation),
        loss: args.loss.unwrap_or(recipe.loss),
        init: args.init.unwrap_or(recipe.init),
        seed: args.seed,
        validation_size: args.validation_size.unwrap_or(recipe.validation_size),
        max_steps: args.max_steps.or(recipe.max_steps),
        test_each_epoch: !args.no_test_each_epoch,
        config,
    })
}

fn resume_run(args: &TrainArgs, paths: &Paths) -> Result<(RunSettings, Network, Option<TrainState>)> {
    let text = std::fs::read(&paths.settings).with_context(|| {
        format!("nothing to resume: {} is missing (train once without --resume first)", paths.settings.display())
    })?;
    let mut settings: RunSettings = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid run description", paths.settings.display()))?;
    let checkpoint = Checkpoint::load(&paths.checkpoint)?;
    if let Some(epochs) = args.epochs {
        settings.config.epochs = epochs;
    }
    let (network, mut state) = (checkpoint.network, checkpoint.state);
    state.config.epochs = settings.config.epochs;
    settings.config = state.config.clone();
    Ok((settings, network, Some(state)))
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
}

impl CliObserver {
    fn new(quiet: bool, paths: &Paths, max_steps: Option<usize>, steps: usize, control: Control) -> Self {
        CliObserver {
            quiet,
            bar: None,
            metrics: paths.metrics.clone(),
            checkpoint: paths.checkpoint.clone(),
            max_steps,
            steps,
            control,
            loss_sum: 0.0,
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

    fn on_epoch_end(
        &mut self,
        report: &EpochReport,
        network: &Network,
        state: &TrainState,
    ) -> Result<(), ObserverError> {
        self.finish();
        if !self.quiet {
            outln!("{}", epoch_line(report))?;
        }
        // The whole log is rewritten from the state, so a resumed run's log has no gap or repeat.
        let mut log = String::new();
        for record in &state.history {
            log.push_str(&serde_json::to_string(record)?);
            log.push('\n');
        }
        write_atomically(&self.metrics, log.as_bytes())?;
        nn_train::save_checkpoint(network, state, &self.checkpoint)?;
        Ok(())
    }
}

/// `epoch 3/30  loss 0.1230  val 97.12%  test 97.05%  1.8s`
fn epoch_line(report: &EpochReport) -> String {
    let mut line = format!("epoch {}/{}  loss {:.4}", report.epoch, report.epochs, report.train_loss);
    if let Some(validation) = &report.validation {
        line.push_str(&format!("  val {:.2}%", 100.0 * validation.accuracy));
    }
    if let Some(test) = &report.test {
        line.push_str(&format!("  test {:.2}%", 100.0 * test.accuracy));
    }
    line.push_str(&format!("  {:.1}s", report.seconds));
    line
}
