//! A labelled set of images held as bytes, exactly as MNIST stores them.

use crate::error::DataError;
use crate::idx::IdxArray;

/// Images of `rows x cols` grey pixels (0 = background, 255 = ink) with one class label each.
///
/// Pixels stay `u8` (a quarter of the memory of `f32`); [`Dataset::to_arrays`] converts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pixels: Vec<u8>,
    rows: usize,
    cols: usize,
    labels: Vec<u8>,
    classes: usize,
}

/// One image of a [`Dataset`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image<'a> {
    /// Row-major pixels, `rows * cols` of them.
    pub pixels: &'a [u8],
    /// Height in pixels.
    pub rows: usize,
    /// Width in pixels.
    pub cols: usize,
    /// The class label.
    pub label: u8,
}

impl Image<'_> {
    /// The pixel at `row`, `col` (0 is background, 255 full ink).
    pub fn pixel(&self, row: usize, col: usize) -> u8 {
        self.pixels[row * self.cols + col]
    }
}

impl Dataset {
    /// A dataset from row-major pixels of `labels.len()` images of `rows x cols`, checking that
    /// the sizes agree and every label is below `classes` (1 to 256).
    pub fn new(pixels: Vec<u8>, rows: usize, cols: usize, labels: Vec<u8>, classes: usize) -> Result<Self, DataError> {
        if !(1..=256).contains(&classes) {
            return Err(DataError::BadClassCount(classes));
        }
        let per_image = rows.checked_mul(cols);
        let images = match per_image {
            Some(0) => 0,
            Some(n) if pixels.len().is_multiple_of(n) => pixels.len() / n,
            _ => {
                return Err(DataError::WrongShape {
                    what: "images",
                    expected: 3,
                    found: vec![pixels.len(), rows, cols],
                });
            }
        };
        if images != labels.len() {
            return Err(DataError::CountMismatch { images, labels: labels.len() });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|&(_, &l)| usize::from(l) >= classes) {
            return Err(DataError::LabelOutOfRange { index, label, classes });
        }
        Ok(Dataset { pixels, rows, cols, labels, classes })
    }

    /// A dataset from an images array (count, rows, cols) and a labels array (count). The class
    /// count is `classes`, or when `None`, one more than the largest label.
    pub fn from_idx(images: IdxArray, labels: IdxArray, classes: Option<usize>) -> Result<Self, DataError> {
        let (image_dims, pixels) = images.into_parts();
        let (label_dims, labels) = labels.into_parts();
        let [count, rows, cols] = image_dims[..] else {
            return Err(DataError::WrongShape { what: "images", expected: 3, found: image_dims });
        };
        if label_dims.len() != 1 {
            return Err(DataError::WrongShape { what: "labels", expected: 1, found: label_dims });
        }
        if count != labels.len() {
            return Err(DataError::CountMismatch { images: count, labels: labels.len() });
        }
        let classes = classes.unwrap_or_else(|| labels.iter().max().map_or(1, |&m| usize::from(m) + 1));
        Dataset::new(pixels, rows, cols, labels, classes)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height in pixels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width in pixels.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels in one image (`rows * cols`; 784 for MNIST).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of classes (10 for MNIST and Fashion-MNIST).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All pixels, image after image, each row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// All labels, in image order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Image `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<Image<'_>> {
        let label = *self.labels.get(index)?;
        let n = self.pixels_per_image();
        Some(Image { pixels: &self.pixels[index * n..(index + 1) * n], rows: self.rows, cols: self.cols, label })
    }

    /// Iterates over the images in order.
    #[expect(clippy::missing_panics_doc, reason = "indices below len are always images")]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Image<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i).expect("index below len"))
    }

    /// How many images each class has, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    /// A new dataset of the images at `indices`, in that order (repeats allowed).
    pub fn select(&self, indices: &[usize]) -> Result<Dataset, DataError> {
        let n = self.pixels_per_image();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let image = self.get(i).ok_or(DataError::NotEnoughSamples { requested: i + 1, available: self.len() })?;
            pixels.extend_from_slice(image.pixels);
            labels.push(image.label);
        }
        Ok(Dataset { pixels, rows: self.rows, cols: self.cols, labels, classes: self.classes })
    }

    /// The first `n` images.
    pub fn take(&self, n: usize) -> Result<Dataset, DataError> {
        Ok(self.split_at(n)?.0)
    }

    /// Splits into the first `n` images and the rest.
    pub fn split_at(&self, n: usize) -> Result<(Dataset, Dataset), DataError> {
        if n > self.len() {
            return Err(DataError::NotEnoughSamples { requested: n, available: self.len() });
        }
        let at = n * self.pixels_per_image();
        let part = |pixels: &[u8], labels: &[u8]| Dataset {
            pixels: pixels.to_vec(),
            rows: self.rows,
            cols: self.cols,
            labels: labels.to_vec(),
            classes: self.classes,
        };
        Ok((part(&self.pixels[..at], &self.labels[..n]), part(&self.pixels[at..], &self.labels[n..])))
    }

    /// The images as an IDX array of (count, rows, cols), and the labels as one of (count).
    #[expect(clippy::missing_panics_doc, reason = "a dataset's sizes agree by construction")]
    pub fn to_idx(&self) -> (IdxArray, IdxArray) {
        let images = IdxArray::new(vec![self.len(), self.rows, self.cols], self.pixels.clone());
        let labels = IdxArray::new(vec![self.len()], self.labels.clone());
        (images.expect("a dataset's sizes agree"), labels.expect("a dataset's sizes agree"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        Dataset::new((0..24).collect(), 2, 3, vec![0, 1, 2, 1], 3).unwrap()
    }

    #[test]
    fn images_are_viewed_in_place() {
        let set = tiny();
        assert_eq!(set.len(), 4);
        let image = set.get(2).unwrap();
        assert_eq!(image.pixels, &[12, 13, 14, 15, 16, 17]);
        assert_eq!(image.pixel(1, 0), 15);
        assert_eq!(image.label, 2);
        assert!(set.get(4).is_none());
        assert_eq!(set.class_counts(), vec![1, 2, 1]);
    }

    #[test]
    fn inconsistent_sizes_are_refused() {
        assert!(matches!(Dataset::new(vec![0; 25], 2, 3, vec![0; 4], 3), Err(DataError::WrongShape { .. })));
        assert!(matches!(
            Dataset::new(vec![0; 24], 2, 3, vec![0; 3], 3),
            Err(DataError::CountMismatch { images: 4, labels: 3 })
        ));
        assert!(matches!(
            Dataset::new(vec![0; 24], 2, 3, vec![0, 1, 7, 0], 3),
            Err(DataError::LabelOutOfRange { index: 2, label: 7, classes: 3 })
        ));
        assert!(matches!(Dataset::new(vec![], 2, 3, vec![], 0), Err(DataError::BadClassCount(0))));
    }

    #[test]
    fn from_idx_checks_roles_and_counts() {
        let images = IdxArray::new(vec![2, 2, 2], vec![0; 8]).unwrap();
        let labels = IdxArray::new(vec![2], vec![4, 1]).unwrap();
        let set = Dataset::from_idx(images.clone(), labels.clone(), None).unwrap();
        assert_eq!(set.classes(), 5);
        assert!(matches!(
            Dataset::from_idx(images.clone(), labels.clone(), Some(3)),
            Err(DataError::LabelOutOfRange { index: 0, label: 4, classes: 3 })
        ));
        let three_labels = IdxArray::new(vec![3], vec![0; 3]).unwrap();
        assert!(matches!(Dataset::from_idx(images.clone(), three_labels, None), Err(DataError::CountMismatch { .. })));
        assert!(matches!(
            Dataset::from_idx(labels.clone(), labels, None),
            Err(DataError::WrongShape { what: "images", .. })
        ));
        let flat = IdxArray::new(vec![2, 4], vec![0; 8]).unwrap();
        assert!(matches!(Dataset::from_idx(flat, images, None), Err(DataError::WrongShape { .. })));
    }

    #[test]
    fn split_select_and_round_trip() {
        let set = tiny();
        let (head, tail) = set.split_at(3).unwrap();
        assert_eq!((head.len(), tail.len()), (3, 1));
        assert_eq!(tail.get(0).unwrap().pixels, set.get(3).unwrap().pixels);
        assert!(matches!(set.split_at(5), Err(DataError::NotEnoughSamples { requested: 5, available: 4 })));
        let picked = set.select(&[3, 0]).unwrap();
        assert_eq!(picked.labels(), &[1, 0]);
        assert!(set.select(&[9]).is_err());
        let (images, labels) = set.to_idx();
        assert_eq!(Dataset::from_idx(images, labels, Some(3)).unwrap(), set);
    }
}
