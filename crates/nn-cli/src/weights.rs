//! `nn-cli weights`: the first layer's weights drawn as images, as both books show them: one
//! tile per hidden unit of a dense layer (its weight on each pixel), or per filter of a
//! convolution.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nn_core::{LayerSpec, Network};

use crate::files::{check_can_write, refuse_non_png, refuse_output_over_inputs, write_png};
use crate::output::outln;
use crate::picture::{Picture, grid, max_abs, signed_grey, square_columns};

#[derive(Args)]
pub struct WeightsArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// The PNG file to write.
    #[arg(long)]
    png: PathBuf,
    /// Draw only the first N units or filters.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

/// Tiles are drawn at least this many pixels on their longer side.
const TILE_PIXELS: usize = 56;

/// The weights of one unit or filter (on one input channel), as an image.
struct Tile {
    values: Vec<f32>,
    width: usize,
}

pub fn run(args: &WeightsArgs) -> Result<()> {
    refuse_output_over_inputs(&[("the PNG", args.png.as_path())], &[("the model", args.model.as_path())])?;
    refuse_non_png("the picture", &args.png)?;
    check_can_write("the PNG", &args.png)?;
    let network = nn_core::load_model(&args.model)?;
    let (index, spec, tiles) = first_layer_tiles(&network)?;
    let shown = args.count.map_or(tiles.len(), |n| (n as usize).min(tiles.len()));
    let tiles = &tiles[..shown];
    let tile_height = tiles[0].values.len() / tiles[0].width.max(1);
    let scale = (TILE_PIXELS / tiles[0].width.max(tile_height).max(1)).max(1);
    let pictures: Vec<Picture> = tiles
        .iter()
        .enumerate()
        .map(|(n, tile)| {
            // Each tile to its own largest weight: the pattern matters, not the overall scale.
            let largest = max_abs(&tile.values);
            Picture::from_values(&tile.values, tile.width, scale, |v| signed_grey(v, largest))
                .captioned(&n.to_string(), 1)
        })
        .collect();
    let picture = grid(&pictures, square_columns(pictures.len()), 2);
    write_png(&args.png, picture.width as u32, picture.height as u32, picture.pixels)
        .with_context(|| format!("cannot write {}", args.png.display()))?;
    outln!(
        "wrote {} ({}x{}): {shown} tiles of {}x{tile_height}, the weights of layer {index} ({spec}); each tile scaled to its \
         own largest |w|: white positive, black negative, grey 0",
        args.png.display(),
        picture.width,
        picture.height,
        tiles[0].width
    )?;
    Ok(())
}

/// The first layer with weights, and its weights as tiles: a dense layer's rows drawn in the
/// shape of the network's input image, or each (filter, input channel) kernel of a convolution.
fn first_layer_tiles(network: &Network) -> Result<(usize, LayerSpec, Vec<Tile>)> {
    let Some((index, layer)) = network.layers().iter().enumerate().find(|(_, l)| !l.parameters().is_empty()) else {
        bail!("the model has no layer with weights");
    };
    let weights = layer.parameters()[0];
    let spec = layer.spec();
    let tiles = match &spec {
        LayerSpec::Dense { .. } => {
            let input = network.input_shape();
            let width = image_width(input);
            let Some(width) = width.filter(|_| layer.input_size() == input.len()) else {
                bail!(
                    "layer {index} ({spec}) does not read a one-channel image (it takes {} values; the input is {input}): \
                     its weights are not images",
                    layer.input_size()
                );
            };
            (0..weights.nrows())
                .map(|unit| Tile { values: weights.row(unit).iter().copied().collect(), width })
                .collect()
        }
        LayerSpec::Conv { kernel: (kh, kw), .. } => {
            let channels = weights.ncols() / (kh * kw).max(1);
            let mut tiles = Vec::new();
            for filter in 0..weights.nrows() {
                for channel in 0..channels {
                    // A row of W holds a patch in the order (ky, kx, channel).
                    let values = (0..kh * kw).map(|k| weights[(filter, k * channels + channel)]).collect();
                    tiles.push(Tile { values, width: *kw });
                }
            }
            tiles
        }
        other => bail!("layer {index} ({other}) has weights that are not drawn"),
    };
    Ok((index, spec, tiles))
}

/// The width of a one-channel input image: its own, or the side of a flat input of a square
/// number of values (784 is 28x28).
fn image_width(input: nn_core::Shape) -> Option<usize> {
    if input.is_flat() {
        let side = (input.len() as f64).sqrt().round() as usize;
        (side * side == input.len()).then_some(side)
    } else {
        (input.channels == 1).then_some(input.width)
    }
}
