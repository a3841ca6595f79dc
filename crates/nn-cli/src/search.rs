//! `nn-cli search`: hyperparameter search scored on the validation split.

use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct SearchArgs {}

pub fn run(_args: &SearchArgs) -> Result<()> {
    bail!("placeholder")
}
