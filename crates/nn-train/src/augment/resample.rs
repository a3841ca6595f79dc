//! Bilinear resampling of an image at given real positions, the step every augmentation ends
//! with. Everything but the reads of the four neighbours runs in passes that vectorise.

/// The buffers of one resampling.
#[derive(Debug, Clone, Default)]
pub(super) struct ResampleScratch {
    /// The image with a border of background.
    padded: Vec<f32>,
    /// The index in `padded` of each output pixel's top-left neighbour.
    corner: Vec<u32>,
    /// The four neighbours of each output pixel: top left, top right, bottom left, bottom right.
    neighbours: [Vec<f32>; 4],
}

/// Replaces pixel i of `image` (row-major, `rows x cols`) by the image's value at the real
/// position (y[i], x[i]), interpolated between its four neighbours, pixels outside the image
/// counting as 0 (background). `x` and `y` are used as scratch.
#[inline(always)]
pub(super) fn resample(
    image: &mut [f32],
    rows: usize,
    cols: usize,
    x: &mut [f32],
    y: &mut [f32],
    scratch: &mut ResampleScratch,
) {
    let n = rows * cols;
    assert!(image.len() == n && x.len() == n && y.len() == n, "an image and a position per pixel");
    let ResampleScratch { padded, corner, neighbours } = scratch;
    // A border of one background pixel, so that the four neighbours of any position less than
    // a pixel outside the image are in `padded`, and two more rows of background below, where
    // positions further out read their four zeros.
    let wide = cols + 2;
    padded.clear();
    padded.resize((rows + 4) * wide, 0.0);
    for (padded_row, row) in padded[wide..].chunks_exact_mut(wide).zip(image.chunks_exact(cols)) {
        padded_row[1..=cols].copy_from_slice(row);
    }
    // Each position's top-left neighbour, and the weights of the right and lower neighbours
    // in place of the position. Inside, a neighbour's row and column are at most `rows` and
    // `cols`: read from the float's bits below 2²³, with Rust's checked conversion for larger
    // images (millions of pixels on a side), where that trick is not exact.
    corner.resize(n, 0);
    if rows.max(cols) < 1 << 23 {
        corners::<true>(rows, cols, corner, x, y);
    } else {
        corners::<false>(rows, cols, corner, x, y);
    }
    let [top_left, top_right, bottom_left, bottom_right] = neighbours;
    for buffer in [&mut *top_left, &mut *top_right, &mut *bottom_left, &mut *bottom_right] {
        buffer.resize(n, 0.0);
    }
    // The reads, which cannot vectorise without gathers.
    let tops = top_left.iter_mut().zip(top_right.iter_mut());
    let bottoms = bottom_left.iter_mut().zip(bottom_right.iter_mut());
    for ((&at, (top_left, top_right)), (bottom_left, bottom_right)) in corner.iter().zip(tops).zip(bottoms) {
        let at = at as usize;
        // One slice from the top-left to the bottom-right neighbour: one bounds check, not four.
        if let Some(square) = padded.get(at..at + wide + 2) {
            (*top_left, *top_right) = (square[0], square[1]);
            (*bottom_left, *bottom_right) = (square[wide], square[wide + 1]);
        }
    }
    // v = (1 - fy)·((1 - fx)·v₀₀ + fx·v₀₁) + fy·((1 - fx)·v₁₀ + fx·v₁₁)
    let weights = x.iter().zip(y.iter());
    let tops = top_left.iter().zip(top_right.iter());
    let bottoms = bottom_left.iter().zip(bottom_right.iter());
    for (((pixel, (&fx, &fy)), (&a, &b)), (&c, &d)) in image.iter_mut().zip(weights).zip(tops).zip(bottoms) {
        let top = a * (1.0 - fx) + b * fx;
        let bottom = c * (1.0 - fx) + d * fx;
        *pixel = top * (1.0 - fy) + bottom * fy;
    }
}

/// For each position (x[i], y[i]) of a `rows x cols` image, the index of its top-left neighbour
/// in the image padded as `resample` pads it, or of a background square outside; and in place
/// of the position, the weights of its right and lower neighbours. `SMALL`: see [`whole_number`].
#[inline(always)]
fn corners<const SMALL: bool>(rows: usize, cols: usize, corner: &mut [u32], x: &mut [f32], y: &mut [f32]) {
    let wide = cols + 2;
    let background = ((rows + 2) * wide) as u32;
    for ((corner, x), y) in corner.iter_mut().zip(x.iter_mut()).zip(y.iter_mut()) {
        // A pixel or more outside the image, all four neighbours are background.
        let inside = (*y > -1.0) & (*x > -1.0) & (*y < rows as f32) & (*x < cols as f32);
        // In the padded image the position is (y + 1, x + 1), positive when inside.
        let (py, px) = (*y + 1.0, *x + 1.0);
        let (r, c) = (py.floor(), px.floor());
        let at = whole_number(r, SMALL).wrapping_mul(wide as u32).wrapping_add(whole_number(c, SMALL));
        *corner = if inside { at } else { background };
        *x = if inside { px - c } else { 0.0 };
        *y = if inside { py - r } else { 0.0 };
    }
}

/// The value of a whole number held in a float. With `small`, for numbers in [0, 2²³): read
/// from its bits after adding 2²³ (which moves the number to the mantissa's low bits), other
/// values giving a meaningless number; unlike `as`, which checks each value for overflow, it
/// vectorises. Without, `as`.
#[inline(always)]
fn whole_number(value: f32, small: bool) -> u32 {
    const TWO_TO_THE_23: f32 = 8_388_608.0;
    if small { (value + TWO_TO_THE_23).to_bits().wrapping_sub(TWO_TO_THE_23.to_bits()) } else { value as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectorized::vectorized;
    use nn_core::mix_seed;

    /// The definition, one pixel at a time.
    fn bilinear(image: &[f32], rows: usize, cols: usize, y: f32, x: f32) -> f32 {
        let at = |r: f32, c: f32| {
            let inside = r >= 0.0 && c >= 0.0 && r < rows as f32 && c < cols as f32;
            if inside { image[r as usize * cols + c as usize] } else { 0.0 }
        };
        if !(y > -1.0 && x > -1.0 && y < rows as f32 && x < cols as f32) {
            return 0.0;
        }
        let (r, c) = ((y + 1.0).floor() - 1.0, (x + 1.0).floor() - 1.0);
        let (fy, fx) = (y + 1.0 - (r + 1.0), x + 1.0 - (c + 1.0));
        let top = at(r, c) * (1.0 - fx) + at(r, c + 1.0) * fx;
        let bottom = at(r + 1.0, c) * (1.0 - fx) + at(r + 1.0, c + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    #[test]
    fn every_pixel_has_the_bits_of_the_definition() {
        let unit = |k: u64| ((mix_seed(k) >> 40) as f32) / 16_777_216.0;
        // One scratch for all, as in training, so that a value left from an earlier image shows.
        let mut scratch = ResampleScratch::default();
        for (rows, cols) in [(28, 28), (28, 28), (5, 9), (1, 1), (17, 3)] {
            let n = rows * cols;
            let image: Vec<f32> = (0..n as u64).map(|i| 0.5 + unit(i + rows as u64)).collect();
            // Whole and fractional positions, inside, on the edges, just and far outside.
            let special = [-1e9, -3.0, -1.0, -0.999, -0.5, 0.0, 0.25, 1.0, rows.min(cols) as f32 - 1.0];
            let mut x: Vec<f32> = (0..n as u64).map(|i| unit(1000 + i) * (cols as f32 + 4.0) - 2.0).collect();
            let mut y: Vec<f32> = (0..n as u64).map(|i| unit(5000 + i) * (rows as f32 + 4.0) - 2.0).collect();
            for (i, &value) in special.iter().enumerate().filter(|&(i, _)| i < n) {
                x[i] = value;
                y[n - 1 - i] = value;
            }
            x[n - 1] = cols as f32 - 0.001;
            y[0] = 1e9;
            let expected: Vec<f32> = x.iter().zip(&y).map(|(&x, &y)| bilinear(&image, rows, cols, y, x)).collect();
            let mut resampled = image.clone();
            vectorized(|| resample(&mut resampled, rows, cols, &mut x, &mut y, &mut scratch));
            for (i, (got, want)) in resampled.iter().zip(&expected).enumerate() {
                assert_eq!(got.to_bits(), want.to_bits(), "pixel {i} of {rows}x{cols}: {got} against {want}");
            }
        }
    }

    #[test]
    fn whole_numbers_are_read_exactly() {
        for value in [0u32, 1, 27, 29, 1000, (1 << 23) - 1] {
            assert_eq!(whole_number(value as f32, true), value);
            assert_eq!(whole_number(value as f32, false), value);
        }
        // Past 2²³ only the checked conversion is exact.
        for value in [1u32 << 23, (1 << 23) + 1, (1 << 24) - 1, 1 << 25] {
            assert_eq!(whole_number(value as f32, false), value);
        }
        assert_ne!(whole_number(((1 << 23) + 1) as f32, true), (1 << 23) + 1);
    }

    #[test]
    fn both_conversions_find_the_same_neighbours_where_both_are_exact() {
        let (rows, cols) = (28, 28);
        let unit = |k: u64| ((mix_seed(k) >> 40) as f32) / 16_777_216.0;
        let x: Vec<f32> = (0..784u64).map(|i| unit(i) * 40.0 - 6.0).collect();
        let y: Vec<f32> = (0..784u64).map(|i| unit(9000 + i) * 40.0 - 6.0).collect();
        let run = |small: bool| {
            let (mut corner, mut x, mut y) = (vec![0; 784], x.clone(), y.clone());
            if small {
                corners::<true>(rows, cols, &mut corner, &mut x, &mut y);
            } else {
                corners::<false>(rows, cols, &mut corner, &mut x, &mut y);
            }
            (corner, x, y)
        };
        assert_eq!(run(true), run(false));
    }
}
