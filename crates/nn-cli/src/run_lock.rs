//! One training run at a time per output: a lock file beside the model, holding the process id
//! of the run that writes there.
//!
//! Two runs writing the same model, metrics log and checkpoint would each report success and
//! leave files of both. The second run is refused instead. A lock left by a run that no longer
//! exists (killed, machine restarted) is taken over.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The lock of one output; released (its file removed) when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock for a run writing `model` (and the files named after it), or says which
    /// running process holds it.
    pub fn take(model: &Path) -> Result<RunLock> {
        let mut name = model.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = model.with_file_name(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // Twice at most: the second time after removing a lock whose process has ended.
        for _ in 0..2 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(RunLock { path });
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).ok().and_then(|text| text.trim().parse::<u32>().ok());
                    if let Some(pid) = holder.filter(|&pid| is_running(pid)) {
                        bail!(
                            "another training run (process {pid}) is writing {}; wait for it to end, or write \
                             elsewhere with -o",
                            model.display()
                        );
                    }
                    // Unreadable, or its process is gone: a stale lock.
                    fs::remove_file(&path)
                        .or_else(|e| if e.kind() == ErrorKind::NotFound { Ok(()) } else { Err(e) })
                        .with_context(|| format!("cannot remove the stale lock {}", path.display()))?;
                }
                Err(error) => return Err(error).with_context(|| format!("cannot create {}", path.display())),
            }
        }
        bail!("cannot take the lock {}: another run keeps taking it", path.display())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a process with this id exists. Where that cannot be told (no `/proc`), it is taken to
/// exist: refusing wrongly is recoverable (remove the lock file), two writers are not.
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
        drop(lock);
        assert!(!dir.path().join("models/m.json.lock").exists(), "released on drop");

        // A process id that cannot be running (above Linux's limit of 2^22).
        fs::write(dir.path().join("models/m.json.lock"), "4194305").unwrap();
        let lock = RunLock::take(&model).unwrap();
        assert_eq!(fs::read_to_string(&lock.path).unwrap(), std::process::id().to_string());
    }
}
