//! Architectures as text: `conv(32,3) relu maxpool(2) flatten dense(10)`, parsed, printed, and
//! built into networks with fresh or given parameters.

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{
    Activation, ActivationLayer, AvgPool2d, BatchNorm, Conv2d, Conv2dParams, Dense, Dropout, Flatten, GlobalAvgPool,
    Init, Layer, Loss, MaxPool2d, Network, NnError, Shape,
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

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let activation = |f: &mut fmt::Formatter<'_>, activation: Activation| {
            if activation == Activation::Identity { Ok(()) } else { write!(f, " {activation}") }
        };
        match *self {
            LayerSpec::Dense { outputs, activation: a } => {
                write!(f, "dense({outputs})")?;
                activation(f, a)
            }
            LayerSpec::Conv { filters, kernel, stride, padding, activation: a } => {
                write!(f, "conv({filters},")?;
                if kernel.0 == kernel.1 {
                    write!(f, "{}", kernel.0)?
                } else {
                    write!(f, "{}x{}", kernel.0, kernel.1)?
                }
                if stride != 1 {
                    write!(f, ",stride={stride}")?;
                }
                if padding != 0 {
                    write!(f, ",pad={padding}")?;
                }
                f.write_str(")")?;
                activation(f, a)
            }
            LayerSpec::MaxPool { window, stride } if stride == window => write!(f, "maxpool({window})"),
            LayerSpec::MaxPool { window, stride } => write!(f, "maxpool({window},stride={stride})"),
            LayerSpec::AvgPool { window, stride } if stride == window => write!(f, "avgpool({window})"),
            LayerSpec::AvgPool { window, stride } => write!(f, "avgpool({window},stride={stride})"),
            LayerSpec::GlobalAvgPool => f.write_str("globalavgpool"),
            LayerSpec::BatchNorm => f.write_str("batchnorm"),
            LayerSpec::Flatten => f.write_str("flatten"),
            LayerSpec::Dropout { rate } => write!(f, "dropout({rate})"),
            LayerSpec::Activation(a) => write!(f, "{a}"),
        }
    }
}

/// A network's layers as text, with the shape of its input: what a user writes after
/// `--arch`, what a model file records.
///
/// ```
/// use nn_core::{Architecture, Init, Loss, Shape};
/// let arch: Architecture = "conv(32,3) relu conv(64,3) relu maxpool(2) dropout(0.25) flatten dense(128) relu \
///                           dropout(0.5) dense(10)".parse()?;
/// let net = arch.clone().with_input(Shape::new(1, 28, 28)).build(Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
/// assert_eq!(net.parameter_count(), 1_199_882); // PyTorch's examples/mnist
/// assert_eq!(net.architecture().to_string(), arch.to_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// The shape of one input sample (MNIST: `1x28x28`, which is also what parsing assumes).
    pub input: Shape,
    /// The layers, an activation after a dense or convolutional layer folded into it.
    pub layers: Vec<LayerSpec>,
}

/// The input shape parsing assumes: one MNIST image.
pub const MNIST_INPUT: Shape = Shape::new(1, 28, 28);

/// The architectures the books and tutorials name: `(name, text, where it comes from)`.
pub const NAMED_ARCHITECTURES: [(&str, &str, &str); 5] = [
    (
        "saito-simple",
        "conv(30,5) relu maxpool(2) flatten dense(100) relu dense(10)",
        "Saitō, Deep Learning from Scratch, ch. 7: SimpleConvNet",
    ),
    (
        "saito-deep",
        "conv(16,3,pad=1) relu conv(16,3,pad=1) relu maxpool(2) conv(32,3,pad=1) relu conv(32,3,pad=2) relu maxpool(2) \
         conv(64,3,pad=1) relu conv(64,3,pad=1) relu maxpool(2) flatten dense(50) relu dropout(0.5) dense(10) dropout(0.5)",
        "Saitō, Deep Learning from Scratch, ch. 8: DeepConvNet",
    ),
    (
        "pytorch-example",
        "conv(32,3) relu conv(64,3) relu maxpool(2) dropout(0.25) flatten dense(128) relu dropout(0.5) dense(10)",
        "PyTorch's examples/mnist",
    ),
    (
        "cnn",
        "conv(16,3,pad=1) relu conv(32,3,pad=1) relu maxpool(2) conv(64,3,pad=1) relu maxpool(2) flatten dense(128) relu \
         dropout(0.5) dense(10)",
        "ours: three small convolutions and two pools, the best accuracy for the time on two cores",
    ),
    (
        "cnn-bn",
        "conv(16,3,pad=1) batchnorm relu conv(32,3,pad=1) batchnorm relu maxpool(2) conv(64,3,pad=1) batchnorm relu \
         maxpool(2) flatten dense(128) batchnorm relu dropout(0.5) dense(10)",
        "ours: cnn with a batch normalisation before each ReLU (Ioffe and Szegedy 2015; Saitō ch. 6.3)",
    ),
];

impl Architecture {
    /// An architecture from its layers, folding each activation that follows a dense or
    /// convolutional layer without one into that layer.
    pub fn new(input: Shape, layers: Vec<LayerSpec>) -> Self {
        let mut folded: Vec<LayerSpec> = Vec::with_capacity(layers.len());
        for layer in layers {
            match (folded.last_mut(), layer) {
                (
                    Some(
                        LayerSpec::Dense { activation: slot @ Activation::Identity, .. }
                        | LayerSpec::Conv { activation: slot @ Activation::Identity, .. },
                    ),
                    LayerSpec::Activation(activation),
                ) => *slot = activation,
                _ => folded.push(layer),
            }
        }
        Architecture { input, layers: folded }
    }

    /// One of the [`NAMED_ARCHITECTURES`] (for a `1x28x28` input), or `None`.
    ///
    /// ```
    /// let deep = nn_core::Architecture::named("saito-deep").unwrap();
    /// let net = deep.build(nn_core::Loss::SoftmaxCrossEntropy, nn_core::Init::HE, 0)?;
    /// assert_eq!(net.layers()[4].output_shape().to_string(), "32x16x16"); // the padding of 2
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    #[expect(clippy::missing_panics_doc, reason = "the named architectures are constants that parse (tested)")]
    pub fn named(name: &str) -> Option<Architecture> {
        let (_, text, _) = NAMED_ARCHITECTURES.iter().find(|(n, _, _)| *n == name)?;
        Some(text.parse().expect("the named architectures parse"))
    }

    /// A name of [`NAMED_ARCHITECTURES`] or an architecture's text.
    pub fn named_or_parsed(text: &str) -> Result<Architecture, ParseArchitectureError> {
        match Architecture::named(text.trim()) {
            Some(architecture) => Ok(architecture),
            None => text.parse(),
        }
    }

    /// The same layers for samples of `input`.
    pub fn with_input(mut self, input: Shape) -> Self {
        self.input = input;
        self
    }

    /// A network of these layers with parameters drawn by `init` from a ChaCha8 generator seeded
    /// with `seed`, layer by layer (for dense layers, the draws of [`Network::dense`]).
    pub fn build(&self, loss: Loss, init: Init, seed: u64) -> Result<Network, NnError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.assemble(loss, |spec, input, index| spec.build(input, init, &mut rng, index))
    }

    /// A network of these layers with the given parameters, in the order of
    /// [`Network::parameters`].
    pub fn with_parameters(&self, loss: Loss, parameters: Vec<DMatrix<f32>>) -> Result<Network, NnError> {
        let total = parameters.len();
        let mut parameters = parameters.into_iter();
        let network = self.assemble(loss, |spec, input, index| {
            let count = spec.parameter_count();
            let mine: Vec<_> = parameters.by_ref().take(count).collect();
            if mine.len() != count {
                return Err(NnError::ParameterCount { layer: index, expected: count, found: mine.len() });
            }
            spec.with_parameters(input, mine, index)
        })?;
        if parameters.len() > 0 {
            return Err(NnError::ParameterCount {
                layer: self.layers.len(),
                expected: total - parameters.len(),
                found: total,
            });
        }
        Ok(network)
    }

    fn assemble(
        &self,
        loss: Loss,
        mut make: impl FnMut(&LayerSpec, Shape, usize) -> Result<Box<dyn Layer>, NnError>,
    ) -> Result<Network, NnError> {
        let mut shape = self.input;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, spec) in self.layers.iter().enumerate() {
            let layer = make(spec, shape, index)?;
            shape = layer.output_shape();
            if !shape.is_allowed() {
                return Err(NnError::InvalidLayer {
                    layer: index,
                    kind: layer.kind(),
                    detail: format!("its output {shape} is empty or too large"),
                });
            }
            layers.push(layer);
        }
        Network::new(layers, loss)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, layer) in self.layers.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

/// Why a text is not an architecture: the layer at fault and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseArchitectureError {
    /// The whole text.
    pub text: String,
    /// The layer at fault.
    pub at: String,
    /// What is wrong.
    pub detail: String,
}

// Written by hand rather than derived with thiserror, so that the lean build (no default
// features) compiles neither thiserror's proc-macro nor syn.
impl fmt::Display for ParseArchitectureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ParseArchitectureError { text, at, detail } = self;
        write!(f, "cannot read architecture {text:?}: at {at:?}: {detail}")
    }
}

impl std::error::Error for ParseArchitectureError {}

impl FromStr for Architecture {
    type Err = ParseArchitectureError;

    /// Parses layers separated by spaces (or commas), for a `1x28x28` input; see [`LayerSpec`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error =
            |at: &str, detail: String| ParseArchitectureError { text: text.to_string(), at: at.to_string(), detail };
        let mut layers = Vec::new();
        for token in tokens(text).map_err(|detail| error(text, detail))? {
            layers.push(parse_layer(token).map_err(|detail| error(token, detail))?);
        }
        if layers.is_empty() {
            return Err(error(text, "no layer given".to_string()));
        }
        Ok(Architecture::new(MNIST_INPUT, layers))
    }
}

impl FromStr for LayerSpec {
    type Err = ParseArchitectureError;

    /// Parses one layer, with the activation that may follow a dense or convolutional layer
    /// (`conv(32,3) relu`): the form model files and checkpoints store; several layers are an
    /// error.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let architecture: Architecture = text.parse()?;
        match architecture.layers.as_slice() {
            [layer] => Ok(*layer),
            _ => Err(ParseArchitectureError {
                text: text.to_string(),
                at: text.to_string(),
                detail: format!("it describes {} layers, not one", architecture.layers.len()),
            }),
        }
    }
}

/// Splits at spaces and commas outside parentheses.
fn tokens(text: &str) -> Result<impl Iterator<Item = &str>, String> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0_usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("a `)` without its `(`")?,
            c if depth == 0 && (c.is_whitespace() || c == ',') => {
                pieces.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("a `(` is not closed".to_string());
    }
    pieces.push(&text[start..]);
    Ok(pieces.into_iter().filter(|p| !p.is_empty()))
}

/// One layer: `name` or `name(arguments)`.
fn parse_layer(token: &str) -> Result<LayerSpec, String> {
    let (name, arguments) = match token.split_once('(') {
        Some((name, rest)) => {
            let inside = rest.strip_suffix(')').ok_or("text after the closing `)`")?;
            (name.trim().to_ascii_lowercase(), Some(inside))
        }
        None => (token.to_ascii_lowercase(), None),
    };
    let mut arguments = Arguments::new(arguments.unwrap_or(""));
    let spec = match name.as_str() {
        "dense" | "linear" | "fc" => {
            LayerSpec::Dense { outputs: arguments.positive("outputs")?, activation: Activation::Identity }
        }
        "conv" | "conv2d" => {
            let filters = arguments.positive("filters")?;
            let kernel = arguments.kernel()?;
            let stride = arguments.optional("stride", 1)?;
            let padding = arguments.optional("pad", 0)?;
            if stride == 0 {
                return Err("the stride must be at least 1".to_string());
            }
            LayerSpec::Conv { filters, kernel, stride, padding, activation: Activation::Identity }
        }
        "maxpool" | "pool" | "maxpool2d" | "avgpool" | "avgpool2d" => {
            let window = arguments.positive("window")?;
            let stride = arguments.optional("stride", window)?;
            if stride == 0 {
                return Err("the stride must be at least 1".to_string());
            }
            if name.starts_with("avg") {
                LayerSpec::AvgPool { window, stride }
            } else {
                LayerSpec::MaxPool { window, stride }
            }
        }
        "globalavgpool" => LayerSpec::GlobalAvgPool,
        "batchnorm" | "batchnorm1d" | "batchnorm2d" | "bn" => LayerSpec::BatchNorm,
        "flatten" => LayerSpec::Flatten,
        "dropout" => {
            let rate: f32 = arguments.next("rate")?.parse().map_err(|_| "the rate is not a number".to_string())?;
            if !(0.0..1.0).contains(&rate) {
                return Err(format!("the rate {rate} is not in [0, 1)"));
            }
            LayerSpec::Dropout { rate }
        }
        _ if arguments.is_empty() && !token.contains('(') => {
            let activation = token.parse::<Activation>().map_err(|error| {
                // A leaky ReLU with a bad slope is a known layer: say what is wrong with it.
                if token.get(..11).is_some_and(|p| p.eq_ignore_ascii_case("leaky_relu:")) {
                    return error.to_string();
                }
                "unknown layer: expected dense(N), conv(FILTERS,KERNEL[,stride=S][,pad=P]), maxpool(W[,stride=S]), \
                 avgpool(W[,stride=S]), globalavgpool, batchnorm, flatten, dropout(P) or an activation (relu, sigmoid, tanh, \
                 leaky_relu[:SLOPE], identity)"
                    .to_string()
            })?;
            LayerSpec::Activation(activation)
        }
        _ => return Err(format!("unknown layer {name:?}")),
    };
    arguments.finish()?;
    Ok(spec)
}

/// The arguments inside a layer's parentheses: positional first, then `name=value`.
struct Arguments<'a> {
    positional: std::collections::VecDeque<&'a str>,
    named: Vec<(&'a str, &'a str)>,
}

impl<'a> Arguments<'a> {
    fn new(text: &'a str) -> Self {
        let mut positional = std::collections::VecDeque::new();
        let mut named = Vec::new();
        for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match piece.split_once('=') {
                Some((name, value)) => named.push((name.trim(), value.trim())),
                None => positional.push_back(piece),
            }
        }
        Arguments { positional, named }
    }

    fn is_empty(&self) -> bool {
        self.positional.is_empty() && self.named.is_empty()
    }

    fn next(&mut self, what: &str) -> Result<&'a str, String> {
        self.positional.pop_front().ok_or_else(|| format!("the {what} is missing"))
    }

    fn positive(&mut self, what: &str) -> Result<usize, String> {
        let value = self.next(what)?;
        match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("the {what} must be a whole number of at least 1, not {value:?}")),
        }
    }

    /// `3` or `3x5`.
    fn kernel(&mut self) -> Result<(usize, usize), String> {
        let value = self.next("kernel size")?;
        let side = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
        match value.split_once(['x', 'X']) {
            Some((h, w)) => side(h).zip(side(w)),
            None => side(value).map(|k| (k, k)),
        }
        .ok_or_else(|| format!("the kernel size must be K or KHxKW (at least 1), not {value:?}"))
    }

    /// A named argument (`stride=2`), or the next positional one, or `default`.
    fn optional(&mut self, name: &str, default: usize) -> Result<usize, String> {
        let given = |(n, _): &&(&str, &str)| n.eq_ignore_ascii_case(name);
        if self.named.iter().filter(given).count() > 1 {
            return Err(format!("{name} is given twice"));
        }
        let value = match self.named.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(i) => self.named.remove(i).1,
            None => match self.positional.pop_front() {
                Some(value) => value,
                None => return Ok(default),
            },
        };
        value.parse().map_err(|_| format!("{name} must be a whole number, not {value:?}"))
    }

    fn finish(self) -> Result<(), String> {
        if let Some(extra) = self.positional.front() {
            return Err(format!("unexpected argument {extra:?}"));
        }
        if let Some((name, _)) = self.named.first() {
            return Err(format!("unknown argument {name:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_activations_fold() {
        let arch: Architecture = "conv(16, 3, pad=1) relu conv(8,5x3,stride=2) maxpool(3,stride=2) tanh dropout(0.25) \
                                  flatten dense(50) sigmoid dense(10)"
            .parse()
            .unwrap();
        assert_eq!(arch.layers.len(), 8);
        let text = arch.to_string();
        assert_eq!(
            text,
            "conv(16,3,pad=1) relu conv(8,5x3,stride=2) maxpool(3,stride=2) tanh dropout(0.25) flatten dense(50) sigmoid \
             dense(10)"
        );
        assert_eq!(text.parse::<Architecture>().unwrap(), arch);
    }

    #[test]
    fn average_poolings_round_trip_and_fit_before_a_dense_layer() {
        let arch: Architecture =
            "conv(8,3) relu AvgPool2d(3, stride=2) avgpool(2,2) avgpool(2,stride=1) GlobalAvgPool dense(10)"
                .parse()
                .unwrap();
        assert_eq!(
            arch.layers[1..5],
            [
                LayerSpec::AvgPool { window: 3, stride: 2 },
                LayerSpec::AvgPool { window: 2, stride: 2 },
                LayerSpec::AvgPool { window: 2, stride: 1 },
                LayerSpec::GlobalAvgPool
            ]
        );
        let text = arch.to_string();
        assert_eq!(text, "conv(8,3) relu avgpool(3,stride=2) avgpool(2) avgpool(2,stride=1) globalavgpool dense(10)");
        assert_eq!(text.parse::<Architecture>().unwrap(), arch);
        // 28 -> 26 -> 12 -> 6 -> 5, then one value per channel: dense(10) reads 8 of them, with
        // or without a flatten.
        let net = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap();
        let shapes: Vec<String> = net.layers().iter().map(|l| l.output_shape().to_string()).collect();
        assert_eq!(shapes, ["8x26x26", "8x12x12", "8x6x6", "8x5x5", "8", "10"]);
        assert_eq!(net.parameter_count(), 8 * 9 + 8 + 8 * 10 + 10);
        let flattened: Architecture = "conv(8,3) relu globalavgpool flatten dense(10)".parse().unwrap();
        assert_eq!(flattened.build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap().parameter_count(), 170);
        for spec in &arch.layers[1..5] {
            assert_eq!(spec.parameter_count(), 0);
            assert_eq!(spec.parameter_shapes(Shape::new(8, 26, 26), 1).unwrap(), []);
        }
    }

    #[test]
    fn named_architectures_build_with_the_published_shapes() {
        let count = |name: &str| {
            Architecture::named(name).unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap().parameter_count()
        };
        // PyTorch's counts for the same modules.
        assert_eq!(count("pytorch-example"), 1_199_882);
        assert_eq!(count("saito-simple"), 780 + 432_100 + 1010);
        assert_eq!(count("saito-deep"), 160 + 2320 + 4640 + 9248 + 18_496 + 36_928 + 51_250 + 510);
        assert!(Architecture::named("cnn").is_some() && Architecture::named("nope").is_none());
    }

    #[test]
    fn mistakes_are_named() {
        for (text, at) in [
            ("conv(0,3)", "conv(0,3)"),
            ("dense(10) bogus", "bogus"),
            ("dense(10", "dense(10"),
            ("dropout(1.5)", "dropout(1.5)"),
            ("conv(3)", "conv(3)"),
            ("maxpool(2,size=3)", "maxpool(2,size=3)"),
            ("avgpool(0)", "avgpool(0)"),
            ("avgpool(2,stride=0)", "avgpool(2,stride=0)"),
            ("globalavgpool(2)", "globalavgpool(2)"),
            ("", ""),
        ] {
            let error = text.parse::<Architecture>().unwrap_err();
            assert_eq!(error.at, at, "{error}");
        }
    }

    #[test]
    fn a_bad_slope_and_an_argument_given_twice_are_named_as_such() {
        let detail = |text: &str| text.parse::<Architecture>().unwrap_err().detail;
        assert_eq!(
            detail("dense(10) leaky_relu:NaN"),
            "the slope of \"leaky_relu:NaN\" is not a finite number: give a slope in [0, 1), e.g. leaky_relu:0.1"
        );
        assert_eq!(detail("dense(10) leaky_relu:1.5"), "the slope of \"leaky_relu:1.5\" is not in [0, 1)");
        assert_eq!(detail("conv(4,3,pad=1,pad=2)"), "pad is given twice");
        assert_eq!(detail("maxpool(2,stride=1,STRIDE=2)"), "stride is given twice");
        assert!(detail("dense(10) bogus").starts_with("unknown layer"));
    }

    #[test]
    fn dense_after_an_image_of_channels_needs_flatten() {
        let arch: Architecture = "conv(4,3) dense(10)".parse().unwrap();
        let error = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap_err();
        assert!(error.to_string().contains("flatten"), "{error}");
        // One channel is already channels-first: no flatten needed.
        assert!("dense(10)".parse::<Architecture>().unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 0).is_ok());
    }
}
