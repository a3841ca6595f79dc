//! Unfolding image patches into columns (im2col) and folding their gradients back (col2im), as in
//! Saitō's chapter 7: with patches as columns, a convolution is one matrix product.
//!
//! Images are stored channels last (see [`Shape`](crate::Shape)), so a patch's row of `kw`
//! pixels is `kw · channels` consecutive values, copied in one piece. A patch's column holds its
//! values in the order `(ky, kx, channel)`, the order of a [`Conv2d`](crate::Conv2d)'s weights.

use crate::Conv2dParams;

/// The valid `kx` range of a patch row starting at input column `left` (may be negative), and
/// the input column of its first valid pixel.
fn valid_columns(left: isize, kernel_width: usize, width: usize) -> (usize, usize, usize) {
    let first = (-left).max(0) as usize;
    let last = (width as isize - left).clamp(0, kernel_width as isize) as usize;
    let first = first.min(last);
    (first, last, (left + first as isize).max(0) as usize)
}

/// Writes the patches of `images` (whole images, one after the other) into `columns`: one column
/// of [`patch_len`](Conv2dParams::patch_len) values per output pixel, images one after the other,
/// zeros where a patch reaches into the padding.
pub(crate) fn im2col(params: &Conv2dParams, images: &[f32], columns: &mut [f32]) {
    let geometry = Geometry::of(params);
    let patch_len = params.patch_len();
    let image_len = params.input.len();
    let mut patches = columns.chunks_exact_mut(patch_len);
    for image in images.chunks_exact(image_len) {
        for (oy, ox) in geometry.output_pixels() {
            let column = patches.next().expect("columns sized for the images");
            let mut rows = column.chunks_exact_mut(geometry.row_len);
            for ky in 0..geometry.kernel_height {
                let row = rows.next().expect("one row per kernel row");
                match geometry.input_row(oy, ky) {
                    None => row.fill(0.0),
                    Some(iy) => {
                        let (first, last, ix) = valid_columns(geometry.left(ox), geometry.kernel_width, geometry.width);
                        let c = geometry.channels;
                        row[..first * c].fill(0.0);
                        if last > first {
                            let start = (iy * geometry.width + ix) * c;
                            row[first * c..last * c].copy_from_slice(&image[start..start + (last - first) * c]);
                        }
                        row[last * c..].fill(0.0);
                    }
                }
            }
        }
    }
}

/// The reverse of [`im2col`] for gradients: `images` (overwritten) receives, at each input value,
/// the sum of the column values that were copied from it, in column order.
pub(crate) fn col2im(params: &Conv2dParams, columns: &[f32], images: &mut [f32]) {
    let geometry = Geometry::of(params);
    let patch_len = params.patch_len();
    let image_len = params.input.len();
    images.fill(0.0);
    let mut patches = columns.chunks_exact(patch_len);
    for image in images.chunks_exact_mut(image_len) {
        for (oy, ox) in geometry.output_pixels() {
            let column = patches.next().expect("columns sized for the images");
            for (ky, row) in column.chunks_exact(geometry.row_len).enumerate() {
                let Some(iy) = geometry.input_row(oy, ky) else { continue };
                let (first, last, ix) = valid_columns(geometry.left(ox), geometry.kernel_width, geometry.width);
                if last > first {
                    let c = geometry.channels;
                    let start = (iy * geometry.width + ix) * c;
                    let target = &mut image[start..start + (last - first) * c];
                    target.iter_mut().zip(&row[first * c..last * c]).for_each(|(g, d)| *g += d);
                }
            }
        }
    }
}

/// The sizes im2col walks by, taken once from the parameters.
struct Geometry {
    channels: usize,
    height: usize,
    width: usize,
    kernel_height: usize,
    kernel_width: usize,
    stride: usize,
    padding: usize,
    out_height: usize,
    out_width: usize,
    /// Values in one kernel row of a patch: `kernel_width · channels`.
    row_len: usize,
}

impl Geometry {
    fn of(params: &Conv2dParams) -> Self {
        let output = params.output_shape();
        Geometry {
            channels: params.input.channels,
            height: params.input.height,
            width: params.input.width,
            kernel_height: params.kernel.0,
            kernel_width: params.kernel.1,
            stride: params.stride,
            padding: params.padding,
            out_height: output.height,
            out_width: output.width,
            row_len: params.kernel.1 * params.input.channels,
        }
    }

    fn output_pixels(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let out_width = self.out_width;
        (0..self.out_height).flat_map(move |oy| (0..out_width).map(move |ox| (oy, ox)))
    }

    /// The input row under kernel row `ky` of output row `oy`, or `None` in the padding.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride + ky).checked_sub(self.padding).filter(|&iy| iy < self.height)
    }

    /// The input column under the first kernel column of output column `ox` (negative in the
    /// padding).
    fn left(&self, ox: usize) -> isize {
        (ox * self.stride) as isize - self.padding as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    #[test]
    fn patches_follow_the_definition() {
        // One 2-channel 3x4 image, 2x3 kernel, stride 2, padding 1: compare with direct indexing.
        let params = Conv2dParams::new(Shape::new(2, 3, 4), 1, (2, 3), 2, 1, 0).unwrap();
        let image: Vec<f32> = (0..24).map(|v| v as f32 + 1.0).collect();
        let mut columns = vec![f32::NAN; params.patch_len() * params.patches()];
        im2col(&params, &image, &mut columns);
        let out = params.output_shape();
        for (p, column) in columns.chunks_exact(params.patch_len()).enumerate() {
            let (oy, ox) = (p / out.width, p % out.width);
            for ky in 0..2 {
                for kx in 0..3 {
                    for c in 0..2 {
                        let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                        let inside = (0..3).contains(&iy) && (0..4).contains(&ix);
                        let want = if inside { image[((iy * 4 + ix) * 2) as usize + c] } else { 0.0 };
                        assert_eq!(column[(ky * 3 + kx) * 2 + c], want);
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), y> = <x, col2im(y)> for any x, y.
        let params = Conv2dParams::new(Shape::new(3, 5, 4), 1, (3, 2), 1, 2, 0).unwrap();
        let x: Vec<f32> = (0..params.input.len()).map(|i| ((i * 7 % 11) as f32) - 5.0).collect();
        let y: Vec<f32> = (0..params.patch_len() * params.patches()).map(|i| ((i * 5 % 13) as f32) - 6.0).collect();
        let mut columns = vec![0.0; y.len()];
        im2col(&params, &x, &mut columns);
        let mut folded = vec![0.0; x.len()];
        col2im(&params, &y, &mut folded);
        let left: f32 = columns.iter().zip(&y).map(|(a, b)| a * b).sum();
        let right: f32 = x.iter().zip(&folded).map(|(a, b)| a * b).sum();
        assert_eq!(left, right);
    }
}
