//! Hyperparameter search: a grid, or random points of it, over hidden sizes, learning rates,
//! batch sizes and epochs around a base [`Recipe`], each point trained and scored on validation
//! data only, then ranked.
//!
//! A base recipe with an architecture keeps it: only its learning rate, batch size and epochs
//! are searched.
//!
//! ```no_run
//! # fn demo(data: &nn_train::TrainData) -> Result<(), nn_train::search::SearchError> {
//! use nn_train::search::{Space, rank, run_point, table};
//! let base = nn_train::recipe::named("nielsen")?;
//! let space = Space::new(&base, &[], &[0.5, 3.0], &[10], &[2]);
//! let mut results = Vec::new();
//! for point in space.plan(None, 1)? {
//!     let input = nn_train::nn_core::Shape::new(1, 28, 28);
//!     results.push(run_point(&point, &base, 1, data, (input, 10), 50_000, &mut |_, _| {})?);
//! }
//! rank(&mut results);
//! print!("{}", table(&results));
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use crate::TrainError;
use crate::recipe::{Recipe, RecipeError};

mod run;
pub use run::{RunResult, Score, rank, run_point, table};

/// The most runs one search may make.
pub const MAX_RUNS: usize = 200;

/// Why a search cannot be planned or a run failed (a run that diverges is not an error: it
/// scores [`Score::Diverged`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The grid has more points than a `usize` counts.
    #[error("the grid is too large to count; give fewer values")]
    Uncountable,
    /// A whole grid of more than [`MAX_RUNS`] points.
    #[error(
        "the grid has {0} configurations, more than the {MAX_RUNS} a search may run: give fewer values, \
         or draw some of them at random"
    )]
    TooLarge(
        /// Points of the grid.
        usize,
    ),
    /// A random search of no runs.
    #[error("a random search needs at least 1 run")]
    NoRuns,
    /// A random search of more than [`MAX_RUNS`] runs.
    #[error("{0} random runs are more than the {MAX_RUNS} a search may make")]
    TooManyRuns(
        /// Runs asked for.
        usize,
    ),
    /// The base recipe, or a point applied to it, cannot be trained.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// Training failed for another reason than diverging.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The run ended before the end of its first epoch.
    #[error("no epoch was completed, so nothing was scored")]
    NothingScored,
}

/// The hidden layer sizes of one network: `30` or `512-256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden(
    /// Neurons per hidden layer, from the input side.
    pub Vec<usize>,
);

impl FromStr for Hidden {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let sizes = text
            .split(['-', 'x'])
            .map(|part| match part.trim().parse::<usize>() {
                Ok(size) if size > 0 => Ok(size),
                _ => Err(format!("{text:?} is not a list of hidden layer sizes such as 100 or 512-256")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Hidden(sizes))
    }
}

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.iter().map(usize::to_string).collect::<Vec<_>>().join("-"))
    }
}

/// A learning rate as given (0.5, 0.001), or in exponent form when very large or small (1e30).
pub fn rate(value: f32) -> String {
    if value == 0.0 || (1e-3..1e4).contains(&value.abs()) { value.to_string() } else { format!("{value:e}") }
}

/// One configuration to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The hidden sizes of a dense network; `None` when the base recipe names an architecture.
    pub hidden: Option<Hidden>,
    /// The learning rate.
    pub learning_rate: f32,
    /// Samples per mini-batch.
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
}

impl Point {
    /// The base recipe with this point's values.
    pub fn apply(&self, base: &Recipe) -> Recipe {
        Recipe {
            hidden: self.hidden.as_ref().map_or_else(|| base.hidden.clone(), |h| h.0.clone()),
            learning_rate: self.learning_rate,
            batch_size: self.batch_size,
            epochs: self.epochs,
            ..base.clone()
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(hidden) = &self.hidden {
            write!(f, "hidden {hidden}, ")?;
        }
        write!(f, "lr {}, batch {}, epochs {}", rate(self.learning_rate), self.batch_size, self.epochs)
    }
}

/// The values searched, one list per hyperparameter (duplicates removed, order kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// `[None]` when the base recipe names an architecture.
    pub hidden: Vec<Option<Hidden>>,
    /// Learning rates.
    pub learning_rates: Vec<f32>,
    /// Mini-batch sizes.
    pub batch_sizes: Vec<usize>,
    /// Numbers of epochs.
    pub epochs: Vec<usize>,
}

fn distinct<T: Clone>(values: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    for value in values {
        if !kept.iter().any(|k| same(k, value)) {
            kept.push(value.clone());
        }
    }
    kept
}

impl Space {
    /// The values given, each list defaulting to the base recipe's single value. A base recipe
    /// with an architecture searches no hidden sizes (a front end should refuse hidden sizes given for one).
    pub fn new(base: &Recipe, hidden: &[Hidden], lr: &[f32], batch_size: &[usize], epochs: &[usize]) -> Space {
        let or = |given: &[usize], default: usize| if given.is_empty() { vec![default] } else { given.to_vec() };
        let hidden = match (&base.arch, hidden.is_empty()) {
            (Some(_), _) => vec![None],
            (None, true) => vec![Some(Hidden(base.hidden.clone()))],
            (None, false) => hidden.iter().cloned().map(Some).collect(),
        };
        let lr = if lr.is_empty() { vec![base.learning_rate] } else { lr.to_vec() };
        Space {
            hidden: distinct(&hidden, PartialEq::eq),
            learning_rates: distinct(&lr, |a, b| a.to_bits() == b.to_bits()),
            batch_sizes: distinct(&or(batch_size, base.batch_size), PartialEq::eq),
            epochs: distinct(&or(epochs, base.epochs), PartialEq::eq),
        }
    }

    /// The number of points of the grid (None if it does not even fit a usize).
    pub fn size(&self) -> Option<usize> {
        [self.hidden.len(), self.learning_rates.len(), self.batch_sizes.len(), self.epochs.len()]
            .into_iter()
            .try_fold(1usize, usize::checked_mul)
    }

    /// The grid point `index`, counting with the epochs fastest and the hidden sizes slowest.
    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut digit = |len: usize| {
            let d = rest % len;
            rest /= len;
            d
        };
        let epochs = self.epochs[digit(self.epochs.len())];
        let batch_size = self.batch_sizes[digit(self.batch_sizes.len())];
        let learning_rate = self.learning_rates[digit(self.learning_rates.len())];
        let hidden = self.hidden[digit(self.hidden.len())].clone();
        Point { hidden, learning_rate, batch_size, epochs }
    }

    /// The points to run: the whole grid, or `random` distinct points of it drawn with `seed`.
    /// Refuses more than [`MAX_RUNS`].
    pub fn plan(&self, random: Option<usize>, seed: u64) -> Result<Vec<Point>, SearchError> {
        let size = self.size().ok_or(SearchError::Uncountable)?;
        let indices: Vec<usize> = match random {
            None => {
                if size > MAX_RUNS {
                    return Err(SearchError::TooLarge(size));
                }
                (0..size).collect()
            }
            Some(0) => return Err(SearchError::NoRuns),
            Some(n) if n > MAX_RUNS => return Err(SearchError::TooManyRuns(n)),
            Some(n) => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rand::seq::index::sample(&mut rng, size, n.min(size)).into_vec()
            }
        };
        Ok(indices.into_iter().map(|i| self.point(i)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Recipe {
        crate::recipe::find("nielsen").unwrap()
    }

    fn space() -> Space {
        let hidden = [Hidden(vec![30]), Hidden(vec![100]), Hidden(vec![64, 32])];
        Space::new(&base(), &hidden, &[0.1, 0.5, 3.0, 0.5], &[10, 32], &[3, 5])
    }

    #[test]
    fn hidden_sizes_parse_and_print() {
        assert_eq!("512-256".parse::<Hidden>().unwrap(), Hidden(vec![512, 256]));
        assert_eq!("30".parse::<Hidden>().unwrap().to_string(), "30");
        assert!("0".parse::<Hidden>().is_err());
        assert!("a-3".parse::<Hidden>().is_err());
    }

    #[test]
    fn the_grid_holds_every_combination_once() {
        let space = space();
        assert_eq!(space.learning_rates, vec![0.1, 0.5, 3.0], "duplicates are dropped");
        assert_eq!(space.size(), Some(3 * 3 * 2 * 2));
        let grid = space.plan(None, 1).unwrap();
        assert_eq!(grid.len(), 36);
        for (i, a) in grid.iter().enumerate() {
            assert!(grid[i + 1..].iter().all(|b| a != b), "{a} repeats");
        }
        assert_eq!(grid[0], Point { hidden: Some(Hidden(vec![30])), learning_rate: 0.1, batch_size: 10, epochs: 3 });
        assert_eq!(grid[1].epochs, 5);
    }

    #[test]
    fn flags_left_out_take_the_base_value() {
        let space = Space::new(&base(), &[], &[1.0], &[], &[]);
        assert_eq!(
            space.plan(None, 1).unwrap(),
            vec![Point { hidden: Some(Hidden(vec![30])), learning_rate: 1.0, batch_size: 10, epochs: 30 }]
        );
    }

    #[test]
    fn random_sampling_is_seeded_distinct_and_within_the_values() {
        let space = space();
        let a = space.plan(Some(10), 7).unwrap();
        assert_eq!(a, space.plan(Some(10), 7).unwrap());
        assert_ne!(a, space.plan(Some(10), 8).unwrap());
        assert_eq!(a.len(), 10);
        for (i, p) in a.iter().enumerate() {
            assert!(space.hidden.contains(&p.hidden));
            assert!(space.learning_rates.contains(&p.learning_rate));
            assert!(space.batch_sizes.contains(&p.batch_size));
            assert!(space.epochs.contains(&p.epochs));
            assert!(a[i + 1..].iter().all(|b| p != b), "{p} repeats");
        }
        assert_eq!(space.plan(Some(100), 7).unwrap().len(), 36, "no more than the grid");
    }

    #[test]
    fn an_architecture_recipe_keeps_its_layers() {
        let cnn = crate::recipe::find("cnn").unwrap();
        let space = Space::new(&cnn, &[], &[1e-3, 3e-3], &[], &[1]);
        let plan = space.plan(None, 1).unwrap();
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|p| p.hidden.is_none()), "{plan:?}");
        let recipe = plan[1].apply(&cnn);
        assert_eq!((recipe.arch.as_deref(), recipe.learning_rate, recipe.epochs), (Some("cnn"), 3e-3, 1));
        assert_eq!(plan[1].to_string(), "lr 0.003, batch 128, epochs 1");
        let results: Vec<RunResult> = plan
            .into_iter()
            .map(|point| RunResult { point, score: Score::Trained { accuracy: 0.5, best_epoch: 1 }, seconds: 1.0 })
            .collect();
        let table = table(&results);
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header[..3], ["rank", "lr", "batch"], "{table}");
        assert!(!table.contains("hidden") && !table.contains(" - "), "{table}");
    }

    #[test]
    fn large_grids_are_refused() {
        let rates: Vec<f32> = (1..=300).map(|i| i as f32 / 100.0).collect();
        let space = Space::new(&base(), &[], &rates, &[], &[]);
        let error = space.plan(None, 1).unwrap_err().to_string();
        assert!(error.contains("300 configurations") && error.contains("at random"), "{error}");
        assert_eq!(space.plan(Some(50), 1).unwrap().len(), 50);
        assert!(space.plan(Some(201), 1).is_err());
        assert!(space.plan(Some(0), 1).is_err());
    }
}
