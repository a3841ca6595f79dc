//! A thin layer over Slurm's commands: the job-array script a sweep is planned with, `sbatch`
//! to submit the trials that need a run, `squeue` to see which are queued or running. Tried
//! with Slurm 22.05 (Debian 12's `slurm-wlm`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::estimate::{Estimate, estimate, slurm_memory, slurm_time};
use super::spec::SlurmSpec;
use super::{Sweep, SweepError, Trial, folder};
use nn_core::Shape;

/// Cores per task when the spec says nothing.
pub const DEFAULT_CPUS_PER_TASK: usize = 2;

/// Tasks at once when the spec says nothing: all of them, up to this.
pub const DEFAULT_PARALLEL: usize = 32;

/// What the data is, for the estimates: samples trained on and evaluated, and their shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataSize {
    /// Training images (before a validation split).
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// One image's shape.
    pub input: Shape,
    /// Classes.
    pub classes: usize,
}

/// The largest estimate over the trials (the array's tasks all ask for the same); `None` for
/// no trial.
pub fn largest_estimate(trials: &[Trial], data: DataSize, cpus: usize) -> Option<Estimate> {
    trials
        .iter()
        .map(|t| estimate(&t.recipe, data.input, data.classes, data.train, data.test + t.recipe.validation_size, cpus))
        .reduce(|a, b| Estimate {
            macs_per_sample: a.macs_per_sample.max(b.macs_per_sample),
            parameters: a.parameters.max(b.parameters),
            memory_bytes: a.memory_bytes.max(b.memory_bytes),
            seconds: a.seconds.max(b.seconds),
        })
}

/// The job-array script of `sweep`: each task runs `program sweep task DIR INDEX` (the
/// trial's training, resumed from its checkpoint when Slurm runs the task again).
pub fn script(sweep: &Sweep, trials: &[Trial], program: &Path, spec: &SlurmSpec, data: DataSize) -> String {
    let cpus = spec.cpus_per_task.unwrap_or(DEFAULT_CPUS_PER_TASK);
    let none = Estimate { macs_per_sample: 0, parameters: 0, memory_bytes: 0, seconds: 0 };
    let needs = largest_estimate(trials, data, cpus).unwrap_or(none);
    let parallel = spec.parallel.unwrap_or(DEFAULT_PARALLEL).min(trials.len());
    let mem = spec.mem.clone().unwrap_or_else(|| slurm_memory(needs.memory_bytes));
    let time = spec.time.clone().unwrap_or_else(|| slurm_time(needs.seconds));
    let dir = sweep.dir.display();
    let mut text = format!(
        "#!/bin/bash\n\
         # The job array of the sweep in {dir}: task N trains trials/000N.json into runs/000N/.\n\
         # `nn-cli sweep run DIR --on slurm` submits it for the trials that need a run; by hand:\n\
         #   sbatch {dir}/slurm.sbatch\n\
         # A task stopped by Slurm (preemption, requeue, time limit) resumes from its checkpoint\n\
         # when it runs again, and ends as an uninterrupted run would, bit for bit. A task of a\n\
         # finished trial ends at once; two tasks never train one trial together (its lock).\n\
         #\n\
         # --mem and --time are estimated (largest trial: {} multiply-adds a sample, {} parameters)\n\
         # unless the spec's \"slurm\" settings gave them: edit them to suit the cluster.\n\
         #SBATCH --job-name=sweep-{}\n\
         #SBATCH --array=0-{}%{parallel}\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --mem={mem}\n\
         #SBATCH --time={time}\n\
         #SBATCH --output={dir}/logs/%4a.log\n\
         #SBATCH --open-mode=append\n\
         #SBATCH --requeue\n",
        needs.macs_per_sample,
        needs.parameters,
        sweep.record.base,
        trials.len().saturating_sub(1),
    );
    for option in &spec.options {
        text.push_str(&format!("#SBATCH {option}\n"));
    }
    text.push_str(&format!(
        "\n# exec: Slurm's signals (SIGTERM before a requeue or at the time limit) reach the training,\n\
         # which writes a checkpoint and stops.\n\
         exec {} sweep task {dir} \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\"\n",
        shell_word(&program.display().to_string())
    ));
    text
}

/// A word the shell reads as itself.
fn shell_word(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `0-3,7,9-12`: indices as Slurm's `--array` takes them.
pub fn array_list(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        while i + 1 < indices.len() && indices[i + 1] == indices[i] + 1 {
            i += 1;
        }
        parts.push(if indices[i] == start { start.to_string() } else { format!("{start}-{}", indices[i]) });
        i += 1;
    }
    parts.join(",")
}

/// Submits the sweep's script for the trials `indices`, at most `parallel` at once, with the
/// user's `extra` sbatch options (partition, account, qos...); returns the job id, also
/// recorded in `DIR/slurm-jobs.txt`.
pub fn submit(sweep: &Sweep, indices: &[usize], parallel: usize, extra: &[String]) -> Result<String, SweepError> {
    let last = indices.iter().copied().max().unwrap_or(0);
    if let Some(max) = max_array_size()
        && last >= max
    {
        return Err(SweepError::Slurm(format!(
            "this cluster takes array indices below {max} (its MaxArraySize), and trial {last} is beyond: ask its \
             administrators for a larger MaxArraySize, or split the sweep into sweeps of at most {max} trials"
        )));
    }
    let array = format!("--array={}%{}", array_list(indices), parallel.max(1));
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(&array)
        .args(extra)
        .arg(sweep.script_file())
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run sbatch ({e}): is Slurm installed here?")))?;
    if !output.status.success() {
        return Err(SweepError::Slurm(format!(
            "sbatch refused the job array ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    // --parsable prints `JOBID` or `JOBID;CLUSTER`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let job = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        return Err(SweepError::Slurm(format!("sbatch answered {:?}, not a job id", stdout.trim())));
    }
    let path = sweep.dir.join("slurm-jobs.txt");
    let mut jobs = std::fs::read_to_string(&path).unwrap_or_default();
    jobs.push_str(&format!("{job} {array} {}\n", extra.join(" ")));
    folder::write(&path, &jobs)?;
    Ok(job)
}

/// The cluster's `MaxArraySize` (array indices must be below it), if `scontrol` tells.
pub fn max_array_size() -> Option<usize> {
    let output = Command::new("scontrol").args(["show", "config"]).output().ok()?;
    parse_config_value(&String::from_utf8_lossy(&output.stdout), "MaxArraySize")?.parse().ok()
}

/// The value of `key` in `scontrol show config`'s `Key = value` lines.
fn parse_config_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim())
    })
}

/// The job arrays submitted for the sweep, newest last.
pub fn submitted_jobs(sweep: &Sweep) -> Vec<String> {
    let text = std::fs::read_to_string(sweep.dir.join("slurm-jobs.txt")).unwrap_or_default();
    text.lines().filter_map(|line| line.split_whitespace().next()).map(String::from).collect()
}

/// What `squeue` says of the sweep's tasks: trial → Slurm's state (PENDING, RUNNING,
/// COMPLETING...). Empty when nothing was submitted; an error when `squeue` cannot run.
pub fn queue_states(sweep: &Sweep) -> Result<BTreeMap<usize, String>, SweepError> {
    let jobs = submitted_jobs(sweep);
    if jobs.is_empty() {
        return Ok(BTreeMap::new());
    }
    let output = Command::new("squeue")
        .args(["--noheader", "--array", "--jobs", &jobs.join(","), "--format=%i %T"])
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run squeue ({e})")))?;
    if !output.status.success() {
        // squeue refuses ids it no longer knows; jobs that have left the queue are not an error.
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("Invalid job id") {
            return Ok(BTreeMap::new());
        }
        return Err(SweepError::Slurm(format!("squeue failed: {}", stderr.trim())));
    }
    Ok(parse_queue(&String::from_utf8_lossy(&output.stdout), sweep.len()))
}

/// What Slurm's accounting says of the sweep's tasks that have left the queue: trial → the
/// state of its latest task (COMPLETED, FAILED, OUT_OF_MEMORY, TIMEOUT, CANCELLED...). Empty
/// where the cluster keeps no accounting (`sacct` then refuses).
pub fn accounting_states(sweep: &Sweep) -> BTreeMap<usize, String> {
    let jobs = submitted_jobs(sweep);
    if jobs.is_empty() {
        return BTreeMap::new();
    }
    let output = Command::new("sacct")
        .args(["--noheader", "--parsable2", "--allocations", "--format=JobID,State", "--jobs", &jobs.join(",")])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            parse_accounting(&String::from_utf8_lossy(&output.stdout), sweep.len())
        }
        _ => BTreeMap::new(),
    }
}

/// `123_4|OUT_OF_MEMORY` lines to trial → state, later lines (later jobs) winning; a state
/// with a reason (`CANCELLED by 0`) keeps its first word.
pub fn parse_accounting(text: &str, trials: usize) -> BTreeMap<usize, String> {
    let mut states = BTreeMap::new();
    for line in text.lines() {
        let Some((id, state)) = line.split_once('|') else { continue };
        let Some(index) = id.split_once('_').and_then(|(_, task)| task.parse::<usize>().ok()) else { continue };
        if index < trials {
            states.insert(index, state.split_whitespace().next().unwrap_or_default().to_string());
        }
    }
    states
}

/// `123_4 RUNNING` lines to trial → state; a pending array's `123_[5-7%2] PENDING` line
/// names each of its trials.
pub fn parse_queue(text: &str, trials: usize) -> BTreeMap<usize, String> {
    let mut states = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(id), Some(state)) = (words.next(), words.next()) else { continue };
        let Some((_, tasks)) = id.split_once('_') else { continue };
        let tasks = tasks.trim_start_matches('[').trim_end_matches(']');
        let tasks = tasks.split('%').next().unwrap_or_default();
        for part in tasks.split(',') {
            let range = match part.split_once('-') {
                Some((a, b)) => a.parse::<usize>().ok().zip(b.parse::<usize>().ok()),
                None => part.parse::<usize>().ok().map(|a| (a, a)),
            };
            if let Some((a, b)) = range {
                for index in a..=b.min(trials.saturating_sub(1)) {
                    states.insert(index, state.to_string());
                }
            }
        }
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepSpec;

    #[test]
    fn arrays_are_written_as_slurm_reads_them() {
        assert_eq!(array_list(&[0, 1, 2, 3, 7, 9, 10, 11, 12]), "0-3,7,9-12");
        assert_eq!(array_list(&[5]), "5");
        let queue = "77_3 RUNNING\n77_[5-7,9%2] PENDING\n78_1 COMPLETING\nnonsense\n";
        let states = parse_queue(queue, 9);
        let listed: Vec<(usize, &str)> = states.iter().map(|(i, s)| (*i, s.as_str())).collect();
        assert_eq!(listed, [(1, "COMPLETING"), (3, "RUNNING"), (5, "PENDING"), (6, "PENDING"), (7, "PENDING")]);
        assert_eq!(shell_word("/opt/nn cli/nn-cli"), "'/opt/nn cli/nn-cli'");
        let accounting = "80_0|COMPLETED\n80_1|OUT_OF_MEMORY\n80_[2-3]|PENDING\n81_1|CANCELLED by 0\n80_9|FAILED\n";
        let states = parse_accounting(accounting, 4);
        let listed: Vec<(usize, &str)> = states.iter().map(|(i, s)| (*i, s.as_str())).collect();
        assert_eq!(listed, [(0, "COMPLETED"), (1, "CANCELLED")]);
        let config = "MaxArraySize            = 1001\nMaxJobCount             = 10000\n";
        assert_eq!(parse_config_value(config, "MaxArraySize"), Some("1001"));
        assert_eq!(parse_config_value(config, "MaxArray"), None);
    }

    #[test]
    fn the_script_asks_for_what_the_trials_need() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SweepSpec::from_json(
            r#"{"base": "cnn", "objective": "none", "grid": {"seed": [1, 2, 3, 4, 5]},
                "slurm": {"parallel": 2, "options": ["--partition=short"]}}"#,
        )
        .unwrap();
        let data = DataSize { train: 60_000, test: 10_000, input: Shape::new(1, 28, 28), classes: 10 };
        let program = Path::new("/opt/nn/nn-cli");
        let (sweep, _) = Sweep::plan(&spec, &dir.path().join("s"), |sweep, trials| {
            script(sweep, trials, program, &spec.slurm, data)
        })
        .unwrap();
        let text = std::fs::read_to_string(sweep.script_file()).unwrap();
        for line in
            ["#SBATCH --array=0-4%2", "#SBATCH --cpus-per-task=2", "#SBATCH --partition=short", "#SBATCH --requeue"]
        {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.contains(&format!("#SBATCH --output={}/logs/%4a.log", sweep.dir.display())), "{text}");
        assert!(
            text.contains(&format!("exec /opt/nn/nn-cli sweep task {} \"$SLURM_ARRAY_TASK_ID\"", sweep.dir.display()))
        );
        let mem = text.lines().find_map(|l| l.strip_prefix("#SBATCH --mem=")).unwrap();
        assert!(mem.ends_with('M') || mem.ends_with('G'), "{mem}");
    }
}
