//! How much memory a training will take, told before it starts: the network's parameters with
//! their gradients (one set per shard of a batch) and the optimizer's state, a whole batch's
//! activations and deltas, an evaluation batch, and the data. A front end compares it with what
//! the machine has and refuses a run that could only end in the allocator's abort.

use nn_core::MemoryUse;

use crate::{OptimizerConfig, TrainConfig, batch_shards};

/// The process itself: code, thread stacks, the allocator's slack.
const BASE_BYTES: u64 = 64 << 20;

/// What a training will hold at most, in bytes, by what holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingMemory {
    /// The weights, each shard's gradients and their sum, the optimizer's state, the best
    /// weights kept by early stopping, the model file's text when it is saved.
    pub parameters: u64,
    /// A batch's activations and deltas, with the threads' scratch.
    pub batch: u64,
    /// An evaluation batch's activations.
    pub evaluation: u64,
    /// The data, and the process itself (code, thread stacks, the allocator's slack).
    pub data_and_process: u64,
}

impl TrainingMemory {
    /// Everything.
    pub fn total(&self) -> u64 {
        self.parameters.saturating_add(self.batch).saturating_add(self.evaluation).saturating_add(self.data_and_process)
    }
}

/// What a training of a network of `usage` with `config` holds at most, besides `data_bytes` of
/// data; `eval_samples` is the largest set evaluated (an evaluation batch holds no more).
pub fn training_memory(
    usage: &MemoryUse,
    config: &TrainConfig,
    data_bytes: u64,
    eval_samples: usize,
) -> TrainingMemory {
    let moments = match config.optimizer {
        OptimizerConfig::Sgd => 0,
        OptimizerConfig::Momentum { .. } | OptimizerConfig::RmsProp { .. } => 1,
        OptimizerConfig::Adam { .. } | OptimizerConfig::Adadelta { .. } => 2,
    };
    let best_weights = u64::from(config.early_stopping_patience.is_some());
    let shards = batch_shards(config.batch_size);
    let parameter_sets = 1 + shards as u64 + 1 + moments + best_weights;
    // The model file's text is about 16 bytes a parameter.
    let parameters =
        usage.parameter_bytes().saturating_mul(parameter_sets).saturating_add(usage.parameters.saturating_mul(16));
    TrainingMemory {
        parameters,
        batch: usage.training_bytes(config.batch_size, shards),
        evaluation: usage.inference_bytes(config.eval_batch_size.min(eval_samples.max(1)), shards),
        data_and_process: data_bytes.saturating_add(BASE_BYTES),
    }
}

/// The memory this machine has available now (Linux's `MemAvailable`), if it can be read.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_available(&text)
}

fn parse_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kilobytes.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::Architecture;

    fn config(batch_size: usize) -> TrainConfig {
        TrainConfig { batch_size, optimizer: OptimizerConfig::adam(), ..TrainConfig::default() }
    }

    #[test]
    fn the_cnn_fits_and_the_examples_of_the_issue_do_not() {
        let data = 70_000 * 784;
        let cnn = Architecture::named("cnn").unwrap().memory_use().unwrap();
        // Measured: the `cnn` recipe's training process peaked at 193 MB (docs/benchmarks.md).
        let estimate = training_memory(&cnn, &config(128), data, 10_000).total();
        assert!(estimate > 193_000_000 && estimate < 1_000_000_000, "{}", nn_core::human_bytes(estimate));
        let wide: Architecture = "conv(80000,3,pad=1) relu maxpool(28) flatten dense(10)".parse().unwrap();
        let wide = training_memory(&wide.memory_use().unwrap(), &config(128), data, 10_000);
        assert!(wide.batch > 11_000_000_000, "{wide:?}");
        assert!(training_memory(&cnn, &config(60_000), data, 10_000).total() > 24 << 30, "a batch of 60,000 images");
        let relus = Architecture::new(
            nn_core::MNIST_INPUT,
            vec![nn_core::LayerSpec::Activation(nn_core::Activation::Relu); 200_000],
        );
        let relus = training_memory(&relus.memory_use().unwrap(), &config(128), data, 10_000);
        assert!(relus.total() > 24 << 30, "200,000 relu layers: {relus:?}");
    }

    #[test]
    fn meminfo_is_read() {
        let text = "MemTotal:       24608348 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_available(text), Some(20_000_000 * 1024));
        assert_eq!(parse_available("MemTotal: 1 kB\n"), None);
    }
}
