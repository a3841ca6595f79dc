//! `nn-cli explain`: one image seen from inside a model, in one PNG: the prepared input, each
//! layer's activations (feature maps for convolutions and pools), and a saliency map, the
//! gradient of the chosen class with respect to the input.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nn_core::{LayerSpec, Network, Shape};

use crate::data::{SetName, set_for_model};
use crate::files::{check_can_write, refuse_non_png, refuse_output_over_inputs, write_png};
use crate::output::outln;
use crate::picture::{Picture, grid, max_abs, ranged_grey, signed_grey, square_columns, stack};

#[derive(Args)]
pub struct ExplainArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// An image (PNG, JPEG, BMP), prepared as `predict` prepares it.
    #[arg(required_unless_present = "index", conflicts_with = "index")]
    image: Option<PathBuf>,
    /// Explain test image N of --data instead of a file.
    #[arg(long, value_name = "N")]
    index: Option<usize>,
    /// The data --index reads (IDX directory, .npz or PNG folder).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The class whose saliency is drawn [default: the predicted one].
    #[arg(long)]
    class: Option<usize>,
    /// The PNG file to write.
    #[arg(long)]
    png: PathBuf,
}

/// Pixels per input pixel in the input and saliency pictures.
const IMAGE_SCALE: usize = 4;
/// Feature maps and unit grids are drawn at least this large on their longer side.
const MAP_PIXELS: usize = 56;

pub fn run(args: &ExplainArgs) -> Result<()> {
    let mut inputs = vec![("the model", args.model.as_path())];
    inputs.extend(args.image.as_deref().map(|image| ("the image", image)));
    if args.index.is_some() {
        inputs.push(("the data set", args.data.as_path()));
    }
    refuse_output_over_inputs(&[("the PNG", args.png.as_path())], &inputs)?;
    refuse_non_png("the picture", &args.png)?;
    check_can_write("the PNG", &args.png)?;
    let network = nn_core::load_model(&args.model)?;
    crate::probabilities::require_probabilities(network.loss(), &args.model, "explain")?;
    let (input, source) = read_input(args, &network)?;
    let probabilities = network.predict(&input).context("cannot run the model on the image")?;
    let predicted = nn_core::softmax::argmax(&probabilities);
    let class = args.class.unwrap_or(predicted);
    if class >= probabilities.len() {
        bail!("--class {class} is not a class of the model (it has {} outputs)", probabilities.len());
    }
    let inside = network.look_inside(&input, class).context("cannot look inside the model")?;

    let shape = network.input_shape();
    let width = if shape.is_flat() { (shape.len() as f64).sqrt().round() as usize } else { shape.width };
    if width * width != input.len() && shape.is_flat() {
        bail!("the model's input ({shape}) is not a square image");
    }
    let mut sections = vec![
        Picture::from_values(&input, width, IMAGE_SCALE, |v| ranged_grey(v, 0.0, 1.0))
            .captioned(&format!("input: predicted {predicted} {:.0}%", 100.0 * probabilities[predicted]), 2),
    ];
    let last = network.layers().len() - 1;
    for (index, (layer, outputs)) in network.layers().iter().zip(&inside.layer_outputs).enumerate() {
        let spec = layer.spec();
        if matches!(spec, LayerSpec::Flatten | LayerSpec::Dropout { .. }) {
            continue; // the same values as the layer before
        }
        let title = if index == last {
            format!("layer {index}: {spec} (outputs before {})", output_function(&network))
        } else {
            format!("layer {index}: {spec}")
        };
        sections.push(activations(outputs, layer.output_shape(), index == last).captioned(&title, 2));
    }
    let largest = max_abs(&inside.saliency);
    sections.push(
        Picture::from_values(&inside.saliency, width, IMAGE_SCALE, |v| signed_grey(v, largest))
            .captioned(&format!("saliency of {class}: white raises it"), 2),
    );
    let picture = stack(&sections, 6);
    write_png(&args.png, picture.width as u32, picture.height as u32, picture.pixels)?;
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
    let top: Vec<String> = order.iter().take(3).map(|&c| format!("{c} {:.1}%", 100.0 * probabilities[c])).collect();
    outln!("{source}: {predicted}  ({})", top.join(", "))?;
    outln!(
        "wrote {} ({}x{}): the input, the activations of {} layers, and the saliency of class {class} (the gradient \
         of its log-probability with respect to each pixel: white raises it, black lowers it)",
        args.png.display(),
        picture.width,
        picture.height,
        sections.len() - 2
    )?;
    Ok(())
}

/// The input of the image file or of test image `--index`, as the network takes it.
fn read_input(args: &ExplainArgs, network: &Network) -> Result<(Vec<f32>, String)> {
    match (&args.image, args.index) {
        (Some(path), _) => {
            use mnist_data::prepare::FIELD;
            crate::data::check_image_shape(network, FIELD, FIELD)?;
            if network.input_size() != FIELD * FIELD {
                bail!("the model takes {} inputs, but images are prepared as {FIELD}x{FIELD}", network.input_size());
            }
            let prepared =
                mnist_data::image_file::prepare_file(path).map_err(|e| crate::files::naming_file(e, path))?;
            Ok((prepared.input(), path.display().to_string()))
        }
        (None, Some(index)) => {
            let set = set_for_model(network, None, &args.data, SetName::Test, None)?;
            let Some(image) = set.get(index) else {
                bail!("test image {index} does not exist: the test set has {} images", set.len());
            };
            let input = image.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
            Ok((input, format!("test image {index} (label {})", image.label)))
        }
        (None, None) => bail!("give an image file or --index"),
    }
}

/// "softmax" or "sigmoid": what the loss applies to the last layer's outputs.
fn output_function(network: &Network) -> &'static str {
    network.loss().output_name()
}

/// A layer's outputs as pictures: each feature map of an image-shaped output, or the units of
/// a flat one in a square (the last layer's one per class, captioned), shaded from the layer's
/// smallest value (black) to its largest (white).
fn activations(outputs: &[f32], shape: Shape, is_last: bool) -> Picture {
    let finite = outputs.iter().filter(|v| v.is_finite());
    let low = finite.clone().fold(f32::INFINITY, |m, &v| m.min(v));
    let high = finite.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let shade = |v: f32| ranged_grey(v, low, high);
    if shape.is_flat() {
        if is_last {
            let cells: Vec<Picture> = outputs
                .iter()
                .enumerate()
                .map(|(class, &v)| Picture::from_values(&[v], 1, 16, shade).captioned(&class.to_string(), 2))
                .collect();
            return grid(&cells, cells.len(), 2);
        }
        let side = square_columns(outputs.len());
        let mut square = outputs.to_vec();
        square.resize(side * side, low);
        return Picture::from_values(&square, side, (MAP_PIXELS * 2 / side).max(2), shade);
    }
    let (height, width, channels) = (shape.height, shape.width, shape.channels);
    let scale = (MAP_PIXELS / height.max(width).max(1)).max(1);
    let maps: Vec<Picture> = (0..channels)
        .map(|k| {
            // Channels last: map k's pixel (y, x) is at (y·width + x)·channels + k.
            let map: Vec<f32> = (0..height * width).map(|p| outputs[p * channels + k]).collect();
            Picture::from_values(&map, width, scale, shade)
        })
        .collect();
    grid(&maps, square_columns(maps.len()).max(8).min(maps.len()), 2)
}
