//! The two orders of an image's values: channels last, as networks here hold them, and channels
//! first (`C, H, W`), as PyTorch, NumPy and the books hold them; and the conversion between them
//! at the library's edges.

use std::borrow::Cow;

use crate::transpose::transpose;
use crate::{NnError, Shape};

/// The order of the values of one image-shaped sample of `channels × height × width`.
///
/// Every function of this crate that takes or gives samples uses [`Layout::ChannelsLast`]
/// unless its name or documentation says otherwise (see [`Shape`]). Data in PyTorch's NCHW
/// order is converted once with [`Layout::ChannelsFirst`]`.`[`to_channels_last`](Layout::to_channels_last),
/// or given to [`Classifier::predict_nchw`](crate::Classifier::predict_nchw). With one channel,
/// or for flat samples, both orders are the same and nothing is copied.
///
/// ```
/// use nn_core::{Layout, Shape};
/// // One 2-channel 1x2 image, as PyTorch holds it: channel 0 = [1, 2], channel 1 = [10, 20].
/// let nchw = [1.0, 2.0, 10.0, 20.0];
/// let ours = Layout::ChannelsFirst.to_channels_last(&nchw, Shape::new(2, 1, 2))?;
/// assert_eq!(*ours, [1.0, 10.0, 2.0, 20.0]); // pixel by pixel, its channels side by side
/// assert_eq!(Layout::ChannelsFirst.from_channels_last(&ours, Shape::new(2, 1, 2))?, nchw);
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Pixel `(y, x)` holds its channels side by side, at `(y · width + x) · channels` (NHWC
    /// for a batch): the order inside networks here.
    #[default]
    ChannelsLast,
    /// Channel `c` holds a whole `height × width` plane, at `c · height · width` (NCHW for a
    /// batch): PyTorch's, NumPy's and the books' order.
    ChannelsFirst,
}

impl Layout {
    /// `samples` (a whole number of samples of `shape`, one after the other) in this layout,
    /// reordered channels last; borrowed as they are when nothing moves.
    pub fn to_channels_last<'a>(self, samples: &'a [f32], shape: Shape) -> Result<Cow<'a, [f32]>, NnError> {
        check_whole(samples, shape)?;
        if self == Layout::ChannelsLast || shape.is_channels_first_too() {
            return Ok(Cow::Borrowed(samples));
        }
        let plane = shape.height * shape.width;
        let mut out = vec![0.0; samples.len()];
        for (from, to) in samples.chunks_exact(shape.len()).zip(out.chunks_exact_mut(shape.len())) {
            transpose(from, shape.channels, plane, to);
        }
        Ok(Cow::Owned(out))
    }

    /// The inverse of [`to_channels_last`](Layout::to_channels_last): channels-last `samples`
    /// in this layout (what to hand back to NumPy or PyTorch).
    pub fn from_channels_last(self, samples: &[f32], shape: Shape) -> Result<Vec<f32>, NnError> {
        check_whole(samples, shape)?;
        if self == Layout::ChannelsLast || shape.is_channels_first_too() {
            return Ok(samples.to_vec());
        }
        let plane = shape.height * shape.width;
        let mut out = vec![0.0; samples.len()];
        for (from, to) in samples.chunks_exact(shape.len()).zip(out.chunks_exact_mut(shape.len())) {
            transpose(from, plane, shape.channels, to);
        }
        Ok(out)
    }
}

/// Refuses an empty batch and values that are not a whole number of samples of `shape`.
fn check_whole(samples: &[f32], shape: Shape) -> Result<(), NnError> {
    crate::batch::batch_samples(samples, shape.len()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_goes_where_numpy_transpose_puts_it_and_back() {
        // np.arange(2*3*2*4).reshape(2, 3, 2, 4).transpose(0, 2, 3, 1) for two 3x2x4 images.
        let shape = Shape::new(3, 2, 4);
        let nchw: Vec<f32> = (0..2 * 24).map(|v| v as f32).collect();
        let nhwc = Layout::ChannelsFirst.to_channels_last(&nchw, shape).unwrap();
        for (n, c, y, x) in
            (0..2).flat_map(|n| (0..3).flat_map(move |c| (0..2).flat_map(move |y| (0..4).map(move |x| (n, c, y, x)))))
        {
            assert_eq!(nhwc[n * 24 + (y * 4 + x) * 3 + c], nchw[n * 24 + c * 8 + y * 4 + x]);
        }
        assert_eq!(Layout::ChannelsFirst.from_channels_last(&nhwc, shape).unwrap(), nchw);
    }

    #[test]
    fn one_channel_and_channels_last_are_borrowed_as_they_are() {
        let values = [0.5; 8];
        assert!(matches!(Layout::ChannelsFirst.to_channels_last(&values, Shape::new(1, 2, 4)), Ok(Cow::Borrowed(_))));
        assert!(matches!(Layout::ChannelsLast.to_channels_last(&values, Shape::new(2, 2, 2)), Ok(Cow::Borrowed(_))));
        assert!(matches!(Layout::ChannelsFirst.to_channels_last(&values, Shape::flat(8)), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn a_partial_sample_or_nothing_is_refused() {
        let error = Layout::ChannelsFirst.to_channels_last(&[0.0; 7], Shape::new(2, 2, 2)).unwrap_err();
        assert!(error.to_string().contains('7'), "{error}");
        assert_eq!(Layout::ChannelsFirst.to_channels_last(&[], Shape::new(2, 2, 2)).unwrap_err(), NnError::EmptyBatch);
        assert!(Layout::ChannelsFirst.from_channels_last(&[0.0; 9], Shape::new(2, 2, 2)).is_err());
    }
}
