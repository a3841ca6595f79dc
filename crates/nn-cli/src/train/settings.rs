//! A run's settings: from the recipe and the flags, the line that states them, and the record
//! saved beside the checkpoint.

use anyhow::{Context, Result, bail};
use nn_core::{Activation, Architecture, Init, Loss, Network};
use nn_train::recipe::{self, Recipe};
use nn_train::{Sampling, Standardize, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::data::Splits;

use super::TrainArgs;

/// The seed when --seed is not given.
pub(super) const DEFAULT_SEED: u64 = 1;

/// What a run needs besides the trainer's own configuration; saved beside the checkpoint so a
/// resumed run uses the same network shape and data split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct RunSettings {
    pub(super) recipe: String,
    /// The architecture's text when the network is not a plain dense one of `layers`.
    #[serde(default)]
    pub(super) arch: Option<String>,
    pub(super) layers: Vec<usize>,
    pub(super) hidden_activation: Activation,
    pub(super) loss: Loss,
    pub(super) init: Init,
    pub(super) seed: u64,
    pub(super) validation_size: usize,
    /// Nielsen's λ (the configuration holds λ/n).
    #[serde(default)]
    pub(super) lambda: f32,
    /// `--dropout`: the rate after each hidden layer of the dense network `layers` (then `arch`
    /// is that network with its dropout layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dropout: Option<f32>,
    pub(super) max_steps: Option<usize>,
    pub(super) test_each_epoch: bool,
    /// How the inputs are standardised, from the training images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) standardize: Option<Standardize>,
    pub(super) config: TrainConfig,
    /// The data the run trains on; a resume on other data is refused. Absent in the records
    /// of runs started before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<DataRecord>,
}

/// The sizes and fingerprints (`mnist_data::fingerprint`) of a run's training file (its
/// training and validation images together) and test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct DataRecord {
    pub(super) training_images: usize,
    pub(super) training_fingerprint: String,
    pub(super) test_images: usize,
    pub(super) test_fingerprint: String,
}

impl DataRecord {
    pub(super) fn of(splits: &Splits) -> DataRecord {
        DataRecord {
            training_images: splits.train.len() + splits.validation.len(),
            training_fingerprint: mnist_data::fingerprint(&[&splits.train, &splits.validation]),
            test_images: splits.test.len(),
            test_fingerprint: mnist_data::fingerprint(&[&splits.test]),
        }
    }

    /// `60000 training images (sha256:1a2b3c4d...) and 10000 test images (sha256:...)`.
    pub(super) fn describe(&self) -> String {
        let short = |f: &str| f.chars().take(7 + 12).collect::<String>();
        format!(
            "{} training images ({}...) and {} test images ({}...)",
            self.training_images,
            short(&self.training_fingerprint),
            self.test_images,
            short(&self.test_fingerprint)
        )
    }
}

pub(super) fn settings_from(args: &TrainArgs, recipe: &Recipe) -> Result<RunSettings> {
    let arch = match (&args.arch, &args.layers, &args.hidden) {
        (Some(arch), _, _) => Some(arch.clone()),
        (None, None, None) => recipe.arch.clone(),
        _ => None,
    };
    if let Some(arch) = &arch {
        Architecture::named_or_parsed(arch)?;
    }
    let layers = requested_layers(args).unwrap_or_else(|| [vec![784], recipe.hidden.clone(), vec![10]].concat());
    if layers.len() < 2 || layers.contains(&0) {
        bail!("--layers needs at least an input and an output size, none of them 0 (got {layers:?})");
    }
    // The check of Network::dense itself, before the data is read: no size can abort a run.
    Network::check_dense_sizes(&layers).with_context(|| format!("invalid layer sizes {layers:?}"))?;
    let hidden_activation = args.hidden_activation.unwrap_or(recipe.hidden_activation);
    let arch = match (args.dropout, arch) {
        (Some(_), Some(arch)) => bail!(
            "--dropout adds dropout to a dense network, but this one is the architecture {arch:?}: \
             put dropout(P) in --arch instead"
        ),
        (Some(rate), None) => {
            Some(recipe::dense_with_dropout(&layers, hidden_activation, rate).map_err(|e| anyhow::anyhow!("--{e}"))?)
        }
        (None, arch) => arch,
    };
    let seed = args.seed.or(recipe.seed).unwrap_or(DEFAULT_SEED);
    let config = TrainConfig {
        epochs: args.epochs.unwrap_or(recipe.epochs),
        batch_size: args.batch_size.unwrap_or(recipe.batch_size),
        seed,
        learning_rate: args.lr.unwrap_or(recipe.learning_rate),
        optimizer: args.optimizer.unwrap_or(recipe.optimizer),
        schedule: args.schedule.unwrap_or(recipe.schedule),
        weight_decay: 0.0,
        early_stopping_patience: args.early_stopping,
        eval_batch_size: 1000,
        augmentation: args.augment.or(recipe.augmentation).filter(|a| !a.is_identity()),
        max_norm: args.max_norm.or(recipe.max_norm),
        sampling: args.sampling.unwrap_or(recipe.sampling),
    };
    let settings = RunSettings {
        recipe: recipe.name.clone(),
        arch,
        layers,
        hidden_activation,
        loss: args.loss.unwrap_or(recipe.loss),
        init: args.init.unwrap_or(recipe.init),
        seed,
        validation_size: args.validation_size.unwrap_or(recipe.validation_size),
        lambda: args.lambda.unwrap_or(recipe.lambda),
        dropout: args.dropout,
        max_steps: args.max_steps.or(recipe.max_steps),
        test_each_epoch: !args.no_test_each_epoch,
        standardize: args.standardize.or(recipe.standardize),
        config,
        data: None,
    };
    check_settings(&settings)?;
    Ok(settings)
}

/// The run's settings as they will be used, every flag applied: `recipe nielsen, changed by
/// --lr 0.01: 784-30-10 sigmoid, sigmoid_quadratic, init normal, sgd lr 0.01 (constant), ...`.
pub(super) fn settings_line(args: &TrainArgs, recipe: &Recipe, settings: &RunSettings) -> String {
    let config = &settings.config;
    let mut origin = match (&args.recipe_file, args.resume) {
        (_, true) => format!("resuming recipe {}", settings.recipe),
        (Some(file), false) => format!("recipe {} (from {})", recipe.name, file.display()),
        (None, false) => format!("recipe {}", recipe.name),
    };
    let flags = given_flags(args);
    if !args.resume && !flags.is_empty() {
        origin.push_str(&format!(", changed by {}", flags.join(" ")));
    }
    let network = match &settings.arch {
        Some(arch) => arch.clone(),
        None => format!("{} {}", saved_layers(settings).replace(',', "-"), settings.hidden_activation),
    };
    let mut parts = vec![
        network,
        settings.loss.to_string(),
        format!("init {}", settings.init),
        format!("{} lr {} ({})", config.optimizer, config.learning_rate, config.schedule),
        format!("batch {}", config.batch_size),
        format!("{} epochs", config.epochs),
    ];
    if let Some(steps) = settings.max_steps {
        parts.push(format!("at most {steps} steps"));
    }
    if settings.lambda > 0.0 {
        parts.push(format!("L2 lambda {}", settings.lambda));
    }
    if let Some(patience) = config.early_stopping_patience {
        parts.push(format!("early stopping after {patience} epochs without progress"));
    }
    if let Some(max_norm) = config.max_norm {
        parts.push(format!("max-norm {max_norm}"));
    }
    if let Some(augmentation) = config.augmentation {
        parts.push(format!("training images moved by {augmentation}"));
    }
    if config.sampling == Sampling::Replacement {
        parts.push("images drawn with replacement".into());
    }
    if let Some(kind) = settings.standardize {
        parts.push(format!("pixels standardised ({kind})"));
    }
    parts.push(format!("{} images held out for validation", settings.validation_size));
    parts.push(format!("seed {}", settings.seed));
    format!("{origin}: {}", parts.join(", "))
}

/// The flags of `train` that change a recipe's settings, as given (`--lr 0.01`).
pub(super) fn given_flags(args: &TrainArgs) -> Vec<String> {
    let list = |values: &[usize]| values.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let flags: [(&str, Option<String>); 22] = [
        ("--arch", args.arch.clone()),
        ("--layers", args.layers.as_deref().map(list)),
        ("--hidden", args.hidden.as_deref().map(list)),
        ("--hidden-activation", args.hidden_activation.map(|a| a.to_string())),
        ("--loss", args.loss.map(|l| l.to_string())),
        ("--init", args.init.map(|i| i.to_string())),
        ("--optimizer", args.optimizer.map(|o| o.to_string())),
        ("--lr", args.lr.map(|l| l.to_string())),
        ("--schedule", args.schedule.map(|s| s.to_string())),
        ("--batch-size", args.batch_size.map(|b| b.to_string())),
        ("--epochs", args.epochs.map(|e| e.to_string())),
        ("--max-steps", args.max_steps.map(|m| m.to_string())),
        ("--seed", args.seed.map(|s| s.to_string())),
        ("--validation-size", args.validation_size.map(|v| v.to_string())),
        ("--lambda", args.lambda.map(|l| l.to_string())),
        ("--early-stopping", args.early_stopping.map(|p| p.to_string())),
        ("--dropout", args.dropout.map(|p| p.to_string())),
        ("--max-norm", args.max_norm.map(|m| m.to_string())),
        ("--augment", args.augment.map(|a| a.to_string())),
        ("--sampling", args.sampling.map(|s| s.to_string())),
        ("--standardize", args.standardize.map(|s| s.to_string())),
        ("--no-test-each-epoch", args.no_test_each_epoch.then(String::new)),
    ];
    flags
        .into_iter()
        .filter_map(|(flag, value)| value.map(|v| if v.is_empty() { flag.to_string() } else { format!("{flag} {v}") }))
        .collect()
}

/// Refuses settings no run can use, before the data is read and any file written.
pub(super) fn check_settings(settings: &RunSettings) -> Result<()> {
    settings.config.validate(settings.validation_size > 0).context("invalid training settings")?;
    if !(settings.lambda.is_finite() && settings.lambda >= 0.0) {
        bail!("invalid training settings: --lambda must be finite and at least 0, not {}", settings.lambda);
    }
    if settings.max_steps == Some(0) {
        bail!("invalid training settings: --max-steps must be at least 1");
    }
    Ok(())
}

/// The layer sizes the flags ask for, if they ask: --layers as given, --hidden between MNIST's
/// 784 inputs and 10 classes.
pub(super) fn requested_layers(args: &TrainArgs) -> Option<Vec<usize>> {
    match (&args.layers, &args.hidden) {
        (Some(layers), _) => Some(layers.clone()),
        (None, Some(hidden)) => Some([vec![784], hidden.clone(), vec![10]].concat()),
        (None, None) => None,
    }
}

/// "784,16,10": the dense sizes of a run.
pub(super) fn saved_layers(saved: &RunSettings) -> String {
    saved.layers.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}
