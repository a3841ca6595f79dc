//! `nn-cli sweep`: a sweep planned once, run here and on a real Slurm cluster, with the same
//! models bit for bit, a trial requeued mid-training included.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{nn_cli, path_str, text};
use test_support::fixtures;

/// Four small trainings on the fixture's 100 digits; trial 0 long enough to be caught mid-run.
fn spec(dir: &Path, epochs: &str) -> PathBuf {
    let data = fixtures().join("mnist-100");
    let spec = format!(
        r#"{{"base": "nielsen", "data": "{}", "grid": {{"hidden": [[32]], "batch_size": [1], "epochs": [{epochs}],
            "validation_size": [20]}}, "slurm": {{"parallel": 2, "cpus_per_task": 1}}}}"#,
        data.display()
    );
    let path = dir.join("spec.json");
    std::fs::write(&path, spec).unwrap();
    path
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

fn sweep(args: &[&str]) -> Output {
    nn_cli(&[&["sweep"], args].concat())
}

/// A sweep of small dense trainings on the fixture's digits, planned with `search`-like flags.
fn plan_with_flags(dir: &Path, extra: &[&str]) {
    let data = fixtures().join("mnist-100");
    let flags = ["--recipe", "nielsen", "--hidden", "16", "--epochs", "1", "--validation-size", "20", "--data"];
    ok(sweep(&[&["plan"], &flags[..], &[path_str(&data), "-o", path_str(dir)], extra].concat()));
}

fn model(dir: &Path, index: usize) -> Vec<u8> {
    std::fs::read(dir.join(format!("runs/{index:04}/model.json"))).unwrap()
}

#[test]
fn a_sweep_is_planned_once_run_here_and_ranked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let spec = spec(tmp.path(), "2, 3, 4, 5");
    let planned = ok(sweep(&["plan", path_str(&spec), "-o", path_str(&dir)]));
    assert!(
        planned.contains("planned 4 trials of nielsen over hidden, batch_size, epochs, validation_size"),
        "{planned}"
    );
    for file in ["spec.json", "sweep.json", "slurm.sbatch", "trials/0000.json", "trials/0003.json"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    // A trial file is a recipe `train` takes as it is.
    let trial: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("trials/0002.json")).unwrap()).unwrap();
    assert_eq!((trial["epochs"].as_u64(), trial["seed"].as_u64()), (Some(4), Some(1)));
    let again = ok(sweep(&["plan", path_str(&spec), "-o", path_str(&dir)]));
    assert!(again.contains("already holds this sweep"), "{again}");
    let other = spec.with_file_name("other.json");
    std::fs::write(&other, std::fs::read_to_string(&spec).unwrap().replace("[32]", "[16]")).unwrap();
    let refused = sweep(&["plan", path_str(&other), "-o", path_str(&dir)]);
    assert!(
        !refused.status.success() && text(&refused.stderr).contains("holds another sweep"),
        "{}",
        text(&refused.stderr)
    );

    let ran = ok(sweep(&["run", path_str(&dir), "--on", "local", "--jobs", "2"]));
    assert!(ran.contains("running 4 trials here, 2 at a time") && ran.contains("4 done"), "{ran}");
    let status = ok(sweep(&["status", path_str(&dir)]));
    assert_eq!(status.lines().last(), Some("4 done"), "{status}");
    let again = ok(sweep(&["run", path_str(&dir), "--on", "local"]));
    assert!(again.contains("no trials need a run (4 done)"), "a finished trial never trains again: {again}");

    let report = ok(sweep(&["report", path_str(&dir)]));
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("rank  trial"), "{report}");
    for (place, line) in lines[1..5].iter().enumerate() {
        assert!(line.trim_start().starts_with(&(place + 1).to_string()), "{report}");
    }
    assert!(report.contains("best: trial"), "{report}");
    let best: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("best.json")).unwrap()).unwrap();
    assert_eq!(best["name"], "nielsen");
    let chart = image::open(dir.join("report.png")).unwrap();
    assert!(chart.width() >= 400 && chart.height() >= 300, "{}x{}", chart.width(), chart.height());
    let json: serde_json::Value = serde_json::from_str(&ok(sweep(&["report", path_str(&dir), "--json"]))).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 4);
    assert_eq!(json["rows"][0]["rank"], 1);

    // The two best trials as a committee, a model like any other.
    let with = ok(sweep(&["report", path_str(&dir), "--committee", "2"]));
    assert!(with.contains("committee of the 2 best trials"), "{with}");
    let committee: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("committee.json")).unwrap()).unwrap();
    let best_two: Vec<String> = json["rows"].as_array().unwrap()[..2]
        .iter()
        .map(|r| format!("runs/{:04}/model.json", r["index"].as_u64().unwrap()))
        .collect();
    let members: Vec<&str> =
        committee["members"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(members, best_two);
    let data = fixtures().join("mnist-100");
    let eval = ok(nn_cli(&["eval", "--model", path_str(&dir.join("committee.json")), "--data", path_str(&data)]));
    assert!(eval.contains("accuracy:"), "{eval}");
    let refused = sweep(&["report", path_str(&dir), "--committee", "5"]);
    assert!(text(&refused.stderr).contains("needs 5 ranked trials, and 4"), "{}", text(&refused.stderr));

    // A task of a finished trial ends at once; a trial that does not exist is an error.
    let done = ok(sweep(&["task", path_str(&dir), "1"]));
    assert!(done.contains("trial 0001 is done"), "{done}");
    let missing = sweep(&["task", path_str(&dir), "4"]);
    assert!(!missing.status.success() && text(&missing.stderr).contains("no trial 4"), "{}", text(&missing.stderr));
}

#[test]
fn a_failed_trial_keeps_its_log_and_only_it_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    // Holding out all 100 images leaves nothing to train on: trial 1 will fail.
    plan_with_flags(&dir, &["--seeds", "1-2"]);
    let trial = dir.join("trials/0001.json");
    let edited =
        std::fs::read_to_string(&trial).unwrap().replace("\"validation_size\": 20", "\"validation_size\": 100");
    std::fs::write(&trial, edited).unwrap();
    let ran = sweep(&["run", path_str(&dir), "--on", "local"]);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran.stdout));
    assert!(text(&ran.stderr).contains("1 trial failed (0001)") && text(&ran.stderr).contains("--retry-failed"));
    let status = ok(sweep(&["status", path_str(&dir)]));
    assert!(status.contains("0001  failed: a validation set of 100 images leaves nothing to train on"), "{status}");
    let log = std::fs::read_to_string(dir.join("logs/0001.log")).unwrap();
    assert!(log.contains("leaves nothing to train on"), "{log}");
    let plain = ok(sweep(&["run", path_str(&dir), "--on", "local"]));
    assert!(plain.contains("no trials need a run"), "a plain run leaves failed trials alone: {plain}");
    let retried = sweep(&["run", path_str(&dir), "--on", "local", "--retry-failed"]);
    assert!(text(&retried.stdout).contains("running 1 trial here"), "{}", text(&retried.stdout));
    assert_eq!(
        std::fs::read_to_string(dir.join("logs/0001.log")).unwrap().matches("trial 0001: nn-cli train").count(),
        2
    );
}

#[test]
fn a_spec_that_cannot_be_planned_is_refused_before_any_file_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("bad.json");
    for (text_of_spec, expected) in [
        (r#"{"grid": {"lr": [1]}}"#, "\"lr\" is not a field"),
        (r#"{"base": "cnn", "grid": {"seed": [1, 2]}}"#, "holds out no validation images"),
        (r#"{"grid": {"learning_rate": [0.1]}, "objective": "test_accuracy"}"#, "unknown variant"),
        ("{", "EOF"),
    ] {
        std::fs::write(&spec, text_of_spec).unwrap();
        let dir = tmp.path().join("out");
        let out = sweep(&["plan", path_str(&spec), "-o", path_str(&dir), "--data", "x"]);
        assert!(!out.status.success(), "{text_of_spec}");
        let out = sweep(&["plan", path_str(&spec), "-o", path_str(&dir)]);
        assert!(!out.status.success() && text(&out.stderr).contains(expected), "{text_of_spec}: {}", text(&out.stderr));
        assert!(!dir.join("sweep.json").exists());
    }
}

/// Whether this machine has a Slurm cluster to submit to; under CI (`NN_SLURM_REQUIRED`) it must.
fn slurm_is_up() -> bool {
    let up = Command::new("timeout").args(["5", "sinfo", "--noheader"]).output().is_ok_and(|o| o.status.success());
    if !up {
        assert!(
            std::env::var_os("NN_SLURM_REQUIRED").is_none(),
            "NN_SLURM_REQUIRED is set but no Slurm cluster answers (start one with .ci/slurm-up)"
        );
        eprintln!("note: no Slurm cluster answers here (start one with .ci/slurm-up); the Slurm test is skipped");
    }
    up
}

/// Waits (at most `limit`) for `done`, polling.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_sweep_on_slurm_ends_with_the_models_of_a_local_run_requeued_and_cancelled_trials_included() {
    if !slurm_is_up() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), "150, 151, 3, 4");
    let (on_slurm, here) = (tmp.path().join("slurm"), tmp.path().join("local"));
    ok(sweep(&["plan", path_str(&spec), "-o", path_str(&on_slurm)]));
    ok(sweep(&["plan", path_str(&spec), "-o", path_str(&here)]));

    // Options after `--` go to sbatch as they are.
    let submitted = ok(sweep(&["run", path_str(&on_slurm), "--on", "slurm", "--", "--job-name=nn-sweep-test"]));
    let job = submitted.split_whitespace().nth(3).unwrap().trim_end_matches(':').to_string();
    assert!(job.chars().all(|c| c.is_ascii_digit()), "{submitted}");
    let name = Command::new("squeue").args(["--noheader", "--jobs", &job, "--format=%j"]).output().unwrap();
    assert!(text(&name.stdout).lines().all(|l| l.trim() == "nn-sweep-test"), "{}", text(&name.stdout));
    // Trials 0 and 1 mid-training: two epochs checkpointed, far from their last.
    for index in [0, 1] {
        let metrics = on_slurm.join(format!("runs/{index:04}/model.metrics.jsonl.partial"));
        wait_for(Duration::from_secs(120), "two epochs of trials 0 and 1", || {
            std::fs::read_to_string(&metrics).is_ok_and(|log| log.lines().count() >= 2)
        });
    }
    let status = ok(sweep(&["status", path_str(&on_slurm)]));
    assert!(status.contains("0000  running") && status.contains("Slurm: RUNNING"), "{status}");
    // Trial 0 is requeued (Slurm runs it again), trial 1 cancelled (the sweep's next run does).
    for (command, task) in [("requeue", 0), ("cancel", 1)] {
        let id = format!("{job}_{task}");
        let done = if command == "requeue" {
            Command::new("scontrol").args(["requeue", &id]).output().unwrap()
        } else {
            Command::new("scancel").arg(&id).output().unwrap()
        };
        assert!(done.status.success(), "{command} {id}: {}", text(&done.stderr));
    }

    // Meanwhile, the same trials here.
    ok(sweep(&["run", path_str(&here), "--on", "local", "--jobs", "2"]));
    wait_for(Duration::from_secs(120), "the cancelled trial 1 to leave the queue", || {
        let status = text(&sweep(&["status", path_str(&on_slurm)]).stdout);
        status.lines().any(|l| l.starts_with("0001  interrupted") && !l.contains("[Slurm"))
    });
    let resubmitted = ok(sweep(&["run", path_str(&on_slurm), "--on", "slurm"]));
    assert!(resubmitted.contains("1 trial (1)"), "only the cancelled trial is submitted again: {resubmitted}");
    wait_for(Duration::from_secs(300), "the four trials on Slurm", || {
        sweep(&["status", path_str(&on_slurm)]).stdout.ends_with(b"4 done\n")
    });
    for index in [0, 1] {
        let log = std::fs::read_to_string(on_slurm.join(format!("logs/{index:04}.log"))).unwrap();
        assert!(log.contains("interrupted: checkpoint written"), "trial {index} was stopped mid-training:\n{log}");
        assert!(log.contains("--resume") && log.contains("resuming recipe"), "and its next run resumed:\n{log}");
    }
    for index in 0..4 {
        assert!(
            model(&on_slurm, index) == model(&here, index),
            "trial {index}: Slurm's model differs from the local one"
        );
    }
    let report = ok(sweep(&["report", path_str(&on_slurm)]));
    assert!(report.lines().nth(1).is_some_and(|l| l.trim_start().starts_with("1 ")), "{report}");
    let again = ok(sweep(&["run", path_str(&on_slurm), "--on", "slurm"]));
    assert!(again.contains("no trials need a run"), "{again}");
}

#[test]
fn a_trial_another_process_trains_is_left_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    plan_with_flags(&dir, &[]);
    // This test's own process holds trial 0's lock, as a run of it elsewhere would.
    std::fs::create_dir_all(dir.join("runs/0000")).unwrap();
    std::fs::write(dir.join("runs/0000/model.json.lock"), format!("{}\n", std::process::id())).unwrap();
    let status = ok(sweep(&["status", path_str(&dir)]));
    assert!(status.starts_with(&format!("0000  running (process {})", std::process::id())), "{status}");
    let task = ok(sweep(&["task", path_str(&dir), "0"]));
    assert!(task.contains("left to it"), "{task}");
    let run = ok(sweep(&["run", path_str(&dir), "--on", "local"]));
    assert!(run.contains("no trials need a run (1 running)"), "{run}");
    assert!(!dir.join("runs/0000/failure.json").exists() && !dir.join("runs/0000/model.json").exists());
    std::fs::remove_file(dir.join("runs/0000/model.json.lock")).unwrap();
    let run = ok(sweep(&["run", path_str(&dir), "--on", "local"]));
    assert!(run.contains("1 done"), "{run}");
}
