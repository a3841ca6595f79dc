//! `nn-cli misclassified`: a grid of the test images a model gets wrong.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use nn_core::Classifier;

use crate::caption;
use crate::data::{SetName, inputs_and_labels, set_for_model};
use crate::files::{refuse_non_png, refuse_output_over_inputs, write_png};
use crate::output::outln;
use crate::render::grid;

#[derive(Args)]
pub struct MisclassifiedArgs {
    /// The model file, or a committee file.
    #[arg(long)]
    pub model: PathBuf,
    /// The PNG file to write.
    #[arg(long)]
    pub png: PathBuf,
    /// How many errors to show, most confident first.
    #[arg(long, default_value_t = 36, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Which set to look for errors in.
    #[arg(long, value_enum, default_value_t = SetName::Test)]
    pub set: SetName,
    /// Images per forward pass.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Images held out at the end of the training file [default: the split the model file
    /// records; for a model that records none, 5000 for --set train].
    #[arg(long)]
    pub validation_size: Option<usize>,
}

/// One image the model gets wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mistake {
    /// Position of the image in its set.
    pub index: usize,
    pub truth: usize,
    pub predicted: usize,
    /// The probability the model gives its (wrong) answer.
    pub confidence: f32,
}

/// Each image is drawn this many times larger.
const SCALE: usize = 3;
/// The caption's font scale and the margin around it.
const CAPTION_SCALE: usize = 2;
const CAPTION_MARGIN: usize = 3;
/// Grey pixels between cells.
const GAP: usize = 4;

pub fn run(args: &MisclassifiedArgs) -> Result<()> {
    refuse_output_over_inputs(
        &[("the picture", &args.png)],
        &[("the model", &args.model), ("the data set", &args.data)],
    )?;
    refuse_non_png("the picture", &args.png)?;
    let (model, training) = nn_core::load_any_model(&args.model)?;
    crate::probabilities::require_probabilities(model.loss(), &args.model, "misclassified")?;
    let set = set_for_model(&model, training.as_ref(), &args.data, args.set, args.validation_size)?;
    let (inputs, labels) = inputs_and_labels(&set);
    let outputs = predictions(&model, &inputs, args.batch_size as usize)
        .with_context(|| format!("cannot run {} on the {} set", args.model.display(), args.set.label()))?;
    let mistakes = most_confident_first(&labels, &outputs);
    if mistakes.is_empty() {
        outln!(
            "no misclassified images: the model gets all {} {} images right; {} not written",
            set.len(),
            args.set.label(),
            args.png.display()
        )?;
        return Ok(());
    }
    let shown = &mistakes[..mistakes.len().min(args.count as usize)];
    let (rows, cols) = (set.rows(), set.cols());
    let cells: Vec<Vec<u8>> =
        shown.iter().map(|m| cell(&set.pixels()[m.index * rows * cols..][..rows * cols], rows, cols, m)).collect();
    let cell_refs: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
    let (cell_w, cell_h) = cell_size(rows, cols);
    let (width, height, pixels) = grid(&cell_refs, cell_h, cell_w, columns(shown.len()), 1, GAP);
    write_png(&args.png, width, height, pixels)?;

    outln!(
        "{} of {} {} images misclassified ({:.2}%); the {} most confident errors:",
        mistakes.len(),
        set.len(),
        args.set.label(),
        100.0 * mistakes.len() as f64 / set.len() as f64,
        shown.len()
    )?;
    outln!("{:>6}  {:>4}  {:>9}  {:>10}", "image", "true", "predicted", "confidence")?;
    for m in shown {
        outln!("{:>6}  {:>4}  {:>9}  {:>10.4}", m.index, m.truth, m.predicted, m.confidence)?;
    }
    outln!("wrote {} ({width}x{height}, {} images)", args.png.display(), shown.len())?;
    Ok(())
}

/// The outputs (probabilities) of every sample, `outputs` values per sample, one sample after
/// the other.
fn predictions(model: &dyn Classifier, inputs: &[f32], batch_size: usize) -> Result<Vec<Vec<f32>>> {
    let mut outputs = Vec::with_capacity(inputs.len() / model.input_size().max(1));
    for chunk in inputs.chunks(batch_size * model.input_size()) {
        let batch = model.predict_batch(chunk)?;
        outputs.extend(batch.column_iter().map(|column| column.iter().copied().collect::<Vec<f32>>()));
    }
    Ok(outputs)
}

/// The samples whose most probable output is not their label, the most confident errors (the
/// highest probability given to the wrong answer) first; ties keep the data's order.
pub fn most_confident_first(labels: &[usize], outputs: &[Vec<f32>]) -> Vec<Mistake> {
    let mut mistakes: Vec<Mistake> = labels
        .iter()
        .zip(outputs)
        .enumerate()
        .filter_map(|(index, (&truth, probabilities))| {
            let (predicted, &confidence) =
                probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
            (predicted != truth).then_some(Mistake { index, truth, predicted, confidence })
        })
        .collect();
    mistakes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    mistakes
}

/// Columns of the grid: as square as it gets.
pub fn columns(cells: usize) -> usize {
    (1..=cells.max(1)).find(|c| c * c >= cells).unwrap_or(1)
}

/// Width and height of one cell: the scaled image above its caption.
fn cell_size(rows: usize, cols: usize) -> (usize, usize) {
    let (caption_w, caption_h) = caption::text_size("0→0 100%", CAPTION_SCALE);
    ((cols * SCALE).max(caption_w + 2 * CAPTION_MARGIN), rows * SCALE + caption_h + 2 * CAPTION_MARGIN)
}

/// The caption of a mistake: "7→2 93%" (true 7, predicted 2 with probability 0.93).
pub fn caption_text(m: &Mistake) -> String {
    format!("{}→{} {:.0}%", m.truth, m.predicted, f64::from(m.confidence) * 100.0)
}

/// One grid cell: the image, scaled and centred, on black, its caption below in white.
fn cell(image: &[u8], rows: usize, cols: usize, mistake: &Mistake) -> Vec<u8> {
    let (width, height) = cell_size(rows, cols);
    let mut pixels = vec![0u8; width * height];
    let x0 = (width - cols * SCALE) / 2;
    for y in 0..rows * SCALE {
        for x in 0..cols * SCALE {
            pixels[y * width + x0 + x] = image[(y / SCALE) * cols + x / SCALE];
        }
    }
    let text = caption_text(mistake);
    let (text_w, _) = caption::text_size(&text, CAPTION_SCALE);
    let x = width.saturating_sub(text_w) / 2;
    caption::draw(&mut pixels, width, x, rows * SCALE + CAPTION_MARGIN, &text, CAPTION_SCALE, 255);
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistake(index: usize, truth: usize, predicted: usize, confidence: f32) -> Mistake {
        Mistake { index, truth, predicted, confidence }
    }

    #[test]
    fn errors_come_most_confident_first() {
        let labels = [0, 1, 2, 0, 1, 2];
        let outputs = vec![
            vec![0.9, 0.05, 0.05], // right
            vec![0.6, 0.3, 0.1],   // wrong, 0.6
            vec![0.05, 0.9, 0.05], // wrong, 0.9
            vec![0.2, 0.2, 0.6],   // wrong, 0.6 (tie: data order)
            vec![0.1, 0.8, 0.1],   // right
            vec![0.99, 0.0, 0.01], // wrong, 0.99
        ];
        let ranked = most_confident_first(&labels, &outputs);
        assert_eq!(
            ranked,
            vec![mistake(5, 2, 0, 0.99), mistake(2, 2, 1, 0.9), mistake(1, 1, 0, 0.6), mistake(3, 0, 2, 0.6)]
        );
        assert!(most_confident_first(&[0, 1], &[vec![1.0, 0.0], vec![0.0, 1.0]]).is_empty());
    }

    #[test]
    fn a_tie_between_outputs_predicts_the_first_like_argmax() {
        let ranked = most_confident_first(&[1], &[vec![0.5, 0.5]]);
        assert_eq!(ranked, vec![mistake(0, 1, 0, 0.5)]);
    }

    #[test]
    fn grids_are_as_square_as_possible() {
        assert_eq!([0, 1, 2, 4, 5, 9, 10, 36, 37].map(columns), [1, 1, 2, 2, 3, 3, 4, 6, 7]);
    }

    #[test]
    fn cells_hold_the_image_and_a_caption() {
        assert_eq!(caption_text(&mistake(0, 7, 2, 0.934)), "7→2 93%");
        let image = [255u8; 4];
        let pixels = cell(&image, 2, 2, &mistake(0, 7, 2, 1.0));
        let (w, h) = cell_size(2, 2);
        assert_eq!(pixels.len(), w * h);
        // The caption is wider than the tiny image, so the image is centred.
        assert_eq!(pixels[(w - 2 * SCALE) / 2], 255);
        assert_eq!(pixels[0], 0);
        let caption_ink = pixels[2 * SCALE * w..].iter().filter(|&&p| p == 255).count();
        assert!(caption_ink > 20, "{caption_ink}");
    }
}
