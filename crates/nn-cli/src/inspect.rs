//! `nn-cli inspect FILE`: what an IDX file holds.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mnist_data::{LoadOptions, idx};

use crate::files::human_size;
use crate::output::{StdoutError, outln};

#[derive(Args)]
pub struct InspectArgs {
    /// An IDX file, raw or gzip-compressed.
    file: PathBuf,
}

pub fn run(args: &InspectArgs) -> Result<()> {
    let path = &args.file;
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut magic = [0u8; 2];
    let compressed = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map(|n| n == 2 && idx::is_gzip(&magic))
        .unwrap_or(false);
    // Inspecting leaves no cache behind: it only reads.
    let array = mnist_data::read_idx_file_with(path, LoadOptions { cache: false })?;
    let dims = array.dims();
    let encoding = if compressed { "gzip-compressed IDX" } else { "raw IDX" };
    outln!("file:        {} ({encoding}, {})", path.display(), human_size(meta.len()))?;
    outln!("type:        unsigned byte (0x08)")?;
    outln!("dimensions:  {}", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(" x "))?;
    match dims {
        [count] => {
            outln!("count:       {count} labels")?;
            print_histogram(array.data())?;
        }
        [count, rest @ ..] => {
            let shape = rest.iter().map(usize::to_string).collect::<Vec<_>>().join(" x ");
            outln!("count:       {count} items of {shape}")?;
            print_pixel_stats(array.data())?;
        }
        [] => unreachable!("the reader refuses zero dimensions"),
    }
    Ok(())
}

fn print_pixel_stats(data: &[u8]) -> Result<(), StdoutError> {
    let (Some(min), Some(max)) = (data.iter().min(), data.iter().max()) else {
        return outln!("pixels:      none");
    };
    let mean = data.iter().map(|&p| u64::from(p)).sum::<u64>() as f64 / data.len() as f64;
    outln!("pixels:      min {min}  max {max}  mean {mean:.2}")
}

fn print_histogram(labels: &[u8]) -> Result<(), StdoutError> {
    let mut counts = [0usize; 256];
    for &label in labels {
        counts[usize::from(label)] += 1;
    }
    let top = labels.iter().max().map_or(0, |&m| usize::from(m));
    let largest = counts.iter().copied().max().unwrap_or(0).max(1);
    outln!("classes:     {}", if labels.is_empty() { 0 } else { top + 1 })?;
    // Labels that never occur are left out, so a stray large label does not print 200 rows.
    for (label, &count) in counts.iter().enumerate().filter(|&(_, &count)| count > 0) {
        let bar = "█".repeat(count * 40 / largest);
        outln!("  {label:>3}  {count:>7}  {bar}")?;
    }
    Ok(())
}
