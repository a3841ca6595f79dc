//! The three forms MNIST data comes in, and how to tell them apart:
//!
//! - a directory of the four IDX files, raw or `.gz` (the original distribution);
//! - a NumPy `.npz` archive with `x_train, y_train, x_test, y_test` (Keras' `mnist.npz`);
//! - a folder of PNG images, `train_x/00001.png ...` with `train_y.json`, and the same for `test`.

pub mod idx_dir;
pub mod npz;
pub mod png_folder;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use mnist_data::{Dataset, FILE_NAMES, LoadOptions, Mnist};

/// A form data is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

impl Form {
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
        bail!(
            "{} is a file but not a NumPy .npz archive; data is a directory of IDX files, an .npz file or a PNG folder",
            path.display()
        );
    }
    Ok(if png_folder::looks_like(path) { Form::Png } else { Form::Idx })
}

fn starts_like_zip(path: &Path) -> bool {
    let mut magic = [0_u8; 4];
    fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06")
}

/// Loads data in any of the three forms, detected with [`detect`].
pub fn load(path: &Path) -> Result<Mnist> {
    match detect(path)? {
        Form::Npz => npz::read(path),
        Form::Png => png_folder::read(path),
        // The command keeps a decompressed copy beside gzip files: later runs start at once.
        Form::Idx | Form::IdxGz => Ok(Mnist::load_with(path, LoadOptions::cached())?),
    }
}

/// Writes `mnist` to `path` in `form`. Nothing is replaced unless `force`; a file is written
/// atomically, a folder is filled beside its target and renamed into place.
pub fn save(mnist: &Mnist, path: &Path, form: Form, force: bool) -> Result<()> {
    check_target(path, form, force)?;
    match form {
        Form::Npz => crate::files::write_atomically(path, &npz::to_bytes(mnist)?),
        Form::Idx => write_folder(path, |dir| idx_dir::write(mnist, dir, false)),
        Form::IdxGz => write_folder(path, |dir| idx_dir::write(mnist, dir, true)),
        Form::Png => write_folder(path, |dir| png_folder::write(mnist, dir)),
    }
}

/// Refuses to replace existing data without `force`, and a file by a folder (or back) at all.
pub fn check_target(path: &Path, form: Form, force: bool) -> Result<()> {
    let Ok(meta) = fs::symlink_metadata(path) else { return Ok(()) };
    if form.is_folder() && !meta.is_dir() {
        bail!("{} exists and is not a directory; a {} is a directory", path.display(), form.describe());
    }
    if !form.is_folder() && meta.is_dir() {
        bail!("{} is a directory; an .npz is a file", path.display());
    }
    let empty = if meta.is_dir() {
        fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?.next().is_none()
    } else {
        meta.len() == 0
    };
    if !empty && !force {
        bail!("{} already exists and is not empty; pass --force to replace it", path.display());
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
            || name == mnist_data::cache::CACHE_DIR
            || png_folder::writes(name)
    };
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let name = entry.with_context(|| format!("cannot read {}", dir.display()))?.file_name();
        if !ours(&name.to_string_lossy()) {
            bail!(
                "{} holds {}, which convert does not write; --force replaces only a previous conversion: \
                 move it away or convert into another directory",
                dir.display(),
                dir.join(&name).display()
            );
        }
    }
    Ok(())
}

/// The directory that holds `path` ("." for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
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
    let staging_prefix = format!(".{name}.tmp-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&staging_prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let staging = builder
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a temporary directory in {}", parent.display()))?;
    fill(staging.path())?;
    let old: Option<tempfile::TempDir> = if target.exists() {
        let aside = tempfile::Builder::new()
            .prefix(&format!(".{name}.old-"))
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a temporary directory in {}", parent.display()))?;
        // Rename the old folder over the (empty) placeholder; the TempDir deletes it at the end.
        fs::rename(target, aside.path()).with_context(|| format!("cannot move {} aside", target.display()))?;
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
        return Err(error).with_context(|| format!("cannot move the new folder into place at {}", target.display()));
    }
    if let Some(old) = old {
        old.close().with_context(|| format!("wrote {}, but cannot delete its previous content", target.display()))?;
    }
    Ok(())
}

/// The class count of a training set loaded from labels alone: one more than the largest
/// label, as `Mnist::load` does for IDX files.
pub fn classes_of(labels: &[u8]) -> usize {
    labels.iter().max().map_or(1, |&m| usize::from(m) + 1)
}

/// Builds the two sets like `Mnist::load`: classes from the training labels, and both sets of
/// one image size. Each set says where it came from, for messages.
pub fn assemble(train: RawSet, test: RawSet) -> Result<Mnist> {
    let classes = classes_of(&train.labels);
    let train_origin = train.origin.clone();
    let test_origin = test.origin.clone();
    if (train.rows, train.cols) != (test.rows, test.cols) && !train.labels.is_empty() && !test.labels.is_empty() {
        bail!(
            "the training images ({train_origin}) are {}x{} pixels but the test images ({test_origin}) are {}x{}",
            train.cols,
            train.rows,
            test.cols,
            test.rows
        );
    }
    let train = Dataset::new(train.pixels, train.rows, train.cols, train.labels, classes)
        .with_context(|| format!("invalid training set in {train_origin}"))?;
    let test = Dataset::new(test.pixels, test.rows, test.cols, test.labels, classes)
        .with_context(|| format!("invalid test set in {test_origin} (the training labels have {classes} classes)"))?;
    Ok(Mnist { train, test })
}

/// One set as read, before checking.
pub struct RawSet {
    pub pixels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    pub labels: Vec<u8>,
    /// Where it came from ("mnist.npz: x_test, y_test"), for messages.
    pub origin: String,
}
