//! `nn-cli`: the command-line face of the toolkit.
//!
//! Each command lives in a file of its own; this file only parses arguments and turns an error
//! into a message and a non-zero exit code.

#![forbid(unsafe_code)]
// Standard output goes through `output.rs`, whose errors end the process cleanly; `println!` panics.
#![deny(clippy::print_stdout)]
// The argument docs are clap's help text, where `leaky_relu[:SLOPE]` means an optional part,
// not a link; `\[` would show in `--help`.
#![allow(rustdoc::broken_intra_doc_links)]

use std::process::ExitCode;

use crate::output::out;
use clap::{Parser, Subcommand};

mod baseline;
mod bench;
mod caption;
mod chart_file;
mod committee;
mod convert;
mod data;
mod explain;
mod explain_image;
mod files;
mod forward;
mod function_chart;
mod inspect;
mod memory_check;
mod misclassified;
mod model_commands;
mod output;
mod picture;
mod plot;
mod predict;
mod probabilities;
mod profile_table;
mod recipes;
mod render;
mod search;
mod serve;
mod show;
mod sweep;
mod sweep_chart;
mod train;
mod weights;

#[derive(Parser)]
#[command(name = "nn-cli", version, about = "Learn neural networks on handwritten digits", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tell what an IDX file holds: type, dimensions, pixel statistics or label histogram.
    #[command(
        after_help = "Examples:\n  nn-cli inspect data/mnist/train-images-idx3-ubyte.gz\n  nn-cli inspect data/mnist/t10k-labels-idx1-ubyte.gz"
    )]
    Inspect(inspect::InspectArgs),
    /// Draw digits in the terminal (the book's img_show), or write them as a PNG; with --model,
    /// each with the model's prediction and its probability.
    #[command(
        after_help = "Examples:\n  nn-cli show --index 0\n  nn-cli show --set test --index 7 --count 20 --png digits.png\n  nn-cli show --model models/default.json --png predictions.png"
    )]
    Show(show::ShowArgs),
    /// Train a network on MNIST: one line per epoch, then the model, a metrics log and a checkpoint.
    #[command(
        after_help = "Examples:\n  nn-cli train\n  nn-cli train --recipe nielsen\n  nn-cli train --hidden 100 --lr 0.5 --epochs 10 -o models/mine.json\n  nn-cli train --recipe keras --resume\n  nn-cli train --recipe-file best.json\n\nRecipes: default, nielsen (nielsen-30), nielsen-100, nielsen-ch3, keras (keras-512), torch-seed (torch-seed-128);\n`nn-cli recipes` lists them all.\nExit codes: 0 trained, 1 error (bad input, divergence), 130 interrupted (checkpoint written)."
    )]
    Train(Box<train::TrainArgs>),
    /// List the training recipes and the published numbers they reproduce.
    Recipes {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Recognise the digit in each image (PNG, JPEG, BMP), prepared the way MNIST was.
    #[command(
        after_help = "Examples:\n  nn-cli predict --model models/default.json my-digit.jpg\n  nn-cli predict --model models/default.json --show --json *.png"
    )]
    Predict(predict::PredictArgs),
    /// A grid of the test images the model gets wrong, most confident errors first.
    #[command(after_help = "Example:\n  nn-cli misclassified --model models/default.json --png errors.png --count 36")]
    Misclassified(misclassified::MisclassifiedArgs),
    /// Loss and accuracy per epoch from a metrics log, or activation functions (--function), as a
    /// PNG or SVG chart.
    #[command(
        after_help = "Examples:\n  nn-cli plot models/default.metrics.jsonl -o training.png\n  nn-cli plot --function step,sigmoid -o figure-3-8.png\n  nn-cli plot --function sigmoid,tanh,relu,leaky_relu:0.1,softmax --range -6,6 -o functions.svg"
    )]
    Plot(plot::PlotArgs),
    /// Convert data between IDX files, a Keras-style mnist.npz and a folder of PNG images.
    #[command(after_help = "Examples:\n  nn-cli convert data/mnist mnist.npz\n  nn-cli convert mnist.npz mnist-png/")]
    Convert(convert::ConvertArgs),
    /// Time one training epoch of the reference recipes, inference and data loading.
    #[command(
        after_help = "Example:\n  nn-cli bench --data data/mnist\n\nSee `cargo xtask bench --compare` for the side-by-side run with PyTorch."
    )]
    Bench(bench::BenchArgs),
    /// Search hyperparameters, scored on the validation split; writes the best as a recipe file.
    Search(search::SearchArgs),
    /// Many trainings planned once, run here or on a Slurm cluster, ranked: plan, run, status,
    /// report.
    Sweep(sweep::SweepArgs),
    /// The classifiers the books compare networks against, trained and scored on the test set:
    /// darkness (the class of nearest mean ink), linear (softmax regression) or svm
    /// (scikit-learn's SVC(), RBF kernel).
    #[command(
        after_help = "Examples:\n  nn-cli baseline darkness\n  nn-cli baseline linear --epochs 20\n  nn-cli baseline svm --train-size 10000\n\nThe SVM on all 60,000 images takes about a minute on two cores (docs/benchmarks.md)."
    )]
    Baseline(baseline::BaselineArgs),
    /// Build a model file from NumPy weights (W1, b1, W2, b2, ... in an .npz or a Python pickle), dense or, with --arch,
    /// any architecture; or from a PyTorch nn.Sequential's state_dict in a .safetensors file, with --arch.
    #[command(
        after_help = "Examples:\n  nn-cli import --pickle sample_weight.pkl --hidden-activation sigmoid --output softmax -o book.json\n  nn-cli import --pickle deep_convnet_params.pkl --arch saito-deep -o deep.json\n  nn-cli import --npz sample_weight.npz --hidden-activation sigmoid --output softmax -o book.json\n  nn-cli import --npz saito-toy.npz --hidden-activation sigmoid --output identity -o toy.json\n  nn-cli import --npz simple_convnet.npz --arch saito-simple -o simple.json\n  nn-cli import --npz w.npz --arch \"conv(4,3,pad=1) relu maxpool(2) flatten dense(10)\" --input 1x8x8 -o tiny.json\n  nn-cli import --safetensors model.safetensors --arch pytorch-example -o torch.json\n\nIn a .safetensors file, parameters are named by their module's index in the nn.Sequential, where\nactivations, pooling, flatten and dropout take an index too: for\n\"conv(32,3) relu maxpool(2) flatten dense(10)\" the names are 0.weight, 0.bias, 4.weight, 4.bias."
    )]
    Import(model_commands::ImportArgs),
    /// Write a model's weights as a NumPy .npz (W1, b1, W2, b2, ...), or as a .safetensors state_dict for PyTorch.
    #[command(
        after_help = "Examples:\n  nn-cli export --model model.json --npz weights.npz\n  nn-cli export --model model.json --safetensors model.safetensors"
    )]
    Export(model_commands::ExportArgs),
    /// Accuracy of a model on the test, validation or training set.
    #[command(
        after_help = "Examples:\n  nn-cli eval --model model.json\n  nn-cli eval --model model.json --set validation --json"
    )]
    Eval(model_commands::EvalArgs),
    /// Serve models over HTTP: a prediction API, metrics, and a page to draw digits on.
    #[command(
        after_help = "Examples:\n  nn-cli serve --model models/default.json\n  nn-cli serve --model models/default.json --model models/cnn.json --addr 127.0.0.1:3000\n\nThen open the printed URL, or:\n  curl --data-binary @digit.png -H 'Content-Type: image/png' http://127.0.0.1:8080/api/predict\n\nRoutes: POST /api/predict[?model=NAME], GET /api/models, GET /healthz, GET /metrics, GET /."
    )]
    Serve(serve::ServeArgs),
    /// A committee of trained models: they predict together by averaging their outputs, and the
    /// committee file is a model for eval, predict, misclassified, summary and serve.
    #[command(
        after_help = "Examples:\n  nn-cli committee -o models/committee.json models/a.json models/b.json models/c.json\n  nn-cli committee --embed -o committee.json a.json b.json"
    )]
    Committee(committee::CommitteeArgs),
    /// Run a model on numbers given on the command line and print its outputs (one sample).
    #[command(
        after_help = "Examples:\n  nn-cli import --npz fixtures/saito-toy/saito-toy.npz --hidden-activation sigmoid --output identity -o toy.json\n  nn-cli forward --model toy.json --input 1.0,0.5\n  nn-cli forward --model toy.json --input=-1,2 --json"
    )]
    Forward(forward::ForwardArgs),
    /// A table of a model's layers, shapes, activations and parameter counts.
    #[command(after_help = "Example:\n  nn-cli summary --model model.json")]
    Summary(model_commands::SummaryArgs),
    /// The first layer's weights as images: one tile per hidden unit (28x28), or per filter.
    #[command(after_help = "Example:\n  nn-cli weights --model models/nielsen.json --png weights.png")]
    Weights(weights::WeightsArgs),
    /// One image seen from inside a model: the prepared input, every layer's activations, and a
    /// saliency map (the gradient of the chosen class with respect to the input), in one PNG.
    #[command(
        after_help = "Examples:\n  nn-cli explain --model models/cnn.json my-digit.png --png inside.png\n  nn-cli explain --model models/default.json --index 0 --class 3 --png inside.png"
    )]
    Explain(explain_image::ExplainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Recipes { json } => out!("{}", recipes::list(json)).map_err(anyhow::Error::from),
        Command::Predict(args) => predict::run(&args),
        Command::Misclassified(args) => misclassified::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Search(args) => search::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Baseline(args) => baseline::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Import(args) => model_commands::import(&args),
        Command::Export(args) => model_commands::export(&args),
        Command::Eval(args) => model_commands::eval(&args),
        Command::Summary(args) => model_commands::summary(&args),
        Command::Forward(args) => forward::run(&args),
        Command::Committee(args) => committee::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Weights(args) => weights::run(&args),
        Command::Explain(args) => explain_image::run(&args),
    };
    // The last line printed may still wait in standard output's buffer.
    let result = result.and_then(|()| output::flush_out().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let stdout_error = e.chain().find_map(|cause| cause.downcast_ref::<output::StdoutError>());
            if stdout_error.is_some_and(output::StdoutError::is_closed_pipe) {
                // The status of a process ended by SIGPIPE (128 + 13), quietly, as other tools end.
                return ExitCode::from(141);
            }
            eprintln!("error: {}", error_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause that an earlier message already
/// quotes (library errors put the system's reason in their own text, as
/// "cannot read model file m.json: No such file or directory", and keep it as their source too).
fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn a_cause_already_quoted_is_said_once() {
        let os = std::io::Error::from(std::io::ErrorKind::NotFound);
        let error = anyhow::Error::new(std::io::Error::other(format!("cannot read m.json: {os}")))
            .context("cannot load the model");
        let quoted = anyhow::Error::from(os).context("cannot read m.json: entity not found");
        assert_eq!(error_message(&error), "cannot load the model: cannot read m.json: entity not found");
        assert_eq!(error_message(&quoted), "cannot read m.json: entity not found");
    }
}
