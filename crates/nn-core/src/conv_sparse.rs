//! A convolution's backward pass that visits only the nonzero output gradients.
//!
//! Behind a convolution come ReLU, max-pooling and dropout: a pooled gradient reaches one pixel
//! of its window, only where that pixel was positive and dropout kept it. In PyTorch's MNIST
//! example 97% of conv2's `δZ` is zero. Each nonzero `δ` at output pixel `p` of filter `f`
//! contributes `δ · patch(p)` to `∂W[f]` and `δ · W[f]` to the patch's place in `∂X` (the two
//! sums of `∂W = δ Pᵀ` and `∂P = Wᵀ δ`); the dense passes compute the same sums over every
//! pixel, zeros included. The sums run image by image, pixel by pixel, filter by filter: a fixed
//! order, so the bits do not depend on the threads.

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
            let mut at = 0;
            while at < image_positions.len() {
                // The nonzero δ of one output pixel: filter `f` at position `pixel_start + f`.
                let pixel_start = image_positions[at] - image_positions[at] % filters;
                let count = image_positions[at..].iter().take_while(|&&p| p < pixel_start + filters).count();
                let deltas = Deltas {
                    positions: &image_positions[at..at + count],
                    values: &image_values[at..at + count],
                    pixel_start,
                };
                at += count;
                let pixel = pixel_start % output_len / filters;
                let (oy, ox) = (pixel / geometry.out_width, pixel % geometry.out_width);
                let start = oy * geometry.row_step + ox * geometry.step;
                for ky in 0..kernel_height {
                    let from = start + ky * geometry.padded_row;
                    let row = PatchRow {
                        image: &image[from..from + patch_row],
                        image_grad: image_grad.as_deref_mut().map(|grad| &mut grad[from..from + patch_row]),
                        weight_rows,
                        grad_rows: &mut *grad_rows,
                        first: ky * patch_row,
                        patch_len,
                    };
                    row.sums(simd, &deltas);
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

/// The nonzero `δ` of one output pixel, filter by filter.
struct Deltas<'a> {
    positions: &'a [usize],
    values: &'a [f32],
    /// The position of the pixel's first filter: filter `f` is at `pixel_start + f`.
    pixel_start: usize,
}

/// One row of one output pixel's patch (a row of the kernel over all input channels), its place
/// in `∂X` when asked, and the rows of `W` and `∂W` of every filter.
struct PatchRow<'a> {
    image: &'a [f32],
    image_grad: Option<&'a mut [f32]>,
    weight_rows: &'a [f32],
    grad_rows: &'a mut [f32],
    /// Where the row starts within a patch, and so within a filter's row of `W` and of `∂W`.
    first: usize,
    patch_len: usize,
}

impl PatchRow<'_> {
    /// For each of the pixel's nonzero `δ`, in order: `∂W[f] += δ · patch` and
    /// `∂patch += δ · W[f]`, on this row: a few vectors of the row at a time, their values and
    /// their `∂X` held in registers across the filters (one load and one store for the pixel, not
    /// one for every filter). Each sum takes the same terms in the same order as one filter
    /// after another would.
    #[inline(always)]
    fn sums<S: Simd>(mut self, simd: S, deltas: &Deltas<'_>) {
        let (lanes, len) = (size_of::<S::f32s>() / size_of::<f32>(), self.image.len());
        let mut done = 0;
        while len - done >= 8 * lanes {
            done = self.vectors::<S, 8>(simd, deltas, done);
        }
        done = if len - done >= 4 * lanes { self.vectors::<S, 4>(simd, deltas, done) } else { done };
        done = if len - done >= 2 * lanes { self.vectors::<S, 2>(simd, deltas, done) } else { done };
        done = if len - done >= lanes { self.vectors::<S, 1>(simd, deltas, done) } else { done };
        // Less than a vector left: one value at a time.
        let PatchRow { image, mut image_grad, weight_rows, grad_rows, first, patch_len } = self;
        for j in done..len {
            for (&position, &delta) in deltas.positions.iter().zip(deltas.values) {
                let at = (position - deltas.pixel_start) * patch_len + first + j;
                grad_rows[at] += delta * image[j];
                if let Some(image_grad) = image_grad.as_deref_mut() {
                    image_grad[j] += delta * weight_rows[at];
                }
            }
        }
    }

    /// [`sums`](Self::sums) on the `N` vectors of the row from value `done` on; returns where
    /// they end.
    #[inline(always)]
    fn vectors<S: Simd, const N: usize>(&mut self, simd: S, deltas: &Deltas<'_>, done: usize) -> usize {
        let range = done..done + N * size_of::<S::f32s>() / size_of::<f32>();
        let (image, _) = S::as_simd_f32s(&self.image[range.clone()]);
        let image: [S::f32s; N] = std::array::from_fn(|i| image[i]);
        let rows = deltas.positions.iter().map(|&position| {
            let start = (position - deltas.pixel_start) * self.patch_len + self.first;
            start + range.start..start + range.end
        });
        let grad_rows = &mut *self.grad_rows;
        match self.image_grad.as_deref_mut() {
            Some(image_grad) => {
                let (image_grad, _) = S::as_mut_simd_f32s(&mut image_grad[range.clone()]);
                let mut sum: [S::f32s; N] = std::array::from_fn(|i| image_grad[i]);
                for (row, &delta) in rows.zip(deltas.values) {
                    let scale = simd.splat_f32s(delta);
                    let (weights, _) = S::as_simd_f32s(&self.weight_rows[row.clone()]);
                    let (grad, _) = S::as_mut_simd_f32s(&mut grad_rows[row]);
                    for i in 0..N {
                        // ∂W[f] += δ · patch
                        grad[i] = simd.mul_add_e_f32s(scale, image[i], grad[i]);
                        // ∂patch += δ · W[f]
                        sum[i] = simd.mul_add_e_f32s(scale, weights[i], sum[i]);
                    }
                }
                image_grad[..N].copy_from_slice(&sum);
            }
            None => {
                for (row, &delta) in rows.zip(deltas.values) {
                    let scale = simd.splat_f32s(delta);
                    let (grad, _) = S::as_mut_simd_f32s(&mut grad_rows[row]);
                    for i in 0..N {
                        grad[i] = simd.mul_add_e_f32s(scale, image[i], grad[i]);
                    }
                }
            }
        }
        range.end
    }
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
        // A pool window at the edge (padding 1), stride 2, one channel, a batch of one, a kernel
        // row longer than a vector; deltas where nothing is zero, where every fourth is, where
        // all are.
        for (input, filters, kernel, stride, padding, batch) in [
            (Shape::new(3, 7, 6), 4, (3, 3), 1, 1, 2),
            (Shape::new(2, 9, 8), 3, (2, 3), 2, 0, 1),
            (Shape::new(1, 6, 6), 5, (5, 5), 1, 2, 3),
            (Shape::new(40, 5, 5), 2, (3, 3), 1, 1, 2),
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
