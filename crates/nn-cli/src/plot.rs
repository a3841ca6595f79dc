//! `nn-cli plot`: loss and accuracy per epoch, training and validation (and test when logged),
//! as one chart with two panels, PNG or SVG by the output's extension; or, with `--function`,
//! activation functions (`function_chart.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args};
use nn_train::EpochReport;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart_file::chart_bytes;
use crate::files::write_atomically;
use crate::function_chart;
use crate::output::outln;

#[derive(Args)]
#[command(group(ArgGroup::new("chart").required(true).args(["metrics", "function"])))]
pub struct PlotArgs {
    /// The metrics log written by `nn-cli train` (one JSON object per epoch).
    pub metrics: Option<PathBuf>,
    /// Draw activation functions instead, from nn-core's own code, on one chart: names separated
    /// by commas among step, sigmoid, tanh, relu, leaky_relu[:SLOPE], identity and softmax
    /// (a vector function: drawn as the first output of softmax(x, 0), which is sigmoid(x)).
    #[arg(long, value_name = "NAMES")]
    pub function: Option<String>,
    /// The x range of --function: LOW,HIGH [default: -5,5, as the book's figures].
    #[arg(long, value_name = "LOW,HIGH", conflicts_with = "metrics", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// The chart to write: .png or .svg.
    #[arg(short, long)]
    pub output: PathBuf,
}

const DARK_GREEN: RGBColor = RGBColor(0, 150, 0);
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 450;

/// One line of a panel: a name, a colour and a value per epoch.
struct Series {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

pub fn run(args: &PlotArgs) -> Result<()> {
    let Some(metrics) = &args.metrics else {
        // clap requires one of the two.
        let names = args.function.as_deref().unwrap_or_default();
        return function_chart::run(names, args.range.as_deref(), &args.output);
    };
    let reports = read_metrics(metrics)?;
    let title = metrics.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = chart_bytes(
        &args.output,
        (WIDTH, HEIGHT),
        |root| draw(root, &reports, &title),
        |root| draw(root, &reports, &title),
    )?;
    write_atomically(&args.output, &bytes)?;
    outln!("wrote {} ({} epochs)", args.output.display(), reports.len())?;
    Ok(())
}

fn read_metrics(path: &Path) -> Result<Vec<EpochReport>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reports = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let report: EpochReport = serde_json::from_str(line).with_context(|| {
            format!("{}, line {}: not a metrics record of `nn-cli train`", path.display(), number + 1)
        })?;
        reports.push(report);
    }
    if reports.is_empty() {
        bail!("{} holds no epoch to plot", path.display());
    }
    Ok(reports)
}

fn draw<B: DrawingBackend>(root: &DrawingArea<B, Shift>, reports: &[EpochReport], title: &str) -> Result<()> {
    let fail = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow::anyhow!("cannot draw the chart: {e}");
    root.fill(&WHITE).map_err(fail)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(fail)?;
    let (left, right) = root.split_horizontally(WIDTH / 2);
    let batches = batches_per_epoch(reports);
    let epoch = |r: &EpochReport| position(r, batches);
    let series = |name, color, value: &dyn Fn(&EpochReport) -> Option<f64>| Series {
        name,
        color,
        points: reports.iter().filter_map(|r| value(r).map(|v| (epoch(r), v))).collect(),
    };
    let losses = [
        series("training", BLUE, &|r| Some(f64::from(r.train_loss))),
        series("validation", RED, &|r| r.validation.as_ref().map(|m| f64::from(m.loss))),
        series("test", DARK_GREEN, &|r| r.test.as_ref().map(|m| f64::from(m.loss))),
    ];
    let accuracies = [
        series("training", BLUE, &|r| r.train_accuracy.map(|a| 100.0 * f64::from(a))),
        series("validation", RED, &|r| r.validation.as_ref().map(|m| 100.0 * f64::from(m.accuracy))),
        series("test", DARK_GREEN, &|r| r.test.as_ref().map(|m| 100.0 * f64::from(m.accuracy))),
    ];
    panel(&left, "loss", &losses).map_err(fail)?;
    panel(&right, "accuracy (%)", &accuracies).map_err(fail)?;
    Ok(())
}

/// Batches per epoch, from a complete record that counts its steps (logs of `--eval-every`).
fn batches_per_epoch(reports: &[EpochReport]) -> Option<usize> {
    reports.iter().find(|r| !r.partial && r.epoch > 0).and_then(|r| r.step.map(|step| step / r.epoch))
}

/// Where a record sits on the epoch axis: `epoch` at the end of an epoch, `epoch − 1 + done /
/// batches` for a partial record (half-way when the epoch's length is unknown).
fn position(report: &EpochReport, batches: Option<usize>) -> f64 {
    if !report.partial {
        return report.epoch as f64;
    }
    let start = report.epoch.saturating_sub(1) as f64;
    match (report.step, batches) {
        (Some(step), Some(batches)) if batches > 0 => {
            start + step.saturating_sub(report.epoch.saturating_sub(1) * batches) as f64 / batches as f64
        }
        _ => start + 0.5,
    }
}

fn panel<B: DrawingBackend>(
    area: &DrawingArea<B, Shift>,
    y_label: &str,
    all: &[Series],
) -> Result<(), DrawingAreaErrorKind<B::ErrorType>> {
    let drawn: Vec<&Series> = all.iter().filter(|s| !s.points.is_empty()).collect();
    let values = drawn.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low.is_finite() { (low, high) } else { (0.0, 1.0) };
    let margin = ((high - low) * 0.08).max(1e-6);
    let last_epoch = drawn.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(1.0, f64::max);
    // Partial records of the first epoch sit between 0 and 1.
    let first_epoch = drawn.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(1.0, f64::min);
    let axis_start = (first_epoch - 0.5).clamp(0.0, 0.5);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(axis_start..last_epoch + 0.5, (low - margin)..(high + margin))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(10)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for s in drawn {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}
