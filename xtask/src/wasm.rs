//! `cargo xtask wasm`: builds `crates/nn-wasm` for `wasm32-unknown-unknown` and writes it where
//! `nn-serve` embeds it (`crates/nn-serve/src/page/nn.wasm`); with `--check`, builds it and
//! compares it with the checked-in module instead, failing if they differ.
//!
//! The module is checked in so that `cargo run -p nn-cli -- serve` works on a machine without
//! the wasm32 target; CI rebuilds it to show the checked-in bytes are what the sources give. The
//! build is reproducible for one rustc: the only machine-specific text rustc would put in it,
//! the paths of the crates.io sources in panic locations, is rewritten to `/cargo`. The rustc
//! that built it is written beside it (`nn.wasm.rustc`), since another one gives other bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project_root;

const TARGET: &str = "wasm32-unknown-unknown";

/// Where nn-serve embeds the module, relative to the project.
pub const MODULE: &str = "crates/nn-serve/src/page/nn.wasm";

/// The rustc version that built it.
pub const RUSTC: &str = "crates/nn-serve/src/page/nn.wasm.rustc";

/// Whether rustup has the wasm32 target for the active toolchain.
pub fn target_installed() -> bool {
    Command::new("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .is_some_and(|dir| Path::new(dir.trim()).is_dir())
}

pub fn run(check: bool) -> Result<()> {
    let root = project_root();
    if !target_installed() {
        bail!("the {TARGET} target is not installed: rustup target add {TARGET}");
    }
    let built = build(&root)?;
    let bytes = std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?;
    let rustc = rustc_version()?;
    if check {
        let module = root.join(MODULE);
        let checked_in = std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
        let recorded = std::fs::read_to_string(root.join(RUSTC)).unwrap_or_default();
        if checked_in != bytes {
            bail!(
                "{MODULE} ({} bytes, built by {}) is not what the sources build ({} bytes, {rustc}): run `cargo \
                 xtask wasm` and commit it",
                checked_in.len(),
                recorded.trim(),
                bytes.len()
            );
        }
        eprintln!("{MODULE} is what the sources build ({} bytes, {rustc})", bytes.len());
    } else {
        write(&root.join(MODULE), &bytes)?;
        write(&root.join(RUSTC), format!("{rustc}\n").as_bytes())?;
        eprintln!("wrote {MODULE} ({} bytes, {rustc})", bytes.len());
    }
    Ok(())
}

/// Builds the module and returns the path of the file cargo wrote.
fn build(root: &Path) -> Result<PathBuf> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?).join(".cargo"),
    };
    // WebAssembly's 128-bit vectors (every browser since 2023; one without them cannot compile
    // the module, and the page asks the server): the training panel's epoch takes 30% less time
    // with them, a cnn answer 40% less (docs/benchmarks.md).
    let flags = format!("--remap-path-prefix={}=/cargo -C target-feature=+simd128", cargo_home.display());
    let status = Command::new(env!("CARGO"))
        .args(["build", "--locked", "--quiet", "-p", "nn-wasm", "--target", TARGET, "--profile", "wasm"])
        .current_dir(root)
        // Flags of the environment would change the module; only ours apply, to this target only.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", flags)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building nn-wasm for {TARGET} failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir));
    Ok(target.join(TARGET).join("wasm/nn_wasm.wasm"))
}

fn rustc_version() -> Result<String> {
    let out = Command::new("rustc").arg("--version").output().context("cannot run rustc --version")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Written whole or not at all: a temporary file beside it, renamed over it.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file has a directory")?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.as_file().sync_all()?;
    // A temporary file is private (0600); the module is an ordinary file of the project.
    #[cfg(unix)]
    file.as_file().set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    file.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
