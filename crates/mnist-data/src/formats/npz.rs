//! Keras' `mnist.npz` layout: `x_train` (n, rows, cols) and `y_train` (n,), `x_test`, `y_test`
//! (the PyTorch tutorial's names `train_x`, `train_y`, `test_x`, `test_y` are read too),
//! all uint8. On reading, labels (and pixels) of any integer type are accepted when in range.

use std::fs;
use std::io::{Cursor, Read, Seek, Write};
use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar};
use zip::ZipArchive;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;

use super::{RawSet, Result, assemble, cause, invalid};
use crate::Mnist;

/// The array names, in the order Keras writes them.
pub const ARRAY_NAMES: [&str; 4] = ["x_train", "y_train", "x_test", "y_test"];

/// The same arrays as the PyTorch tutorial names them, also read.
pub const TUTORIAL_ARRAY_NAMES: [&str; 4] = ["train_x", "train_y", "test_x", "test_y"];

/// The most a deflate stream expands: 1032 bytes out for one byte in.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Values an array of a data set may hold: 1 GiB of pixels, twenty times MNIST's 70,000 images
/// of 784 pixels and more.
const MAX_VALUES: u64 = 1 << 30;

/// Reads an `.npz` file (the caller names it in errors about its content).
pub fn read(path: &Path) -> Result<Mnist> {
    let bytes = fs::read(path).map_err(|e| cause(format!("cannot read {}", path.display()), e))?;
    from_bytes(&bytes)
}

/// Reads the four arrays from the bytes of an `.npz` archive.
#[expect(clippy::missing_panics_doc, reason = "the branch runs only when an array is missing")]
pub fn from_bytes(bytes: &[u8]) -> Result<Mnist> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("not a NumPy .npz archive (a zip file): {e}")))?;
    let mut found: Vec<String> =
        archive.file_names().filter_map(npyz::npz::array_name_from_file_name).map(str::to_string).collect();
    found.sort();
    let has = |names: &[&str; 4]| names.iter().all(|name| found.iter().any(|f| f == name));
    let names = match (has(&ARRAY_NAMES), has(&TUTORIAL_ARRAY_NAMES)) {
        (true, _) => ARRAY_NAMES,
        (false, true) => TUTORIAL_ARRAY_NAMES,
        (false, false) => {
            // Name what is missing from the naming the archive comes closest to.
            let present = |names: &[&str; 4]| names.iter().filter(|name| found.iter().any(|f| f == *name)).count();
            let closest =
                if present(&TUTORIAL_ARRAY_NAMES) > present(&ARRAY_NAMES) { TUTORIAL_ARRAY_NAMES } else { ARRAY_NAMES };
            let missing = closest.iter().find(|name| !found.iter().any(|f| f == *name)).expect("one is missing");
            let has = if found.is_empty() { "none".to_string() } else { found.join(", ") };
            return Err(invalid(format!(
                "the archive has no {missing} array (it has: {has}); expected x_train, y_train, x_test, y_test \
                 (Keras) or train_x, train_y, test_x, test_y"
            )));
        }
    };
    let train = read_set(&mut archive, names[0], names[1])?;
    let test = read_set(&mut archive, names[2], names[3])?;
    assemble(train, test)
}

/// Reads the images `x_name` (count, rows, cols) and their labels `y_name` (count,).
fn read_set<R: Read + Seek>(archive: &mut ZipArchive<R>, x_name: &str, y_name: &str) -> Result<RawSet> {
    let (x_shape, pixels) = read_array(archive, x_name)?;
    let (y_shape, labels) = read_array(archive, y_name)?;
    let &[count, rows, cols] = x_shape.as_slice() else {
        return Err(invalid(format!(
            "{x_name} has shape {} but images must be 3-D (count, rows, cols)",
            shape_text(&x_shape)
        )));
    };
    let &[label_count] = y_shape.as_slice() else {
        return Err(invalid(format!(
            "{y_name} has shape {} but labels must be 1-D (count,), one class number per image",
            shape_text(&y_shape)
        )));
    };
    if count != label_count {
        return Err(invalid(format!("{x_name} holds {count} images but {y_name} holds {label_count} labels")));
    }
    Ok(RawSet { pixels, rows, cols, labels, origin: format!("{x_name}, {y_name}") })
}

/// `(60000, 28, 28)`, as NumPy prints shapes.
fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// An integer array as bytes in C order, each value checked to be 0..=255.
fn read_array<R: Read + Seek>(archive: &mut ZipArchive<R>, name: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = match archive.by_name(&npyz::npz::file_name_from_array_name(name)) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Err(invalid(format!("the archive has no {name} array"))),
        Err(error) => return Err(invalid(format!("array {name} cannot be read: {error}"))),
    };
    let stored_bytes = file.size();
    let compressed_bytes = file.compressed_size();
    let mut file = file;
    // nn-core's check keeps npyz from allocating a 4 GB header or overflowing on the shape.
    let header =
        nn_core::read_npy_header(&mut file).map_err(|e| invalid(format!("array {name} cannot be read: {e}")))?;
    let npy = NpyFile::new(std::io::Cursor::new(header).chain(file))
        .map_err(|e| invalid(format!("array {name} cannot be read: bad .npy header: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let order = npy.order();
    let type_str = match npy.dtype() {
        DType::Plain(type_str) => type_str,
        other => {
            return Err(invalid(format!(
                "array {name} has dtype {}; expected uint8 (or integers 0 to 255)",
                other.descr()
            )));
        }
    };
    let item_bytes = type_str.size_field();
    let integer = matches!(type_str.type_char(), TypeChar::Int | TypeChar::Uint) && matches!(item_bytes, 1 | 2 | 4 | 8);
    if !integer {
        let kind = match type_str.type_char() {
            TypeChar::Float => "floating-point numbers",
            _ => "not integers",
        };
        let hint =
            if name.starts_with('x') { "pixels must be uint8 0 to 255" } else { "labels must be integer classes" };
        return Err(invalid(format!("array {name} has dtype {type_str} ({kind}); {hint}")));
    }
    // Check the header against the stored size before allocating what it promises.
    let count = shape.iter().try_fold(1_u64, |n, &d| n.checked_mul(d as u64));
    let count = match count.filter(|n| n.checked_mul(item_bytes).is_some_and(|bytes| bytes <= stored_bytes)) {
        Some(count) => count,
        None => {
            return Err(invalid(format!(
                "array {name} cannot be read: its header promises shape {}, more than the {stored_bytes} bytes stored",
                shape_text(&shape)
            )));
        }
    };
    // The stored size is the archive's word for it; the compressed bytes bound what they can
    // inflate to, and a data set has a plausible size. Both checked before reading anything.
    let declared = count.saturating_mul(item_bytes);
    if declared > compressed_bytes.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
        return Err(invalid(format!(
            "array {name} cannot be read: it declares {declared} bytes, more than its {compressed_bytes} compressed \
             bytes can hold"
        )));
    }
    if count > MAX_VALUES {
        return Err(invalid(format!(
            "array {name} holds {count} values; the limit for a data set is {MAX_VALUES} (1 GiB of pixels)"
        )));
    }
    let bad = |e: std::io::Error| invalid(format!("array {name} cannot be read: {e}"));
    let unsigned = type_str.type_char() == TypeChar::Uint;
    let values: Vec<u8> = match (unsigned, item_bytes) {
        (true, 1) => {
            // Bytes as stored, read in one go (npyz reads value by value).
            let mut data = Vec::with_capacity(count as usize);
            npy.into_inner().take(count).read_to_end(&mut data).map_err(bad)?;
            if data.len() as u64 != count {
                return Err(invalid(format!(
                    "array {name} cannot be read: it ends after {} of its {count} values",
                    data.len()
                )));
            }
            data
        }
        (true, 2) => narrow(name, npy.into_vec::<u16>().map_err(bad)?)?,
        (true, 4) => narrow(name, npy.into_vec::<u32>().map_err(bad)?)?,
        (true, _) => narrow(name, npy.into_vec::<u64>().map_err(bad)?)?,
        (false, 1) => narrow(name, npy.into_vec::<i8>().map_err(bad)?)?,
        (false, 2) => narrow(name, npy.into_vec::<i16>().map_err(bad)?)?,
        (false, 4) => narrow(name, npy.into_vec::<i32>().map_err(bad)?)?,
        (false, _) => narrow(name, npy.into_vec::<i64>().map_err(bad)?)?,
    };
    let values = if order == Order::Fortran && shape.len() > 1 { fortran_to_c(&values, &shape) } else { values };
    Ok((shape, values))
}

/// Values of a wider integer type as bytes, refusing any outside 0..=255.
fn narrow<T: Copy + std::fmt::Display>(name: &str, values: Vec<T>) -> Result<Vec<u8>>
where
    u8: TryFrom<T>,
{
    values
        .iter()
        .enumerate()
        .map(|(index, &v)| {
            u8::try_from(v).map_err(|_| invalid(format!("array {name} holds {v} at index {index}, outside 0 to 255")))
        })
        .collect()
}

/// Reorders a column-major (Fortran) array into row-major (C) order.
fn fortran_to_c(values: &[u8], shape: &[usize]) -> Vec<u8> {
    let mut out = vec![0; values.len()];
    let mut index = vec![0_usize; shape.len()];
    for value in &mut out {
        // `index` runs through C order; its Fortran offset has the first dimension fastest.
        let mut offset = 0;
        for (i, &d) in index.iter().zip(shape).rev() {
            offset = offset * d + i;
        }
        *value = values[offset];
        for (i, &d) in index.iter_mut().zip(shape).rev() {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    out
}

/// The names of the four arrays of a written archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NpzNames {
    /// Keras' `mnist.npz`: `x_train`, `y_train`, `x_test`, `y_test`, labels as uint8.
    #[default]
    Keras,
    /// The PyTorch tutorial's: `train_x`, `train_y`, `test_x`, `test_y`, labels as int64 (what
    /// `np.array` makes of Python integers, and what PyTorch's cross-entropy takes).
    Tutorial,
}

impl NpzNames {
    /// Both namings, in the order the help lists them.
    pub const ALL: [NpzNames; 2] = [NpzNames::Keras, NpzNames::Tutorial];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            NpzNames::Keras => "keras",
            NpzNames::Tutorial => "tutorial",
        }
    }

    /// The array names: training images, training labels, test images, test labels.
    pub fn arrays(self) -> [&'static str; 4] {
        match self {
            NpzNames::Keras => ARRAY_NAMES,
            NpzNames::Tutorial => TUTORIAL_ARRAY_NAMES,
        }
    }
}

impl std::str::FromStr for NpzNames {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, Self::Err> {
        NpzNames::ALL
            .into_iter()
            .find(|names| names.name() == name)
            .ok_or_else(|| format!("unknown array names {name:?}: expected keras or tutorial"))
    }
}

/// The data as an `.npz` archive in Keras' layout, deflate-compressed like `np.savez_compressed`.
pub fn to_bytes(mnist: &Mnist) -> Result<Vec<u8>> {
    to_bytes_named(mnist, NpzNames::Keras)
}

/// The data as an `.npz` archive with the array names of `names`: images (n, rows, cols) as
/// uint8, labels (n,) as uint8 (Keras) or int64 (the tutorial), deflate-compressed.
pub fn to_bytes_named(mnist: &Mnist, names: NpzNames) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let [train_x, train_y, test_x, test_y] = names.arrays();
    for (set, x_name, y_name) in [(&mnist.train, train_x, train_y), (&mnist.test, test_x, test_y)] {
        let shape = [set.len() as u64, set.rows() as u64, set.cols() as u64];
        write_array(&mut zip, x_name, "|u1", &shape, set.pixels(), options)?;
        let labels: Vec<u8> = match names {
            NpzNames::Keras => set.labels().to_vec(),
            NpzNames::Tutorial => set.labels().iter().flat_map(|&label| i64::from(label).to_le_bytes()).collect(),
        };
        let descr = if names == NpzNames::Keras { "|u1" } else { "<i8" };
        write_array(&mut zip, y_name, descr, &[set.len() as u64], &labels, options)?;
    }
    let cursor = zip.finish().map_err(|e| cause("cannot finish the .npz archive", e))?;
    Ok(cursor.into_inner())
}

/// Appends one C-order `.npy` member of type `descr` whose values are the bytes `values`.
fn write_array<W: Write + Seek>(
    zip: &mut zip::ZipWriter<W>,
    name: &str,
    descr: &str,
    shape: &[u64],
    values: &[u8],
    options: SimpleFileOptions,
) -> Result<()> {
    let context = || format!("cannot write array {name}");
    // Zip64 only when a member needs it (over 4 GiB), so ordinary archives stay plain zip.
    let options = options.large_file(values.len() as u64 >= u64::from(u32::MAX) - 1024);
    zip.start_file(npyz::npz::file_name_from_array_name(name), options).map_err(|e| cause(context(), e))?;
    // One large write: npyz's element-by-element writer is slow through the zip compressor.
    zip.write_all(&npy_header(descr, shape)).and_then(|()| zip.write_all(values)).map_err(|e| cause(context(), e))
}

/// The header of a version 1.0 `.npy` file of `descr` in C order, padded to 64 bytes as NumPy
/// pads it: magic, version, header length, then the header dictionary and a newline.
fn npy_header(descr: &str, shape: &[u64]) -> Vec<u8> {
    let shape = match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.extend(std::iter::repeat_n(' ', unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}

#[cfg(test)]
mod tests {
    use npyz::{AutoSerialize, WriterBuilder};

    use super::*;

    /// Appends an array of any NumPy type, in C or Fortran order.
    fn add<T: AutoSerialize + Copy>(
        zip: &mut zip::ZipWriter<Cursor<Vec<u8>>>,
        name: &str,
        shape: &[u64],
        values: &[T],
        order: Order,
    ) {
        zip.start_file(format!("{name}.npy"), SimpleFileOptions::default()).unwrap();
        let mut writer = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(&mut *zip)
            .begin_nd()
            .unwrap();
        writer.extend(values.iter().copied()).unwrap();
        writer.finish().unwrap();
    }

    fn sample() -> Mnist {
        let train = Dataset::new((0..24).collect(), 2, 3, vec![0, 2, 1, 2], 3).unwrap();
        let test = Dataset::new((100..112).collect(), 2, 3, vec![1, 0], 3).unwrap();
        Mnist { train, test }
    }

    use crate::Dataset;

    #[test]
    fn writes_and_reads_back_the_same_data() {
        let mnist = sample();
        let bytes = to_bytes(&mnist).unwrap();
        assert_eq!(from_bytes(&bytes).unwrap(), mnist);
        assert_eq!(to_bytes(&mnist).unwrap(), bytes, "the same data gives the same bytes");
    }

    #[test]
    fn the_tutorial_names_hold_int64_labels_and_read_back() {
        let mnist = sample();
        let bytes = to_bytes_named(&mnist, NpzNames::Tutorial).unwrap();
        assert_eq!(from_bytes(&bytes).unwrap(), mnist);
        let mut archive = ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let mut names: Vec<String> = archive.file_names().map(str::to_string).collect();
        names.sort();
        assert_eq!(names, ["test_x.npy", "test_y.npy", "train_x.npy", "train_y.npy"]);
        let labels = NpyFile::new(archive.by_name("train_y.npy").unwrap()).unwrap();
        assert_eq!(labels.dtype().descr(), "'<i8'");
        assert_eq!(labels.into_vec::<i64>().unwrap(), [0, 2, 1, 2]);
        assert_eq!("tutorial".parse::<NpzNames>(), Ok(NpzNames::Tutorial));
        assert!("torch".parse::<NpzNames>().unwrap_err().contains("keras or tutorial"));
    }

    #[test]
    fn accepts_wider_integer_labels_and_fortran_order() {
        let mnist = sample();
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        // x_train stored column-major: element (i, r, c) at i + 4 * (r + 2 * c).
        let c_order = mnist.train.pixels();
        let mut fortran = vec![0_u8; 24];
        for i in 0..4 {
            for r in 0..2 {
                for c in 0..3 {
                    fortran[i + 4 * (r + 2 * c)] = c_order[i * 6 + r * 3 + c];
                }
            }
        }
        add(&mut zip, "x_train", &[4, 2, 3], &fortran, Order::Fortran);
        add(&mut zip, "y_train", &[4], &[0_i64, 2, 1, 2], Order::C);
        add(&mut zip, "x_test", &[2, 2, 3], mnist.test.pixels(), Order::C);
        add(&mut zip, "y_test", &[2], &[1_i32, 0], Order::C);
        let bytes = zip.finish().unwrap().into_inner();
        assert_eq!(from_bytes(&bytes).unwrap(), mnist);
    }

    fn archive_with(y_train: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mnist = sample();
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        add(&mut zip, "x_train", &[4, 2, 3], mnist.train.pixels(), Order::C);
        y_train(&mut zip);
        add(&mut zip, "x_test", &[2, 2, 3], mnist.test.pixels(), Order::C);
        add(&mut zip, "y_test", &[2], mnist.test.labels(), Order::C);
        zip.finish().unwrap().into_inner()
    }

    fn error(bytes: &[u8]) -> String {
        from_bytes(bytes).unwrap_err().to_string()
    }

    #[test]
    fn refuses_floats_out_of_range_values_and_wrong_shapes() {
        let floats = archive_with(|zip| add(zip, "y_train", &[4], &[0.0_f32, 2.0, 1.0, 2.0], Order::C));
        assert!(error(&floats).contains("y_train has dtype <f4 (floating-point numbers)"), "{}", error(&floats));
        let big = archive_with(|zip| add(zip, "y_train", &[4], &[0_i64, 2, 1, 256], Order::C));
        assert!(error(&big).contains("y_train holds 256 at index 3"), "{}", error(&big));
        let one_hot = archive_with(|zip| add(zip, "y_train", &[4, 1], &[0_u8, 2, 1, 2], Order::C));
        assert!(error(&one_hot).contains("y_train has shape (4, 1)"), "{}", error(&one_hot));
        let missing = archive_with(|_| {});
        assert!(error(&missing).contains("no y_train array (it has: x_test, x_train, y_test)"), "{}", error(&missing));
        let too_many_classes = archive_with(|zip| add(zip, "y_train", &[4], &[0_u8, 0, 0, 0], Order::C));
        assert!(error(&too_many_classes).contains("invalid test set"), "{}", error(&too_many_classes));
    }

    #[test]
    fn the_tutorial_names_are_read_too() {
        let mnist = sample();
        let archive = |names: [&str; 4]| {
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            add(&mut zip, names[0], &[4, 2, 3], mnist.train.pixels(), Order::C);
            add(&mut zip, names[1], &[4], mnist.train.labels(), Order::C);
            add(&mut zip, names[2], &[2, 2, 3], mnist.test.pixels(), Order::C);
            add(&mut zip, names[3], &[2], mnist.test.labels(), Order::C);
            from_bytes(&zip.finish().unwrap().into_inner())
        };
        assert_eq!(archive(TUTORIAL_ARRAY_NAMES).unwrap(), mnist);
        let error = archive(["train_x", "train_y", "tst_x", "test_y"]).unwrap_err().to_string();
        assert!(error.contains("no test_x array") && error.contains("train_x, train_y, test_x, test_y"), "{error}");
    }

    #[test]
    fn headers_are_valid_npy_headers() {
        for shape in [&[3_u64][..], &[2, 3, 4], &[1, 1]] {
            let values: Vec<u8> = (0..shape.iter().product::<u64>() as u8).collect();
            let mut npy = npy_header("|u1", shape);
            assert_eq!(npy.len() % 64, 0, "NumPy pads the header to 64 bytes");
            npy.extend_from_slice(&values);
            let file = NpyFile::new(&npy[..]).unwrap();
            assert_eq!(file.shape(), shape);
            assert_eq!(file.order(), Order::C);
            assert_eq!(file.dtype().descr(), "'|u1'");
            assert_eq!(file.into_vec::<u8>().unwrap(), values);
        }
    }

    #[test]
    fn fortran_order_is_brought_back_to_c_order() {
        // [[0, 1, 2], [3, 4, 5]] stored column by column.
        assert_eq!(fortran_to_c(&[0, 3, 1, 4, 2, 5], &[2, 3]), vec![0, 1, 2, 3, 4, 5]);
    }
}
