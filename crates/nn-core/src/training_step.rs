//! What a training step changes in a network once [`loss_and_gradients`](Network::loss_and_gradients)
//! has run (`training_pass.rs`): plain gradient descent, and the running statistics of batch
//! normalisation.

use crate::{Gradients, Network, NnError, Workspace};

impl Network {
    /// Plain gradient descent, `p ← p − η ∂C/∂p`: enough for examples; real optimisers live in
    /// the trainer and use [`parameters_mut`](Network::parameters_mut) the same way.
    pub fn sgd_step(&mut self, gradients: &Gradients, learning_rate: f32) -> Result<(), NnError> {
        gradients.fits(self)?;
        for (parameter, gradient) in self.parameters_mut().into_iter().zip(gradients.tensors()) {
            parameter.iter_mut().zip(gradient.iter()).for_each(|(p, g)| *p -= learning_rate * g);
        }
        Ok(())
    }

    /// Whether a layer normalises by its batch in training ([`BatchNorm`](crate::BatchNorm)):
    /// then a sample's training outputs depend on the batch around it, and a trainer computes
    /// each batch whole instead of in independent shards.
    pub fn normalises_batches(&self) -> bool {
        self.layers.iter().any(|layer| layer.running_statistics().is_some())
    }

    /// After a training step on `inputs`, moves the running statistics of every batch
    /// normalisation towards those of its input in that step, which `workspace` holds from the
    /// [`loss_and_gradients`](Network::loss_and_gradients) that computed it. Call it once per
    /// step, with the whole batch; nothing happens for a network without batch normalisation.
    pub fn update_running_statistics(&mut self, inputs: &[f32], workspace: &Workspace) -> Result<(), NnError> {
        if !self.normalises_batches() {
            return Ok(());
        }
        let batch = self.batch_len(inputs)?;
        if workspace.output_lens.len() != self.layers.len()
            || workspace.output_lens[0] != self.layers[0].output_size() * batch
        {
            return Err(NnError::WorkspaceMismatch);
        }
        let first = match &self.standardization {
            Some(_) => &workspace.standardized[..inputs.len()],
            None => inputs,
        };
        for (index, layer) in self.layers.iter_mut().enumerate() {
            if layer.running_statistics().is_some() {
                let input =
                    if index == 0 { first } else { &workspace.outputs[index - 1][..workspace.output_lens[index - 1]] };
                layer.update_running_statistics(input, batch);
            }
        }
        Ok(())
    }

    /// Replaces the running statistics of layer `index` (a batch normalisation), checked.
    pub fn set_running_statistics(
        &mut self,
        index: usize,
        statistics: crate::RunningStatistics,
    ) -> Result<(), NnError> {
        let layer = self.layers.get_mut(index).ok_or(NnError::InvalidLayer {
            layer: index,
            kind: "batchnorm",
            detail: "the network has no such layer".to_string(),
        })?;
        let kind = layer.kind();
        layer.set_running_statistics(statistics).map_err(|detail| NnError::InvalidLayer { layer: index, kind, detail })
    }
}
