//! `--resume`: the saved run to continue, and the refusals of flags or files that disagree with it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nn_core::{Architecture, Network};
use nn_train::recipe::Recipe;
use nn_train::run_files::RunFiles;
use nn_train::{Checkpoint, TrainState};

use super::TrainArgs;
use super::settings::{RunSettings, check_settings, requested_layers, saved_layers};

/// The settings and state of the run to resume: an interrupted one (pending files) if there is
/// one, else the finished one, to train it for more epochs.
pub(super) fn resume_run(
    args: &TrainArgs,
    recipe: &Recipe,
    files: &RunFiles,
) -> Result<(RunSettings, Network, TrainState)> {
    let pending = files.pending();
    let from = if files.is_interrupted_run() { &pending } else { files };
    let text = std::fs::read(&from.settings).with_context(|| {
        format!("nothing to resume: {} is missing (train once without --resume first)", from.settings.display())
    })?;
    let mut settings: RunSettings = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid run description", from.settings.display()))?;
    refuse_contradicting_flags(args, recipe, &settings, &from.settings)?;
    let checkpoint = Checkpoint::load(&from.checkpoint)?;
    refuse_disagreeing_record(&settings, &checkpoint, &from.settings, &from.checkpoint)?;
    if let Some(epochs) = args.epochs {
        settings.config.epochs = epochs;
    }
    let (network, mut state) = (checkpoint.network, checkpoint.state);
    state.config.epochs = settings.config.epochs;
    settings.config = state.config.clone();
    check_settings(&settings)?;
    Ok((settings, network, state))
}

/// The run's settings and its checkpoint are written together; where they disagree, one was
/// edited or belongs to another run, and neither can be trusted to resume from.
pub(super) fn refuse_disagreeing_record(
    settings: &RunSettings,
    checkpoint: &Checkpoint,
    record: &Path,
    saved: &Path,
) -> Result<()> {
    let network = &checkpoint.network;
    let mut differences = Vec::new();
    if settings.config != checkpoint.state.config {
        differences.push(format!(
            "the training settings ({:?} in the record, {:?} in the checkpoint)",
            settings.config, checkpoint.state.config
        ));
    }
    if settings.seed != checkpoint.state.config.seed {
        differences.push(format!("the seed ({} and {})", settings.seed, checkpoint.state.config.seed));
    }
    let same_network = match &settings.arch {
        Some(arch) => Architecture::named_or_parsed(arch).is_ok_and(|a| a.layers == network.architecture().layers),
        None => settings.layers == network.sizes(),
    };
    if !same_network {
        differences.push(format!(
            "the network ({} in the record, {} in the checkpoint)",
            settings.arch.clone().unwrap_or_else(|| saved_layers(settings)),
            network.architecture()
        ));
    }
    if differences.is_empty() {
        return Ok(());
    }
    bail!(
        "{} and {} do not belong together: they differ in {}; was one of them edited? Train a new run without --resume",
        record.display(),
        saved.display(),
        differences.join(", ")
    )
}

/// A resumed run keeps its network, data split and optimizer: a flag that asks for another
/// value is refused, naming each such flag with the run's value (only --epochs may change).
pub(super) fn refuse_contradicting_flags(
    args: &TrainArgs,
    recipe: &Recipe,
    saved: &RunSettings,
    file: &Path,
) -> Result<()> {
    let config = &saved.config;
    let given = |value: Option<String>, run: String| value.map(|v| (v, run));
    // (flag, value given, the run's value) for every flag given.
    let mut asked: Vec<(&str, Option<(String, String)>)> = vec![
        (
            "--recipe",
            (args.recipe.is_some() || args.recipe_file.is_some()).then(|| (recipe.name.clone(), saved.recipe.clone())),
        ),
        (
            "--hidden-activation",
            given(args.hidden_activation.map(|a| a.to_string()), saved.hidden_activation.to_string()),
        ),
        ("--loss", given(args.loss.map(|l| l.to_string()), saved.loss.to_string())),
        ("--init", given(args.init.map(|i| i.to_string()), saved.init.to_string())),
        ("--optimizer", given(args.optimizer.map(|o| o.to_string()), config.optimizer.to_string())),
        ("--lr", given(args.lr.map(|l| l.to_string()), config.learning_rate.to_string())),
        ("--schedule", given(args.schedule.map(|s| s.to_string()), config.schedule.to_string())),
        ("--batch-size", given(args.batch_size.map(|b| b.to_string()), config.batch_size.to_string())),
        ("--seed", given(args.seed.map(|s| s.to_string()), saved.seed.to_string())),
        ("--validation-size", given(args.validation_size.map(|v| v.to_string()), saved.validation_size.to_string())),
        ("--lambda", given(args.lambda.map(|l| l.to_string()), saved.lambda.to_string())),
        ("--max-steps", given(args.max_steps.map(|m| m.to_string()), optional(saved.max_steps))),
        (
            "--early-stopping",
            given(args.early_stopping.map(|p| p.to_string()), optional(config.early_stopping_patience)),
        ),
        (
            "--augment",
            given(
                args.augment.map(|a| a.to_string()),
                config.augmentation.map_or_else(|| "none".to_string(), |a| a.to_string()),
            ),
        ),
        (
            "--max-norm",
            given(
                args.max_norm.map(|m| m.to_string()),
                config.max_norm.map_or_else(|| "none".into(), |m| m.to_string()),
            ),
        ),
        ("--sampling", given(args.sampling.map(|s| s.to_string()), config.sampling.to_string())),
        (
            "--standardize",
            given(args.standardize.map(|s| s.to_string()), saved.standardize.map_or("none".into(), |s| s.to_string())),
        ),
    ];
    let network = saved.arch.clone().unwrap_or_else(|| saved_layers(saved));
    if let Some(arch) = &args.arch {
        let same = saved.arch.as_deref().is_some_and(|a| {
            matches!((Architecture::named_or_parsed(a), Architecture::named_or_parsed(arch)), (Ok(x), Ok(y)) if x == y)
        });
        let shown = if same { network.clone() } else { arch.clone() };
        asked.push(("--arch", Some((shown, network.clone()))));
    }
    if let Some(layers) = requested_layers(args) {
        let flag = if args.layers.is_some() { "--layers" } else { "--hidden (layers)" };
        // A dense run with dropout records its sizes too: the same sizes are no contradiction.
        let sized = saved.arch.is_none() || saved.dropout.is_some();
        let run = if sized { saved_layers(saved) } else { network.clone() };
        asked.push((flag, Some((layers.iter().map(usize::to_string).collect::<Vec<_>>().join(","), run))));
    }
    if let Some(rate) = args.dropout {
        asked.push((
            "--dropout",
            Some((rate.to_string(), saved.dropout.map_or_else(|| "none".into(), |r| r.to_string()))),
        ));
    }
    if args.no_test_each_epoch && saved.test_each_epoch {
        asked.push(("--no-test-each-epoch", Some(("given".into(), "tests after each epoch".into()))));
    }
    let conflicts: Vec<String> = asked
        .into_iter()
        .filter_map(|(flag, pair)| pair.filter(|(given, run)| given != run).map(|(given, run)| (flag, given, run)))
        .map(|(flag, given, run)| format!("{flag} {given} (the run's: {run})"))
        .collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    bail!(
        "--resume continues the run described in {} and cannot change it: {}; only --epochs may be raised \
         (leave these flags out, or train a new run without --resume)",
        file.display(),
        conflicts.join(", ")
    )
}

/// "none" or the value.
pub(super) fn optional(value: Option<usize>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}
