//! `nn-cli committee`: a committee file of trained models (`nn_core::save_committee`), which
//! `eval`, `predict`, `misclassified`, `summary` and `serve` then take as a model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use nn_core::Classifier;

use crate::files::{check_can_write, refuse_output_over_inputs};
use crate::model_commands::describe;
use crate::output::outln;

#[derive(Args)]
pub struct CommitteeArgs {
    /// The committee file to write.
    #[arg(short = 'o', long = "out", value_name = "COMMITTEE")]
    output: PathBuf,
    /// The member model files: the same input and number of outputs, and the same output
    /// function.
    #[arg(required = true, value_name = "MODEL")]
    models: Vec<PathBuf>,
    /// Copy each member's network into the committee file, which then stands alone; without it,
    /// members are named by their paths relative to the committee file.
    #[arg(long)]
    embed: bool,
}

pub fn run(args: &CommitteeArgs) -> Result<()> {
    let inputs: Vec<(&str, &Path)> = args.models.iter().map(|model| ("a member", model.as_path())).collect();
    refuse_output_over_inputs(&[("the committee", &args.output)], &inputs)?;
    check_can_write("the committee", &args.output)?;
    nn_core::save_committee(&args.models, args.embed, &args.output)?;
    // Read back what was written, as every later command will.
    let committee = nn_core::load_committee(&args.output)
        .with_context(|| format!("{} was written but does not read back", args.output.display()))?;
    outln!(
        "committee of {} models -> {} ({})",
        committee.member_count(),
        args.output.display(),
        if args.embed { "members embedded" } else { "members named by their paths" }
    )?;
    for (index, (path, member)) in args.models.iter().zip(committee.members()).enumerate() {
        outln!("{index:>4}  {}  {}", path.display(), describe(member))?;
    }
    outln!(
        "input {} ({} values), {} outputs: the mean of the members' {} outputs",
        committee.input_shape(),
        committee.input_size(),
        committee.output_size(),
        committee.loss().output_name()
    )?;
    Ok(())
}
