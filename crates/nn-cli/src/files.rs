//! Writing files the way every command does: whole or not at all.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mnist_data::FILE_NAMES;

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so a reader
/// never sees half a file and a failure leaves any old file untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Readable by others like any file the user writes (tempfile's default is owner-only).
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp =
        builder.tempfile_in(dir).with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // The error itself, not tempfile's wrapper, which would say the reason a second time.
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    // Where directories can be synced, this makes the rename itself durable; best effort.
    let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// Refuses, before any work, an output `path` that cannot be written: a directory, or a place
/// where no file can be created (its folder is a file, or is read-only). Creates the folder
/// if it is missing, as the later write would.
pub fn check_can_write(what: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{what} {} is a directory: give a file name", path.display());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder of {what} {}", path.display()))?;
    tempfile::Builder::new().tempfile_in(dir).with_context(|| {
        format!("cannot write {what} {}: no file can be created in {}", path.display(), dir.display())
    })?;
    Ok(())
}

/// `error`, said to concern `path` ("cannot read PATH: ...") unless its message already names it.
pub fn naming_file<E: std::error::Error + Send + Sync + 'static>(error: E, path: &Path) -> anyhow::Error {
    let shown = path.display().to_string();
    if error.to_string().contains(&shown) {
        anyhow::Error::new(error)
    } else {
        anyhow::Error::new(error).context(format!("cannot read {shown}"))
    }
}

/// Refuses, before any work, a PNG output whose name does not end in `.png` (any case): the
/// bytes would be a PNG under another format's name. `what` names the output ("the picture").
pub fn refuse_non_png(what: &str, path: &Path) -> Result<()> {
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        bail!("{}: {what} is written as a PNG, so its name must end in .png", path.display());
    }
    Ok(())
}

/// Encodes grey pixels as a PNG and writes it atomically.
pub fn write_png(path: &Path, width: u32, height: u32, pixels: Vec<u8>) -> Result<()> {
    let image =
        image::GrayImage::from_raw(width, height, pixels).context("pixel buffer does not match the image size")?;
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).context("cannot encode the PNG")?;
    write_atomically(path, &png)
}

/// A short human size: "9.7 MB".
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} bytes"),
    }
}

/// Refuses, before any work starts, an output path that names one of the command's inputs: the
/// input would be replaced while it is read, and lost. `outputs` and `inputs` are `(what, path)`
/// pairs, `what` naming the file in the message ("the model", "the data set").
///
/// Two paths clash when they name the same existing file, through links too; an input that is a
/// directory of MNIST IDX files clashes with an output that is one of those files. An output
/// that does not exist yet clashes with nothing.
pub fn refuse_output_over_inputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    for &(output_name, output) in outputs {
        for &(input_name, input) in inputs {
            let read_files: Vec<PathBuf> = if input.is_dir() {
                FILE_NAMES.iter().flat_map(|name| [input.join(name), input.join(format!("{name}.gz"))]).collect()
            } else {
                vec![input.to_path_buf()]
            };
            if read_files.iter().any(|read| same_file(output, read)) {
                bail!(
                    "{} is {input_name} this command reads ({}); writing {output_name} there would destroy it: \
                     choose another path",
                    output.display(),
                    input.display()
                );
            }
        }
    }
    Ok(())
}

/// Refuses two outputs of one command at the same path (`--metrics` naming the model): the
/// second written would replace the first.
pub fn refuse_shared_outputs(outputs: &[(&str, &Path)]) -> Result<()> {
    for (i, &(first_name, first)) in outputs.iter().enumerate() {
        for &(second_name, second) in &outputs[i + 1..] {
            let same_path =
                matches!((std::path::absolute(first), std::path::absolute(second)), (Ok(a), Ok(b)) if a == b);
            if same_path || same_file(first, second) {
                bail!("{} would be both {first_name} and {second_name}: give them different paths", first.display());
            }
        }
    }
    Ok(())
}

/// Whether two paths name the same existing file: the same canonical path, or on Unix the same
/// device and inode (a hard link).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(a_meta), Ok(b_meta)) = (fs::metadata(a), fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (a_meta.dev(), a_meta.ino()) == (b_meta.dev(), b_meta.ino()) {
            return true;
        }
    }
    let _ = (a_meta, b_meta);
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}
