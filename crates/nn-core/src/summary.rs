//! A table describing a network, layer by layer.

use std::fmt;

use crate::{Loss, Network, Shape};

/// One row of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// Kind of layer (`"dense"`).
    pub kind: &'static str,
    /// Values in.
    pub inputs: usize,
    /// Values out.
    pub outputs: usize,
    /// The shape of one output sample.
    pub output_shape: Shape,
    /// Details: sizes and the activation (`16@3x3 pad 1, relu`).
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
    /// The shape of one input sample.
    pub input: Shape,
    /// Whether the network standardises its inputs (see
    /// [`Network::set_standardization`]).
    pub standardized: bool,
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
                output_shape: layer.output_shape(),
                details: layer.describe(),
                parameters: layer.parameter_count(),
            })
            .collect();
        Summary {
            input: network.input_shape(),
            standardized: network.standardization().is_some(),
            rows,
            loss: network.loss(),
            total_parameters: network.parameter_count(),
        }
    }
}

impl fmt::Display for Summary {
    /// `conv 16@3x3 pad 1, relu -> 16x28x28`, one layer per line, with its parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = if self.standardized { "input, standardised" } else { "input" };
        let width =
            self.rows.iter().map(|r| r.kind.len() + 1 + r.details.len()).max().unwrap_or(0).max(12).max(input.len());
        writeln!(f, "{:>3}  {:<width$}    {:<10} {:>10}", "#", "layer", "output", "parameters")?;
        writeln!(f, "{:>3}  {:<width$}    {}", "", input, self.input)?;
        for (index, row) in self.rows.iter().enumerate() {
            let layer =
                if row.details.is_empty() { row.kind.to_string() } else { format!("{} {}", row.kind, row.details) };
            writeln!(f, "{index:>3}  {layer:<width$} -> {:<10} {:>10}", row.output_shape.to_string(), row.parameters)?;
        }
        writeln!(f, "output: {} ({})", self.loss.output_name(), self.loss)?;
        write!(f, "total parameters: {}", self.total_parameters)
    }
}
