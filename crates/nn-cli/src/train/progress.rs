//! What a person sees while a run trains: progress bars and epoch lines; and what is kept for
//! later after each epoch: the metrics log and the checkpoint.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use nn_core::Network;
use nn_train::run_files::RunFiles;
use nn_train::{Control, EpochReport, Observer, ObserverError, TrainState};

use crate::output::outln;

use super::write_metrics;

/// Progress bars and epoch lines for people; the metrics log and checkpoints for later.
pub(super) struct CliObserver {
    pub(super) quiet: bool,
    pub(super) bar: Option<ProgressBar>,
    pub(super) metrics: PathBuf,
    pub(super) checkpoint: PathBuf,
    pub(super) max_steps: Option<usize>,
    pub(super) steps: usize,
    pub(super) control: Control,
    /// Sum of this epoch's batch losses, for the live mean on the progress bar.
    pub(super) loss_sum: f64,
    /// Evaluate every this many steps, mid-epoch.
    pub(super) eval_every: Option<usize>,
    /// Batches per epoch, for the lines of mid-epoch evaluations.
    pub(super) batches: usize,
    pub(super) learning: nn_train::LearningCheck,
    /// What the last record says is wrong with the run, if anything.
    pub(super) last_problem: Option<nn_train::NoLearning>,
    /// A problem was already printed (each kind is told once).
    pub(super) warned: bool,
}

impl CliObserver {
    pub(super) fn new(quiet: bool, paths: &RunFiles, max_steps: Option<usize>, steps: usize, control: Control) -> Self {
        CliObserver {
            quiet,
            bar: None,
            metrics: paths.metrics.clone(),
            checkpoint: paths.checkpoint.clone(),
            max_steps,
            steps,
            control,
            loss_sum: 0.0,
            eval_every: None,
            batches: 0,
            learning: nn_train::LearningCheck::new(0, 1, 0),
            last_problem: None,
            warned: false,
        }
    }

    /// Checks a record for a run that learns nothing; warns on standard error the first time.
    pub(super) fn check_learning(&mut self, report: &EpochReport) {
        self.last_problem = self.learning.check_and_advance(report);
        if let Some(problem) = self.last_problem.clone().filter(|_| !self.warned) {
            self.finish();
            eprintln!("warning: after epoch {}, {problem}", report.epoch);
            self.warned = true;
        }
    }

    pub(super) fn reached_max_steps(&self) -> bool {
        self.max_steps.is_some_and(|max| self.steps >= max)
    }

    pub(super) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for CliObserver {
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  {per_sec}, eta {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn on_batch(&mut self, _epoch: usize, batch: usize, batches: usize, loss: f32) {
        self.steps += 1;
        self.batches = batches;
        self.learning.on_batch(loss);
        if self.reached_max_steps() {
            self.control.request_stop();
        }
        if batch == 1 {
            self.loss_sum = 0.0;
        }
        self.loss_sum += f64::from(loss);
        if let Some(bar) = &self.bar {
            // Redrawing costs more than a small batch: update every 16 batches, with the
            // epoch's running mean loss so far.
            if batch.is_multiple_of(16) || batch == batches {
                bar.set_position(batch as u64);
                bar.set_message(format!("loss {:.4}", self.loss_sum / batch as f64));
            }
        }
    }

    fn evaluate_now(&mut self, step: usize) -> bool {
        self.eval_every.is_some_and(|every| step.is_multiple_of(every)) || self.max_steps == Some(step)
    }

    fn on_evaluation(&mut self, report: &EpochReport) {
        if !self.quiet {
            // The trainer's hooks cannot fail: a closed output ends the run at the epoch's end.
            let _ = if let Some(bar) = &self.bar {
                bar.suspend(|| outln!("{}", epoch_line(report, self.batches)))
            } else {
                outln!("{}", epoch_line(report, self.batches))
            };
        }
        self.check_learning(report);
    }

    fn on_epoch_end(
        &mut self,
        report: &EpochReport,
        network: &Network,
        state: &TrainState,
    ) -> Result<(), ObserverError> {
        self.finish();
        if !self.quiet {
            outln!("{}", epoch_line(report, self.batches))?;
        }
        self.check_learning(report);
        // The whole message, with the file and the system's reason: the trainer only adds the epoch.
        write_metrics(&self.metrics, state).map_err(|e| format!("{e:#}"))?;
        nn_train::save_checkpoint(network, state, &self.checkpoint).map_err(|e| format!("{e:#}"))?;
        Ok(())
    }
}

/// `epoch 3/30  loss 0.1230  acc 97.50%  val 97.12%  test 97.05%  1.8s`, and for a partial
/// record `step 500 (epoch 1/30, 500/5000 batches)  loss ...`.
pub(super) fn epoch_line(report: &EpochReport, batches: usize) -> String {
    let mut line = match report.step {
        Some(step) if report.partial => {
            let done = step.saturating_sub((report.epoch - 1) * batches);
            format!("step {step} (epoch {}/{}, {done}/{batches} batches)", report.epoch, report.epochs)
        }
        _ => format!("epoch {}/{}", report.epoch, report.epochs),
    };
    line.push_str(&format!("  loss {:.4}", report.train_loss));
    if let Some(accuracy) = report.train_accuracy {
        line.push_str(&format!("  acc {:.2}%", 100.0 * accuracy));
    }
    if let Some(validation) = &report.validation {
        line.push_str(&format!("  val {:.2}%", 100.0 * validation.accuracy));
    }
    if let Some(test) = &report.test {
        line.push_str(&format!("  test {:.2}%", 100.0 * test.accuracy));
    }
    line.push_str(&format!("  {:.1}s", report.seconds));
    line
}
