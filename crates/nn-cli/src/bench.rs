//! `nn-cli bench`: how fast this machine trains and infers, in the format of the PyTorch
//! reference (`NAME epoch_s=SECONDS test_acc=ACCURACY`), so `cargo xtask bench --compare` can
//! set the two side by side.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use mnist_data::{LoadOptions, Mnist};
use nn_core::{Activation, Init, Loss, Network};
use nn_train::{Control, NoObserver, OptimizerConfig, PixelSamples, Schedule, TrainConfig, TrainData};

#[derive(Args)]
pub struct BenchArgs {
    /// Directory holding the four MNIST IDX files (the load timings are of this form).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Recipes to time [default: all four].
    recipes: Vec<String>,
    /// Skip the inference and data-load timings.
    #[arg(long)]
    training_only: bool,
}

/// The reference recipes (`../shared/bench/README.md`): one epoch over the 60,000 training
/// images held in memory.
struct BenchRecipe {
    name: &'static str,
    sizes: &'static [usize],
    hidden: Activation,
    loss: Loss,
    optimizer: OptimizerConfig,
    learning_rate: f32,
    batch_size: usize,
}

const RECIPES: [BenchRecipe; 4] = [
    BenchRecipe {
        name: "nielsen-30",
        sizes: &[784, 30, 10],
        hidden: Activation::Sigmoid,
        loss: Loss::SigmoidQuadratic,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 3.0,
        batch_size: 10,
    },
    BenchRecipe {
        name: "torch-seed-128",
        sizes: &[784, 128, 10],
        hidden: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 0.1,
        batch_size: 32,
    },
    BenchRecipe {
        name: "keras-512",
        sizes: &[784, 512, 10],
        hidden: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::RmsProp { rho: 0.9, epsilon: 1e-7 },
        learning_rate: 0.001,
        batch_size: 128,
    },
    BenchRecipe {
        name: "relu-128-b128",
        sizes: &[784, 128, 10],
        hidden: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 0.1,
        batch_size: 128,
    },
];

pub fn run(args: &BenchArgs) -> Result<()> {
    let started = Instant::now();
    let mnist =
        Mnist::load(&args.data).with_context(|| format!("cannot load the data from {}", args.data.display()))?;
    let first_load = started.elapsed();
    let input_size = mnist.train.pixels_per_image();
    let train = PixelSamples::new(mnist.train.pixels(), mnist.train.labels(), input_size)?;
    let test = PixelSamples::new(mnist.test.pixels(), mnist.test.labels(), input_size)?;
    let selected = RECIPES.iter().filter(|r| args.recipes.is_empty() || args.recipes.iter().any(|n| n == r.name));
    for recipe in selected {
        let mut network = Network::dense(recipe.sizes, recipe.hidden, recipe.loss, Init::GLOROT, 0)?;
        let config = TrainConfig {
            epochs: 1,
            batch_size: recipe.batch_size,
            seed: 0,
            learning_rate: recipe.learning_rate,
            optimizer: recipe.optimizer,
            schedule: Schedule::Constant,
            weight_decay: 0.0,
            early_stopping_patience: None,
            eval_batch_size: 1000,
        };
        let data = TrainData::new(&train);
        let start = Instant::now();
        nn_train::train(&mut network, &config, &data, &mut NoObserver, &Control::new(), None)?;
        let seconds = start.elapsed().as_secs_f64();
        let accuracy = nn_train::evaluate(&network, &test, 1000)?.accuracy;
        println!("{} epoch_s={seconds:.3} test_acc={accuracy:.4}", recipe.name);
    }
    if let Some(nanoseconds) = core_to_core_round_trip() {
        println!("core-to-core round_trip_ns={nanoseconds:.0}");
    }
    if args.training_only {
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
        println!("infer-784-50-100-10-b{batch} total_ms={best:.2} images={}", classes.len());
    }
    let start = Instant::now();
    Mnist::load_with(&args.data, LoadOptions { cache: false })?;
    println!("load-cold ms={:.1}", start.elapsed().as_secs_f64() * 1e3);
    let start = Instant::now();
    Mnist::load(&args.data)?;
    println!(
        "load-warm ms={:.1} (first load of this run: {:.1})",
        start.elapsed().as_secs_f64() * 1e3,
        first_load.as_secs_f64() * 1e3
    );
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
        if spins % 4096 == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}
