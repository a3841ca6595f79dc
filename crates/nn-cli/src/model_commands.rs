//! `nn-cli import`, `export`, `eval` and `summary`: model files and what they do on the data.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use nn_core::{Activation, Loss, Network};

use crate::data::{SetName, inputs_and_labels, set_for_model};
use crate::explain::{self, Confusion};

#[derive(Args)]
pub struct ImportArgs {
    /// NumPy archive with W1..Wn (inputs x outputs, as in `x @ W + b`) and b1..bn.
    #[arg(long)]
    npz: PathBuf,
    /// Activation of the hidden layers: identity, step, sigmoid, tanh, relu, leaky_relu[:SLOPE].
    #[arg(long, default_value = "sigmoid")]
    hidden_activation: Activation,
    /// Output function, with its loss: softmax (cross-entropy) or sigmoid (quadratic cost).
    #[arg(long, value_enum, default_value_t = Output::Softmax)]
    output: Output,
    /// The model file to write.
    #[arg(short = 'o', long = "out", value_name = "MODEL")]
    output_file: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// Softmax outputs, trained with cross-entropy.
    Softmax,
    /// Sigmoid outputs, trained with Nielsen's quadratic cost.
    Sigmoid,
}

impl Output {
    fn loss(self) -> Loss {
        match self {
            Output::Softmax => Loss::SoftmaxCrossEntropy,
            Output::Sigmoid => Loss::SigmoidQuadratic,
        }
    }
}

#[derive(Args)]
pub struct ExportArgs {
    /// The NumPy archive to write (W1..Wn, b1..bn).
    #[arg(long)]
    npz: PathBuf,
    /// The model file to read.
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Which set to evaluate on.
    #[arg(long, value_enum, default_value_t = SetName::Test)]
    set: SetName,
    /// Images per forward pass (the book's batch_size = 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Size of the validation split taken from the end of the training file.
    #[arg(long, default_value_t = mnist_data::DEFAULT_VALIDATION_SIZE)]
    validation_size: usize,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
    /// Also write the confusion matrix as a PNG heat map.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

#[derive(Args)]
pub struct SummaryArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
}

pub fn import(args: &ImportArgs) -> Result<()> {
    let network = nn_core::import_npz(&args.npz, args.hidden_activation, args.output.loss())?;
    nn_core::save_model(&network, &args.output_file)?;
    println!("imported {} ({}) -> {}", describe(&network), args.npz.display(), args.output_file.display());
    Ok(())
}

pub fn export(args: &ExportArgs) -> Result<()> {
    let network = nn_core::load_model(&args.model)?;
    nn_core::export_npz(&network, &args.npz)?;
    println!("exported {} -> {}", describe(&network), args.npz.display());
    Ok(())
}

pub fn eval(args: &EvalArgs) -> Result<()> {
    let network = nn_core::load_model(&args.model)?;
    let set = set_for_model(&network, &args.data, args.set, args.validation_size)?;
    let (inputs, labels) = inputs_and_labels(&set);
    let evaluation = network
        .evaluate(&inputs, &labels, args.batch_size as usize)
        .with_context(|| format!("cannot evaluate {}", args.model.display()))?;
    let predicted = network
        .classify_batch(&inputs, args.batch_size as usize)
        .with_context(|| format!("cannot evaluate {}", args.model.display()))?;
    let confusion = Confusion::new(network.output_size(), &labels, &predicted);
    debug_assert_eq!((confusion.correct(), confusion.total()), (evaluation.correct, evaluation.total));
    let per_class = confusion.per_class();
    if let Some(png) = &args.png {
        explain::write_heat_map(&confusion, png)?;
    }
    if args.json {
        let mut report = serde_json::json!({
            "model": args.model,
            "set": args.set.label(),
            "loss": evaluation.loss,
            "correct": evaluation.correct,
            "total": evaluation.total,
            "accuracy": evaluation.accuracy(),
            "per_class": per_class,
            "confusion": confusion.rows(),
        });
        if let Some(png) = &args.png {
            report["png"] = serde_json::json!(png);
        }
        println!("{report}");
        return Ok(());
    }
    println!("model:    {} ({})", args.model.display(), describe(&network));
    println!("data:     {}, {} set ({} images)", args.data.display(), args.set.label(), set.len());
    println!("loss:     {:.4}", evaluation.loss);
    println!("correct:  {} / {}", evaluation.correct, evaluation.total);
    println!();
    print!("{}", explain::class_table(&per_class));
    println!();
    println!("confusion matrix (rows: true class, columns: predicted; [n]: correct)");
    print!("{}", explain::matrix_text(&confusion, use_color()));
    println!();
    if let Some(png) = &args.png {
        println!("heat map: {}", png.display());
    }
    println!("accuracy: {:.4}", evaluation.accuracy());
    Ok(())
}

/// Bold colour on a terminal, unless NO_COLOR is set.
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn summary(args: &SummaryArgs) -> Result<()> {
    let network = nn_core::load_model(&args.model)?;
    println!("{}", network.summary());
    Ok(())
}

/// "784-30-10, softmax_cross_entropy".
fn describe(network: &Network) -> String {
    let sizes: Vec<String> = network.sizes().iter().map(usize::to_string).collect();
    format!("{}, {}", sizes.join("-"), network.loss())
}
