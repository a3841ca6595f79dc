//! `cargo xtask reproduce`: trains every recipe on the full data set and prints the published
//! number beside ours, with the time per epoch, then fails if a recipe's final test accuracy is
//! below its bar (the `bar` of `nn-cli recipes --json`, for the recipes that have one).
//! `--seeds N` trains each recipe with seeds 1 to N and shows the mean and the range, for the
//! recipes whose single runs are noisy (Nielsen's N(0, 1) start); the bar holds the mean.
//!
//! It runs the release build of `nn-cli train --recipe NAME` and reads the metrics log each run
//! writes, so the table shows exactly what a user gets from the command line.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::project_root;

pub fn run(recipes: &[String], data: &Path, seeds: usize) -> Result<()> {
    let root = project_root();
    let nn_cli = crate::release_nn_cli()?;
    // Committees are asked for by name (`committee`, `committee-augmented`): five trainings each.
    let (committees, recipes): (Vec<&String>, Vec<String>) = {
        let (c, r): (Vec<&String>, Vec<&String>) = recipes.iter().partition(|n| crate::committee::find(n).is_some());
        (c, r.into_iter().cloned().collect())
    };
    if !committees.is_empty() {
        if seeds > 1 {
            bail!("a committee trains its members with seeds 1 to 5 already: leave out --seeds");
        }
        for name in committees {
            crate::committee::run(crate::committee::find(name).expect("partitioned"), &nn_cli, data)?;
        }
        if recipes.is_empty() {
            return Ok(());
        }
    }
    let recipes = recipes.as_slice();
    let listing = Command::new(&nn_cli).args(["recipes", "--json"]).output().context("cannot run nn-cli recipes")?;
    let all: Vec<Value> =
        String::from_utf8_lossy(&listing.stdout).lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let chosen: Vec<&Value> = if recipes.is_empty() {
        all.iter().collect()
    } else {
        recipes
            .iter()
            .map(|name| all.iter().find(|r| r["name"] == name.as_str()).with_context(|| format!("no recipe {name}")))
            .collect::<Result<_>>()?
    };
    let out_dir = root.join("target/reproduce");
    std::fs::create_dir_all(&out_dir)?;

    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    let chosen_count = chosen.len();
    for recipe in chosen {
        let name = recipe["name"].as_str().unwrap_or_default();
        eprintln!("== {name}: {}", recipe["about"].as_str().unwrap_or_default());
        let runs = (1..=seeds as u64)
            .map(|seed| train_once(&nn_cli, name, seed, seeds, data, &out_dir))
            .collect::<Result<Vec<_>>>()?;
        let finals: Vec<f64> = runs.iter().map(|r| r.last).collect();
        let bests: Vec<f64> = runs.iter().map(|r| r.best).collect();
        let seconds: f64 = runs.iter().map(|r| r.seconds).sum::<f64>() / runs.len() as f64;
        let epochs: f64 = runs.iter().map(|r| r.epochs as f64).sum::<f64>() / runs.len() as f64;
        let published = match &recipe["published"] {
            Value::Null => "—".to_string(),
            p => format!(
                "{:.2}% ({})",
                100.0 * p["accuracy"].as_f64().unwrap_or(0.0),
                p["source"].as_str().unwrap_or("")
            ),
        };
        let bar = recipe["bar"].as_f64();
        let final_mean = mean(&finals);
        let bar_text = match bar {
            Some(bar) if below(final_mean, bar) => {
                failures.push(format!("{name}: {:.2}% < {:.2}%", 100.0 * final_mean, 100.0 * bar));
                format!("{:.2}% (below)", 100.0 * bar)
            }
            Some(bar) => format!("{:.2}%", 100.0 * bar),
            None => "—".to_string(),
        };
        rows.push(format!(
            "| {name} | {published} | {bar_text} | {} | {} | {seeds} | {:.2} | {:.1} |",
            spread(&finals),
            spread(&bests),
            seconds / epochs.max(1.0),
            seconds
        ));
    }
    println!(
        "| recipe | published test accuracy | bar | ours, final | ours, best epoch | seeds | seconds per epoch | \
         seconds per run |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} recipes ended below their bar (mean final test accuracy < bar): {}",
            failures.len(),
            chosen_count,
            failures.join("; ")
        );
    }
    Ok(())
}

/// What one training run of a recipe reached.
struct RunResult {
    /// The test accuracy at the end of the run.
    last: f64,
    /// The best test accuracy of any epoch (the figure Nielsen publishes), or the last.
    best: f64,
    /// Training seconds, evaluations included.
    seconds: f64,
    /// Epochs logged.
    epochs: usize,
}

/// Trains `name` once with `seed` through the release `nn-cli`, and reads its metrics log.
fn train_once(nn_cli: &Path, name: &str, seed: u64, seeds: usize, data: &Path, out_dir: &Path) -> Result<RunResult> {
    let stem = if seeds > 1 { format!("{name}-seed{seed}") } else { name.to_string() };
    if seeds > 1 {
        eprintln!("   seed {seed} of {seeds}");
    }
    let model = out_dir.join(format!("{stem}.json"));
    let output = Command::new(nn_cli)
        .args(["train", "--recipe", name, "--quiet", "--seed", &seed.to_string(), "--data"])
        .arg(data)
        .arg("-o")
        .arg(&model)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run nn-cli train --recipe {name}"))?;
    if !output.status.success() {
        bail!("nn-cli train --recipe {name} --seed {seed} failed");
    }
    // The final accuracy is the command's last line: a run that stops after a number of
    // steps ends mid-epoch, after the last metrics record.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last: f64 = stdout
        .lines()
        .last()
        .and_then(|line| line.strip_prefix("test accuracy: "))
        .and_then(|value| value.trim().parse().ok())
        .with_context(|| format!("nn-cli train --recipe {name} did not end with `test accuracy: ...`"))?;
    let metrics = std::fs::read_to_string(out_dir.join(format!("{stem}.metrics.jsonl")))?;
    let epochs: Vec<Value> = metrics.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let test = |e: &Value| e["test"]["accuracy"].as_f64().unwrap_or(0.0);
    let best = epochs.iter().map(test).fold(last, f64::max);
    // A partial record (--eval-every, or a run stopped mid-epoch) counts its epoch's seconds so
    // far: each epoch's time is that of its last record.
    let last_of_epoch: Vec<&Value> = epochs
        .iter()
        .enumerate()
        .filter(|(i, e)| epochs.get(i + 1).is_none_or(|next| next["epoch"] != e["epoch"]))
        .map(|(_, e)| e)
        .collect();
    let seconds: f64 = last_of_epoch.iter().map(|e| e["seconds"].as_f64().unwrap_or(0.0)).sum();
    eprintln!("   seed {seed}: final {:.2}%, best epoch {:.2}%", 100.0 * last, 100.0 * best);
    Ok(RunResult { last, best, seconds, epochs: last_of_epoch.len() })
}

/// The arithmetic mean `Σx / n`.
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// "96.12%" for one run, "96.12% (95.80–96.40%)" for several: the mean and the range.
fn spread(values: &[f64]) -> String {
    let (low, high) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    match values.len() {
        1 => format!("{:.2}%", 100.0 * values[0]),
        _ => format!("{:.2}% ({:.2}–{:.2}%)", 100.0 * mean(values), 100.0 * low, 100.0 * high),
    }
}

/// Whether a final test accuracy is below a bar. The bar is an `f32` printed as JSON and the
/// accuracy a count of images over the test set: a millionth absorbs their rounding, far below
/// one test image (a ten-thousandth of MNIST's test set).
fn below(accuracy: f64, bar: f64) -> bool {
    accuracy < bar - 1e-6
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bar_is_missed_by_one_image_but_not_by_rounding() {
        // 0.993 as an f32 written to JSON and read back as an f64.
        let bar = f64::from(0.993_f32);
        assert!(!super::below(0.9930, bar));
        assert!(!super::below(0.9930, 0.993_000_01));
        assert!(super::below(0.9929, bar));
        assert!(!super::below(0.9950, bar));
    }

    #[test]
    fn several_seeds_show_the_mean_and_the_range() {
        assert_eq!(super::spread(&[0.9612]), "96.12%");
        assert_eq!(super::spread(&[0.95, 0.96, 0.97]), "96.00% (95.00–97.00%)");
    }
}
