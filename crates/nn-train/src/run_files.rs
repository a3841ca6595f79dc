//! The files of one training run (model, metrics log, checkpoint and the run's settings) as
//! one unit, as `nn-cli train` and every trial of a [sweep](crate::sweep) write them. A run writes them under pending names (`NAME.partial`) and moves them over the
//! previous run's files only when it finishes, so that an interrupted or failed run leaves the
//! earlier set whole, and a finished set always belongs together.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The suffix of a file of a run still in progress (or interrupted).
const PENDING_SUFFIX: &str = ".partial";

/// Where a run's files go when it has finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    /// The model file (`m.json`).
    pub model: PathBuf,
    /// The metrics log, one JSON object per epoch (`m.metrics.jsonl`).
    pub metrics: PathBuf,
    /// The checkpoint to resume from (`m.checkpoint`).
    pub checkpoint: PathBuf,
    /// What the run needs besides the checkpoint to resume: its network and data split
    /// (`m.checkpoint.run.json`).
    pub settings: PathBuf,
}

impl RunFiles {
    /// The files of a run writing `model`: the others are named after it (`m.json` gives
    /// `m.metrics.jsonl`, `m.checkpoint`, `m.checkpoint.run.json`), but the metrics log may be
    /// put anywhere.
    pub fn new(model: PathBuf, metrics: Option<PathBuf>) -> RunFiles {
        let with = |suffix: &str| {
            let mut name = model.file_stem().unwrap_or_default().to_os_string();
            name.push(suffix);
            model.with_file_name(name)
        };
        RunFiles {
            metrics: metrics.unwrap_or_else(|| with(".metrics.jsonl")),
            checkpoint: with(".checkpoint"),
            settings: with(".checkpoint.run.json"),
            model,
        }
    }

    /// The finished files, named for messages, the model first.
    pub fn finished(&self) -> [(&'static str, &Path); 4] {
        [
            ("the model", &self.model),
            ("the metrics log", &self.metrics),
            ("the checkpoint", &self.checkpoint),
            ("the run's settings", &self.settings),
        ]
    }

    /// The pending files of a run in progress, as [`RunFiles`].
    pub fn pending(&self) -> RunFiles {
        RunFiles {
            model: pending(&self.model),
            metrics: pending(&self.metrics),
            checkpoint: pending(&self.checkpoint),
            settings: pending(&self.settings),
        }
    }

    /// An interrupted run waits to be resumed: its settings and checkpoint are there.
    pub fn is_interrupted_run(&self) -> bool {
        let pending = self.pending();
        pending.settings.is_file() && pending.checkpoint.is_file()
    }

    /// Moves every pending file over its finished name, the model last: from then on the four
    /// files are the new run's.
    pub fn commit_pending(&self) -> Result<(), RunFileError> {
        let pending = self.pending();
        for ((_, from), (what, to)) in pending.finished().into_iter().zip(self.finished()).rev() {
            std::fs::rename(from, to).map_err(|source| RunFileError::Move {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
                what,
                source,
            })?;
        }
        Ok(())
    }
}

/// A run's file that could not be moved or locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunFileError {
    /// A pending file could not replace the finished one.
    #[error("cannot move {} to {} ({what}): {source}", from.display(), to.display())]
    Move {
        /// The pending file.
        from: PathBuf,
        /// Its finished name.
        to: PathBuf,
        /// Which of the run's files it is.
        what: &'static str,
        /// The system's reason.
        source: std::io::Error,
    },
}

fn pending(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(PENDING_SUFFIX);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_after_the_model_and_pending_ones_after_those() {
        let files = RunFiles::new(PathBuf::from("models/m.json"), None);
        assert_eq!(files.metrics, Path::new("models/m.metrics.jsonl"));
        assert_eq!(files.settings, Path::new("models/m.checkpoint.run.json"));
        let pending = files.pending();
        assert_eq!(pending.model, Path::new("models/m.json.partial"));
        assert_eq!(pending.checkpoint, Path::new("models/m.checkpoint.partial"));
        let custom = RunFiles::new(PathBuf::from("m.json"), Some(PathBuf::from("logs/run.jsonl")));
        assert_eq!(custom.pending().metrics, Path::new("logs/run.jsonl.partial"));
    }

    #[test]
    fn commit_replaces_the_four_files_together() {
        let dir = tempfile::tempdir().unwrap();
        let files = RunFiles::new(dir.path().join("m.json"), None);
        for (_, path) in files.finished() {
            std::fs::write(path, "old").unwrap();
        }
        for (_, path) in files.pending().finished() {
            std::fs::write(path, "new").unwrap();
        }
        assert!(files.is_interrupted_run());
        files.commit_pending().unwrap();
        for (_, path) in files.finished() {
            assert_eq!(std::fs::read_to_string(path).unwrap(), "new");
        }
        assert!(!files.is_interrupted_run());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }
}
