//! Inverted dropout: in training, each value is kept with probability `1 − p` and scaled by
//! `1 / (1 − p)`; in inference, the layer passes its input through.

use std::any::Any;

use nalgebra::DMatrix;
use pulp::{Simd, WithSimd};

use crate::{Layer, LayerSpec, Mode, NnError, Shape, mix_seed};

/// Inverted dropout (Srivastava et al. 2014, as PyTorch and Keras implement it): in training,
/// `a = x · m / (1 − p)` with `m` 0 with probability `p` and 1 otherwise; in inference `a = x`,
/// so the expected value is the same in both.
///
/// The mask of sample `j` is drawn from the mode's seed, the layer's position and `j`'s position
/// in the batch, one counter-based draw per value: the same whatever the shards or threads, and
/// drawn again, not stored, for the backward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    shape: Shape,
    rate: f32,
}

impl Dropout {
    /// Dropout of values of `shape` with probability `rate`, in `[0, 1)`.
    pub fn new(shape: Shape, rate: f32) -> Result<Self, NnError> {
        Dropout::new_at(shape, rate, 0)
    }

    /// [`Dropout::new`] for the layer at position `index` of a network, which its errors name.
    pub(crate) fn new_at(shape: Shape, rate: f32, index: usize) -> Result<Self, NnError> {
        if !(0.0..1.0).contains(&rate) {
            return Err(NnError::InvalidLayer {
                layer: index,
                kind: "dropout",
                detail: format!("its rate {rate} is not in [0, 1)"),
            });
        }
        Ok(Dropout { shape, rate })
    }

    /// The probability of dropping a value.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// `to = from · mask scale` for each sample: `1 / (1 − p)` where kept, 0 where dropped; in
    /// inference, `to = from`. One pass: the copy and the mask together.
    fn masked(&self, from: &[f32], to: &mut [f32], batch: usize, mode: Mode) {
        let Mode::Training { seed, first_sample } = mode else {
            to.copy_from_slice(from);
            return;
        };
        let keep_scale = 1.0 / (1.0 - self.rate);
        // A value is dropped when its 24-bit uniform draw falls below rate · 2²⁴.
        let threshold = (f64::from(self.rate) * f64::from(1_u32 << 24)) as u64;
        let len = self.shape.len();
        let masked = (len * batch).min(to.len());
        for (j, (from, to)) in from[..masked].chunks_exact(len).zip(to[..masked].chunks_exact_mut(len)).enumerate() {
            let key = mix_seed(seed ^ mix_seed(first_sample + j as u64));
            pulp::Arch::new().dispatch(ApplyMask { from, to, key, threshold, keep_scale });
        }
        to[masked..].copy_from_slice(&from[masked..]);
    }
}

/// One sample's mask applied, compiled by `pulp` for the processor's widest vectors: the hashes
/// (64-bit multiplies) and the products vectorise.
struct ApplyMask<'a> {
    from: &'a [f32],
    to: &'a mut [f32],
    key: u64,
    threshold: u64,
    keep_scale: f32,
}

impl WithSimd for ApplyMask<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for (unit, (to, &from)) in (0u64..).zip(self.to.iter_mut().zip(self.from)) {
            let kept = mix_seed(self.key.wrapping_add(unit)) >> 40 >= self.threshold;
            *to = from * if kept { self.keep_scale } else { 0.0 };
        }
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }

    fn input_shape(&self) -> Shape {
        self.shape
    }

    fn output_shape(&self) -> Shape {
        self.shape
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::Dropout { rate: self.rate }
    }

    fn describe(&self) -> String {
        self.rate.to_string()
    }

    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], mode: Mode) {
        self.masked(input, output, batch, mode);
    }

    /// `∂x = ∂a · m / (1 − p)`, with the masks of the forward pass.
    fn backward(
        &self,
        _input: &[f32],
        _output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        _gradients: &mut [DMatrix<f32>],
        mode: Mode,
    ) {
        let Some(input_grad) = input_grad else { return };
        self.masked(output_grad, input_grad, batch, mode);
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(layer: &Dropout, batch: usize, mode: Mode) -> Vec<f32> {
        let mut output = vec![0.0; layer.shape.len() * batch];
        layer.forward(&vec![1.0; output.len()], batch, &mut output, mode);
        output
    }

    #[test]
    fn inference_passes_everything_through() {
        let layer = Dropout::new_at(Shape::flat(100), 0.5, 0).unwrap();
        let input: Vec<f32> = (0..300).map(|i| i as f32).collect();
        let mut output = vec![0.0; 300];
        layer.forward(&input, 3, &mut output, Mode::Inference);
        assert_eq!(output, input);
    }

    #[test]
    fn training_drops_the_rate_and_scales_the_rest() {
        let layer = Dropout::new_at(Shape::new(4, 10, 10), 0.25, 0).unwrap();
        let output = masks(&layer, 50, Mode::training(3));
        let dropped = output.iter().filter(|&&v| v == 0.0).count() as f64 / output.len() as f64;
        assert!((dropped - 0.25).abs() < 0.01, "{dropped}");
        assert!(output.iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
        // Another seed, other masks; rate 0 keeps everything.
        assert_ne!(output, masks(&layer, 50, Mode::training(4)));
        let keep_all = Dropout::new_at(Shape::flat(64), 0.0, 0).unwrap();
        assert!(masks(&keep_all, 5, Mode::training(1)).iter().all(|&v| v == 1.0));
        assert!(Dropout::new_at(Shape::flat(4), 1.0, 2).is_err());
    }

    #[test]
    fn a_sample_keeps_its_mask_whatever_shard_it_is_in() {
        let layer = Dropout::new_at(Shape::flat(40), 0.5, 0).unwrap();
        let whole = masks(&layer, 6, Mode::training(9));
        let second_half = masks(&layer, 3, Mode::Training { seed: 9, first_sample: 3 });
        assert_eq!(&whole[120..], &second_half[..]);
    }

    #[test]
    fn backward_applies_the_forward_mask() {
        let layer = Dropout::new_at(Shape::flat(30), 0.4, 0).unwrap();
        let mode = Mode::Training { seed: 5, first_sample: 7 };
        let mask = masks(&layer, 2, mode);
        let mut output_grad: Vec<f32> = (0..60).map(|i| i as f32 - 20.0).collect();
        let expected: Vec<f32> = output_grad.iter().zip(&mask).map(|(g, m)| g * m).collect();
        let mut input_grad = vec![f32::NAN; 60];
        layer.backward(&[], &[], 2, &mut output_grad, Some(&mut input_grad), &mut [], mode);
        assert_eq!(input_grad, expected);
    }

    #[test]
    fn each_value_keeps_the_draw_of_its_definition() {
        // Value `unit` of sample `j` is kept when the top 24 bits of
        // mix_seed(mix_seed(seed ^ mix_seed(first + j)) + unit) reach rate · 2²⁴.
        let (rate, seed, first) = (0.3f32, 11, 5);
        let layer = Dropout::new_at(Shape::new(3, 5, 7), rate, 0).unwrap();
        let output = masks(&layer, 4, Mode::Training { seed, first_sample: first });
        let threshold = (f64::from(rate) * f64::from(1_u32 << 24)) as u64;
        for (j, sample) in output.chunks_exact(105).enumerate() {
            let key = mix_seed(seed ^ mix_seed(first + j as u64));
            for (unit, &value) in sample.iter().enumerate() {
                let kept = mix_seed(key.wrapping_add(unit as u64)) >> 40 >= threshold;
                assert_eq!(value, if kept { 1.0 / (1.0 - rate) } else { 0.0 }, "sample {j}, value {unit}");
            }
        }
    }
}
