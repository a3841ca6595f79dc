//! A Winograd convolution and the max-pooling right after it, forward and backward as the
//! training pass computes them together (`conv_then_pool.rs`), for tools that time or check the
//! layers one pair at a time: nn-train's profile, a benchmark. The first layers of Saitō's
//! simple network have their own entries (`Network::first_layers_forward`).

use nalgebra::DMatrix;

use crate::{Conv2d, MaxPool2d, MaxPositions, Mode, Network, conv_then_pool};

/// What [`Network::pooled_pair_backward`] reads and writes: the two layers' values as
/// [`Network::pooled_pair_forward`] left them, and room for the gradients.
pub struct PooledPair<'a> {
    /// The convolution's input.
    pub input: &'a [f32],
    /// The convolution's output, as the forward pass left it (read only where it wrote it).
    pub conv_output: &'a [f32],
    /// The pooling's output.
    pub pooled: &'a [f32],
    /// Where each maximum lay, as the forward pass noted it.
    pub positions: &'a MaxPositions,
    /// The pooling's output gradient, which the pass may overwrite (as a layer's backward pass
    /// may overwrite its output gradient).
    pub pooled_grad: &'a mut [f32],
    /// Room for the convolution's output gradient, as long as its output: a scratch, written in
    /// part or not at all.
    pub conv_grad: &'a mut [f32],
    /// The convolution's input gradient, computed when given.
    pub input_grad: Option<&'a mut [f32]>,
}

impl Network {
    /// Whether the training pass computes layer `index`, a convolution, together with the
    /// max-pooling right after it: a 3x3 convolution of stride 1 that Winograd's method computes,
    /// for a batch that goes through each layer whole (not a network with batch normalisation,
    /// whose batches are cut into parts layer by layer).
    pub fn pools_in_one_pass(&self, index: usize) -> bool {
        self.pair_in_one_pass(index).is_some()
    }

    fn pair_in_one_pass(&self, index: usize) -> Option<(&Conv2d, &MaxPool2d)> {
        self.pooled_convolution(index, 1).filter(|_| !self.normalises_batches())
    }

    /// Layers `index` (a convolution) and `index + 1` (the max-pooling after it) forward in one
    /// pass, as the training pass computes them: `pooled` gets the pooling's output, the bits of
    /// the layers' own passes; `positions` where each maximum lies; `conv_output` the
    /// convolution's output only where the backward pass reads it (not behind ReLU with windows
    /// apart, where the positions say all it needs). Returns `false`, having done nothing, where
    /// [`pools_in_one_pass`](Network::pools_in_one_pass) does not hold.
    ///
    /// # Panics
    ///
    /// If a slice is shorter than `batch` samples of its layer.
    pub fn pooled_pair_forward(
        &self,
        index: usize,
        input: &[f32],
        batch: usize,
        conv_output: &mut [f32],
        pooled: &mut [f32],
        positions: &mut MaxPositions,
    ) -> bool {
        let Some((conv, pool)) = self.pair_in_one_pass(index) else { return false };
        let kept = (!conv_then_pool::keeps_positions(conv, pool)).then_some(conv_output);
        // Neither layer draws at random: any mode computes the same.
        conv_then_pool::forward(conv, pool, (input, batch), kept, pooled, positions, Mode::Inference);
        true
    }

    /// Layers `index + 1` (a max-pooling) and `index` (the convolution before it) backward in one
    /// pass, as the training pass computes them, after
    /// [`pooled_pair_forward`](Network::pooled_pair_forward): the convolution's gradients into
    /// `gradients` (its weights', then its bias'), and its input's into `pair.input_grad` when
    /// given, the bits of the layers' own passes. Returns `false`, having done nothing, where
    /// [`pools_in_one_pass`](Network::pools_in_one_pass) does not hold.
    ///
    /// # Panics
    ///
    /// If a slice is shorter than `batch` samples of its layer, or `gradients` are not the
    /// convolution's.
    pub fn pooled_pair_backward(
        &self,
        index: usize,
        pair: PooledPair<'_>,
        batch: usize,
        gradients: &mut [DMatrix<f32>],
    ) -> bool {
        let Some((conv, pool)) = self.pair_in_one_pass(index) else { return false };
        let PooledPair { input, conv_output, pooled, positions, pooled_grad, conv_grad, input_grad } = pair;
        let conv_output = (!conv_then_pool::keeps_positions(conv, pool)).then_some(conv_output);
        let buffers =
            conv_then_pool::Buffers { input, conv_output, pooled, positions, pooled_grad, conv_grad, input_grad };
        conv_then_pool::backward(conv, pool, buffers, batch, gradients, Mode::Inference);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cases::{bits, uniform};
    use crate::{Architecture, Init, Loss};

    /// Each pair's passes against the layers' own, on the inputs the layers before it give:
    /// the pooled output, then `∂W`, `∂b` and, where asked, `∂X`.
    fn check_pairs(text: &str, batch: usize) -> usize {
        let net = Architecture::named_or_parsed(text).unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 4).unwrap();
        let mut next = uniform(9);
        let mut input: Vec<f32> = (0..net.input_size() * batch).map(|_| next().max(0.0)).collect();
        let mut pairs = 0;
        for (index, layer) in net.layers().iter().enumerate() {
            let mut output = vec![0.0; layer.output_size() * batch];
            layer.forward(&input, batch, &mut output, Mode::Inference);
            if net.pools_in_one_pass(index) {
                pairs += 1;
                check_pair(&net, index, &input, &output, batch, &mut next);
            }
            input = output;
        }
        pairs
    }

    fn check_pair(
        net: &Network,
        index: usize,
        input: &[f32],
        conv_output: &[f32],
        batch: usize,
        next: &mut impl FnMut() -> f32,
    ) {
        let (conv, pool) = (net.layers()[index].as_ref(), net.layers()[index + 1].as_ref());
        let mut pooled = vec![0.0; pool.output_size() * batch];
        pool.forward(conv_output, batch, &mut pooled, Mode::Inference);
        let pooled_grad: Vec<f32> = (0..pooled.len()).map(|_| next()).collect();
        let (mut fused_output, mut fused_pooled) = (vec![f32::NAN; conv_output.len()], vec![f32::NAN; pooled.len()]);
        let mut positions = MaxPositions::default();
        assert!(net.pooled_pair_forward(index, input, batch, &mut fused_output, &mut fused_pooled, &mut positions));
        assert_eq!(bits(&fused_pooled), bits(&pooled), "layer {index}: pooled");
        let zeros = || conv.parameters().iter().map(|p| DMatrix::zeros(p.nrows(), p.ncols())).collect::<Vec<_>>();
        for with_input_grad in [true, false] {
            let (mut conv_grad, mut output_grad) = (vec![0.0; conv_output.len()], pooled_grad.clone());
            pool.backward(
                conv_output,
                &pooled,
                batch,
                &mut output_grad,
                Some(&mut conv_grad),
                &mut [],
                Mode::Inference,
            );
            let (mut layers_input_grad, mut layers_gradients) = (vec![0.0; input.len()], zeros());
            let slot = with_input_grad.then_some(&mut layers_input_grad[..]);
            conv.backward(input, conv_output, batch, &mut conv_grad, slot, &mut layers_gradients, Mode::Inference);

            let (mut input_grad, mut gradients) = (vec![f32::NAN; input.len()], zeros());
            let (mut pooled_grad, mut conv_grad) = (pooled_grad.clone(), vec![f32::NAN; conv_output.len()]);
            let pair = PooledPair {
                input,
                conv_output: &fused_output,
                pooled: &fused_pooled,
                positions: &positions,
                pooled_grad: &mut pooled_grad,
                conv_grad: &mut conv_grad,
                input_grad: with_input_grad.then_some(&mut input_grad[..]),
            };
            assert!(net.pooled_pair_backward(index, pair, batch, &mut gradients));
            for (ours, theirs) in gradients.iter().zip(&layers_gradients) {
                assert_eq!(bits(ours.as_slice()), bits(theirs.as_slice()), "layer {index}: ∂W, ∂b");
            }
            if with_input_grad {
                assert_eq!(bits(&input_grad), bits(&layers_input_grad), "layer {index}: ∂X");
            }
        }
    }

    #[test]
    fn pairs_give_the_bits_of_the_layers() {
        // Behind ReLU, 2x2 windows from the tiles and windows of 3 by chunks; behind tanh, from
        // the output kept; overlapping windows.
        assert_eq!(check_pairs("saito-deep", 3), 3);
        let text = "conv(8,3) tanh conv(12,3,pad=1) tanh maxpool(2) conv(8,3) relu maxpool(3,stride=2) \
                    conv(8,3,pad=1) relu maxpool(3) flatten dense(10)";
        assert_eq!(check_pairs(text, 2), 3);
    }

    #[test]
    fn other_layers_are_refused_with_nothing_written() {
        let net = Architecture::named("saito-simple").unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
        // Its first convolution and pooling have entries of their own (`first_layers_forward`).
        for index in 0..net.layers().len() + 1 {
            assert!(!net.pools_in_one_pass(index));
            let (mut output, mut pooled, mut positions) = (vec![1.0; 4], vec![1.0; 4], MaxPositions::default());
            assert!(!net.pooled_pair_forward(index, &[], 1, &mut output, &mut pooled, &mut positions));
            assert_eq!((output, pooled), (vec![1.0; 4], vec![1.0; 4]));
        }
        let bn = Architecture::named_or_parsed("conv(8,3) relu batchnorm conv(8,3) relu maxpool(2) flatten dense(10)")
            .unwrap()
            .build(Loss::SoftmaxCrossEntropy, Init::HE, 1)
            .unwrap();
        assert!(bn.pooled_convolution(2, 1).is_some() && !bn.pools_in_one_pass(2), "batches cut into parts");
    }
}
