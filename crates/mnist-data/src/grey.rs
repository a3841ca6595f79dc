//! What the steps of [`prepare`](crate::prepare::prepare) pass along: a grey image of floats
//! ([`Grey`]) and a rectangle of its pixels ([`Rect`]).

/// A grey image with one float per pixel, row-major, in 0.0..=255.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Grey {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) pixels: Vec<f32>,
}

impl Grey {
    /// A `width` x `height` image of `pixels` (row-major); `None` unless there are exactly
    /// `width * height` of them.
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Option<Self> {
        (width.checked_mul(height) == Some(pixels.len())).then_some(Grey { width, height, pixels })
    }

    /// Within this module every image is made from its own size.
    pub(crate) fn sized(width: usize, height: usize, pixels: Vec<f32>) -> Self {
        debug_assert_eq!(pixels.len(), width * height, "pixel count matches the size");
        Grey { width, height, pixels }
    }

    /// Pixels per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row-major.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    pub(crate) fn at(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }

    pub(crate) fn max(&self) -> f32 {
        self.pixels.iter().copied().fold(0.0, f32::max)
    }
}

/// A rectangle of pixels: `x..x + width`, `y..y + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// First column.
    pub x: usize,
    /// First row.
    pub y: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// Images the tests of the steps make.
#[cfg(test)]
pub(crate) mod test_images {
    use super::{Grey, Rect};

    /// A `w`x`h` image of `background` with a filled rectangle of `ink`.
    pub(crate) fn block(w: usize, h: usize, background: f32, ink: f32, rect: Rect) -> Grey {
        let mut g = Grey::sized(w, h, vec![background; w * h]);
        for y in rect.y..rect.y + rect.height {
            for x in rect.x..rect.x + rect.width {
                g.pixels[y * w + x] = ink;
            }
        }
        g
    }

    pub(crate) fn grey_u8(pixels: &[u8], cols: usize) -> Grey {
        Grey::sized(cols, pixels.len() / cols, pixels.iter().map(|&p| f32::from(p)).collect())
    }
}
