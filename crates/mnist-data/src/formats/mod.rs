//! The three forms MNIST data comes in, how to tell them apart, read and write them (feature
//! `formats`):
//!
//! - a directory of the four IDX files, raw or `.gz` (the original distribution);
//! - a NumPy `.npz` archive with `x_train, y_train, x_test, y_test` (Keras' `mnist.npz`);
//! - a folder of PNG images, `train_x/00001.png ...` with `train_y.json`, and the same for `test`.

mod idx_dir;
pub mod npz;
pub mod png_folder;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::atomic_write::write_atomically;
use crate::{Dataset, FILE_NAMES, LoadOptions, Mnist};

/// Why data in one of the forms cannot be read or written. The message names the file or
/// array at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The content is not data of the form, or not a data set.
    #[error("{0}")]
    Invalid(String),
    /// An operation failed: `context` says which, on what; `cause` why.
    // The cause is part of the message rather than a `source()`, as in `DataError`.
    #[error("{context}: {cause}")]
    Failed {
        /// What was being done ("cannot read train_y.json").
        context: String,
        /// The underlying error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// IDX files that cannot be loaded.
    #[error(transparent)]
    Data(#[from] crate::DataError),
}

type Result<T, E = FormatError> = std::result::Result<T, E>;

fn invalid(message: String) -> FormatError {
    FormatError::Invalid(message)
}

fn cause(context: impl Into<String>, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> FormatError {
    FormatError::Failed { context: context.into(), cause: cause.into() }
}

/// A form data is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A directory of the four raw IDX files.
    Idx,
    /// A directory of the four IDX files, gzip-compressed (`*.gz`, as MNIST is distributed).
    IdxGz,
    /// A NumPy archive: x_train, y_train, x_test, y_test (uint8), like Keras' mnist.npz.
    Npz,
    /// A folder of 8-bit grey PNGs: train_x/00001.png ..., train_y.json, test_x/, test_y.json.
    Png,
}

impl std::str::FromStr for Form {
    type Err = FormatError;

    /// `idx`, `idx-gz`, `npz` or `png`.
    fn from_str(text: &str) -> Result<Form> {
        Form::ALL
            .into_iter()
            .find(|form| form.name() == text)
            .ok_or_else(|| invalid(format!("unknown data form {text:?}: the forms are idx, idx-gz, npz, png")))
    }
}

impl Form {
    /// Every form, in the order of their names.
    pub const ALL: [Form; 4] = [Form::Idx, Form::IdxGz, Form::Npz, Form::Png];

    /// The name `FromStr` reads: `idx`, `idx-gz`, `npz`, `png`.
    pub fn name(self) -> &'static str {
        match self {
            Form::Idx => "idx",
            Form::IdxGz => "idx-gz",
            Form::Npz => "npz",
            Form::Png => "png",
        }
    }

    /// A short name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Form::Idx => "IDX files",
            Form::IdxGz => "gzip IDX files",
            Form::Npz => "NumPy .npz",
            Form::Png => "PNG folder",
        }
    }

    /// Whether the form is a directory (rather than a single file).
    pub fn is_folder(self) -> bool {
        !matches!(self, Form::Npz)
    }
}

/// Whether `path` is named like an `.npz` archive.
pub fn has_npz_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The form of the data at `path`. A file is an `.npz` archive (by extension or content); a
/// directory holding `train_x/`, `test_x/`, `train_y.json` or `test_y.json` is a PNG folder;
/// any other directory, or a path that does not exist, is taken for IDX files (whose loader
/// explains what is missing).
pub fn detect(path: &Path) -> Result<Form> {
    let Ok(meta) = fs::metadata(path) else { return Ok(Form::Idx) };
    if meta.is_file() {
        if has_npz_extension(path) || starts_like_zip(path) {
            return Ok(Form::Npz);
        }
        return Err(invalid(format!(
            "{} is a file but not a NumPy .npz archive; data is a directory of IDX files, an .npz file or a PNG folder",
            path.display()
        )));
    }
    Ok(if png_folder::looks_like(path) { Form::Png } else { Form::Idx })
}

fn starts_like_zip(path: &Path) -> bool {
    let mut magic = [0_u8; 4];
    fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06")
}

/// Loads data in any of the three forms, detected with [`detect`]; IDX files with `options`.
pub fn load(path: &Path, options: LoadOptions) -> Result<Mnist> {
    match detect(path)? {
        Form::Npz => npz::read(path),
        Form::Png => png_folder::read(path),
        Form::Idx | Form::IdxGz => Ok(Mnist::load_with(path, options)?),
    }
}

/// Writes `mnist` to `path` in `form`. Nothing is replaced unless `force`; a file is written
/// atomically, a folder is filled beside its target and renamed into place.
pub fn save(mnist: &Mnist, path: &Path, form: Form, force: bool) -> Result<()> {
    save_with_names(mnist, path, form, npz::NpzNames::Keras, force)
}

/// [`save`], with the array names of an `.npz` (other forms have none).
pub fn save_with_names(mnist: &Mnist, path: &Path, form: Form, names: npz::NpzNames, force: bool) -> Result<()> {
    check_target(path, form, force)?;
    match form {
        Form::Npz => write_atomically(path, &npz::to_bytes_named(mnist, names)?)
            .map_err(|e| cause(format!("cannot write {}", path.display()), e)),
        Form::Idx => write_folder(path, |dir| idx_dir::write(mnist, dir, false)),
        Form::IdxGz => write_folder(path, |dir| idx_dir::write(mnist, dir, true)),
        Form::Png => write_folder(path, |dir| png_folder::write(mnist, dir)),
    }
}

/// Refuses to replace existing data without `force`, and a file by a folder (or back) at all.
pub fn check_target(path: &Path, form: Form, force: bool) -> Result<()> {
    let Ok(meta) = fs::symlink_metadata(path) else { return Ok(()) };
    if form.is_folder() && !meta.is_dir() {
        return Err(invalid(format!(
            "{} exists and is not a directory; a {} is a directory",
            path.display(),
            form.describe()
        )));
    }
    if !form.is_folder() && meta.is_dir() {
        return Err(invalid(format!("{} is a directory; an .npz is a file", path.display())));
    }
    let empty = if meta.is_dir() {
        fs::read_dir(path).map_err(|e| cause(format!("cannot read {}", path.display()), e))?.next().is_none()
    } else {
        meta.len() == 0
    };
    if !empty && !force {
        return Err(invalid(format!("{} already exists and is not empty; pass --force to replace it", path.display())));
    }
    if !empty && meta.is_dir() {
        refuse_foreign_entries(path)?;
    }
    Ok(())
}

/// Refuses to replace a directory holding anything a conversion does not write: `--force`
/// replaces a previous conversion (whichever folder form), never someone's other files.
fn refuse_foreign_entries(dir: &Path) -> Result<()> {
    let ours = |name: &str| {
        FILE_NAMES.iter().any(|file| name == *file || name.strip_suffix(".gz") == Some(file))
            || name == crate::cache::CACHE_DIR
            || png_folder::writes(name)
    };
    for entry in fs::read_dir(dir).map_err(|e| cause(format!("cannot read {}", dir.display()), e))? {
        let name = entry.map_err(|e| cause(format!("cannot read {}", dir.display()), e))?.file_name();
        if !ours(&name.to_string_lossy()) {
            return Err(invalid(format!(
                "{} holds {}, which convert does not write; --force replaces only a previous conversion: \
                 move it away or convert into another directory",
                dir.display(),
                dir.join(&name).display()
            )));
        }
    }
    Ok(())
}

/// The directory that holds `path` ("." for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fills a temporary sibling directory of `target` with `fill`, then renames it into place,
/// so that a failure leaves no half-written folder. An existing `target` is moved aside first
/// and deleted only once the new folder is in place.
fn write_folder(target: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = parent_dir(target);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    remove_leftovers(parent, &name);
    // The process id in the name tells a later run whether the folder is still being written.
    let staging_prefix = format!(".{name}.tmp-{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&staging_prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let staging = builder
        .tempdir_in(parent)
        .map_err(|e| cause(format!("cannot create a temporary directory in {}", parent.display()), e))?;
    fill(staging.path())?;
    let old: Option<tempfile::TempDir> = if target.exists() {
        let aside = tempfile::Builder::new()
            .prefix(&format!(".{name}.old-{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(|e| cause(format!("cannot create a temporary directory in {}", parent.display()), e))?;
        // Rename the old folder over the (empty) placeholder; the TempDir deletes it at the end.
        fs::rename(target, aside.path()).map_err(|e| cause(format!("cannot move {} aside", target.display()), e))?;
        Some(aside)
    } else {
        None
    };
    let staged: PathBuf = staging.keep();
    if let Err(error) = fs::rename(&staged, target) {
        if let Some(old) = &old {
            let _ = fs::rename(old.path(), target);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(error)
            .map_err(|e| cause(format!("cannot move the new folder into place at {}", target.display()), e));
    }
    if let Some(old) = old {
        old.close()
            .map_err(|e| cause(format!("wrote {}, but cannot delete its previous content", target.display()), e))?;
    }
    Ok(())
}

/// Deletes the folders that earlier runs writing `name` into `parent` left when they were
/// killed: `.NAME.tmp-PID-XXXXXX` (a folder being filled) and `.NAME.old-PID-XXXXXX` (the
/// previous content, moved aside) of a process that has ended, and `.NAME.tmp-XXXXXX` or
/// `.NAME.old-XXXXXX`, the names of versions that did not write the process id. Nothing else
/// is touched: not another target's folders, not a file, not a link, not a folder of a process
/// that may still run. Best effort: what cannot be deleted stays.
fn remove_leftovers(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else { continue };
        let Some(rest) = [".tmp-", ".old-"]
            .iter()
            .find_map(|kind| file_name.strip_prefix('.')?.strip_prefix(name)?.strip_prefix(kind))
        else {
            continue;
        };
        // tempfile's suffix: six random letters or digits.
        let random = |s: &str| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric());
        let ended = match rest.split_once('-') {
            Some((pid, suffix)) if random(suffix) => pid.parse::<u32>().is_ok_and(|pid| !process_exists(pid)),
            None => random(rest),
            Some(_) => false,
        };
        if ended && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process with this id exists on this host. Where that cannot be told (no `/proc`),
/// it may.
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// The class count of a training set loaded from labels alone: one more than the largest
/// label, as `Mnist::load` does for IDX files.
fn classes_of(labels: &[u8]) -> usize {
    labels.iter().max().map_or(1, |&m| usize::from(m) + 1)
}

/// Builds the two sets like `Mnist::load`: classes from the training labels, and both sets of
/// one image size. Each set says where it came from, for messages.
fn assemble(train: RawSet, test: RawSet) -> Result<Mnist> {
    let classes = classes_of(&train.labels);
    let train_origin = train.origin.clone();
    let test_origin = test.origin.clone();
    if (train.rows, train.cols) != (test.rows, test.cols) && !train.labels.is_empty() && !test.labels.is_empty() {
        return Err(invalid(format!(
            "the training images ({train_origin}) are {}x{} pixels but the test images ({test_origin}) are {}x{}",
            train.cols, train.rows, test.cols, test.rows
        )));
    }
    let train = Dataset::new(train.pixels, train.rows, train.cols, train.labels, classes)
        .map_err(|e| cause(format!("invalid training set in {train_origin}"), e))?;
    let test = Dataset::new(test.pixels, test.rows, test.cols, test.labels, classes).map_err(|e| {
        cause(format!("invalid test set in {test_origin} (the training labels have {classes} classes)"), e)
    })?;
    Ok(Mnist { train, test })
}

/// One set as read, before checking.
struct RawSet {
    pixels: Vec<u8>,
    rows: usize,
    cols: usize,
    labels: Vec<u8>,
    /// Where it came from ("mnist.npz: x_test, y_test"), for messages.
    origin: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with_a_file(path: &Path) {
        fs::create_dir(path).unwrap();
        fs::write(path.join("00001.png"), b"half written").unwrap();
    }

    #[test]
    fn a_conversion_clears_the_leftovers_of_killed_runs_into_its_target_only() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("digits");
        // A process id above Linux's limit of 2^22: never running.
        let dead = dir.path().join(".digits.tmp-4194305-aB3xYz");
        let dead_old = dir.path().join(".digits.old-4194305-Qw12er");
        let without_pid = dir.path().join(".digits.tmp-k9LmN2");
        let live = dir.path().join(format!(".digits.tmp-{}-Zz9yX8", std::process::id()));
        let other_target = dir.path().join(".other.tmp-4194305-aB3xYz");
        let longer_name = dir.path().join(".digits2.tmp-4194305-aB3xYz");
        let not_ours = dir.path().join(".digits.tmp-notes");
        for folder in [&dead, &dead_old, &without_pid, &live, &other_target, &longer_name] {
            folder_with_a_file(folder);
        }
        fs::write(&not_ours, b"a file, not a folder").unwrap();
        let mnist = Mnist {
            train: Dataset::new(vec![0; 8], 2, 2, vec![0, 1], 2).unwrap(),
            test: Dataset::new(vec![9; 4], 2, 2, vec![1], 2).unwrap(),
        };
        save(&mnist, &target, Form::Png, false).unwrap();
        assert!(target.join("train_x").is_dir());
        for gone in [&dead, &dead_old, &without_pid] {
            assert!(!gone.exists(), "{} was left", gone.display());
        }
        for kept in [&live, &other_target, &longer_name, &not_ours] {
            assert!(kept.exists(), "{} was deleted", kept.display());
        }
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names.len(), 5, "the run leaves nothing of its own beside the target: {names:?}");
    }
}
