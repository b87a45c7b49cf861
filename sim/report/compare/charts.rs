//! The comparison's charts (inline SVG in the page's palette, `report::chart`): margin and
//! Gini by pricing as horizontal bars, one colour per run, and margin against Gini. Floats
//! only place marks: the figures are comparison.json's.

use super::{Comparison, Row};
use crate::report::chart::{self, Axis};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Characters of a pricing's label on an axis; longer ones end in "…".
const LABEL_CHARS: usize = 38;
/// Pixels per bar, and the chart's height around the bars.
const BAR_PX: u32 = 24;
const FRAME_PX: u32 = 12 * 2 + 45;
/// The pricings' labels left of the bars.
const LABELS_PX: u32 = 270;

fn thousand_eur(cents: i64) -> f64 {
    cents as f64 / 100_000.0
}

fn one_decimal(v: &f64) -> String {
    format!("{v:.1}")
}

fn two_decimals(v: &f64) -> String {
    format!("{v:.2}")
}

fn short(label: &str) -> String {
    match label.chars().count() > LABEL_CHARS {
        true => label.chars().take(LABEL_CHARS - 1).chain(['…']).collect(),
        false => label.to_string(),
    }
}

/// The rows that have `value`, with it.
fn having(c: &Comparison, value: impl Fn(&Row) -> Option<f64>) -> Vec<(&Row, f64)> {
    c.rows
        .iter()
        .filter_map(|r| value(r).map(|v| (r, v)))
        .collect()
}

/// The runs that have a mark on a chart, for its legend: (index, label).
fn runs_shown<'a>(c: &'a Comparison, rows: impl Iterator<Item = &'a Row>) -> Vec<(usize, &'a str)> {
    let mut shown: Vec<usize> = rows.map(|r| r.run).collect();
    shown.sort_unstable();
    shown.dedup();
    shown
        .into_iter()
        .map(|k| (k, c.runs[k].label.as_str()))
        .collect()
}

/// The legend's size in pixels: a row per run, as wide as the longest label (about 7 px a
/// character at 12 px, the swatch and the frame).
fn legend_px(runs: &[(usize, &str)]) -> (f64, f64) {
    let chars = runs
        .iter()
        .map(|(_, l)| l.chars().count())
        .max()
        .unwrap_or(0);
    (60.0 + 7.0 * chars as f64, 35.0 + 15.0 * runs.len() as f64)
}

/// How much of a range's span to add so that `px` of `total` pixels stay free beyond it.
fn room(px: f64, total: f64) -> f64 {
    px / (total - px).max(total * 0.3)
}

/// A range holding 0 and every value, with room on the right for a legend `legend` pixels
/// wide on a plot `plot` pixels wide.
fn x_range(values: &[(&Row, f64)], legend: f64, plot: f64) -> std::ops::Range<f64> {
    let lo = values.iter().map(|v| v.1).fold(0.0, f64::min);
    let hi = values.iter().map(|v| v.1).fold(0.0, f64::max);
    let span = (hi - lo).max(1e-3);
    lo - span * 0.03..hi + span * (room(legend + 20.0, plot) + 0.03)
}

/// Margin (revenue − cost to serve) by pricing.
pub fn margin_bars(c: &Comparison) -> Result<String, String> {
    let bars = having(c, |r| r.margin_cents.map(thousand_eur));
    if bars.is_empty() {
        return Err("no run simulated the field ([service]): no cost to serve, no margin".into());
    }
    let desc = format!("margin over the run (thousand {})", c.currency);
    bars_chart(c, &bars, &desc, &one_decimal)
}

/// Gini of the price per mounting by pricing (0: every mounting costs the same).
pub fn gini_bars(c: &Comparison) -> Result<String, String> {
    let bars = having(c, |r| r.gini);
    if bars.is_empty() {
        return Err("no run priced alternatives: no Gini was computed".into());
    }
    let desc = "Gini of the price per mounting (0: all pay the same)";
    bars_chart(c, &bars, desc, &two_decimals)
}

/// One horizontal bar per pricing, top to bottom in comparison.json's order, coloured by run.
fn bars_chart(
    c: &Comparison,
    bars: &[(&Row, f64)],
    desc: &str,
    format: &dyn Fn(&f64) -> String,
) -> Result<String, String> {
    let n = bars.len();
    let labels: Vec<String> = bars.iter().rev().map(|(r, _)| short(&r.label)).collect();
    let name = |y: &f64| chart::category_label(&labels, *y);
    let height = FRAME_PX + BAR_PX * n.max(2) as u32;
    let runs = runs_shown(c, bars.iter().map(|(r, _)| *r));
    let plot = f64::from(chart::WIDTH - 12 - 30 - LABELS_PX);
    let x = x_range(bars, legend_px(&runs).0, plot);
    chart::draw_sized((chart::WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(45)
            .y_label_area_size(LABELS_PX)
            .build_cartesian_2d(x, chart::categories(n))
            .map_err(|e| e.to_string())?;
        chart::mesh(
            &mut chart,
            Axis {
                desc,
                labels: 8,
                format,
            },
            Axis {
                desc: "",
                labels: n,
                format: &name,
            },
        )?;
        for (k, label) in runs {
            let color = chart::series(k);
            let mine = bars.iter().enumerate().filter(|(_, (r, _))| r.run == k);
            let rects = mine.map(|(i, (_, v))| {
                let y = (n - 1 - i) as f64;
                chart::bar((0.0, *v), (y - 0.35, y + 0.35), color)
            });
            chart
                .draw_series(rects)
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(chart::swatch(color));
        }
        chart::legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// One point per pricing with both figures: Gini across, margin up, named by its pricing.
pub fn margin_vs_gini(c: &Comparison) -> Result<String, String> {
    let points: Vec<(&Row, (f64, f64))> = c
        .rows
        .iter()
        .filter_map(|r| Some((r, (r.gini?, thousand_eur(r.margin_cents?)))))
        .collect();
    if points.is_empty() {
        return Err("no pricing has both a margin and a Gini (alternatives with the field)".into());
    }
    let runs = runs_shown(c, points.iter().map(|(r, _)| *r));
    let (x_lo, x_hi) = bounds(points.iter().map(|p| p.1 .0));
    let (y_lo, y_hi) = bounds(points.iter().map(|p| p.1 .1));
    // Above the highest point, room for the legend (top right) to hide none.
    let plot = f64::from(chart::HEIGHT - FRAME_PX);
    let x = pad(x_lo, x_hi, 0.08, 0.2);
    let y = pad(y_lo, y_hi, 0.1, room(legend_px(&runs).1 + 10.0, plot));
    let desc = format!("margin over the run (thousand {})", c.currency);
    chart::draw(|root| {
        let mut chart = chart::axes(&root, x, y)?;
        chart::mesh(
            &mut chart,
            Axis {
                desc: "Gini of the price per mounting (left: more even)",
                labels: 8,
                format: &two_decimals,
            },
            Axis {
                desc: &desc,
                labels: 8,
                format: &one_decimal,
            },
        )?;
        let style = ("sans-serif", 10)
            .into_font()
            .color(&chart::INK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (k, label) in runs {
            let color = chart::series(k);
            // The dot, and the pricing's id just right of it (offsets in pixels).
            let marks = points.iter().filter(|(r, _)| r.run == k).map(|(r, p)| {
                EmptyElement::at(*p)
                    + Circle::new((0, 0), 4, color.filled())
                    + Text::new(r.pricing.clone(), (7, 0), style.clone())
            });
            chart
                .draw_series(marks)
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(chart::swatch(color));
        }
        chart::legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// `lo..hi` widened by `below` and `above` of its span (never empty).
fn pad(lo: f64, hi: f64, below: f64, above: f64) -> std::ops::Range<f64> {
    let span = (hi - lo).max(hi.abs().max(1.0) * 0.02);
    lo - span * below..hi + span * above
}
