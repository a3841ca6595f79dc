//! Unfolding image patches into columns (im2col) and folding their gradients back (col2im), as in
//! Saitō's chapter 7: with patches as columns, a convolution is one matrix product.
//!
//! Images are stored channels last (see [`Shape`](crate::Shape)). Each image is first copied
//! into a zero-padded one, so that every patch, wherever it lies, is `kh` runs of
//! `kw · channels` consecutive values, `(W + 2·padding) · channels` apart: unfolding is then
//! `kh` plain copies per patch, with no test for the border. A patch's column holds its values in
//! the order `(ky, kx, channel)`, the order of a [`Conv2d`](crate::Conv2d)'s weights.

use crate::Conv2dParams;

/// The sizes im2col walks by, taken once from the parameters.
pub(crate) struct Geometry {
    pub channels: usize,
    pub width: usize,
    pub padding: usize,
    /// Values in one row of the padded image: `(W + 2·padding) · channels`.
    pub padded_row: usize,
    pub padded_len: usize,
    /// Values in one kernel row of a patch: `kw · channels`.
    pub patch_row: usize,
    /// Values between two patches side by side: `stride · channels`.
    pub step: usize,
    /// Values between two rows of patches: `stride · padded_row`.
    pub row_step: usize,
    pub out_height: usize,
    pub out_width: usize,
}

impl Geometry {
    pub fn of(params: &Conv2dParams) -> Self {
        let input = params.input;
        let output = params.output_shape();
        let padded_row = (input.width + 2 * params.padding) * input.channels;
        Geometry {
            channels: input.channels,
            width: input.width,
            padding: params.padding,
            padded_row,
            padded_len: (input.height + 2 * params.padding) * padded_row,
            patch_row: params.kernel.1 * input.channels,
            step: params.stride * input.channels,
            row_step: params.stride * padded_row,
            out_height: output.height,
            out_width: output.width,
        }
    }

    /// Where the image's row `y` starts in the padded image.
    pub fn padded_start(&self, y: usize) -> usize {
        (y + self.padding) * self.padded_row + self.padding * self.channels
    }

    /// The start of each patch in the padded image, patch by patch.
    pub fn patch_starts(&self) -> impl Iterator<Item = usize> + use<> {
        let (row_step, step, out_width) = (self.row_step, self.step, self.out_width);
        (0..self.out_height).flat_map(move |oy| (0..out_width).map(move |ox| oy * row_step + ox * step))
    }
}

/// `image` in `padded` (resized to the padded image, its border zero).
pub(crate) fn pad<'a>(geometry: &Geometry, image: &'a [f32], padded: &'a mut Vec<f32>) -> &'a [f32] {
    if geometry.padding == 0 {
        return image;
    }
    padded.clear();
    padded.resize(geometry.padded_len, 0.0);
    let row = geometry.width * geometry.channels;
    for (y, source) in image.chunks_exact(row).enumerate() {
        let start = geometry.padded_start(y);
        padded[start..start + row].copy_from_slice(source);
    }
    padded
}

/// Writes the patches of `images` (whole images, one after the other) into `columns`: one column
/// of [`patch_len`](Conv2dParams::patch_len) values per output pixel, images one after the other,
/// zeros where a patch reaches into the padding. `padded` is scratch space.
pub(crate) fn im2col(params: &Conv2dParams, images: &[f32], columns: &mut [f32], padded: &mut Vec<f32>) {
    let geometry = Geometry::of(params);
    // A first layer's kernel rows are a few values long: copied as arrays of a length known
    // when compiling, they are a move or two each instead of a call to `memcpy`.
    match geometry.patch_row {
        1 => unfold::<1>(params, &geometry, images, columns, padded),
        2 => unfold::<2>(params, &geometry, images, columns, padded),
        3 => unfold::<3>(params, &geometry, images, columns, padded),
        4 => unfold::<4>(params, &geometry, images, columns, padded),
        5 => unfold::<5>(params, &geometry, images, columns, padded),
        _ => unfold::<0>(params, &geometry, images, columns, padded),
    }
}

/// [`im2col`] for kernel rows of `ROW` values, or of any length when `ROW` is 0.
#[inline(always)]
fn unfold<const ROW: usize>(
    params: &Conv2dParams,
    geometry: &Geometry,
    images: &[f32],
    columns: &mut [f32],
    padded: &mut Vec<f32>,
) {
    let (patch_row, padded_row) = (geometry.patch_row, geometry.padded_row);
    let mut patches = columns.chunks_exact_mut(params.patch_len());
    for image in images.chunks_exact(params.input.len()) {
        let image = pad(geometry, image, padded);
        for start in geometry.patch_starts() {
            let column = patches.next().expect("columns sized for the images");
            for (ky, row) in column.chunks_exact_mut(patch_row).enumerate() {
                let from = start + ky * padded_row;
                if ROW == 0 {
                    row.copy_from_slice(&image[from..from + patch_row]);
                } else {
                    let source: &[f32; ROW] = image[from..from + ROW].try_into().expect("a kernel row");
                    let target: &mut [f32; ROW] = row.try_into().expect("a kernel row");
                    *target = *source;
                }
            }
        }
    }
}

/// The transpose of [`im2col`]'s columns: value `k` of every patch of `images` (in the order
/// `(ky, kx, channel)` of a column), for each `k` in turn: `rows[k · n + patch]`, `n` being the
/// patches of all the images. The weight gradient `∂W = δ Pᵀ` reads `Pᵀ` this way.
pub(crate) fn im2row(params: &Conv2dParams, images: &[f32], rows: &mut [f32], padded: &mut Vec<f32>) {
    let geometry = Geometry::of(params);
    let (kernel_width, channels) = (params.kernel.1, geometry.channels);
    let patches = params.patches();
    let n = images.len() / params.input.len() * patches;
    for (index, image) in images.chunks_exact(params.input.len()).enumerate() {
        let image = pad(&geometry, image, padded);
        for (k, row) in rows.chunks_exact_mut(n).enumerate() {
            let (ky, kx, c) = (k / (kernel_width * channels), k / channels % kernel_width, k % channels);
            let first = ky * geometry.padded_row + kx * channels + c;
            let row = &mut row[index * patches..(index + 1) * patches];
            for (oy, out_row) in row.chunks_exact_mut(geometry.out_width).enumerate() {
                let start = first + oy * geometry.row_step;
                if geometry.step == 1 {
                    out_row.copy_from_slice(&image[start..start + geometry.out_width]);
                } else {
                    out_row.iter_mut().enumerate().for_each(|(ox, v)| *v = image[start + ox * geometry.step]);
                }
            }
        }
    }
}

/// The reverse of [`im2col`] for gradients: `images` (overwritten) receives, at each input value,
/// the sum of the column values that were copied from it, in column order. `padded` is scratch
/// space.
pub(crate) fn col2im(params: &Conv2dParams, columns: &[f32], images: &mut [f32], padded: &mut Vec<f32>) {
    let geometry = Geometry::of(params);
    let (patch_row, padded_row) = (geometry.patch_row, geometry.padded_row);
    let mut patches = columns.chunks_exact(params.patch_len());
    for image in images.chunks_exact_mut(params.input.len()) {
        padded.clear();
        padded.resize(geometry.padded_len, 0.0);
        for start in geometry.patch_starts() {
            let column = patches.next().expect("columns sized for the images");
            for (ky, row) in column.chunks_exact(patch_row).enumerate() {
                let from = start + ky * padded_row;
                padded[from..from + patch_row].iter_mut().zip(row).for_each(|(g, d)| *g += d);
            }
        }
        let row = geometry.width * geometry.channels;
        for (y, target) in image.chunks_exact_mut(row).enumerate() {
            let start = geometry.padded_start(y);
            target.copy_from_slice(&padded[start..start + row]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;

    #[test]
    fn patches_follow_the_definition() {
        // One 2-channel 3x4 image, 2x3 kernel, stride 2, padding 1: compare with direct indexing.
        let params = Conv2dParams::new_at(Shape::new(2, 3, 4), 1, (2, 3), 2, 1, 0).unwrap();
        let image: Vec<f32> = (0..24).map(|v| v as f32 + 1.0).collect();
        let mut columns = vec![f32::NAN; params.patch_len() * params.patches()];
        im2col(&params, &image, &mut columns, &mut Vec::new());
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
    fn im2row_is_the_transpose_of_im2col() {
        for (input, kernel, stride, padding) in
            [(Shape::new(1, 6, 7), (3, 2), 1, 1), (Shape::new(3, 5, 6), (2, 3), 2, 2)]
        {
            let params = Conv2dParams::new_at(input, 1, kernel, stride, padding, 0).unwrap();
            let images: Vec<f32> = (0..2 * input.len()).map(|v| v as f32 + 1.0).collect();
            let (k, n) = (params.patch_len(), 2 * params.patches());
            let mut columns = vec![f32::NAN; k * n];
            im2col(&params, &images, &mut columns, &mut Vec::new());
            let mut rows = vec![f32::NAN; k * n];
            im2row(&params, &images, &mut rows, &mut Vec::new());
            for patch in 0..n {
                for value in 0..k {
                    assert_eq!(rows[value * n + patch], columns[patch * k + value]);
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), y> = <x, col2im(y)> for any x, y.
        let params = Conv2dParams::new_at(Shape::new(3, 5, 4), 1, (3, 2), 1, 2, 0).unwrap();
        let x: Vec<f32> = (0..params.input.len()).map(|i| ((i * 7 % 11) as f32) - 5.0).collect();
        let y: Vec<f32> = (0..params.patch_len() * params.patches()).map(|i| ((i * 5 % 13) as f32) - 6.0).collect();
        let mut columns = vec![0.0; y.len()];
        im2col(&params, &x, &mut columns, &mut Vec::new());
        let mut folded = vec![0.0; x.len()];
        col2im(&params, &y, &mut folded, &mut Vec::new());
        let left: f32 = columns.iter().zip(&y).map(|(a, b)| a * b).sum();
        let right: f32 = x.iter().zip(&folded).map(|(a, b)| a * b).sum();
        assert_eq!(left, right);
    }
}
