//! From a spec to its trials: each a complete recipe (seed included), numbered in a stable
//! order: the grid counted with the last field of [`FIELDS`](super::FIELDS) fastest, or the draws in the order
//! they were drawn.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::SweepError;
use super::spec::{MAX_TRIALS, Objective, SweepSpec, Values};
use crate::recipe::Recipe;

/// The seed a trial trains from when the spec sets none (the one `nn-cli train` uses).
pub const DEFAULT_TRIAL_SEED: u64 = 1;

/// One training of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Its number, from 0.
    pub index: usize,
    /// The value of each field the spec sets, in the order of [`FIELDS`](super::FIELDS).
    pub values: Vec<(String, Value)>,
    /// The whole recipe, seed included.
    pub recipe: Recipe,
}

/// `learning_rate 0.5, seed 2`: a trial's values for people.
pub fn describe(values: &[(String, Value)]) -> String {
    values.iter().map(|(field, value)| format!("{field} {}", compact(value))).collect::<Vec<_>>().join(", ")
}

/// A value as a short text: strings without quotes, lists as JSON.
pub fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// Every trial of `spec` around `base`, each recipe checked.
pub fn trials(spec: &SweepSpec, base: &Recipe) -> Result<Vec<Trial>, SweepError> {
    let fields = spec.fields();
    let value_sets: Vec<Vec<(String, Value)>> = match spec.random {
        None => grid(spec, &fields)?,
        Some(random) => draws(spec, &fields, random.draws, random.seed)?,
    };
    value_sets
        .into_iter()
        .enumerate()
        .map(|(index, values)| {
            let recipe = apply(base, &values, index, spec.objective)?;
            Ok(Trial { index, values, recipe })
        })
        .collect()
}

fn lists<'a>(spec: &'a SweepSpec, fields: &[&str]) -> Vec<&'a [Value]> {
    fields
        .iter()
        .map(|field| match &spec.grid[*field] {
            Values::List(list) => list.as_slice(),
            Values::Range(_) => &[],
        })
        .collect()
}

/// The size of the grid of lists, if it is countable.
fn grid_size(lists: &[&[Value]]) -> Option<usize> {
    lists.iter().try_fold(1usize, |n, list| n.checked_mul(list.len()))
}

/// The grid point `index`, the last field counting fastest.
fn grid_point(fields: &[&str], lists: &[&[Value]], mut index: usize) -> Vec<(String, Value)> {
    let mut values = vec![(String::new(), Value::Null); fields.len()];
    for position in (0..fields.len()).rev() {
        let list = lists[position];
        values[position] = (fields[position].to_string(), list[index % list.len()].clone());
        index /= list.len();
    }
    values
}

fn grid(spec: &SweepSpec, fields: &[&str]) -> Result<Vec<Vec<(String, Value)>>, SweepError> {
    let lists = lists(spec, fields);
    match grid_size(&lists) {
        Some(size) if size <= MAX_TRIALS => Ok((0..size).map(|i| grid_point(fields, &lists, i)).collect()),
        size => Err(SweepError::Spec(format!(
            "the grid has {} trials, more than the {MAX_TRIALS} a sweep may hold: give fewer values, or draw some \
             at random (\"random\": {{\"draws\": N}})",
            size.map_or_else(|| "uncountably many".to_string(), |s| s.to_string())
        ))),
    }
}

/// `draws` trials: distinct points of the grid when every field is a list, else each field
/// drawn on its own (lists uniformly, ranges by their law) from one ChaCha8 stream of `seed`.
fn draws(spec: &SweepSpec, fields: &[&str], draws: usize, seed: u64) -> Result<Vec<Vec<(String, Value)>>, SweepError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lists = lists(spec, fields);
    let all_lists = fields.iter().all(|f| matches!(spec.grid[*f], Values::List(_)));
    if all_lists && let Some(size) = grid_size(&lists) {
        let mut picked = rand::seq::index::sample(&mut rng, size, draws.min(size)).into_vec();
        picked.sort_unstable();
        return Ok(picked.into_iter().map(|i| grid_point(fields, &lists, i)).collect());
    }
    Ok((0..draws)
        .map(|_| {
            fields
                .iter()
                .map(|field| {
                    let value = match &spec.grid[*field] {
                        Values::List(list) => list[rng.random_range(0..list.len())].clone(),
                        Values::Range(range) => f32_value(range.at(rng.random::<f64>())),
                    };
                    (field.to_string(), value)
                })
                .collect()
        })
        .collect())
}

/// The number an f32 field will hold, written as briefly as it reads back (0.001, not
/// 0.0010000000474974513).
fn f32_value(value: f64) -> Value {
    let short: f64 = (value as f32).to_string().parse().expect("an f32's text parses");
    serde_json::Number::from_f64(short).map_or(Value::Null, Value::Number)
}

/// The base recipe with a trial's values, checked as a recipe file is.
fn apply(base: &Recipe, values: &[(String, Value)], index: usize, objective: Objective) -> Result<Recipe, SweepError> {
    let trial_error = |reason: String| SweepError::Trial { index, values: describe(values), reason };
    let mut file: Map<String, Value> = serde_json::from_str(&base.to_json()).expect("a recipe's JSON is an object");
    let mut dropout = None;
    for (field, value) in values {
        match field.as_str() {
            "dropout" => dropout = Some(value),
            _ => {
                file.insert(field.clone(), value.clone());
            }
        }
    }
    let mut recipe =
        Recipe::from_json(&Value::Object(file).to_string(), &base.name).map_err(|e| trial_error(e.to_string()))?;
    let sets = |name: &str| values.iter().any(|(field, _)| field == name);
    if sets("hidden") && recipe.arch.is_some() {
        return Err(trial_error(format!(
            "hidden sizes are for dense networks, and this one is the architecture {:?} (give \"arch\": [null] for \
             a dense network)",
            recipe.arch.as_deref().unwrap_or_default()
        )));
    }
    if let Some(rate) = dropout {
        let rate = rate.as_f64().ok_or_else(|| trial_error(format!("dropout must be a number, not {rate}")))?;
        recipe = recipe.with_dropout(rate as f32).map_err(|e| trial_error(e.to_string()))?;
    }
    if objective == Objective::ValidationAccuracy && recipe.validation_size == 0 {
        return Err(trial_error(format!(
            "recipe {} holds out no validation images, so the trial could not be scored: set \"validation_size\" \
             (e.g. [5000]), or \"objective\": \"none\" to train every trial on all its images without ranking them",
            base.name
        )));
    }
    recipe.seed.get_or_insert(DEFAULT_TRIAL_SEED);
    recipe.about = format!("trial {index:04} of a sweep from {}: {}", base.name, describe(values));
    Ok(recipe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe;

    fn spec(text: &str) -> SweepSpec {
        SweepSpec::from_json(text).unwrap()
    }

    #[test]
    fn the_grid_counts_with_the_seed_fastest() {
        let spec = spec(r#"{"grid": {"seed": [1, 2, 3], "learning_rate": [0.5, 3.0], "hidden": [[30], [100]]}}"#);
        let base = recipe::named("nielsen").unwrap();
        let trials = trials(&spec, &base).unwrap();
        assert_eq!(trials.len(), 12);
        let first = &trials[0].recipe;
        assert_eq!((first.hidden.as_slice(), first.learning_rate, first.seed), (&[30][..], 0.5, Some(1)));
        assert_eq!(trials[1].recipe.seed, Some(2));
        assert_eq!(trials[3].recipe.learning_rate, 3.0);
        assert_eq!(trials[6].recipe.hidden, [100]);
        assert_eq!(describe(&trials[7].values), "hidden [100], learning_rate 0.5, seed 2");
        assert_eq!(
            trials[7].recipe.about,
            "trial 0007 of a sweep from nielsen: hidden [100], learning_rate 0.5, seed 2"
        );
        for trial in &trials {
            let read = Recipe::from_json(&trial.recipe.to_json(), "x").unwrap();
            assert_eq!(read, Recipe { name: read.name.clone(), ..trial.recipe.clone() }, "a trial is a whole recipe");
        }
    }

    #[test]
    fn random_draws_are_seeded() {
        let text = r#"{"random": {"draws": 5, "seed": 3}, "grid": {"learning_rate": {"log_uniform": [1e-4, 1e-2]},
                       "batch_size": [32, 64]}}"#;
        let base = recipe::named("default").unwrap();
        let a = trials(&spec(text), &base).unwrap();
        assert_eq!(a, trials(&spec(text), &base).unwrap());
        assert_eq!(a.len(), 5);
        for trial in &a {
            assert!((1e-4..=1e-2).contains(&trial.recipe.learning_rate), "{}", trial.recipe.learning_rate);
            assert_eq!(trial.values[0].1.to_string(), trial.recipe.learning_rate.to_string(), "written briefly");
        }
        let other = text.replace("\"seed\": 3", "\"seed\": 4");
        assert_ne!(a, trials(&spec(&other), &base).unwrap());
        // Only lists: distinct points of the grid, no more than it has.
        let text = r#"{"random": {"draws": 50}, "grid": {"batch_size": [32, 64], "seed": [1, 2, 3]}}"#;
        let drawn = trials(&spec(text), &base).unwrap();
        assert_eq!(drawn.len(), 6);
        for (i, t) in drawn.iter().enumerate() {
            assert!(drawn[i + 1..].iter().all(|u| u.values != t.values));
        }
    }

    #[test]
    fn dropout_arch_and_validation_are_checked_per_trial() {
        let base = recipe::named("default").unwrap();
        let dense = trials(&spec(r#"{"grid": {"dropout": [0.2]}}"#), &base).unwrap();
        assert_eq!(
            dense[0].recipe.arch.as_deref(),
            Some("dense(512) relu dropout(0.2) dense(256) relu dropout(0.2) dense(10)")
        );
        let cnn = recipe::named("cnn").unwrap();
        let text = r#"{"objective": "none", "grid": {"dropout": [0.3], "seed": [1, 2]}}"#;
        let with = trials(&spec(text), &cnn).unwrap();
        assert!(with[0].recipe.arch.as_deref().unwrap().contains("dropout(0.3)"), "{:?}", with[0].recipe.arch);
        let error = trials(&spec(r#"{"grid": {"seed": [1]}}"#), &cnn).unwrap_err().to_string();
        assert!(error.contains("holds out no validation images") && error.contains("trial 0"), "{error}");
        let error =
            trials(&spec(r#"{"objective": "none", "grid": {"hidden": [[30]]}}"#), &cnn).unwrap_err().to_string();
        assert!(error.contains("hidden sizes are for dense networks"), "{error}");
        let error = trials(&spec(r#"{"grid": {"learning_rate": [-1]}}"#), &base).unwrap_err().to_string();
        assert!(error.contains("learning rate must be finite and positive"), "{error}");
        let text = r#"{"grid": {"arch": [null, "conv(8,3) relu flatten dense(10)"], "hidden": [[64]]}}"#;
        let error = trials(&spec(text), &base).unwrap_err().to_string();
        assert!(error.contains("trial 1"), "the second trial is the architecture: {error}");
    }

    #[test]
    fn oversized_grids_are_refused() {
        let seeds: Vec<String> = (0..100).map(|s| s.to_string()).collect();
        let text = format!(r#"{{"grid": {{"seed": [{0}], "epochs": [{0}]}}}}"#, seeds.join(","));
        let error = trials(&spec(&text), &recipe::named("default").unwrap()).unwrap_err().to_string();
        assert!(error.contains("10000 trials") && error.contains("random"), "{error}");
    }
}
