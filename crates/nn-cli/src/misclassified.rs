//! `nn-cli misclassified`: a grid of the test images a model gets wrong.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct MisclassifiedArgs {
    /// The model file.
    #[arg(long)]
    pub model: PathBuf,
    /// The PNG file to write.
    #[arg(long)]
    pub png: PathBuf,
    /// How many errors to show, most confident first.
    #[arg(long, default_value_t = 36)]
    pub count: usize,
    /// The data (directory of IDX files, .npz, or PNG folder).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
}

pub fn run(_args: &MisclassifiedArgs) -> Result<()> {
    bail!("placeholder")
}
