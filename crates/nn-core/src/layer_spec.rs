//! One layer of an architecture without its parameters ([`LayerSpec`]): the shapes it takes and
//! gives, its parameters' shapes, and the layer it builds.

use nalgebra::DMatrix;
use rand::Rng;

use crate::{
    Activation, ActivationLayer, AvgPool2d, BatchNorm, Conv2d, Conv2dParams, Dense, Dropout, Flatten, GlobalAvgPool,
    Init, Layer, MaxPool2d, NnError, Shape,
};

/// A parameter's name (`"weights"`, `"bias"`) and shape (rows, columns).
pub type ParameterShape = (&'static str, (usize, usize));

/// One layer of an architecture, without its parameters: what the text form names.
///
/// | text | layer |
/// | --- | --- |
/// | `dense(128)` | [`Dense`] with 128 outputs |
/// | `conv(32,3)`, `conv(16,3,pad=1)`, `conv(8,5x3,stride=2)` | [`Conv2d`]: filters, kernel, then optional stride and padding (also positional: `conv(16,3,1,1)`) |
/// | `maxpool(2)`, `maxpool(3,stride=2)` | [`MaxPool2d`]: window, stride (the window by default) |
/// | `avgpool(2)`, `avgpool(3,stride=2)` | [`AvgPool2d`]: window, stride (the window by default) |
/// | `globalavgpool` | [`GlobalAvgPool`]: one mean per channel |
/// | `batchnorm` | [`BatchNorm`] of each channel (of each value after a dense layer) |
/// | `flatten` | [`Flatten`] |
/// | `dropout(0.5)` | [`Dropout`] with rate 0.5 |
/// | `relu`, `sigmoid`, `tanh`, `leaky_relu:0.1`, ... | the activation; after `dense` or `conv` it becomes that layer's |
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerSpec {
    /// A fully connected layer.
    Dense {
        /// Outputs.
        outputs: usize,
        /// The activation after it.
        activation: Activation,
    },
    /// A 2-D convolution.
    Conv {
        /// Output channels.
        filters: usize,
        /// Kernel height and width.
        kernel: (usize, usize),
        /// Step between patches.
        stride: usize,
        /// Zeros on every side.
        padding: usize,
        /// The activation after it.
        activation: Activation,
    },
    /// Max-pooling.
    MaxPool {
        /// Side of the window.
        window: usize,
        /// Step between windows.
        stride: usize,
    },
    /// Average pooling.
    AvgPool {
        /// Side of the window.
        window: usize,
        /// Step between windows.
        stride: usize,
    },
    /// Average pooling of each channel over the whole image.
    GlobalAvgPool,
    /// Batch normalisation of each channel.
    BatchNorm,
    /// Flattening to a vector, channels first.
    Flatten,
    /// Inverted dropout.
    Dropout {
        /// Probability of dropping a value.
        rate: f32,
    },
    /// An activation on its own.
    Activation(Activation),
}

impl LayerSpec {
    /// The layer this describes, taking samples of `input`, with parameters drawn by `init`
    /// from `rng`; `index` is its position, for messages.
    pub fn build(&self, input: Shape, init: Init, rng: &mut impl Rng, index: usize) -> Result<Box<dyn Layer>, NnError> {
        if *self == LayerSpec::BatchNorm {
            // γ = 1 and β = 0, as Ioffe and Szegedy start: nothing is drawn.
            return Ok(Box::new(BatchNorm::new_at(input, index)?));
        }
        let parameters = match self.parameter_shapes(input, index)?.as_slice() {
            [(_, (outputs, inputs)), _] => {
                let (weights, bias) = init.draw(*inputs, *outputs, rng);
                vec![weights, bias]
            }
            _ => Vec::new(),
        };
        self.with_parameters(input, parameters, index)
    }

    /// How many parameter matrices the layer has: weights and bias for dense and convolutional
    /// layers, scale and shift (stored as weights and bias) for batch normalisation, none for the
    /// others.
    pub fn parameter_count(&self) -> usize {
        match self {
            LayerSpec::Dense { .. } | LayerSpec::Conv { .. } | LayerSpec::BatchNorm => 2,
            _ => 0,
        }
    }

    /// The names and shapes (rows, columns) of the parameters of this layer after `input`, checked
    /// without allocating them: weights then bias for dense and convolutional layers; for batch
    /// normalisation, its scale γ as `weights` and its shift β as `bias` (PyTorch's names),
    /// `channels × 1` each.
    pub fn parameter_shapes(&self, input: Shape, index: usize) -> Result<Vec<ParameterShape>, NnError> {
        Ok(match *self {
            LayerSpec::Dense { outputs, .. } => {
                let inputs = dense_inputs(input, index)?;
                if outputs == 0 || outputs.checked_mul(inputs).is_none_or(|n| n > crate::MAX_SAMPLE_VALUES) {
                    return Err(NnError::InvalidLayer {
                        layer: index,
                        kind: "dense",
                        detail: format!("{inputs} inputs and {outputs} outputs make no layer or too large a one"),
                    });
                }
                vec![("weights", (outputs, inputs)), ("bias", (outputs, 1))]
            }
            LayerSpec::Conv { filters, kernel, stride, padding, .. } => {
                let params = Conv2dParams::new_at(input, filters, kernel, stride, padding, index)?;
                vec![("weights", (filters, params.patch_len())), ("bias", (filters, 1))]
            }
            LayerSpec::BatchNorm => {
                let channels = BatchNorm::new_at(input, index)?.channels();
                vec![("weights", (channels, 1)), ("bias", (channels, 1))]
            }
            _ => Vec::new(),
        })
    }

    /// The shape of this layer's outputs after `input` (checked as the layer's constructor does).
    pub fn output_shape(&self, input: Shape, index: usize) -> Result<Shape, NnError> {
        Ok(match *self {
            LayerSpec::Dense { outputs, .. } => {
                self.parameter_shapes(input, index)?;
                Shape::flat(outputs)
            }
            LayerSpec::Conv { filters, kernel, stride, padding, .. } => {
                Conv2dParams::new_at(input, filters, kernel, stride, padding, index)?.output_shape()
            }
            LayerSpec::MaxPool { window, stride } => MaxPool2d::new_at(input, window, stride, index)?.output_shape(),
            LayerSpec::AvgPool { window, stride } => AvgPool2d::new_at(input, window, stride, index)?.output_shape(),
            LayerSpec::GlobalAvgPool => GlobalAvgPool::new_at(input, index)?.output_shape(),
            LayerSpec::Flatten => Shape::flat(input.len()),
            LayerSpec::BatchNorm => BatchNorm::new_at(input, index)?.output_shape(),
            LayerSpec::Dropout { .. } | LayerSpec::Activation(_) => input,
        })
    }

    /// The layer this describes, taking samples of `input`, with the given parameters (for dense
    /// and convolutional layers: weights, then bias, shaped as those types document; for batch
    /// normalisation: scale, then shift, with fresh running statistics).
    #[expect(clippy::missing_panics_doc, reason = "the parameters are counted before they are taken")]
    pub fn with_parameters(
        &self,
        input: Shape,
        parameters: Vec<DMatrix<f32>>,
        index: usize,
    ) -> Result<Box<dyn Layer>, NnError> {
        let expected = self.parameter_count();
        if parameters.len() != expected {
            return Err(NnError::ParameterCount { layer: index, expected, found: parameters.len() });
        }
        let mut parameters = parameters.into_iter();
        let mut next = || parameters.next().expect("counted above");
        Ok(match *self {
            LayerSpec::Dense { outputs, activation } => {
                let inputs = dense_inputs(input, index)?;
                let (weights, bias) = (next(), next());
                if weights.shape() != (outputs, inputs) {
                    let (expected, found) = ((outputs, inputs), weights.shape());
                    return Err(NnError::ParameterShape { layer: index, name: "weights", expected, found });
                }
                Box::new(Dense::new_at(weights, bias, activation, index)?)
            }
            LayerSpec::Conv { filters, kernel, stride, padding, activation } => {
                let params = Conv2dParams::new_at(input, filters, kernel, stride, padding, index)?;
                let (weights, bias) = (next(), next());
                Box::new(Conv2d::new_at(params, weights, bias, activation, index)?)
            }
            LayerSpec::MaxPool { window, stride } => Box::new(MaxPool2d::new_at(input, window, stride, index)?),
            LayerSpec::AvgPool { window, stride } => Box::new(AvgPool2d::new_at(input, window, stride, index)?),
            LayerSpec::GlobalAvgPool => Box::new(GlobalAvgPool::new_at(input, index)?),
            LayerSpec::BatchNorm => {
                let channels = input.channels;
                let statistics = crate::RunningStatistics::fresh(channels);
                Box::new(BatchNorm::with_values_at(input, next(), next(), statistics, index)?)
            }
            LayerSpec::Flatten => Box::new(Flatten::new(input)),
            LayerSpec::Dropout { rate } => Box::new(Dropout::new_at(input, rate, index)?),
            LayerSpec::Activation(activation) => Box::new(ActivationLayer::new(input, activation)?),
        })
    }
}

/// The inputs of a dense layer after `input`: only values already in channels-first order.
fn dense_inputs(input: Shape, index: usize) -> Result<usize, NnError> {
    if input.is_channels_first_too() {
        Ok(input.len())
    } else {
        Err(NnError::InvalidLayer {
            layer: index,
            kind: "dense",
            detail: format!("it follows an image of {input}: put `flatten` before it"),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Architecture, Init, Loss};

    #[test]
    fn dense_after_an_image_of_channels_needs_flatten() {
        let arch: Architecture = "conv(4,3) dense(10)".parse().unwrap();
        let error = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap_err();
        assert!(error.to_string().contains("flatten"), "{error}");
        // One channel is already channels-first: no flatten needed.
        assert!("dense(10)".parse::<Architecture>().unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 0).is_ok());
    }
}
