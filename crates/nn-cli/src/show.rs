//! `nn-cli show`: draw digits, the book's `img_show`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use mnist_data::{Dataset, Mnist};

use crate::files::write_png;
use crate::output::{out, outln};
use crate::render::{grid, shade_text};

#[derive(Args)]
pub struct ShowArgs {
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Which set to draw from.
    #[arg(long, value_enum, default_value_t = Set::Train)]
    set: Set,
    /// Index of the (first) image.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// How many consecutive images to draw.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    count: u16,
    /// Write the image (a grid of them with --count) to this PNG file instead of the terminal.
    #[arg(long)]
    png: Option<PathBuf>,
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
    let mnist: Mnist = crate::data::load_mnist_any(&args.data)?;
    let (set, name) = match args.set {
        Set::Train => (&mnist.train, "training"),
        Set::Test => (&mnist.test, "test"),
    };
    let count = usize::from(args.count);
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
    match &args.png {
        Some(path) => write_grid(set, &indices, path),
        None => {
            for &i in &indices {
                let image = set.get(i).expect("checked above");
                out!("{}", shade_text(image.pixels, image.cols))?;
                outln!("{name} image {i}: label {}", image.label)?;
            }
            Ok(())
        }
    }
}

fn write_grid(set: &Dataset, indices: &[usize], path: &std::path::Path) -> Result<()> {
    let images: Vec<&[u8]> = indices.iter().map(|&i| set.get(i).expect("checked by the caller").pixels).collect();
    let (width, height, pixels) = grid(&images, set.rows(), set.cols(), PNG_COLUMNS, PNG_SCALE, 2);
    write_png(path, width, height, pixels)?;
    let labels: Vec<String> = indices.iter().map(|&i| set.labels()[i].to_string()).collect();
    outln!("wrote {} ({width}x{height}, labels {})", path.display(), labels.join(" "))?;
    Ok(())
}
