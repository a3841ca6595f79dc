//! Grey pictures composed for the PNGs that show a network's inside: tiles of signed values
//! (weights, saliency), tiles of activations, captions, grids and stacks.

use crate::caption;

/// Grey of the gaps between tiles and of the background.
pub const BACKGROUND: u8 = 96;

/// A grey image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Picture {
    /// A `width × height` picture of one grey.
    pub fn filled(width: usize, height: usize, grey: u8) -> Self {
        Picture { width, height, pixels: vec![grey; width * height] }
    }

    /// `values` (row-major, `width` wide) drawn with `shade`, each value a `scale × scale`
    /// square.
    pub fn from_values(values: &[f32], width: usize, scale: usize, shade: impl Fn(f32) -> u8) -> Self {
        let height = values.len().checked_div(width).unwrap_or(0);
        let mut picture = Picture::filled(width * scale, height * scale, 0);
        for y in 0..height * scale {
            for x in 0..width * scale {
                picture.pixels[y * picture.width + x] = shade(values[(y / scale) * width + x / scale]);
            }
        }
        picture
    }

    /// Copies `other` with its top left corner at (`x`, `y`), clipped.
    fn paste(&mut self, other: &Picture, x: usize, y: usize) {
        for row in 0..other.height.min(self.height.saturating_sub(y)) {
            let columns = other.width.min(self.width.saturating_sub(x));
            let to = (y + row) * self.width + x;
            self.pixels[to..to + columns]
                .copy_from_slice(&other.pixels[row * other.width..row * other.width + columns]);
        }
    }

    /// The picture with `text` written under it in white on the background grey.
    pub fn captioned(&self, text: &str, scale: usize) -> Picture {
        let (text_w, text_h) = caption::text_size(text, scale);
        let margin = scale.max(1) * 2;
        let width = self.width.max(text_w + 2 * margin);
        let mut out = Picture::filled(width, self.height + text_h + 2 * margin, BACKGROUND);
        out.paste(self, (width - self.width) / 2, 0);
        caption::draw(&mut out.pixels, width, (width - text_w) / 2, self.height + margin, text, scale, 255);
        out
    }
}

/// A signed value as grey: 128 for zero, white for `+max_abs` and black for `−max_abs`
/// (`128 + 127 · v / max_abs`, clamped).
pub fn signed_grey(value: f32, max_abs: f32) -> u8 {
    if max_abs <= 0.0 || !value.is_finite() {
        return 128;
    }
    (128.0 + 127.0 * (value / max_abs).clamp(-1.0, 1.0)).round() as u8
}

/// A value between `low` and `high` as grey: black for `low`, white for `high`
/// (`255 · (v − low) / (high − low)`, clamped).
pub fn ranged_grey(value: f32, low: f32, high: f32) -> u8 {
    if high <= low || !value.is_finite() {
        return 0;
    }
    (255.0 * ((value - low) / (high - low)).clamp(0.0, 1.0)).round() as u8
}

/// The largest absolute value (0 for none).
pub fn max_abs(values: &[f32]) -> f32 {
    values.iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

/// Pictures laid out left to right in rows of `columns`, `gap` pixels apart, each cell as large
/// as the largest picture.
pub fn grid(pictures: &[Picture], columns: usize, gap: usize) -> Picture {
    let columns = columns.clamp(1, pictures.len().max(1));
    let rows = pictures.len().div_ceil(columns).max(1);
    let cell_w = pictures.iter().map(|p| p.width).max().unwrap_or(0);
    let cell_h = pictures.iter().map(|p| p.height).max().unwrap_or(0);
    let mut out = Picture::filled(columns * (cell_w + gap) + gap, rows * (cell_h + gap) + gap, BACKGROUND);
    for (n, picture) in pictures.iter().enumerate() {
        let x = gap + (n % columns) * (cell_w + gap) + (cell_w - picture.width) / 2;
        let y = gap + (n / columns) * (cell_h + gap);
        out.paste(picture, x, y);
    }
    out
}

/// Pictures one under the other, left-aligned, `gap` pixels apart.
pub fn stack(pictures: &[Picture], gap: usize) -> Picture {
    let width = pictures.iter().map(|p| p.width).max().unwrap_or(0) + 2 * gap;
    let height = pictures.iter().map(|p| p.height + gap).sum::<usize>() + gap;
    let mut out = Picture::filled(width, height, BACKGROUND);
    let mut y = gap;
    for picture in pictures {
        out.paste(picture, gap, y);
        y += picture.height + gap;
    }
    out
}

/// Columns of a grid of `cells`: as square as it gets.
pub fn square_columns(cells: usize) -> usize {
    (1..=cells.max(1)).find(|c| c * c >= cells).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greys_map_signs_and_ranges() {
        assert_eq!([-2.0, -1.0, 0.0, 0.5, 1.0].map(|v| signed_grey(v, 1.0)), [1, 1, 128, 192, 255]);
        assert_eq!(signed_grey(0.3, 0.0), 128);
        assert_eq!([-1.0, 0.0, 0.5, 1.0, 2.0].map(|v| ranged_grey(v, 0.0, 1.0)), [0, 0, 128, 255, 255]);
        assert_eq!(max_abs(&[0.5, -3.0, f32::NAN]), 3.0);
    }

    #[test]
    fn grids_and_stacks_place_every_picture() {
        let white = Picture::filled(2, 3, 255);
        let out = grid(&[white.clone(), white.clone(), white.clone()], 2, 1);
        assert_eq!((out.width, out.height), (2 * 3 + 1, 2 * 4 + 1));
        assert_eq!(out.pixels.iter().filter(|&&p| p == 255).count(), 3 * 6);
        let tall = stack(&[white.clone(), out.clone()], 2);
        assert_eq!((tall.width, tall.height), (out.width + 4, 3 + out.height + 3 * 2));
        let big = Picture::from_values(&[0.0, 1.0], 2, 3, |v| ranged_grey(v, 0.0, 1.0));
        assert_eq!((big.width, big.height, big.pixels[0], big.pixels[5]), (6, 3, 0, 255));
        let captioned = white.captioned("7", 1);
        assert!(captioned.width >= 3 && captioned.pixels.iter().filter(|&&p| p == 255).count() > 6);
    }
}
