//! The error type of the network itself: shapes, targets and training preconditions.

use std::fmt;

/// What can go wrong when building, running or training a network.
///
/// Every variant names the layer, sample or size at fault, so a message alone is enough to find
/// the cause. Model files and NumPy archives have their own error types
/// ([`ModelFileError`](crate::ModelFileError), [`NpzError`](crate::NpzError)) that wrap this one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NnError {
    /// A network needs at least one layer (two sizes: inputs and outputs).
    TooFewSizes(usize),
    /// A layer with no inputs or no outputs.
    EmptyLayer {
        /// Index of the layer, from 0.
        layer: usize,
        /// Its number of inputs.
        inputs: usize,
        /// Its number of outputs.
        outputs: usize,
    },
    /// Two consecutive layers do not fit together.
    LayerMismatch {
        /// Index of the layer whose inputs do not fit, from 1.
        layer: usize,
        /// Its kind.
        kind: &'static str,
        /// The shape of its inputs.
        expected: crate::Shape,
        /// The kind of the layer before it.
        previous: &'static str,
        /// The shape of the outputs of the layer before it.
        found: crate::Shape,
    },
    /// A layer whose sizes or settings cannot work (a kernel larger than its padded input, a
    /// dropout rate of 1, a dense layer right after a multi-channel image, ...).
    InvalidLayer {
        /// Index of the layer, from 0.
        layer: usize,
        /// Its kind.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Not as many parameter matrices as the layers need.
    ParameterCount {
        /// Index of the layer, from 0 (the number of layers when there are too many).
        layer: usize,
        /// Matrices it needs.
        expected: usize,
        /// Matrices given.
        found: usize,
    },
    /// A parameter matrix with the wrong shape.
    ParameterShape {
        /// Index of the layer, from 0.
        layer: usize,
        /// `"weights"` or `"bias"`.
        name: &'static str,
        /// The shape it should have (rows, columns).
        expected: (usize, usize),
        /// The shape it has.
        found: (usize, usize),
    },
    /// A parameter that is NaN or infinite.
    NonFinite {
        /// Index of the layer, from 0.
        layer: usize,
        /// `"weights"` or `"bias"`.
        name: &'static str,
        /// Index in column-major order.
        index: usize,
        /// The value found.
        value: f32,
    },
    /// An input value is NaN or infinite: no prediction of it means anything.
    NonFiniteInput {
        /// Index of the sample, from 0.
        sample: usize,
        /// Index of the value within the sample, from 0.
        index: usize,
        /// The value.
        value: f32,
    },
    /// The network's outputs for a sample are NaN or infinite: its weights overflow in the
    /// forward pass, and no class can be read from them.
    NonFiniteOutput {
        /// Index of the sample, from 0.
        sample: usize,
        /// The first non-finite output value.
        value: f32,
    },
    /// The leaky ReLU slope must be finite and in `[0, 1)`.
    InvalidSlope(f32),
    /// An input batch whose length is not a whole number of samples.
    RaggedInput {
        /// Length of the input slice.
        len: usize,
        /// Inputs of one sample.
        features: usize,
    },
    /// An input whose number of features differs from the network's.
    InputSize {
        /// Inputs the network expects.
        expected: usize,
        /// Inputs given.
        found: usize,
    },
    /// An empty batch, or a batch size of zero.
    EmptyBatch,
    /// A workspace that does not hold this network's last training pass on these inputs.
    WorkspaceMismatch,
    /// Not as many targets as samples.
    TargetCount {
        /// Number of samples.
        expected: usize,
        /// Number of targets.
        found: usize,
    },
    /// A class index that the output layer cannot represent.
    ClassOutOfRange {
        /// Index of the sample in the batch.
        sample: usize,
        /// The class given.
        class: usize,
        /// Number of outputs of the network.
        classes: usize,
    },
    /// One-hot targets whose shape is not (outputs, batch).
    TargetShape {
        /// (outputs, samples).
        expected: (usize, usize),
        /// The shape given.
        found: (usize, usize),
    },
    /// The step function has a zero derivative almost everywhere: it is for inference only.
    StepNotTrainable {
        /// Index of the layer, from 0.
        layer: usize,
    },
    /// A sample of no values: a softmax or a loss over zero outputs.
    EmptySample,
    /// A buffer of the wrong length for the batch it goes with.
    BufferSize {
        /// Which buffer (`"delta"`).
        name: &'static str,
        /// Values the batch needs.
        expected: usize,
        /// Values the buffer holds.
        found: usize,
    },
    /// A sigmoid at the end of the layers and a loss that applies the sigmoid itself: the
    /// outputs would be `σ(σ(z))`, squeezed into (0.5, 0.73).
    OutputFunctionTwice {
        /// Index of the last layer, from 0.
        layer: usize,
        /// The loss.
        loss: crate::Loss,
    },
    /// Gradients that were made for another network.
    GradientMismatch {
        /// Number of parameter tensors of the network.
        expected: usize,
        /// Number of tensors in the gradients.
        found: usize,
    },
    /// A committee of no members, or of more than
    /// [`MAX_COMMITTEE_MEMBERS`](crate::MAX_COMMITTEE_MEMBERS).
    CommitteeSize {
        /// Members given.
        members: usize,
    },
    /// A committee member that reads other samples than the members before it.
    CommitteeInput {
        /// Index of the member, from 0.
        member: usize,
        /// The input shape of the members before it.
        expected: crate::Shape,
        /// Its input shape.
        found: crate::Shape,
    },
    /// A committee member with another number of outputs than the members before it.
    CommitteeOutputs {
        /// Index of the member, from 0.
        member: usize,
        /// Outputs of the members before it.
        expected: usize,
        /// Its outputs.
        found: usize,
    },
    /// A committee member with another output function than the members before it: softmax
    /// probabilities and sigmoid outputs cannot be averaged together.
    CommitteeOutputFunction {
        /// Index of the member, from 0.
        member: usize,
        /// The loss (and output function) of the members before it.
        expected: crate::Loss,
        /// Its loss.
        found: crate::Loss,
    },
    /// A [`Standardization`](crate::Standardization) that cannot standardise: lengths that
    /// differ, or a deviation that is not a positive number.
    InvalidStandardization {
        /// What is wrong.
        detail: String,
    },
    /// A standardisation of another number of features than the network's inputs.
    StandardizationSize {
        /// Inputs of the network.
        expected: usize,
        /// Features of the standardisation.
        found: usize,
    },
}

impl NnError {
    /// The same error naming layer `index`: for a layer built on its own (whose errors name
    /// layer 0) that takes place `index` in a network.
    ///
    /// ```
    /// use nn_core::{Dropout, NnError, Shape};
    /// let error = Dropout::new(Shape::flat(10), 1.5).unwrap_err().at_layer(3);
    /// assert_eq!(error.to_string(), "layer 3 (dropout) is invalid: its rate 1.5 is not in [0, 1)");
    /// ```
    #[must_use]
    pub fn at_layer(mut self, index: usize) -> Self {
        match &mut self {
            NnError::EmptyLayer { layer, .. }
            | NnError::InvalidLayer { layer, .. }
            | NnError::ParameterCount { layer, .. }
            | NnError::ParameterShape { layer, .. }
            | NnError::NonFinite { layer, .. }
            | NnError::StepNotTrainable { layer, .. }
            | NnError::OutputFunctionTwice { layer, .. } => *layer = index,
            _ => {}
        }
        self
    }
}

// Written by hand rather than derived with thiserror, so that the lean build (no default
// features) compiles neither thiserror's proc-macro nor syn.
impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::TooFewSizes(count) => write!(
                f,
                "a network needs at least one layer: give at least two sizes (inputs and outputs), got {count}"
            ),
            NnError::EmptyLayer { layer, inputs, outputs } => {
                write!(f, "layer {layer} has {inputs} inputs and {outputs} outputs: both must be at least 1")
            }
            NnError::LayerMismatch { layer, kind, expected, previous, found } => write!(
                f,
                "layer {layer} ({kind}) takes samples of {expected} but layer {} ({previous}) gives {found}",
                layer - 1
            ),
            NnError::InvalidLayer { layer, kind, detail } => write!(f, "layer {layer} ({kind}) is invalid: {detail}"),
            NnError::ParameterCount { layer, expected, found } => {
                write!(f, "layer {layer} needs {expected} parameter matrices, {found} were given")
            }
            NnError::ParameterShape { layer, name, expected, found } => {
                write!(f, "{name} of layer {layer} has shape {found:?}, expected {expected:?}")
            }
            NnError::NonFinite { layer, name, index, value } => {
                write!(f, "{name} of layer {layer} holds a non-finite value ({value}) at index {index}")
            }
            NnError::NonFiniteInput { sample, index, value } => write!(
                f,
                "input value {index} of sample {sample} is {value}: inputs must be finite numbers (an image's pixels \
                 scaled to [0, 1], say)"
            ),
            NnError::NonFiniteOutput { sample, value } => write!(
                f,
                "the network's output for sample {sample} is {value}: its weights overflow in the forward pass, \
                 so it cannot classify (retrain it, with a smaller learning rate)"
            ),
            NnError::InvalidSlope(slope) => {
                write!(f, "invalid leaky ReLU slope {slope}: it must be finite and in [0, 1)")
            }
            NnError::RaggedInput { len, features } => {
                write!(f, "input of {len} values is not a whole number of samples of {features} values")
            }
            NnError::InputSize { expected, found } => {
                write!(f, "the input has {found} values per sample, the network expects {expected}")
            }
            NnError::EmptyBatch => f.write_str("a batch must hold at least one sample"),
            NnError::WorkspaceMismatch => {
                f.write_str("the workspace does not hold this network's last training pass on these inputs")
            }
            NnError::TargetCount { expected, found } => write!(f, "{found} targets given for {expected} samples"),
            NnError::ClassOutOfRange { sample, class, classes } => {
                write!(f, "sample {sample} has class {class}, but the network has only {classes} outputs")
            }
            NnError::TargetShape { expected, found } => {
                write!(f, "one-hot targets have shape {found:?}, expected {expected:?} (outputs, samples)")
            }
            NnError::StepNotTrainable { layer } => write!(
                f,
                "layer {layer} uses the step activation, which is for inference only: its derivative is zero almost \
                 everywhere, so the network cannot be trained; use sigmoid instead"
            ),
            NnError::EmptySample => {
                f.write_str("a sample must hold at least one value, but the size of a sample was given as 0")
            }
            NnError::BufferSize { name, expected, found } => {
                write!(f, "the {name} buffer holds {found} values, the batch needs {expected}")
            }
            NnError::OutputFunctionTwice { layer, loss } => write!(
                f,
                "layer {layer} ends the network with a sigmoid, and the loss {loss} applies the sigmoid again; \
                 end with an affine layer (identity activation): the loss owns the output function"
            ),
            NnError::GradientMismatch { expected, found } => write!(
                f,
                "the gradients hold {found} tensors shaped for another network; this one has {expected} parameters"
            ),
            NnError::CommitteeSize { members } => {
                write!(f, "a committee needs 1 to {} members, {members} were given", crate::MAX_COMMITTEE_MEMBERS)
            }
            NnError::CommitteeInput { member, expected, found } => write!(
                f,
                "member {member} of the committee takes inputs of {found}, but the members before it take {expected}"
            ),
            NnError::CommitteeOutputs { member, expected, found } => write!(
                f,
                "member {member} of the committee has {found} outputs, but the members before it have {expected}"
            ),
            NnError::CommitteeOutputFunction { member, expected, found } => write!(
                f,
                "member {member} of the committee has {} outputs ({found}), but the members before it have {} \
                 outputs ({expected}): their outputs cannot be averaged together",
                found.output_name(),
                expected.output_name()
            ),
            NnError::InvalidStandardization { detail } => write!(f, "invalid input standardisation: {detail}"),
            NnError::StandardizationSize { expected, found } => write!(
                f,
                "the input standardisation has {found} features, but the network takes {expected} values per sample"
            ),
        }
    }
}

// No variant wraps another error, so the default `source()` (none) is the right one.
impl std::error::Error for NnError {}

/// `Err(NonFinite)` naming the first NaN or infinite value of the named parameters of layer
/// `layer`: every constructor and the model file check their values through this.
pub(crate) fn check_finite<'a>(
    layer: usize,
    parameters: impl IntoIterator<Item = (&'static str, &'a nalgebra::DMatrix<f32>)>,
) -> Result<(), NnError> {
    for (name, matrix) in parameters {
        if let Some((index, &value)) = matrix.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(NnError::NonFinite { layer, name, index, value });
        }
    }
    Ok(())
}
