//! `nn-cli plot --function`: activation functions drawn over a range on one chart, as in Saitō's
//! chapter 3 (step and sigmoid together in Figure 3-8, ReLU in Figure 3-9, from −5 to 5). Every
//! value drawn is computed by nn-core's own functions, the code networks run.

use std::fmt;
use std::path::Path;

use anyhow::{Result, bail};
use nn_core::Activation;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart_file::chart_bytes;
use crate::files::write_atomically;
use crate::output::outln;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 500;
/// Points per curve, evenly spaced over the range ends included (the book's `np.arange(-5.0,
/// 5.0, 0.1)` has 100): enough for the step's jump to look vertical.
const POINTS: usize = 1001;
/// The range of x when none is given, that of the book's figures.
const DEFAULT_RANGE: (f32, f32) = (-5.0, 5.0);
/// Colours in the order the functions are named.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 90, 200),
    RGBColor(220, 30, 30),
    RGBColor(0, 150, 0),
    RGBColor(230, 130, 0),
    RGBColor(150, 0, 180),
    RGBColor(0, 0, 0),
    RGBColor(0, 170, 170),
];
/// The names `--function` knows, for its error.
const KNOWN: &str = "step, sigmoid, tanh, relu, leaky_relu (or leaky_relu:SLOPE, SLOPE in [0, 1)), identity, softmax";

/// A function that can be drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Function {
    /// An element-wise activation, `Activation::apply`.
    Activation(Activation),
    /// The first output of softmax over the two values `(x, 0)`: `e^x / (e^x + 1)`, which is
    /// sigmoid(x). Softmax maps a vector to a vector, so one curve of it needs the other
    /// inputs fixed; this is the simplest such curve, and it says so in the legend.
    Softmax,
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Function::Activation(activation) => write!(f, "{activation}"),
            Function::Softmax => f.write_str("softmax(x, 0)[0] = sigmoid(x)"),
        }
    }
}

impl Function {
    /// `f(x)` at every `x`, by nn-core.
    fn values(self, xs: &[f32]) -> Vec<f32> {
        match self {
            Function::Activation(activation) => {
                let mut values = xs.to_vec();
                activation.apply(&mut values);
                values
            }
            Function::Softmax => xs.iter().map(|&x| nn_core::softmax::softmax(&[x, 0.0])[0]).collect(),
        }
    }

    /// The step and softmax are dashed: the step as in the book's Figure 3-8, softmax so that
    /// the sigmoid it equals shows beneath it.
    fn dashed(self) -> bool {
        matches!(self, Function::Activation(Activation::Step) | Function::Softmax)
    }
}

/// `step,sigmoid`: the functions named, in order; refuses an unknown name (listing the known
/// ones) and a name given twice.
fn parse_functions(text: &str) -> Result<Vec<Function>> {
    let mut functions = Vec::new();
    for name in text.split(',').map(str::trim) {
        let function = match name.to_ascii_lowercase().as_str() {
            "softmax" => Function::Softmax,
            "" => bail!("--function {text:?} names no function between two commas: the functions are {KNOWN}"),
            lower if lower.starts_with("leaky_relu:") => Function::Activation(name.parse()?),
            _ => match name.parse() {
                Ok(activation) => Function::Activation(activation),
                Err(_) => bail!("unknown function {name:?}: the functions are {KNOWN}"),
            },
        };
        if functions.contains(&function) {
            bail!("--function names {function} twice");
        }
        functions.push(function);
    }
    Ok(functions)
}

/// `-5,5`: two finite numbers, the first below the second.
fn parse_range(text: &str) -> Result<(f32, f32)> {
    let bounds: Vec<Option<f32>> = text.split(',').map(|part| part.trim().parse().ok()).collect();
    match bounds.as_slice() {
        &[Some(low), Some(high)] if low.is_finite() && high.is_finite() && low < high => Ok((low, high)),
        _ => bail!("--range {text:?}: give LOW,HIGH, two finite numbers with LOW < HIGH, such as -5,5"),
    }
}

/// One curve: its legend, colour, style and points.
struct Curve {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The curves of `functions` over `[low, high]`.
fn curves(functions: &[Function], (low, high): (f32, f32)) -> Vec<Curve> {
    let step = (f64::from(high) - f64::from(low)) / (POINTS - 1) as f64;
    let xs: Vec<f32> = (0..POINTS).map(|i| (f64::from(low) + step * i as f64) as f32).collect();
    functions
        .iter()
        .enumerate()
        .map(|(index, &function)| Curve {
            label: function.to_string(),
            color: PALETTE[index % PALETTE.len()],
            dashed: function.dashed(),
            points: xs.iter().zip(function.values(&xs)).map(|(&x, y)| (f64::from(x), f64::from(y))).collect(),
        })
        .collect()
}

pub fn run(names: &str, range: Option<&str>, output: &Path) -> Result<()> {
    let functions = parse_functions(names)?;
    let range = range.map(parse_range).transpose()?.unwrap_or(DEFAULT_RANGE);
    let curves = curves(&functions, range);
    // Values beyond f32 (an identity over ±1e38) would give the chart no finite height.
    if let Some(curve) = curves.iter().find(|c| c.points.iter().any(|p| !p.1.is_finite())) {
        bail!(
            "{} is not finite over --range {},{}: choose a narrower range",
            curve.label,
            number(range.0),
            number(range.1)
        );
    }
    let bytes =
        chart_bytes(output, (WIDTH, HEIGHT), |root| draw(root, &curves, range), |root| draw(root, &curves, range))?;
    write_atomically(output, &bytes)?;
    let labels: Vec<&str> = curves.iter().map(|c| c.label.as_str()).collect();
    let (low, high) = (number(range.0), number(range.1));
    outln!("wrote {} ({WIDTH}x{HEIGHT}): {} for x from {low} to {high}", output.display(), labels.join(", "))?;
    Ok(())
}

/// An axis label: `-5`, `0.25`, or `1.5e38` beyond the range plain decimals read well in.
fn tick(value: f64) -> String {
    if value != 0.0 && !(1e-3..1e5).contains(&value.abs()) {
        return format!("{value:.1e}");
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}

/// `5`, `-0.25`, or `3e38` and `1e-30` where the plain form would run to dozens of digits.
fn number(x: f32) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) { format!("{x:e}") } else { x.to_string() }
}

fn draw<B: DrawingBackend>(root: &DrawingArea<B, Shift>, curves: &[Curve], (low, high): (f32, f32)) -> Result<()> {
    let fail = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow::anyhow!("cannot draw the chart: {e}");
    let values = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (bottom, top) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // The book's charts leave a tenth of the height around [0, 1] (ylim(-0.1, 1.1)).
    let margin = ((top - bottom) * 0.1).max(0.1);
    root.fill(&WHITE).map_err(fail)?;
    let title = if curves.len() == 1 { curves[0].label.clone() } else { "activation functions".to_string() };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(f64::from(low)..f64::from(high), (bottom - margin)..(top + margin))
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("x")
        .y_desc("f(x)")
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&|&x| tick(x))
        .y_label_formatter(&|&y| tick(y))
        .draw()
        .map_err(fail)?;
    // The axes through the origin, where the range holds it.
    let axis = BLACK.mix(0.35).stroke_width(1);
    if bottom - margin < 0.0 && 0.0 < top + margin {
        let line = [(f64::from(low), 0.0), (f64::from(high), 0.0)];
        chart.draw_series(LineSeries::new(line, axis)).map_err(fail)?;
    }
    if low < 0.0 && 0.0 < high {
        chart.draw_series(LineSeries::new([(0.0, bottom - margin), (0.0, top + margin)], axis)).map_err(fail)?;
    }
    for curve in curves {
        let style = curve.color.stroke_width(2);
        let color = curve.color;
        let drawn = if curve.dashed {
            chart.draw_series(DashedLineSeries::new(curve.points.iter().copied(), 8, 5, style)).map_err(fail)?
        } else {
            chart.draw_series(LineSeries::new(curve.points.iter().copied(), style)).map_err(fail)?
        };
        let dashed = curve.dashed;
        drawn.label(curve.label.as_str()).legend(move |(x, y)| {
            let end = if dashed { 9 } else { 20 };
            PathElement::new(vec![(x, y), (x + end, y)], color.stroke_width(2))
        });
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_in_order_and_bad_ones_refused_with_the_known_ones() {
        let functions = parse_functions("step, Sigmoid,softmax,leaky_relu:0.2").unwrap();
        assert_eq!(
            functions,
            [
                Function::Activation(Activation::Step),
                Function::Activation(Activation::Sigmoid),
                Function::Softmax,
                Function::Activation(Activation::LeakyRelu { slope: 0.2 })
            ]
        );
        let error = |text| parse_functions(text).unwrap_err().to_string();
        assert_eq!(error("sigmoid,swish"), format!("unknown function \"swish\": the functions are {KNOWN}"));
        assert!(error("relu,,tanh").contains("names no function"));
        assert!(error("relu,relu").contains("names relu twice"));
        assert!(error("leaky_relu:2").contains("is not in [0, 1)"), "{}", error("leaky_relu:2"));
        assert_eq!(parse_range(" -2.5, 3").unwrap(), (-2.5, 3.0));
        let numbers = [number(-5.0), number(0.0), number(0.25), number(-3e38), number(1e-30)];
        assert_eq!(numbers, ["-5", "0", "0.25", "-3e38", "1e-30"]);
        let ticks = [tick(-5.0), tick(0.0), tick(-0.0001), tick(0.2), tick(1.5e38), tick(2.5e-7), tick(12345.0)];
        assert_eq!(ticks, ["-5", "0", "-1.0e-4", "0.2", "1.5e38", "2.5e-7", "12345"]);
        for bad in ["5,-5", "1,1", "0,inf", "1", "a,b", "1,2,3"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_values_are_nn_cores_and_softmax_of_x_and_0_is_the_sigmoid() {
        let xs = [-5.0, -0.5, 0.0, 0.5, 5.0];
        assert_eq!(Function::Activation(Activation::Step).values(&xs), [0.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(Function::Activation(Activation::Relu).values(&xs), [0.0, 0.0, 0.0, 0.5, 5.0]);
        for (softmax, x) in Function::Softmax.values(&xs).iter().zip(xs) {
            assert!((softmax - nn_core::sigmoid(x)).abs() < 1e-6, "{softmax} at {x}");
        }
        let curves = curves(&[Function::Activation(Activation::Identity)], (-5.0, 5.0));
        let points = &curves[0].points;
        assert_eq!(
            (points.len(), points[0], points[500], points[1000]),
            (POINTS, (-5.0, -5.0), (0.0, 0.0), (5.0, 5.0))
        );
    }
}
