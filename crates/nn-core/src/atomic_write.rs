//! Writing a file so that readers see either the old file or the complete new one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to a new temporary file in the directory of `path`, syncs it, renames it over
/// `path` and syncs the directory: the behaviour of every crate of the workspace. A rename
/// within one directory is atomic, so no half-written file ever carries the final name; on any
/// error the temporary file is removed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = temporary_path(path)?;
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // Where directories can be synced, this makes the rename itself durable; best effort.
        if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = fs::File::open(directory).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// `dir/.name.tmp-PID-N`, unique within the process and between processes.
fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temporary = format!(".{}.tmp-{}-{unique}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(temporary))
}
