//! What a network will ask of memory, told from its architecture before anything is allocated:
//! its parameters, the values one sample leaves in every layer, and the scratch space of its
//! widest layer. A front end multiplies these by a batch (and a trainer by its shards and its
//! optimizer's state) and refuses what does not fit, instead of letting the allocator abort.

use crate::{Architecture, Conv2dParams, LayerSpec, NnError};

/// Bytes of one value (`f32`).
const VALUE_BYTES: u64 = 4;

/// A network's memory, per parameter set and per sample. Counts are values (`f32`); the byte
/// methods multiply, saturating rather than overflowing on absurd sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Weights and biases.
    pub parameters: u64,
    /// The input and every layer's output for one sample: what training keeps for the backward
    /// pass (and, as deltas, again during it).
    pub values_per_sample: u64,
    /// The largest single layer's output for one sample: what inference holds twice at most.
    pub widest_per_sample: u64,
    /// The largest scratch of one layer for one sample (a convolution's unfolded patches).
    pub workspace_per_sample: u64,
}

impl MemoryUse {
    /// Bytes of the parameters.
    pub fn parameter_bytes(&self) -> u64 {
        self.parameters.saturating_mul(VALUE_BYTES)
    }

    /// Bytes a training pass over `samples` samples holds besides the parameters: every layer's
    /// outputs and deltas for each sample, and the scratch of `workers` threads (a convolution
    /// unfolds a chunk of images at a time, one image at least).
    pub fn training_bytes(&self, samples: usize, workers: usize) -> u64 {
        let kept = self.values_per_sample.saturating_mul(2).saturating_mul(samples as u64);
        kept.saturating_add(self.scratch(workers)).saturating_mul(VALUE_BYTES)
    }

    /// Bytes an inference over `samples` samples holds besides the parameters: two layers'
    /// outputs at a time for each sample, and the scratch of `workers` threads.
    pub fn inference_bytes(&self, samples: usize, workers: usize) -> u64 {
        let kept = self.widest_per_sample.saturating_mul(2).saturating_mul(samples as u64);
        kept.saturating_add(self.scratch(workers)).saturating_mul(VALUE_BYTES)
    }

    /// Values of scratch for `workers` threads: each a chunk of unfolded patches, one image's at
    /// least (convolutions unfold up to 2^18 values at a time).
    fn scratch(&self, workers: usize) -> u64 {
        if self.workspace_per_sample == 0 {
            return 0;
        }
        self.workspace_per_sample.max(CHUNK_VALUES).saturating_mul(workers.max(1) as u64)
    }
}

/// The most values a convolution unfolds at once, unless one image needs more.
const CHUNK_VALUES: u64 = 1 << 18;

impl Architecture {
    /// The memory of this network, from its layers' shapes alone (nothing is allocated); the
    /// layers are checked as [`Architecture::build`] checks them.
    pub fn memory_use(&self) -> Result<MemoryUse, NnError> {
        let mut shape = self.input;
        let mut usage = MemoryUse {
            parameters: 0,
            values_per_sample: shape.len() as u64,
            widest_per_sample: shape.len() as u64,
            workspace_per_sample: 0,
        };
        for (index, layer) in self.layers.iter().enumerate() {
            let parameters: u64 =
                layer.parameter_shapes(shape, index)?.iter().map(|(_, (rows, cols))| (rows * cols) as u64).sum();
            let output = layer.output_shape(shape, index)?;
            if let LayerSpec::Conv { filters, kernel, stride, padding, .. } = *layer {
                let params = Conv2dParams::new_at(shape, filters, kernel, stride, padding, index)?;
                let patches = (params.patch_len() as u64).saturating_mul(output.height as u64 * output.width as u64);
                usage.workspace_per_sample = usage.workspace_per_sample.max(patches);
            }
            usage.parameters = usage.parameters.saturating_add(parameters);
            usage.values_per_sample = usage.values_per_sample.saturating_add(output.len() as u64);
            usage.widest_per_sample = usage.widest_per_sample.max(output.len() as u64);
            shape = output;
        }
        Ok(usage)
    }
}

/// `11.3 GB`, `740 MB`, `12 KB`: bytes for people, in powers of 1000.
pub fn human_bytes(bytes: u64) -> String {
    let units = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, size) in units {
        if bytes as f64 >= size {
            let value = bytes as f64 / size;
            return if value >= 100.0 { format!("{value:.0} {unit}") } else { format!("{value:.1} {unit}") };
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Init, Loss, Shape};

    #[test]
    fn the_cnn_counts_its_layers_and_patches() {
        let cnn = Architecture::named("cnn").unwrap();
        let usage = cnn.memory_use().unwrap();
        let network = cnn.build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
        assert_eq!(usage.parameters, network.parameter_count() as u64);
        // conv 16 and conv 32 at 28x28, a pool to 14x14, conv 64, a pool to 7x7, flatten, dense.
        let outputs = 784 + 16 * 784 + 32 * 784 + 32 * 196 + 64 * 196 + 64 * 49 + 3136 + 128 + 128 + 10;
        assert_eq!(usage.values_per_sample, outputs as u64);
        assert_eq!(usage.widest_per_sample, 32 * 784);
        // conv 32's patches: 16·9 values at each of 784 pixels.
        assert_eq!(usage.workspace_per_sample, 16 * 9 * 784);
    }

    #[test]
    fn average_poolings_count_their_outputs_and_no_parameters() {
        let arch: Architecture = "conv(8,3) relu avgpool(3,stride=2) globalavgpool dense(10)".parse().unwrap();
        let usage = arch.memory_use().unwrap();
        assert_eq!(
            usage.parameters,
            arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap().parameter_count() as u64
        );
        // conv 8 at 26x26, a pool to 12x12 ((26 - 3) / 2 + 1), one mean per channel, dense.
        assert_eq!(usage.values_per_sample, (784 + 8 * 676 + 8 * 144 + 8 + 10) as u64);
        assert_eq!(usage.workspace_per_sample, 9 * 676);
    }

    #[test]
    fn a_wide_convolution_is_seen_before_it_is_built() {
        let huge: Architecture = "conv(80000,3,pad=1) relu maxpool(28) flatten dense(10)".parse().unwrap();
        let usage = huge.memory_use().unwrap();
        // 80,000 feature maps of 28x28: 250 MB for one sample's output alone.
        assert!(usage.training_bytes(128, 2) > 11_000_000_000, "{}", human_bytes(usage.training_bytes(128, 2)));
        let absurd = Architecture::new(
            Shape::flat(784),
            vec![LayerSpec::Dense { outputs: usize::MAX, activation: crate::Activation::Relu }],
        );
        assert!(absurd.memory_use().is_err());
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(11_300_000_000), "11.3 GB");
        assert_eq!(human_bytes(740_000_000), "740 MB");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(
            MemoryUse {
                parameters: u64::MAX,
                values_per_sample: u64::MAX,
                widest_per_sample: 1,
                workspace_per_sample: 1
            }
            .training_bytes(2, 1),
            u64::MAX
        );
    }
}
