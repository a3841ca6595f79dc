//! Which kind of weight file some bytes are, from their first bytes alone, so that a program
//! handed the wrong kind can say which kind it is instead of failing to parse it.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The kinds of weight files nn-core reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightsFormat {
    /// A zip archive, as NumPy's `.npz` is (`PK\x03\x04`, or `PK\x05\x06` when empty).
    Npz,
    /// A Python pickle of protocol 2 to 5 (`\x80` and the protocol).
    Pickle,
    /// A safetensors file: the length of its JSON header (8 bytes, little-endian) that the file
    /// can hold, then `{`.
    Safetensors,
}

impl WeightsFormat {
    /// The kind of file whose first bytes are `head` (16 are enough) and whose length is
    /// `file_len`, or `None` if it is none of them.
    pub fn sniff(head: &[u8], file_len: u64) -> Option<WeightsFormat> {
        match head {
            [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Some(WeightsFormat::Npz),
            [0x80, 2..=5, ..] => Some(WeightsFormat::Pickle),
            [l0, l1, l2, l3, l4, l5, l6, l7, b'{', ..] => {
                let header = u64::from_le_bytes([*l0, *l1, *l2, *l3, *l4, *l5, *l6, *l7]);
                (header >= 2 && header <= file_len.saturating_sub(8)).then_some(WeightsFormat::Safetensors)
            }
            _ => None,
        }
    }

    /// The kind of the file at `path`, reading its first 16 bytes.
    pub fn sniff_file(path: impl AsRef<Path>) -> io::Result<Option<WeightsFormat>> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = Vec::with_capacity(16);
        file.by_ref().take(16).read_to_end(&mut head)?;
        Ok(WeightsFormat::sniff(&head, len))
    }
}

impl fmt::Display for WeightsFormat {
    /// "a Python pickle", "a zip archive (as an .npz is)", "a safetensors file".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightsFormat::Npz => "a zip archive (as an .npz is)",
            WeightsFormat::Pickle => "a Python pickle",
            WeightsFormat::Safetensors => "a safetensors file",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_told_by_its_first_bytes() {
        assert_eq!(WeightsFormat::sniff(b"PK\x03\x04rest", 100), Some(WeightsFormat::Npz));
        assert_eq!(WeightsFormat::sniff(b"PK\x05\x06", 22), Some(WeightsFormat::Npz));
        assert_eq!(WeightsFormat::sniff(b"\x80\x03}q\x00", 100), Some(WeightsFormat::Pickle));
        assert_eq!(WeightsFormat::sniff(b"\x80\x05\x95", 100), Some(WeightsFormat::Pickle));
        assert_eq!(WeightsFormat::sniff(b"\x80\x01", 100), None);
        let safetensors = b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}";
        assert_eq!(WeightsFormat::sniff(safetensors, 24), Some(WeightsFormat::Safetensors));
        // A header longer than the file is not one.
        assert_eq!(WeightsFormat::sniff(safetensors, 23), None);
        assert_eq!(WeightsFormat::sniff(b"\xff\xff\xff\xff\xff\xff\xff\xff{", u64::MAX), None);
        assert_eq!(WeightsFormat::sniff(b"", 0), None);
        assert_eq!(WeightsFormat::sniff(b"{\"format\": \"nn-mnist-model\"}", 28), None);
        assert_eq!(WeightsFormat::Pickle.to_string(), "a Python pickle");
    }
}
