//! Data augmentation: each training image is moved a little at random (shifted, rotated,
//! scaled, elastically distorted) each time it is learned from, so that the network sees many
//! versions of every digit. Nielsen's "expanded training data" (ch. 3) shifts by a pixel;
//! Simard, Steinkraus and Platt (2003) add elastic distortions and reach 99.3% with an MLP.
//!
//! The draws of a sample come from the batch's seed and the sample's place in the batch alone, so
//! training stays bit-identical whatever the number of threads; validation and test images are
//! never touched.

use nn_core::{Shape, mix_seed};

use crate::Augmentation;
use crate::vectorized::vectorized;

mod convolve;
mod resample;

use convolve::convolve;
use resample::{ResampleScratch, resample};

/// Set apart from the other uses of a batch's seed (dropout's masks).
const AUGMENTATION_STREAM: u64 = 0x6175_676d_656e_7421;

/// An [`Augmentation`] ready for images of one size, with its Gaussian kernel computed once.
#[derive(Debug, Clone)]
pub(crate) struct Augmenter {
    augmentation: Augmentation,
    rows: usize,
    cols: usize,
    kernel: Vec<f32>,
}

/// Reused buffers of one thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    dx: Vec<f32>,
    dy: Vec<f32>,
    /// Where each output pixel reads the source image.
    source_x: Vec<f32>,
    source_y: Vec<f32>,
    resample: ResampleScratch,
    blur: BlurScratch,
}

/// The buffers of one blur.
#[derive(Debug, Clone, Default)]
struct BlurScratch {
    padded: Vec<f32>,
    sums: Vec<f32>,
}

impl Augmenter {
    /// For networks taking `input`: one channel of `rows x cols`, or a flat input of a square
    /// number of values (a dense network's 784 = 28 x 28). `None` when it is neither.
    pub(crate) fn new(augmentation: Augmentation, input: Shape) -> Option<Augmenter> {
        let (rows, cols) = if input.channels == 1 && input.height > 1 {
            (input.height, input.width)
        } else {
            let side = (input.len() as f64).sqrt().round() as usize;
            if side * side != input.len() || side < 2 {
                return None;
            }
            (side, side)
        };
        let sigma = augmentation.elastic_sigma;
        let radius = (3.0 * sigma).ceil() as isize;
        // A normalised Gaussian: g(k) = exp(-k²/2σ²) / Σ.
        let mut kernel: Vec<f32> =
            (-radius..=radius).map(|k| (-((k * k) as f32) / (2.0 * sigma * sigma)).exp()).collect();
        let total: f32 = kernel.iter().sum();
        kernel.iter_mut().for_each(|g| *g /= total);
        Some(Augmenter { augmentation, rows, cols, kernel })
    }

    /// Moves `image` (row-major) by the draws of sample `position` of the batch of `seed`.
    pub(crate) fn apply(&self, image: &mut [f32], seed: u64, position: usize, scratch: &mut Scratch) {
        // Compiled for the widest vectors: each value is computed by the same operations in the
        // same order whatever they are, so the bits do not depend on the processor.
        vectorized(
            #[inline(always)]
            || self.apply_here(image, seed, position, scratch),
        );
    }

    #[inline(always)]
    fn apply_here(&self, image: &mut [f32], seed: u64, position: usize, scratch: &mut Scratch) {
        let a = &self.augmentation;
        let (rows, cols) = (self.rows, self.cols);
        // Counter-based draws (SplitMix64, as dropout's masks): number k of this sample is a
        // hash of the batch's seed, the sample's place and k, cheap enough for a whole field.
        let key = mix_seed(mix_seed(seed ^ AUGMENTATION_STREAM) ^ position as u64);
        let uniform = |k: u64, max: f32| if max > 0.0 { max * symmetric_unit(mix_seed(key ^ k)) } else { 0.0 };
        let (tx, ty) = (uniform(0, a.shift), uniform(1, a.shift));
        let angle = uniform(2, a.rotation).to_radians();
        let scale = 1.0 + uniform(3, a.scale);
        let elastic = a.elastic_alpha > 0.0;
        if elastic {
            self.displacement_field(mix_seed(key ^ 4), scratch);
        }
        // Each output pixel p takes the source pixel at A⁻¹(p - centre - t) + centre + α·d(p),
        // where A rotates by `angle` and scales by `scale`.
        let (cy, cx) = ((rows as f32 - 1.0) / 2.0, (cols as f32 - 1.0) / 2.0);
        let (sin, cos) = angle.sin_cos();
        let (inv_cos, inv_sin) = (cos / scale, sin / scale);
        let (source_x, source_y) = (&mut scratch.source_x, &mut scratch.source_y);
        source_x.resize(rows * cols, 0.0);
        source_y.resize(rows * cols, 0.0);
        for (r, (row_x, row_y)) in source_x.chunks_exact_mut(cols).zip(source_y.chunks_exact_mut(cols)).enumerate() {
            let y = r as f32 - cy - ty;
            for (c, (sx, sy)) in row_x.iter_mut().zip(row_y.iter_mut()).enumerate() {
                let x = c as f32 - cx - tx;
                *sx = inv_cos * x + inv_sin * y + cx;
                *sy = -inv_sin * x + inv_cos * y + cy;
            }
        }
        if elastic {
            for (sx, &dx) in source_x.iter_mut().zip(&scratch.dx) {
                *sx += a.elastic_alpha * dx;
            }
            for (sy, &dy) in source_y.iter_mut().zip(&scratch.dy) {
                *sy += a.elastic_alpha * dy;
            }
        }
        resample(image, rows, cols, source_x, source_y, &mut scratch.resample);
    }

    /// Simard's field: uniform noise in [-1, 1) per pixel and axis, smoothed by the Gaussian.
    #[inline(always)]
    fn displacement_field(&self, key: u64, scratch: &mut Scratch) {
        let n = self.rows * self.cols;
        scratch.dx.resize(n, 0.0);
        scratch.dy.resize(n, 0.0);
        for (i, (dx, dy)) in scratch.dx.iter_mut().zip(scratch.dy.iter_mut()).enumerate() {
            // One hash gives both axes: its high and low 32 bits.
            let bits = mix_seed(key ^ i as u64);
            *dx = symmetric_unit(bits >> 32);
            *dy = symmetric_unit(bits & 0xffff_ffff);
        }
        self.blur(&mut scratch.dx, &mut scratch.blur);
        self.blur(&mut scratch.dy, &mut scratch.blur);
    }

    /// Separable Gaussian blur of `field` in place, rows then columns, zero beyond the edges.
    /// Each pass treats the whole image as one long slice, so that its outputs are computed
    /// many at a time on full vectors.
    #[inline(always)]
    fn blur(&self, field: &mut [f32], scratch: &mut BlurScratch) {
        let (rows, cols) = (self.rows, self.cols);
        let radius = self.kernel.len() / 2;
        // Rows: each row with `radius` zeros on either side, one after the other. Position
        // (r, c) of the blurred rows is `Σₖ g[k]·padded[r·wide + c + k]`, so one pass over the
        // whole buffer computes every row at once (and, unused, the gaps between them).
        let wide = cols + 2 * radius;
        let (padded, sums) = (&mut scratch.padded, &mut scratch.sums);
        padded.clear();
        padded.resize(rows * wide, 0.0);
        for (padded_row, row) in padded.chunks_exact_mut(wide).zip(field.chunks_exact(cols)) {
            padded_row[radius..radius + cols].copy_from_slice(row);
        }
        sums.clear();
        sums.resize(rows * wide - 2 * radius, 0.0);
        convolve(&self.kernel, padded, 1, sums);
        // Columns: the rows-blurred image with `radius` rows of zeros above and below; output row
        // r is `Σₖ g[k]·row[r + k]`, again one pass over the whole image.
        padded.clear();
        padded.resize((rows + 2 * radius) * cols, 0.0);
        for (r, row) in padded[radius * cols..(radius + rows) * cols].chunks_exact_mut(cols).enumerate() {
            row.copy_from_slice(&sums[r * wide..r * wide + cols]);
        }
        convolve(&self.kernel, padded, cols, field);
    }
}

/// A number of [-1, 1) from the low 32 bits of `bits`: 24 of them make a float of [0, 1) exactly.
#[inline(always)]
fn symmetric_unit(bits: u64) -> f32 {
    ((bits as u32) >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    fn digit() -> Vec<f32> {
        // A 9x9 plus sign in a 28x28 image.
        let mut image = vec![0.0; 784];
        for k in 10..19 {
            image[14 * 28 + k] = 1.0;
            image[k * 28 + 14] = 1.0;
        }
        image
    }

    fn augmenter(text: &str) -> Augmenter {
        Augmenter::new(text.parse().unwrap(), Shape::flat(784)).unwrap()
    }

    #[test]
    fn a_whole_pixel_shift_moves_the_image_exactly() {
        let augmenter = augmenter("shift=3");
        let image = digit();
        let mut moved = image.clone();
        augmenter.apply(&mut moved, 7, 0, &mut Scratch::default());
        // Find the shift the draw made, then check the image moved by it (if whole).
        let mass = |im: &[f32]| -> (f32, f32) {
            let total: f32 = im.iter().sum();
            let (mut y, mut x) = (0.0, 0.0);
            for (i, v) in im.iter().enumerate() {
                y += (i / 28) as f32 * v;
                x += (i % 28) as f32 * v;
            }
            (y / total, x / total)
        };
        let ((y0, x0), (y1, x1)) = (mass(&image), mass(&moved));
        assert!((y1 - y0).abs() <= 3.0 && (x1 - x0).abs() <= 3.0 && (y1 - y0, x1 - x0) != (0.0, 0.0));
        let total: f32 = moved.iter().sum();
        assert!((total - image.iter().sum::<f32>()).abs() < 1e-3, "a shift inside the frame keeps the ink");
    }

    #[test]
    fn the_identity_changes_nothing_and_draws_depend_on_seed_and_position_only() {
        let image = digit();
        let mut same = image.clone();
        augmenter("none").apply(&mut same, 1, 0, &mut Scratch::default());
        assert_eq!(same, image);
        let augmenter = augmenter("shift=2,rotate=15,scale=0.15,elastic=34/4");
        let run = |seed, position| {
            let mut im = image.clone();
            augmenter.apply(&mut im, seed, position, &mut Scratch::default());
            im
        };
        assert_eq!(run(5, 3), run(5, 3));
        assert_ne!(run(5, 3), run(5, 4));
        assert_ne!(run(5, 3), run(6, 3));
        let moved = run(5, 3);
        assert!(moved.iter().all(|v| v.is_finite() && (-1e-6..=1.0 + 1e-6).contains(v)));
        assert!(moved.iter().sum::<f32>() > 5.0, "the digit stays mostly inside");
    }

    #[test]
    fn the_vector_convolution_gives_the_bits_of_the_plain_sum() {
        // Lengths around the vector blocks (16, 32, 64 values), strides of both passes.
        for (len, stride) in [(1, 1), (15, 1), (63, 1), (64, 1), (200, 1), (1432, 1), (784, 28), (129, 13)] {
            let kernel: Vec<f32> = (0..9).map(|k| symmetric_unit(mix_seed(k)) * 0.3).collect();
            let source: Vec<f32> = (0..len + 8 * stride).map(|i| symmetric_unit(mix_seed(1000 + i as u64))).collect();
            let mut out = vec![0.0; len];
            vectorized(|| convolve(&kernel, &source, stride, &mut out));
            for (i, &value) in out.iter().enumerate() {
                let mut sum = 0.0f32;
                for (k, &g) in kernel.iter().enumerate() {
                    sum += g * source[i + k * stride];
                }
                assert_eq!(value.to_bits(), sum.to_bits(), "output {i} of {len}, stride {stride}");
            }
        }
    }

    #[test]
    fn the_blur_is_a_normalised_gaussian_away_from_the_edges() {
        let augmenter = Augmenter::new("elastic=1/2".parse().unwrap(), Shape::flat(784)).unwrap();
        let mut field = vec![0.0; 784];
        field[14 * 28 + 14] = 1.0;
        augmenter.blur(&mut field, &mut BlurScratch::default());
        let total: f32 = field.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        let g = |d: f32| (-d * d / 8.0).exp();
        let ratio = field[14 * 28 + 16] / field[14 * 28 + 14];
        assert!((ratio - g(2.0)).abs() < 1e-5, "{ratio}");
        assert!((field[16 * 28 + 16] / field[14 * 28 + 14] - g(2.0) * g(2.0)).abs() < 1e-5);
        assert_eq!(field[14 * 28 + 14 - 7], 0.0, "nothing beyond the kernel's 3 sigma");
    }

    #[test]
    fn only_images_get_an_augmenter() {
        let a = Augmentation::default();
        assert!(Augmenter::new(a, Shape::new(1, 28, 28)).is_some());
        assert!(Augmenter::new(a, Shape::flat(784)).is_some());
        assert!(Augmenter::new(a, Shape::flat(785)).is_none());
        assert!(Augmenter::new(a, Shape::new(3, 8, 8)).is_none());
    }
}
