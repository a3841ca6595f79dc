//! `cargo xtask bench [--compare]`: our timings (`nn-cli bench`, release build) and, with
//! `--compare`, the PyTorch reference run right after on the same machine, with the ratios.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::project_root;

pub fn run(data: &Path, compare: bool) -> Result<()> {
    let nn_cli = crate::release_nn_cli()?;
    eprintln!("== ours: nn-cli bench");
    let ours = capture(Command::new(&nn_cli).arg("bench").arg("--data").arg(data))?;
    print!("{ours}");
    if !compare {
        return Ok(());
    }
    let peer = project_root().join("../shared/bench/torch-peer.sh");
    if !peer.is_file() {
        bail!("{} is missing: --compare needs the PyTorch reference", peer.display());
    }
    eprintln!("== PyTorch: {}", peer.display());
    let theirs = capture(Command::new("bash").arg(&peer).arg(data))?;
    print!("{theirs}");
    let (ours, theirs) = (epoch_seconds(&ours), epoch_seconds(&theirs));
    println!();
    println!("| recipe | ours (s/epoch) | PyTorch (s/epoch) | ours / PyTorch |");
    println!("| --- | --- | --- | --- |");
    for (name, our_seconds) in &ours {
        match theirs.get(name) {
            Some(their_seconds) => {
                println!("| {name} | {our_seconds:.3} | {their_seconds:.3} | {:.2} |", our_seconds / their_seconds)
            }
            None => println!("| {name} | {our_seconds:.3} | — | — |"),
        }
    }
    Ok(())
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
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let seconds = words.find_map(|w| w.strip_prefix("epoch_s="))?.parse().ok()?;
            Some((name.to_string(), seconds))
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
}
