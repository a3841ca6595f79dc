//! `nn-cli convert`: between IDX files, a Keras-style .npz and a folder of PNG images.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use clap::builder::TypedValueParser;

use crate::data::load_mnist_any;
use crate::files::human_size;
use mnist_data::formats::npz::NpzNames;
use mnist_data::formats::{self, Form};

use crate::output::outln;

#[derive(Args)]
pub struct ConvertArgs {
    /// The data to read: a directory of IDX files (raw or .gz), an .npz, or a PNG folder.
    pub from: PathBuf,
    /// Where to write it; the form follows from --to-format or the path.
    pub to: PathBuf,
    /// The form to write. Without it: npz for a path ending in .npz, png for a name containing
    /// "png", otherwise raw IDX files.
    #[arg(long, short = 't', value_parser = form_parser())]
    pub to_format: Option<Form>,
    /// Replace an existing target: a file, or a folder that a previous conversion wrote (a folder
    /// holding anything else is refused).
    #[arg(long)]
    pub force: bool,
    /// The array names of an .npz: keras (x_train, y_train, x_test, y_test) or tutorial
    /// (train_x, train_y, test_x, test_y, the PyTorch tutorial's, with int64 labels).
    #[arg(long, value_name = "NAMES", default_value = "keras", value_parser = keys_parser())]
    pub keys: NpzNames,
}

/// `--keys`: keras or tutorial.
fn keys_parser() -> impl TypedValueParser<Value = NpzNames> {
    clap::builder::PossibleValuesParser::new(NpzNames::ALL.map(NpzNames::name))
        .map(|name| name.parse::<NpzNames>().expect("a listed name"))
}

/// `--to-format`: one of the forms' names, listed in the help.
fn form_parser() -> impl TypedValueParser<Value = Form> {
    clap::builder::PossibleValuesParser::new(Form::ALL.map(Form::name))
        .map(|name| name.parse::<Form>().expect("a listed name"))
}

/// The form a target path asks for when `--to-format` is not given.
pub fn form_from_path(path: &Path) -> Form {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if formats::has_npz_extension(path) {
        Form::Npz
    } else if name.contains("png") {
        Form::Png
    } else {
        Form::Idx
    }
}

pub fn run(args: &ConvertArgs) -> Result<()> {
    let form = args.to_format.unwrap_or_else(|| form_from_path(&args.to));
    if form.is_folder() && formats::has_npz_extension(&args.to) {
        bail!("{} ends in .npz but would be written as a {}; choose another name", args.to.display(), form.describe());
    }
    if args.keys != NpzNames::Keras && form != Form::Npz {
        bail!("--keys names the arrays of an .npz; {} would be written as a {}", args.to.display(), form.describe());
    }
    check_not_overlapping(&args.from, &args.to)?;
    // Refuse before the (possibly long) read; `save` checks again just before writing.
    formats::check_target(&args.to, form, args.force)?;
    let mnist = load_mnist_any(&args.from)?;
    formats::save_with_names(&mnist, &args.to, form, args.keys, args.force)?;
    let (train, test) = (&mnist.train, &mnist.test);
    outln!(
        "wrote {} ({}): {} training and {} test images of {}x{} pixels, {} classes, {}",
        args.to.display(),
        form.describe(),
        train.len(),
        test.len(),
        train.cols(),
        train.rows(),
        train.classes(),
        human_size(disk_size(&args.to))
    )?;
    Ok(())
}

/// Refuses to write over the source, or over a directory holding it.
fn check_not_overlapping(from: &Path, to: &Path) -> Result<()> {
    let (Ok(from_real), Ok(to_real)) = (fs::canonicalize(from), fs::canonicalize(to)) else { return Ok(()) };
    if from_real == to_real {
        bail!("{} is both the source and the target; write to another path", to.display());
    }
    if from_real.starts_with(&to_real) {
        bail!("{} holds the source {}; replacing it would delete the data being read", to.display(), from.display());
    }
    Ok(())
}

/// Bytes in a file, or in all the files under a directory.
fn disk_size(path: &Path) -> u64 {
    let Ok(meta) = fs::metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.filter_map(Result::ok).map(|entry| disk_size(&entry.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_path_chooses_the_form() {
        assert_eq!(form_from_path(Path::new("out/mnist.npz")), Form::Npz);
        assert_eq!(form_from_path(Path::new("out/MNIST.NPZ")), Form::Npz);
        assert_eq!(form_from_path(Path::new("mnist-png/")), Form::Png);
        assert_eq!(form_from_path(Path::new("data/mnist")), Form::Idx);
    }
}
