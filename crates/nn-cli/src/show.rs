//! `nn-cli show`: draw digits, the book's `img_show`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use mnist_data::{Dataset, Mnist};

use crate::files::{check_can_write, refuse_non_png, refuse_output_over_inputs, write_png};
use crate::output::{out, outln};
use crate::picture::{self, Picture};
use crate::render::{grid, shade_text};

#[derive(Args)]
pub struct ShowArgs {
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Which set to draw from [default: train; test with --model].
    #[arg(long, value_enum)]
    set: Option<Set>,
    /// Index of the (first) image.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// How many consecutive images to draw [default: 1; 25 with --model and --png, the
    /// tutorial's 5x5 grid].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    count: Option<u16>,
    /// Write the image (a grid of them with --count) to this PNG file instead of the terminal.
    #[arg(long)]
    png: Option<PathBuf>,
    /// A model file: each image also shows the model's prediction and its probability.
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Set {
    Train,
    Test,
}

/// Each digit pixel becomes a square of this many pixels in the PNG.
const PNG_SCALE: usize = 4;
const PNG_COLUMNS: usize = 10;

pub fn run(args: &ShowArgs) -> Result<()> {
    if let Some(png) = &args.png {
        let mut inputs = vec![("the data set", args.data.as_path())];
        inputs.extend(args.model.as_deref().map(|model| ("the model", model)));
        refuse_output_over_inputs(&[("the PNG", png.as_path())], &inputs)?;
        refuse_non_png("the picture", png)?;
        check_can_write("the PNG", png)?;
    }
    let network = args.model.as_deref().map(nn_core::load_model).transpose()?;
    if let (Some(network), Some(path)) = (&network, &args.model) {
        crate::probabilities::require_probabilities(network.loss(), path, "show --model")?;
    }
    let mnist: Mnist = crate::data::load_mnist_any(&args.data)?;
    let default_set = if network.is_some() { Set::Test } else { Set::Train };
    let (set, name) = match args.set.unwrap_or(default_set) {
        Set::Train => (&mnist.train, "training"),
        Set::Test => (&mnist.test, "test"),
    };
    let default_count = if network.is_some() && args.png.is_some() { 25 } else { 1 };
    let count = usize::from(args.count.unwrap_or(default_count));
    let end = args.index.checked_add(count).filter(|&end| end <= set.len());
    if end.is_none() {
        bail!(
            "images {}..{} are out of range: the {name} set has {} images (0 to {})",
            args.index,
            args.index.saturating_add(count),
            set.len(),
            set.len().saturating_sub(1)
        );
    }
    let indices: Vec<usize> = (args.index..args.index + count).collect();
    let predictions = match &network {
        Some(network) => {
            crate::data::check_fits(network, set)?;
            Some(predict(network, set, &indices)?)
        }
        None => None,
    };
    match (&args.png, &predictions) {
        (Some(path), None) => write_grid(set, &indices, path),
        (Some(path), Some(predictions)) => write_predicted_grid(set, &indices, predictions, path, name),
        (None, _) => {
            for (n, &i) in indices.iter().enumerate() {
                let image = set.get(i).expect("checked above");
                out!("{}", shade_text(image.pixels, image.cols))?;
                match predictions.as_ref().map(|p| p[n]) {
                    Some(guess) => outln!("{name} image {i}: {}", guess.describe(image.label))?,
                    None => outln!("{name} image {i}: label {}", image.label)?,
                }
            }
            Ok(())
        }
    }
}

/// The model's answer for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Guess {
    predicted: usize,
    probability: f32,
}

impl Guess {
    /// `label 7, predicted 7 (99.8%)`, with `WRONG` after a wrong answer.
    fn describe(&self, label: u8) -> String {
        let wrong = if self.predicted == usize::from(label) { "" } else { "  WRONG" };
        format!("label {label}, predicted {} ({:.1}%){wrong}", self.predicted, 100.0 * self.probability)
    }

    /// `7→7 99%`, as `misclassified` captions its cells.
    fn caption(&self, label: u8) -> String {
        format!("{label}→{} {:.0}%", self.predicted, 100.0 * self.probability)
    }
}

/// The most probable class of each image `indices` of `set`, and its probability.
fn predict(network: &nn_core::Network, set: &Dataset, indices: &[usize]) -> Result<Vec<Guess>> {
    indices
        .iter()
        .map(|&i| {
            let image = set.get(i).expect("checked by the caller");
            let input: Vec<f32> = image.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
            let probabilities = network.predict(&input)?;
            let predicted = nn_core::softmax::argmax(&probabilities);
            Ok(Guess { predicted, probability: probabilities[predicted] })
        })
        .collect()
}

/// The images with `true→predicted probability` under each, in a grid as square as it gets.
fn write_predicted_grid(
    set: &Dataset,
    indices: &[usize],
    predictions: &[Guess],
    path: &std::path::Path,
    name: &str,
) -> Result<()> {
    let cells: Vec<Picture> = indices
        .iter()
        .zip(predictions)
        .map(|(&i, guess)| {
            let image = set.get(i).expect("checked by the caller");
            let values: Vec<f32> = image.pixels.iter().map(|&p| f32::from(p)).collect();
            Picture::from_values(&values, image.cols, PNG_SCALE, |v| v as u8).captioned(&guess.caption(image.label), 2)
        })
        .collect();
    let picture = picture::grid(&cells, picture::square_columns(cells.len()), 4);
    write_png(path, picture.width as u32, picture.height as u32, picture.pixels)?;
    let right = indices.iter().zip(predictions).filter(|&(&i, g)| usize::from(set.labels()[i]) == g.predicted).count();
    outln!(
        "wrote {} ({}x{}): {name} images {}..{}, {right} of {} predicted right; under each: true label→predicted, probability",
        path.display(),
        picture.width,
        picture.height,
        indices[0],
        indices[indices.len() - 1] + 1,
        indices.len()
    )?;
    Ok(())
}

fn write_grid(set: &Dataset, indices: &[usize], path: &std::path::Path) -> Result<()> {
    let images: Vec<&[u8]> = indices.iter().map(|&i| set.get(i).expect("checked by the caller").pixels).collect();
    let (width, height, pixels) = grid(&images, set.rows(), set.cols(), PNG_COLUMNS, PNG_SCALE, 2);
    write_png(path, width, height, pixels)?;
    let labels: Vec<String> = indices.iter().map(|&i| set.labels()[i].to_string()).collect();
    outln!("wrote {} ({width}x{height}, labels {})", path.display(), labels.join(" "))?;
    Ok(())
}
