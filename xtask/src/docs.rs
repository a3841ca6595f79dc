//! `cargo xtask docs`: the commands that README.md and docs/user-guide.md show are run, and
//! what they print is compared with what the docs say they print.
//!
//! The runner reads the fenced blocks of README.md, then of docs/user-guide.md, top to bottom,
//! in one scratch directory prepared as a reader's checkout after `cargo xtask fetch-data`:
//! `data/mnist` (a copy of the project's), `fixtures/`, `scripts/`, the example images of
//! `fixtures/images/` at the top, and on the PATH the release `nn-cli` and a `cargo` that runs
//! `cargo xtask ...` and `cargo run --release -p nn-cli -- ...` as a checkout would.
//!
//! - A ```console block holds commands, each on a line starting with `$ ` (continued by a
//!   trailing `\`), and after each the lines it prints, standard output and error together.
//!   Each command runs in bash and must end with status 0, or with N when its last line ends
//!   with the comment `# exit N`.
//! - In the shown output a line `...` (indented or not) stands for any number of lines, none
//!   included, and `[..]` for any text within a line: for times and paths that differ between
//!   runs (and a Slurm job number), and to shorten what no reader reads whole (the 784 inputs
//!   of a server's answer). Durations (`4.7s`, `in 3.1 s`, `12 ms`) are normalised on both
//!   sides; trailing spaces and trailing empty lines are ignored. Nothing else is.
//! - A ```sh block is a list of commands without their output: each line that runs `nn-cli`
//!   (also as `cargo run --release -p nn-cli --`) or `cargo xtask` is run with `--help` added,
//!   so nn-cli's (or xtask's) parser must accept the command, its flags and their values; the
//!   work itself is not done. Other lines are not run.
//! - `nn-cli serve ...` starts in the background on a free port (`--addr 127.0.0.1:0` is added)
//!   and runs until the next `## ` heading; in commands and output, `127.0.0.1:8080` stands for
//!   its address. Its first lines are compared as soon as they are printed.
//! - An HTML comment on the line before a block (blank lines between are allowed) marks it:
//!   `<!-- docs: long -->` (or `<!-- docs: long: why -->`): a block too slow for CI, run only by
//!   `cargo xtask docs --long`; `<!-- docs: slurm -->`: run when a Slurm cluster answers
//!   `sinfo`, skipped with a note otherwise, and required under CI (`CI` or `NN_SLURM_REQUIRED`
//!   set); `<!-- docs: skip: why -->`: never run, the reason printed; `<!-- docs: file PATH -->`:
//!   the block's text (JSON, TOML, ...) is written to PATH in the scratch directory, where the
//!   commands after it read it.
//!
//! Every block is reported as ran, failed or skipped with its reason, then a total; a
//! difference prints the command's line and a unified diff, and the task fails. `--keep` keeps
//! the scratch directory; `--show-output` prints what every command printed, to update a block
//! from.

mod expected;
mod markdown;
mod scratch;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::project_root;
use markdown::{Block, Kind, Marker};
use scratch::Scratch;

/// The files checked, in the order a reader meets them.
const FILES: &[&str] = &["README.md", "docs/user-guide.md"];

/// How long one command may run before it counts as hung.
const COMMAND_LIMIT: Duration = Duration::from_secs(15 * 60);
const LONG_COMMAND_LIMIT: Duration = Duration::from_secs(4 * 60 * 60);

pub struct Options {
    /// Also run the blocks marked long.
    pub long: bool,
    /// Keep the scratch directory and print where it is.
    pub keep: bool,
    /// Print what each command printed, to copy into the docs when it changed.
    pub show_output: bool,
}

#[derive(Default)]
struct Tally {
    ran: usize,
    long: usize,
    skipped: usize,
    failed_blocks: usize,
    /// The places of the commands that failed.
    failed: Vec<String>,
}

pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let under_ci = std::env::var_os("CI").is_some();
    let root = project_root();
    let have_data =
        mnist_data::FILE_NAMES.iter().all(|name| mnist_data::find_file(&root.join("data/mnist"), name).is_ok());
    if !have_data && under_ci {
        bail!("data/mnist does not hold the MNIST files; CI must fetch them first (see .ci/run)");
    }
    let slurm = slurm_answers();
    if !slurm && (under_ci || std::env::var_os("NN_SLURM_REQUIRED").is_some()) {
        bail!(
            "no Slurm cluster answers (sinfo), and under CI the Slurm blocks are required (start one with .ci/slurm-up)"
        );
    }
    let nn_cli = crate::release_nn_cli()?;
    let mut scratch = Scratch::new(&nn_cli, options.keep)?;
    if options.keep {
        eprintln!("scratch directory (kept): {}", scratch.dir.display());
    }
    let mut tally = Tally::default();
    for file in FILES {
        let text = std::fs::read_to_string(root.join(file)).with_context(|| format!("cannot read {file}"))?;
        let blocks = markdown::blocks(&text).with_context(|| format!("in {file}"))?;
        let mut section = None;
        for block in &blocks {
            if section != Some(block.section) {
                scratch.stop_server()?;
                section = Some(block.section);
            }
            let place = format!("{file}:{}", block.line);
            let skip = match &block.marker {
                Marker::Skip(why) => Some(why.clone()),
                Marker::Long if !options.long => {
                    tally.long += 1;
                    eprintln!("skipped (long)  {place}");
                    continue;
                }
                Marker::Slurm if !slurm => Some("no Slurm cluster answers (sinfo); .ci/slurm-up starts one".into()),
                _ if !have_data && matches!(block.kind, Kind::Console(_)) => {
                    Some("data/mnist does not hold MNIST (cargo xtask fetch-data)".into())
                }
                _ => None,
            };
            if let Some(why) = skip {
                tally.skipped += 1;
                eprintln!("skipped ({why})  {place}");
                continue;
            }
            if block.marker == Marker::Long {
                eprintln!("running         {place}  (long)");
            }
            let block_started = Instant::now();
            let limit = if block.marker == Marker::Long { LONG_COMMAND_LIMIT } else { COMMAND_LIMIT };
            let (what, failures) = run_block(&mut scratch, block, file, limit, options.show_output)?;
            let seconds = block_started.elapsed().as_secs_f64();
            if failures.is_empty() {
                tally.ran += 1;
                eprintln!("ran             {place}  {what}, {seconds:.1} s");
            } else {
                eprintln!("FAILED          {place}  {what}, {seconds:.1} s");
                tally.failed_blocks += 1;
                tally.failed.extend(failures);
            }
        }
        scratch.stop_server()?;
    }
    eprintln!(
        "docs: {} blocks ran, {} failed, {} skipped as long (--long runs them), {} skipped for the reasons above, in {:.0} s",
        tally.ran,
        tally.failed_blocks,
        tally.long,
        tally.skipped,
        started.elapsed().as_secs_f64()
    );
    if !tally.failed.is_empty() {
        bail!("the docs differ from what the commands do at {}", tally.failed.join(", "));
    }
    Ok(())
}

/// Runs one block; returns what it did, for the report, and the places that failed.
fn run_block(
    scratch: &mut Scratch,
    block: &Block,
    file: &str,
    limit: Duration,
    show_output: bool,
) -> Result<(String, Vec<String>)> {
    let mut failures = Vec::new();
    match &block.kind {
        Kind::File { path, text } => {
            let target = scratch.dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, text)?;
            Ok((format!("wrote {path}"), failures))
        }
        Kind::Shell(lines) => {
            let mut checked = 0;
            for (line, text) in lines {
                for command in commands_of_ours(text) {
                    checked += 1;
                    let ran = scratch.run(&command, Duration::from_secs(120))?;
                    if ran.status != Some(0) {
                        eprintln!("{file}:{line}: `{command}` is refused:\n{}", ran.output);
                        failures.push(format!("{file}:{line}"));
                    }
                }
            }
            Ok((format!("{checked} command lines accepted by --help"), failures))
        }
        Kind::Console(commands) => {
            for command in commands {
                let place = format!("{file}:{}", command.line);
                let expected = expected::normalise(&(command.expected.join("\n") + "\n"));
                let (output, status, timed_out) = if command.text.starts_with("nn-cli serve ") {
                    let printed = expected.iter().filter(|line| !expected::is_any_lines(line)).count();
                    (scratch.start_server(&command.text, printed)?, Some(0), false)
                } else {
                    let ran = scratch.run(&command.text, limit)?;
                    (ran.output, ran.status, ran.timed_out)
                };
                if show_output {
                    eprintln!("{place}: $ {}\n{output}", command.text);
                }
                let actual = expected::normalise(&output);
                let same_output = expected::matches(&expected, &actual);
                if same_output && status == Some(command.status) && !timed_out {
                    continue;
                }
                eprintln!("\n{place}: $ {}", command.text);
                if timed_out {
                    eprintln!("stopped after {} s", limit.as_secs());
                } else if status != Some(command.status) {
                    eprintln!("exit status {status:?}, the docs expect {}", command.status);
                }
                if !same_output {
                    eprint!("{}", expected::diff(&expected, &actual));
                }
                eprintln!();
                failures.push(place);
            }
            Ok((format!("{} commands", commands.len()), failures))
        }
    }
}

/// The commands of a shell line that are ours, with `--help` added: `nn-cli ...`,
/// `cargo run --release -p nn-cli -- ...` and `cargo xtask ...`, after any `VAR=value`.
fn commands_of_ours(line: &str) -> Vec<String> {
    without_comment(line)
        .split("&&")
        .filter_map(|part| {
            let words = part.trim();
            let mut rest = words;
            while let Some((first, after)) = rest.split_once(' ') {
                let is_assignment = first.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                });
                if !is_assignment {
                    break;
                }
                rest = after.trim_start();
            }
            let ours = ["nn-cli ", "cargo run --release -p nn-cli -- ", "cargo xtask "];
            let prefix = ours.iter().find(|prefix| rest.starts_with(**prefix))?;
            let args = &rest[prefix.len()..];
            // Flags after a lone `--` go to another program (sbatch): --help goes before it.
            Some(match args.find(" -- ") {
                Some(at) => format!("{prefix}{} --help{}", &args[..at], &args[at..]),
                None => format!("{prefix}{args} --help"),
            })
        })
        .collect()
}

/// The line without a trailing `# comment` (a `#` outside quotes, after a space).
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return line[..at].trim_end(),
            _ => {}
        }
        previous = c;
    }
    line
}

/// Whether a Slurm cluster answers here.
fn slurm_answers() -> bool {
    Command::new("timeout").args(["5", "sinfo", "--noheader"]).output().is_ok_and(|output| output.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn our_commands_get_help_before_what_goes_to_another_program() {
        assert_eq!(
            commands_of_ours(
                "MNIST_MIRROR=../m cargo xtask fetch-data && cargo run --release -p nn-cli -- train   # go"
            ),
            ["cargo xtask fetch-data --help", "cargo run --release -p nn-cli -- train --help"]
        );
        assert_eq!(
            commands_of_ours("nn-cli sweep run s --on slurm -- --partition=ci"),
            ["nn-cli sweep run s --on slurm --help -- --partition=ci"]
        );
        assert_eq!(
            commands_of_ours(r#"nn-cli train --arch "a # b" -o x.json"#),
            [r#"nn-cli train --arch "a # b" -o x.json --help"#]
        );
        assert!(commands_of_ours("sbatch sweeps/seeds/slurm.sbatch").is_empty());
    }

    /// Runs the console block `text` in a fresh scratch directory; the places that failed.
    fn failures_of(text: &str) -> Vec<String> {
        let blocks = markdown::blocks(text).unwrap();
        let mut scratch = Scratch::new(Path::new("/bin/true"), false).unwrap();
        run_block(&mut scratch, &blocks[0], "test.md", Duration::from_secs(60), false).unwrap().1
    }

    #[test]
    fn a_block_passes_when_output_and_status_are_as_shown() {
        let text = "```console\n$ echo one; echo two >&2; echo 'took 3.25s'\none\n...\ntook 0.5s\n$ ls missing   # exit 2\nls: [..]\n$ printf 'a\\nb\\n'\na\nb\n```\n";
        assert_eq!(failures_of(text), Vec::<String>::new());
    }

    #[test]
    fn a_block_fails_on_other_output_or_another_status() {
        assert_eq!(failures_of("```console\n$ echo 97.40%\n97.28%\n```\n"), ["test.md:2"]);
        assert_eq!(failures_of("```console\n$ false\n```\n"), ["test.md:2"]);
        assert_eq!(failures_of("```console\n$ true   # exit 1\n```\n"), ["test.md:2"]);
        assert_eq!(failures_of("```console\n$ echo a; echo b\na\n```\n"), ["test.md:2"]);
    }

    #[test]
    fn a_command_that_runs_too_long_is_stopped_with_what_it_started() {
        let blocks = markdown::blocks("```console\n$ sleep 30 | cat\n```\n").unwrap();
        let mut scratch = Scratch::new(Path::new("/bin/true"), false).unwrap();
        let started = Instant::now();
        let failures = run_block(&mut scratch, &blocks[0], "test.md", Duration::from_millis(300), false).unwrap().1;
        assert_eq!(failures, ["test.md:2"]);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
