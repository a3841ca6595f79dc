//! Helpers shared by the end-to-end tests of `nn-cli`.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub mod serving;

/// Runs the `nn-cli` binary built for these tests.
pub fn nn_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nn-cli")).args(args).output().expect("nn-cli runs")
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A test path as `&str` for a command line.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test paths")
}
