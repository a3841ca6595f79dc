//! The chart of a sweep's report: the validation accuracy of each finished trial against each
//! field the sweep sets, one panel per field (a log axis for rates that span decades, one
//! column per value for values that are not numbers).

use std::path::Path;

use anyhow::{Context, Result};
use nn_train::sweep::report::{Report, score_by_field};
use nn_train::sweep::trials::compact;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use crate::files::write_atomically;

const PANEL_WIDTH: u32 = 420;
const PANEL_HEIGHT: u32 = 340;
const PANELS_PER_ROW: usize = 3;

/// Writes the chart of `report` as a PNG.
pub fn write(path: &Path, report: &Report) -> Result<()> {
    crate::files::refuse_non_png("the chart", path)?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, crate::chart_file::FONT)
        .map_err(|_| anyhow::anyhow!("the built-in font cannot be read"))?;
    // A field given one value was not swept: its panel would be a single column.
    let all = score_by_field(report);
    let swept: Vec<_> = all.iter().filter(|(_, points)| distinct(points) > 1).cloned().collect();
    let panels = if swept.is_empty() { all } else { swept };
    let columns = panels.len().clamp(1, PANELS_PER_ROW);
    let rows = panels.len().div_ceil(PANELS_PER_ROW).max(1);
    let (width, height) = (PANEL_WIDTH * columns as u32, PANEL_HEIGHT * rows as u32 + 40);
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let fail = |e: DrawingAreaErrorKind<_>| anyhow::anyhow!("cannot draw the chart: {e}");
        root.fill(&WHITE).map_err(fail)?;
        let root = root.titled("validation accuracy of each finished trial", ("sans-serif", 20)).map_err(fail)?;
        let areas = root.split_evenly((rows, columns));
        for ((field, points), area) in panels.iter().zip(&areas) {
            panel(area, field, points).map_err(fail)?;
        }
        if panels.is_empty() {
            let style = ("sans-serif", 18).into_font().color(&BLACK);
            root.draw(&Text::new("the sweep sets no field", (20, 40), style)).map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels).context("chart buffer size")?;
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomically(path, &png)
}

fn distinct(points: &[(Value, f32)]) -> usize {
    let mut seen: Vec<&Value> = Vec::new();
    for (value, _) in points {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen.len()
}

/// How values sit on the x axis.
enum Axis {
    /// Numbers, as they are; whole numbers (seeds, epochs) labelled only at whole numbers.
    Linear {
        /// Every value is a whole number.
        whole: bool,
    },
    /// Positive numbers spanning more than a decade: their logarithm.
    Log,
    /// Anything else: one column per distinct value, in the order first met.
    Columns(Vec<String>),
}

fn axis(points: &[(Value, f32)]) -> Axis {
    let numbers: Option<Vec<f64>> = points.iter().map(|(v, _)| v.as_f64()).collect();
    match numbers {
        Some(numbers) if !numbers.is_empty() => {
            let (low, high) = numbers.iter().fold((f64::INFINITY, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            if low > 0.0 && high / low > 10.0 {
                Axis::Log
            } else {
                Axis::Linear { whole: points.iter().all(|(v, _)| v.is_i64() || v.is_u64()) }
            }
        }
        _ => {
            let mut names: Vec<String> = Vec::new();
            for (value, _) in points {
                let name = compact(value);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Axis::Columns(names)
        }
    }
}

fn x_of(axis: &Axis, value: &Value) -> f64 {
    match axis {
        Axis::Linear { .. } => value.as_f64().unwrap_or(0.0),
        Axis::Log => value.as_f64().unwrap_or(1.0).log10(),
        Axis::Columns(names) => names.iter().position(|n| *n == compact(value)).unwrap_or(0) as f64,
    }
}

fn panel<B: DrawingBackend>(
    area: &DrawingArea<B, Shift>,
    field: &str,
    points: &[(Value, f32)],
) -> Result<(), DrawingAreaErrorKind<B::ErrorType>> {
    let axis = axis(points);
    let xy: Vec<(f64, f64)> = points.iter().map(|(v, s)| (x_of(&axis, v), 100.0 * f64::from(*s))).collect();
    let (x_low, x_high) = xy.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (y_low, y_high) = xy.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (x_low, x_high) = if x_low.is_finite() { (x_low, x_high) } else { (0.0, 1.0) };
    let (y_low, y_high) = if y_low.is_finite() { (y_low, y_high) } else { (0.0, 100.0) };
    let span = x_high - x_low;
    let x_margin = match axis {
        Axis::Columns(_) => 0.5,
        Axis::Log => (span * 0.1).max(0.1),
        // A learning rate of 0.001 needs a margin of its own size, a seed one of half a unit.
        Axis::Linear { .. } if span > 0.0 => span * 0.1,
        Axis::Linear { whole } => {
            if whole {
                0.5
            } else {
                (x_high.abs() * 0.1).max(1e-9)
            }
        }
    };
    let y_margin = ((y_high - y_low) * 0.1).max(0.05);
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .caption(field, ("sans-serif", 16))
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (x_low - x_margin)..(x_high + x_margin),
            (y_low - y_margin)..(y_high + y_margin).min(100.5),
        )?;
    let label = |x: &f64| match &axis {
        Axis::Linear { whole: true } if (x - x.round()).abs() > 1e-6 => String::new(),
        Axis::Linear { .. } => format!("{}", (x * 1e6).round() / 1e6 + 0.0),
        Axis::Log => format!("{:.0e}", 10f64.powf(*x)),
        Axis::Columns(names) => {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
    };
    let columns = if let Axis::Columns(names) = &axis { names.len() + 2 } else { 6 };
    chart
        .configure_mesh()
        .x_labels(columns)
        .x_label_formatter(&label)
        .y_desc("validation accuracy (%)")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()?;
    chart.draw_series(xy.iter().map(|&p| Circle::new(p, 5, BLUE.mix(0.7).filled())))?;
    if xy.is_empty() {
        let style = ("sans-serif", 14).into_font().color(&BLACK);
        area.draw(&Text::new("no finished trial yet", (60, PANEL_HEIGHT as i32 / 2), style))?;
    }
    Ok(())
}
