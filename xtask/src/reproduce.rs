//! `cargo xtask reproduce`: trains every recipe on the full data set and prints the published
//! number beside ours, with the time per epoch, then fails if a recipe's final test accuracy is
//! below its bar (the `bar` of `nn-cli recipes --json`, for the recipes that have one).
//!
//! It runs the release build of `nn-cli train --recipe NAME` and reads the metrics log each run
//! writes, so the table shows exactly what a user gets from the command line.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::project_root;

pub fn run(recipes: &[String], data: &Path) -> Result<()> {
    let root = project_root();
    let nn_cli = crate::release_nn_cli()?;
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
        let model = out_dir.join(format!("{name}.json"));
        let output = Command::new(&nn_cli)
            .args(["train", "--recipe", name, "--quiet", "--data"])
            .arg(data)
            .arg("-o")
            .arg(&model)
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run nn-cli train --recipe {name}"))?;
        if !output.status.success() {
            bail!("nn-cli train --recipe {name} failed");
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
        let metrics = std::fs::read_to_string(out_dir.join(format!("{name}.metrics.jsonl")))?;
        let epochs: Vec<Value> = metrics.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
        let test = |e: &Value| e["test"]["accuracy"].as_f64().unwrap_or(0.0);
        let best = epochs.iter().map(test).fold(last, f64::max);
        let seconds: f64 = epochs.iter().map(|e| e["seconds"].as_f64().unwrap_or(0.0)).sum();
        let published = match &recipe["published"] {
            Value::Null => "—".to_string(),
            p => format!(
                "{:.2}% ({})",
                100.0 * p["accuracy"].as_f64().unwrap_or(0.0),
                p["source"].as_str().unwrap_or("")
            ),
        };
        let bar = recipe["bar"].as_f64();
        let bar_text = match bar {
            Some(bar) if below(last, bar) => {
                failures.push(format!("{name}: {:.2}% < {:.2}%", 100.0 * last, 100.0 * bar));
                format!("{:.2}% (below)", 100.0 * bar)
            }
            Some(bar) => format!("{:.2}%", 100.0 * bar),
            None => "—".to_string(),
        };
        rows.push(format!(
            "| {name} | {published} | {bar_text} | {:.2}% | {:.2}% | {:.2} | {:.1} |",
            100.0 * last,
            100.0 * best,
            seconds / epochs.len().max(1) as f64,
            seconds
        ));
    }
    println!(
        "| recipe | published test accuracy | bar | ours, final | ours, best epoch | seconds per epoch | seconds in \
         all |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} recipes ended below their bar (final test accuracy < bar): {}",
            failures.len(),
            chosen_count,
            failures.join("; ")
        );
    }
    Ok(())
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
}
