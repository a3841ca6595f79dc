//! `cargo xtask`: the project's tasks, in Rust rather than shell scripts.
//!
//! - `fetch-data`: download (or copy from a mirror) and verify the MNIST files.
//! - `fixtures`: regenerate `fixtures/` from the real data.
//! - `ci`: the checks CI runs.
//! - `docs`: the commands of README.md and docs/user-guide.md, run and compared with their output.
//! - `bench`: timings, side by side with PyTorch.
//! - `reproduce`: the published results, trained again.
//! - `loadtest`: `nn-cli serve` under wrk.
//! - `augment-cost`: what data augmentation adds to an epoch.
//! - `wasm`: the draw page's WebAssembly module, built (or checked) from `crates/nn-wasm`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod augment_cost;
mod bench;
mod ci;
mod committee;
mod docs;
mod fetch;
mod fixtures;
mod loadtest;
mod reproduce;
mod wasm;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project tasks: fetch-data, fixtures, ci")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Put the four MNIST (or Fashion-MNIST) files in data/, verified by SHA-256.
    FetchData(fetch::FetchArgs),
    /// Regenerate fixtures/ (a 100-image slice of the real data, and malformed files).
    Fixtures {
        /// Directory holding the real MNIST files.
        #[arg(long, default_value = "data/mnist")]
        from: PathBuf,
    },
    /// Format check, clippy with warnings denied, every test, the full-data tests and the docs.
    Ci,
    /// Run the commands of README.md and docs/user-guide.md and compare what they print with the
    /// docs (see xtask/src/docs.rs for how blocks are marked).
    Docs {
        /// Also run the blocks marked `<!-- docs: long -->` (trainings of minutes to an hour).
        #[arg(long)]
        long: bool,
        /// Keep the scratch directory the commands ran in, and print where it is.
        #[arg(long)]
        keep: bool,
        /// Print everything each command printed (to update the docs from).
        #[arg(long)]
        show_output: bool,
    },
    /// Time training, inference and loading (release build); --compare adds PyTorch's times.
    /// --cnn times the convolutional recipes instead, --all both.
    Bench {
        /// Directory holding the four MNIST files (.gz, as the PyTorch reference reads them).
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// Also run ../shared/bench/torch-peer.sh and print the ratios.
        #[arg(long)]
        compare: bool,
        /// Runs of each side, alternating; the ratios compare the best times.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        runs: u16,
        /// The convolutional recipes instead of the dense ones (tens of seconds each, each side).
        #[arg(long, conflicts_with = "all")]
        cnn: bool,
        /// Both sets, the dense one first.
        #[arg(long)]
        all: bool,
    },
    /// Train every recipe on the full data and print published numbers beside ours.
    Reproduce {
        /// Recipes to run [default: all], or `committee` (five `cnn` networks averaged) and
        /// `committee-augmented` (five `cnn-augmented` on a wider network).
        recipes: Vec<String>,
        /// Directory holding the four MNIST files.
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// Train each recipe with seeds 1 to N; the table shows the mean and the range.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        seeds: u16,
    },
    /// `nn-cli serve` (release) on 127.0.0.1 under wrk: requests/s, p50/p99 and errors for JSON
    /// pixels and PNG bodies, on 1 then 2 worker threads. Needs wrk (apt-get install wrk).
    Loadtest {
        /// Seconds of each wrk run.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=300))]
        duration: u32,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        connections: u32,
        /// The model to serve [default: the default recipe's shape, trained briefly on the fixtures].
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// What data augmentation adds to an epoch: rounds of one plain epoch then one per
    /// augmentation (release build, one thread, CPU seconds), the cost as the median ratio.
    AugmentCost {
        /// A recipe of `nn-cli train` [default: its default network].
        #[arg(long)]
        recipe: Option<String>,
        /// Augmentations to time, in `--augment`'s form.
        #[arg(long = "augment", default_values_t = ["shift=2,rotate=10,scale=0.1".to_string(), "shift=1,elastic=34/4".to_string()])]
        augmentations: Vec<String>,
        /// Rounds (each one plain epoch and one per augmentation).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: u16,
        /// Train only this many steps of each epoch.
        #[arg(long)]
        max_steps: Option<u64>,
        /// Directory holding the four MNIST files.
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
    },
    /// Build the draw page's WebAssembly module (crates/nn-wasm) into nn-serve; --check compares
    /// instead. Needs `rustup target add wasm32-unknown-unknown`.
    Wasm {
        /// Build and compare with the checked-in module, failing if they differ.
        #[arg(long)]
        check: bool,
    },
}

/// The workspace root (xtask lives one level below it).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

/// Builds `nn-cli` in release mode (timings and full-data runs need optimised code) and returns
/// the path of the binary.
pub fn release_nn_cli() -> anyhow::Result<PathBuf> {
    let root = project_root();
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "nn-cli"])
        .current_dir(&root)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run cargo build: {e}"))?;
    if !status.success() {
        anyhow::bail!("building nn-cli failed");
    }
    // Where cargo put it: CARGO_TARGET_DIR when set (relative to the project), else target/.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir));
    Ok(target.join("release/nn-cli"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::FetchData(args) => fetch::run(args),
        Task::Fixtures { from } => fixtures::run(&from),
        Task::Ci => ci::run(),
        Task::Docs { long, keep, show_output } => docs::run(&docs::Options { long, keep, show_output }),
        Task::Bench { data, compare, runs, cnn, all } => {
            let set = if all {
                bench::Set::All
            } else if cnn {
                bench::Set::Cnn
            } else {
                bench::Set::Dense
            };
            bench::run(&data, compare, usize::from(runs), set)
        }
        Task::Wasm { check } => wasm::run(check),
        Task::Reproduce { recipes, data, seeds } => reproduce::run(&recipes, &data, usize::from(seeds)),
        Task::Loadtest { duration, connections, model } => {
            loadtest::run(&loadtest::Options { duration_s: duration, connections, model })
        }
        Task::AugmentCost { recipe, augmentations, rounds, max_steps, data } => {
            augment_cost::run(&augment_cost::Options {
                recipe,
                augmentations,
                rounds: usize::from(rounds),
                max_steps,
                data,
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
