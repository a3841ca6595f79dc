//! `cargo xtask augment-cost`: what data augmentation adds to an epoch, as a ratio.
//!
//! Each round trains one epoch on one thread without augmentation, then one with each of the
//! augmentations, right after one another; the cost of an augmentation is the median over the
//! rounds of its epoch against that round's plain one. This machine's speed moves between
//! levels that last a few seconds to minutes, so runs far apart compare badly and neighbours
//! well. Times are the CPU seconds of `nn-cli train` (user and system), read from
//! `/proc/self/stat` after each run.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

pub struct Options {
    /// A recipe of `nn-cli train`, or `None` for its default network.
    pub recipe: Option<String>,
    pub augmentations: Vec<String>,
    pub rounds: usize,
    /// Steps of the epoch to train (the convolutional recipes take minutes per epoch).
    pub max_steps: Option<u64>,
    pub data: PathBuf,
}

pub fn run(options: &Options) -> Result<()> {
    let nn_cli = crate::release_nn_cli()?;
    let ticks_per_second = clock_ticks_per_second();
    let model = std::env::temp_dir().join(format!("xtask-augment-cost-{}.json", std::process::id()));
    let mut settings = vec!["none".to_string()];
    settings.extend(options.augmentations.iter().cloned());
    // seconds[setting][round]
    let mut seconds = vec![Vec::new(); settings.len()];
    for round in 1..=options.rounds {
        for (setting, augmentation) in settings.iter().enumerate() {
            let mut command = Command::new(&nn_cli);
            command.args(["train", "--epochs", "1", "--threads", "1", "--no-test-each-epoch", "--quiet"]);
            command.arg("--augment").arg(augmentation).arg("--data").arg(&options.data).arg("-o").arg(&model);
            if let Some(recipe) = &options.recipe {
                command.args(["--recipe", recipe]);
            }
            if let Some(steps) = options.max_steps {
                command.args(["--max-steps", &steps.to_string()]);
            }
            let before = children_cpu_ticks()?;
            let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().context("cannot run nn-cli")?;
            if !output.status.success() {
                bail!("nn-cli train --augment {augmentation} failed: {}", String::from_utf8_lossy(&output.stderr));
            }
            let cpu = (children_cpu_ticks()? - before) as f64 / ticks_per_second;
            eprintln!("round {round}: {augmentation}: {cpu:.2} CPU s");
            seconds[setting].push(cpu);
        }
    }
    for suffix in ["", ".metrics.jsonl", ".checkpoint"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", model.display()));
    }
    print!("{}", table(&settings, &seconds));
    Ok(())
}

/// The markdown table of the results: each setting's times, then its median cost against the
/// plain epoch of the same round and its fastest time against the plain fastest.
fn table(settings: &[String], seconds: &[Vec<f64>]) -> String {
    let mut text = String::from(
        "| augmentation | CPU seconds, round by round | cost: median of the rounds | cost: fastest against fastest |\n",
    );
    text.push_str("| --- | --- | --- | --- |\n");
    let fastest = |times: &[f64]| times.iter().copied().fold(f64::INFINITY, f64::min);
    for (index, (setting, times)) in settings.iter().zip(seconds).enumerate() {
        let list = times.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ");
        if index == 0 {
            text.push_str(&format!("| {setting} | {list} | | |\n"));
            continue;
        }
        let mut ratios: Vec<f64> = times.iter().zip(&seconds[0]).map(|(a, plain)| a / plain).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2] * 0.5 + ratios[(ratios.len() - 1) / 2] * 0.5;
        let best = fastest(times) / fastest(&seconds[0]);
        let percent = |ratio: f64| format!("{:+.0}%", (ratio - 1.0) * 100.0);
        text.push_str(&format!("| {setting} | {list} | {} | {} |\n", percent(median), percent(best)));
    }
    text
}

/// The user and system time of every waited-for child so far, in clock ticks (fields 16 and 17
/// of `/proc/self/stat`).
fn children_cpu_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("the CPU times need Linux's /proc")?;
    // The name, field 2, is in parentheses and may hold spaces: count from after it.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("unexpected /proc/self/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields.get(n - 3).and_then(|f| f.parse().ok()).with_context(|| format!("no field {n} in /proc/self/stat"))
    };
    Ok(field(16)? + field(17)?)
}

fn clock_ticks_per_second() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output();
    output.ok().and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_is_the_median_of_the_rounds_ratios() {
        let settings = ["none".to_string(), "elastic".to_string()];
        let seconds = [vec![2.0, 3.0, 2.0], vec![2.2, 3.6, 2.4]];
        let text = table(&settings, &seconds);
        // Ratios 1.1, 1.2, 1.2: median +20%; fastest 2.2 against 2.0: +10%.
        assert!(text.contains("| elastic | 2.20, 3.60, 2.40 | +20% | +10% |"), "{text}");
        assert!(text.contains("| none | 2.00, 3.00, 2.00 | | |"), "{text}");
    }

    #[test]
    fn the_children_times_can_be_read() {
        assert!(children_cpu_ticks().is_ok());
    }
}
