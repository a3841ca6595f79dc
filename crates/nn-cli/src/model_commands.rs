//! `nn-cli import`, `export`, `eval` and `summary`: model files and what they do on the data.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use nn_core::{
    Activation, Architecture, Classifier, LayerSpec, Loss, MNIST_INPUT, Model, Network, Shape, WeightsFormat,
};

use crate::data::{SetName, inputs_and_labels, set_for_model};
use crate::explain::{self, Confusion};
use crate::files::{naming_file, refuse_output_over_inputs};
use crate::output::{out, outln};

#[derive(Args)]
pub struct ImportArgs {
    /// NumPy archive with W1, b1, W2, b2, ... (dense W: inputs x outputs, as in `x @ W + b`;
    /// with --arch, convolution W: out_channels x in_channels x kh x kw, as in PyTorch).
    #[arg(long, required_unless_present_any = ["safetensors", "pickle"], conflicts_with_all = ["safetensors", "pickle"])]
    npz: Option<PathBuf>,
    /// Python pickle of a dict of NumPy arrays W1, b1, W2, b2, ... in the layout of --npz, as the
    /// code of Saito's Deep Learning from Scratch writes them (sample_weight.pkl, save_params'
    /// params.pkl), protocols 2 to 5. Nothing in the file is run: only NumPy's array globals
    /// are accepted.
    #[arg(long, conflicts_with = "safetensors")]
    pickle: Option<PathBuf>,
    /// safetensors file (PyTorch, candle, the Hugging Face hub) holding the state_dict of an
    /// nn.Sequential: 0.weight, 0.bias, ... where every module, activations, pooling, flatten
    /// and dropout included, takes an index; Linear weights outputs x inputs, Conv2d weights
    /// out_channels x in_channels x kh x kw. Needs --arch.
    #[arg(long, requires = "arch")]
    safetensors: Option<PathBuf>,
    /// The layers the arrays belong to, as text or a name: "conv(30,5) relu maxpool(2) flatten
    /// dense(100) relu dense(10)", saito-simple, saito-deep, pytorch-example, cnn. Without it,
    /// the --npz or --pickle file is read as a dense network of its W1..Wn with --hidden-activation.
    #[arg(long, value_name = "SPEC_OR_NAME")]
    arch: Option<String>,
    /// The shape of one input sample for --arch, channels x height x width, or a number of values
    /// for a flat input (784) [default: 1x28x28].
    #[arg(long, value_name = "CxHxW", requires = "arch", value_parser = parse_shape)]
    input: Option<Shape>,
    /// Activation of the hidden layers of a dense archive: identity, step, sigmoid, tanh, relu,
    /// leaky_relu[:SLOPE]. (With --arch, the architecture names its activations.)
    #[arg(long, default_value = "sigmoid", conflicts_with = "arch")]
    hidden_activation: Activation,
    /// Output function, with its loss: softmax (cross-entropy), sigmoid (quadratic cost) or
    /// identity (mean squared error, a regression).
    #[arg(long, visible_alias = "loss", value_enum, default_value_t = Output::Softmax)]
    output: Output,
    /// The model file to write.
    #[arg(short = 'o', long = "out", value_name = "MODEL")]
    output_file: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    /// Softmax outputs, trained with cross-entropy.
    #[value(alias = "softmax_cross_entropy", alias = "cross_entropy")]
    Softmax,
    /// Sigmoid outputs, trained with Nielsen's quadratic cost.
    #[value(alias = "sigmoid_quadratic", alias = "quadratic")]
    Sigmoid,
    /// Identity outputs (the last layer's values as they are), trained with the mean squared error.
    #[value(alias = "identity_mean_squared", alias = "mse")]
    Identity,
}

/// `1x28x28`: channels, height, width, each at least 1; or `784`, a flat vector of values (what
/// `export` prints for a dense network).
fn parse_shape(text: &str) -> Result<Shape, String> {
    let sizes: Vec<usize> = text.split(['x', 'X']).map(|s| s.trim().parse().unwrap_or(0)).collect();
    match *sizes.as_slice() {
        [values] if values > 0 => Ok(Shape::flat(values)),
        [channels, height, width] if channels > 0 && height > 0 && width > 0 => Ok(Shape::new(channels, height, width)),
        _ => Err(format!(
            "expected CHANNELSxHEIGHTxWIDTH (such as 1x28x28) or a number of values (784), each at least 1, not {text:?}"
        )),
    }
}

impl Output {
    fn loss(self) -> Loss {
        match self {
            Output::Softmax => Loss::SoftmaxCrossEntropy,
            Output::Sigmoid => Loss::SigmoidQuadratic,
            Output::Identity => Loss::IdentityMeanSquared,
        }
    }
}

#[derive(Args)]
pub struct ExportArgs {
    /// The NumPy archive to write: W1, b1, W2, b2, ... for the layers with weights (dense W:
    /// inputs x outputs; convolution W: out_channels x in_channels x kh x kw).
    #[arg(long, required_unless_present = "safetensors")]
    npz: Option<PathBuf>,
    /// The safetensors file to write: PyTorch's state_dict of the equivalent nn.Sequential
    /// (0.weight, 0.bias, ...; Linear weights outputs x inputs), for load_state_dict.
    #[arg(long)]
    safetensors: Option<PathBuf>,
    /// The model file to read.
    #[arg(long)]
    model: PathBuf,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The model file, or a committee file.
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
    /// Images held out at the end of the training file [default: the split the model file
    /// records; for a model that records none, 5000 for --set train].
    #[arg(long)]
    validation_size: Option<usize>,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
    /// Also write the confusion matrix as a PNG heat map.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

#[derive(Args)]
pub struct SummaryArgs {
    /// The model file, or a committee file.
    #[arg(long)]
    model: PathBuf,
}

pub fn import(args: &ImportArgs) -> Result<()> {
    let inputs: Vec<(&str, &std::path::Path)> = args
        .npz
        .iter()
        .chain(&args.safetensors)
        .chain(&args.pickle)
        .map(|file| ("the weights file", file.as_path()))
        .collect();
    refuse_output_over_inputs(&[("the model", &args.output_file)], &inputs)?;
    for (file, format) in [
        (&args.npz, WeightsFormat::Npz),
        (&args.pickle, WeightsFormat::Pickle),
        (&args.safetensors, WeightsFormat::Safetensors),
    ] {
        if let Some(file) = file {
            refuse_other_format(file, format)?;
        }
    }
    let loss = args.output.loss();
    let architecture = match &args.arch {
        Some(text) => Some(Architecture::named_or_parsed(text)?.with_input(args.input.unwrap_or(MNIST_INPUT))),
        None => None,
    };
    let (network, source) = match (&args.safetensors, args.npz.as_ref().or(args.pickle.as_ref()), &architecture) {
        (Some(file), _, Some(architecture)) => {
            let network = nn_core::import_safetensors(file, architecture, loss).with_context(|| {
                format!("cannot read {} as {architecture} on inputs of {}", file.display(), architecture.input)
            })?;
            (network, file)
        }
        (None, Some(file), None) => {
            let network = match args.pickle {
                Some(_) => nn_core::import_pickle(file, args.hidden_activation, loss).map_err(|e| naming_file(e, file)),
                None => nn_core::import_npz(file, args.hidden_activation, loss).map_err(|e| naming_file(e, file)),
            }?;
            (network, file)
        }
        (None, Some(file), Some(architecture)) => {
            let network = match args.pickle {
                Some(_) => {
                    nn_core::import_pickle_with_architecture(file, architecture, loss).map_err(anyhow::Error::from)
                }
                None => nn_core::import_npz_with_architecture(file, architecture, loss).map_err(anyhow::Error::from),
            }
            .with_context(|| {
                format!("cannot read {} as {architecture} on inputs of {}", file.display(), architecture.input)
            })?;
            (network, file)
        }
        // clap enforces one source, and --arch with --safetensors.
        _ => bail!("give --npz FILE or --pickle FILE, or --safetensors FILE with --arch"),
    };
    nn_core::save_model(&network, &args.output_file)?;
    outln!("imported {} ({}) -> {}", describe(&network), source.display(), args.output_file.display())?;
    Ok(())
}

/// Refuses, naming what it is, a weights file of another kind than its flag says (a pickle given
/// to --npz); a file of no known kind is left to the reader to explain.
fn refuse_other_format(file: &std::path::Path, flag: WeightsFormat) -> Result<()> {
    let option = |format| match format {
        WeightsFormat::Npz => "--npz",
        WeightsFormat::Pickle => "--pickle",
        _ => "--safetensors",
    };
    let expected = match flag {
        WeightsFormat::Npz => "an .npz",
        WeightsFormat::Pickle => "a Python pickle",
        _ => "a safetensors file",
    };
    // A file that cannot be opened is the reader's to report, with its own words.
    match WeightsFormat::sniff_file(file) {
        Ok(Some(found)) if found != flag => {
            bail!("{} is {found}, not {expected}: use {}", file.display(), option(found))
        }
        _ => Ok(()),
    }
}

pub fn export(args: &ExportArgs) -> Result<()> {
    let outputs: Vec<(&str, &std::path::Path)> =
        args.npz.iter().chain(&args.safetensors).map(|file| ("the weights file", file.as_path())).collect();
    refuse_output_over_inputs(&outputs, &[("the model", &args.model)])?;
    let network = nn_core::load_model(&args.model)?;
    let architecture = network.architecture();
    let read_back = |option: &str, file: &std::path::Path| {
        outln!(
            "read it back with: nn-cli import {option} {} --arch \"{architecture}\" --input {} --loss {}",
            file.display(),
            architecture.input,
            network.loss().output_name()
        )
    };
    if let Some(npz) = &args.npz {
        nn_core::export_npz(&network, npz)?;
        outln!("exported {} -> {}", describe(&network), npz.display())?;
        if network.standardization().is_some() {
            outln!("the file holds input_mean and input_deviation: x = (x - input_mean) / input_deviation before W1")?;
        }
        if !architecture.layers.iter().all(|l| matches!(l, LayerSpec::Dense { .. })) {
            read_back("--npz", npz)?;
        }
    }
    if let Some(file) = &args.safetensors {
        nn_core::export_safetensors(&network, file)?;
        outln!("exported {} -> {}", describe(&network), file.display())?;
        if network.standardization().is_some() {
            let [mean, deviation] = nn_core::STANDARDIZATION_TENSORS;
            outln!(
                "the file holds {mean} and {deviation}: pop them before load_state_dict, and give the model \
                 x = (x - mean) / deviation"
            )?;
        }
        read_back("--safetensors", file)?;
    }
    Ok(())
}

pub fn eval(args: &EvalArgs) -> Result<()> {
    if let Some(png) = &args.png {
        refuse_output_over_inputs(
            &[("the picture", png)],
            &[("the model", &args.model), ("the data set", &args.data)],
        )?;
        crate::files::refuse_non_png("the picture", png)?;
    }
    let (model, training) = nn_core::load_any_model(&args.model)?;
    let set = set_for_model(&model, training.as_ref(), &args.data, args.set, args.validation_size)?;
    // Each member in turn holds a batch: the widest member's batch, and every member's weights.
    let batch = (args.batch_size as usize).min(set.len().max(1));
    let mut usage =
        nn_core::MemoryUse { parameters: 0, values_per_sample: 0, widest_per_sample: 0, workspace_per_sample: 0 };
    for member in model.members() {
        let one = member.architecture().with_input(member.input_shape()).memory_use()?;
        usage.parameters = usage.parameters.saturating_add(one.parameters);
        usage.widest_per_sample = usage.widest_per_sample.max(one.widest_per_sample);
        usage.workspace_per_sample = usage.workspace_per_sample.max(one.workspace_per_sample);
    }
    let inputs_bytes = (set.len() as u64).saturating_mul(set.pixels_per_image() as u64).saturating_mul(4);
    crate::memory_check::check_inference(&usage, batch, inputs_bytes, None)?;
    let (inputs, labels) = inputs_and_labels(&set);
    let (evaluation, predicted) = model
        .evaluate_and_classify(&inputs, &labels, args.batch_size as usize)
        .with_context(|| format!("cannot evaluate {}", args.model.display()))?;
    let confusion = Confusion::new(model.output_size(), &labels, &predicted);
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
        outln!("{report}")?;
        return Ok(());
    }
    outln!("model:    {} ({})", args.model.display(), describe_model(&model))?;
    outln!("data:     {}, {} set ({} images)", args.data.display(), args.set.label(), set.len())?;
    outln!("loss:     {:.4}", evaluation.loss)?;
    outln!("correct:  {} / {}", evaluation.correct, evaluation.total)?;
    outln!()?;
    out!("{}", explain::class_table(&per_class))?;
    outln!()?;
    outln!("confusion matrix (rows: true class, columns: predicted; [n]: correct)")?;
    out!("{}", explain::matrix_text(&confusion, use_color()))?;
    outln!()?;
    if let Some(png) = &args.png {
        outln!("heat map: {}", png.display())?;
    }
    outln!("accuracy: {:.4}", evaluation.accuracy())?;
    Ok(())
}

/// Bold colour on a terminal, unless NO_COLOR is set.
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn summary(args: &SummaryArgs) -> Result<()> {
    let (model, _) = nn_core::load_any_model(&args.model)?;
    let committee = match model {
        Model::Network(network) => {
            outln!("{}", network.summary())?;
            return Ok(outln!("{}", memory_line(&network)?)?);
        }
        Model::Committee(committee) => committee,
    };
    outln!(
        "committee of {} models: the mean of their {} outputs; input {}, {} outputs",
        committee.member_count(),
        committee.loss().output_name(),
        committee.input_shape(),
        committee.output_size()
    )?;
    outln!("{:>6}  {:>10}  model", "member", "parameters")?;
    for (index, member) in committee.members().iter().enumerate() {
        outln!("{index:>6}  {:>10}  {}", member.parameter_count(), describe(member))?;
    }
    outln!("{:>6}  {:>10}", "total", committee.parameter_count())?;
    Ok(())
}

/// `memory: parameters 2.1 MB; training on batches of 128 with Adam about 105 MB (the data
/// aside); inference about 75 KB an image`: what `train` and `eval` check before they start.
fn memory_line(network: &nn_core::Network) -> Result<String> {
    let usage = network.architecture().with_input(network.input_shape()).memory_use()?;
    let config = nn_train::TrainConfig {
        batch_size: 128,
        optimizer: nn_train::OptimizerConfig::adam(),
        ..nn_train::TrainConfig::default()
    };
    Ok(format!(
        "memory: parameters {}; training on batches of 128 with Adam about {} (the data aside); inference about {} \
         an image",
        nn_core::human_bytes(usage.parameter_bytes()),
        nn_core::human_bytes(nn_train::memory::training_memory(&usage, &config, 0, 10_000).total()),
        nn_core::human_bytes(usage.inference_bytes(1, 1)),
    ))
}

/// `describe` of a network; for a committee, "committee of 3 × 784-30-10, softmax_cross_entropy",
/// or each member's after a colon when they differ.
pub fn describe_model(model: &Model) -> String {
    let members: Vec<String> = model.members().iter().map(describe).collect();
    match model {
        Model::Network(_) => members.concat(),
        _ if members.iter().all(|m| *m == members[0]) => format!("committee of {} × {}", members.len(), members[0]),
        _ => format!("committee of {}: {}", members.len(), members.join("; ")),
    }
}

/// "784-30-10, softmax_cross_entropy" for a dense network; "conv(4,3) relu maxpool(2) flatten
/// dense(10) on 1x28x28, 6810 parameters, softmax_cross_entropy" for any other.
pub fn describe(network: &Network) -> String {
    let architecture = network.architecture();
    let standardized = if network.standardization().is_some() { ", inputs standardised" } else { "" };
    if architecture.layers.iter().all(|l| matches!(l, LayerSpec::Dense { .. })) {
        let sizes: Vec<String> = network.sizes().iter().map(usize::to_string).collect();
        return format!("{}, {}{standardized}", sizes.join("-"), network.loss());
    }
    format!(
        "{architecture} on {}, {} parameters, {}{standardized}",
        architecture.input,
        network.parameter_count(),
        network.loss()
    )
}
