//! `nn-cli sweep`: plan a sweep into a folder, run its trials here or on Slurm, follow them,
//! rank them. The capability is `nn_train::sweep`; this file parses, prints and starts tasks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nn_core::Shape;
use nn_train::run_lock::RunLockError;
use nn_train::search::Hidden;
use nn_train::sweep::local::{LocalEvent, run_local};
use nn_train::sweep::slurm::{self, DataSize};
use nn_train::sweep::spec::{RandomDraws, Values};
use nn_train::sweep::status::{Failure, counts};
use nn_train::sweep::{Objective, Planned, Sweep, SweepSpec, TrialState, number};
use serde_json::{Value, json};

use crate::output::{out, outln};
use crate::train::{self, TrainArgs};

#[derive(Args)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: SweepCommand,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Write a sweep's plan into a folder: one recipe file per trial, the spec with its hash, the
    /// Slurm job-array script.
    #[command(after_help = "Examples:\n  nn-cli sweep plan lr.json -o sweeps/lr\n  \
        nn-cli sweep plan --recipe nielsen --lr 0.5,3 --seeds 1-3 --epochs 5 -o sweeps/nielsen-lr")]
    Plan(PlanArgs),
    /// Run the trials that need a run: here, N at a time, or as a Slurm job array.
    #[command(after_help = "Examples:\n  nn-cli sweep run sweeps/lr --on local --jobs 2\n  \
        nn-cli sweep run sweeps/lr --on slurm -- --partition=short --qos=low\n  \
        nn-cli sweep run sweeps/lr --on local --retry-failed")]
    Run(RunArgs),
    /// Each trial's state: pending, running, interrupted, done or failed.
    Status(StatusArgs),
    /// The finished trials ranked by validation accuracy, a chart of the score against each
    /// field, the best trial's recipe file; a committee of the K best.
    Report(ReportArgs),
    /// Train one trial (what each Slurm task and each local process runs).
    Task(TaskArgs),
}

#[derive(Args)]
struct PlanArgs {
    /// The spec (JSON, or TOML by its extension). Without it, the flags below describe the sweep.
    spec: Option<PathBuf>,
    /// The folder to write the plan into (new or empty, or holding this same sweep).
    #[arg(short, long)]
    output: PathBuf,
    /// The base recipe [default: default].
    #[arg(long, conflicts_with_all = ["spec", "recipe_file"])]
    recipe: Option<String>,
    /// A recipe file as the base.
    #[arg(long, value_name = "FILE", conflicts_with = "spec")]
    recipe_file: Option<PathBuf>,
    /// Hidden layer sizes to try (a network's layers joined by '-'): 30,100,512-256.
    #[arg(long, value_delimiter = ',', value_name = "SIZES", conflicts_with = "spec")]
    hidden: Vec<Hidden>,
    /// Learning rates to try.
    #[arg(long, value_delimiter = ',', value_name = "RATES", conflicts_with = "spec")]
    lr: Vec<f32>,
    /// Batch sizes to try.
    #[arg(long, value_delimiter = ',', value_name = "SIZES", conflicts_with = "spec")]
    batch_size: Vec<usize>,
    /// Numbers of epochs to try.
    #[arg(long, value_delimiter = ',', value_name = "COUNTS", conflicts_with = "spec")]
    epochs: Vec<usize>,
    /// Seeds of the trainings: 1,2,3 or 1-5.
    #[arg(long, value_name = "SEEDS", conflicts_with = "spec")]
    seeds: Option<String>,
    /// Training images held out to score the trials [default: the recipe's].
    #[arg(long, conflicts_with = "spec")]
    validation_size: Option<usize>,
    /// Draw N trials at random from the grid instead of all of them.
    #[arg(long, value_name = "N", conflicts_with = "spec")]
    random: Option<usize>,
    /// Seed of the random draw.
    #[arg(long, default_value_t = 1, conflicts_with = "spec")]
    random_seed: u64,
    /// The data [default: data/mnist].
    #[arg(long, conflicts_with = "spec")]
    data: Option<PathBuf>,
    /// What ranks the trials: validation-accuracy, or none (every trial trains on all its
    /// images: a committee of seeds).
    #[arg(long, value_enum, default_value_t = ObjectiveFlag::ValidationAccuracy, conflicts_with = "spec")]
    objective: ObjectiveFlag,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ObjectiveFlag {
    ValidationAccuracy,
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Where {
    /// A pool of processes on this machine.
    Local,
    /// A Slurm job array (sbatch).
    Slurm,
}

#[derive(Args)]
struct RunArgs {
    /// The sweep's folder.
    dir: PathBuf,
    /// Where the trials run.
    #[arg(long, value_enum)]
    on: Where,
    /// Trials at once, here [default: 1]; the cores are shared out between them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: Option<u64>,
    /// Run only the trials whose last attempt failed.
    #[arg(long)]
    retry_failed: bool,
    /// More sbatch options, after `--`: --partition=short --account=lab --qos=low.
    #[arg(last = true, value_name = "SBATCH_OPTIONS")]
    sbatch: Vec<String>,
}

#[derive(Args)]
struct StatusArgs {
    /// The sweep's folder.
    dir: PathBuf,
    /// One JSON object for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// The sweep's folder.
    dir: PathBuf,
    /// The report as JSON for scripts (no chart, no files written).
    #[arg(long)]
    json: bool,
    /// The chart of the score against each field [default: DIR/report.png].
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Also write a committee of the K best trials (by validation accuracy) to --committee-output.
    #[arg(long, value_name = "K")]
    committee: Option<usize>,
    /// Where the committee goes [default: DIR/committee.json].
    #[arg(long, value_name = "FILE", requires = "committee")]
    committee_output: Option<PathBuf>,
}

#[derive(Args)]
struct TaskArgs {
    /// The sweep's folder.
    dir: PathBuf,
    /// The trial's number.
    index: usize,
    /// Training threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: &SweepArgs) -> Result<()> {
    match &args.command {
        SweepCommand::Plan(args) => plan(args),
        SweepCommand::Run(args) => run_trials(args),
        SweepCommand::Status(args) => status(args),
        SweepCommand::Report(args) => report(args),
        SweepCommand::Task(args) => task(args),
    }
}

fn plan(args: &PlanArgs) -> Result<()> {
    let spec = match &args.spec {
        Some(path) => SweepSpec::load(path)?,
        None => spec_from_flags(args)?,
    };
    let spec = nn_train::sweep::folder::resolved(&spec)?;
    // Every trial is checked before the data is read for the estimates.
    nn_train::sweep::trials::trials(&spec, &nn_train::sweep::folder::base_recipe(&spec)?)?;
    let data_path = spec.data.clone().expect("resolved");
    let mnist = crate::data::load_mnist_any(&data_path)?;
    let data = DataSize {
        train: mnist.train.len(),
        test: mnist.test.len(),
        input: Shape::new(1, mnist.train.rows(), mnist.train.cols()),
        classes: mnist.train.classes(),
    };
    let program = std::env::current_exe().context("cannot tell where nn-cli is, for the job-array script")?;
    let (sweep, planned) =
        Sweep::plan(&spec, &args.output, |sweep, trials| slurm::script(sweep, trials, &program, &spec.slurm, data))?;
    let dir = sweep.dir.display();
    match planned {
        Planned::Unchanged => outln!("{dir} already holds this sweep ({}); nothing written", trials(sweep.len()))?,
        Planned::New => {
            let fields = sweep.record.fields.join(", ");
            outln!("planned {} of {} over {fields} in {dir}", trials(sweep.len()), sweep.record.base)?;
            outln!(
                "  trials/0000.json{}, spec.json, sweep.json, slurm.sbatch",
                if sweep.len() > 1 { format!(" ... trials/{}.json", number(sweep.len() - 1)) } else { String::new() }
            )?;
            outln!("run them with: nn-cli sweep run {dir} --on local   (or --on slurm)")?;
        }
    }
    Ok(())
}

/// The search-like flags as a spec.
fn spec_from_flags(args: &PlanArgs) -> Result<SweepSpec> {
    let mut grid = std::collections::BTreeMap::new();
    let mut list = |field: &str, values: Vec<Value>| {
        if !values.is_empty() {
            grid.insert(field.to_string(), Values::List(values));
        }
    };
    list("hidden", args.hidden.iter().map(|h| json!(h.0)).collect());
    list("learning_rate", args.lr.iter().map(|&r| json!(r.to_string().parse::<f64>().unwrap_or(0.0))).collect());
    list("batch_size", args.batch_size.iter().map(|&b| json!(b)).collect());
    list("epochs", args.epochs.iter().map(|&e| json!(e)).collect());
    list("validation_size", args.validation_size.map(|v| json!(v)).into_iter().collect());
    if let Some(seeds) = &args.seeds {
        list("seed", parse_seeds(seeds)?.into_iter().map(|s| json!(s)).collect());
    }
    let spec = SweepSpec {
        base: args.recipe.clone(),
        recipe_file: args.recipe_file.clone(),
        data: args.data.clone(),
        grid,
        random: args.random.map(|draws| RandomDraws { draws, seed: args.random_seed }),
        objective: match args.objective {
            ObjectiveFlag::ValidationAccuracy => Objective::ValidationAccuracy,
            ObjectiveFlag::None => Objective::None,
        },
        slurm: Default::default(),
    };
    spec.check()?;
    Ok(spec)
}

/// `1,2,5` or `1-5` (or both: `1-3,7`).
fn parse_seeds(text: &str) -> Result<Vec<u64>> {
    let mut seeds = Vec::new();
    for part in text.split(',') {
        let number =
            |s: &str| s.trim().parse::<u64>().with_context(|| format!("--seeds {text:?}: {s:?} is not a seed"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if b < a || b - a >= nn_train::sweep::MAX_TRIALS as u64 {
                    bail!("--seeds {text:?}: {part} is not a range of at most {} seeds", nn_train::sweep::MAX_TRIALS);
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(number(part)?),
        }
    }
    Ok(seeds)
}

fn run_trials(args: &RunArgs) -> Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    let queued = if args.on == Where::Slurm { slurm::queue_states(&sweep)? } else { Default::default() };
    let mut skipped_running = 0;
    let mut indices = Vec::new();
    for status in sweep.states()? {
        if queued.contains_key(&status.index) {
            skipped_running += 1;
        } else if status.state.wants_a_run(args.retry_failed) {
            indices.push(status.index);
        }
    }
    let what = if args.retry_failed { "failed trials" } else { "trials" };
    if indices.is_empty() {
        outln!("no {what} need a run ({})", counts(&sweep.states()?))?;
        return Ok(());
    }
    match args.on {
        Where::Slurm => {
            if args.jobs.is_some() {
                bail!("--jobs is for --on local; on Slurm, the spec's slurm.parallel throttles the array");
            }
            let spec = SweepSpec::load(&sweep.dir.join("spec.json"))?;
            let parallel = spec.slurm.parallel.unwrap_or(slurm::DEFAULT_PARALLEL);
            let job = slurm::submit(&sweep, &indices, parallel, &args.sbatch)?;
            outln!(
                "submitted job array {job}: {} ({}), at most {parallel} at once",
                counted(indices.len(), what),
                slurm::array_list(&indices)
            )?;
            if skipped_running > 0 {
                outln!("{} already queued or running in Slurm, left to it", trials(skipped_running))?;
            }
            outln!("follow it with: nn-cli sweep status {}", sweep.dir.display())?;
            Ok(())
        }
        Where::Local => {
            if !args.sbatch.is_empty() {
                bail!("sbatch options are for --on slurm");
            }
            run_here(&sweep, &indices, args.jobs.unwrap_or(1) as usize)
        }
    }
}

fn run_here(sweep: &Sweep, indices: &[usize], jobs: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs).max(1);
    let program = std::env::current_exe().context("cannot tell where nn-cli is, to start the trials")?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Ctrl-C reaches the trials too (one process group); SIGTERM is passed on to them.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let each = if threads == 1 { "1 thread".to_string() } else { format!("{threads} threads") };
    outln!(
        "running {} here, {jobs} at a time, {each} each; logs in {}/logs/",
        trials(indices.len()),
        sweep.dir.display()
    )?;
    let task = |index: usize| {
        let mut command = std::process::Command::new(&program);
        command
            .arg("sweep")
            .arg("task")
            .arg(&sweep.dir)
            .arg(index.to_string())
            .arg("--threads")
            .arg(threads.to_string());
        command
    };
    let summary = run_local(sweep, indices, jobs, task, &stop, |event| {
        let _ = match event {
            LocalEvent::Started { index } => outln!("trial {} started", number(index)),
            LocalEvent::Ended { index, status } => match status.code() {
                Some(0) => match sweep.state(index) {
                    Ok(TrialState::Done) | Err(_) => outln!("trial {} done", number(index)),
                    Ok(state) => outln!("trial {} {state}", number(index)),
                },
                Some(nn_train::sweep::local::INTERRUPTED) => outln!("trial {} interrupted (resumes)", number(index)),
                _ => outln!("trial {} failed ({status}): see {}", number(index), sweep.log_file(index).display()),
            },
        };
    })?;
    outln!("{}", counts(&sweep.states()?))?;
    if !summary.interrupted.is_empty() {
        eprintln!("interrupted: run the same command again to resume");
        std::process::exit(130);
    }
    if !summary.failed.is_empty() {
        bail!(
            "{} failed ({}); their logs are kept; `nn-cli sweep run {} --on local --retry-failed` runs them again",
            trials(summary.failed.len()),
            summary.failed.iter().map(|&i| number(i)).collect::<Vec<_>>().join(", "),
            sweep.dir.display()
        );
    }
    Ok(())
}

fn status(args: &StatusArgs) -> Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    let states = sweep.states()?;
    // Slurm's view where there is one (the queue, then its accounting for tasks that left it);
    // a machine without Slurm still reads the files.
    let mut queued = slurm::accounting_states(&sweep);
    queued.extend(slurm::queue_states(&sweep).unwrap_or_default());
    if args.json {
        let trials: Vec<Value> = states
            .iter()
            .map(|s| {
                json!({"trial": s.index, "state": s.state.word(), "detail": s.state.to_string(),
                "slurm": queued.get(&s.index)})
            })
            .collect();
        return outln!("{}", serde_json::to_string_pretty(&json!({"trials": trials}))?).map_err(Into::into);
    }
    for status in &states {
        let slurm = queued.get(&status.index).map_or_else(String::new, |s| format!("  [Slurm: {s}]"));
        outln!("{}  {}{slurm}", number(status.index), status.state)?;
    }
    outln!("{}", counts(&states))?;
    Ok(())
}

fn report(args: &ReportArgs) -> Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    let report = sweep.report()?;
    if args.json {
        return out!("{}", report.to_json()).map_err(Into::into);
    }
    out!("{}", report.table())?;
    if let Some(best) = report.best() {
        let best_file = sweep.dir.join("best.json");
        std::fs::copy(sweep.trial_file(best.index), &best_file)
            .with_context(|| format!("cannot write {}", best_file.display()))?;
        let values: Vec<(String, Value)> =
            report.fields.iter().filter_map(|f| Some((f.clone(), best.values.get(f)?.clone()))).collect();
        let values = nn_train::sweep::trials::describe(&values);
        outln!("best: trial {} ({values}); its recipe: {}", number(best.index), best_file.display())?;
    }
    let png = args.png.clone().unwrap_or_else(|| sweep.dir.join("report.png"));
    crate::sweep_chart::write(&png, &report)?;
    outln!("chart: {}", png.display())?;
    if let Some(k) = args.committee {
        let members = report.best_models(k)?;
        let output = args.committee_output.clone().unwrap_or_else(|| sweep.dir.join("committee.json"));
        nn_core::save_committee(&members, false, &output)?;
        outln!("committee of the {k} best trials: {}", output.display())?;
    }
    Ok(())
}

/// Trains trial `index`: nothing when it is done, resumed when it was interrupted. A failure
/// is recorded in the run's folder before the error is returned.
fn task(args: &TaskArgs) -> Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    sweep.check_index(args.index)?;
    match sweep.state(args.index)? {
        TrialState::Done => {
            outln!("trial {} is done: {}", number(args.index), sweep.run_files(args.index).model.display())?;
            return Ok(());
        }
        running @ TrialState::Running { .. } => {
            outln!("trial {} is {running}: left to it", number(args.index))?;
            return Ok(());
        }
        _ => {}
    }
    sweep.clear_failure(args.index)?;
    let files = sweep.run_files(args.index);
    let mut words: Vec<String> = vec!["train".into(), "--recipe-file".into()];
    words.push(path_text(&sweep.trial_file(args.index))?);
    words.extend(["--data".into(), path_text(&sweep.record.data)?, "-o".into(), path_text(&files.model)?]);
    // The test set never chooses: it is evaluated once, at the end, for the model file.
    words.extend(["--no-test-each-epoch".into(), "--allow-no-learning".into()]);
    if files.is_interrupted_run() {
        words.push("--resume".into());
    }
    if let Some(threads) = args.threads {
        words.extend(["--threads".into(), threads.to_string()]);
    }
    outln!("trial {}: nn-cli {}", number(args.index), words.join(" "))?;
    let TrainCommand::Train(train_args) =
        TrainCommand::try_parse_from(std::iter::once("nn-cli".to_string()).chain(words))
            .context("the trial's training command")?;
    match train::run(&train_args) {
        // Another process took the trial between the look at its state and the training.
        Err(error) if error.downcast_ref::<RunLockError>().is_some_and(|e| matches!(e, RunLockError::Held { .. })) => {
            outln!("trial {}: {error}; left to it", number(args.index))?;
            Ok(())
        }
        Err(error) => {
            let failure = Failure { exit: Some(1), message: format!("{error:#}") };
            if let Err(e) = sweep.record_failure(args.index, &failure) {
                eprintln!("warning: {e}");
            }
            Err(error)
        }
        Ok(()) => Ok(()),
    }
}

/// `train`'s arguments, parsed as the command line parses them.
#[derive(Parser)]
#[command(name = "nn-cli")]
enum TrainCommand {
    Train(TrainArgs),
}

/// `1 trial`, `4 trials`.
fn trials(count: usize) -> String {
    counted(count, "trials")
}

/// `1 failed trial`, `2 failed trials`: `plural` names more than one.
fn counted(count: usize, plural: &str) -> String {
    if count == 1 { format!("1 {}", plural.strip_suffix('s').unwrap_or(plural)) } else { format!("{count} {plural}") }
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str().map(String::from).with_context(|| format!("{} is not valid UTF-8", path.display()))
}
