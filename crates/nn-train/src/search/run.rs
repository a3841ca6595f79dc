//! A search's runs: one point trained and scored on validation data ([`run_point`]), and the
//! finished runs ranked and printed as a table.

use std::time::Instant;

use nn_core::{Network, Shape};

use super::{Hidden, Point, SearchError, rate};
use crate::recipe::{Recipe, RecipeError};
use crate::{Control, EpochReport, Observer, ObserverError, TrainData, TrainError, TrainState};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Score {
    /// The best validation accuracy and the (1-based) epoch that reached it first.
    Trained {
        /// A fraction of the validation set, 0 to 1.
        accuracy: f32,
        /// Counted from 1.
        best_epoch: usize,
    },
    /// The loss or its gradient stopped being finite.
    Diverged,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// What was tried.
    pub point: Point,
    /// How it did.
    pub score: Score,
    /// How long it trained.
    pub seconds: f64,
}

/// Best first: the higher validation accuracy, then the earlier run; diverged runs last.
pub fn rank(results: &mut [RunResult]) {
    results.sort_by(|a, b| match (&a.score, &b.score) {
        (Score::Trained { accuracy: x, .. }, Score::Trained { accuracy: y, .. }) => y.total_cmp(x),
        (Score::Trained { .. }, Score::Diverged) => std::cmp::Ordering::Less,
        (Score::Diverged, Score::Trained { .. }) => std::cmp::Ordering::Greater,
        (Score::Diverged, Score::Diverged) => std::cmp::Ordering::Equal,
    });
}

/// The ranked results as an aligned table (without the hidden sizes when no run has them: the
/// base recipe's architecture is fixed).
pub fn table(results: &[RunResult]) -> String {
    let header = ["rank", "hidden", "lr", "batch", "epochs", "val accuracy", "best epoch", "seconds"].map(String::from);
    let with_hidden = results.iter().any(|r| r.point.hidden.is_some());
    let mut rows = vec![header];
    for (i, r) in results.iter().enumerate() {
        let (accuracy, best_epoch) = match r.score {
            Score::Trained { accuracy, best_epoch } => (format!("{:.2}%", 100.0 * accuracy), best_epoch.to_string()),
            Score::Diverged => ("diverged".to_string(), "-".to_string()),
        };
        rows.push([
            (i + 1).to_string(),
            r.point.hidden.as_ref().map_or_else(|| "-".to_string(), Hidden::to_string),
            rate(r.point.learning_rate),
            r.point.batch_size.to_string(),
            r.point.epochs.to_string(),
            accuracy,
            best_epoch,
            format!("{:.1}", r.seconds),
        ]);
    }
    let widths: Vec<usize> = (0..8).map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .filter(|&(c, _)| c != 1 || with_hidden)
            // Numbers right-aligned, except the hidden sizes, which read better from the left.
            .map(|(c, (cell, &w))| if c == 1 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Trains the base recipe with `point`'s values from `seed` and scores it by its best
/// validation accuracy (`data` must hold validation samples of `input_shape` in `classes`
/// classes; `train_len` training samples scale Nielsen's λ). `on_epoch(epoch, epochs)` is
/// called as each epoch starts, for a progress display.
pub fn run_point(
    point: &Point,
    base: &Recipe,
    seed: u64,
    data: &TrainData,
    (input_shape, classes): (Shape, usize),
    train_len: usize,
    on_epoch: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<RunResult, SearchError> {
    let recipe = point.apply(base);
    let mut network = recipe.new_network(input_shape, classes, seed)?;
    if let Some(kind) = recipe.standardize {
        let standardization = crate::standardization_of(data.train, kind).map_err(RecipeError::from)?;
        network.set_standardization(Some(standardization)).map_err(RecipeError::from)?;
    }
    let config = recipe.train_config(seed, train_len);
    let control = Control::new();
    let mut observer =
        ScoreObserver { best: None, steps: 0, max_steps: recipe.max_steps, control: control.clone(), on_epoch };
    let start = Instant::now();
    let outcome = crate::train(&mut network, &config, data, &mut observer, &control, None);
    let seconds = start.elapsed().as_secs_f64();
    let score = match (outcome, observer.best) {
        (Err(TrainError::Diverged { .. }), _) => Score::Diverged,
        (Err(e), _) => return Err(e.into()),
        (Ok(_), Some((accuracy, best_epoch))) => Score::Trained { accuracy, best_epoch },
        (Ok(_), None) => return Err(SearchError::NothingScored),
    };
    Ok(RunResult { point: point.clone(), score, seconds })
}

/// Keeps the best validation accuracy, stops at the recipe's step limit, reports each epoch.
struct ScoreObserver<'a> {
    best: Option<(f32, usize)>,
    steps: usize,
    max_steps: Option<usize>,
    control: Control,
    on_epoch: &'a mut (dyn FnMut(usize, usize) + Send),
}

impl Observer for ScoreObserver<'_> {
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, _batches: usize) {
        (self.on_epoch)(epoch, epochs);
    }

    fn on_batch(&mut self, _epoch: usize, _batch: usize, _batches: usize, _loss: f32) {
        self.steps += 1;
        if self.max_steps.is_some_and(|max| self.steps >= max) {
            self.control.request_stop();
        }
    }

    fn on_epoch_end(&mut self, report: &EpochReport, _: &Network, _: &TrainState) -> Result<(), ObserverError> {
        if let Some(validation) = &report.validation
            && self.best.is_none_or(|(best, _)| validation.accuracy > best)
        {
            self.best = Some((validation.accuracy, report.epoch));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_puts_the_best_first_and_diverged_runs_last() {
        let point = |lr: f32| Point { hidden: Some(Hidden(vec![30])), learning_rate: lr, batch_size: 10, epochs: 2 };
        let run = |lr: f32, score: Score| RunResult { point: point(lr), score, seconds: 1.0 };
        let mut results = vec![
            run(1e9, Score::Diverged),
            run(0.1, Score::Trained { accuracy: 0.5, best_epoch: 2 }),
            run(0.5, Score::Trained { accuracy: 0.9, best_epoch: 1 }),
            run(1e8, Score::Diverged),
            run(0.2, Score::Trained { accuracy: 0.5, best_epoch: 1 }),
        ];
        rank(&mut results);
        let order: Vec<f32> = results.iter().map(|r| r.point.learning_rate).collect();
        assert_eq!(order, vec![0.5, 0.1, 0.2, 1e9, 1e8], "ties keep the run order");
        let table = table(&results);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("rank  hidden"), "{table}");
        assert!(lines[1].contains("90.00%"), "{table}");
        assert!(lines[4].contains("diverged") && lines[5].contains("diverged"), "{table}");
    }
}
