//! `nn-cli forward`: a model run on numbers typed on the command line, as Saitō runs his toy
//! network in chapter 3 (`forward(network, np.array([1.0, 0.5]))`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use nn_core::Classifier;
use serde::Serialize;

use crate::output::outln;

#[derive(Args)]
pub struct ForwardArgs {
    /// The model file, or a committee file.
    #[arg(long)]
    model: PathBuf,
    /// One sample's inputs, separated by commas, as many as the model takes: 1.0,0.5
    #[arg(long, value_name = "X1,X2,...", allow_hyphen_values = true)]
    input: String,
    /// Print one JSON object (model, output function, inputs, outputs) instead of the outputs.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints. The numbers are `f32`, written in their shortest form as the text is.
#[derive(Serialize)]
struct Report<'a> {
    model: &'a Path,
    output: &'static str,
    inputs: &'a [f32],
    outputs: &'a [f32],
}

pub fn run(args: &ForwardArgs) -> Result<()> {
    let input = parse_numbers(&args.input)?;
    let (model, _) = nn_core::load_any_model(&args.model)?;
    if input.len() != model.input_size() {
        let shape = model.input_shape();
        let shape = if shape.is_flat() { String::new() } else { format!(" (one sample of {shape})") };
        bail!("{} takes {} inputs{shape}, but --input gives {}", args.model.display(), model.input_size(), input.len());
    }
    let outputs = model.predict(&input).with_context(|| format!("cannot run {}", args.model.display()))?;
    if args.json {
        let report =
            Report { model: &args.model, output: model.loss().output_name(), inputs: &input, outputs: &outputs };
        return Ok(outln!("{}", serde_json::to_string(&report)?)?);
    }
    // Each f32 in its shortest decimal form that reads back to the same number, about 7
    // significant digits: more would be the noise of f32 rounding.
    let text: Vec<String> = outputs.iter().map(f32::to_string).collect();
    outln!("{}", text.join(" "))?;
    Ok(())
}

/// `1.0,0.5` (spaces allowed around the commas) as numbers; refuses an empty list, a value that
/// is not a number, and NaN or an infinity, naming the value and its place.
fn parse_numbers(text: &str) -> Result<Vec<f32>> {
    if text.trim().is_empty() {
        bail!("--input is empty: give the sample's values separated by commas, such as --input 1.0,0.5");
    }
    let mut numbers = Vec::new();
    for (index, part) in text.split(',').enumerate() {
        let part = part.trim();
        let value: f32 =
            part.parse().map_err(|_| anyhow::anyhow!("--input: value {} ({part:?}) is not a number", index + 1))?;
        if !value.is_finite() {
            bail!("--input: value {} ({part}) is not a finite number", index + 1);
        }
        numbers.push(value);
    }
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::parse_numbers;

    #[test]
    fn numbers_are_read_and_bad_ones_named() {
        assert_eq!(parse_numbers("1.0,0.5").unwrap(), vec![1.0, 0.5]);
        assert_eq!(parse_numbers(" -2 , 3e-1,4").unwrap(), vec![-2.0, 0.3, 4.0]);
        let error = |text| parse_numbers(text).unwrap_err().to_string();
        assert_eq!(error("1.0,abc"), "--input: value 2 (\"abc\") is not a number");
        assert_eq!(error("1.0,,2"), "--input: value 2 (\"\") is not a number");
        assert_eq!(error("nan,1"), "--input: value 1 (nan) is not a finite number");
        assert_eq!(error("1,inf"), "--input: value 2 (inf) is not a finite number");
        assert_eq!(error("1e39"), "--input: value 1 (1e39) is not a finite number");
        assert!(error(" ").contains("--input is empty"));
    }
}
