//! End-to-end tests of `nn-cli import --safetensors` and `export --safetensors` with the
//! network PyTorch saved in `fixtures/pytorch-safetensors`: the model file holds what the
//! library reads, the export reads back to the same network, and mistakes give clear errors.

use std::path::PathBuf;
use std::process::Output;

use nn_core::{Architecture, Loss, Shape};

mod common;
use common::{nn_cli, path_str, text};
use test_support::fixtures;

const ARCH: &str = "conv(4,3,pad=1) relu maxpool(2) dropout(0.25) conv(3,3x2) tanh flatten dense(8) relu dense(10)";

fn fixture() -> PathBuf {
    fixtures().join("pytorch-safetensors/model.safetensors")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), text(&out.stderr));
    text(&out.stdout)
}

/// Exit 1 with a message (no panic, no usage error); returns the message.
fn fails(out: Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: ") && !stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_pytorch_state_dict_imports_and_exports_back() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("torch.json");
    let fixture = fixture();
    let args = ["import", "--safetensors", path_str(&fixture), "--arch", ARCH, "--input", "2x8x8", "-o"];
    let printed = ok(nn_cli(&[&args[..], &[path_str(&model)]].concat()));
    assert!(printed.contains("imported") && printed.contains("model.safetensors"), "{printed}");
    let arch = ARCH.parse::<Architecture>().unwrap().with_input(Shape::new(2, 8, 8));
    let library = nn_core::import_safetensors(&fixture, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    let saved = nn_core::load_model(&model).unwrap();
    assert_eq!(saved, library);

    let exported = dir.path().join("again.safetensors");
    let printed = ok(nn_cli(&["export", "--model", path_str(&model), "--safetensors", path_str(&exported)]));
    assert!(printed.contains("read it back with: nn-cli import --safetensors"), "{printed}");
    assert!(printed.contains("--input 2x8x8"), "{printed}");
    let back = nn_core::import_safetensors(&exported, &arch, Loss::SoftmaxCrossEntropy).unwrap();
    assert_eq!(back, library);

    // Both formats at once.
    let (npz, both) = (dir.path().join("w.npz"), dir.path().join("both.safetensors"));
    let args = ["export", "--model", path_str(&model), "--npz", path_str(&npz), "--safetensors", path_str(&both)];
    ok(nn_cli(&args));
    assert_eq!(std::fs::read(&both).unwrap(), std::fs::read(&exported).unwrap());
    assert!(npz.exists());
}

#[test]
fn mistakes_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let fixture = fixture();

    // The architecture is not in the file: --arch is required (a usage error, exit 2).
    let out = nn_cli(&["import", "--safetensors", path_str(&fixture), "-o", path_str(&model)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--arch"), "{}", text(&out.stderr));

    // Without the dropout the indices shift: 4.weight is where the architecture wants 3.weight.
    let shifted = "conv(4,3,pad=1) relu maxpool(2) conv(3,3x2) tanh flatten dense(8) relu dense(10)";
    let args = ["import", "--safetensors", path_str(&fixture), "--arch", shifted, "--input", "2x8x8"];
    let message = fails(nn_cli(&[&args[..], &["-o", path_str(&model)]].concat()));
    assert!(message.contains("3.weight is missing") && message.contains("4.weight"), "{message}");

    // The right architecture on the wrong input size.
    let args = ["import", "--safetensors", path_str(&fixture), "--arch", ARCH, "--input", "1x8x8"];
    let message = fails(nn_cli(&[&args[..], &["-o", path_str(&model)]].concat()));
    assert!(message.contains("0.weight") && message.contains("[4, 1, 3, 3]"), "{message}");

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a tensor in sight").unwrap();
    let args = ["import", "--safetensors", path_str(&garbage), "--arch", ARCH, "--input", "2x8x8"];
    let message = fails(nn_cli(&[&args[..], &["-o", path_str(&model)]].concat()));
    assert!(message.contains("not a valid safetensors file"), "{message}");
    assert!(!model.exists());

    // One source at a time.
    let out =
        nn_cli(&["import", "--safetensors", path_str(&fixture), "--npz", "x.npz", "--arch", ARCH, "-o", "m.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
