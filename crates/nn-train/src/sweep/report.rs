//! The finished trials ranked by their best validation accuracy (never by the test set, whose
//! accuracy is shown beside for information), the others listed with their state.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use super::status::TrialState;
use super::trials::compact;
use super::{Objective, Sweep, SweepError, number};
use crate::EpochReport;

/// One trial in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The trial.
    pub index: usize,
    /// Its place when ranked (1 is best); `None` when unranked (not finished, or no objective).
    pub rank: Option<usize>,
    /// Its values.
    pub values: Map<String, Value>,
    /// pending, interrupted, running, done or failed.
    pub state: String,
    /// The best validation accuracy over its epochs, 0 to 1.
    pub validation_accuracy: Option<f32>,
    /// The (1-based) epoch that reached it first.
    pub best_epoch: Option<usize>,
    /// Epochs completed.
    pub epochs: usize,
    /// Test accuracy at the end of training, as its model file records it: shown, never ranked by.
    pub test_accuracy: Option<f32>,
    /// Seconds of training, summed over its epochs.
    pub seconds: f64,
    /// Its model file, once done.
    pub model: Option<PathBuf>,
}

/// A sweep's trials, ranked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The fields the sweep sets.
    pub fields: Vec<String>,
    /// What trials are ranked by.
    pub objective: Objective,
    /// Ranked trials first, best first; then the others by number.
    pub rows: Vec<ReportRow>,
}

impl Sweep {
    /// The report of the trials as their files stand.
    pub fn report(&self) -> Result<Report, SweepError> {
        let mut rows = Vec::with_capacity(self.len());
        for status in self.states()? {
            let index = status.index;
            let files = self.run_files(index);
            let done = status.state == TrialState::Done;
            let metrics = if done { files.metrics.clone() } else { files.pending().metrics };
            let history = read_history(&metrics)?;
            let best = history.iter().filter_map(|r| r.validation.as_ref().map(|v| (v.accuracy, r.epoch))).fold(
                None,
                |best: Option<(f32, usize)>, (accuracy, epoch)| match best {
                    Some((b, _)) if b >= accuracy => best,
                    _ => Some((accuracy, epoch)),
                },
            );
            rows.push(ReportRow {
                index,
                rank: None,
                values: self.record.trials[index].clone(),
                state: status.state.word().to_string(),
                validation_accuracy: best.map(|b| b.0),
                best_epoch: best.map(|b| b.1),
                epochs: history.len(),
                test_accuracy: if done { test_accuracy(&files.model)? } else { None },
                seconds: history.iter().map(|r| r.seconds).sum(),
                model: done.then(|| files.model.clone()),
            });
        }
        // Best validation accuracy first, ties by number; unscored trials after, by number.
        rows.sort_by(|a, b| {
            let score = |r: &ReportRow| r.validation_accuracy.filter(|_| r.model.is_some());
            match (score(a), score(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x).then(a.index.cmp(&b.index)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.index.cmp(&b.index),
            }
        });
        if self.record.objective == Objective::ValidationAccuracy {
            for (place, row) in rows.iter_mut().enumerate() {
                if row.model.is_some() && row.validation_accuracy.is_some() {
                    row.rank = Some(place + 1);
                }
            }
        }
        Ok(Report { fields: self.record.fields.clone(), objective: self.record.objective, rows })
    }
}

impl Report {
    /// The best trial, if one is ranked.
    pub fn best(&self) -> Option<&ReportRow> {
        self.rows.first().filter(|row| row.rank == Some(1))
    }

    /// The model files of the `k` best trials, or why there are not `k` of them.
    pub fn best_models(&self, k: usize) -> Result<Vec<PathBuf>, SweepError> {
        if self.objective == Objective::None {
            return Err(SweepError::Spec(
                "this sweep ranks nothing (objective none): build a committee of its models by name instead".into(),
            ));
        }
        let ranked: Vec<PathBuf> =
            self.rows.iter().filter(|r| r.rank.is_some()).filter_map(|r| r.model.clone()).collect();
        if k == 0 || ranked.len() < k {
            return Err(SweepError::Spec(format!(
                "a committee of the {k} best trials needs {k} ranked trials, and {} are finished",
                ranked.len()
            )));
        }
        Ok(ranked.into_iter().take(k).collect())
    }

    /// The report as an aligned table.
    pub fn table(&self) -> String {
        let mut header: Vec<String> = vec!["rank".into(), "trial".into()];
        header.extend(self.fields.iter().cloned());
        header.extend(["state", "val accuracy", "best epoch", "epochs", "test accuracy", "seconds"].map(String::from));
        let percent = |a: Option<f32>| a.map_or_else(|| "-".to_string(), |a| format!("{:.2}%", 100.0 * a));
        let mut rows = vec![header];
        for row in &self.rows {
            let mut cells = vec![row.rank.map_or_else(|| "-".into(), |r| r.to_string()), number(row.index)];
            cells.extend(self.fields.iter().map(|f| row.values.get(f).map_or_else(|| "-".into(), compact)));
            cells.extend([
                row.state.clone(),
                percent(row.validation_accuracy),
                row.best_epoch.map_or_else(|| "-".into(), |e| e.to_string()),
                row.epochs.to_string(),
                percent(row.test_accuracy),
                format!("{:.1}", row.seconds),
            ]);
            rows.push(cells);
        }
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in &rows {
            let line: Vec<String> = row.iter().zip(&widths).map(|(cell, &w)| format!("{cell:>w$}")).collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// The report as JSON, for scripts.
    #[expect(clippy::missing_panics_doc, reason = "a report is plain data and always serialises")]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report serialises");
        text.push('\n');
        text
    }
}

/// A metrics log's records (none when it is absent).
fn read_history(path: &std::path::Path) -> Result<Vec<EpochReport>, SweepError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SweepError::io("read", path, e)),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| SweepError::Record { path: path.into(), reason: e.to_string() })
        })
        .filter(|record: &Result<EpochReport, _>| record.as_ref().map_or(true, |r| !r.partial))
        .collect()
}

/// The test accuracy a model file records.
fn test_accuracy(model: &std::path::Path) -> Result<Option<f32>, SweepError> {
    let text = std::fs::read_to_string(model).map_err(|e| SweepError::io("read", model, e))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| SweepError::Record { path: model.into(), reason: e.to_string() })?;
    Ok(value.pointer("/training/test_accuracy").and_then(Value::as_f64).map(|a| a as f32))
}

/// Each field's values against the scores of the finished trials: `(field, [(value, score)])`,
/// what a plot of the score against each swept field draws.
pub fn score_by_field(report: &Report) -> Vec<(String, Vec<(Value, f32)>)> {
    report
        .fields
        .iter()
        .map(|field| {
            let points = report
                .rows
                .iter()
                .filter(|r| r.model.is_some())
                .filter_map(|r| Some((r.values.get(field)?.clone(), r.validation_accuracy?)))
                .collect();
            (field.clone(), points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_line(epoch: usize, validation: f32) -> String {
        format!(
            r#"{{"epoch":{epoch},"epochs":3,"train_loss":0.5,"learning_rate":0.1,"validation":{{"loss":0.3,"accuracy":{validation},"correct":1,"total":2}},"seconds":1.5}}"#
        )
    }

    #[test]
    fn finished_trials_rank_by_validation_and_the_rest_follow() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = crate::sweep::folder::planned(
            dir.path(),
            r#"{"base": "nielsen", "grid": {"learning_rate": [0.1, 0.5, 3.0, 9.0]}}"#,
        );
        for (index, scores) in [(0, [0.5, 0.7, 0.6]), (2, [0.8, 0.9, 0.85])] {
            let files = sweep.run_files(index);
            std::fs::create_dir_all(sweep.run_dir(index)).unwrap();
            let log: Vec<String> = scores.iter().enumerate().map(|(e, &s)| epoch_line(e + 1, s)).collect();
            std::fs::write(&files.metrics, log.join("\n")).unwrap();
            std::fs::write(&files.model, format!(r#"{{"training": {{"test_accuracy": 0.{index}5}}}}"#)).unwrap();
        }
        let report = sweep.report().unwrap();
        let order: Vec<(usize, Option<usize>)> = report.rows.iter().map(|r| (r.index, r.rank)).collect();
        assert_eq!(order, [(2, Some(1)), (0, Some(2)), (1, None), (3, None)]);
        let best = report.best().unwrap();
        assert_eq!(
            (best.validation_accuracy, best.best_epoch, best.epochs, best.test_accuracy),
            (Some(0.9), Some(2), 3, Some(0.25))
        );
        assert_eq!(best.seconds, 4.5);
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].split_whitespace().collect::<Vec<_>>().starts_with(&[
            "rank",
            "trial",
            "learning_rate",
            "state"
        ]));
        assert!(lines[1].contains("0002") && lines[1].contains("90.00%") && lines[1].contains("25.00%"), "{table}");
        assert!(lines[3].contains("pending"), "{table}");
        assert_eq!(report.best_models(2).unwrap(), [sweep.run_files(2).model, sweep.run_files(0).model]);
        assert!(report.best_models(3).unwrap_err().to_string().contains("needs 3 ranked trials, and 2"));
        let by_field = score_by_field(&report);
        assert_eq!(by_field[0].1, [(serde_json::json!(3.0), 0.9), (serde_json::json!(0.1), 0.7)]);
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["rows"][0]["index"], 2);
    }
}
