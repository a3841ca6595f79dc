//! What one trial asks of a node: memory and time, estimated from its recipe for the job
//! array's `--mem` and `--time` when the spec gives none. Generous by design: a task that
//! outgrows its memory is killed, one that outlives its time stops and must be run again.

use nn_core::{Architecture, LayerSpec, Shape};

use crate::recipe::Recipe;

/// Multiply-adds a core is assumed to do per second in training: a fifth of what the `cnn`
/// recipe's convolutions reach on the slower of the project's two hosts, so small dense layers
/// (which run far below the peak) are covered too.
const ASSUMED_MACS_PER_CORE: f64 = 4e9;

/// Fixed costs per image and epoch besides the products (gathering, conversion, the optimizer's
/// share), in seconds.
const OVERHEAD_PER_SAMPLE: f64 = 20e-6;

/// One trial's needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Multiply-adds of one sample's forward pass.
    pub macs_per_sample: u64,
    /// Parameters of the network.
    pub parameters: usize,
    /// Bytes the process is expected to need at most.
    pub memory_bytes: u64,
    /// Seconds the training is expected to take at most on `cpus` cores.
    pub seconds: u64,
}

/// Estimates a trial of `recipe` on `train_samples` images of `input` (plus `eval_samples`
/// evaluated after each epoch), trained by `cpus` threads.
pub fn estimate(
    recipe: &Recipe,
    input: Shape,
    classes: usize,
    train_samples: usize,
    eval_samples: usize,
    cpus: usize,
) -> Estimate {
    // In f64: a recipe's sizes are not bounded here (a hidden layer of 2^63 neurons is refused
    // later, by the training), and an estimate must not overflow on them.
    let (macs, parameters, activations) = match recipe.arch.as_deref().map(Architecture::named_or_parsed) {
        Some(Ok(architecture)) => walk(&architecture.with_input(input).layers, input),
        _ => {
            let sizes: Vec<f64> = [vec![input.len()], recipe.hidden.clone(), vec![classes]]
                .concat()
                .into_iter()
                .map(|s| s as f64)
                .collect();
            let macs = sizes.windows(2).map(|w| w[0] * w[1]).sum();
            let parameters = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
            (macs, parameters, sizes.iter().sum())
        }
    };
    let cpus = cpus.max(1) as f64;
    // Weights, gradients of every thread's shard, two optimizer moments, the best weights kept
    // by early stopping, the checkpoint's text (about 20 bytes a parameter as JSON).
    let parameter_bytes = parameters * (4.0 * (4.0 + cpus) + 24.0);
    // Each value of a batch is kept for the backward pass, with its gradient and a workspace.
    let activation_bytes = recipe.batch_size as f64 * activations * 4.0 * 3.0 * 2.0;
    // The data as bytes, the binary, its threads' stacks and the allocator's slack.
    let fixed_bytes = (train_samples + eval_samples) as f64 * input.len() as f64 + (150 << 20) as f64;
    let memory_bytes = (parameter_bytes + activation_bytes + fixed_bytes) * 1.5;
    let epochs = recipe.max_steps.map_or(recipe.epochs as f64, |steps| {
        (steps as f64 * recipe.batch_size as f64 / train_samples.max(1) as f64).min(recipe.epochs as f64)
    });
    // Training: forward and two backward products per sample; evaluation: one forward.
    let work = epochs * (3.0 * train_samples as f64 + eval_samples as f64) * macs;
    let seconds = work / (ASSUMED_MACS_PER_CORE * cpus) + epochs * train_samples as f64 * OVERHEAD_PER_SAMPLE;
    // `as` saturates: an absurd recipe gets an absurd, not a wrapped, estimate.
    Estimate {
        macs_per_sample: macs as u64,
        parameters: parameters as usize,
        memory_bytes: memory_bytes.ceil() as u64,
        seconds: (2.0 * seconds + 60.0).ceil() as u64,
    }
}

/// (multiply-adds, parameters, values of all layer outputs) of one sample through `layers`.
fn walk(layers: &[LayerSpec], input: Shape) -> (f64, f64, f64) {
    let (mut macs, mut parameters, mut values) = (0.0, 0.0, input.len() as f64);
    let mut shape = input;
    for (index, layer) in layers.iter().enumerate() {
        let Ok(output) = layer.output_shape(shape, index) else { break };
        macs += match *layer {
            LayerSpec::Dense { outputs, .. } => shape.len() as f64 * outputs as f64,
            LayerSpec::Conv { filters, kernel: (kh, kw), .. } => {
                output.height as f64 * output.width as f64 * (filters * kh * kw * shape.channels) as f64
            }
            _ => 0.0,
        };
        parameters += layer
            .parameter_shapes(shape, index)
            .map_or(0.0, |shapes| shapes.iter().map(|(_, (rows, cols))| *rows as f64 * *cols as f64).sum());
        values += output.len() as f64;
        shape = output;
    }
    (macs, parameters, values)
}

/// Bytes as Slurm's `--mem` takes them: whole megabytes, rounded up to 256 MB.
pub fn slurm_memory(bytes: u64) -> String {
    let mb = bytes.div_ceil(1 << 20).div_ceil(256).saturating_mul(256);
    if mb.is_multiple_of(1024) { format!("{}G", mb / 1024) } else { format!("{mb}M") }
}

/// Seconds as Slurm's `--time` takes them, rounded up to 10 minutes: `D-HH:MM:00` or `H:MM:00`.
pub fn slurm_time(seconds: u64) -> String {
    let minutes = seconds.div_ceil(600).saturating_mul(10);
    let (days, hours, minutes) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    if days > 0 { format!("{days}-{hours:02}:{minutes:02}:00") } else { format!("{hours}:{minutes:02}:00") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::{self, Recipe};

    #[test]
    fn the_cnn_counts_its_convolutions() {
        let cnn = recipe::named("cnn").unwrap();
        let e = estimate(&cnn, Shape::new(1, 28, 28), 10, 60_000, 10_000, 2);
        // conv 16: 28·28·16·9, conv 32: 28·28·32·16·9, conv 64: 14·14·64·32·9, dense 3136·128, 128·10.
        let expected = 28 * 28 * 16 * 9 + 28 * 28 * 32 * 16 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 1280;
        assert_eq!(e.macs_per_sample, expected);
        let network = cnn.new_network(Shape::new(1, 28, 28), 10, 1).unwrap();
        assert_eq!(e.parameters, network.parameter_count());
        assert!(e.memory_bytes > 200 << 20 && e.memory_bytes < 4 << 30, "{}", e.memory_bytes);
        // 12 epochs took 219-363 s on two cores of the project's hosts: the estimate covers that.
        assert!(e.seconds > 400 && e.seconds < 6 * 3600, "{}", e.seconds);
    }

    #[test]
    fn dense_recipes_count_their_layers() {
        let nielsen = recipe::named("nielsen").unwrap();
        let e = estimate(&nielsen, Shape::new(1, 28, 28), 10, 50_000, 20_000, 1);
        assert_eq!((e.macs_per_sample, e.parameters), (784 * 30 + 300, 784 * 30 + 30 + 310));
    }

    #[test]
    fn absurd_sizes_saturate_instead_of_overflowing() {
        let huge = Recipe { hidden: vec![usize::MAX, usize::MAX], ..recipe::named("nielsen").unwrap() };
        let e = estimate(&huge, Shape::new(1, 28, 28), 10, 60_000, 10_000, 2);
        assert_eq!((e.memory_bytes, e.seconds), (u64::MAX, u64::MAX));
        assert_eq!(slurm_memory(e.memory_bytes), "17179869184G");
        assert!(slurm_time(e.seconds).contains('-'));
    }

    #[test]
    fn slurm_units() {
        assert_eq!(slurm_memory(1), "256M");
        assert_eq!(slurm_memory(900 << 20), "1G");
        assert_eq!(slurm_memory(1300 << 20), "1536M");
        assert_eq!(slurm_time(1), "0:10:00");
        assert_eq!(slurm_time(3 * 3600 + 1), "3:10:00");
        assert_eq!(slurm_time(50 * 3600), "2-02:00:00");
    }
}
