//! Sweeps: many trainings planned once and run anywhere, on this machine by a bounded pool of
//! processes or on a Slurm cluster as a job array.
//!
//! A [`SweepSpec`] (JSON or TOML) names a base recipe, the values its fields take (a grid, or
//! random draws), what trials are ranked by (validation accuracy; the test set never chooses)
//! and how Slurm should run them. [`Sweep::plan`] writes it out as a folder anyone can read:
//! one complete recipe file per trial, the spec and its hash, and a job-array script (see
//! [`folder`] for the layout). Each trial then trains as `nn-cli train` would, into its own
//! run folder, and resumes from its checkpoint when it is run again; [`status`] tells each
//! trial's state from those files, and [`report`] ranks the finished ones.
//!
//! This module does not train: the front end runs each trial (`nn-cli sweep task`), and
//! [`local::run_local`] or [`slurm::submit`] start those tasks. It is no scheduler either:
//! Slurm schedules on a cluster; locally, at most `jobs` processes run at once.
//!
//! ```
//! use nn_train::sweep::{Sweep, SweepSpec};
//! let spec = SweepSpec::from_json(r#"{"base": "nielsen", "grid": {"learning_rate": [0.5, 3.0], "seed": [1, 2, 3]}}"#)?;
//! let dir = tempfile::tempdir()?;
//! let (sweep, _) = Sweep::plan(&spec, &dir.path().join("lr"), |_, _| String::from("#!/bin/bash\n"))?;
//! assert_eq!(sweep.len(), 6);
//! assert_eq!(sweep.trial_recipe(4)?.learning_rate, 3.0); // trials count with the seed fastest
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::recipe::RecipeError;

pub mod estimate;
pub mod folder;
pub mod local;
pub mod report;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod trials;

pub use folder::{Planned, Sweep, SweepRecord, number};
pub use spec::{FIELDS, MAX_TRIALS, Objective, SweepSpec};
pub use status::{TrialState, TrialStatus};
pub use trials::Trial;

/// Why a sweep cannot be planned, read or run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SweepError {
    /// The spec is not one a sweep can be planned from.
    #[error("invalid sweep spec: {0}")]
    Spec(String),
    /// The base recipe cannot be found or read.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// One trial's recipe is refused.
    #[error("trial {index} ({values}) cannot be trained: {reason}")]
    Trial {
        /// The trial's number.
        index: usize,
        /// Its values.
        values: String,
        /// What is wrong.
        reason: String,
    },
    /// The folder holds a sweep of another spec.
    #[error(
        "{} holds another sweep (spec {planned}, this one {given}): plan this spec into a new folder",
        dir.display()
    )]
    OtherSweep {
        /// The folder.
        dir: PathBuf,
        /// The hash of the spec planned there.
        planned: String,
        /// The hash of the spec given.
        given: String,
    },
    /// The folder to plan into holds other files.
    #[error("{} is not empty and holds no sweep: plan into a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
    /// The folder holds no `sweep.json`.
    #[error("{} holds no sweep (no sweep.json): plan one with `nn-cli sweep plan SPEC -o DIR`", .0.display())]
    NotASweep(PathBuf),
    /// `sweep.json` cannot be read as a sweep record.
    #[error("{} is not a sweep record this program reads: {reason}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A trial number the sweep does not have.
    #[error("the sweep has no trial {index}: its trials are 0 to {}", trials.saturating_sub(1))]
    NoSuchTrial {
        /// The number asked for.
        index: usize,
        /// Trials in the sweep.
        trials: usize,
    },
    /// A file or folder of the sweep cannot be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A Slurm command failed or is missing.
    #[error("{0}")]
    Slurm(String),
}

impl SweepError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> SweepError {
        SweepError::Io { action, path: path.to_path_buf(), source }
    }
}
