//! `nn-cli bench`: how fast this machine trains and infers, in the format of the PyTorch
//! reference (`NAME epoch_s=SECONDS test_acc=ACCURACY`), so `cargo xtask bench --compare` can
//! set the two side by side. `--cnn` times the convolutional recipes instead (the peer's
//! `torch-peer.sh --cnn`), one epoch each, without the inference and load timings.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::output::outln;
use anyhow::{Context, Result, bail};
use clap::Args;
use mnist_data::{LoadOptions, Mnist};
use nn_core::{Activation, Architecture, Init, Loss, Network};
use nn_train::{Control, NoObserver, OptimizerConfig, PixelSamples, Schedule, TrainConfig, TrainData};

#[derive(Args)]
pub struct BenchArgs {
    /// Directory holding the four MNIST IDX files (the load timings are of this form).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Recipes to time [default: the four dense ones, or with --cnn the three convolutional ones].
    recipes: Vec<String>,
    /// Time the convolutional recipes (pytorch-example, saito-simple, saito-deep) instead of the
    /// dense ones, without the inference and load timings: tens of seconds each (their peer is
    /// `torch-peer.sh --cnn`).
    #[arg(long)]
    cnn: bool,
    /// Skip the inference and data-load timings.
    #[arg(long)]
    training_only: bool,
    /// Instead of timing epochs, show where an epoch of this recipe goes (any name `nn-cli
    /// recipes` lists): each layer's forward pass and the gradients of its weights and of its
    /// input, the loss, the optimizer step and the sum of shards, in seconds an epoch, as a
    /// share of the whole and against this thread's peak.
    #[arg(long, value_name = "RECIPE", conflicts_with_all = ["recipes", "cnn", "training_only"])]
    profile: Option<String>,
}

/// The reference recipes (`../shared/bench/README.md`): one epoch over the 60,000 training
/// images held in memory.
#[derive(Debug)]
struct BenchRecipe {
    name: &'static str,
    network: Layers,
    loss: Loss,
    optimizer: OptimizerConfig,
    learning_rate: f32,
    batch_size: usize,
}

/// What a recipe trains.
#[derive(Debug)]
enum Layers {
    /// A dense network of these sizes with `hidden` after each hidden layer (Glorot's
    /// initialisation).
    Dense { sizes: &'static [usize], hidden: Activation },
    /// One of `nn_core::NAMED_ARCHITECTURES` (He's initialisation, as `nn-cli train` gives the
    /// convolutional recipes).
    Named(&'static str),
}

impl BenchRecipe {
    fn network(&self) -> Result<Network> {
        Ok(match self.network {
            Layers::Dense { sizes, hidden } => Network::dense(sizes, hidden, self.loss, Init::GLOROT, 0)?,
            Layers::Named(name) => Architecture::named(name)
                .with_context(|| format!("no architecture named {name}"))?
                .build(self.loss, Init::HE, 0)?,
        })
    }
}

const RECIPES: [BenchRecipe; 4] = [
    BenchRecipe {
        name: "nielsen-30",
        network: Layers::Dense { sizes: &[784, 30, 10], hidden: Activation::Sigmoid },
        loss: Loss::SigmoidQuadratic,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 3.0,
        batch_size: 10,
    },
    BenchRecipe {
        name: "torch-seed-128",
        network: Layers::Dense { sizes: &[784, 128, 10], hidden: Activation::Relu },
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 0.1,
        batch_size: 32,
    },
    BenchRecipe {
        name: "keras-512",
        network: Layers::Dense { sizes: &[784, 512, 10], hidden: Activation::Relu },
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::RmsProp { rho: 0.9, epsilon: 1e-7 },
        learning_rate: 0.001,
        batch_size: 128,
    },
    BenchRecipe {
        name: "relu-128-b128",
        network: Layers::Dense { sizes: &[784, 128, 10], hidden: Activation::Relu },
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 0.1,
        batch_size: 128,
    },
];

/// The convolutional recipes of `../shared/bench/torch_cnn.py`: the same networks, optimizers
/// (PyTorch's defaults: Adadelta ρ 0.9, ε 1e-6; Adam β 0.9, 0.999, ε 1e-8), learning rates and
/// batches. One epoch at a constant rate, as there: pytorch-example's decay of 0.7 per epoch
/// (`nn-cli train`) starts after the first.
const CNN_RECIPES: [BenchRecipe; 3] = [
    BenchRecipe {
        name: "pytorch-example",
        network: Layers::Named("pytorch-example"),
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Adadelta { rho: 0.9, epsilon: 1e-6 },
        learning_rate: 1.0,
        batch_size: 64,
    },
    BenchRecipe {
        name: "saito-simple",
        network: Layers::Named("saito-simple"),
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        learning_rate: 0.001,
        batch_size: 100,
    },
    BenchRecipe {
        name: "saito-deep",
        network: Layers::Named("saito-deep"),
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        learning_rate: 0.001,
        batch_size: 100,
    },
];

/// The recipes of the chosen set named in `names` (all of the set if none is), in the set's
/// order; a name outside the set is an error that says where it belongs.
fn select<'a>(set: &'a [BenchRecipe], names: &[String], cnn: bool) -> Result<Vec<&'a BenchRecipe>> {
    let (other, hint) = if cnn {
        (&RECIPES[..], "a dense recipe: time it without --cnn")
    } else {
        (&CNN_RECIPES[..], "a convolutional recipe: time it with --cnn")
    };
    for name in names {
        if set.iter().any(|r| r.name == name) {
            continue;
        }
        let known = |recipes: &[BenchRecipe]| recipes.iter().map(|r| r.name).collect::<Vec<_>>().join(", ");
        if other.iter().any(|r| r.name == name) {
            bail!("{name} is {hint}");
        }
        bail!("no bench recipe {name}: the dense ones are {}; with --cnn, {}", known(&RECIPES), known(&CNN_RECIPES));
    }
    Ok(set.iter().filter(|r| names.is_empty() || names.iter().any(|n| n == r.name)).collect())
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(name) = &args.profile {
        return profile(name, &args.data);
    }
    let set = if args.cnn { &CNN_RECIPES[..] } else { &RECIPES[..] };
    let selected = select(set, &args.recipes, args.cnn)?;
    let started = Instant::now();
    let mnist = Mnist::load_with(&args.data, LoadOptions::cached())
        .with_context(|| format!("cannot load the data from {}", args.data.display()))?;
    let first_load = started.elapsed();
    let input_size = mnist.train.pixels_per_image();
    let train = PixelSamples::new(mnist.train.pixels(), mnist.train.labels(), input_size)?;
    let test = PixelSamples::new(mnist.test.pixels(), mnist.test.labels(), input_size)?;
    // Each recipe's floor: its products at this machine's matrix-product rate on every thread.
    let peak = nn_train::profile::peak_flops(5) * rayon::current_num_threads() as f64;
    for recipe in selected {
        let mut network = recipe.network()?;
        let config = TrainConfig {
            epochs: 1,
            batch_size: recipe.batch_size,
            seed: 0,
            sampling: nn_train::Sampling::Shuffle,
            learning_rate: recipe.learning_rate,
            optimizer: recipe.optimizer,
            schedule: Schedule::Constant,
            weight_decay: 0.0,
            early_stopping_patience: None,
            eval_batch_size: 1000,
            augmentation: None,
            max_norm: None,
        };
        let data = TrainData::new(&train);
        let start = Instant::now();
        nn_train::train(&mut network, &config, &data, &mut NoObserver, &Control::new(), None)?;
        let seconds = start.elapsed().as_secs_f64();
        let accuracy = nn_train::evaluate(&network, &test, 1000)?.accuracy;
        let floor = nn_train::profile::floor_seconds(&network, mnist.train.len(), peak);
        outln!("{} epoch_s={seconds:.3} test_acc={accuracy:.4} floor_s={floor:.3}", recipe.name)?;
    }
    if let Some(nanoseconds) = core_to_core_round_trip() {
        outln!("core-to-core round_trip_ns={nanoseconds:.0}")?;
    }
    if args.training_only || args.cnn {
        return Ok(());
    }
    // The book's network (Deep Learning from Scratch, ch. 3): 784-50-100-10, sigmoid.
    let book = Network::dense(&[784, 50, 100, 10], Activation::Sigmoid, Loss::SoftmaxCrossEntropy, Init::NIELSEN, 0)?;
    let inputs = mnist_data::pixels_to_f32(mnist.test.pixels(), true);
    for batch in [100, 1] {
        // One untimed pass warms the caches and rayon's threads (training ran before, with
        // other data in the caches), then the best of three passes, as `timeit` reports.
        let mut classes = book.classify_batch(&inputs, batch)?;
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            classes = book.classify_batch(&inputs, batch)?;
            best = best.min(start.elapsed().as_secs_f64() * 1e3);
        }
        outln!("infer-784-50-100-10-b{batch} total_ms={best:.2} images={}", classes.len())?;
    }
    let start = Instant::now();
    Mnist::load_with(&args.data, LoadOptions { cache: false })?;
    outln!("load-cold ms={:.1}", start.elapsed().as_secs_f64() * 1e3)?;
    let start = Instant::now();
    Mnist::load_with(&args.data, LoadOptions::cached())?;
    outln!(
        "load-warm ms={:.1} (first load of this run: {:.1})",
        start.elapsed().as_secs_f64() * 1e3,
        first_load.as_secs_f64() * 1e3
    )?;
    Ok(())
}

/// The time for one thread to hand a cache line to another and get it back, in nanoseconds (the
/// median of five measurements of 20,000 round trips), or `None` with a single thread.
///
/// It tells how far apart the two virtual cores sit: on the 2-core machine of
/// `docs/benchmarks.md` about 50 ns when they share a cache, 380 ns or more when the host has put
/// them further apart, and then every parallel recipe runs up to 1.6x slower. Printed with the
/// timings so that a slow run can be told from a slow build.
fn core_to_core_round_trip() -> Option<f64> {
    const ROUND_TRIPS: u64 = 20_000;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if rayon::current_num_threads() < 2 || cores < 2 {
        return None;
    }
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let turn = AtomicU64::new(0);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for i in 0..ROUND_TRIPS {
                        wait_for(&turn, 2 * i + 1);
                        turn.store(2 * i + 2, Ordering::Release);
                    }
                });
                // Wait for the other thread to be running before the clock starts.
                std::thread::sleep(std::time::Duration::from_millis(1));
                let start = Instant::now();
                for i in 0..ROUND_TRIPS {
                    turn.store(2 * i + 1, Ordering::Release);
                    wait_for(&turn, 2 * i + 2);
                }
                start.elapsed().as_secs_f64() * 1e9 / ROUND_TRIPS as f64
            })
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    Some(samples[samples.len() / 2])
}

/// Spins until `turn` holds `value`, yielding now and then so that two threads sharing one core
/// still take turns.
fn wait_for(turn: &AtomicU64, value: u64) {
    let mut spins = 0_u32;
    while turn.load(Ordering::Acquire) != value {
        spins += 1;
        if spins.is_multiple_of(4096) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// `bench --profile RECIPE`: the recipe's network and settings on the training set.
fn profile(name: &str, data: &std::path::Path) -> Result<()> {
    let recipe = nn_train::recipe::named(name)?;
    let mnist = Mnist::load_with(data, LoadOptions::cached())
        .with_context(|| format!("cannot load the data from {}", data.display()))?;
    let input = nn_core::Shape::new(1, mnist.train.rows(), mnist.train.cols());
    // The images a run of the recipe trains on: those before its validation images.
    let kept = mnist.train.len().saturating_sub(recipe.validation_size).max(1).min(mnist.train.len());
    let train =
        PixelSamples::new(&mnist.train.pixels()[..kept * input.len()], &mnist.train.labels()[..kept], input.len())?;
    let seed = recipe.seed.unwrap_or(1);
    let mut network = recipe.new_network(input, mnist.train.classes(), seed)?;
    if let Some(kind) = recipe.standardize {
        network.set_standardization(Some(nn_train::standardization_of(&train, kind)?))?;
    }
    let config = recipe.train_config(seed, kept);
    let profile = nn_train::profile::profile(&network, &config, &train, 5)?;
    outln!("{}", crate::profile_table::profile_table(&recipe.name, &profile))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(recipes: &[&BenchRecipe]) -> Vec<&'static str> {
        recipes.iter().map(|r| r.name).collect()
    }

    #[test]
    fn each_set_runs_whole_or_by_name() {
        assert_eq!(names(&select(&RECIPES, &[], false).unwrap()).len(), 4);
        assert_eq!(names(&select(&CNN_RECIPES, &[], true).unwrap()), ["pytorch-example", "saito-simple", "saito-deep"]);
        let deep = select(&CNN_RECIPES, &["saito-deep".to_string()], true).unwrap();
        assert_eq!(names(&deep), ["saito-deep"]);
    }

    #[test]
    fn a_name_of_the_other_set_says_which_flag_it_needs() {
        let error = select(&RECIPES, &["saito-deep".to_string()], false).unwrap_err();
        assert!(error.to_string().contains("with --cnn"), "{error}");
        let error = select(&CNN_RECIPES, &["keras-512".to_string()], true).unwrap_err();
        assert!(error.to_string().contains("without --cnn"), "{error}");
        let error = select(&RECIPES, &["nope".to_string()], false).unwrap_err();
        assert!(error.to_string().contains("no bench recipe nope"), "{error}");
    }

    #[test]
    fn the_convolutional_networks_build() {
        for recipe in &CNN_RECIPES {
            let network = recipe.network().unwrap();
            assert_eq!((network.input_size(), network.output_size()), (784, 10), "{}", recipe.name);
        }
    }
}
