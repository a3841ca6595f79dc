//! NumPy `.npz` interop in Saitō's layout: `W1, b1, W2, b2, ...` for the layers with parameters,
//! dense kernels as inputs × outputs (the `x @ W + b` convention), convolution kernels as
//! `(out_channels, in_channels, kh, kw)` (PyTorch's `Conv2d`). How the arrays become a network
//! is `named_arrays.rs`'s, shared with the pickle reader; this file reads and writes the archive.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};
use thiserror::Error;
use zip::ZipArchive;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;

use crate::atomic_write::write_atomically;
use crate::named_arrays::{Array, MAX_ARRAY_VALUES, NamedArrays, dense_network, fortran_to_c, network_of_architecture};
use crate::npz_error::{NpzError, tuple};
use crate::{Activation, Architecture, Conv2d, Dense, Loss, Network};

/// The most a deflate stream expands: 1032 bytes out for one byte in.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Bytes a `.npy` header may take. NumPy writes a few hundred and its own reader refuses more
/// than 10,000 by default; npyz would allocate whatever the 32-bit length says.
const MAX_HEADER_BYTES: usize = 10_000;

/// Brackets a `.npy` header may nest: a dtype and a shape need three; more would only make the
/// header's parser recurse.
const MAX_HEADER_DEPTH: usize = 16;

/// Reads a network from a `.npz` file; see [`network_from_npz_bytes`].
pub fn import_npz(path: impl AsRef<Path>, hidden: Activation, loss: Loss) -> Result<Network, NpzError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| NpzError::Read { path: path.to_path_buf(), source })?;
    network_from_npz_bytes(&bytes, hidden, loss)
}

/// Builds a network from the bytes of a `.npz` archive holding `W1..Wn` and `b1..bn`.
///
/// `Wk` has shape `inputs × outputs` (NumPy's `x @ W + b`, Keras Dense kernels), float32 or
/// float64, C or Fortran order; `bk` has shape `(outputs,)` or `(1, outputs)`. The archive does
/// not say which functions the network uses, so the caller does: `hidden` follows every layer
/// but the last, whose outputs go through the output function of `loss`. Other arrays are
/// ignored.
pub fn network_from_npz_bytes(bytes: &[u8], hidden: Activation, loss: Loss) -> Result<Network, NpzError> {
    dense_network(&mut NpzArrays::new(bytes)?, hidden, loss)
}

/// Reads a network of the given architecture from a `.npz` file; see
/// [`network_from_npz_bytes_with_architecture`].
pub fn import_npz_with_architecture(
    path: impl AsRef<Path>,
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, NpzError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| NpzError::Read { path: path.to_path_buf(), source })?;
    network_from_npz_bytes_with_architecture(&bytes, architecture, loss)
}

/// Builds a network of `architecture` from the bytes of a `.npz` archive in Saitō's layout:
/// `W1, b1, W2, b2, ...` for the layers with parameters, in order. A convolution's `Wk` is
/// `(filters, channels, kh, kw)` (PyTorch's and Saitō's kernels), a dense layer's `(inputs,
/// outputs)`; `bk` is `(outputs,)` or `(1, outputs)`; float32 or float64. Each array is checked
/// against the shape the architecture needs, and the error names the array, the shape found and
/// the shape expected.
pub fn network_from_npz_bytes_with_architecture(
    bytes: &[u8],
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, NpzError> {
    network_of_architecture(&mut NpzArrays::new(bytes)?, architecture, loss)
}

/// The arrays of an `.npz` archive, each read when asked for.
struct NpzArrays<'a> {
    archive: ZipArchive<Cursor<&'a [u8]>>,
    /// The length of the whole archive, which bounds what any member holds.
    len: usize,
}

impl<'a> NpzArrays<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, NpzError> {
        let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| NpzError::NotAnArchive(e.to_string()))?;
        Ok(NpzArrays { archive, len: bytes.len() })
    }
}

impl NamedArrays for NpzArrays<'_> {
    fn names(&self) -> BTreeSet<String> {
        self.archive.file_names().filter_map(npyz::npz::array_name_from_file_name).map(str::to_string).collect()
    }

    fn read(
        &mut self,
        name: &str,
        check: impl FnOnce(&[u64]) -> Result<(), NpzError>,
    ) -> Result<Option<Array>, NpzError> {
        read_array(&mut self.archive, name, self.len, check)
    }
}

/// The named array, or `None` if the archive lacks it. `check` sees the shape its header
/// declares before anything else is read; `archive_bytes` is the length of the whole archive.
fn read_array(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    archive_bytes: usize,
    check: impl FnOnce(&[u64]) -> Result<(), NpzError>,
) -> Result<Option<Array>, NpzError> {
    let bad = |detail: String| NpzError::BadArray { name: name.to_string(), detail };
    let mut file = match archive.by_name(&npyz::npz::file_name_from_array_name(name)) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(error) => return Err(bad(error.to_string())),
    };
    let stored_bytes = file.size();
    // The archive's sizes are its own word; what it holds for this member is bounded by its length.
    let compressed_bytes = file.compressed_size().min(archive_bytes as u64);
    let header = checked_header(&mut file).map_err(bad)?;
    let npy = NpyFile::new(Cursor::new(header).chain(file)).map_err(|e| bad(format!("bad .npy header: {e}")))?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let type_str = match npy.dtype() {
        DType::Plain(type_str) => type_str,
        other => return Err(NpzError::UnsupportedDtype { name: name.to_string(), dtype: other.descr() }),
    };
    let item_bytes = type_str.size_field();
    if type_str.type_char() != TypeChar::Float || !matches!(item_bytes, 4 | 8) {
        return Err(NpzError::UnsupportedDtype { name: name.to_string(), dtype: type_str.to_string() });
    }
    check(&shape)?;
    let count = check_size(name, &shape, item_bytes, stored_bytes, compressed_bytes)?;
    let too_short =
        |read: usize| bad(format!("it holds {read} values, not the {count} of its shape {}", tuple(&shape)));
    // Values are converted as they are read: an f64 array never exists whole.
    let mut values = Vec::with_capacity(count as usize);
    if item_bytes == 4 {
        let data = npy.data::<f32>().map_err(|e| bad(e.to_string()))?;
        for value in data {
            values.push(value.map_err(|e| bad(e.to_string()))?);
        }
    } else {
        let data = npy.data::<f64>().map_err(|e| bad(e.to_string()))?;
        for value in data {
            values.push(value.map_err(|e| bad(e.to_string()))? as f32);
        }
    }
    if values.len() as u64 != count {
        return Err(too_short(values.len()));
    }
    let values = match order {
        // Fortran order stores the axes reversed (a 2-D array transposed): back to C order.
        Order::Fortran if shape.len() > 1 => fortran_to_c(&shape, &values),
        _ => values,
    };
    Ok(Some((shape, values)))
}

/// The values of `shape`, once its bytes are known to fit what the archive stores for it
/// (`stored` as it says, `compressed` inflated at most [`MAX_DEFLATE_RATIO`] times) and
/// [`MAX_ARRAY_VALUES`]: checked before anything is allocated for them.
fn check_size(name: &str, shape: &[u64], item_bytes: u64, stored: u64, compressed: u64) -> Result<u64, NpzError> {
    let count = shape.iter().try_fold(1_u64, |n, &d| n.checked_mul(d));
    let declared = count.and_then(|n| n.checked_mul(item_bytes));
    if declared.is_none_or(|bytes| bytes > stored) {
        let detail = format!("its header promises shape {}, more than the {stored} bytes stored", tuple(shape));
        return Err(NpzError::BadArray { name: name.to_string(), detail });
    }
    let declared = declared.unwrap_or(u64::MAX);
    // 1 KiB of slack: a deflate stream of a few bytes may still inflate to a small array.
    if declared > compressed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
        return Err(NpzError::Inflation { name: name.to_string(), shape: shape.to_vec(), declared, compressed });
    }
    match count {
        Some(count) if count <= MAX_ARRAY_VALUES => Ok(count),
        values => Err(NpzError::TooManyValues {
            name: name.to_string(),
            shape: shape.to_vec(),
            values,
            limit: MAX_ARRAY_VALUES,
        }),
    }
}

/// A `.npy` header that is not safe to hand to a parser: longer than a few kilobytes, nested too
/// deep, or declaring more values than 64 bits count.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct NpyHeaderError(String);

/// Reads the header of one `.npy` array (magic, version, length and text) from `reader`,
/// refusing one that npyz could not parse safely (it allocates what the length field says and
/// multiplies the shape unchecked). Give npyz `Cursor::new(header).chain(reader)`; a header
/// that is not `.npy` at all is returned as read, for npyz to say why.
pub fn read_npy_header(reader: &mut impl Read) -> Result<Vec<u8>, NpyHeaderError> {
    checked_header(reader).map_err(NpyHeaderError)
}

/// The magic, version, length and text of a `.npy` header, read from `file` and checked so that
/// npyz can parse them safely: a length within [`MAX_HEADER_BYTES`], brackets nested at most
/// [`MAX_HEADER_DEPTH`] deep, and integers whose product fits 64 bits (npyz multiplies the
/// shape's dimensions unchecked, which overflows in a debug build).
fn checked_header(file: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut header = Vec::with_capacity(128);
    file.by_ref().take(12).read_to_end(&mut header).map_err(|e| format!("bad .npy header: {e}"))?;
    let (length, start) = match header.get(6) {
        Some(1) if header.len() >= 10 => (u64::from(u16::from_le_bytes([header[8], header[9]])), 10),
        Some(2 | 3) if header.len() >= 12 => {
            (u64::from(u32::from_le_bytes([header[8], header[9], header[10], header[11]])), 12)
        }
        // Not a header npyz reads: it says why.
        _ => return Ok(header),
    };
    if length > MAX_HEADER_BYTES as u64 {
        return Err(format!("its .npy header is {length} bytes; the limit is {MAX_HEADER_BYTES}"));
    }
    let wanted = start + length as usize;
    let more = wanted.saturating_sub(header.len()) as u64;
    file.take(more).read_to_end(&mut header).map_err(|e| format!("bad .npy header: {e}"))?;
    let text = header.get(start..wanted).unwrap_or(&[]);
    let mut depth = 0_usize;
    for &byte in text {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_HEADER_DEPTH {
            return Err(format!("its .npy header nests brackets more than {MAX_HEADER_DEPTH} deep"));
        }
    }
    // Every integer of the header, the shape's among them: if their product fits, so does
    // the shape's (zeros count as ones, for npyz multiplies in order).
    let fits = integers(text).try_fold(1_u64, |product, n| product.checked_mul(n?.max(1)));
    if fits.is_none() {
        return Err("its .npy header declares a shape of more values than 64 bits count".to_string());
    }
    Ok(header)
}

/// The value of every integer literal of `text` as Python writes them (`12`, `1_000`, `0x1f`,
/// `0o7`, `0b1`), `None` for one beyond 64 bits. Integers inside strings count too, which only
/// makes the caller more careful; floats (`1e9`, `2.5`) and words are skipped.
fn integers(text: &[u8]) -> impl Iterator<Item = Option<u64>> + '_ {
    text.split(|b| !(b.is_ascii_alphanumeric() || *b == b'_')).filter_map(|token| {
        let (radix, digits) = match token {
            [b'0', b'x' | b'X', rest @ ..] => (16, rest),
            [b'0', b'o' | b'O', rest @ ..] => (8, rest),
            [b'0', b'b' | b'B', rest @ ..] => (2, rest),
            [b'0'..=b'9', ..] => (10, token),
            _ => return None,
        };
        let digits: Option<Vec<u32>> =
            digits.iter().filter(|&&b| b != b'_').map(|&b| (b as char).to_digit(radix)).collect();
        let digits = digits?;
        Some(digits.iter().try_fold(0_u64, |n, &d| n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))))
    })
}

/// Writes the network as a `.npz` NumPy reads with `np.load`; see [`network_to_npz_bytes`].
pub fn export_npz(network: &Network, path: impl AsRef<Path>) -> Result<(), NpzError> {
    let path = path.as_ref();
    let bytes = network_to_npz_bytes(network)?;
    write_atomically(path, &bytes).map_err(|source| NpzError::Write { path: path.to_path_buf(), source })
}

/// The network as `.npz` bytes in Saitō's layout: for each layer with parameters, in order, a
/// float32 `Wk` (dense: `inputs × outputs`, so that `x @ W1 + b1` reproduces it in NumPy;
/// convolution: `(filters, channels, kh, kw)`) and `bk` of shape `(outputs,)`, uncompressed like
/// `np.savez`; a network that standardises its inputs adds `input_mean` and `input_deviation`
/// of shape `(inputs,)`, for `x = (x - input_mean) / input_deviation` before `W1`. The architecture is not stored: the reader names it, as with
/// [`network_from_npz_bytes_with_architecture`].
pub fn network_to_npz_bytes(network: &Network) -> Result<Vec<u8>, NpzError> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut k = 0;
    for (index, layer) in network.layers().iter().enumerate() {
        if layer.parameters().is_empty() {
            continue;
        }
        k += 1;
        let (weights_shape, weights, bias) = if let Some(dense) = layer.as_any().downcast_ref::<Dense>() {
            let (outputs, inputs) = dense.weights().shape();
            (vec![inputs as u64, outputs as u64], dense.weights().as_slice().to_vec(), dense.bias())
        } else if let Some(conv) = layer.as_any().downcast_ref::<Conv2d>() {
            let shape = conv.params().channels_first_kernel_shape().map(|d| d as u64).to_vec();
            (shape, conv.weights_channels_first(), conv.bias())
        } else {
            return Err(NpzError::UnsupportedLayer { layer: index, kind: layer.kind() });
        };
        write_array(&mut zip, &format!("W{k}"), &weights_shape, &weights, options)?;
        write_array(&mut zip, &format!("b{k}"), &[bias.len() as u64], bias.as_slice(), options)?;
    }
    if let Some(standardization) = network.standardization() {
        let features = [standardization.features() as u64];
        let [mean, deviation] = crate::named_arrays::STANDARDIZATION_ARRAYS;
        write_array(&mut zip, mean, &features, standardization.mean(), options)?;
        write_array(&mut zip, deviation, &features, standardization.deviation(), options)?;
    }
    let cursor = zip.finish().map_err(|e| NpzError::Write { path: PathBuf::new(), source: e.into() })?;
    Ok(cursor.into_inner())
}

/// Appends one float32 C-order `.npy` member to the archive.
fn write_array<W: Write + std::io::Seek>(
    zip: &mut zip::ZipWriter<W>,
    name: &str,
    shape: &[u64],
    values: &[f32],
    options: SimpleFileOptions,
) -> Result<(), NpzError> {
    let io_error = |source: std::io::Error| NpzError::Write { path: PathBuf::from(name), source };
    zip.start_file(npyz::npz::file_name_from_array_name(name), options).map_err(|e| io_error(e.into()))?;
    let mut writer =
        npyz::WriteOptions::<f32>::new().default_dtype().shape(shape).writer(&mut *zip).begin_nd().map_err(io_error)?;
    writer.extend(values.iter().copied()).map_err(io_error)?;
    writer.finish().map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bounded_by_the_stored_bytes_the_compressed_bytes_and_an_absolute_cap() {
        let error = check_size("W1", &[1 << 15, 1 << 14], 4, u64::MAX, u64::MAX).unwrap_err();
        assert!(matches!(error, NpzError::TooManyValues { values: Some(0x2000_0000), .. }), "{error}");
        assert_eq!(
            error.to_string(),
            "array W1 has shape (32768, 16384), 536870912 values; the limit for weights is 268435456 values"
        );
        let error = check_size("b1", &[1000], 8, 8000, 6).unwrap_err();
        assert_eq!(
            error.to_string(),
            "array b1 cannot be read: its shape (1000,) declares 8000 bytes, more than its 6 compressed bytes can hold"
        );
        assert_eq!(check_size("b1", &[0, 5], 4, 0, 0).unwrap(), 0);
        assert!(matches!(check_size("b1", &[u64::MAX, 2], 4, u64::MAX, u64::MAX), Err(NpzError::BadArray { .. })));
        assert_eq!(check_size("b1", &[10, 3], 4, 120, 1).unwrap(), 30);
    }

    #[test]
    fn every_integer_of_a_header_is_counted() {
        let read = |text: &str| integers(text.as_bytes()).collect::<Vec<_>>();
        assert_eq!(
            read("{'descr': '<f4', 'shape': (3, 1_000, 0x10, 0o7, 0b11), 2.5, 1e9}"),
            [Some(3), Some(1000), Some(16), Some(7), Some(3), Some(2), Some(5)]
        );
        assert_eq!(read("(18446744073709551616,)"), [None]);
    }
}
