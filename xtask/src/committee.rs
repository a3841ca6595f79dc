//! `cargo xtask reproduce committee` (and `committee-augmented`): five networks of one recipe,
//! seeds 1 to 5, trained as a sweep on this machine, then averaged as a committee (Ciresan,
//! Meier and Schmidhuber 2012; Nielsen ch. 6). Prints each member's test accuracy and the
//! committee's, and fails unless the committee reaches its bar (and, for `committee`, beats its
//! best member, as its bar asks).
//!
//! `committee-augmented` trains the `cnn-augmented` recipe on a wider network than its own
//! (`WIDE`, set by the sweep): five members of the recipe as it is reached 99.65%, and ten or
//! twenty 99.68%, below the bar of 99.70% (`docs/benchmarks.md`).
//!
//! Everything goes through the release `nn-cli`, as a user would type it: `sweep plan`,
//! `sweep run --on local` (which resumes an interrupted sweep and never trains a finished trial
//! again), `committee`, `eval`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::project_root;

/// A committee to reproduce: its name, the recipe of its members (and the architecture that
/// replaces the recipe's, if any), how many, its bar (and whether it must beat its best member
/// too), and its folder under `target/reproduce`.
pub struct CommitteeBar {
    pub name: &'static str,
    pub recipe: &'static str,
    pub arch: Option<&'static str>,
    pub members: usize,
    pub bar: f64,
    pub above_best_member: bool,
    pub folder: &'static str,
}

/// The `cnn` architecture with twice its filters, a second convolution at each size and a dense
/// layer of 256: about 2.4 times its multiply-adds.
pub const WIDE: &str = "conv(32,3,pad=1) relu conv(32,3,pad=1) relu maxpool(2) conv(64,3,pad=1) relu \
                        conv(64,3,pad=1) relu maxpool(2) flatten dense(256) relu dropout(0.5) dense(10)";

pub const COMMITTEES: [CommitteeBar; 2] = [
    CommitteeBar {
        name: "committee",
        recipe: "cnn",
        arch: None,
        members: 5,
        bar: 0.995,
        above_best_member: true,
        folder: "committee-cnn",
    },
    CommitteeBar {
        name: "committee-augmented",
        recipe: "cnn-augmented",
        arch: Some(WIDE),
        members: 5,
        bar: 0.997,
        above_best_member: false,
        folder: "committee-cnn-augmented-wide",
    },
];

pub fn find(name: &str) -> Option<&'static CommitteeBar> {
    COMMITTEES.iter().find(|c| c.name == name)
}

pub fn run(committee: &CommitteeBar, nn_cli: &Path, data: &Path) -> Result<()> {
    let started = Instant::now();
    let out = project_root().join("target/reproduce");
    std::fs::create_dir_all(&out)?;
    let data = std::path::absolute(data)?;
    let seeds: Vec<usize> = (1..=committee.members).collect();
    // All trials train on all 60,000 images, as the recipe does: nothing is ranked, every
    // member is kept, and the test set only measures.
    let mut grid = serde_json::json!({"seed": seeds});
    if let Some(arch) = committee.arch {
        grid["arch"] = serde_json::json!([arch]);
    }
    let spec = serde_json::json!({"base": committee.recipe, "objective": "none", "data": data, "grid": grid});
    let spec_file = out.join(format!("{}.json", committee.folder));
    std::fs::write(&spec_file, serde_json::to_string_pretty(&spec)?)?;
    let dir = out.join(committee.folder);
    let arch = committee.arch.map_or(String::new(), |arch| format!(" on {arch}"));
    eprintln!(
        "== {}: {} {} networks{arch}, seeds 1-{}, as a sweep in {}",
        committee.name,
        committee.members,
        committee.recipe,
        committee.members,
        dir.display()
    );
    nn_cli_ok(nn_cli, &["sweep".as_ref(), "plan".as_ref(), spec_file.as_os_str(), "-o".as_ref(), dir.as_os_str()])?;
    // Its progress, a line a trial, shows as it comes.
    let status = Command::new(nn_cli).args(["sweep", "run"]).arg(&dir).args(["--on", "local"]).status()?;
    if !status.success() {
        bail!("nn-cli sweep run {} --on local failed ({status}); run this again to resume it", dir.display());
    }
    let members: Vec<PathBuf> = (0..committee.members).map(|i| dir.join(format!("runs/{i:04}/model.json"))).collect();
    let committee_file = dir.join("committee.json");
    let mut args: Vec<&std::ffi::OsStr> = vec!["committee".as_ref(), "-o".as_ref(), committee_file.as_os_str()];
    args.extend(members.iter().map(|m| m.as_os_str()));
    nn_cli_ok(nn_cli, &args)?;

    let report: Value = serde_json::from_slice(&nn_cli_ok(
        nn_cli,
        &["sweep".as_ref(), "report".as_ref(), dir.as_os_str(), "--json".as_ref()],
    )?)?;
    let training_seconds: f64 =
        report["rows"].as_array().into_iter().flatten().filter_map(|r| r["seconds"].as_f64()).sum();
    println!("| model | test accuracy |");
    println!("| --- | --- |");
    let mut best_member: f64 = 0.0;
    for (seed, member) in seeds.iter().zip(&members) {
        let accuracy = test_accuracy(nn_cli, member, &data)?;
        best_member = best_member.max(accuracy);
        println!("| {} seed {seed} | {:.2}% |", committee.recipe, 100.0 * accuracy);
    }
    let accuracy = test_accuracy(nn_cli, &committee_file, &data)?;
    println!("| committee of the {} (mean of softmax outputs) | **{:.2}%** |", committee.members, 100.0 * accuracy);
    println!(
        "training {:.0} s in all ({:.0} s a member); this command {:.0} s of wall time",
        training_seconds,
        training_seconds / committee.members as f64,
        started.elapsed().as_secs_f64()
    );
    if accuracy < committee.bar - 1e-6 {
        bail!("the committee reached {:.2}%, below its bar of {:.2}%", 100.0 * accuracy, 100.0 * committee.bar);
    }
    if accuracy <= best_member {
        let (ours, best) = (100.0 * accuracy, 100.0 * best_member);
        let text = format!("the committee ({ours:.2}%) is no better than its best member ({best:.2}%)");
        if committee.above_best_member {
            bail!("{text}");
        }
        println!("{text}");
    }
    Ok(())
}

/// Runs `nn-cli ARGS`, its progress on this terminal, and returns its standard output.
fn nn_cli_ok(nn_cli: &Path, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>> {
    let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let output = Command::new(nn_cli)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run nn-cli {}", shown.join(" ")))?;
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        bail!("nn-cli {} failed ({})", shown.join(" "), output.status);
    }
    Ok(output.stdout)
}

fn test_accuracy(nn_cli: &Path, model: &Path, data: &Path) -> Result<f64> {
    let json = nn_cli_ok(
        nn_cli,
        &[
            "eval".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
            "--json".as_ref(),
        ],
    )?;
    let value: Value = serde_json::from_slice(&json)?;
    // Counted images over the test set: the accuracy as exact as the count.
    match (value["correct"].as_f64(), value["total"].as_f64()) {
        (Some(correct), Some(total)) if total > 0.0 => Ok(correct / total),
        _ => value["accuracy"].as_f64().context("nn-cli eval --json gave no accuracy"),
    }
}
