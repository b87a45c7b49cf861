//! What every chart of index.html shares: one palette (muted, told apart by people with a
//! colour-vision deficiency: Okabe and Ito's), the canvas, the axes and their labels, the
//! legend's frame. Floats here only place marks on a chart: no money is computed with them.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 320;

/// Series colours, in the order a chart's series take them.
pub const SERIES: [RGBColor; 6] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(213, 94, 0),    // vermilion
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
];
/// Text, axes, the mesh, and reference lines (bounds, x = y, promises).
pub const INK: RGBColor = RGBColor(34, 34, 34);
pub const AXIS: RGBColor = RGBColor(110, 110, 110);
pub const GRID: RGBColor = RGBColor(232, 232, 232);
pub const REFERENCE: RGBColor = RGBColor(90, 90, 90);

/// The i-th series colour (cycling).
pub fn series(i: usize) -> RGBColor {
    SERIES[i % SERIES.len()]
}

pub type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
pub type Root<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// An axis: its description (with the unit), how many labels, how a value reads.
pub struct Axis<'f> {
    pub desc: &'f str,
    pub labels: usize,
    pub format: &'f dyn Fn(&f64) -> String,
}

/// Whole numbers, for counts and euros.
pub fn whole(v: &f64) -> String {
    format!("{v:.0}")
}

/// An x range of `n` categories (months), each centred on its index.
pub fn categories(n: usize) -> std::ops::Range<f64> {
    -0.5..n.max(1) as f64 - 0.5
}

/// The label of the category at x, only at its centre (no label between two months).
pub fn category_label(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

/// Renders a chart of the standard size into an SVG string.
pub fn draw(f: impl FnOnce(Root) -> Result<(), String>) -> Result<String, String> {
    draw_sized((WIDTH, HEIGHT), f)
}

pub fn draw_sized(
    size: (u32, u32),
    f: impl FnOnce(Root) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f(root.clone())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A chart with fleetsim's margins over `x` × `y`.
pub fn axes<'a, 'b>(
    root: &'a Root<'b>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>, String> {
    ChartBuilder::on(root)
        .margin(12)
        // Room for the last x label, centred on the right edge.
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())
}

/// The mesh in the palette's greys, both axes described.
pub fn mesh(chart: &mut Chart, x: Axis, y: Axis) -> Result<(), String> {
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .axis_style(AXIS)
        .label_style(("sans-serif", 12).into_font().color(&INK))
        .axis_desc_style(("sans-serif", 13).into_font().color(&INK))
        .x_labels(x.labels)
        .y_labels(y.labels)
        .x_desc(x.desc)
        .y_desc(y.desc)
        .x_label_formatter(x.format)
        .y_label_formatter(y.format)
        .draw()
        .map_err(|e| e.to_string())
}

/// The legend of the series drawn with `.label(…)`, framed, where it hides least.
pub fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(AXIS)
        .label_font(("sans-serif", 12).into_font().color(&INK))
        .draw()
        .map_err(|e| e.to_string())
}

/// A bar from (x0, y0) to (x1, y1).
pub fn bar(x: (f64, f64), y: (f64, f64), color: RGBColor) -> Rectangle<(f64, f64)> {
    Rectangle::new([(x.0, y.0), (x.1, y.1)], color.filled())
}

/// The legend's mark for a filled series (bars, points).
pub fn swatch(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
}

/// The legend's mark for a line series.
pub fn stroke(color: RGBColor, width: u32) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(width))
}

/// A vertical reference line at `x` over `y`, dashed, with a short label just above its top
/// (clear of lines along `y.end`: leave room for it above the range).
pub fn marker(
    chart: &mut Chart,
    x: f64,
    y: std::ops::Range<f64>,
    color: RGBColor,
    label: &str,
) -> Result<(), String> {
    let steps = 24;
    let step = (y.end - y.start) / f64::from(steps);
    let dashes = (0..steps).step_by(2).map(|i| {
        let from = y.start + step * f64::from(i);
        PathElement::new(vec![(x, from), (x, from + step)], color.stroke_width(2))
    });
    chart.draw_series(dashes).map_err(|e| e.to_string())?;
    let style = ("sans-serif", 11)
        .into_font()
        .color(&color)
        .pos(Pos::new(HPos::Left, VPos::Bottom));
    let above = y.end + (y.end - y.start) * 0.02;
    chart
        .draw_series(std::iter::once(Text::new(
            format!(" {label}"),
            (x, above),
            style,
        )))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A top for a y axis holding `max`: 10 % headroom, never 0.
pub fn headroom(max: f64) -> f64 {
    max.max(1.0) * 1.1
}

/// A top for a y axis holding `max` that leaves a legend of `rows` at the top of a chart
/// `height` pixels tall clear of the data (a legend row is about 15 px, its frame 25).
pub fn headroom_for_legend(max: f64, rows: usize, height: u32) -> f64 {
    let plot = f64::from(height.saturating_sub(12 * 2 + 45).max(1));
    let legend = (15 * rows + 25) as f64;
    max.max(1.0) * 1.05 / (1.0 - legend / plot).max(0.3)
}
