//! The training pass: a batch forward and backward through a network, the mean loss and every
//! parameter's gradient (what a step then changes is in `training_step.rs`).

use nalgebra::DMatrix;

use crate::aligned_buffer::AlignedBuffer;
use crate::batch_parts;
use crate::conv_pool;
use crate::conv_then_pool;
use crate::{
    Activation, ActivationLayer, Conv2d, Dense, Dropout, Flatten, Gradients, Layer, MaxPool2d, MaxPositions, Mode,
    Network, NnError, Targets, Workspace,
};

impl Network {
    /// Forward and backward pass over one batch: returns the mean loss and writes
    /// `∂C/∂parameter` into `gradients` (overwritten; see [`Gradients`] for combining shards).
    ///
    /// `inputs` holds the samples one after the other, channels last; `targets` one class or one vector per
    /// sample; `mode` is [`Mode::Training`] with the batch's seed to train (dropout draws its
    /// masks from it), or [`Mode::Inference`] for the gradients of the network as it predicts.
    /// Refuses networks with a step activation ([`NnError::StepNotTrainable`]).
    pub fn loss_and_gradients(
        &self,
        inputs: &[f32],
        targets: Targets<'_>,
        mode: Mode,
        workspace: &mut Workspace,
        gradients: &mut Gradients,
    ) -> Result<f32, NnError> {
        let batch = self.batch_len(inputs)?;
        targets.validate(self.output_size(), batch)?;
        self.check_trainable()?;
        gradients.fits(self)?;
        let depth = self.layers.len();
        workspace.outputs.resize_with(depth, AlignedBuffer::default);
        workspace.deltas.resize_with(depth, AlignedBuffer::default);
        workspace.output_lens.clear();
        workspace.output_kept.clear();
        let mut standardized = std::mem::take(&mut workspace.standardized);
        let raw_inputs = inputs;
        let inputs = match &self.standardization {
            Some(standardization) => {
                standardization.apply(raw_inputs, standardized.sized(raw_inputs.len()));
                &standardized[..raw_inputs.len()]
            }
            None => raw_inputs,
        };

        // A network with batch normalisation goes through the batch whole, each layer's samples
        // cut into parts that run in parallel; any other network gives each layer the batch as
        // it is (a trainer cuts it into shards before).
        let parts = if self.normalises_batches() { batch_parts::batch_parts(batch) } else { 1 };
        let ranges = batch_parts::part_ranges(batch, parts);
        workspace.part_gradients.resize_with(depth, Vec::new);
        workspace.pooled_positions.resize_with(depth, Default::default);
        // A first one-channel ReLU convolution and its max-pooling go together (`conv_pool.rs`).
        let conv_then_pool = self.first_conv_then_pool().filter(|_| parts == 1);
        // A Winograd convolution and the max-pooling after it go together (`conv_then_pool.rs`).
        let pooled_after = self.pooled_convolutions(parts);
        for (index, layer) in self.layers.iter().enumerate() {
            workspace.output_lens.push(layer.output_size() * batch);
            // A convolution pooled as it comes out is kept only when asked, or when the
            // backward pass reads it.
            let kept = match pooled_after[index] {
                Some((conv, pool)) => workspace.keep_layer_outputs || !conv_then_pool::keeps_positions(conv, pool),
                None => true,
            };
            workspace.output_kept.push(kept);
            let (before, rest) = workspace.outputs.split_at_mut(index);
            // (A pooling after a convolution whose output is not kept is computed with it.)
            let input_len = if index > 0 && !workspace.output_kept[index - 1] { 0 } else { layer.input_size() * batch };
            let input = if index == 0 { inputs } else { &before[index - 1][..input_len] };
            if let Some((conv, pool)) = conv_then_pool.filter(|_| index <= 1) {
                if index == 0 {
                    let (conv_output, pooled) = rest.split_at_mut(1);
                    let conv_output = conv_output[0].sized(conv.output_size() * batch);
                    let pooled = pooled[0].sized(pool.output_size() * batch);
                    let positions = &mut workspace.pooled_positions[0];
                    conv_pool::forward(conv, pool, input, batch, conv_output, pooled, positions);
                }
                continue;
            }
            if index > 0 && pooled_after[index - 1].is_some() {
                continue;
            }
            if let Some((conv, pool)) = pooled_after[index] {
                let (conv_output, pooled) = rest.split_at_mut(1);
                let conv_output = kept.then(|| conv_output[0].sized(conv.output_size() * batch));
                let pooled = pooled[0].sized(pool.output_size() * batch);
                let positions = &mut workspace.pooled_positions[index];
                let pool_mode = mode.for_layer(index + 1);
                conv_then_pool::forward(conv, pool, (input, batch), conv_output, pooled, positions, pool_mode);
                continue;
            }
            let output = rest[0].sized(layer.output_size() * batch);
            if parts == 1 {
                layer.forward(input, batch, output, mode.for_layer(index));
            } else {
                batch_parts::forward(layer.as_ref(), input, batch, output, mode.for_layer(index), &ranges);
            }
        }

        let classes = self.output_size();
        let logits = &workspace.outputs[depth - 1][..classes * batch];
        let delta = workspace.deltas[depth - 1].sized(classes * batch);
        let loss = self.loss.loss_and_delta_unchecked(logits, classes, targets, Some(delta));

        let mut tensors = gradients.tensors_mut();
        let conv_then_pool = conv_then_pool.filter(|_| !workspace.want_input_gradient);
        // A first convolution whose pooling's backward pass gave it its gradients already.
        let mut first_layer_done = false;
        for index in (0..depth).rev() {
            let layer = &self.layers[index];
            let count = layer.parameters().len();
            let (rest, layer_gradients) = tensors.split_at_mut(tensors.len() - count);
            tensors = rest;
            if index == 0 && first_layer_done {
                break;
            }
            if let (1, Some((conv, pool))) = (index, conv_then_pool) {
                // `tensors` holds the first layer's gradients alone: weights, then bias.
                let (weight_grad, bias_grad) = tensors.split_at_mut(1);
                first_layer_done = conv_pool::weight_gradient(
                    conv,
                    pool,
                    inputs,
                    &workspace.pooled_positions[0],
                    &workspace.outputs[1],
                    &workspace.deltas[1],
                    batch,
                    weight_grad[0].as_mut_slice(),
                    bias_grad[0].as_mut_slice(),
                );
                if first_layer_done {
                    continue;
                }
            }
            if index > 0 && pooled_after[index - 1].is_some() {
                // The pooling's backward pass runs within its convolution's, below.
                continue;
            }
            let input = if index == 0 { inputs } else { &workspace.outputs[index - 1][..layer.input_size() * batch] };
            // A layer's output not kept was never written at this batch's size.
            let kept = workspace.output_kept[index];
            let output = &workspace.outputs[index][..if kept { layer.output_size() * batch } else { 0 }];
            let (below, here) = workspace.deltas.split_at_mut(index);
            let input_grad = if index > 0 {
                Some(below[index - 1].sized(layer.input_size() * batch))
            } else if workspace.want_input_gradient {
                workspace.input_gradient_len = inputs.len();
                Some(workspace.input_gradient.sized(inputs.len()))
            } else {
                None
            };
            if let Some((conv, pool)) = pooled_after[index] {
                let (conv_grad, above) = here.split_at_mut(1);
                let buffers = conv_then_pool::Buffers {
                    input,
                    conv_output: kept.then_some(output),
                    pooled: &workspace.outputs[index + 1][..pool.output_size() * batch],
                    positions: &workspace.pooled_positions[index],
                    pooled_grad: &mut above[0][..pool.output_size() * batch],
                    conv_grad: conv_grad[0].sized(conv.output_size() * batch),
                    input_grad,
                };
                conv_then_pool::backward(conv, pool, buffers, batch, layer_gradients, mode.for_layer(index));
                continue;
            }
            let output_grad = &mut here[0][..layer.output_size() * batch];
            if parts == 1 {
                let layer_mode = mode.for_layer(index);
                self.layer_backward(index, input, output, batch, output_grad, input_grad, layer_gradients, layer_mode);
            } else {
                let scratch = &mut workspace.part_gradients[index];
                let buffers = batch_parts::Backward {
                    input,
                    output,
                    output_grad,
                    input_grad,
                    gradients: layer_gradients,
                    scratch,
                };
                batch_parts::backward(layer.as_ref(), batch, buffers, mode.for_layer(index), &ranges);
            }
        }
        if let (Some(standardization), true) = (&self.standardization, workspace.want_input_gradient) {
            standardization.backward_in_place(&mut workspace.input_gradient[..raw_inputs.len()]);
        }
        workspace.standardized = standardized;
        Ok(loss)
    }

    /// Layer `index`'s [`backward`](crate::Layer::backward) as [`loss_and_gradients`](Network::loss_and_gradients)
    /// runs it, for tools that time or inspect the layers one at a time: a dense layer whose
    /// input gradient is read only where its input is nonzero (behind a ReLU) computes it there
    /// alone, zero elsewhere.
    ///
    /// # Panics
    ///
    /// If `index` is not a layer of the network.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_backward(
        &self,
        index: usize,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        mode: Mode,
    ) {
        let layer = &self.layers[index];
        match layer.as_any().downcast_ref::<Dense>() {
            Some(dense) if input_grad.is_some() && self.zero_inputs_stop_gradients(index) => {
                dense.backward_with(input, output, batch, output_grad, input_grad, gradients, true);
            }
            _ => layer.backward(input, output, batch, output_grad, input_grad, gradients, mode),
        }
    }

    /// Layers 0 and 1 forward as [`loss_and_gradients`](Network::loss_and_gradients) computes
    /// them when the network starts with a one-channel ReLU convolution and a max-pooling of
    /// windows side by side (Saitō's simple network): the pooling made from each band of the
    /// convolution's rows while they are in the cache, and where each maximum lies kept in
    /// `positions` for [`first_layers_backward`](Network::first_layers_backward). For tools that
    /// time the layers one at a time: `input` is the network's input (standardised, if the
    /// network standardises), `conv_output` and `pooled` get the two layers' outputs, the bits
    /// of their own passes. Returns `false`, having done nothing, when the network does not
    /// start so.
    ///
    /// # Panics
    ///
    /// If a slice is shorter than `batch` samples.
    pub fn first_layers_forward(
        &self,
        input: &[f32],
        batch: usize,
        conv_output: &mut [f32],
        pooled: &mut [f32],
        positions: &mut MaxPositions,
    ) -> bool {
        let Some((conv, pool)) = self.first_conv_then_pool() else { return false };
        conv_pool::forward(conv, pool, input, batch, conv_output, pooled, positions);
        true
    }

    /// Layer 0's gradients straight from layer 1's output gradient `pooled_grad`, as
    /// [`loss_and_gradients`](Network::loss_and_gradients) computes them after
    /// [`first_layers_forward`](Network::first_layers_forward) when the input's gradient is not
    /// asked for: the pooling's input gradient is never made. `positions` and `pooled` are what
    /// that forward pass made, `gradients` layer 0's (weights, then bias). Returns `false` when
    /// the network does not start so, or a value is not finite; the layers' own backward passes
    /// compute the gradients then.
    ///
    /// # Panics
    ///
    /// If a slice is shorter than `batch` samples, or `gradients` are not layer 0's.
    pub fn first_layers_backward(
        &self,
        input: &[f32],
        positions: &MaxPositions,
        pooled: &[f32],
        pooled_grad: &[f32],
        batch: usize,
        gradients: &mut [DMatrix<f32>],
    ) -> bool {
        let Some((conv, pool)) = self.first_conv_then_pool() else { return false };
        let [weight_grad, bias_grad] = gradients else { panic!("layer 0's gradients are its weights' and its bias'") };
        let (weight_grad, bias_grad) = (weight_grad.as_mut_slice(), bias_grad.as_mut_slice());
        conv_pool::weight_gradient(conv, pool, input, positions, pooled, pooled_grad, batch, weight_grad, bias_grad)
    }

    /// The first two layers when they are a convolution and the max-pooling after it whose
    /// passes [`conv_pool`] computes together (Saitō's simple network).
    pub(crate) fn first_conv_then_pool(&self) -> Option<(&Conv2d, &MaxPool2d)> {
        let conv = self.layers.first()?.as_any().downcast_ref::<Conv2d>()?;
        let pool = self.layers.get(1)?.as_any().downcast_ref::<MaxPool2d>()?;
        conv_pool::applies(conv, pool).then_some((conv, pool))
    }

    /// For each layer, the layer and the max-pooling after it when [`conv_then_pool`] computes
    /// them together, which it does for a batch that goes through each layer whole (`parts`
    /// is 1; inference is always whole).
    pub(crate) fn pooled_convolutions(&self, parts: usize) -> Vec<Option<(&Conv2d, &MaxPool2d)>> {
        (0..self.layers.len()).map(|index| self.pooled_convolution(index, parts)).collect()
    }

    /// Layer `index` and the max-pooling after it where [`conv_then_pool`] computes them
    /// together (see [`pooled_convolutions`](Network::pooled_convolutions)).
    pub(crate) fn pooled_convolution(&self, index: usize, parts: usize) -> Option<(&Conv2d, &MaxPool2d)> {
        let conv = self.layers.get(index)?.as_any().downcast_ref::<Conv2d>()?;
        let pool = self.layers.get(index + 1)?.as_any().downcast_ref::<MaxPool2d>()?;
        (parts == 1 && conv_then_pool::applies(conv, pool)).then_some((conv, pool))
    }

    /// Whether the gradient of layer `index`'s input is read only where that input is nonzero:
    /// below it, through dropout, flattening and max-pooling (each of which makes a zero only
    /// from zeros, or drops the value and its gradient), lies a ReLU, whose derivative is zero
    /// where its output is. Then a zero input's gradient is multiplied by zero on the way down,
    /// and need not be computed.
    pub(crate) fn zero_inputs_stop_gradients(&self, index: usize) -> bool {
        for layer in self.layers[..index].iter().rev() {
            let layer = layer.as_any();
            if layer.is::<Dropout>() || layer.is::<Flatten>() || layer.is::<MaxPool2d>() {
                continue;
            }
            let activation = if let Some(dense) = layer.downcast_ref::<Dense>() {
                dense.activation()
            } else if let Some(conv) = layer.downcast_ref::<Conv2d>() {
                conv.activation()
            } else if let Some(activation) = layer.downcast_ref::<ActivationLayer>() {
                activation.activation()
            } else {
                return false;
            };
            return activation == Activation::Relu;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use crate::{Architecture, Gradients, Init, Loss, Mode, Shape, Targets, Workspace};

    /// saito-simple's network takes its first layer's gradients through the pooling
    /// (`conv_pool.rs`); asked for the input's gradient too, it goes layer by layer.
    /// Both give the same bits, and the fused pass is taken.
    #[test]
    fn a_first_convolution_through_its_pooling_gives_the_bits_of_the_layers() {
        let net = Architecture::named("saito-simple").unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
        assert!(net.first_conv_then_pool().is_some());
        let batch = 5;
        let inputs: Vec<f32> =
            (0..batch * 784).map(|i| if i % 7 < 3 { 0.0 } else { ((i * 7919) % 256) as f32 / 255.0 }).collect();
        let classes: Vec<usize> = (0..batch).map(|j| j * 3 % 10).collect();
        let gradients = |workspace: &mut Workspace| {
            let mut gradients = Gradients::zeros_like(&net);
            let targets = Targets::Classes(&classes);
            net.loss_and_gradients(&inputs, targets, Mode::training(1), workspace, &mut gradients).unwrap();
            gradients.tensors().iter().map(|t| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>()
        };
        let fused = gradients(&mut Workspace::new());
        let layered = gradients(&mut Workspace::new().with_input_gradient());
        assert_eq!(fused, layered);
        assert!(fused[0].iter().any(|&bits| bits << 1 != 0));
    }

    #[test]
    fn a_pooled_convolutions_output_is_kept_when_asked() {
        let net = Architecture::named("saito-deep").unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
        let batch = 3;
        let inputs: Vec<f32> = (0..batch * 784).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect();
        let classes = [1, 4, 9];
        let pass = |mut workspace: Workspace| {
            let mut gradients = Gradients::zeros_like(&net);
            let targets = Targets::Classes(&classes);
            net.loss_and_gradients(&inputs, targets, Mode::Inference, &mut workspace, &mut gradients).unwrap();
            let bits = gradients.tensors().iter().map(|t| t.iter().map(|v| v.to_bits()).collect()).collect();
            (workspace, bits)
        };
        let (kept, kept_bits): (_, Vec<Vec<u32>>) = pass(Workspace::new().keeping_layer_outputs());
        let (left_out, bits) = pass(Workspace::new());
        assert_eq!(bits, kept_bits, "the same gradients either way");
        // Layer 1 (conv 16, pooled by layer 2) as its own forward pass makes it.
        let mut want = vec![0.0; net.layers()[1].output_size() * batch];
        net.layers()[1].forward(kept.layer_output(0).unwrap(), batch, &mut want, Mode::Inference);
        assert!(kept.layer_output(1) == Some(&want[..]), "kept when asked");
        assert!(left_out.layer_output(1).is_none(), "left out by default");
        assert!(left_out.layer_output(2) == kept.layer_output(2), "the pooling's output is kept");
        assert!(left_out.outputs() == kept.outputs());
    }

    /// The layers of `text` on 1x8x8 images whose input gradients are read only where their
    /// inputs are nonzero.
    fn stopped(text: &str) -> Vec<usize> {
        let architecture: Architecture = text.parse().unwrap();
        let net = architecture.with_input(Shape::new(1, 8, 8)).build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap();
        (0..net.layers().len()).filter(|&index| net.zero_inputs_stop_gradients(index)).collect()
    }

    #[test]
    fn zero_inputs_stop_gradients_behind_a_relu_through_dropout_flatten_and_max_pooling() {
        // pytorch-example's shape: both dense layers.
        let text =
            "conv(4,3) relu conv(4,3) relu maxpool(2) dropout(0.25) flatten dense(8) relu dropout(0.5) dense(10)";
        assert_eq!(stopped(text), [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(stopped("flatten relu dense(8) relu dense(10)"), [2, 3]);
        // Not behind a ReLU, or through a layer that makes a zero from nonzero values.
        assert_eq!(stopped("flatten dense(8) sigmoid dense(10)"), Vec::<usize>::new());
        assert_eq!(stopped("flatten dense(8) leaky_relu:0.1 dense(10)"), Vec::<usize>::new());
        assert_eq!(stopped("conv(2,3) relu avgpool(2) flatten dense(10)"), [1]);
        assert_eq!(stopped("conv(2,3) relu batchnorm flatten dense(10)"), [1]);
        // The first layer has no input gradient to skip.
        assert!(!stopped("flatten dense(10)").contains(&0));
    }
}
