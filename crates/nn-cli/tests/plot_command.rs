//! End-to-end tests of `nn-cli plot`: the charts are decoded, not only found.

use std::process::{Command, Output};

const METRICS: &str = r#"{"epoch":1,"epochs":3,"train_loss":0.30,"learning_rate":0.1,"validation":{"loss":0.20,"accuracy":0.93,"correct":93,"total":100},"test":{"loss":0.21,"accuracy":0.92,"correct":92,"total":100},"seconds":1.0}
{"epoch":2,"epochs":3,"train_loss":0.15,"learning_rate":0.1,"validation":{"loss":0.12,"accuracy":0.96,"correct":96,"total":100},"test":{"loss":0.13,"accuracy":0.95,"correct":95,"total":100},"seconds":1.0}
{"epoch":3,"epochs":3,"train_loss":0.10,"learning_rate":0.1,"validation":{"loss":0.11,"accuracy":0.97,"correct":97,"total":100},"test":null,"seconds":1.0}
"#;

fn plot(metrics: &std::path::Path, output: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nn-cli"))
        .args(["plot", metrics.to_str().unwrap(), "-o", output.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn png_and_svg_charts_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.metrics.jsonl");
    std::fs::write(&metrics, METRICS).unwrap();

    let png = dir.path().join("chart.png");
    let out = plot(&metrics, &png);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let image = image::open(&png).unwrap().into_rgb8();
    assert_eq!(image.dimensions(), (1000, 450));
    let blue = image.pixels().filter(|p| p.0[2] > 200 && p.0[0] < 60 && p.0[1] < 60).count();
    let red = image.pixels().filter(|p| p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60).count();
    assert!(blue > 200 && red > 200, "the lines are missing: {blue} blue, {red} red pixels");

    let svg = dir.path().join("chart.svg");
    let out = plot(&metrics, &svg);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("validation") && text.contains("<polyline"), "{text:.200}");
}

#[test]
fn bad_logs_and_formats_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.jsonl");
    std::fs::write(&metrics, "{\"epoch\": 1}\n").unwrap();
    let out = plot(&metrics, &dir.path().join("c.png"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"), "{}", String::from_utf8_lossy(&out.stderr));

    std::fs::write(&metrics, METRICS).unwrap();
    let out = plot(&metrics, &dir.path().join("c.jpg"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .svg"));
    assert!(!dir.path().join("c.png").exists());

    std::fs::write(&metrics, "").unwrap();
    let out = plot(&metrics, &dir.path().join("c.svg"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no epoch"));
}
