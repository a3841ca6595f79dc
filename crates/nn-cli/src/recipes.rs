//! Named training set-ups: the seeds' networks (Nielsen, Chollet, a PyTorch tutorial) and our
//! default, and recipe files (JSON) holding set-ups of one's own, such as the best one
//! `nn-cli search` found. Every field can be overridden by a flag of `nn-cli train`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use nn_core::{Activation, Init, Loss};
use nn_train::{OptimizerConfig, Schedule};
use serde::{Deserialize, Serialize};

/// One training set-up.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: &'static str,
    pub about: &'static str,
    /// A convolutional (or any) architecture: a name of `nn_core::NAMED_ARCHITECTURES` or its
    /// text. `None`: a dense network of `hidden` layers.
    pub arch: Option<&'static str>,
    /// Sizes of the hidden layers (input and output come from the data).
    pub hidden: &'static [usize],
    pub hidden_activation: Activation,
    pub loss: Loss,
    pub init: Init,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f32,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many mini-batches (the PyTorch tutorial counts steps, not epochs).
    pub max_steps: Option<usize>,
    /// Training images kept apart for validation (0 trains on all 60,000).
    pub validation_size: usize,
    /// Nielsen's L2 regularisation λ (the weight decay is λ / training set size).
    pub lambda: f32,
    /// The published test accuracy this recipe reproduces, with where it comes from.
    pub published: Option<(f32, &'static str)>,
    /// The test accuracy `cargo xtask reproduce` requires of it.
    pub bar: Option<f32>,
}

const NIELSEN_30: Recipe = Recipe {
    name: "nielsen",
    arch: None,
    bar: None,
    about: "Nielsen, chapter 1: 784-30-10 sigmoid, quadratic cost, SGD eta 3.0, batch 10, 30 epochs on 50,000 images",
    hidden: &[30],
    hidden_activation: Activation::Sigmoid,
    loss: Loss::SigmoidQuadratic,
    init: Init::NIELSEN,
    optimizer: OptimizerConfig::Sgd,
    learning_rate: 3.0,
    schedule: Schedule::Constant,
    batch_size: 10,
    epochs: 30,
    max_steps: None,
    validation_size: 10_000,
    lambda: 0.0,
    published: Some((0.9542, "Nielsen, Neural Networks and Deep Learning, ch. 1 (best epoch)")),
};

/// Every recipe, the default first.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        name: "default",
        arch: None,
        bar: None,
        about: "ours: 784-512-256-10 ReLU, softmax cross-entropy, Adam 1e-3 with cosine decay, batch 128, 12 epochs on 55,000 images",
        hidden: &[512, 256],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        learning_rate: 1e-3,
        schedule: Schedule::Cosine { min_lr: 1e-5 },
        batch_size: 128,
        epochs: 12,
        max_steps: None,
        validation_size: 5_000,
        lambda: 0.0,
        published: None,
    },
    NIELSEN_30,
    Recipe {
        name: "nielsen-100",
        about: "Nielsen, chapter 1: the same with 100 hidden neurons",
        hidden: &[100],
        published: Some((0.9672, "seed article (Nielsen's text: 96.59%)")),
        ..NIELSEN_30
    },
    Recipe {
        name: "keras",
        arch: None,
        bar: None,
        about: "Chollet, chapter 2: 784-512-10 ReLU, softmax cross-entropy, RMSprop 1e-3, batch 128, 5 epochs on 60,000 images",
        hidden: &[512],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::GLOROT,
        optimizer: OptimizerConfig::RmsProp { rho: 0.9, epsilon: 1e-7 },
        learning_rate: 1e-3,
        schedule: Schedule::Constant,
        batch_size: 128,
        epochs: 5,
        max_steps: None,
        validation_size: 0,
        lambda: 0.0,
        published: Some((0.978, "Chollet, Deep Learning with Python, ch. 2")),
    },
    Recipe {
        name: "torch-seed",
        arch: None,
        bar: None,
        about: "a PyTorch tutorial: 784-128-10 ReLU, cross-entropy, SGD 0.1, batch 32, 10,000 steps on 60,000 images",
        hidden: &[128],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 0.1,
        schedule: Schedule::Constant,
        batch_size: 32,
        epochs: 6,
        max_steps: Some(10_000),
        validation_size: 0,
        lambda: 0.0,
        published: None,
    },
    SAITO_SIMPLE,
    Recipe {
        name: "saito-deep",
        arch: Some("saito-deep"),
        about: "Saito, chapter 8: DeepConvNet (six 3x3 convolutions, three pools, dense 50, dropout 0.5), Adam 1e-3 with cosine decay (Saito keeps 1e-3, and the last epoch wanders by 0.2%), batch 100, 20 epochs on 60,000 images",
        // At a constant 1e-3 the test accuracy moves by a few tenths from one epoch to the next
        // (seed 1: 99.40% at its best epoch, 99.19% at the last): decayed to 1e-5, the run ends
        // where it settles instead of wherever the last epoch lands.
        schedule: Schedule::Cosine { min_lr: 1e-5 },
        epochs: 20,
        published: Some((0.9938, "Saito, Deep Learning from Scratch, ch. 8: an error rate of 0.62%")),
        bar: Some(0.993),
        ..SAITO_SIMPLE
    },
    Recipe {
        name: "pytorch-example",
        arch: Some("pytorch-example"),
        about: "PyTorch's examples/mnist: conv 32, conv 64, pool, dropout, dense 128, Adadelta 1.0 decayed 0.7 per epoch, batch 64, 14 epochs on 60,000 images",
        hidden: &[],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::Adadelta { rho: 0.9, epsilon: 1e-6 },
        learning_rate: 1.0,
        schedule: Schedule::StepDecay { every: 1, factor: 0.7 },
        batch_size: 64,
        epochs: 14,
        max_steps: None,
        validation_size: 0,
        lambda: 0.0,
        published: Some((0.992, "PyTorch examples/mnist")),
        bar: Some(0.991),
    },
    Recipe {
        name: "cnn",
        arch: Some("cnn"),
        about: "ours: conv 16, conv 32, pool, conv 64, pool (3x3, padding 1), dense 128, dropout 0.5; Adam 1e-3 with cosine decay, batch 128, 12 epochs on 60,000 images",
        hidden: &[],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
        learning_rate: 1e-3,
        schedule: Schedule::Cosine { min_lr: 1e-5 },
        batch_size: 128,
        epochs: 12,
        max_steps: None,
        validation_size: 0,
        lambda: 0.0,
        published: None,
        bar: Some(0.993),
    },
];

const SAITO_SIMPLE: Recipe = Recipe {
    name: "saito-simple",
    arch: Some("saito-simple"),
    about: "Saito, chapter 7: SimpleConvNet (conv 30@5x5, pool, dense 100), Adam 1e-3, batch 100, 20 epochs on 60,000 images",
    hidden: &[],
    hidden_activation: Activation::Relu,
    loss: Loss::SoftmaxCrossEntropy,
    init: Init::HE,
    optimizer: OptimizerConfig::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    learning_rate: 1e-3,
    schedule: Schedule::Constant,
    batch_size: 100,
    epochs: 20,
    max_steps: None,
    validation_size: 0,
    lambda: 0.0,
    published: Some((0.989, "Saito, Deep Learning from Scratch, ch. 7: about 98.9%")),
    bar: None,
};

/// The recipe called `name` (aliases: nielsen-30, keras-512, chollet, torch-seed-128).
pub fn find(name: &str) -> Option<&'static Recipe> {
    let canonical = match name {
        "nielsen-30" => "nielsen",
        "keras-512" | "chollet" => "keras",
        "torch-seed-128" | "torch" => "torch-seed",
        other => other,
    };
    RECIPES.iter().find(|r| r.name == canonical)
}

/// The recipes as a table, or as JSON lines (`cargo xtask reproduce` reads those).
pub fn list(json: bool) -> String {
    let mut out = String::new();
    for r in RECIPES {
        let published =
            r.published.map(|(accuracy, source)| serde_json::json!({"accuracy": accuracy, "source": source}));
        if json {
            let record = serde_json::json!({
                "name": r.name, "about": r.about, "published": published, "bar": r.bar, "arch": r.arch,
                "epochs": r.epochs, "batch_size": r.batch_size, "max_steps": r.max_steps,
            });
            out.push_str(&format!("{record}\n"));
        } else {
            let published = r.published.map_or(String::new(), |(a, s)| format!(" (published: {:.2}%, {s})", 100.0 * a));
            let bar = r.bar.map_or(String::new(), |bar| format!(" [bar: {:.2}%]", 100.0 * bar));
            out.push_str(&format!("{:<16} {}{published}{bar}\n", r.name, r.about));
        }
    }
    out
}

/// A new network for samples of `input`: the architecture `arch` (a name or its text) when
/// there is one, else dense layers of the sizes `dense` (inputs to outputs) with `hidden` after
/// each hidden layer; parameters drawn by `init` from `seed`.
pub fn new_network(
    arch: Option<&str>,
    dense: &[usize],
    hidden: Activation,
    loss: Loss,
    init: Init,
    seed: u64,
    input: nn_core::Shape,
) -> Result<nn_core::Network> {
    Ok(match arch {
        Some(text) => nn_core::Architecture::named_or_parsed(text)?.with_input(input).build(loss, init, seed)?,
        None => nn_core::Network::dense(dense, hidden, loss, init, seed)?,
    })
}

/// "default, nielsen, ..." for error messages and help.
pub fn names() -> String {
    RECIPES.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
}

/// A recipe owned at run time: a built-in one, or one read from a recipe file.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeSpec {
    pub name: String,
    pub about: String,
    /// A named architecture or architecture text; `None` for a dense network of `hidden`.
    pub arch: Option<String>,
    pub hidden: Vec<usize>,
    pub hidden_activation: Activation,
    pub loss: Loss,
    pub init: Init,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f32,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    pub max_steps: Option<usize>,
    pub validation_size: usize,
    pub lambda: f32,
}

impl From<&Recipe> for RecipeSpec {
    fn from(r: &Recipe) -> Self {
        RecipeSpec {
            name: r.name.to_string(),
            about: r.about.to_string(),
            arch: r.arch.map(str::to_string),
            hidden: r.hidden.to_vec(),
            hidden_activation: r.hidden_activation,
            loss: r.loss,
            init: r.init,
            optimizer: r.optimizer,
            learning_rate: r.learning_rate,
            schedule: r.schedule,
            batch_size: r.batch_size,
            epochs: r.epochs,
            max_steps: r.max_steps,
            validation_size: r.validation_size,
            lambda: r.lambda,
        }
    }
}

/// The JSON form of a recipe file. Activations, losses, initialisers, optimizers and schedules
/// are written the way the flags of `nn-cli train` take them (`relu`, `softmax_cross_entropy`,
/// `he`, `adam`, `cosine:0.00001`). A file naming a built-in recipe in `base` may leave out any
/// field; a file without one gives them all (`name`, `about`, `max_steps` and `lambda` may
/// always be left out).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    about: Option<String>,
    /// Absent: the base's value; `null`: a dense network of `hidden`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    arch: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    hidden_activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    loss: Option<Loss>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    init: Option<Init>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    optimizer: Option<OptimizerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epochs: Option<usize>,
    /// Absent: the base's value (none without a base); `null`: no limit.
    #[serde(default, deserialize_with = "present")]
    max_steps: Option<Option<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lambda: Option<f32>,
}

/// A field given, even as `null`, is `Some`; serde's default leaves an absent one `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Values stored as their `Display` text and read back with `FromStr`.
mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl RecipeSpec {
    /// Refuses values no training can use: zero sizes, a learning rate that is not positive...
    pub fn validate(&self) -> Result<()> {
        if let Some(arch) = &self.arch {
            nn_core::Architecture::named_or_parsed(arch)?;
        }
        if self.hidden.contains(&0) {
            bail!("a hidden layer needs at least 1 neuron (hidden: {:?})", self.hidden);
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            bail!("the learning rate must be finite and positive, not {}", self.learning_rate);
        }
        if self.batch_size == 0 {
            bail!("the batch size must be at least 1");
        }
        if self.epochs == 0 {
            bail!("the number of epochs must be at least 1");
        }
        if self.max_steps == Some(0) {
            bail!("max_steps must be at least 1 (or null for no limit)");
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            bail!("lambda must be finite and at least 0, not {}", self.lambda);
        }
        self.optimizer.validate()?;
        self.schedule.validate().map_err(|e| anyhow::anyhow!("invalid schedule: {e}"))?;
        Ok(())
    }

    /// The recipe as a complete recipe file (pretty JSON, ending with a newline).
    pub fn to_json(&self) -> String {
        let file = RecipeFile {
            base: None,
            name: Some(self.name.clone()),
            about: Some(self.about.clone()),
            arch: self.arch.clone().map(Some),
            hidden: Some(self.hidden.clone()),
            hidden_activation: Some(self.hidden_activation),
            loss: Some(self.loss),
            init: Some(self.init),
            optimizer: Some(self.optimizer),
            learning_rate: Some(self.learning_rate),
            schedule: Some(self.schedule),
            batch_size: Some(self.batch_size),
            epochs: Some(self.epochs),
            max_steps: Some(self.max_steps),
            validation_size: Some(self.validation_size),
            lambda: Some(self.lambda),
        };
        let mut json = serde_json::to_string_pretty(&file).expect("a recipe serialises");
        json.push('\n');
        json
    }

    /// Reads a recipe file's text; `default_name` names a recipe whose file gives no name.
    pub fn from_json(text: &str, default_name: &str) -> Result<RecipeSpec> {
        let file: RecipeFile = serde_json::from_str(text)?;
        let base = match &file.base {
            Some(name) => {
                Some(find(name).with_context(|| format!("unknown base recipe {name:?}: the recipes are {}", names()))?)
            }
            None => None,
        };
        let mut file = file;
        if file.arch.as_ref().is_some_and(Option::is_some) {
            // A file that names an architecture needs no dense layer sizes.
            file.hidden.get_or_insert_with(Vec::new);
            file.hidden_activation.get_or_insert(Activation::Relu);
        }
        let mut missing = Vec::new();
        macro_rules! field {
            ($name:ident) => {{
                let value = file.$name.or_else(|| base.map(|b| b.$name.to_owned()));
                if value.is_none() {
                    missing.push(concat!("\"", stringify!($name), "\""));
                }
                value
            }};
        }
        let (hidden, hidden_activation, loss, init) =
            (field!(hidden), field!(hidden_activation), field!(loss), field!(init));
        let (optimizer, learning_rate, schedule) = (field!(optimizer), field!(learning_rate), field!(schedule));
        let (batch_size, epochs, validation_size) = (field!(batch_size), field!(epochs), field!(validation_size));
        let (
            Some(hidden),
            Some(hidden_activation),
            Some(loss),
            Some(init),
            Some(optimizer),
            Some(learning_rate),
            Some(schedule),
            Some(batch_size),
            Some(epochs),
            Some(validation_size),
        ) = (
            hidden,
            hidden_activation,
            loss,
            init,
            optimizer,
            learning_rate,
            schedule,
            batch_size,
            epochs,
            validation_size,
        )
        else {
            bail!("missing {} (give them, or name a built-in recipe to start from in \"base\")", missing.join(", "));
        };
        let spec = RecipeSpec {
            hidden,
            hidden_activation,
            loss,
            init,
            optimizer,
            learning_rate,
            schedule,
            batch_size,
            epochs,
            validation_size,
            max_steps: file.max_steps.unwrap_or_else(|| base.and_then(|b| b.max_steps)),
            arch: file.arch.unwrap_or_else(|| base.and_then(|b| b.arch).map(str::to_string)),
            lambda: file.lambda.or(base.map(|b| b.lambda)).unwrap_or(0.0),
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            about: file.about.or_else(|| base.map(|b| format!("{} (changed)", b.about))).unwrap_or_default(),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and checks a recipe file.
    pub fn load(path: &Path) -> Result<RecipeSpec> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the recipe file {}", path.display()))?;
        let stem = path.file_stem().map_or_else(|| "recipe".into(), |s| s.to_string_lossy().into_owned());
        RecipeSpec::from_json(&text, &stem).with_context(|| format!("{} is not a valid recipe file", path.display()))
    }
}

/// The recipe of `--recipe NAME` or `--recipe-file FILE` (the default recipe without either).
pub fn resolve(name: Option<&str>, file: Option<&Path>) -> Result<RecipeSpec> {
    match (name, file) {
        (Some(_), Some(_)) => bail!("give --recipe or --recipe-file, not both"),
        (_, Some(path)) => RecipeSpec::load(path),
        (name, None) => {
            let name = name.unwrap_or("default");
            let recipe = find(name).with_context(|| format!("unknown recipe {name:?}: the recipes are {}", names()))?;
            Ok(recipe.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipe_is_found_by_name_and_alias() {
        for recipe in RECIPES {
            assert_eq!(find(recipe.name).unwrap().name, recipe.name);
        }
        assert_eq!(find("keras-512").unwrap().name, "keras");
        assert_eq!(find("nielsen-100").unwrap().hidden, &[100]);
        assert!(find("nope").is_none());
    }

    #[test]
    fn built_in_recipes_survive_a_recipe_file() {
        for recipe in RECIPES {
            let spec = RecipeSpec::from(recipe);
            spec.validate().unwrap();
            assert_eq!(RecipeSpec::from_json(&spec.to_json(), "x").unwrap(), spec, "{}", spec.to_json());
        }
    }

    #[test]
    fn a_partial_file_takes_the_rest_from_its_base() {
        let spec = RecipeSpec::from_json(r#"{"base": "nielsen", "hidden": [64, 32], "max_steps": 5}"#, "mine").unwrap();
        assert_eq!(spec.name, "mine");
        assert_eq!(spec.hidden, vec![64, 32]);
        assert_eq!(spec.learning_rate, 3.0);
        assert_eq!(spec.loss, Loss::SigmoidQuadratic);
        assert_eq!(spec.max_steps, Some(5));
        let spec = RecipeSpec::from_json(r#"{"base": "torch-seed", "max_steps": null}"#, "mine").unwrap();
        assert_eq!(spec.max_steps, None);
        let spec =
            RecipeSpec::from_json(r#"{"base": "cnn", "arch": "conv(8,3) relu flatten dense(10)"}"#, "m").unwrap();
        assert_eq!(spec.arch.as_deref(), Some("conv(8,3) relu flatten dense(10)"));
        assert_eq!(spec.optimizer, OptimizerConfig::adam());
        let spec = RecipeSpec::from_json(r#"{"base": "cnn", "arch": null, "hidden": [30]}"#, "m").unwrap();
        assert_eq!((spec.arch, spec.hidden), (None, vec![30]));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let error = |text: &str| format!("{:#}", RecipeSpec::from_json(text, "x").unwrap_err());
        assert!(error("hidden: 30").contains("expected value"), "{}", error("hidden: 30"));
        assert!(error(r#"{"base": "nielsen", "hiden": [3]}"#).contains("unknown field `hiden`"));
        assert!(
            error(r#"{"base": "nielsen", "learning_rate": -0.5}"#)
                .contains("learning rate must be finite and positive")
        );
        assert!(error(r#"{"hidden": [3]}"#).contains("missing \"hidden_activation\", \"loss\""));
        assert!(error(r#"{"base": "nope"}"#).contains("unknown base recipe"));
        assert!(error(r#"{"base": "nielsen", "optimizer": "adamw"}"#).contains("invalid optimizer"));
        assert!(error(r#"{"base": "nielsen", "hidden": [0]}"#).contains("at least 1 neuron"));
        assert!(error(r#"{"base": "cnn", "arch": "conv(8) relu"}"#).contains("kernel size is missing"));
    }
}
