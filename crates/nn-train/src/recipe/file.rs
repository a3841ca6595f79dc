//! Recipe files: a recipe as JSON, complete or as changes to a built-in recipe named in
//! `"base"`, read strictly (unknown fields refused) and checked.

use std::path::Path;

use nn_core::{Activation, Init, Loss};
use serde::{Deserialize, Serialize};

use super::{Recipe, RecipeError, find};
use crate::{Augmentation, OptimizerConfig, Sampling, Schedule, Standardize};

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
    /// Absent: the base's value; `null` or `"none"`: no augmentation.
    #[serde(
        default,
        deserialize_with = "present_text",
        skip_serializing_if = "Option::is_none",
        serialize_with = "text_inner"
    )]
    augmentation: Option<Option<Augmentation>>,
    /// Absent: the base's value; `null`: no constraint.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    max_norm: Option<Option<f32>>,
    /// Absent: the base's value (a shuffle without a base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sampling: Option<Sampling>,
    /// Absent: the base's value; `null`: none.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    standardize: Option<Option<Standardize>>,
    /// Absent or `null`: the front end's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

/// Like [`present`], for a value written as its text (`"shift=2,rotate=10"`).
fn present_text<'de, D>(deserializer: D) -> Result<Option<Option<Augmentation>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = Option::<String>::deserialize(deserializer)?;
    let augmentation = text.map(|t| t.parse::<Augmentation>().map_err(serde::de::Error::custom)).transpose()?;
    Ok(Some(augmentation.filter(|a| !a.is_identity())))
}

/// Writes a present augmentation as its text, or `null`.
fn text_inner<S: serde::Serializer>(value: &Option<Option<Augmentation>>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(Some(augmentation)) => serializer.collect_str(augmentation),
        _ => serializer.serialize_none(),
    }
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

impl Recipe {
    /// The recipe as a complete recipe file (pretty JSON, ending with a newline). What was
    /// published about a built-in recipe is not part of it.
    #[expect(clippy::missing_panics_doc, reason = "a recipe is plain data and always serialises")]
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
            augmentation: Some(self.augmentation),
            max_norm: Some(self.max_norm),
            // Written only when it is not the usual shuffle, so older files read the same.
            sampling: Some(self.sampling).filter(|s| !s.is_shuffle()),
            // Written only when there is one, so older files read the same.
            standardize: self.standardize.map(Some),
            seed: self.seed,
        };
        let mut json = serde_json::to_string_pretty(&file).expect("a recipe serialises");
        json.push('\n');
        json
    }

    /// Reads a recipe file's text; `default_name` names a recipe whose file gives no name.
    pub fn from_json(text: &str, default_name: &str) -> Result<Recipe, RecipeError> {
        let mut file: RecipeFile = serde_json::from_str(text)?;
        let base = match &file.base {
            Some(name) => {
                Some(find(name).ok_or_else(|| RecipeError::Unknown { what: "base recipe", name: name.clone() })?)
            }
            None => None,
        };
        if file.arch.as_ref().is_some_and(Option::is_some) {
            // A file that names an architecture needs no dense layer sizes.
            file.hidden.get_or_insert_with(Vec::new);
            file.hidden_activation.get_or_insert(Activation::Relu);
        }
        let mut missing = Vec::new();
        macro_rules! field {
            ($name:ident) => {{
                let value = file.$name.take().or_else(|| base.as_ref().map(|b| b.$name.clone()));
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
            return Err(RecipeError::Missing(missing));
        };
        let recipe = Recipe {
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
            max_steps: file.max_steps.unwrap_or_else(|| base.as_ref().and_then(|b| b.max_steps)),
            arch: file.arch.unwrap_or_else(|| base.as_ref().and_then(|b| b.arch.clone())),
            lambda: file.lambda.or(base.as_ref().map(|b| b.lambda)).unwrap_or(0.0),
            augmentation: file.augmentation.unwrap_or_else(|| base.as_ref().and_then(|b| b.augmentation)),
            max_norm: file.max_norm.unwrap_or_else(|| base.as_ref().and_then(|b| b.max_norm)),
            sampling: file.sampling.or(base.as_ref().map(|b| b.sampling)).unwrap_or_default(),
            standardize: file.standardize.unwrap_or_else(|| base.as_ref().and_then(|b| b.standardize)),
            seed: file.seed,
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            about: file.about.or_else(|| base.as_ref().map(|b| format!("{} (changed)", b.about))).unwrap_or_default(),
            published: None,
            bar: None,
            seed_spread: None,
        };
        recipe.validate()?;
        Ok(recipe)
    }

    /// Reads and checks a recipe file; a file that gives no name is named by its stem.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read { path: path.into(), source })?;
        let stem = path.file_stem().map_or_else(|| "recipe".into(), |s| s.to_string_lossy().into_owned());
        Recipe::from_json(&text, &stem).map_err(|e| RecipeError::File { path: path.into(), source: Box::new(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::built_in;

    #[test]
    fn built_in_recipes_survive_a_recipe_file() {
        for recipe in built_in() {
            let spec = recipe.clone();
            spec.validate().unwrap();
            let read = Recipe::from_json(&spec.to_json(), "x").unwrap();
            assert_eq!(
                read,
                Recipe { published: None, bar: None, seed_spread: None, ..spec.clone() },
                "{}",
                spec.to_json()
            );
        }
    }

    #[test]
    fn a_partial_file_takes_the_rest_from_its_base() {
        let spec = Recipe::from_json(r#"{"base": "nielsen", "hidden": [64, 32], "max_steps": 5}"#, "mine").unwrap();
        assert_eq!(spec.name, "mine");
        assert_eq!(spec.hidden, vec![64, 32]);
        assert_eq!(spec.learning_rate, 3.0);
        assert_eq!(spec.loss, Loss::SigmoidQuadratic);
        assert_eq!(spec.max_steps, Some(5));
        let spec = Recipe::from_json(r#"{"base": "torch-seed", "max_steps": null}"#, "mine").unwrap();
        assert_eq!(spec.max_steps, None);
        let spec = Recipe::from_json(r#"{"base": "cnn", "arch": "conv(8,3) relu flatten dense(10)"}"#, "m").unwrap();
        assert_eq!(spec.arch.as_deref(), Some("conv(8,3) relu flatten dense(10)"));
        assert_eq!(spec.optimizer, OptimizerConfig::adam());
        let spec = Recipe::from_json(r#"{"base": "cnn", "arch": null, "hidden": [30]}"#, "m").unwrap();
        assert_eq!((spec.arch, spec.hidden), (None, vec![30]));
    }

    #[test]
    fn standardisation_is_written_only_when_asked_for_and_inherited_from_the_base() {
        let standardized = Recipe::from_json(r#"{"base": "default", "standardize": "global"}"#, "mine").unwrap();
        assert_eq!(standardized.standardize, Some(Standardize::Global));
        assert!(standardized.to_json().contains("\"standardize\": \"global\""), "{}", standardized.to_json());
        let again = Recipe::from_json(&standardized.to_json(), "again").unwrap();
        assert_eq!(again.standardize, Some(Standardize::Global));
        assert!(!Recipe::from_json(r#"{"base": "default"}"#, "plain").unwrap().to_json().contains("standardize"));
        let error = Recipe::from_json(r#"{"base": "default", "standardize": "yes"}"#, "x").unwrap_err();
        assert!(error.to_string().contains("per-pixel"), "{error}");
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let error = |text: &str| Recipe::from_json(text, "x").unwrap_err().to_string();
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
        assert!(error(r#"{"base": "nielsen", "hidden": [4000000000]}"#).contains("too large"));
        assert!(error(r#"{"base": "nielsen", "hidden": [18446744073709551615]}"#).contains("cannot be built"));
        assert!(error(r#"{"base": "cnn", "arch": "conv(8) relu"}"#).contains("kernel size is missing"));
    }
}
