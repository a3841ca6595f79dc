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

fn nn_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nn-cli")).args(args).output().unwrap()
}

#[test]
fn activation_functions_are_drawn_with_a_legend() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("functions.png");
    let out = nn_cli(&[
        "plot",
        "--function",
        "step,sigmoid,relu,tanh,softmax,identity,leaky_relu:0.1",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("softmax(x, 0)[0] = sigmoid(x)") && stdout.contains("from -5 to 5"), "{stdout}");
    let image = image::open(&png).unwrap().into_rgb8();
    assert_eq!(image.dimensions(), (800, 500));
    // Each function's colour (the palette of function_chart.rs, in the order named) is drawn.
    let palette = [[0, 90, 200], [220, 30, 30], [0, 150, 0], [230, 130, 0], [150, 0, 180], [0, 0, 0], [0, 170, 170]];
    for colour in palette {
        let count = image.pixels().filter(|p| p.0.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) < 40)).count();
        assert!(count > 150, "colour {colour:?}: {count} pixels");
    }
    let white = image.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    assert!(white > 200_000 && white < 390_000, "{white} white pixels of 400000");

    let svg = dir.path().join("figure-3-8.svg");
    let out = nn_cli(&["plot", "--function", "step,sigmoid", "--range", "-6,6", "-o", svg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains(">\nsigmoid\n<") && text.contains(">\nstep\n<"), "{text:.300}");
}

#[test]
fn a_chart_is_of_a_metrics_log_or_of_functions_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.jsonl");
    std::fs::write(&metrics, METRICS).unwrap();
    let png = dir.path().join("c.png");
    let (m, o) = (metrics.to_str().unwrap(), png.to_str().unwrap());
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let both = nn_cli(&["plot", m, "--function", "relu", "-o", o]);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));
    let neither = nn_cli(&["plot", "-o", o]);
    assert_eq!(neither.status.code(), Some(2));
    assert!(stderr(&neither).contains("METRICS") && stderr(&neither).contains("--function"), "{}", stderr(&neither));
    let range_alone = nn_cli(&["plot", m, "--range", "-1,1", "-o", o]);
    assert_eq!(range_alone.status.code(), Some(2), "{}", stderr(&range_alone));
    assert!(stderr(&range_alone).contains("--range"), "{}", stderr(&range_alone));

    let unknown = nn_cli(&["plot", "--function", "sigmoid,swish", "-o", o]);
    assert_eq!(unknown.status.code(), Some(1));
    let message = stderr(&unknown);
    assert!(
        message.contains("unknown function \"swish\"") && message.contains("leaky_relu") && message.contains("softmax"),
        "{message}"
    );
    let bad_range = nn_cli(&["plot", "--function", "relu", "--range", "5,-5", "-o", o]);
    assert_eq!(bad_range.status.code(), Some(1));
    assert!(stderr(&bad_range).contains("LOW < HIGH"), "{}", stderr(&bad_range));
    let bad_extension = nn_cli(&["plot", "--function", "relu", "-o", dir.path().join("c.jpg").to_str().unwrap()]);
    assert!(stderr(&bad_extension).contains(".png or .svg"), "{}", stderr(&bad_extension));
    assert!(!png.exists(), "nothing is written on an error");
}
