//! A table describing a network, layer by layer.

use std::fmt;

use crate::{Loss, Network};

/// One row of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// Kind of layer (`"dense"`).
    pub kind: &'static str,
    /// Values in.
    pub inputs: usize,
    /// Values out.
    pub outputs: usize,
    /// Details, such as the activation.
    pub details: String,
    /// Trainable scalars.
    pub parameters: usize,
}

/// The layers of a network, their sizes and parameter counts; `Display` prints a table.
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// let net = Network::dense(&[784, 128, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 0)?;
/// let table = net.summary().to_string();
/// assert!(table.contains("101770"));
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// One row per layer.
    pub rows: Vec<SummaryRow>,
    /// The output function and loss.
    pub loss: Loss,
    /// Total trainable scalars.
    pub total_parameters: usize,
}

impl Summary {
    pub(crate) fn of(network: &Network) -> Self {
        let rows = network
            .layers()
            .iter()
            .map(|layer| SummaryRow {
                kind: layer.kind(),
                inputs: layer.input_size(),
                outputs: layer.output_size(),
                details: layer.describe(),
                parameters: layer.parameter_count(),
            })
            .collect();
        Summary { rows, loss: network.loss(), total_parameters: network.parameter_count() }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>3}  {:<6} {:>7} {:>7}  {:<16} {:>10}",
            "#", "layer", "inputs", "outputs", "activation", "parameters"
        )?;
        for (index, row) in self.rows.iter().enumerate() {
            writeln!(
                f,
                "{index:>3}  {:<6} {:>7} {:>7}  {:<16} {:>10}",
                row.kind, row.inputs, row.outputs, row.details, row.parameters
            )?;
        }
        writeln!(f, "output: {} ({})", self.loss.output_name(), self.loss)?;
        write!(f, "total parameters: {}", self.total_parameters)
    }
}
