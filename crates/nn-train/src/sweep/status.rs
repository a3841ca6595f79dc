//! Each trial's state, read from its files alone: so it is the same whoever asks, from this
//! machine or another node of the cluster, and whatever ran the trial.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Sweep, SweepError, folder};
use crate::run_lock::{self, LockHolder};

/// Where a trial stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialState {
    /// Not started.
    Pending,
    /// Stopped with a checkpoint (interrupted, preempted, requeued, out of time): the next run
    /// resumes it.
    Interrupted {
        /// Epochs it had completed.
        epochs: usize,
    },
    /// A process holds its lock.
    Running {
        /// Who, as the lock says.
        holder: LockHolder,
    },
    /// Its model is written.
    Done,
    /// Its last attempt failed.
    Failed(Failure),
}

/// Why a trial's last attempt failed: `runs/0007/failure.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// The exit status, if the process exited (not killed by a signal).
    pub exit: Option<i32>,
    /// What went wrong.
    pub message: String,
}

/// A trial's number and state.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialStatus {
    /// The trial.
    pub index: usize,
    /// Its state.
    pub state: TrialState,
}

impl TrialState {
    /// One word: pending, interrupted, running, done, failed.
    pub fn word(&self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Interrupted { .. } => "interrupted",
            TrialState::Running { .. } => "running",
            TrialState::Done => "done",
            TrialState::Failed(_) => "failed",
        }
    }

    /// Whether a run of the sweep should start it: pending or interrupted (failed ones only
    /// when retried).
    pub fn wants_a_run(&self, retry_failed: bool) -> bool {
        match self {
            TrialState::Pending | TrialState::Interrupted { .. } => !retry_failed,
            TrialState::Failed(_) => retry_failed,
            TrialState::Running { .. } | TrialState::Done => false,
        }
    }
}

impl fmt::Display for TrialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrialState::Interrupted { epochs } => write!(f, "interrupted after {epochs} epochs (resumes)"),
            TrialState::Running { holder } => {
                write!(f, "running (process {}", holder.pid)?;
                if !holder.host.is_empty() {
                    write!(f, " on {}", holder.host)?;
                }
                if let Some(task) = &holder.slurm_task {
                    write!(f, ", Slurm task {task}")?;
                }
                f.write_str(")")
            }
            TrialState::Failed(failure) => write!(f, "failed: {}", failure.message),
            other => f.write_str(other.word()),
        }
    }
}

impl Sweep {
    /// Trial `index`'s state.
    pub fn state(&self, index: usize) -> Result<TrialState, SweepError> {
        self.check_index(index)?;
        let files = self.run_files(index);
        if files.model.is_file() {
            return Ok(TrialState::Done);
        }
        if let Some(holder) = run_lock::holder(&files.model).filter(LockHolder::may_be_running) {
            return Ok(TrialState::Running { holder });
        }
        if let Some(failure) = self.failure(index)? {
            return Ok(TrialState::Failed(failure));
        }
        if files.is_interrupted_run() {
            let log = std::fs::read_to_string(files.pending().metrics).unwrap_or_default();
            return Ok(TrialState::Interrupted { epochs: log.lines().filter(|l| !l.trim().is_empty()).count() });
        }
        Ok(TrialState::Pending)
    }

    /// Every trial's state, in order.
    pub fn states(&self) -> Result<Vec<TrialStatus>, SweepError> {
        (0..self.len()).map(|index| Ok(TrialStatus { index, state: self.state(index)? })).collect()
    }

    /// Why trial `index` last failed, if it did.
    pub fn failure(&self, index: usize) -> Result<Option<Failure>, SweepError> {
        let path = self.failure_file(index);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map(Some).map_err(|e| SweepError::Record { path, reason: e.to_string() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SweepError::io("read", &path, e)),
        }
    }

    /// Records that trial `index` failed (kept until its next attempt starts).
    #[expect(clippy::missing_panics_doc, reason = "a failure is plain data and always serialises")]
    pub fn record_failure(&self, index: usize, failure: &Failure) -> Result<(), SweepError> {
        let dir = self.run_dir(index);
        std::fs::create_dir_all(&dir).map_err(|e| SweepError::io("create", &dir, e))?;
        let mut text = serde_json::to_string_pretty(failure).expect("a failure serialises");
        text.push('\n');
        folder::write(&self.failure_file(index), &text)
    }

    /// Forgets trial `index`'s last failure, as its next attempt starts.
    pub fn clear_failure(&self, index: usize) -> Result<(), SweepError> {
        let path = self.failure_file(index);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SweepError::io("remove", &path, e)),
            _ => Ok(()),
        }
    }
}

/// How many trials are in each state: `2 done, 1 running, 1 pending`.
pub fn counts(statuses: &[TrialStatus]) -> String {
    let words = ["done", "running", "interrupted", "pending", "failed"];
    let parts: Vec<String> = words
        .iter()
        .filter_map(|word| {
            let n = statuses.iter().filter(|s| s.state.word() == *word).count();
            (n > 0).then(|| format!("{n} {word}"))
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_come_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let sweep =
            crate::sweep::folder::planned(dir.path(), r#"{"base": "nielsen", "grid": {"seed": [1, 2, 3, 4, 5]}}"#);
        let files = |i| sweep.run_files(i);
        std::fs::create_dir_all(sweep.run_dir(1)).unwrap();
        std::fs::write(files(1).model, "{}").unwrap();
        sweep.record_failure(2, &Failure { exit: Some(1), message: "training diverged".into() }).unwrap();
        std::fs::create_dir_all(sweep.run_dir(3)).unwrap();
        let pending = files(3).pending();
        for path in [&pending.settings, &pending.checkpoint] {
            std::fs::write(path, "x").unwrap();
        }
        std::fs::write(&pending.metrics, "{}\n{}\n").unwrap();
        let _lock = crate::run_lock::RunLock::take(&files(4).model).unwrap();
        let words: Vec<String> = sweep.states().unwrap().iter().map(|s| s.state.to_string()).collect();
        assert_eq!(
            words[..4],
            ["pending", "done", "failed: training diverged", "interrupted after 2 epochs (resumes)"]
        );
        assert!(words[4].starts_with(&format!("running (process {}", std::process::id())), "{}", words[4]);
        assert_eq!(counts(&sweep.states().unwrap()), "1 done, 1 running, 1 interrupted, 1 pending, 1 failed");
        let wanted: Vec<bool> = sweep.states().unwrap().iter().map(|s| s.state.wants_a_run(false)).collect();
        assert_eq!(wanted, [true, false, false, true, false]);
        sweep.clear_failure(2).unwrap();
        assert_eq!(sweep.state(2).unwrap(), TrialState::Pending);
        sweep.clear_failure(2).unwrap();
    }
}
