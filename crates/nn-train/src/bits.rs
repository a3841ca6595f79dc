//! Exact text form of `f32` vectors: the bits of each value as 8 hexadecimal digits.
//!
//! Decimal JSON numbers are parsed through `f64` by serde_json, which may round some `f32`
//! values differently; the bits cannot be misread, and they are quicker to write and read.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The values as one string of 8 lowercase hex digits each: `1.0` is `3f800000`.
pub(crate) fn encode(values: &[f32]) -> String {
    let mut text = Vec::with_capacity(values.len() * 8);
    for value in values {
        let bits = value.to_bits();
        text.extend((0..8).rev().map(|nibble| DIGITS[((bits >> (4 * nibble)) & 0xf) as usize]));
    }
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// The values of a string written by [`encode`]; `None` if it is not one.
pub(crate) fn decode(text: &str) -> Option<Vec<f32>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    bytes
        .chunks_exact(8)
        .map(|digits| {
            digits.iter().try_fold(0_u32, |bits, &digit| {
                let value = match digit {
                    b'0'..=b'9' => digit - b'0',
                    b'a'..=b'f' => digit - b'a' + 10,
                    b'A'..=b'F' => digit - b'A' + 10,
                    _ => return None,
                };
                Some(bits << 4 | u32::from(value))
            })
        })
        .map(|bits| bits.map(f32::from_bits))
        .collect()
}

/// `#[serde(with = "crate::bits::vector")]` for a `Vec<f32>`.
pub(crate) mod vector {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(values: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(values))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).ok_or_else(|| D::Error::custom("expected 8 hexadecimal digits per value"))
    }
}

/// `#[serde(with = "crate::bits::vectors")]` for a `Vec<Vec<f32>>`.
pub(crate) mod vectors {
    use serde::ser::SerializeSeq;

    use super::*;

    pub(crate) fn serialize<S: Serializer>(values: &[Vec<f32>], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(values.len()))?;
        values.iter().try_for_each(|v| seq.serialize_element(&encode(v)))?;
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| decode(text).ok_or_else(|| D::Error::custom("expected 8 hexadecimal digits per value")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind_of_value() {
        let values = [1.0, -0.0, f32::MIN_POSITIVE / 3.0, f32::MAX, f32::INFINITY, 1.234_567_9e-30, 0.1];
        let text = encode(&values);
        assert_eq!(&text[..8], "3f800000");
        let back = decode(&text).unwrap();
        assert_eq!(values.map(f32::to_bits).to_vec(), back.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        let nan = decode(&encode(&[f32::NAN])).unwrap();
        assert_eq!(nan[0].to_bits(), f32::NAN.to_bits());
        assert_eq!(decode("3f80000"), None);
        assert_eq!(decode("3f80000g"), None);
        assert_eq!(decode(""), Some(vec![]));
    }
}
