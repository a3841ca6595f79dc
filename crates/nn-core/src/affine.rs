//! The affine map of a dense layer, `Z = W X + b`, as a register-tiled kernel that reads the
//! weights where they lie.
//!
//! Why not nalgebra's `gemm` (`matrixmultiply`) here: a blocked product copies ("packs") both
//! operands before multiplying. A layer's forward pass multiplies the whole weight matrix by a
//! few dozen or hundred samples, so packing `W` costs about as much memory traffic as the
//! product itself, and for one image (inference) far more. `W` is stored column by column
//! (`outputs × inputs`), so column `k` of `W` is contiguous: the kernel walks `k` and, for a tile
//! of two vectors of outputs × 8 samples (4 with AVX2) held in registers, adds `W[:, k] · x[k, j]`
//! with fused multiply-adds. Only for batches of 32 samples or more is each band's slice of `W`
//! copied side by side first, one block of inputs at a time (see `band`): a copy of `W` once per
//! call, which the many tiles of samples then read from the L1 cache.
//!
//! Images are mostly background, and a term whose input is zero adds nothing: for layers of
//! many outputs and batches that copy `W`, each tile of samples first gathers the inputs that
//! are nonzero in at least one of its samples, side by side ("panels", see `affine_panels.rs`),
//! and the kernel multiplies those only. Half of an MNIST block of inputs is zero in all 8
//! images of a tile, so a first layer does about half the multiply-adds. Layers of 64 to 256
//! outputs on such inputs go instead to `sparse_affine.rs`, where each sample visits its own
//! nonzero inputs alone.
//!
//! Every output value is computed the same way whatever the batch and wherever its sample sits
//! in it: `z = b`, then `z = fma(W[i, k], x[k, j], z)` for `k = 0, 1, …` in order, leaving out
//! terms whose input is zero or not, which changes no value; the sums are stored as `z + 0`, so
//! a zero is always `+0` (see `tile`). So one image and a batch give the same bits, without
//! padding.
//!
//! `pulp` runs the kernel with the best vectors the processor offers, chosen at run time
//! (AVX-512: 16 lanes, AVX2 with FMA: 8, otherwise one value at a time, multiplying and adding
//! separately since a software FMA would be many times slower). All of it is safe code.

use std::cell::Cell;
use std::ops::Range;

use pulp::{Simd, WithSimd};

use crate::affine_panels::Panels;
use crate::affine_tiles::{INPUT_BLOCK, TILE_SAMPLES, TILE_VECTORS, WIDE_TILE};
use crate::aligned_buffer::AlignedBuffer;
use crate::sparse_affine::affine_of_nonzero_inputs;
use crate::vector_slices::{Lanes, all_finite, load, store};

/// Batches from this size copy each band's weights side by side first (see `band`); below
/// it the copy costs more than it saves (measured: 784-30-10 at batch 10 trains 15% slower
/// with it, 784-512-10 at batch 64 faster).
const PACK_MIN_SAMPLES: usize = 32;
/// Layers of fewer bands compute every term: each panel serves every band of the layer, and
/// below this many the gathering costs more than it saves (measured, 64 samples with 80% of
/// their inputs zero: 512 outputs 425 → 275 µs, 128 outputs 104 → 80 µs, but 30 outputs 34 →
/// 49 µs).
const PANEL_MIN_BANDS: usize = 4;

/// `Z = W X + b`: `weights` is `outputs × inputs` column-major, `bias` has `outputs` values, `x`
/// holds `batch` samples of `inputs` values one after the other, and `z` receives `batch`
/// columns of `outputs` values.
pub(crate) fn affine(weights: &[f32], bias: &[f32], x: &[f32], batch: usize, z: &mut [f32]) {
    let (outputs, inputs) = (bias.len(), weights.len() / bias.len());
    assert!(x.len() == inputs * batch && z.len() == outputs * batch);
    // Layers whose inputs are mostly zero, of 64 to 256 outputs: each sample over its own
    // nonzero inputs (`sparse_affine.rs`), the same bits.
    if affine_of_nonzero_inputs(weights, bias, x, batch, z) {
        return;
    }
    affine_strided(weights, bias, Columns { values: x, stride: inputs }, batch, z, outputs);
}

/// Sample columns that lie `stride` values apart (at least their length), as the positions of
/// Winograd's transformed tiles do.
pub(crate) struct Columns<'a> {
    pub values: &'a [f32],
    pub stride: usize,
}

impl<'a> Columns<'a> {
    /// The first `len` values of column `j`.
    pub fn column(&self, j: usize, len: usize) -> &'a [f32] {
        &self.values[j * self.stride..j * self.stride + len]
    }
}

/// [`affine`] on columns `x` and `z` that lie `x.stride` and `z_stride` values apart.
pub(crate) fn affine_strided(
    weights: &[f32],
    bias: &[f32],
    x: Columns<'_>,
    batch: usize,
    z: &mut [f32],
    z_stride: usize,
) {
    let outputs = bias.len();
    assert!(batch == 0 || z.len() >= (batch - 1) * z_stride + outputs);
    run(weights, bias, x, batch, z, z_stride);
}

/// The kernel's entry.
fn run(weights: &[f32], bias: &[f32], x: Columns<'_>, batch: usize, z: &mut [f32], z_stride: usize) {
    let outputs = bias.len();
    let inputs = weights.len() / outputs;
    assert!(weights.len() == outputs * inputs && x.stride >= inputs && z_stride >= outputs);
    assert!(batch == 0 || x.values.len() >= (batch - 1) * x.stride + inputs);
    let (x_stride, x) = (x.stride, x.values);
    let lanes = pulp::Arch::new().dispatch(Lanes);
    // The copies of bands' weights go in this thread's buffer: started empty at every call, it
    // grew by reallocations at each of Winograd's many small products (1-3% of a training step).
    let packed = PACKED.take();
    let panels = PANELS.take();
    // The one kernel, compiled for both values of `WIDE_TAIL`.
    macro_rules! run_kernel {
        ($wide_tail:literal) => {
            pulp::Arch::new().dispatch(Affine::<$wide_tail> {
                outputs,
                inputs,
                weights,
                bias,
                x,
                x_stride,
                batch,
                z,
                z_stride,
                packed,
                panels,
            })
        };
    }
    let tail = outputs % (TILE_VECTORS * lanes);
    // The layer's last outputs fill more than one vector but less than a band (784-50-100-10's
    // first layer: 50 = 32 + 18). They go in one band of two vectors, the second partly padding,
    // from the copied strip: one pass over the samples instead of two, and each input broadcast
    // feeds two vectors (784-50-100-10 at batch 100: 65-69 → 61-63 µs, interleaved runs).
    // Compiled as a kernel of its own, because the band's row count is then no longer a
    // constant, which slowed the whole bands of every layer by 4-6%.
    let (packed, panels) =
        if batch >= PACK_MIN_SAMPLES && tail > lanes { run_kernel!(true) } else { run_kernel!(false) };
    PACKED.set(packed);
    PANELS.set(panels);
}

thread_local! {
    /// The buffer of [`Affine::packed`], kept between calls on this thread.
    static PACKED: Cell<AlignedBuffer> = const { Cell::new(AlignedBuffer::new()) };
    /// The buffers of [`Affine::panels`], kept between calls on this thread.
    static PANELS: Cell<Panels> = const { Cell::new(Panels::new()) };
}

/// The arguments of [`affine`], for `pulp` to run with the processor's instruction set.
/// `WIDE_TAIL`: the last outputs, more than one vector and less than a band, go in one band of
/// [`TILE_VECTORS`] vectors (see `affine`).
struct Affine<'a, const WIDE_TAIL: bool> {
    outputs: usize,
    inputs: usize,
    weights: &'a [f32],
    bias: &'a [f32],
    x: &'a [f32],
    /// Values from one sample's column of `x` to the next.
    x_stride: usize,
    batch: usize,
    z: &'a mut [f32],
    z_stride: usize,
    /// The band's weights side by side, reused between bands.
    packed: AlignedBuffer,
    /// The samples' inputs of the current block, when the weights are copied.
    panels: Panels,
}

impl<const WIDE_TAIL: bool> WithSimd for Affine<'_, WIDE_TAIL> {
    /// The buffers of the copied bands and of the panels, for the next call.
    type Output = (AlignedBuffer, Panels);

    /// Bands of [`TILE_VECTORS`] vectors of outputs, then (but see `WIDE_TAIL`) of one vector,
    /// then one masked vector for the last outputs; tiles of 8 samples (AVX-512), 4, then one.
    /// Everything below is `inline(always)`, so it is compiled here, with the instruction set of
    /// `S`.
    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) -> (AlignedBuffer, Panels) {
        let lanes = S::F32_LANES;
        self.panels.in_use = self.panels_may_pay::<S>();
        for start in (0..self.inputs).step_by(INPUT_BLOCK) {
            let inputs = start..(start + INPUT_BLOCK).min(self.inputs);
            if self.panels.in_use {
                // A block where no tile gathers its inputs says they are dense (a hidden layer's,
                // or pytorch-example's 9216 features): the next blocks are read in place without
                // looking (looking cost 5-14% of such layers' products).
                let (x, x_stride, batch, outputs) = (self.x, self.x_stride, self.batch, self.outputs);
                self.panels.in_use = self.panels.gather::<S>(x, x_stride, batch, outputs, inputs.clone());
            }
            let mut first = 0;
            while first < self.outputs {
                let left = self.outputs - first;
                if left >= TILE_VECTORS * lanes || (WIDE_TAIL && left > lanes) {
                    // One call of `band` per kernel: a second one stops LLVM inlining the tiles'
                    // arrays, and the kernel runs 6-10× slower. Without WIDE_TAIL the row count
                    // is a constant.
                    let rows = if WIDE_TAIL { left.min(TILE_VECTORS * lanes) } else { TILE_VECTORS * lanes };
                    self.band::<S, TILE_VECTORS>(simd, first, rows, inputs.clone());
                    first += rows;
                } else {
                    let rows = left.min(lanes);
                    self.band::<S, 1>(simd, first, rows, inputs.clone());
                    first += rows;
                }
            }
        }
        (self.packed, self.panels)
    }
}

impl<const WIDE_TAIL: bool> Affine<'_, WIDE_TAIL> {
    /// Outputs `first..first + rows` (`rows ≤ V` vectors) of every sample, over `inputs`.
    #[inline(always)]
    fn band<S: Simd, const V: usize>(&mut self, simd: S, first: usize, rows: usize, inputs: Range<usize>) {
        let weights = self.weights;
        let width = V * S::F32_LANES;
        // Consecutive columns of `W` lie `outputs` values apart, often a power of two (512 → 2
        // KB): the band's weights then fall into a handful of L1 cache sets and do not stay
        // there while the samples go by. When many tiles of samples will reuse them, they are
        // first copied side by side (the same values, so the same sums).
        let mut packed = std::mem::take(&mut self.packed);
        let strip = if self.batch >= PACK_MIN_SAMPLES {
            let copy = packed.sized(inputs.len() * width);
            let w_columns = weights[inputs.start * self.outputs..inputs.end * self.outputs].chunks_exact(self.outputs);
            for (copied, w_column) in copy.chunks_exact_mut(width).zip(w_columns) {
                copied[..rows].copy_from_slice(&w_column[first..first + rows]);
                copied[rows..].fill(0.0);
            }
            let finite = self.panels.in_use && all_finite(copy);
            Strip { values: copy, stride: width, first: 0, rows: width, finite }
        } else {
            Strip {
                values: &weights[inputs.start * self.outputs..inputs.end * self.outputs],
                stride: self.outputs,
                first,
                rows,
                finite: false,
            }
        };
        let panels = self.panels.in_use;
        // Tiles in the order of `affine_tiles::tiles`, numbered for their panels. AVX-512 has 32 vector
        // registers, room for 2 × 8 sums: each weight load then serves 8 samples. AVX2 has 16,
        // hence 2 × 4.
        let (mut sample, mut tile) = (0, 0);
        if S::F32_LANES >= 16 {
            while sample + WIDE_TILE <= self.batch {
                let panel = panels.then_some(tile);
                self.tile::<S, V, WIDE_TILE>(simd, &strip, first, rows, sample, inputs.clone(), panel);
                (sample, tile) = (sample + WIDE_TILE, tile + 1);
            }
        }
        while sample + TILE_SAMPLES <= self.batch {
            let panel = panels.then_some(tile);
            self.tile::<S, V, TILE_SAMPLES>(simd, &strip, first, rows, sample, inputs.clone(), panel);
            (sample, tile) = (sample + TILE_SAMPLES, tile + 1);
        }
        while sample < self.batch {
            let panel = panels.then_some(tile);
            self.tile::<S, V, 1>(simd, &strip, first, rows, sample, inputs.clone(), panel);
            (sample, tile) = (sample + 1, tile + 1);
        }
        self.packed = packed;
    }

    /// Whether the samples' inputs may be gathered into panels (see `affine_panels.rs`): when the
    /// weights are copied, and for layers of [`PANEL_MIN_BANDS`] bands or more.
    #[inline(always)]
    fn panels_may_pay<S: Simd>(&self) -> bool {
        self.batch >= PACK_MIN_SAMPLES && self.outputs >= PANEL_MIN_BANDS * TILE_VECTORS * S::F32_LANES
    }

    /// `z[i, j] += Σₖ W[i, k] x[k, j]` over `inputs` in order, starting from `b[i]` for the first
    /// block, for outputs `first..first + rows` and samples `sample..sample + C`. Vectors past
    /// `rows` are loaded masked (zeros) and not stored. With `panel`, the tile's gathered inputs
    /// (see `affine_panels.rs`): the inputs that are zero in all its samples are left out.
    ///
    /// Leaving out `fma(w, 0, z)` leaves the value of `z` as it was, but not always its sign
    /// when it is zero (`+0 + -0 = +0`), nor a NaN where `w` is infinite. So every sum is
    /// stored as `z + 0`, which turns `-0` into `+0` and changes nothing else, and a band whose
    /// weights are not all finite keeps every input: one image and a batch still give the same
    /// bits.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn tile<S: Simd, const V: usize, const C: usize>(
        &mut self,
        simd: S,
        strip: &Strip<'_>,
        first: usize,
        rows: usize,
        sample: usize,
        inputs: Range<usize>,
        panel: Option<usize>,
    ) {
        let gathered = panel.filter(|_| strip.finite).and_then(|tile| Some((tile, self.panels.tiles[tile]?)));
        let mut sums = self.initial_sums::<S, V, C>(simd, first, rows, sample, inputs.start);
        let w_part = |v: usize| v * S::F32_LANES..((v + 1) * S::F32_LANES).min(strip.rows);
        if let Some((tile, (start, kept))) = gathered {
            let values = &self.panels.values[start..start + kept * C];
            let kept_inputs = &self.panels.inputs[tile * INPUT_BLOCK..tile * INPUT_BLOCK + kept];
            for (x_k, &k) in values.chunks_exact(C).zip(kept_inputs) {
                let w_tile = &strip.values[usize::from(k) * strip.stride..][strip.first..strip.first + strip.rows];
                let w: [S::f32s; V] = std::array::from_fn(|v| load(simd, &w_tile[w_part(v)]));
                for (sum, &x_kj) in sums.iter_mut().zip(x_k) {
                    let x_kj = simd.splat_f32s(x_kj);
                    for (s, &w_v) in sum.iter_mut().zip(&w) {
                        *s = simd.mul_add_e_f32s(w_v, x_kj, *s);
                    }
                }
            }
        } else {
            let columns: [&[f32]; C] = std::array::from_fn(|c| {
                let column = (sample + c) * self.x_stride;
                &self.x[column + inputs.start..column + inputs.end]
            });
            for (k, w_column) in strip.values.chunks_exact(strip.stride).enumerate() {
                let w_tile = &w_column[strip.first..strip.first + strip.rows];
                let w: [S::f32s; V] = std::array::from_fn(|v| load(simd, &w_tile[w_part(v)]));
                for (sum, column) in sums.iter_mut().zip(&columns) {
                    let x_kj = simd.splat_f32s(column[k]);
                    for (s, &w_v) in sum.iter_mut().zip(&w) {
                        *s = simd.mul_add_e_f32s(w_v, x_kj, *s);
                    }
                }
            }
        }
        self.store_tile::<S, V, C>(simd, sums, first, rows, sample);
    }

    /// A tile's sums before a block of inputs: the biases for the first block, else the partial
    /// sums stored in `z`.
    #[inline(always)]
    fn initial_sums<S: Simd, const V: usize, const C: usize>(
        &self,
        simd: S,
        first: usize,
        rows: usize,
        sample: usize,
        first_input: usize,
    ) -> [[S::f32s; V]; C] {
        let lanes = S::F32_LANES;
        std::array::from_fn(|c| {
            let z_start = (sample + c) * self.z_stride + first;
            let start =
                if first_input == 0 { &self.bias[first..first + rows] } else { &self.z[z_start..z_start + rows] };
            std::array::from_fn(|v| load(simd, &start[v * lanes..((v + 1) * lanes).min(rows)]))
        })
    }

    /// Stores a tile's sums, each as `z + 0` (see `tile`).
    #[inline(always)]
    fn store_tile<S: Simd, const V: usize, const C: usize>(
        &mut self,
        simd: S,
        sums: [[S::f32s; V]; C],
        first: usize,
        rows: usize,
        sample: usize,
    ) {
        let lanes = S::F32_LANES;
        let zero = simd.splat_f32s(0.0);
        for (c, sum) in sums.iter().enumerate() {
            let start = (sample + c) * self.z_stride + first;
            let column = &mut self.z[start..start + rows];
            for (v, &s) in sum.iter().enumerate() {
                store(simd, &mut column[v * lanes..((v + 1) * lanes).min(rows)], simd.add_f32s(s, zero));
            }
        }
    }
}

/// Where a band's weights lie for one block of inputs: input `k` of the block starts at
/// `values[k * stride]`, and the band's first output is `first` values further. `rows` values
/// from there may be read: the band's outputs, or whole vectors where a copied strip is padded
/// with zeros, so that the last outputs of a layer need no masked loads in the inner loop.
struct Strip<'a> {
    values: &'a [f32],
    stride: usize,
    first: usize,
    rows: usize,
    /// Whether every weight of the strip is finite (checked only where panels are used).
    finite: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `b + W x` in f64, the reference.
    pub(crate) fn reference(w: &[f32], b: &[f32], x: &[f32], batch: usize) -> Vec<f64> {
        let (outputs, inputs) = (b.len(), w.len() / b.len());
        let mut z = Vec::new();
        for j in 0..batch {
            for i in 0..outputs {
                let dot: f64 = (0..inputs).map(|k| f64::from(w[k * outputs + i]) * f64::from(x[j * inputs + k])).sum();
                z.push(f64::from(b[i]) + dot);
            }
        }
        z
    }

    pub(crate) fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
    }

    #[test]
    fn matches_the_reference_for_every_tile_shape() {
        // Batches from PACK_MIN_SAMPLES copy the weights into zero-padded strips; 256 outputs
        // would use panels, but these inputs are dense.
        let shapes = [
            (1, 1, 1),
            (10, 3, 7),
            (57, 13, 9),
            (32, 5, 4),
            (100, 50, 6),
            (3, 784, 2),
            (50, 200, 37),
            (10, 9, 33),
            (256, 300, 40),
        ];
        for (outputs, inputs, batch) in shapes {
            let (w, b, x) = (values(outputs * inputs, 1.0), values(outputs, 2.0), values(inputs * batch, 3.0));
            let mut z = vec![0.0; outputs * batch];
            affine(&w, &b, &x, batch, &mut z);
            for (got, want) in z.iter().zip(reference(&w, &b, &x, batch)) {
                assert!((f64::from(*got) - want).abs() < 1e-4 * (1.0 + inputs as f64), "{got} vs {want}");
            }
        }
    }

    #[test]
    fn one_sample_gives_the_bits_of_a_batch() {
        for (outputs, inputs, batch) in [(50, 31, 11), (50, 150, 40)] {
            let (w, b, x) = (values(outputs * inputs, 1.0), values(outputs, 2.0), values(inputs * batch, 3.0));
            let mut batched = vec![0.0; outputs * batch];
            affine(&w, &b, &x, batch, &mut batched);
            for (j, column) in batched.chunks_exact(outputs).enumerate() {
                let mut single = vec![0.0; outputs];
                affine(&w, &b, &x[j * inputs..(j + 1) * inputs], 1, &mut single);
                assert_eq!(single, column);
            }
        }
    }
}
