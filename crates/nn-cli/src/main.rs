//! `nn-cli`: the command-line face of the toolkit.
//!
//! Each command lives in a file of its own; this file only parses arguments and turns an error
//! into a message and a non-zero exit code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod files;
mod inspect;
mod render;
mod show;

#[derive(Parser)]
#[command(name = "nn-cli", version, about = "Learn neural networks on handwritten digits", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tell what an IDX file holds: type, dimensions, pixel statistics or label histogram.
    #[command(
        after_help = "Examples:\n  nn-cli inspect data/mnist/train-images-idx3-ubyte.gz\n  nn-cli inspect data/mnist/t10k-labels-idx1-ubyte.gz"
    )]
    Inspect(inspect::InspectArgs),
    /// Draw digits in the terminal (the book's img_show), or write them as a PNG.
    #[command(
        after_help = "Examples:\n  nn-cli show --index 0\n  nn-cli show --set test --index 7 --count 20 --png digits.png"
    )]
    Show(show::ShowArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Show(args) => show::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
