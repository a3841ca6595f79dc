//! What a sweep is: a base recipe, the values its fields take (a grid, or draws from it and from
//! ranges), what the trials are scored by, and how Slurm should run them. Read from JSON or
//! TOML; its canonical JSON and that text's hash identify the sweep.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SweepError;

/// The recipe fields a sweep may set, in the order trials are numbered by: the first field
/// changes slowest, the last (`seed`) fastest. `dropout` is not a recipe file's field: it adds
/// dropout to a dense recipe, or sets the rate of an architecture's dropout layers.
pub const FIELDS: [&str; 17] = [
    "arch",
    "hidden",
    "hidden_activation",
    "loss",
    "init",
    "optimizer",
    "learning_rate",
    "schedule",
    "batch_size",
    "epochs",
    "max_steps",
    "validation_size",
    "lambda",
    "augmentation",
    "dropout",
    "max_norm",
    "seed",
];

/// The most trials one sweep may hold (their files are numbered with four digits).
pub const MAX_TRIALS: usize = 9_999;

/// A sweep as its author writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// A built-in recipe to start from (default: `default`); or give `recipe_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// A recipe file to start from, relative to the spec's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_file: Option<PathBuf>,
    /// The data every trial trains on (a folder of IDX files, an npz, a PNG folder), relative
    /// to the spec's folder; `data/mnist` by default, relative to where the sweep is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// The values of each field: a list, every value of which is tried (the grid), or with
    /// `random`, a range (`{"log_uniform": [1e-4, 1e-2]}`, `{"uniform": [0.2, 0.5]}`).
    #[serde(default)]
    pub grid: BTreeMap<String, Values>,
    /// Draw this many trials at random instead of the whole grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<RandomDraws>,
    /// What trials are ranked by.
    #[serde(default)]
    pub objective: Objective,
    /// How a Slurm job array runs the trials; every field has a default.
    #[serde(default)]
    pub slurm: SlurmSpec,
}

/// The values a field takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Values {
    /// Each of these, as a recipe file writes the field (`0.5`, `[512, 256]`, `"adam"`).
    List(Vec<Value>),
    /// A range, for random draws only.
    Range(Range),
}

/// A range of numbers drawn from at random.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Range {
    /// Uniform between the two bounds.
    Uniform([f64; 2]),
    /// Uniform in the logarithm between the two (positive) bounds: learning rates, λ.
    LogUniform([f64; 2]),
}

/// Trials drawn at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomDraws {
    /// How many trials.
    pub draws: usize,
    /// The seed of the draws (not of the trainings: that is the `seed` field).
    #[serde(default = "one")]
    pub seed: u64,
}

fn one() -> u64 {
    1
}

/// What trials are ranked by. The test set never is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The best validation accuracy of the run (its trials must hold out validation images).
    #[default]
    ValidationAccuracy,
    /// No ranking: every trial trains on all its images (a committee of seeds, say).
    None,
}

/// The job array's settings; `None` fields are estimated from the trials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    /// Tasks running at once (`--array=...%P`); default: all of them, at most 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<usize>,
    /// Cores per task, and the training threads of each (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<usize>,
    /// Memory per task as Slurm writes it (`2G`, `1500M`); default: estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Time limit per task as Slurm writes it (`1:30:00`); default: estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// More `#SBATCH` options, written as given (`--partition=short`, `--qos=low`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl SweepSpec {
    /// Reads a spec file: TOML when its name ends in `.toml`, JSON otherwise. Relative paths in
    /// it are made relative to the file's folder.
    pub fn load(path: &Path) -> Result<SweepSpec, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|source| SweepError::io("read", path, source))?;
        let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let mut spec = if is_toml { SweepSpec::from_toml(&text) } else { SweepSpec::from_json(&text) }
            .map_err(|e| SweepError::Spec(format!("{}: {e}", path.display())))?;
        let folder = path.parent().unwrap_or(Path::new(""));
        for file in [&mut spec.recipe_file, &mut spec.data].into_iter().flatten() {
            if file.is_relative() {
                *file = folder.join(&*file);
            }
        }
        Ok(spec)
    }

    /// A spec from its JSON text.
    pub fn from_json(text: &str) -> Result<SweepSpec, SweepError> {
        let spec: SweepSpec = serde_json::from_str(text).map_err(|e| SweepError::Spec(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    /// A spec from its TOML text.
    pub fn from_toml(text: &str) -> Result<SweepSpec, SweepError> {
        let spec: SweepSpec = toml::from_str(text).map_err(|e| SweepError::Spec(e.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    /// The spec as pretty JSON, ending with a newline.
    #[expect(clippy::missing_panics_doc, reason = "a spec is plain data and always serialises")]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a spec serialises");
        text.push('\n');
        text
    }

    /// Refuses what no plan can come from: unknown fields, empty lists, ranges without
    /// `random` or on fields that are not numbers, both a base and a recipe file.
    pub fn check(&self) -> Result<(), SweepError> {
        let refuse = |message: String| Err(SweepError::Spec(message));
        if self.base.is_some() && self.recipe_file.is_some() {
            return refuse("give \"base\" or \"recipe_file\", not both".into());
        }
        for (field, values) in &self.grid {
            if !FIELDS.contains(&field.as_str()) {
                return refuse(format!(
                    "{field:?} is not a field a sweep can set; the fields are {}",
                    FIELDS.join(", ")
                ));
            }
            match values {
                Values::List(list) if list.is_empty() => {
                    return refuse(format!("{field} has no values: give at least one"));
                }
                Values::List(_) => {}
                Values::Range(range) => {
                    if self.random.is_none() {
                        return refuse(format!(
                            "{field} is a range, which only random draws can take: add \"random\": {{\"draws\": N}}, or \
                             list the values"
                        ));
                    }
                    if !["learning_rate", "lambda", "dropout", "max_norm"].contains(&field.as_str()) {
                        return refuse(format!(
                            "{field} takes a list of values; ranges are for learning_rate, lambda, dropout and max_norm"
                        ));
                    }
                    range.check(field)?;
                }
            }
        }
        if let Some(random) = self.random
            && !(1..=MAX_TRIALS).contains(&random.draws)
        {
            return refuse(format!("random draws must be between 1 and {MAX_TRIALS}, not {}", random.draws));
        }
        let slurm = &self.slurm;
        if slurm.parallel == Some(0) || slurm.cpus_per_task == Some(0) {
            return refuse("slurm.parallel and slurm.cpus_per_task must be at least 1".into());
        }
        for option in &slurm.options {
            if !option.starts_with('-') || option.contains('\n') {
                return refuse(format!("slurm option {option:?} is not an option such as --partition=short"));
            }
        }
        for (what, value) in [("mem", &slurm.mem), ("time", &slurm.time)] {
            if let Some(value) = value
                && (value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-'))
            {
                return refuse(format!("slurm.{what} {value:?} is not a value sbatch takes"));
            }
        }
        Ok(())
    }

    /// The fields set, in numbering order.
    pub fn fields(&self) -> Vec<&'static str> {
        FIELDS.into_iter().filter(|f| self.grid.contains_key(*f)).collect()
    }
}

impl Range {
    fn check(&self, field: &str) -> Result<(), SweepError> {
        let (low, high, positive) = match *self {
            Range::Uniform([low, high]) => (low, high, false),
            Range::LogUniform([low, high]) => (low, high, true),
        };
        if !(low.is_finite() && high.is_finite() && low <= high) || (positive && low <= 0.0) {
            return Err(SweepError::Spec(format!(
                "the range of {field} must be two finite bounds, the lower first{}, not [{low}, {high}]",
                if positive { " and above 0" } else { "" }
            )));
        }
        Ok(())
    }

    /// The value at `u` in [0, 1).
    pub fn at(&self, u: f64) -> f64 {
        match *self {
            Range::Uniform([low, high]) => low + u * (high - low),
            // log-uniform: exp(ln a + u (ln b - ln a))
            Range::LogUniform([low, high]) => (low.ln() + u * (high.ln() - low.ln())).exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_toml_give_the_same_spec() {
        let json = SweepSpec::from_json(
            r#"{"base": "nielsen", "grid": {"learning_rate": [0.5, 3.0], "hidden": [[30], [100]], "seed": [1, 2]},
                "slurm": {"parallel": 2}}"#,
        )
        .unwrap();
        let toml = SweepSpec::from_toml(
            "base = \"nielsen\"\n[grid]\nlearning_rate = [0.5, 3.0]\nhidden = [[30], [100]]\nseed = [1, 2]\n\
             [slurm]\nparallel = 2\n",
        )
        .unwrap();
        assert_eq!(json, toml);
        assert_eq!(json.fields(), ["hidden", "learning_rate", "seed"]);
        assert_eq!(SweepSpec::from_json(&json.to_json()).unwrap(), json);
    }

    #[test]
    fn a_spec_reads_back_exactly_what_it_wrote() {
        // Found by fuzzing: serde_json's default parser read 6.666666666666666e60 one unit off.
        let toml = "base = \"nielsen\"\n[grid]\nlearning_rate = [6666666666666666666666666666666666666666666666666666666666660.5, 3]\n";
        let spec = SweepSpec::from_toml(toml).unwrap();
        assert_eq!(SweepSpec::from_json(&spec.to_json()).unwrap(), spec);
    }

    #[test]
    fn mistakes_are_named() {
        let error = |text: &str| SweepSpec::from_json(text).unwrap_err().to_string();
        assert!(
            error(r#"{"grid": {"lr": [1]}}"#).contains("\"lr\" is not a field"),
            "{}",
            error(r#"{"grid": {"lr": [1]}}"#)
        );
        assert!(error(r#"{"grid": {"seed": []}}"#).contains("seed has no values"));
        assert!(error(r#"{"grid": {"learning_rate": {"log_uniform": [1e-4, 1e-2]}}}"#).contains("only random draws"));
        let text = r#"{"random": {"draws": 3}, "grid": {"epochs": {"uniform": [1, 3]}}}"#;
        assert!(error(text).contains("epochs takes a list"), "{}", error(text));
        let text = r#"{"random": {"draws": 3}, "grid": {"learning_rate": {"log_uniform": [0, 1]}}}"#;
        assert!(error(text).contains("above 0"), "{}", error(text));
        assert!(error(r#"{"base": "cnn", "recipe_file": "r.json"}"#).contains("not both"));
        assert!(error(r#"{"random": {"draws": 0}}"#).contains("between 1 and"));
        assert!(error(r#"{"slurm": {"options": ["rm -rf"]}}"#).contains("is not an option"));
        assert!(error(r#"{"slurm": {"time": "1:00\n#SBATCH"}}"#).contains("not a value sbatch takes"));
        assert!(error(r#"{"objective": "test_accuracy"}"#).contains("unknown variant"));
        assert!(error(r#"{"grids": {}}"#).contains("unknown field"));
    }

    #[test]
    fn log_uniform_spans_its_bounds() {
        let range = Range::LogUniform([1e-4, 1e-2]);
        assert!((range.at(0.0) - 1e-4).abs() < 1e-12);
        assert!((range.at(0.5) - 1e-3).abs() < 1e-9);
        assert!((Range::Uniform([0.2, 0.4]).at(0.5) - 0.3).abs() < 1e-12);
    }
}
