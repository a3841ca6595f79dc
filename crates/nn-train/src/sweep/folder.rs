//! A planned sweep is a folder anyone can read:
//!
//! ```text
//! DIR/spec.json           the spec as planned (paths made absolute)
//! DIR/sweep.json          its hash, the data, and each trial's values
//! DIR/trials/0007.json    trial 7: a complete recipe file, seed included
//! DIR/slurm.sbatch        the job array, to read, edit and submit by hand
//! DIR/runs/0007/          what `nn-cli train` writes for trial 7 (model.json, its metrics log,
//!                         checkpoint), and failure.json when it failed
//! DIR/logs/0007.log       what trial 7 printed, every attempt appended
//! DIR/slurm-jobs.txt      the job arrays submitted, one line each
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::SweepError;
use super::spec::{Objective, SweepSpec};
use super::trials::{Trial, trials};
use crate::checkpoint::write_atomically;
use crate::recipe::{self, Recipe};
use crate::run_files::RunFiles;

/// The `format` of `sweep.json`.
pub const SWEEP_FORMAT: &str = "nn-mnist-sweep";
/// The version of `sweep.json` this crate writes and reads.
pub const SWEEP_VERSION: u32 = 1;

/// What `sweep.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRecord {
    /// [`SWEEP_FORMAT`].
    pub format: String,
    /// [`SWEEP_VERSION`].
    pub version: u32,
    /// `sha256:` and the hash of the planned spec and its base recipe.
    pub spec_hash: String,
    /// The base recipe's name.
    pub base: String,
    /// The data every trial trains on (absolute).
    pub data: PathBuf,
    /// What trials are ranked by.
    pub objective: Objective,
    /// The fields the sweep sets, in numbering order.
    pub fields: Vec<String>,
    /// Each trial's values.
    pub trials: Vec<Map<String, Value>>,
}

/// A planned sweep: its folder and record.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The folder (absolute).
    pub dir: PathBuf,
    /// Its `sweep.json`.
    pub record: SweepRecord,
}

/// The recipe a spec starts from: its recipe file, its named base, or `default`.
pub fn base_recipe(spec: &SweepSpec) -> Result<Recipe, SweepError> {
    Ok(match (&spec.recipe_file, &spec.base) {
        (Some(file), _) => Recipe::load(file)?,
        (None, Some(name)) => recipe::named(name)?,
        (None, None) => recipe::named("default")?,
    })
}

/// The spec as planned: the data's path absolute (default `data/mnist` from where the sweep is
/// planned), and the recipe file's too.
pub fn resolved(spec: &SweepSpec) -> Result<SweepSpec, SweepError> {
    let absolute = |path: &Path| std::path::absolute(path).map_err(|e| SweepError::io("resolve", path, e));
    let mut spec = spec.clone();
    spec.data = Some(absolute(spec.data.as_deref().unwrap_or(Path::new("data/mnist")))?);
    if let Some(file) = &spec.recipe_file {
        spec.recipe_file = Some(absolute(file)?);
    }
    Ok(spec)
}

/// `sha256:` and the hash of the spec's canonical JSON and its base recipe's.
pub fn spec_hash(spec: &SweepSpec, base: &Recipe) -> String {
    let mut hasher = Sha256::new();
    hasher.update(spec.to_json());
    hasher.update(base.to_json());
    let digest = hasher.finalize();
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Whether planning wrote the folder or found it already planned with the same spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// The folder was written.
    New,
    /// The folder already held this sweep; nothing was written.
    Unchanged,
}

impl Sweep {
    /// Plans `spec` into `dir`: the trials' recipe files, the spec, the job-array script made by
    /// `script` from the trials, then `sweep.json`, last, which makes the folder a sweep. A
    /// folder that holds this sweep already is left as it is; one that holds another sweep, or
    /// other files, is refused.
    #[expect(clippy::missing_panics_doc, reason = "a record is plain data and always serialises")]
    pub fn plan(
        spec: &SweepSpec,
        dir: &Path,
        script: impl FnOnce(&Sweep, &[Trial]) -> String,
    ) -> Result<(Sweep, Planned), SweepError> {
        let spec = resolved(spec)?;
        let base = base_recipe(&spec)?;
        let hash = spec_hash(&spec, &base);
        let dir = std::path::absolute(dir).map_err(|e| SweepError::io("resolve", dir, e))?;
        if dir.join("sweep.json").exists() {
            let sweep = Sweep::open(&dir)?;
            if sweep.record.spec_hash != hash {
                return Err(SweepError::OtherSweep { dir, planned: sweep.record.spec_hash, given: hash });
            }
            return Ok((sweep, Planned::Unchanged));
        }
        if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(SweepError::NotEmpty(dir));
        }
        let trials = trials(&spec, &base)?;
        let record = SweepRecord {
            format: SWEEP_FORMAT.into(),
            version: SWEEP_VERSION,
            spec_hash: hash,
            base: base.name.clone(),
            // `resolved` always sets it; its default again rather than a panic.
            data: spec.data.clone().unwrap_or_else(|| PathBuf::from("data/mnist")),
            objective: spec.objective,
            fields: spec.fields().into_iter().map(String::from).collect(),
            trials: trials.iter().map(|t| t.values.iter().cloned().collect()).collect(),
        };
        let sweep = Sweep { dir, record };
        for folder in ["trials", "runs", "logs"] {
            let path = sweep.dir.join(folder);
            std::fs::create_dir_all(&path).map_err(|e| SweepError::io("create", &path, e))?;
        }
        for trial in &trials {
            write(&sweep.trial_file(trial.index), &trial.recipe.to_json())?;
        }
        write(&sweep.dir.join("spec.json"), &spec.to_json())?;
        write(&sweep.script_file(), &script(&sweep, &trials))?;
        let mut text = serde_json::to_string_pretty(&sweep.record).expect("a record serialises");
        text.push('\n');
        write(&sweep.dir.join("sweep.json"), &text)?;
        Ok((sweep, Planned::New))
    }

    /// The sweep planned in `dir`.
    pub fn open(dir: &Path) -> Result<Sweep, SweepError> {
        let dir = std::path::absolute(dir).map_err(|e| SweepError::io("resolve", dir, e))?;
        let path = dir.join("sweep.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SweepError::NotASweep(dir.clone())
            } else {
                SweepError::io("read", &path, e)
            }
        })?;
        let record: SweepRecord = serde_json::from_str(&text)
            .map_err(|e| SweepError::Record { path: path.clone(), reason: e.to_string() })?;
        if record.format != SWEEP_FORMAT || record.version != SWEEP_VERSION {
            return Err(SweepError::Record {
                path,
                reason: format!(
                    "it is {} version {}, and this program reads {SWEEP_FORMAT} version {SWEEP_VERSION}",
                    record.format, record.version
                ),
            });
        }
        Ok(Sweep { dir, record })
    }

    /// How many trials it holds.
    pub fn len(&self) -> usize {
        self.record.trials.len()
    }

    /// Whether it holds no trial (a planned sweep always holds one at least).
    pub fn is_empty(&self) -> bool {
        self.record.trials.is_empty()
    }

    /// `DIR/trials/0007.json`.
    pub fn trial_file(&self, index: usize) -> PathBuf {
        self.dir.join("trials").join(format!("{}.json", number(index)))
    }

    /// Trial `index`'s recipe, read from its file (which a user may have edited).
    pub fn trial_recipe(&self, index: usize) -> Result<Recipe, SweepError> {
        self.check_index(index)?;
        Ok(Recipe::load(&self.trial_file(index))?)
    }

    /// `DIR/runs/0007`: where trial `index` trains.
    pub fn run_dir(&self, index: usize) -> PathBuf {
        self.dir.join("runs").join(number(index))
    }

    /// The files of trial `index`'s run (`runs/0007/model.json` and the files named after it).
    pub fn run_files(&self, index: usize) -> RunFiles {
        RunFiles::new(self.run_dir(index).join("model.json"), None)
    }

    /// `DIR/runs/0007/failure.json`: why trial `index` last failed.
    pub fn failure_file(&self, index: usize) -> PathBuf {
        self.run_dir(index).join("failure.json")
    }

    /// `DIR/logs/0007.log`.
    pub fn log_file(&self, index: usize) -> PathBuf {
        self.dir.join("logs").join(format!("{}.log", number(index)))
    }

    /// `DIR/slurm.sbatch`.
    pub fn script_file(&self) -> PathBuf {
        self.dir.join("slurm.sbatch")
    }

    /// Refuses an index the sweep does not have.
    pub fn check_index(&self, index: usize) -> Result<(), SweepError> {
        if index >= self.len() {
            return Err(SweepError::NoSuchTrial { index, trials: self.len() });
        }
        Ok(())
    }
}

/// `0007`: a trial's number as its files are named.
pub fn number(index: usize) -> String {
    format!("{index:04}")
}

/// Writes a file of the sweep atomically.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), SweepError> {
    write_atomically(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| SweepError::io("write", path, e))
}

/// A sweep of `spec`'s JSON planned into `dir/s`, its script empty: what the module's tests
/// start from.
#[cfg(test)]
pub(crate) fn planned(dir: &Path, spec: &str) -> Sweep {
    let spec = SweepSpec::from_json(spec).unwrap();
    Sweep::plan(&spec, &dir.join("s"), |_, _| String::new()).unwrap().0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SweepSpec {
        SweepSpec::from_json(text).unwrap()
    }

    #[test]
    fn a_folder_holds_one_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sweep");
        let text =
            r#"{"base": "nielsen", "data": "/data/mnist", "grid": {"learning_rate": [0.5, 3.0], "seed": [1, 2]}}"#;
        let (sweep, planned) =
            Sweep::plan(&spec(text), &out, |_, trials| format!("{} trials\n", trials.len())).unwrap();
        assert_eq!((planned, sweep.len()), (Planned::New, 4));
        assert_eq!(std::fs::read_to_string(sweep.script_file()).unwrap(), "4 trials\n");
        let trial = sweep.trial_recipe(3).unwrap();
        assert_eq!((trial.learning_rate, trial.seed), (3.0, Some(2)));
        assert_eq!(sweep.record.trials[3]["seed"], 2);
        assert!(sweep.trial_file(3).ends_with("trials/0003.json"));
        assert!(sweep.run_files(3).model.ends_with("runs/0003/model.json"));
        assert!(sweep.trial_recipe(4).unwrap_err().to_string().contains("no trial 4"));

        // Planned again: nothing changes; another spec is refused.
        let (_, again) = Sweep::plan(&spec(text), &out, |_, _| unreachable!()).unwrap();
        assert_eq!(again, Planned::Unchanged);
        let other = text.replace("3.0", "1.0");
        let error = Sweep::plan(&spec(&other), &out, |_, _| unreachable!()).unwrap_err().to_string();
        assert!(error.contains("holds another sweep"), "{error}");
        // A folder of other files is not taken over.
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let error = Sweep::plan(&spec(text), dir.path(), |_, _| unreachable!()).unwrap_err().to_string();
        assert!(error.contains("not empty"), "{error}");
        assert!(Sweep::open(dir.path()).unwrap_err().to_string().contains("no sweep"));
    }
}
