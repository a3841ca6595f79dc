//! Charts as files: the font every chart draws with, and a drawing encoded as PNG or SVG by the
//! output's extension. `plot.rs` (training curves), `function_chart.rs` (activation functions)
//! and `sweep_chart.rs` (a sweep's scores) draw; this writes what they draw.

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

/// A font shipped with the tool (DejaVu Sans Mono, see assets/DejaVu-LICENSE.txt), so charts
/// look the same on every machine and need no system font library.
pub(crate) const FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// A chart of `size` pixels drawn by `draw_png` or `draw_svg` (the same drawing on the two
/// backends), encoded as the extension of `output` asks: PNG or SVG, anything else refused.
pub(crate) fn chart_bytes(
    output: &Path,
    (width, height): (u32, u32),
    draw_png: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
    draw_svg: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    let extension = output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(extension.as_deref(), Some("png" | "svg")) {
        bail!("{}: the chart must end in .png or .svg", output.display());
    }
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the built-in font cannot be read"))?;
    if extension.as_deref() == Some("svg") {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            draw_svg(&root)?;
            root.present().map_err(|e| anyhow::anyhow!("cannot draw the chart: {e}"))?;
        }
        return Ok(svg.into_bytes());
    }
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw_png(&root)?;
        root.present().map_err(|e| anyhow::anyhow!("cannot draw the chart: {e}"))?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels).context("chart buffer size")?;
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}
