//! `nn-cli predict`: recognise digits in real images.
//!
//! Each image is prepared the way MNIST was (see `mnist_data::prepare`) and given to the model.
//! A file that cannot be read or holds no digit is reported on stderr and skipped; the others
//! are still processed, and the command fails (exit 1) at the end.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use nn_core::Classifier;
use serde::Serialize;

use crate::output::{out, outln};
use crate::render::shade_text;
use mnist_data::prepare::{FIELD, Prepared};

#[derive(Args)]
pub struct PredictArgs {
    /// The model file, or a committee file.
    #[arg(long)]
    pub model: PathBuf,
    /// Images (PNG, JPEG, BMP; any size, colour or grey).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print a JSON array, one object per recognised file (file, digit, confidence,
    /// probabilities, top3, inverted); files that fail are reported on stderr only.
    #[arg(long)]
    pub json: bool,
    /// Draw the prepared 28x28 input in the terminal (on stderr with --json).
    #[arg(long)]
    pub show: bool,
}

/// One of the most probable digits.
#[derive(Serialize)]
struct Ranked {
    digit: usize,
    probability: f32,
}

/// What the model says about one file.
#[derive(Serialize)]
struct Prediction {
    file: String,
    digit: usize,
    confidence: f32,
    probabilities: Vec<f32>,
    top3: Vec<Ranked>,
    /// Whether the image was dark ink on light paper and so inverted.
    inverted: bool,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let (model, _) = nn_core::load_any_model(&args.model)?;
    crate::probabilities::require_probabilities(model.loss(), &args.model, "predict")?;
    let inputs = FIELD * FIELD;
    if model.input_size() != inputs {
        bail!(
            "model {} takes {} inputs, but predict prepares {FIELD}x{FIELD} images ({inputs} inputs): use a model \
             trained on MNIST",
            args.model.display(),
            model.input_size()
        );
    }
    crate::data::check_image_shape(&model, FIELD, FIELD).with_context(|| {
        format!("model {} cannot read the {FIELD}x{FIELD} images predict prepares", args.model.display())
    })?;
    let mut predictions = Vec::new();
    let mut failed = 0;
    for path in &args.images {
        let file = path.display().to_string();
        let prepared = match load_and_prepare(path) {
            Ok(prepared) => prepared,
            Err(e) => {
                eprintln!("{file}: {e:#}");
                failed += 1;
                continue;
            }
        };
        let probabilities = model.predict(&prepared.input()).with_context(|| format!("{file}: prediction"))?;
        let prediction = describe(file, probabilities, &prepared);
        if args.json {
            if args.show {
                eprint!("{}:\n{}", prediction.file, shade_text(&prepared.pixels, FIELD));
            }
        } else {
            outln!("{}", human_line(&prediction))?;
            if args.show {
                out!("{}", shade_text(&prepared.pixels, FIELD))?;
            }
        }
        predictions.push(prediction);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&predictions)?)?;
    }
    if failed > 0 {
        bail!("{failed} of {} images could not be recognised", args.images.len());
    }
    Ok(())
}

/// Reads any supported image (the format is guessed from the content, then the extension),
/// bounded in size, and prepares it.
fn load_and_prepare(path: &Path) -> Result<Prepared> {
    Ok(mnist_data::image_file::prepare_file(path)?)
}

fn describe(file: String, probabilities: Vec<f32>, prepared: &Prepared) -> Prediction {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
    let top3: Vec<Ranked> = order.iter().take(3).map(|&d| Ranked { digit: d, probability: probabilities[d] }).collect();
    let digit = order.first().copied().unwrap_or(0);
    Prediction {
        file,
        digit,
        confidence: probabilities.get(digit).copied().unwrap_or(0.0),
        probabilities,
        top3,
        inverted: prepared.inverted,
    }
}

/// `photo.jpg: 7  (7 98.1%, 1 1.2%, 9 0.3%)`
fn human_line(prediction: &Prediction) -> String {
    let top: Vec<String> =
        prediction.top3.iter().map(|r| format!("{} {:.1}%", r.digit, 100.0 * r.probability)).collect();
    format!("{}: {}  ({})", prediction.file, prediction.digit, top.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_digit_and_the_top_three() {
        let prepared = Prepared { pixels: vec![0; 784], inverted: false };
        let mut probabilities = vec![0.0; 10];
        (probabilities[7], probabilities[1], probabilities[9], probabilities[3]) = (0.981, 0.012, 0.003, 0.004);
        probabilities[0] = 1.0 - probabilities.iter().sum::<f32>();
        let p = describe("photo.jpg".into(), probabilities, &prepared);
        assert_eq!(p.digit, 7);
        assert_eq!(human_line(&p), "photo.jpg: 7  (7 98.1%, 1 1.2%, 3 0.4%)");
    }
}
