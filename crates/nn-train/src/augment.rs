//! Data augmentation: each training image is moved a little at random (shifted, rotated,
//! scaled, elastically distorted) each time it is learned from, so that the network sees many
//! versions of every digit. Nielsen's "expanded training data" (ch. 3) shifts by a pixel;
//! Simard, Steinkraus and Platt (2003) add elastic distortions and reach 99.3% with an MLP.
//!
//! The draws of a sample come from the batch's seed and the sample's place in the batch alone, so
//! training stays bit-identical whatever the number of threads; validation and test images are
//! never touched.

use std::fmt;
use std::str::FromStr;

use nn_core::{Shape, mix_seed};
use pulp::{Simd, WithSimd};
use serde::{Deserialize, Serialize};

use crate::vectorized::vectorized;

mod resample;

use resample::{ResampleScratch, resample};

/// Set apart from the other uses of a batch's seed (dropout's masks).
const AUGMENTATION_STREAM: u64 = 0x6175_676d_656e_7421;

/// The widest elastic smoothing accepted, in pixels (MNIST's images are 28 wide; Simard uses 4).
const MAX_ELASTIC_SIGMA: f32 = 100.0;

/// The largest shift accepted, in pixels: a quarter of MNIST's 28-pixel field. Beyond it a
/// digit of 20 pixels leaves the field.
pub const MAX_SHIFT: f32 = 7.0;

/// How far an image may be moved: every draw is uniform in `[-max, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augmentation {
    /// Largest shift, in pixels, along each axis.
    pub shift: f32,
    /// Largest rotation, in degrees.
    pub rotation: f32,
    /// Largest relative change of size: the scale is drawn in `[1 - scale, 1 + scale]`.
    pub scale: f32,
    /// Simard's α: the strength of the elastic distortion, in pixels (0: none).
    pub elastic_alpha: f32,
    /// Simard's σ: the smoothness of the elastic distortion, in pixels.
    pub elastic_sigma: f32,
}

impl Default for Augmentation {
    /// No change at all.
    fn default() -> Self {
        Augmentation { shift: 0.0, rotation: 0.0, scale: 0.0, elastic_alpha: 0.0, elastic_sigma: 4.0 }
    }
}

impl Augmentation {
    /// Refuses values that are negative, not finite, or would turn an image inside out.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("shift", self.shift),
            ("rotation", self.rotation),
            ("scale", self.scale),
            ("elastic alpha", self.elastic_alpha),
            ("elastic sigma", self.elastic_sigma),
        ];
        if let Some((name, value)) = fields.iter().find(|(_, value)| !(value.is_finite() && *value >= 0.0)) {
            return Err(format!("the augmentation's {name} must be finite and at least 0, not {value}"));
        }
        if self.shift > MAX_SHIFT {
            return Err(format!(
                "the augmentation's shift must be at most {MAX_SHIFT} pixels (a quarter of a 28-pixel image), not {}",
                self.shift
            ));
        }
        if self.scale >= 1.0 {
            return Err(format!(
                "the augmentation's scale must be below 1 (a size change of 100%), not {}",
                self.scale
            ));
        }
        // The blur's kernel spans 6 sigma: a bound keeps a typo from allocating gigabytes.
        if self.elastic_sigma > MAX_ELASTIC_SIGMA {
            return Err(format!(
                "an elastic distortion's sigma must be at most {MAX_ELASTIC_SIGMA} pixels, not {}",
                self.elastic_sigma
            ));
        }
        if self.elastic_alpha > 0.0 && self.elastic_sigma < 0.5 {
            return Err(format!(
                "an elastic distortion needs a sigma of at least 0.5 pixels, not {}",
                self.elastic_sigma
            ));
        }
        Ok(())
    }

    /// Whether it leaves every image as it is.
    pub fn is_identity(&self) -> bool {
        self.shift == 0.0 && self.rotation == 0.0 && self.scale == 0.0 && self.elastic_alpha == 0.0
    }
}

/// `shift=2,rotate=10,scale=0.1,elastic=34/4` (any subset, in any order); `none` for no change.
impl fmt::Display for Augmentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.shift > 0.0 {
            parts.push(format!("shift={}", self.shift));
        }
        if self.rotation > 0.0 {
            parts.push(format!("rotate={}", self.rotation));
        }
        if self.scale > 0.0 {
            parts.push(format!("scale={}", self.scale));
        }
        if self.elastic_alpha > 0.0 {
            parts.push(format!("elastic={}/{}", self.elastic_alpha, self.elastic_sigma));
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join(",")) }
    }
}

impl FromStr for Augmentation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut augmentation = Augmentation::default();
        if text.trim() == "none" {
            return Ok(augmentation);
        }
        let number = |key: &str, value: &str| {
            value.trim().parse::<f32>().map_err(|_| format!("{key}={value:?} is not a number"))
        };
        let mut seen: Vec<&str> = Vec::new();
        for part in text.split(',') {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("{part:?} is not key=value; write e.g. shift=2,rotate=10,scale=0.1,elastic=34/4")
            })?;
            let canonical = match key.trim() {
                "rotation" => "rotate",
                other => other,
            };
            if seen.contains(&canonical) {
                return Err(format!("{canonical} is given twice in {text:?}: give each key once"));
            }
            seen.push(canonical);
            match key.trim() {
                "shift" => augmentation.shift = number(key, value)?,
                "rotate" | "rotation" => augmentation.rotation = number(key, value)?,
                "scale" => augmentation.scale = number(key, value)?,
                "elastic" => {
                    let (alpha, sigma) = value.split_once('/').ok_or_else(|| {
                        format!("elastic={value} needs a sigma: write elastic=ALPHA/SIGMA, e.g. elastic=34/4")
                    })?;
                    augmentation.elastic_alpha = number(key, alpha)?;
                    augmentation.elastic_sigma = number(key, sigma)?;
                }
                other => {
                    return Err(format!("unknown augmentation {other:?}: the keys are shift, rotate, scale, elastic"));
                }
            }
        }
        augmentation.validate()?;
        Ok(augmentation)
    }
}

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

/// `out[i] = Σₖ kernel[k]·source[i + k·stride]` for every `i`, the taps added in order from
/// k = 0: one pass of the blur.
#[inline(always)]
fn convolve(kernel: &[f32], source: &[f32], stride: usize, out: &mut [f32]) {
    pulp::Arch::new().dispatch(Convolve { taps: Taps { kernel, source, stride }, out });
}

/// [`convolve`] on explicit vectors. Loops left to the compiler ran at the speed of scalar
/// code here (about 7 multiply-adds per nanosecond whatever the vector width), so the sums are
/// kept in four vectors at a time, each tap's products added to them in order: a multiply
/// then an add, rounded as the scalar `sum += g * value` is, so the bits stay the same.
struct Convolve<'a> {
    taps: Taps<'a>,
    out: &'a mut [f32],
}

/// What each output of [`convolve`] sums.
#[derive(Clone, Copy)]
struct Taps<'a> {
    kernel: &'a [f32],
    source: &'a [f32],
    stride: usize,
}

impl Taps<'_> {
    /// Outputs `first..` into `out`, `N` whole vectors at a time, as many blocks as `out` holds;
    /// returns how many outputs that was.
    #[inline(always)]
    fn in_vectors<S: Simd, const N: usize>(self, simd: S, first: usize, out: &mut [f32]) -> usize {
        let block = N * std::mem::size_of::<S::f32s>() / std::mem::size_of::<f32>();
        let mut done = 0;
        for (start, chunk) in (first..).step_by(block).zip(out.chunks_exact_mut(block)) {
            let mut sums = [simd.splat_f32s(0.0); N];
            for (k, &g) in self.kernel.iter().enumerate() {
                let g = simd.splat_f32s(g);
                let from = start + k * self.stride;
                let (values, _) = S::as_simd_f32s(&self.source[from..from + block]);
                for (sum, &value) in sums.iter_mut().zip(values) {
                    *sum = simd.add_f32s(*sum, simd.mul_f32s(g, value));
                }
            }
            S::as_mut_simd_f32s(chunk).0.copy_from_slice(&sums);
            done += block;
        }
        done
    }

    /// Output `i`, one value.
    #[inline(always)]
    fn at(self, i: usize) -> f32 {
        let mut sum = 0.0;
        for (k, &g) in self.kernel.iter().enumerate() {
            sum += g * self.source[i + k * self.stride];
        }
        sum
    }
}

impl WithSimd for Convolve<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Convolve { taps, out } = self;
        // Four vectors at a time, then what is left one vector at a time, then one value at a time.
        let mut done = taps.in_vectors::<S, 4>(simd, 0, out);
        done += taps.in_vectors::<S, 1>(simd, done, &mut out[done..]);
        for (i, out) in (done..).zip(&mut out[done..]) {
            *out = taps.at(i);
        }
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
    fn text_form_round_trips_and_bad_values_are_refused() {
        let a: Augmentation = "shift=2,rotate=10,scale=0.1,elastic=34/4".parse().unwrap();
        assert_eq!((a.shift, a.rotation, a.scale, a.elastic_alpha, a.elastic_sigma), (2.0, 10.0, 0.1, 34.0, 4.0));
        assert_eq!(a.to_string().parse::<Augmentation>().unwrap(), a);
        assert!("none".parse::<Augmentation>().unwrap().is_identity());
        for bad in [
            "shift=-1",
            "scale=1",
            "twist=3",
            "shift",
            "elastic=34/0.1",
            "rotate=nan",
            "elastic=34/1e9",
            "shift=100",
            "shift=1e30",
            "shift=inf",
            "elastic=34",
            "shift=2,shift=3",
            "rotate=5,rotation=5",
        ] {
            assert!(bad.parse::<Augmentation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shift_off_the_field_a_key_given_twice_and_an_elastic_without_sigma_are_named() {
        let error = |text: &str| text.parse::<Augmentation>().unwrap_err();
        assert_eq!(
            error("shift=100"),
            "the augmentation's shift must be at most 7 pixels (a quarter of a 28-pixel image), not 100"
        );
        assert!(error("shift=1e30").contains("at most 7 pixels"), "{}", error("shift=1e30"));
        assert_eq!(error("shift=2,shift=3"), "shift is given twice in \"shift=2,shift=3\": give each key once");
        assert!(error("rotation=5,rotate=5").starts_with("rotate is given twice"));
        assert_eq!(error("elastic=34"), "elastic=34 needs a sigma: write elastic=ALPHA/SIGMA, e.g. elastic=34/4");
        let widest: Augmentation = "shift=7".parse().unwrap();
        assert_eq!(widest.shift, MAX_SHIFT);
        let refused = Augmentation { shift: 7.5, ..Augmentation::default() };
        assert!(refused.validate().is_err(), "recipe files are held to the same bound");
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
