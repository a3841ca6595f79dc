//! Trials run here: a bounded pool of processes, each one trial's task (the same command a
//! Slurm task runs), its output appended to the trial's log.

use std::fs::OpenOptions;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::status::Failure;
use super::{Sweep, SweepError};

/// The status a task ends with when it was interrupted and wrote a checkpoint (128 + SIGINT,
/// as `nn-cli train` ends).
pub const INTERRUPTED: i32 = 130;

/// How long interrupted tasks are given to write their checkpoint before they are killed.
const GRACE: Duration = Duration::from_secs(60);

/// What happened to one trial.
#[derive(Debug)]
pub enum LocalEvent {
    /// Its process started.
    Started {
        /// The trial.
        index: usize,
    },
    /// Its process ended.
    Ended {
        /// The trial.
        index: usize,
        /// How.
        status: ExitStatus,
    },
}

/// How a local run went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LocalSummary {
    /// Trials whose task ended with status 0.
    pub finished: Vec<usize>,
    /// Trials whose task failed.
    pub failed: Vec<usize>,
    /// Trials stopped with a checkpoint, or never started, because the run was stopped.
    pub interrupted: Vec<usize>,
}

/// Runs the tasks of `indices`, at most `jobs` at once: `task(index)` is the command of one
/// (its output goes to the trial's log, appended). When `stop` is set, no more tasks start,
/// the running ones are asked to stop (SIGTERM: each writes a checkpoint) and are waited for.
/// A task that fails without saying why (killed, say) gets a failure record naming its status.
pub fn run_local(
    sweep: &Sweep,
    indices: &[usize],
    jobs: usize,
    task: impl Fn(usize) -> Command,
    stop: &AtomicBool,
    mut on_event: impl FnMut(LocalEvent),
) -> Result<LocalSummary, SweepError> {
    let mut summary = LocalSummary::default();
    let mut waiting = indices.iter().copied();
    let mut running: Vec<(usize, Child)> = Vec::new();
    let mut asked_to_stop: Option<Instant> = None;
    loop {
        while asked_to_stop.is_none() && !stop.load(Ordering::SeqCst) && running.len() < jobs.max(1) {
            let Some(index) = waiting.next() else { break };
            running.push((index, start(sweep, index, task(index))?));
            on_event(LocalEvent::Started { index });
        }
        if stop.load(Ordering::SeqCst) {
            match asked_to_stop {
                None => {
                    for (_, child) in &running {
                        terminate(child);
                    }
                    asked_to_stop = Some(Instant::now());
                }
                Some(since) if since.elapsed() > GRACE => {
                    for (_, child) in &mut running {
                        let _ = child.kill();
                    }
                }
                Some(_) => {}
            }
        }
        let mut still = Vec::with_capacity(running.len());
        for (index, mut child) in running {
            match child.try_wait().map_err(|e| SweepError::io("wait for", &sweep.log_file(index), e))? {
                None => still.push((index, child)),
                Some(status) => {
                    match status.code() {
                        Some(0) => summary.finished.push(index),
                        Some(INTERRUPTED) => summary.interrupted.push(index),
                        _ if asked_to_stop.is_some() => summary.interrupted.push(index),
                        code => {
                            if sweep.failure(index)?.is_none() {
                                let message =
                                    format!("its task ended with {status}; see {}", sweep.log_file(index).display());
                                sweep.record_failure(index, &Failure { exit: code, message })?;
                            }
                            summary.failed.push(index);
                        }
                    }
                    on_event(LocalEvent::Ended { index, status });
                }
            }
        }
        running = still;
        if running.is_empty() && (asked_to_stop.is_some() || stop.load(Ordering::SeqCst)) {
            summary.interrupted.extend(waiting);
            break;
        }
        if running.is_empty() && waiting.len() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(summary)
}

fn start(sweep: &Sweep, index: usize, mut command: Command) -> Result<Child, SweepError> {
    let path = sweep.log_file(index);
    let log = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| SweepError::io("open", &path, e))?;
    let err = log.try_clone().map_err(|e| SweepError::io("open", &path, e))?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| SweepError::io("start the task of", &sweep.trial_file(index), e))
}

/// Asks a task to stop as Slurm would, with SIGTERM (through `kill`: the standard library
/// only sends SIGKILL).
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_jobs_run_at_once_and_failures_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let sweep =
            crate::sweep::folder::planned(dir.path(), r#"{"base": "nielsen", "grid": {"seed": [1, 2, 3, 4, 5]}}"#);
        let marks = dir.path().join("marks");
        std::fs::create_dir(&marks).unwrap();
        // Each task notes how many tasks run beside it; trial 3 fails.
        let task = |index: usize| {
            let mut command = Command::new("sh");
            let script = format!(
                "touch {m}/{index}; echo running $(ls {m} | wc -l); sleep 0.3; rm {m}/{index}; exit {}",
                if index == 3 { 2 } else { 0 },
                m = marks.display()
            );
            command.args(["-c", &script]);
            command
        };
        let mut started = Vec::new();
        let summary = run_local(&sweep, &[0, 1, 2, 3, 4], 2, task, &AtomicBool::new(false), |event| {
            if let LocalEvent::Started { index } = event {
                started.push(index);
            }
        })
        .unwrap();
        assert_eq!(started, [0, 1, 2, 3, 4]);
        let mut finished = summary.finished.clone();
        finished.sort_unstable();
        assert_eq!((finished, summary.failed), (vec![0, 1, 2, 4], vec![3]));
        for index in 0..5 {
            let log = std::fs::read_to_string(sweep.log_file(index)).unwrap();
            let beside: usize = log.trim().strip_prefix("running ").unwrap().parse().unwrap();
            assert!((1..=2).contains(&beside), "{log}");
        }
        let failure = sweep.failure(3).unwrap().unwrap();
        assert_eq!(failure.exit, Some(2));
        assert!(failure.message.contains("logs/0003.log"), "{}", failure.message);
    }

    #[test]
    fn a_stop_starts_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = crate::sweep::folder::planned(dir.path(), r#"{"base": "nielsen", "grid": {"seed": [1, 2, 3]}}"#);
        let stop = AtomicBool::new(false);
        let task = |_| {
            let mut command = Command::new("sh");
            command.args(["-c", "trap 'exit 130' TERM; sleep 5 & wait"]);
            command
        };
        let summary = run_local(&sweep, &[0, 1, 2], 1, task, &stop, |event| {
            if let LocalEvent::Started { .. } = event {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
        assert_eq!(summary.interrupted, [0, 1, 2]);
        assert!(summary.finished.is_empty() && summary.failed.is_empty());
    }
}
