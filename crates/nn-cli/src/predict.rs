//! `nn-cli predict`: recognise digits in real images.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct PredictArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Images (PNG, JPEG, BMP; any size, colour or grey).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print a JSON array, one object per file.
    #[arg(long)]
    pub json: bool,
    /// Draw the prepared 28x28 input in the terminal.
    #[arg(long)]
    pub show: bool,
}

pub fn run(_args: &PredictArgs) -> Result<()> {
    bail!("placeholder")
}
