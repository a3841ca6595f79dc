//! `nn-cli search`: a grid or random search over hidden sizes, learning rates, batch sizes and
//! epochs, scored on the validation split only, ending with a ranked table and the best
//! configuration written as a recipe file for `nn-cli train --recipe-file`.
//!
//! A base recipe with an architecture (`cnn`, `saito-simple`, a recipe file with `"arch"`) keeps
//! it: its learning rate, batch size and epochs are searched, and `--hidden` is refused.
//!
//! The test set is never read: only the two training files are loaded, and the training data
//! given to the trainer has no test set.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mnist_data::Dataset;
use nn_core::{Network, Shape};
use nn_train::{
    Control, EpochReport, Observer, ObserverError, PixelSamples, TrainConfig, TrainData, TrainError, TrainState,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::files::{check_can_write, refuse_output_over_inputs, write_atomically};
use crate::output::{out, outln};
use crate::recipes::{self, RecipeSpec};

/// The most runs one search may make.
pub const MAX_RUNS: usize = 200;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  nn-cli search --recipe nielsen --hidden 30,100 --lr 0.5,3.0 --epochs 5 -o best.json\n  \
    nn-cli search --hidden 64,128,256-128 --lr 1e-4,3e-4,1e-3,3e-3 --batch-size 32,128 --random 6 --seed 7\n  \
    nn-cli train --recipe-file best.json"
)]
pub struct SearchArgs {
    /// The base set-up giving everything not searched: default, nielsen, nielsen-100, keras,
    /// torch-seed, saito-simple, saito-deep, pytorch-example, cnn [default: default]. A recipe
    /// with an architecture keeps it (--hidden is for dense recipes).
    #[arg(long, conflicts_with = "recipe_file")]
    recipe: Option<String>,
    /// A recipe file (JSON) as the base set-up instead.
    #[arg(long, value_name = "FILE")]
    recipe_file: Option<PathBuf>,
    /// Hidden layer sizes to try; the layers of one network are joined by '-': 30,100,512-256.
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    hidden: Vec<Hidden>,
    /// Learning rates to try: 0.1,0.5,3.0.
    #[arg(long, value_delimiter = ',', value_name = "RATES")]
    lr: Vec<f32>,
    /// Batch sizes to try: 10,32.
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    batch_size: Vec<usize>,
    /// Numbers of epochs to try: 3,5.
    #[arg(long, value_delimiter = ',', value_name = "COUNTS")]
    epochs: Vec<usize>,
    /// Try N configurations drawn at random from the grid instead of all of them.
    #[arg(long, value_name = "N")]
    random: Option<usize>,
    /// Seed of the random draw, and of the initial weights and shuffles of every run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Training images kept apart to score the runs [default: the base recipe's].
    #[arg(long)]
    validation_size: Option<usize>,
    /// Directory holding the MNIST training files (the test files are not read).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The recipe file to write with the best configuration.
    #[arg(short, long, default_value = "models/best-recipe.json")]
    output: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Only the table and the final line: no progress bar, no line per run.
    #[arg(short, long)]
    quiet: bool,
}

/// The hidden layer sizes of one network: `30` or `512-256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden(pub Vec<usize>);

impl FromStr for Hidden {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let sizes = text
            .split(['-', 'x'])
            .map(|part| match part.trim().parse::<usize>() {
                Ok(size) if size > 0 => Ok(size),
                _ => Err(format!("{text:?} is not a list of hidden layer sizes such as 100 or 512-256")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Hidden(sizes))
    }
}

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.iter().map(usize::to_string).collect::<Vec<_>>().join("-"))
    }
}

/// A learning rate as given (0.5, 0.001), or in exponent form when very large or small (1e30).
fn rate(value: f32) -> String {
    if value == 0.0 || (1e-3..1e4).contains(&value.abs()) { value.to_string() } else { format!("{value:e}") }
}

/// One configuration to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The hidden sizes of a dense network; `None` when the base recipe names an architecture.
    pub hidden: Option<Hidden>,
    pub learning_rate: f32,
    pub batch_size: usize,
    pub epochs: usize,
}

impl Point {
    /// The base recipe with this point's values.
    fn apply(&self, base: &RecipeSpec) -> RecipeSpec {
        RecipeSpec {
            hidden: self.hidden.as_ref().map_or_else(|| base.hidden.clone(), |h| h.0.clone()),
            learning_rate: self.learning_rate,
            batch_size: self.batch_size,
            epochs: self.epochs,
            ..base.clone()
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(hidden) = &self.hidden {
            write!(f, "hidden {hidden}, ")?;
        }
        write!(f, "lr {}, batch {}, epochs {}", rate(self.learning_rate), self.batch_size, self.epochs)
    }
}

/// The values searched, one list per hyperparameter (duplicates removed, order kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// `[None]` when the base recipe names an architecture.
    pub hidden: Vec<Option<Hidden>>,
    pub learning_rates: Vec<f32>,
    pub batch_sizes: Vec<usize>,
    pub epochs: Vec<usize>,
}

fn distinct<T: Clone>(values: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    for value in values {
        if !kept.iter().any(|k| same(k, value)) {
            kept.push(value.clone());
        }
    }
    kept
}

impl Space {
    /// The values given, each list defaulting to the base recipe's single value. A base recipe
    /// with an architecture searches no hidden sizes (see [`run`] for the refusal of `--hidden`).
    pub fn new(base: &RecipeSpec, hidden: &[Hidden], lr: &[f32], batch_size: &[usize], epochs: &[usize]) -> Space {
        let or = |given: &[usize], default: usize| if given.is_empty() { vec![default] } else { given.to_vec() };
        let hidden = match (&base.arch, hidden.is_empty()) {
            (Some(_), _) => vec![None],
            (None, true) => vec![Some(Hidden(base.hidden.clone()))],
            (None, false) => hidden.iter().cloned().map(Some).collect(),
        };
        let lr = if lr.is_empty() { vec![base.learning_rate] } else { lr.to_vec() };
        Space {
            hidden: distinct(&hidden, PartialEq::eq),
            learning_rates: distinct(&lr, |a, b| a.to_bits() == b.to_bits()),
            batch_sizes: distinct(&or(batch_size, base.batch_size), PartialEq::eq),
            epochs: distinct(&or(epochs, base.epochs), PartialEq::eq),
        }
    }

    /// The number of points of the grid (None if it does not even fit a usize).
    pub fn size(&self) -> Option<usize> {
        [self.hidden.len(), self.learning_rates.len(), self.batch_sizes.len(), self.epochs.len()]
            .into_iter()
            .try_fold(1usize, usize::checked_mul)
    }

    /// The grid point `index`, counting with the epochs fastest and the hidden sizes slowest.
    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut digit = |len: usize| {
            let d = rest % len;
            rest /= len;
            d
        };
        let epochs = self.epochs[digit(self.epochs.len())];
        let batch_size = self.batch_sizes[digit(self.batch_sizes.len())];
        let learning_rate = self.learning_rates[digit(self.learning_rates.len())];
        let hidden = self.hidden[digit(self.hidden.len())].clone();
        Point { hidden, learning_rate, batch_size, epochs }
    }

    /// The points to run: the whole grid, or `random` distinct points of it drawn with `seed`.
    /// Refuses more than [`MAX_RUNS`].
    pub fn plan(&self, random: Option<usize>, seed: u64) -> Result<Vec<Point>> {
        let Some(size) = self.size() else {
            bail!("the grid is too large to count; give fewer values");
        };
        let indices: Vec<usize> = match random {
            None => {
                if size > MAX_RUNS {
                    bail!(
                        "the grid has {size} configurations, more than the {MAX_RUNS} a search may run: \
                         give fewer values, or try some of them with --random N"
                    );
                }
                (0..size).collect()
            }
            Some(0) => bail!("--random needs at least 1 run"),
            Some(n) if n > MAX_RUNS => {
                bail!("--random {n} asks for more than the {MAX_RUNS} runs a search may make")
            }
            Some(n) => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rand::seq::index::sample(&mut rng, size, n.min(size)).into_vec()
            }
        };
        Ok(indices.into_iter().map(|i| self.point(i)).collect())
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Score {
    /// The best validation accuracy and the (1-based) epoch that reached it first.
    Trained { accuracy: f32, best_epoch: usize },
    /// The loss or its gradient stopped being finite.
    Diverged,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub point: Point,
    pub score: Score,
    pub seconds: f64,
}

/// Best first: the higher validation accuracy, then the earlier run; diverged runs last.
pub fn rank(results: &mut [RunResult]) {
    results.sort_by(|a, b| match (&a.score, &b.score) {
        (Score::Trained { accuracy: x, .. }, Score::Trained { accuracy: y, .. }) => y.total_cmp(x),
        (Score::Trained { .. }, Score::Diverged) => std::cmp::Ordering::Less,
        (Score::Diverged, Score::Trained { .. }) => std::cmp::Ordering::Greater,
        (Score::Diverged, Score::Diverged) => std::cmp::Ordering::Equal,
    });
}

/// The ranked results as an aligned table (without the hidden sizes when no run has them: the
/// base recipe's architecture is fixed).
pub fn table(results: &[RunResult]) -> String {
    let header = ["rank", "hidden", "lr", "batch", "epochs", "val accuracy", "best epoch", "seconds"].map(String::from);
    let with_hidden = results.iter().any(|r| r.point.hidden.is_some());
    let mut rows = vec![header];
    for (i, r) in results.iter().enumerate() {
        let (accuracy, best_epoch) = match r.score {
            Score::Trained { accuracy, best_epoch } => (format!("{:.2}%", 100.0 * accuracy), best_epoch.to_string()),
            Score::Diverged => ("diverged".to_string(), "-".to_string()),
        };
        rows.push([
            (i + 1).to_string(),
            r.point.hidden.as_ref().map_or_else(|| "-".to_string(), Hidden::to_string),
            rate(r.point.learning_rate),
            r.point.batch_size.to_string(),
            r.point.epochs.to_string(),
            accuracy,
            best_epoch,
            format!("{:.1}", r.seconds),
        ]);
    }
    let widths: Vec<usize> = (0..8).map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .filter(|&(c, _)| c != 1 || with_hidden)
            // Numbers right-aligned, except the hidden sizes, which read better from the left.
            .map(|(c, (cell, &w))| if c == 1 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn run(args: &SearchArgs) -> Result<()> {
    let mut inputs = vec![("the data set", args.data.as_path())];
    inputs.extend(args.recipe_file.as_deref().map(|file| ("the recipe file", file)));
    refuse_output_over_inputs(&[("the best recipe", &args.output)], &inputs)?;
    // Found unusable only after every run, the output would cost the whole search.
    check_can_write("the best recipe", &args.output)?;
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("cannot start the threads")?;
    }
    let base = recipes::resolve(args.recipe.as_deref(), args.recipe_file.as_deref())?;
    let validation_size = args.validation_size.unwrap_or(base.validation_size);
    if validation_size == 0 {
        bail!(
            "a search is scored on the validation split, and recipe {} keeps none: give --validation-size a positive value",
            base.name
        );
    }
    if let (Some(arch), false) = (&base.arch, args.hidden.is_empty()) {
        bail!(
            "recipe {} has the architecture {arch:?}, whose layers --hidden cannot change: search its --lr, \
             --batch-size and --epochs, or start from a dense recipe",
            base.name
        );
    }
    let space = Space::new(&base, &args.hidden, &args.lr, &args.batch_size, &args.epochs);
    let points = space.plan(args.random, args.seed)?;
    for point in &points {
        point.apply(&base).validate().with_context(|| format!("cannot try {point}"))?;
    }

    let (train, validation) = load_training(&args.data, validation_size)?;
    let input_size = train.pixels_per_image();
    let input_shape = Shape::new(1, train.rows(), train.cols());
    let train_samples = PixelSamples::new(train.pixels(), train.labels(), input_size)?;
    let validation_samples = PixelSamples::new(validation.pixels(), validation.labels(), input_size)?;
    // Scored on the validation split only: the trainer is given no test set.
    let data = TrainData { train: &train_samples, validation: Some(&validation_samples), test: None };

    let grid = space.size().unwrap_or(points.len());
    if !args.quiet {
        let drawn = if points.len() < grid { format!(" drawn from a grid of {grid}") } else { String::new() };
        let arch = base.arch.as_ref().map_or_else(String::new, |arch| format!(", architecture {arch}"));
        outln!(
            "searching {} configurations{drawn} (base recipe {}{arch}) on {} training images, scored on {} validation \
             images",
            points.len(),
            base.name,
            train.len(),
            validation.len()
        )?;
    }
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(points.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} runs, eta {eta}  {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    };
    let mut results = Vec::with_capacity(points.len());
    for (i, point) in points.iter().enumerate() {
        bar.set_message(point.to_string());
        let result = train_one(point, &base, args.seed, &data, (input_shape, train.classes()), train.len(), &bar)
            .with_context(|| format!("run {} ({point}) failed", i + 1))?;
        if !args.quiet {
            let outcome = match result.score {
                Score::Trained { accuracy, best_epoch } => {
                    format!("val {:.2}% (epoch {best_epoch})", 100.0 * accuracy)
                }
                Score::Diverged => "diverged".to_string(),
            };
            bar.suspend(|| outln!("run {}/{}  {point}: {outcome}, {:.1}s", i + 1, points.len(), result.seconds))?;
        }
        results.push(result);
        bar.inc(1);
    }
    bar.finish_and_clear();

    rank(&mut results);
    out!("{}", table(&results))?;
    let best = &results[0];
    let Score::Trained { accuracy, best_epoch } = best.score else {
        bail!("every run diverged: try smaller learning rates");
    };
    let name = args.output.file_stem().map_or_else(|| "best".into(), |s| s.to_string_lossy().into_owned());
    let recipe = RecipeSpec {
        name,
        about: format!(
            "best of {} runs of nn-cli search on recipe {} (seed {}): validation accuracy {:.2}% at epoch {best_epoch}",
            results.len(),
            base.name,
            args.seed,
            100.0 * accuracy
        ),
        validation_size,
        ..best.point.apply(&base)
    };
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomically(&args.output, recipe.to_json().as_bytes())?;
    outln!(
        "best: {}: validation accuracy {:.2}%; wrote {} (train with: nn-cli train --recipe-file {})",
        best.point,
        100.0 * accuracy,
        args.output.display(),
        args.output.display()
    )?;
    Ok(())
}

/// The training file split into training and validation images; the test files are not read.
fn load_training(dir: &Path, validation_size: usize) -> Result<(Dataset, Dataset)> {
    let load = || -> Result<Dataset, mnist_data::DataError> {
        let cached = mnist_data::LoadOptions::cached();
        let images = mnist_data::read_idx_file_with(&mnist_data::find_file(dir, mnist_data::TRAIN_IMAGES)?, cached)?;
        let labels = mnist_data::read_idx_file_with(&mnist_data::find_file(dir, mnist_data::TRAIN_LABELS)?, cached)?;
        Dataset::from_idx(images, labels, None)
    };
    let set = load().with_context(|| format!("cannot load the data from {}", dir.display()))?;
    if validation_size >= set.len() {
        bail!(
            "a validation set of {validation_size} images leaves nothing to train on: the training file holds {}",
            set.len()
        );
    }
    Ok(set.split_validation(validation_size)?)
}

/// Trains the base recipe with `point`'s values and scores it on the validation set.
fn train_one(
    point: &Point,
    base: &RecipeSpec,
    seed: u64,
    data: &TrainData,
    (input_shape, classes): (Shape, usize),
    train_len: usize,
    bar: &ProgressBar,
) -> Result<RunResult> {
    let recipe = point.apply(base);
    let layers = [vec![input_shape.len()], recipe.hidden.clone(), vec![classes]].concat();
    let arch = recipe.arch.as_deref();
    let mut network =
        recipes::new_network(arch, &layers, recipe.hidden_activation, recipe.loss, recipe.init, seed, input_shape)?;
    if network.output_size() != classes {
        let arch = arch.unwrap_or_default();
        bail!("the architecture {arch:?} has {} outputs but the data has {classes} classes", network.output_size());
    }
    let config = TrainConfig {
        epochs: recipe.epochs,
        batch_size: recipe.batch_size,
        seed,
        learning_rate: recipe.learning_rate,
        optimizer: recipe.optimizer,
        schedule: recipe.schedule,
        // Nielsen's λ is per training image: the decay coefficient is λ/n.
        weight_decay: recipe.lambda / train_len as f32,
        early_stopping_patience: None,
        eval_batch_size: 1000,
    };
    let control = Control::new();
    let mut observer =
        ScoreObserver { best: None, steps: 0, max_steps: recipe.max_steps, control: control.clone(), bar, point };
    let start = Instant::now();
    let outcome = nn_train::train(&mut network, &config, data, &mut observer, &control, None);
    let seconds = start.elapsed().as_secs_f64();
    let score = match (outcome, observer.best) {
        (Err(TrainError::Diverged { .. }), _) => Score::Diverged,
        (Err(e), _) => return Err(e.into()),
        (Ok(_), Some((accuracy, best_epoch))) => Score::Trained { accuracy, best_epoch },
        (Ok(_), None) => bail!("no epoch was completed, so nothing was scored"),
    };
    Ok(RunResult { point: point.clone(), score, seconds })
}

/// Keeps the best validation accuracy, stops at the recipe's step limit, shows the epoch.
struct ScoreObserver<'a> {
    best: Option<(f32, usize)>,
    steps: usize,
    max_steps: Option<usize>,
    control: Control,
    bar: &'a ProgressBar,
    point: &'a Point,
}

impl Observer for ScoreObserver<'_> {
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, _batches: usize) {
        self.bar.set_message(format!("{}, epoch {epoch}/{epochs}", self.point));
    }

    fn on_batch(&mut self, _epoch: usize, _batch: usize, _batches: usize, _loss: f32) {
        self.steps += 1;
        if self.max_steps.is_some_and(|max| self.steps >= max) {
            self.control.request_stop();
        }
    }

    fn on_epoch_end(&mut self, report: &EpochReport, _: &Network, _: &TrainState) -> Result<(), ObserverError> {
        if let Some(validation) = &report.validation
            && self.best.is_none_or(|(best, _)| validation.accuracy > best)
        {
            self.best = Some((validation.accuracy, report.epoch));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RecipeSpec {
        recipes::find("nielsen").unwrap().into()
    }

    fn space() -> Space {
        let hidden = [Hidden(vec![30]), Hidden(vec![100]), Hidden(vec![64, 32])];
        Space::new(&base(), &hidden, &[0.1, 0.5, 3.0, 0.5], &[10, 32], &[3, 5])
    }

    #[test]
    fn hidden_sizes_parse_and_print() {
        assert_eq!("512-256".parse::<Hidden>().unwrap(), Hidden(vec![512, 256]));
        assert_eq!("30".parse::<Hidden>().unwrap().to_string(), "30");
        assert!("0".parse::<Hidden>().is_err());
        assert!("a-3".parse::<Hidden>().is_err());
    }

    #[test]
    fn the_grid_holds_every_combination_once() {
        let space = space();
        assert_eq!(space.learning_rates, vec![0.1, 0.5, 3.0], "duplicates are dropped");
        assert_eq!(space.size(), Some(3 * 3 * 2 * 2));
        let grid = space.plan(None, 1).unwrap();
        assert_eq!(grid.len(), 36);
        for (i, a) in grid.iter().enumerate() {
            assert!(grid[i + 1..].iter().all(|b| a != b), "{a} repeats");
        }
        assert_eq!(grid[0], Point { hidden: Some(Hidden(vec![30])), learning_rate: 0.1, batch_size: 10, epochs: 3 });
        assert_eq!(grid[1].epochs, 5);
    }

    #[test]
    fn flags_left_out_take_the_base_value() {
        let space = Space::new(&base(), &[], &[1.0], &[], &[]);
        assert_eq!(
            space.plan(None, 1).unwrap(),
            vec![Point { hidden: Some(Hidden(vec![30])), learning_rate: 1.0, batch_size: 10, epochs: 30 }]
        );
    }

    #[test]
    fn random_sampling_is_seeded_distinct_and_within_the_values() {
        let space = space();
        let a = space.plan(Some(10), 7).unwrap();
        assert_eq!(a, space.plan(Some(10), 7).unwrap());
        assert_ne!(a, space.plan(Some(10), 8).unwrap());
        assert_eq!(a.len(), 10);
        for (i, p) in a.iter().enumerate() {
            assert!(space.hidden.contains(&p.hidden));
            assert!(space.learning_rates.contains(&p.learning_rate));
            assert!(space.batch_sizes.contains(&p.batch_size));
            assert!(space.epochs.contains(&p.epochs));
            assert!(a[i + 1..].iter().all(|b| p != b), "{p} repeats");
        }
        assert_eq!(space.plan(Some(100), 7).unwrap().len(), 36, "no more than the grid");
    }

    #[test]
    fn an_architecture_recipe_keeps_its_layers() {
        let cnn: RecipeSpec = recipes::find("cnn").unwrap().into();
        let space = Space::new(&cnn, &[], &[1e-3, 3e-3], &[], &[1]);
        let plan = space.plan(None, 1).unwrap();
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|p| p.hidden.is_none()), "{plan:?}");
        let recipe = plan[1].apply(&cnn);
        assert_eq!((recipe.arch.as_deref(), recipe.learning_rate, recipe.epochs), (Some("cnn"), 3e-3, 1));
        assert_eq!(plan[1].to_string(), "lr 0.003, batch 128, epochs 1");
        let results: Vec<RunResult> = plan
            .into_iter()
            .map(|point| RunResult { point, score: Score::Trained { accuracy: 0.5, best_epoch: 1 }, seconds: 1.0 })
            .collect();
        let table = table(&results);
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header[..3], ["rank", "lr", "batch"], "{table}");
        assert!(!table.contains("hidden") && !table.contains(" - "), "{table}");
    }

    #[test]
    fn large_grids_are_refused() {
        let rates: Vec<f32> = (1..=300).map(|i| i as f32 / 100.0).collect();
        let space = Space::new(&base(), &[], &rates, &[], &[]);
        let error = space.plan(None, 1).unwrap_err().to_string();
        assert!(error.contains("300 configurations") && error.contains("--random"), "{error}");
        assert_eq!(space.plan(Some(50), 1).unwrap().len(), 50);
        assert!(space.plan(Some(201), 1).is_err());
        assert!(space.plan(Some(0), 1).is_err());
    }

    #[test]
    fn ranking_puts_the_best_first_and_diverged_runs_last() {
        let point = |lr: f32| Point { hidden: Some(Hidden(vec![30])), learning_rate: lr, batch_size: 10, epochs: 2 };
        let run = |lr: f32, score: Score| RunResult { point: point(lr), score, seconds: 1.0 };
        let mut results = vec![
            run(1e9, Score::Diverged),
            run(0.1, Score::Trained { accuracy: 0.5, best_epoch: 2 }),
            run(0.5, Score::Trained { accuracy: 0.9, best_epoch: 1 }),
            run(1e8, Score::Diverged),
            run(0.2, Score::Trained { accuracy: 0.5, best_epoch: 1 }),
        ];
        rank(&mut results);
        let order: Vec<f32> = results.iter().map(|r| r.point.learning_rate).collect();
        assert_eq!(order, vec![0.5, 0.1, 0.2, 1e9, 1e8], "ties keep the run order");
        let table = table(&results);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("rank  hidden"), "{table}");
        assert!(lines[1].contains("90.00%"), "{table}");
        assert!(lines[4].contains("diverged") && lines[5].contains("diverged"), "{table}");
    }
}
