//! Where the windows of a pooling lie: squares of `window × window` pixels, `stride` apart, with
//! no padding, shared by max- and average pooling.

use std::ops::Range;

use crate::{NnError, Shape};

/// The windows of a pooling over samples of `input`: a partial window at the edge is dropped,
/// as in PyTorch's `MaxPool2d` and `AvgPool2d` and Saitō's `Pooling`, so the output height is
/// `(H − window) / stride + 1`, rounded down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolWindows {
    pub(crate) input: Shape,
    pub(crate) window: usize,
    pub(crate) stride: usize,
}

impl PoolWindows {
    /// The windows of a pooling of `kind` at position `index` (both for messages).
    pub(crate) fn new(
        input: Shape,
        window: usize,
        stride: usize,
        index: usize,
        kind: &'static str,
    ) -> Result<Self, NnError> {
        let invalid = |detail: String| NnError::InvalidLayer { layer: index, kind, detail };
        if window == 0 || stride == 0 {
            return Err(invalid(format!("window ({window}) and stride ({stride}) must be at least 1")));
        }
        if !input.is_allowed() {
            return Err(invalid(format!("its input {input} is empty or too large")));
        }
        if window > input.height || window > input.width {
            return Err(invalid(format!(
                "its {window}x{window} window does not fit in its {}x{} input",
                input.height, input.width
            )));
        }
        Ok(PoolWindows { input, window, stride })
    }

    /// The shape of one output sample: as many channels, one pixel per window.
    pub(crate) fn output_shape(&self) -> Shape {
        let out = |size: usize| (size - self.window) / self.stride + 1;
        Shape::new(self.input.channels, out(self.input.height), out(self.input.width))
    }

    /// `2x2`, or `3x3 stride 2`, for the summary.
    pub(crate) fn describe(&self) -> String {
        if self.stride == self.window {
            format!("{0}x{0}", self.window)
        } else {
            format!("{0}x{0} stride {1}", self.window, self.stride)
        }
    }

    /// Whether no two windows share a pixel.
    pub(crate) fn apart(&self) -> bool {
        self.stride >= self.window
    }

    /// Whether every input pixel lies in exactly one window (windows side by side, none left
    /// out at an edge).
    pub(crate) fn tiled(&self) -> bool {
        self.stride == self.window
            && (self.input.height - self.window).is_multiple_of(self.stride)
            && (self.input.width - self.window).is_multiple_of(self.stride)
    }

    /// `visit(output pixel, input pixels of its window)` for each output pixel of each image, in
    /// order; pixels are indices of whole pixels (channels last), the window scanned row by row.
    #[inline(always)]
    pub(crate) fn for_each(&self, batch: usize, mut visit: impl FnMut(usize, &[usize])) {
        let out = self.output_shape();
        let (height, width) = (self.input.height, self.input.width);
        // Each pixel's place from the window's top left, row by row.
        let offsets: Vec<usize> =
            (0..self.window).flat_map(|dy| (0..self.window).map(move |dx| dy * width + dx)).collect();
        let mut window = vec![0; offsets.len()];
        let mut out_pixel = 0;
        for image in 0..batch {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let top_left = image * height * width + oy * self.stride * width + ox * self.stride;
                    for (pixel, offset) in window.iter_mut().zip(&offsets) {
                        *pixel = top_left + offset;
                    }
                    visit(out_pixel, &window);
                    out_pixel += 1;
                }
            }
        }
    }
}

/// The channels of a pixel, one vector of `lanes` at a time. When their number is not a whole
/// number of vectors, the last vector is either partial, or, with `overlap` and at least one
/// whole vector of channels, a whole vector ending at the last channel, overlapping the one
/// before: each lane computes its own channel, so the channels computed twice get the same
/// value twice, and whole loads and stores are much cheaper than masked ones (pulp calls a
/// function for each of those).
#[inline(always)]
pub(crate) fn channel_vectors(channels: usize, lanes: usize, overlap: bool) -> impl Iterator<Item = Range<usize>> {
    let last = if overlap && channels >= lanes { channels - lanes } else { usize::MAX };
    (0..channels).step_by(lanes).map(move |start| {
        let start = start.min(last);
        start..(start + lanes).min(channels)
    })
}
