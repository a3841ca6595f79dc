//! Writing a file so that readers see either the old file or the complete new one. The same
//! behaviour as every crate of the workspace: a temporary file beside the target, synced, renamed
//! over it, then the directory synced so that the rename survives a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically.
#[cfg(feature = "formats")]
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// Writes what `fill` writes to `path` atomically; on any error the temporary file is removed
/// and `path` is left as it was.
pub(crate) fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = temporary_path(path)?;
    let result = (|| {
        let file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        fill(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&temporary, path)?;
        // Where directories can be synced, this makes the rename itself durable; best effort.
        if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(directory).and_then(|d| d.sync_all());
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
    Ok(path.with_file_name(format!(".{}.tmp-{}-{unique}", name.to_string_lossy(), std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        write_atomically_with(path, |out| out.write_all(bytes))
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        write_atomically(&path, b"old").unwrap();
        let failed = write_atomically_with(&path, |out| {
            std::io::Write::write_all(out, b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }
}
