//! One training run at a time per output: a lock file beside the model, naming the process
//! that writes there, its host, and the Slurm task it runs as, if any.
//!
//! Two runs writing the same model, metrics log and checkpoint would each report success and
//! leave files of both. The second run is refused instead. A lock is taken over only when its
//! holder is known to be gone: a process of this host that no longer exists (killed, machine
//! restarted), or an earlier run of this same Slurm array task (Slurm runs one instance of a
//! task at a time, so a requeued task on another node may take over the lock its first run left
//! when its node died). A lock held on another host by anything else is respected.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The lock of one output; released (its file removed) when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// Who holds a lock: what its file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The process id.
    pub pid: u32,
    /// The host it runs on (empty in locks written before hosts were recorded).
    pub host: String,
    /// The Slurm array task (`JOB_TASK`) it runs as, if it runs under Slurm.
    pub slurm_task: Option<String>,
}

/// Why a lock cannot be taken.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RunLockError {
    /// A live run holds it.
    #[error(
        "another training run ({}) is writing {}; wait for it to end, or write elsewhere",
        describe(holder),
        model.display()
    )]
    Held {
        /// The model file both runs would write.
        model: PathBuf,
        /// The run that holds the lock.
        holder: LockHolder,
    },
    /// The lock file could not be created, written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// "create", "write" or "remove the stale lock".
        action: &'static str,
        /// The lock file or its directory.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// Another run took the lock between removing a stale one and taking it.
    #[error("cannot take the lock {}: another run keeps taking it", .0.display())]
    Contended(PathBuf),
}

fn describe(holder: &LockHolder) -> String {
    let mut text = format!("process {}", holder.pid);
    if !holder.host.is_empty() && holder.host != this_host() {
        text.push_str(&format!(" on {}", holder.host));
    }
    if let Some(task) = &holder.slurm_task {
        text.push_str(&format!(", Slurm task {task}"));
    }
    text
}

impl LockHolder {
    /// This process.
    pub fn current() -> LockHolder {
        LockHolder { pid: std::process::id(), host: this_host(), slurm_task: slurm_task() }
    }

    /// Reads a lock file's text: the pid, then the host and the Slurm task on lines of their own.
    pub fn parse(text: &str) -> Option<LockHolder> {
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let host = lines.next().unwrap_or_default().trim().to_string();
        let slurm_task = lines.next().map(str::trim).filter(|t| !t.is_empty()).map(String::from);
        Some(LockHolder { pid, host, slurm_task })
    }

    fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.pid, self.host, self.slurm_task.as_deref().unwrap_or_default())
    }

    /// Whether the holder may still be running, as far as this process can tell.
    pub fn may_be_running(&self) -> bool {
        let me = LockHolder::current();
        if self.slurm_task.is_some() && self.slurm_task == me.slurm_task {
            // An earlier run of the task this process is: Slurm ended it before starting this one.
            return false;
        }
        if self.host.is_empty() || self.host == me.host {
            return is_running(self.pid);
        }
        true
    }
}

/// The lock file of a run writing `model`: `m.json.lock`.
pub fn lock_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    model.with_file_name(name)
}

/// Who holds the lock of `model`, if its file is there and readable.
pub fn holder(model: &Path) -> Option<LockHolder> {
    fs::read_to_string(lock_path(model)).ok().as_deref().and_then(LockHolder::parse)
}

impl RunLock {
    /// Takes the lock for a run writing `model` (and the files named after it), or says which
    /// running process holds it.
    pub fn take(model: &Path) -> Result<RunLock, RunLockError> {
        let path = lock_path(model);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| RunLockError::Io {
                action: "create",
                path: dir.into(),
                source,
            })?;
        }
        // Twice at most: the second time after removing a lock whose holder has ended.
        for _ in 0..2 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(LockHolder::current().text().as_bytes()).map_err(|source| RunLockError::Io {
                        action: "write",
                        path: path.clone(),
                        source,
                    })?;
                    return Ok(RunLock { path });
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).ok().as_deref().and_then(LockHolder::parse);
                    if let Some(holder) = holder.filter(LockHolder::may_be_running) {
                        return Err(RunLockError::Held { model: model.into(), holder });
                    }
                    // Unreadable, or its holder is gone: a stale lock.
                    fs::remove_file(&path)
                        .or_else(|e| if e.kind() == ErrorKind::NotFound { Ok(()) } else { Err(e) })
                        .map_err(|source| RunLockError::Io {
                        action: "remove the stale lock",
                        path: path.clone(),
                        source,
                    })?;
                }
                Err(source) => return Err(RunLockError::Io { action: "create", path, source }),
            }
        }
        Err(RunLockError::Contended(path))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// This machine's name (Linux's, from `/proc`), or "" where it cannot be read.
pub fn this_host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// `JOB_TASK` when this process runs as a task of a Slurm job array.
fn slurm_task() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?;
    Some(format!("{job}_{task}"))
}

/// Whether a process with this id exists on this host. Where that cannot be told (no `/proc`),
/// it is taken to exist: refusing wrongly is recoverable (remove the lock file), two writers
/// are not.
fn is_running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_a_stale_lock_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("models").join("m.json");
        let lock = RunLock::take(&model).unwrap();
        let error = RunLock::take(&model).unwrap_err().to_string();
        assert!(error.contains(&format!("process {}", std::process::id())), "{error}");
        assert_eq!(holder(&model).unwrap(), LockHolder::current());
        drop(lock);
        assert!(!dir.path().join("models/m.json.lock").exists(), "released on drop");

        // A process id that cannot be running (above Linux's limit of 2^22), in the old form.
        fs::write(dir.path().join("models/m.json.lock"), "4194305").unwrap();
        let lock = RunLock::take(&model).unwrap();
        assert_eq!(LockHolder::parse(&fs::read_to_string(&lock.path).unwrap()).unwrap().pid, std::process::id());
    }

    #[test]
    fn a_lock_of_another_host_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.json");
        let elsewhere = LockHolder { pid: 4194305, host: "node-that-is-not-this-one".into(), slurm_task: None };
        fs::write(lock_path(&model), elsewhere.text()).unwrap();
        let error = RunLock::take(&model).unwrap_err().to_string();
        assert!(error.contains("process 4194305 on node-that-is-not-this-one"), "{error}");
        assert_eq!(LockHolder::parse(&elsewhere.text()).unwrap(), elsewhere);
    }
}
