//! Conversions to floating-point arrays, the equivalent of *Deep Learning from Scratch*'s
//! `load_mnist(normalize, flatten, one_hot_label)`.

use crate::dataset::Dataset;
use crate::error::DataError;

/// How to lay out the arrays [`Dataset::to_arrays`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayFormat {
    /// Scale pixels to [0, 1] (pixel / 255); otherwise keep 0..255 as floats.
    pub normalize: bool,
    /// Shape each image as `rows * cols` (784); otherwise as `1 x rows x cols` (1x28x28).
    pub flatten: bool,
    /// Labels as one-hot rows; otherwise as class indices.
    pub one_hot_label: bool,
}

impl Default for ArrayFormat {
    /// The book's defaults: normalized, flat, labels as indices.
    fn default() -> Self {
        ArrayFormat { normalize: true, flatten: true, one_hot_label: false }
    }
}

/// A dense row-major `f32` array with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Size of each dimension, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// Labels in one of the two forms the book offers.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// One class index per image.
    Indices(Vec<u8>),
    /// One row per image of `classes` values, 1.0 at the label and 0.0 elsewhere.
    OneHot(Array),
}

impl Dataset {
    /// The images as floats, shaped (count, pixels) or (count, 1, rows, cols), and the labels.
    pub fn to_arrays(&self, format: ArrayFormat) -> (Array, Labels) {
        let shape = if format.flatten {
            vec![self.len(), self.pixels_per_image()]
        } else {
            vec![self.len(), 1, self.rows(), self.cols()]
        };
        let images = Array { shape, data: pixels_to_f32(self.pixels(), format.normalize) };
        let targets = if format.one_hot_label {
            Labels::OneHot(Array {
                shape: vec![self.len(), self.classes()],
                data: one_hot_unchecked(self.labels(), self.classes()),
            })
        } else {
            Labels::Indices(self.labels().to_vec())
        };
        (images, targets)
    }
}

/// Pixels as floats: `p / 255` when normalizing, else `p`.
pub fn pixels_to_f32(pixels: &[u8], normalize: bool) -> Vec<f32> {
    // Division, not multiplication by 1/255, so the values equal NumPy's `x / 255.0` exactly.
    let divisor = if normalize { 255.0 } else { 1.0 };
    pixels.iter().map(|&p| f32::from(p) / divisor).collect()
}

/// Labels as one-hot rows of `classes` values. Refuses a class count outside 1 to 256 and a label
/// that is not below it.
pub fn one_hot(labels: &[u8], classes: usize) -> Result<Vec<f32>, DataError> {
    if !(1..=256).contains(&classes) {
        return Err(DataError::BadClassCount(classes));
    }
    match labels.iter().position(|&label| usize::from(label) >= classes) {
        Some(index) => Err(DataError::LabelOutOfRange { index, label: labels[index], classes }),
        None => Ok(one_hot_unchecked(labels, classes)),
    }
}

/// [`one_hot`] of labels already known to be below `classes`, which is at least 1 (a
/// [`Dataset`]'s).
fn one_hot_unchecked(labels: &[u8], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * classes];
    for (row, &label) in out.chunks_exact_mut(classes).zip(labels) {
        row[usize::from(label)] = 1.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Dataset {
        Dataset::new(vec![0, 255, 51, 102, 0, 0, 0, 255], 2, 2, vec![2, 0], 3).unwrap()
    }

    #[test]
    fn normalized_flat_indices() {
        let (x, t) = set().to_arrays(ArrayFormat::default());
        assert_eq!(x.shape, vec![2, 4]);
        assert_eq!(x.data[..4], [0.0, 1.0, 0.2, 0.4]);
        assert_eq!(t, Labels::Indices(vec![2, 0]));
    }

    #[test]
    fn raw_unflattened_one_hot() {
        let format = ArrayFormat { normalize: false, flatten: false, one_hot_label: true };
        let (x, t) = set().to_arrays(format);
        assert_eq!(x.shape, vec![2, 1, 2, 2]);
        assert_eq!(x.data[1], 255.0);
        let Labels::OneHot(t) = t else { panic!("one-hot asked for") };
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn one_hot_refuses_what_it_cannot_encode() {
        assert_eq!(one_hot(&[2, 0], 3).unwrap(), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert!(matches!(one_hot(&[1], 0), Err(DataError::BadClassCount(0))));
        assert!(matches!(one_hot(&[0, 3], 3), Err(DataError::LabelOutOfRange { index: 1, label: 3, classes: 3 })));
    }
}
