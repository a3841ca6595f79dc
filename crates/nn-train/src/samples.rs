//! Labelled examples, seen one at a time, so that a data set can stay in its compact form.

use std::borrow::Cow;

use nn_core::{Layout, Shape};
use thiserror::Error;

use crate::vectorized::vectorized;

/// A set of labelled examples, read one sample at a time.
///
/// The trainer never asks for the whole set as `f32`: it copies the samples of one mini-batch
/// into a reused buffer with [`write_input`](Samples::write_input). A data set can therefore stay
/// in memory in its own compact form (MNIST as bytes: 47 MB instead of 188 MB as `f32`).
///
/// `Sync` because batches are evaluated from several threads.
pub trait Samples: Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// `true` if there is no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample (the network's input size).
    fn input_size(&self) -> usize;

    /// Writes sample `index` (`< len`) into `out`, which has exactly
    /// [`input_size`](Samples::input_size) values, channels last as networks read them (see
    /// [`nn_core::Layout`]; [`FloatSamples::from_channels_first`] reorders PyTorch's NCHW).
    fn write_input(&self, index: usize, out: &mut [f32]);

    /// The class of sample `index` (`< len`).
    fn label(&self, index: usize) -> usize;

    /// Starts bringing sample `index` into the cache, without waiting for it. A shuffled batch
    /// reads samples from all over memory; warming the whole batch before copying it lets the
    /// processor fetch them in parallel rather than one after the other. Does nothing by
    /// default.
    fn warm(&self, index: usize) {
        let _ = index;
    }
}

/// Why a set of samples could not be built or used.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SamplesError {
    /// A sample must have at least one value.
    #[error("samples must have at least one value each (input size 0)")]
    ZeroInputSize,
    /// The inputs are not a whole number of samples.
    #[error("{len} input values are not a whole number of samples of {input_size} values")]
    Ragged {
        /// Number of input values.
        len: usize,
        /// Values per sample.
        input_size: usize,
    },
    /// An input value that is NaN or infinite: training on it could only diverge.
    #[error("input value {index} of sample {sample} is {value}: training data must be finite numbers")]
    NonFinite {
        /// The sample, from 0.
        sample: usize,
        /// The value within the sample, from 0.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Not one label per sample.
    #[error("{labels} labels given for {samples} samples")]
    LabelCount {
        /// Number of samples.
        samples: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A set with no sample where samples are needed.
    #[error("the {set} set is empty")]
    Empty {
        /// `"training"`, `"validation"` or `"test"`.
        set: &'static str,
    },
    /// Samples of another size than the network's input.
    #[error("the {set} set has {found} values per sample, but the network takes {expected} inputs")]
    InputSize {
        /// `"training"`, `"validation"` or `"test"`.
        set: &'static str,
        /// The network's input size.
        expected: usize,
        /// The samples' size.
        found: usize,
    },
    /// A label that the network's outputs cannot represent.
    #[error("sample {index} of the {set} set has label {label}, but the network has only {classes} outputs")]
    LabelOutOfRange {
        /// `"training"`, `"validation"` or `"test"`.
        set: &'static str,
        /// The sample.
        index: usize,
        /// Its label.
        label: usize,
        /// The network's output size.
        classes: usize,
    },
}

/// Checks that `samples` fit a network of `inputs` inputs and `classes` outputs.
pub(crate) fn check_fits(
    set: &'static str,
    samples: &dyn Samples,
    inputs: usize,
    classes: usize,
) -> Result<(), SamplesError> {
    if samples.input_size() != inputs {
        return Err(SamplesError::InputSize { set, expected: inputs, found: samples.input_size() });
    }
    match (0..samples.len()).find(|&index| samples.label(index) >= classes) {
        Some(index) => Err(SamplesError::LabelOutOfRange { set, index, label: samples.label(index), classes }),
        None => Ok(()),
    }
}

/// Checks the shape of a set of `inputs` values and `labels` labels; returns the sample count.
fn check_shape(inputs: usize, labels: usize, input_size: usize) -> Result<usize, SamplesError> {
    if input_size == 0 {
        return Err(SamplesError::ZeroInputSize);
    }
    if !inputs.is_multiple_of(input_size) {
        return Err(SamplesError::Ragged { len: inputs, input_size });
    }
    let samples = inputs / input_size;
    if labels != samples {
        return Err(SamplesError::LabelCount { samples, labels });
    }
    Ok(samples)
}

/// Samples already stored as `f32`, one after the other, owned or borrowed.
///
/// ```
/// use nn_train::{FloatSamples, Samples};
/// let set = FloatSamples::new(vec![0.0, 1.0, 2.0, 3.0], vec![1, 0], 2)?;
/// let mut out = [0.0; 2];
/// set.write_input(1, &mut out);
/// assert_eq!((out, set.label(1)), ([2.0, 3.0], 0));
/// # Ok::<(), nn_train::SamplesError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FloatSamples<'a> {
    inputs: Cow<'a, [f32]>,
    labels: Cow<'a, [usize]>,
    input_size: usize,
}

impl<'a> FloatSamples<'a> {
    /// Samples of `input_size` values from `inputs` (`Vec` or slice), one label each.
    pub fn new(
        inputs: impl Into<Cow<'a, [f32]>>,
        labels: impl Into<Cow<'a, [usize]>>,
        input_size: usize,
    ) -> Result<Self, SamplesError> {
        let (inputs, labels) = (inputs.into(), labels.into());
        check_shape(inputs.len(), labels.len(), input_size)?;
        if let Some(at) = inputs.iter().position(|v| !v.is_finite()) {
            return Err(SamplesError::NonFinite { sample: at / input_size, index: at % input_size, value: inputs[at] });
        }
        Ok(FloatSamples { inputs, labels, input_size })
    }

    /// Samples of `shape` from `inputs` in PyTorch's and NumPy's order (NCHW: each channel a
    /// whole plane), reordered once into the channels-last order networks here read (see
    /// [`nn_core::Layout`]); one label each.
    ///
    /// ```
    /// use nn_core::Shape;
    /// use nn_train::{FloatSamples, Samples};
    /// // One 2-channel 1x2 image: channel 0 = [1, 2], channel 1 = [10, 20].
    /// let set = FloatSamples::from_channels_first(vec![1.0, 2.0, 10.0, 20.0], vec![3], Shape::new(2, 1, 2))?;
    /// assert_eq!(set.inputs(), [1.0, 10.0, 2.0, 20.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_channels_first(
        inputs: impl Into<Cow<'a, [f32]>>,
        labels: impl Into<Cow<'a, [usize]>>,
        shape: Shape,
    ) -> Result<Self, SamplesError> {
        let inputs = inputs.into();
        let reordered = match Layout::ChannelsFirst.to_channels_last(&inputs, shape) {
            Ok(Cow::Owned(values)) => Cow::Owned(values),
            // Nothing moved (one channel), or not a whole number of samples, which `new` refuses
            // in its own words.
            Ok(Cow::Borrowed(_)) | Err(_) => inputs,
        };
        FloatSamples::new(reordered, labels, shape.len())
    }

    /// All the inputs, samples one after the other, channels last.
    pub fn inputs(&self) -> &[f32] {
        &self.inputs
    }

    /// All the labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
}

impl Samples for FloatSamples<'_> {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn input_size(&self) -> usize {
        self.input_size
    }

    fn write_input(&self, index: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.inputs[index * self.input_size..(index + 1) * self.input_size]);
    }

    fn label(&self, index: usize) -> usize {
        self.labels[index]
    }

    /// Reads one value of each cache line (16 values) of the sample.
    fn warm(&self, index: usize) {
        let inputs = &self.inputs[index * self.input_size..(index + 1) * self.input_size];
        let touched = inputs.iter().step_by(16).fold(0.0_f32, |sum, &x| sum + x);
        std::hint::black_box(touched);
    }
}

/// Samples stored as bytes (pixels 0–255) with byte labels, scaled to `[0, 1]` on the fly.
///
/// ```
/// use nn_train::{PixelSamples, Samples};
/// let pixels = [0, 255, 51, 102];
/// let labels = [7, 3];
/// let set = PixelSamples::new(&pixels, &labels, 2)?;
/// let mut out = [0.0; 2];
/// set.write_input(1, &mut out);
/// assert_eq!((out, set.label(1)), ([0.2, 0.4], 3));
/// # Ok::<(), nn_train::SamplesError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelSamples<'a> {
    pixels: &'a [u8],
    labels: &'a [u8],
    input_size: usize,
}

impl<'a> PixelSamples<'a> {
    /// Samples of `input_size` pixels from `pixels`, one label each.
    pub fn new(pixels: &'a [u8], labels: &'a [u8], input_size: usize) -> Result<Self, SamplesError> {
        check_shape(pixels.len(), labels.len(), input_size)?;
        Ok(PixelSamples { pixels, labels, input_size })
    }
}

impl Samples for PixelSamples<'_> {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn input_size(&self) -> usize {
        self.input_size
    }

    /// `x = p / 255`: a division, not a multiplication by `1/255`, so that the values equal
    /// NumPy's `pixels / 255.0` bit for bit; in vectors, 16 divisions at a time with AVX-512,
    /// which cost less than looking each pixel up in a table of the 256 quotients.
    fn write_input(&self, index: usize, out: &mut [f32]) {
        let pixels = &self.pixels[index * self.input_size..(index + 1) * self.input_size];
        vectorized(
            #[inline(always)]
            || out.iter_mut().zip(pixels).for_each(|(x, &p)| *x = f32::from(p) / 255.0),
        );
    }

    fn label(&self, index: usize) -> usize {
        usize::from(self.labels[index])
    }

    /// Reads one byte of each cache line of the sample; the loads do not depend on each other,
    /// so many are in flight at once.
    fn warm(&self, index: usize) {
        let pixels = &self.pixels[index * self.input_size..(index + 1) * self.input_size];
        let touched = pixels.iter().step_by(64).fold(0_u8, |sum, &p| sum.wrapping_add(p));
        std::hint::black_box(touched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_samples_refuse_values_that_are_not_numbers() {
        let error = FloatSamples::new(vec![0.0, 1.0, 0.5, f32::NEG_INFINITY], vec![0, 1], 2).unwrap_err();
        assert!(matches!(error, SamplesError::NonFinite { sample: 1, index: 1, value } if value == f32::NEG_INFINITY));
        assert!(error.to_string().contains("input value 1 of sample 1 is -inf"), "{error}");
        assert!(FloatSamples::new(vec![0.0, f32::NAN], vec![0], 2).is_err());
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(FloatSamples::new(vec![0.0; 5], vec![0, 0], 2), Err(SamplesError::Ragged { len: 5, input_size: 2 }));
        let shape = nn_core::Shape::new(2, 1, 2);
        assert_eq!(
            FloatSamples::from_channels_first(vec![0.0; 5], vec![0], shape),
            Err(SamplesError::Ragged { len: 5, input_size: 4 })
        );
        let set = FloatSamples::from_channels_first(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], vec![0, 1], shape);
        assert_eq!(set.unwrap().inputs(), [1.0, 3.0, 2.0, 4.0, 5.0, 7.0, 6.0, 8.0]);
        assert_eq!(
            FloatSamples::new(vec![0.0; 6], vec![0, 0], 2),
            Err(SamplesError::LabelCount { samples: 3, labels: 2 })
        );
        assert_eq!(PixelSamples::new(&[], &[], 0), Err(SamplesError::ZeroInputSize));
        assert!(PixelSamples::new(&[], &[], 784).unwrap().is_empty());
    }

    #[test]
    fn pixels_are_divided_by_255() {
        // Every byte, in whole vectors and in a tail; NumPy's float32 quotients of 1, 51, 254.
        let pixels: Vec<u8> = (0..=255).chain(0..=6).collect();
        let set = PixelSamples::new(&pixels, &[0], pixels.len()).unwrap();
        let mut out = vec![f32::NAN; pixels.len()];
        set.write_input(0, &mut out);
        for (&p, x) in pixels.iter().zip(&out) {
            let quotient = std::hint::black_box(f32::from(p)) / std::hint::black_box(255.0_f32);
            assert_eq!(x.to_bits(), quotient.to_bits(), "pixel {p}");
        }
        assert_eq!((out[0], out[255]), (0.0, 1.0));
        assert_eq!([out[1], out[51], out[254]], [0.003921569, 0.2, 0.99607843]);
    }
}
