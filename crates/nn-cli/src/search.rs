//! `nn-cli search`: a grid or random search over hidden sizes, learning rates, batch sizes and
//! epochs, scored on the validation split only, ending with a ranked table and the best
//! configuration written as a recipe file for `nn-cli train --recipe-file`.
//!
//! A base recipe with an architecture (`cnn`, `saito-simple`, a recipe file with `"arch"`) keeps
//! it: its learning rate, batch size and epochs are searched, and `--hidden` is refused.
//!
//! The test set is never read: only the two training files are loaded, and the training data
//! given to the trainer has no test set.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mnist_data::Dataset;
use nn_core::Shape;
use nn_train::search::{Hidden, Score, Space, rank, run_point, table};
use nn_train::{PixelSamples, TrainData};

use crate::files::{check_can_write, refuse_output_over_inputs, write_atomically};
use crate::output::{out, outln};
use crate::recipes;

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
    let points = space.plan(args.random, args.seed).map_err(|e| match e {
        nn_train::search::SearchError::TooLarge(_) => anyhow::anyhow!("{e} with --random N"),
        e => e.into(),
    })?;
    for point in &points {
        point.apply(&base).validate().with_context(|| format!("cannot try {point}"))?;
    }

    let (train, validation) = load_training(&args.data, validation_size)?;
    let input_size = train.pixels_per_image();
    let input_shape = Shape::new(1, train.rows(), train.cols());
    let train_samples = PixelSamples::new(train.pixels(), train.labels(), input_size)?;
    let validation_samples = PixelSamples::new(validation.pixels(), validation.labels(), input_size)?;
    // Every run is checked to fit in memory before the first one starts.
    let data_bytes = crate::memory_check::data_bytes(&[&train, &validation]);
    for point in &points {
        let recipe = point.apply(&base);
        let layers = [vec![input_size], recipe.hidden.clone(), vec![train.classes()]].concat();
        let usage = crate::memory_check::network_memory(recipe.arch.as_deref(), &layers, input_shape)?;
        let config = recipe.train_config(args.seed, train.len());
        let config = nn_train::TrainConfig { batch_size: config.batch_size.min(train.len().max(1)), ..config };
        crate::memory_check::check_training(&usage, &config, data_bytes, validation.len(), None)
            .with_context(|| format!("cannot try {point}"))?;
    }
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
        let mut show_epoch = |epoch, epochs| bar.set_message(format!("{point}, epoch {epoch}/{epochs}"));
        let shape = (input_shape, train.classes());
        let result = run_point(point, &base, args.seed, &data, shape, train.len(), &mut show_epoch)
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
    let recipe = nn_train::recipe::Recipe {
        name,
        about: format!(
            "best of {} runs of nn-cli search on recipe {} (seed {}): validation accuracy {:.2}% at epoch {best_epoch}",
            results.len(),
            base.name,
            args.seed,
            100.0 * accuracy
        ),
        validation_size,
        published: None,
        bar: None,
        seed_spread: None,
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
