//! Refusing, before anything large is allocated, a training or an evaluation that would not fit
//! the memory this machine has (or `--memory-limit`), with the estimate and what to change.

use anyhow::{Result, bail};
use nn_core::{Architecture, MemoryUse, Network, Shape, human_bytes};
use nn_train::TrainConfig;

/// The memory of the network a run describes: its architecture's text, or dense sizes with
/// `hidden` after each hidden layer, for samples of `input`.
pub fn network_memory(arch: Option<&str>, layers: &[usize], input: Shape) -> Result<MemoryUse> {
    let architecture = match arch {
        Some(text) => Architecture::named_or_parsed(text)?.with_input(input),
        None => {
            Network::check_dense_sizes(layers)?;
            let dense = layers[1..]
                .iter()
                .map(|&outputs| nn_core::LayerSpec::Dense { outputs, activation: nn_core::Activation::Identity })
                .collect();
            Architecture::new(Shape::flat(layers[0]), dense)
        }
    };
    Ok(architecture.memory_use()?)
}

/// The limit: `--memory-limit` when given, else what the machine has available now.
pub fn limit(given: Option<u64>) -> Option<(u64, &'static str)> {
    match given {
        Some(bytes) => Some((bytes, "--memory-limit allows")),
        None => nn_train::memory::available_memory().map(|bytes| (bytes, "this machine has available")),
    }
}

/// Refuses a training of `usage` with `config` on `data_bytes` of data, evaluating sets of at
/// most `eval_samples`, that needs more than the limit.
pub fn check_training(
    usage: &MemoryUse,
    config: &TrainConfig,
    data_bytes: u64,
    eval_samples: usize,
    given: Option<u64>,
) -> Result<()> {
    let needed = nn_train::memory::training_memory(usage, config, data_bytes, eval_samples);
    let Some((limit, source)) = limit(given) else { return Ok(()) };
    if needed.total() > limit {
        bail!(
            "this network needs about {} to train on batches of {} (a batch's activations and deltas {}, an evaluation \
             batch's {}, the parameters with their gradients and the optimizer's state {}), and {source} {}: use a \
             smaller batch (--batch-size), fewer filters or units, or fewer layers",
            human_bytes(needed.total()),
            config.batch_size,
            human_bytes(needed.batch),
            human_bytes(needed.evaluation),
            human_bytes(needed.parameters),
            human_bytes(limit)
        );
    }
    Ok(())
}

/// Refuses an inference of `usage` over batches of `batch` that needs more than the limit.
pub fn check_inference(usage: &MemoryUse, batch: usize, data_bytes: u64, given: Option<u64>) -> Result<()> {
    let workers = rayon::current_num_threads();
    let needed =
        usage.parameter_bytes().saturating_add(usage.inference_bytes(batch, workers)).saturating_add(data_bytes);
    let Some((limit, source)) = limit(given) else { return Ok(()) };
    if needed > limit {
        bail!(
            "this network needs about {} to evaluate batches of {batch}, and {source} {}: use a smaller --batch-size",
            human_bytes(needed),
            human_bytes(limit)
        );
    }
    Ok(())
}

/// `8G`, `512M`, `1.5GB`, `2000000` (bytes): a size as people write it, in powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{text:?} is not a size such as 8G, 512M or 2000000")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a size such as 8G, 512M or 2000000"))?;
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?} is not a size of at least one byte"));
    }
    Ok(bytes as u64)
}

/// The data's bytes as `nn-cli` holds them: one byte a pixel, one a label.
pub fn data_bytes(sets: &[&mnist_data::Dataset]) -> u64 {
    sets.iter().map(|s| (s.pixels().len() + s.labels().len()) as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_size("2000000"), Ok(2_000_000));
        assert_eq!(parse_size("4 GiB"), Ok(4 << 30));
        for bad in ["", "G", "8X", "-1G", "0", "1e400", "nan"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
