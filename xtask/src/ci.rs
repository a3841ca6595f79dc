//! `cargo xtask ci`: what CI checks, runnable by anyone before pushing.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project_root;

pub fn run() -> Result<()> {
    let root = project_root();
    let data = root.join("data/mnist");
    let have_data = mnist_data::FILE_NAMES.iter().all(|name| mnist_data::find_file(&data, name).is_ok());
    if !have_data && std::env::var_os("CI").is_some() {
        bail!("{} does not hold the MNIST files; CI must fetch them first (see .ci/run)", data.display());
    }
    if !have_data {
        eprintln!(
            "note: {} does not hold the MNIST files, so the full-data tests will be skipped \
             (run `cargo xtask fetch-data` first)",
            data.display()
        );
    }
    let steps: [(&str, &[&str]); 3] = [
        ("format", &["fmt", "--all", "--check"]),
        ("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        ("tests", &["test", "--workspace"]),
    ];
    for (name, args) in steps {
        eprintln!("== {name}: cargo {}", args.join(" "));
        let status = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(&root)
            .envs(have_data.then_some(("MNIST_DIR", &data)))
            .status()
            .with_context(|| format!("could not run cargo {}", args.join(" ")))?;
        if !status.success() {
            bail!("{name} failed (cargo {})", args.join(" "));
        }
    }
    eprintln!("== all checks passed{}", if have_data { "" } else { " (full-data tests skipped)" });
    Ok(())
}
