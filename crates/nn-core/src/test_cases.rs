//! What the kernels' tests share: reproducible values, poolings' windows, the bits of a result, and
//! the case of a convolution with the max-pooling after it that the fused pairs
//! (`conv_pool.rs`, `conv_then_pool.rs`) are checked on against the two layers' own passes.

use nalgebra::DMatrix;

use crate::{Conv2d, Layer, MaxPool2d, Mode, Shape};

/// Values uniform in `[-1, 1)` from a 64-bit linear congruential generator (Knuth's MMIX
/// constants): the same stream for the same `seed` on every machine.
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// The bits of each value, for comparing results exactly (`-0` against `+0`, NaN against NaN).
pub(crate) fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Values on a coarse grid (multiples of 0.25 in `[-1, 1]`, so that windows often hold their
/// maximum twice), `zeros` in 100 of them zero, from a hash of `seed` and the index.
pub(crate) fn coarse(len: usize, seed: u32, zeros: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| {
            let hash = i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8;
            if hash % 100 < zeros { 0.0 } else { (hash % 9) as f32 * 0.25 - 1.0 }
        })
        .collect()
}

/// Max-pooling windows over `(input, window, stride, batch)` that tile the image, leave a row
/// and a column out, or leave gaps, with channels around the vector widths and a batch of one.
pub(crate) const POOLINGS: [(Shape, usize, usize, usize); 5] = [
    (Shape::new(4, 6, 6), 2, 2, 3),
    (Shape::new(17, 7, 5), 2, 2, 2),
    (Shape::new(3, 8, 8), 2, 3, 1),
    (Shape::new(16, 9, 9), 3, 3, 2),
    (Shape::new(64, 24, 24), 2, 2, 4),
];

/// A convolution and the max-pooling after it, with a batch of inputs, the two layers' outputs
/// computed one after the other, and a gradient of the pooled output.
pub(crate) struct PooledConvolution {
    pub conv: Conv2d,
    pub pool: MaxPool2d,
    pub input: Vec<f32>,
    pub conv_output: Vec<f32>,
    pub pooled: Vec<f32>,
    pub pooled_grad: Vec<f32>,
    pub batch: usize,
}

impl PooledConvolution {
    /// Runs the two layers' forward passes on `input` (`batch` images); `pooled_grad` gives
    /// each value of the pooled output's gradient in turn.
    pub(crate) fn new(
        conv: Conv2d,
        pool: MaxPool2d,
        input: Vec<f32>,
        batch: usize,
        pooled_grad: impl FnMut() -> f32,
    ) -> Self {
        let mut conv_output = vec![0.0; conv.output_size() * batch];
        conv.forward(&input, batch, &mut conv_output, Mode::Inference);
        let mut pooled = vec![0.0; pool.output_size() * batch];
        pool.forward(&conv_output, batch, &mut pooled, Mode::Inference);
        let pooled_grad = std::iter::repeat_with(pooled_grad).take(pooled.len()).collect();
        PooledConvolution { conv, pool, input, conv_output, pooled, pooled_grad, batch }
    }

    /// The convolution's `(∂W, ∂b)`, every value NaN until a pass writes it.
    pub(crate) fn nan_gradients(&self) -> [DMatrix<f32>; 2] {
        let (weights, bias) = (self.conv.weights(), self.conv.bias());
        [
            DMatrix::from_element(weights.nrows(), weights.ncols(), f32::NAN),
            DMatrix::from_element(bias.nrows(), 1, f32::NAN),
        ]
    }
}
