//! `nn-cli plot`: loss and accuracy per epoch as a chart.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct PlotArgs {
    /// The metrics log written by `nn-cli train` (one JSON object per epoch).
    pub metrics: PathBuf,
    /// The chart to write: .png or .svg.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(_args: &PlotArgs) -> Result<()> {
    bail!("placeholder")
}
