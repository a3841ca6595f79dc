//! A folder of PNG images: `train_x/00001.png, 00002.png, ...` with `train_y.json`, a JSON list
//! of their labels in the same order, and `test_x/` with `test_y.json`. A label file may also be
//! a JSON object naming each image, `{"a.png": 7, "b.png": 2}`: then the images may have any
//! names, each must have a label and each label an image, and they are read in the order of
//! their names (byte order).
//!
//! Images are written as 8-bit grey PNGs, pixel for pixel (0 background, 255 ink), numbered
//! from 1 with at least five digits (more when a set has 100,000 images or more). On reading,
//! an image that is not 8-bit grey is converted to it: colour by luminance (the `image` crate's
//! Rec. 709 weights), 16-bit values scaled to 8 bits, and any alpha channel dropped.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageFormat};
use rayon::prelude::*;

use super::{RawSet, Result, assemble, cause, invalid};
use crate::atomic_write::write_atomically;
use crate::{Dataset, Mnist};

/// The two sets, by the prefix of their folder and label file.
const SETS: [&str; 2] = ["train", "test"];

/// Whether `name` is an entry this form writes at the top of its folder.
pub fn writes(name: &str) -> bool {
    SETS.iter().any(|set| name == format!("{set}_x") || name == format!("{set}_y.json"))
}

/// Whether `dir` has any of the entries of a PNG folder.
pub fn looks_like(dir: &Path) -> bool {
    SETS.iter().any(|set| dir.join(format!("{set}_x")).exists() || dir.join(format!("{set}_y.json")).exists())
}

/// Reads a PNG folder; every error names the file or folder at fault.
pub fn read(dir: &Path) -> Result<Mnist> {
    let train = read_set(dir, "train")?;
    let test = read_set(dir, "test")?;
    assemble(train, test)
}

fn read_set(dir: &Path, set: &str) -> Result<RawSet> {
    let images_dir = dir.join(format!("{set}_x"));
    let labels_path = dir.join(format!("{set}_y.json"));
    let (files, labels) = match read_labels(&labels_path)? {
        Labels::InOrder(labels) => {
            let files = numbered_pngs(&images_dir)?;
            if files.len() != labels.len() {
                return Err(invalid(format!(
                    "{} holds {} images but {} has {} labels",
                    images_dir.display(),
                    files.len(),
                    labels_path.display(),
                    labels.len()
                )));
            }
            (files, labels)
        }
        Labels::ByName(by_name) => named_pngs(&images_dir, &labels_path, by_name)?,
    };
    if files.is_empty() {
        return Err(invalid(format!("{} holds no images", images_dir.display())));
    }
    let images: Vec<Result<GrayImage>> = files.par_iter().map(|path| read_png(path)).collect();
    let mut pixels = Vec::new();
    let mut size = None;
    for (path, image) in files.iter().zip(images) {
        let image = image?;
        let (width, height) = image.dimensions();
        let &mut (first_width, first_height) = size.get_or_insert((width, height));
        if (width, height) != (first_width, first_height) {
            return Err(invalid(format!(
                "{} is {width}x{height} pixels but {} is {first_width}x{first_height}; every image must have the same size",
                path.display(),
                files[0].display()
            )));
        }
        if pixels.is_empty() {
            pixels.reserve(files.len() * image.as_raw().len());
        }
        pixels.extend_from_slice(image.as_raw());
    }
    let (cols, rows) = size.expect("at least one image");
    let origin = format!("{}, {}", images_dir.display(), labels_path.display());
    Ok(RawSet { pixels, rows: rows as usize, cols: cols as usize, labels, origin })
}

/// The labels of a set, as its label file gives them.
enum Labels {
    /// A JSON list: the labels of `00001.png, 00002.png, ...` in order.
    InOrder(Vec<u8>),
    /// A JSON object: each image's label by its file name, in name order.
    ByName(Vec<(String, u8)>),
}

/// A JSON list of labels 0..=255, or an object of them by file name.
fn read_labels(path: &Path) -> Result<Labels> {
    let text = fs::read_to_string(path).map_err(|e| cause(format!("cannot read {}", path.display()), e))?;
    let label = |v: i64, at: &dyn std::fmt::Display| {
        u8::try_from(v).map_err(|_| invalid(format!("{}: label {v} at {at} is outside 0 to 255", path.display())))
    };
    if text.trim_start().starts_with('{') {
        let values: std::collections::BTreeMap<String, i64> = serde_json::from_str(&text)
            .map_err(|e| cause(format!("{} is not a JSON object of integer labels by file name", path.display()), e))?;
        let labels = values.into_iter().map(|(name, v)| Ok((name.clone(), label(v, &format!("{name:?}"))?)));
        return labels.collect::<Result<_>>().map(Labels::ByName);
    }
    let values: Vec<i64> = serde_json::from_str(&text)
        .map_err(|e| cause(format!("{} is not a JSON list of integer labels", path.display()), e))?;
    let labels = values.iter().enumerate().map(|(index, &v)| label(v, &format!("index {index}")));
    labels.collect::<Result<_>>().map(Labels::InOrder)
}

/// The images named by a label object, in name order, with their labels: every PNG of `dir`
/// must be named (hidden files are ignored), and every name must be a file of `dir`.
fn named_pngs(dir: &Path, labels_path: &Path, by_name: Vec<(String, u8)>) -> Result<(Vec<PathBuf>, Vec<u8>)> {
    let entries = fs::read_dir(dir).map_err(|e| cause(format!("cannot read {}", dir.display()), e))?;
    let mut present = std::collections::BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| cause(format!("cannot read {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            present.insert(name);
        }
    }
    let mut files = Vec::with_capacity(by_name.len());
    let mut labels = Vec::with_capacity(by_name.len());
    for (name, label) in by_name {
        if !present.remove(&name) {
            return Err(invalid(format!(
                "{} gives a label to {name:?}, but {} has no such file",
                labels_path.display(),
                dir.display()
            )));
        }
        files.push(dir.join(&name));
        labels.push(label);
    }
    if let Some(unlabelled) = present.first() {
        return Err(invalid(format!(
            "{} has no label for {} ({} images without one)",
            labels_path.display(),
            dir.join(unlabelled).display(),
            present.len()
        )));
    }
    Ok((files, labels))
}

/// The PNG files of `dir` in number order, checking they are numbered 1, 2, ... without gaps.
/// Hidden files (`.DS_Store`) are ignored; anything else is an error.
fn numbered_pngs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| cause(format!("cannot read {}", dir.display()), e))?;
    let mut numbered = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| cause(format!("cannot read {}", dir.display()), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let number = name
            .strip_suffix(".png")
            .or_else(|| name.strip_suffix(".PNG"))
            .filter(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|stem| stem.parse::<usize>().ok());
        let Some(number) = number else {
            return Err(invalid(format!(
                "{}: unexpected entry; the folder must hold only numbered images 00001.png, 00002.png, ...",
                entry.path().display()
            )));
        };
        numbered.push((number, entry.path()));
    }
    numbered.sort();
    if let Some(pair) = numbered.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(invalid(format!("{} and {} have the same number", pair[0].1.display(), pair[1].1.display())));
    }
    for (expected, (number, _)) in (1..).zip(&numbered) {
        if *number != expected {
            return Err(invalid(format!(
                "{}: image number {expected} is missing (images are numbered from 1 without gaps: 00001.png, 00002.png, ...)",
                dir.display()
            )));
        }
    }
    Ok(numbered.into_iter().map(|(_, path)| path).collect())
}

/// Decodes a PNG as 8-bit grey (converting other kinds by the rule in the module doc).
fn read_png(path: &Path) -> Result<GrayImage> {
    let bytes = fs::read(path).map_err(|e| cause(format!("cannot read {}", path.display()), e))?;
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
        .map_err(|e| cause(format!("{} is not a readable PNG image", path.display()), e))?;
    Ok(match image {
        DynamicImage::ImageLuma8(grey) => grey,
        other => other.to_luma8(),
    })
}

/// The name of image `number` (from 1) in a set of `count` images: `00001.png`.
pub fn file_name(number: usize, count: usize) -> String {
    let digits = count.to_string().len().max(5);
    format!("{number:0digits$}.png")
}

/// Writes both sets into `dir`, which exists and is empty.
pub fn write(mnist: &Mnist, dir: &Path) -> Result<()> {
    for (set, name) in [(&mnist.train, "train"), (&mnist.test, "test")] {
        write_set(set, &dir.join(format!("{name}_x")))?;
        let mut json = serde_json::to_vec(set.labels()).map_err(|e| cause("cannot encode the labels", e))?;
        json.push(b'\n');
        let path = dir.join(format!("{name}_y.json"));
        write_atomically(&path, &json).map_err(|e| cause(format!("cannot write {}", path.display()), e))?;
    }
    Ok(())
}

fn write_set(set: &Dataset, images_dir: &Path) -> Result<()> {
    fs::create_dir(images_dir).map_err(|e| cause(format!("cannot create {}", images_dir.display()), e))?;
    let (width, height) = (set.cols() as u32, set.rows() as u32);
    (0..set.len()).into_par_iter().try_for_each(|i| {
        let image = set.get(i).expect("index below len");
        let path = images_dir.join(file_name(i + 1, set.len()));
        let grey = GrayImage::from_raw(width, height, image.pixels.to_vec()).expect("pixels fit the image size");
        let mut png = Vec::new();
        grey.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .map_err(|e| cause(format!("cannot encode {}", path.display()), e))?;
        // The whole folder is renamed into place at the end, so plain writes are enough here.
        fs::write(&path, png).map_err(|e| cause(format!("cannot write {}", path.display()), e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, value: u8) {
        let image = GrayImage::from_raw(2, 2, vec![value; 4]).unwrap();
        image.save_with_format(path, ImageFormat::Png).unwrap();
    }

    #[test]
    fn labels_by_file_name_take_any_names_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for set in ["train", "test"] {
            fs::create_dir(dir.path().join(format!("{set}_x"))).unwrap();
        }
        png(&dir.path().join("train_x/seven.png"), 70);
        png(&dir.path().join("train_x/a-two.png"), 20);
        png(&dir.path().join("test_x/x.png"), 10);
        fs::write(dir.path().join("train_y.json"), r#"{"seven.png": 7, "a-two.png": 2}"#).unwrap();
        fs::write(dir.path().join("test_y.json"), r#"{"x.png": 1}"#).unwrap();
        let mnist = read(dir.path()).unwrap();
        assert_eq!(mnist.train.labels(), [2, 7]);
        assert_eq!(mnist.train.pixels()[..4], [20; 4]);
        assert_eq!(mnist.train.pixels()[4..], [70; 4]);

        fs::write(dir.path().join("train_y.json"), r#"{"seven.png": 7, "a-two.png": 2, "gone.png": 1}"#).unwrap();
        let error = read(dir.path()).unwrap_err().to_string();
        assert!(error.contains("\"gone.png\"") && error.contains("no such file"), "{error}");
        fs::write(dir.path().join("train_y.json"), r#"{"seven.png": 7}"#).unwrap();
        let error = read(dir.path()).unwrap_err().to_string();
        assert!(error.contains("has no label for") && error.contains("a-two.png"), "{error}");
        fs::write(dir.path().join("train_y.json"), r#"{"seven.png": 7, "a-two.png": 300}"#).unwrap();
        let error = read(dir.path()).unwrap_err().to_string();
        assert!(error.contains("label 300 at \"a-two.png\" is outside 0 to 255"), "{error}");
    }

    #[test]
    fn names_have_at_least_five_digits() {
        assert_eq!(file_name(1, 100), "00001.png");
        assert_eq!(file_name(60_000, 60_000), "60000.png");
        assert_eq!(file_name(7, 123_456), "000007.png");
    }
}
