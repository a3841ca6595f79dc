//! `cargo xtask bench [--compare] [--runs N] [--cnn | --all]`: our timings (`nn-cli bench`,
//! release build) and, with `--compare`, the PyTorch reference run right after on the same
//! machine, with the ratios (of the best times over `N` alternating runs). `--cnn` times the
//! convolutional recipes instead of the dense ones (`nn-cli bench --cnn`, `torch-peer.sh --cnn`),
//! `--all` both sets, the dense one first.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::project_root;

/// Which recipes to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// The four dense recipes, with inference and load timings (a few seconds).
    Dense,
    /// The three convolutional recipes (tens of seconds each, on each side).
    Cnn,
    /// Both.
    All,
}

impl Set {
    /// Whether each pass is the convolutional one, in the order they run.
    fn passes(self) -> &'static [bool] {
        match self {
            Set::Dense => &[false],
            Set::Cnn => &[true],
            Set::All => &[false, true],
        }
    }
}

pub fn run(data: &Path, compare: bool, runs: usize, set: Set) -> Result<()> {
    let nn_cli = crate::release_nn_cli()?;
    let peer = project_root().join("../shared/bench/torch-peer.sh");
    if compare && !peer.is_file() {
        bail!("{} is missing: --compare needs the PyTorch reference", peer.display());
    }
    // This machine's timings vary by up to ±10% from run to run: with several runs, ours and
    // PyTorch's alternate, and each side's best time is compared.
    let (mut ours, mut theirs, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        for &cnn in set.passes() {
            let flag: &[&str] = if cnn { &["--cnn"] } else { &[] };
            let what = if cnn { " --cnn" } else { "" };
            eprintln!("== ours: nn-cli bench{what} (run {run} of {runs})");
            let output = capture(Command::new(&nn_cli).arg("bench").args(flag).arg("--data").arg(data))?;
            print!("{output}");
            ours.push(epoch_seconds(&output));
            floors.push(field(&output, "floor_s="));
            if compare {
                eprintln!("== PyTorch: {}{what} (run {run} of {runs})", peer.display());
                let output = capture(Command::new("bash").arg(&peer).args(flag).arg(data))?;
                print!("{output}");
                theirs.push(epoch_seconds(&output));
            }
        }
    }
    if compare {
        println!();
        print!("{}", ratio_table(&best(&ours), &best(&theirs), &best(&floors), runs));
    }
    Ok(())
}

/// The Markdown table of each recipe's best time, ours beside PyTorch's and their ratio, then
/// the recipe's floor (its products at the machine's matrix-product rate on every thread, as
/// `nn-cli bench` prints it) and ours over it.
fn ratio_table(
    ours: &BTreeMap<String, f64>,
    theirs: &BTreeMap<String, f64>,
    floors: &BTreeMap<String, f64>,
    runs: usize,
) -> String {
    let best_of = if runs > 1 { format!(", best of {runs}") } else { String::new() };
    let mut table = format!(
        "| recipe | ours (s/epoch{best_of}) | PyTorch (s/epoch{best_of}) | ours / PyTorch | floor (s) | ours / floor |\n"
    );
    table.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for (name, our_seconds) in ours {
        let (their_seconds, ratio) = match theirs.get(name) {
            Some(their_seconds) => (format!("{their_seconds:.3}"), format!("{:.2}", our_seconds / their_seconds)),
            None => ("—".to_string(), "—".to_string()),
        };
        let (floor, over_floor) = match floors.get(name) {
            Some(floor) if *floor > 0.0 => (format!("{floor:.3}"), format!("{:.1}", our_seconds / floor)),
            _ => ("—".to_string(), "—".to_string()),
        };
        table
            .push_str(&format!("| {name} | {our_seconds:.3} | {their_seconds} | {ratio} | {floor} | {over_floor} |\n"));
    }
    table
}

/// The smallest time of each recipe over several runs.
fn best(runs: &[BTreeMap<String, f64>]) -> BTreeMap<String, f64> {
    let mut best = BTreeMap::new();
    for (name, &seconds) in runs.iter().flatten() {
        let entry = best.entry(name.clone()).or_insert(seconds);
        *entry = f64::min(*entry, seconds);
    }
    best
}

fn capture(command: &mut Command) -> Result<String> {
    let output = command.stderr(Stdio::inherit()).output().with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `NAME epoch_s=SECONDS ...` lines as a map from name to seconds.
fn epoch_seconds(text: &str) -> BTreeMap<String, f64> {
    field(text, "epoch_s=")
}

/// The value after `key` (`floor_s=`) on each `NAME key=VALUE ...` line that has one.
fn field(text: &str, key: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let value = words.find_map(|w| w.strip_prefix(key))?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_lines_are_parsed() {
        let parsed = super::epoch_seconds("nielsen-30 epoch_s=1.54 test_acc=0.95\nnoise\nkeras-512 epoch_s=0.76\n");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["keras-512"], 0.76);
    }

    #[test]
    fn the_best_run_of_each_recipe_is_kept() {
        let runs = ["a epoch_s=0.5\nb epoch_s=0.2\n", "a epoch_s=0.4\nb epoch_s=0.3\nc epoch_s=1\n"];
        let best = super::best(&runs.map(super::epoch_seconds));
        assert_eq!((best["a"], best["b"], best["c"]), (0.4, 0.2, 1.0));
    }

    #[test]
    fn the_table_sets_each_recipe_beside_its_peer() {
        let ours = super::epoch_seconds("saito-deep epoch_s=14.0\nkeras-512 epoch_s=0.3\nmine epoch_s=1\n");
        let theirs = super::epoch_seconds("saito-deep epoch_s=28.0 test_acc=0.98 threads=2\nkeras-512 epoch_s=0.6\n");
        let floors = super::field("saito-deep epoch_s=14.0 floor_s=3.5\nkeras-512 epoch_s=0.3\n", "floor_s=");
        let table = super::ratio_table(&ours, &theirs, &floors, 3);
        assert!(table.starts_with("| recipe | ours (s/epoch, best of 3) |"), "{table}");
        assert!(table.contains("| saito-deep | 14.000 | 28.000 | 0.50 | 3.500 | 4.0 |\n"), "{table}");
        assert!(table.contains("| keras-512 | 0.300 | 0.600 | 0.50 | — | — |\n"), "{table}");
        assert!(table.contains("| mine | 1.000 | — | — | — | — |\n"), "{table}");
    }

    #[test]
    fn all_runs_the_dense_set_then_the_convolutional_one() {
        use super::Set;
        assert_eq!(
            (Set::Dense.passes(), Set::Cnn.passes(), Set::All.passes()),
            (&[false][..], &[true][..], &[false, true][..])
        );
    }
}
