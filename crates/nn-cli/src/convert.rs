//! `nn-cli convert`: between IDX files, a Keras-style .npz and a folder of PNG images.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct ConvertArgs {
    /// The data to read: a directory of IDX files (raw or .gz), an .npz, or a PNG folder.
    pub from: PathBuf,
    /// Where to write it; the form follows from --to-format or the path.
    pub to: PathBuf,
}

pub fn run(_args: &ConvertArgs) -> Result<()> {
    bail!("placeholder")
}
