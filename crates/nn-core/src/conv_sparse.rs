//! A convolution's backward pass that visits only the nonzero output gradients.
//!
//! Behind a convolution come ReLU, max-pooling and dropout: a pooled gradient reaches one pixel
//! of its window, only where that pixel was positive and dropout kept it. In PyTorch's MNIST
//! example 97% of conv2's `δZ` is zero. Each nonzero `δ` at output pixel `p` of filter `f`
//! contributes `δ · patch(p)` to `∂W[f]` and `δ · W[f]` to the patch's place in `∂X` (the two
//! sums of `∂W = δ Pᵀ` and `∂P = Wᵀ δ`); the dense passes compute the same sums over every
//! pixel, zeros included. Image by image, a pixel's `∂X` sums its filters' terms while held in
//! registers, and a filter's `∂W` its pixels' terms: each sum takes its terms image by image,
//! pixel by pixel, filter by filter, a fixed order, so the bits do not depend on the threads.

use std::cell::RefCell;

use nalgebra::DMatrix;
use pulp::{Simd, WithSimd};

use crate::im2col::{Geometry, pad};
use crate::{Activation, Conv2dParams};

/// Below this share of nonzero values in `δZ` the sparse pass is taken. At 5% it costs about a
/// tenth of the dense product of `δ Pᵀ` and `Wᵀ δ`, which Winograd's method cuts by 2 to 3 times.
/// Measured with pytorch-example's conv2 at a shard of 32 images (one thread, paired in one
/// process, Intel Xeon, 2026-12-06): after 30 training steps its `δZ` is 4.8% nonzero (5.7% in
/// the first image) and the sparse pass makes the whole step 0.89 times as long as Winograd's;
/// after 2 steps, 7.0% nonzero, 0.95-1.02 times depending on the host's state: the two meet
/// around 7-10%.
pub(crate) const MAX_DENSITY: f64 = 0.08;

/// Values of `delta` looked at together when listing its nonzero ones.
const BLOCK: usize = 16;

/// Values of `δA` made `δZ` and looked at between two checks of the count.
const STRETCH: usize = 4096;

/// Whether `δZ = δA ⊙ f'(Z)` looks sparse enough for [`sparse_delta`] to be worth trying, from
/// its first thirty-second (at least one stretch), read without writing: a dense `δZ` costs the
/// dense passes no more than that look. The decision depends on the values alone, so the same
/// batch always takes the same pass.
pub(crate) fn looks_sparse(activation: Activation, output: &[f32], delta: &[f32]) -> bool {
    let sample = looked_at(delta.len());
    let nonzero = delta[..sample]
        .iter()
        .zip(&output[..sample])
        .filter(|&(&d, &a)| d != 0.0 && activation.derivative_from_output(a) != 0.0)
        .count();
    sparse_in_sample(nonzero, sample)
}

/// Whether `nonzero` values among the first `sample` of a `δA` (where the activation's
/// derivative is not zero either) look sparse enough: under [`MAX_DENSITY`].
pub(crate) fn sparse_in_sample(nonzero: usize, sample: usize) -> bool {
    (nonzero as f64) < MAX_DENSITY * sample as f64
}

/// How many values of a `δA` of `len` values [`looks_sparse`] reads: the first ones.
pub(crate) fn looked_at(len: usize) -> usize {
    len.div_ceil(32).max(STRETCH).min(len)
}

/// The nonzero values of a convolution's `δZ` and where they are in it, in increasing order.
#[derive(Debug, Default)]
pub(crate) struct NonzeroDeltas {
    pub(crate) positions: Vec<usize>,
    pub(crate) values: Vec<f32>,
}

thread_local! {
    /// The list of the last sparse pass on this thread: tens of thousands of entries a shard, each
    /// step, kept rather than allocated again.
    static NONZERO: RefCell<NonzeroDeltas> = const {
        RefCell::new(NonzeroDeltas { positions: Vec::new(), values: Vec::new() })
    };
}

/// Calls `list_and_use` with this thread's [`NonzeroDeltas`] (holding whatever the last call
/// left: the listings clear it first).
pub(crate) fn with_nonzero_deltas<R>(list_and_use: impl FnOnce(&mut NonzeroDeltas) -> R) -> R {
    NONZERO.with_borrow_mut(list_and_use)
}

impl NonzeroDeltas {
    pub(crate) fn clear(&mut self) {
        self.positions.clear();
        self.values.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.positions.len()
    }

    pub(crate) fn push(&mut self, position: usize, value: f32) {
        self.positions.push(position);
        self.values.push(value);
    }
}

/// Whether `nonzero` values of a `δZ` of `len` values are few enough for the sparse pass: under
/// [`MAX_DENSITY`] of it.
pub(crate) fn few_enough(nonzero: usize, len: usize) -> bool {
    nonzero < (MAX_DENSITY * len as f64).ceil() as usize
}

/// Makes `delta` (`δA`) the layer's `δZ = δA ⊙ f'(Z)` in place while listing its nonzero
/// values, in order, into `nonzero`: `Ok` if they are under [`MAX_DENSITY`] of it. As soon
/// as they are not, it stops and answers `Err(converted)`: the first `converted` values are
/// `δZ`, the rest still `δA`, for the dense passes to convert while in the cache.
pub(crate) fn sparse_delta(
    activation: Activation,
    output: &[f32],
    delta: &mut [f32],
    nonzero: &mut NonzeroDeltas,
) -> Result<(), usize> {
    nonzero.clear();
    let len = delta.len();
    for (stretch, (values, outputs)) in delta.chunks_mut(STRETCH).zip(output.chunks(STRETCH)).enumerate() {
        activation.backprop(outputs, values);
        let first = stretch * STRETCH;
        for (block, values) in values.chunks(BLOCK).enumerate() {
            // The bits shifted left by one: zero for +0 and -0 only (a loop without branches).
            if values.iter().fold(0u32, |any, d| any | (d.to_bits() << 1)) == 0 {
                continue;
            }
            let start = first + block * BLOCK;
            for (i, &d) in values.iter().enumerate().filter(|(_, d)| **d != 0.0) {
                nonzero.push(start + i, d);
            }
        }
        if !few_enough(nonzero.len(), len) {
            return Err(first + values.len());
        }
    }
    Ok(())
}

/// `∂W = Σ δ · patch` and `∂b = Σ δ` (written) and, when asked, `∂X` (written) from the
/// `nonzero` values of `δZ` (after the activation's derivative) alone, as [`sparse_delta`]
/// lists them. `weight_grad` is column-major `filters × patch_len`, as a
/// [`Conv2d`](crate::Conv2d) keeps its weights.
pub(crate) fn backward(
    params: &Conv2dParams,
    weights: &DMatrix<f32>,
    input: &[f32],
    nonzero: &NonzeroDeltas,
    input_grad: Option<&mut [f32]>,
    weight_grad: &mut [f32],
    bias_grad: &mut [f32],
) {
    let (filters, patch_len) = (params.filters, params.patch_len());
    // One filter's weights after another (`Wᵀ`, column-major): the rows the sums read.
    let weight_rows = weights.transpose();
    let mut grad_rows = vec![0.0; filters * patch_len];
    bias_grad.fill(0.0);
    for (&position, &delta) in nonzero.positions.iter().zip(&nonzero.values) {
        bias_grad[position % filters] += delta;
    }
    let pass =
        Backward { params, weight_rows: weight_rows.as_slice(), input, nonzero, input_grad, grad_rows: &mut grad_rows };
    pulp::Arch::new().dispatch(pass);
    weight_grad.copy_from_slice(DMatrix::from_row_slice(filters, patch_len, &grad_rows).as_slice());
}

struct Backward<'a> {
    params: &'a Conv2dParams,
    weight_rows: &'a [f32],
    input: &'a [f32],
    nonzero: &'a NonzeroDeltas,
    input_grad: Option<&'a mut [f32]>,
    grad_rows: &'a mut [f32],
}

impl WithSimd for Backward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Backward { params, weight_rows, input, nonzero, mut input_grad, grad_rows } = self;
        let geometry = Geometry::of(params);
        let (filters, patch_len, patch_row) = (params.filters, params.patch_len(), geometry.patch_row);
        let (kernel_height, image_len) = (params.kernel.0, params.input.len());
        let output_len = params.output_shape().len();
        if let Some(input_grad) = input_grad.as_deref_mut() {
            // Images without a nonzero δ get none of the writes below.
            input_grad.fill(0.0);
        }
        let mut padded = Vec::new();
        // Without padding, an image's ∂X is summed in place, from the zeros just written; with
        // it, in a padded image whose inside is then copied out.
        let mut padded_grad = vec![0.0; if geometry.padding == 0 { 0 } else { geometry.padded_len }];
        // An image's nonzero δ filter by filter: where the patch of each starts in the image, and
        // the δ, pixel by pixel.
        let mut by_filter: Vec<Vec<(usize, f32)>> = vec![Vec::new(); filters];
        // The positions come in order: image by image, pixel by pixel within an image, and filter
        // by filter within a pixel.
        let (mut positions, mut values) = (&nonzero.positions[..], &nonzero.values[..]);
        while let Some(&first) = positions.first() {
            let n = first / output_len;
            let in_image = positions.partition_point(|&p| p < (n + 1) * output_len);
            let (image_positions, image_values);
            ((image_positions, positions), (image_values, values)) =
                (positions.split_at(in_image), values.split_at(in_image));
            let image = pad(&geometry, &input[n * image_len..(n + 1) * image_len], &mut padded);
            let mut image_grad = input_grad.as_deref_mut().map(|input_grad| {
                let image_grad = &mut input_grad[n * image_len..(n + 1) * image_len];
                if geometry.padding == 0 {
                    image_grad
                } else {
                    padded_grad.fill(0.0);
                    &mut padded_grad[..]
                }
            });
            by_filter.iter_mut().for_each(Vec::clear);
            let mut at = 0;
            while at < image_positions.len() {
                // The nonzero δ of one output pixel: filter `f` at position `pixel_start + f`.
                let pixel_start = image_positions[at] - image_positions[at] % filters;
                let count = image_positions[at..].iter().take_while(|&&p| p < pixel_start + filters).count();
                let pixel_deltas = image_positions[at..at + count].iter().zip(&image_values[at..at + count]);
                let pixel_deltas = pixel_deltas.map(|(&position, &delta)| (position - pixel_start, delta));
                at += count;
                let pixel = pixel_start % output_len / filters;
                let (oy, ox) = (pixel / geometry.out_width, pixel % geometry.out_width);
                let start = oy * geometry.row_step + ox * geometry.step;
                pixel_deltas.clone().for_each(|(f, delta)| by_filter[f].push((start, delta)));
                if let Some(image_grad) = image_grad.as_deref_mut() {
                    for ky in 0..kernel_height {
                        let from = start + ky * geometry.padded_row;
                        // ∂patch += δ · W[f], over the pixel's filters
                        let terms = pixel_deltas.clone().map(|(f, delta)| (f * patch_len + ky * patch_row, delta));
                        sum_into(simd, &mut image_grad[from..from + patch_row], weight_rows, terms);
                    }
                }
            }
            for (f, deltas) in by_filter.iter().enumerate().filter(|(_, deltas)| !deltas.is_empty()) {
                for ky in 0..kernel_height {
                    let row = f * patch_len + ky * patch_row;
                    // ∂W[f] += δ · patch, over the image's pixels where filter f's δ is not zero
                    let terms = deltas.iter().map(|&(start, delta)| (start + ky * geometry.padded_row, delta));
                    sum_into(simd, &mut grad_rows[row..row + patch_row], image, terms);
                }
            }
            if let Some(input_grad) = input_grad.as_deref_mut()
                && geometry.padding > 0
            {
                let row = geometry.width * geometry.channels;
                let target = &mut input_grad[n * image_len..(n + 1) * image_len];
                for (y, target) in target.chunks_exact_mut(row).enumerate() {
                    let start = geometry.padded_start(y);
                    target.copy_from_slice(&padded_grad[start..start + row]);
                }
            }
        }
    }
}

/// `target += Σ δ · source[start..]` over the `terms` `(start, δ)`, in their order: a few
/// vectors of `target` at a time, held in registers while the terms go by (one load and one
/// store of them for all the terms, not one for each). Each value takes the same terms in the
/// same order as a pass over the whole of `target` for each term would.
#[inline(always)]
fn sum_into<S: Simd>(simd: S, target: &mut [f32], source: &[f32], terms: impl Iterator<Item = (usize, f32)> + Clone) {
    let (lanes, len) = (S::F32_LANES, target.len());
    let mut done = 0;
    while len - done >= 8 * lanes {
        done = sum_vectors::<S, 8>(simd, target, source, terms.clone(), done);
    }
    done = if len - done >= 4 * lanes { sum_vectors::<S, 4>(simd, target, source, terms.clone(), done) } else { done };
    done = if len - done >= 2 * lanes { sum_vectors::<S, 2>(simd, target, source, terms.clone(), done) } else { done };
    done = if len - done >= lanes { sum_vectors::<S, 1>(simd, target, source, terms.clone(), done) } else { done };
    // Less than a vector left: one value at a time.
    for j in done..len {
        for (start, delta) in terms.clone() {
            target[j] += delta * source[start + j];
        }
    }
}

/// [`sum_into`] on the `N` vectors of `target` from value `done` on; returns where they end.
#[inline(always)]
fn sum_vectors<S: Simd, const N: usize>(
    simd: S,
    target: &mut [f32],
    source: &[f32],
    terms: impl Iterator<Item = (usize, f32)>,
    done: usize,
) -> usize {
    let end = done + N * S::F32_LANES;
    let (target, _) = S::as_mut_simd_f32s(&mut target[done..end]);
    let mut sum: [S::f32s; N] = std::array::from_fn(|i| target[i]);
    for (start, delta) in terms {
        let scale = simd.splat_f32s(delta);
        let (source, _) = S::as_simd_f32s(&source[start + done..start + end]);
        for i in 0..N {
            sum[i] = simd.mul_add_e_f32s(scale, source[i], sum[i]);
        }
    }
    target[..N].copy_from_slice(&sum);
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;
    use crate::im2col::{col2im, im2row};

    /// `∂W = δ Pᵀ` and `∂X = col2im(Wᵀ δ)` computed densely, straight from the definitions.
    fn dense(
        params: &Conv2dParams,
        weights: &[f32],
        input: &[f32],
        batch: usize,
        delta: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let (filters, k, n) = (params.filters, params.patch_len(), batch * params.patches());
        let mut rows = vec![0.0; k * n];
        im2row(params, input, &mut rows, &mut Vec::new());
        let mut weight_grad = vec![0.0; filters * k];
        for f in 0..filters {
            for j in 0..k {
                weight_grad[j * filters + f] =
                    (0..n).map(|p| f64::from(delta[p * filters + f]) * f64::from(rows[j * n + p])).sum::<f64>() as f32;
            }
        }
        let mut columns = vec![0.0; k * n];
        for p in 0..n {
            for j in 0..k {
                columns[p * k + j] = (0..filters)
                    .map(|f| f64::from(weights[j * filters + f]) * f64::from(delta[p * filters + f]))
                    .sum::<f64>() as f32;
            }
        }
        let mut input_grad = vec![0.0; input.len()];
        col2im(params, &columns, &mut input_grad, &mut Vec::new());
        (weight_grad, input_grad)
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn the_sparse_sums_are_the_dense_ones() {
        // A pool window at the edge (padding 1), stride 2, one channel, a batch of one, kernel
        // rows longer than a vector; deltas where nothing is zero, where every fourth is, where
        // all are.
        for (input, filters, kernel, stride, padding, batch) in [
            (Shape::new(3, 7, 6), 4, (3, 3), 1, 1, 2),
            (Shape::new(2, 9, 8), 3, (2, 3), 2, 0, 1),
            (Shape::new(1, 6, 6), 5, (5, 5), 1, 2, 3),
            (Shape::new(40, 5, 5), 2, (3, 3), 1, 1, 2),
            // A kernel row of 144 values: a block of 8 vectors of 16 and one more.
            (Shape::new(48, 6, 5), 5, (3, 3), 1, 1, 2),
        ] {
            let params = Conv2dParams::new_at(input, filters, kernel, stride, padding, 0).unwrap();
            let weights = values(filters * params.patch_len(), 1);
            let images = values(batch * input.len(), 2);
            let out_len = batch * params.output_shape().len();
            for every in [1, 4, 0] {
                let delta: Vec<f32> = values(out_len, 3)
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if every != 0 && i % every == 0 { d } else { 0.0 })
                    .collect();
                let (want_w, want_x) = dense(&params, &weights, &images, batch, &delta);
                let want_b: Vec<f32> = (0..filters)
                    .map(|f| delta.iter().skip(f).step_by(filters).map(|&d| f64::from(d)).sum::<f64>() as f32)
                    .collect();
                let mut nonzero = NonzeroDeltas::default();
                let mut listed = delta.clone();
                let identity = sparse_delta(Activation::Identity, &delta, &mut listed, &mut nonzero);
                assert_eq!(identity.is_ok(), every == 0, "every {every}: sparse enough only when all are zero");
                // Whatever the density, the sums from the nonzero values are the dense ones.
                nonzero.clear();
                (0..delta.len()).filter(|&i| delta[i] != 0.0).for_each(|i| nonzero.push(i, delta[i]));
                let mut weight_grad = vec![f32::NAN; want_w.len()];
                let mut input_grad = vec![f32::NAN; want_x.len()];
                let mut bias_grad = vec![f32::NAN; filters];
                let grads = (&mut weight_grad[..], &mut bias_grad[..]);
                let matrix = DMatrix::from_column_slice(filters, params.patch_len(), &weights);
                backward(&params, &matrix, &images, &nonzero, Some(&mut input_grad), grads.0, grads.1);
                let pairs = weight_grad.iter().zip(&want_w).chain(input_grad.iter().zip(&want_x));
                for (got, want) in pairs.chain(bias_grad.iter().zip(&want_b)) {
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{input} every {every}: {got} against {want}"
                    );
                }
                let mut without = vec![f32::NAN; want_w.len()];
                backward(&params, &matrix, &images, &nonzero, None, &mut without, &mut bias_grad);
                assert_eq!(without, weight_grad, "no input gradient: the same weight gradient");
            }
        }
    }

    #[test]
    fn density_decides_and_a_dense_delta_is_converted_in_part() {
        let len = 4 * STRETCH;
        let mut nonzero = NonzeroDeltas::default();
        // ReLU's output is 0 at every third value: δZ is 0 there whatever δA is.
        let outputs: Vec<f32> = (0..len).map(|i| if i % 3 == 0 { 0.0 } else { 1.0 }).collect();
        let mut delta = vec![0.0; len];
        assert_eq!(sparse_delta(Activation::Relu, &outputs, &mut delta, &mut nonzero), Ok(()));
        assert_eq!(nonzero.len(), 0);
        // About 2.7% nonzero, evenly spread, and a δA where ReLU's output is 0.
        let mut delta: Vec<f32> = (0..len).map(|i| if i % 25 == 1 && i % 3 != 0 { 0.5 } else { 0.0 }).collect();
        delta[0] = 2.0;
        let mut converted = delta.clone();
        assert_eq!(sparse_delta(Activation::Relu, &outputs, &mut converted, &mut nonzero), Ok(()));
        assert_eq!(nonzero.positions, (0..len).filter(|&i| delta[i] != 0.0 && i % 3 != 0).collect::<Vec<_>>());
        assert!(nonzero.positions.iter().zip(&nonzero.values).all(|(&i, &d)| d == converted[i] && d != 0.0));
        assert_eq!(converted[0], 0.0);
        // Then up to 8% in the last stretch.
        let limit = (MAX_DENSITY * len as f64).ceil() as usize;
        assert!(few_enough(limit - 1, len) && !few_enough(limit, len));
        let mut count = nonzero.len();
        for (i, value) in delta.iter_mut().enumerate().skip(3 * STRETCH) {
            if count < limit && *value == 0.0 && i % 3 != 0 {
                *value = -0.25;
                count += 1;
            }
        }
        let mut converted = delta.clone();
        let stopped = sparse_delta(Activation::Relu, &outputs, &mut converted, &mut nonzero);
        assert_eq!(stopped, Err(len), "8% is not under 8%: the limit is reached in the last stretch");
        assert!(looks_sparse(Activation::Relu, &outputs, &delta), "the first stretch is 2.7% nonzero");
        // A dense δA does not look sparse; listed, it stops after its first stretch, the rest
        // left as it was.
        let mut dense = vec![1.0; len];
        assert!(!looks_sparse(Activation::Relu, &outputs, &dense));
        // One value in 9 nonzero (11%), all where ReLU's output is 0; sigmoid's derivative at 0.5 is not.
        let ninth: Vec<f32> = (0..len).map(|i| if i % 9 == 0 { 1.0 } else { 0.0 }).collect();
        assert!(looks_sparse(Activation::Relu, &outputs, &ninth));
        assert!(!looks_sparse(Activation::Sigmoid, &vec![0.5; len], &ninth));
        assert_eq!(sparse_delta(Activation::Relu, &outputs, &mut dense, &mut nonzero), Err(STRETCH));
        assert_eq!((dense[0], dense[1], dense[STRETCH]), (0.0, 1.0, 1.0));
        assert_eq!(dense[STRETCH - 1], if (STRETCH - 1).is_multiple_of(3) { 0.0 } else { 1.0 });
    }
}
