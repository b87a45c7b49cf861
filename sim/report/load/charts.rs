//! The load report's charts over the run's seconds, in the run report's palette: latency
//! from the schedule (log scale), throughput offered vs acknowledged, errors by class.
//! Each point sits at the middle of its second. Floats here only place marks on a chart.

use crate::load::series::SecondRow;
use crate::load::LoadReport;
use crate::report::chart::{self, Axis, Chart};
use plotters::prelude::*;

/// The seconds axis, shared by the three charts.
fn seconds_axis(rows: &[SecondRow]) -> std::ops::Range<f64> {
    0.0..rows.len().max(1) as f64
}

fn seconds_label(x: &f64) -> String {
    format!("{x:.0}")
}

const SECONDS: &str = "seconds since the start";

/// A line of a chart: its legend, its value in a second, its colour in the palette.
type Line = (&'static str, fn(&SecondRow) -> u64, usize);

/// The points' size: marked while a second is wide enough to see (a single second, or a
/// short run, is a point, not a line); on long runs the line alone.
fn dots(rows: &[SecondRow]) -> u32 {
    if rows.len() <= 120 {
        3
    } else {
        0
    }
}

/// A closed loop has no schedule: its latency is the service time, its offer what it sent.
pub(super) fn closed_loop(r: &LoadReport) -> bool {
    r.mode == "max"
}

/// A latency in ms on a log axis: the exponent of ten.
fn log_ms(us: u64) -> f64 {
    (us.max(1) as f64 / 1e3).log10()
}

/// An exponent of ten as the latency it stands for: 0.01 ms, 1 ms, 100 ms, 1 s, 10 s.
fn decade_label(v: &f64) -> String {
    let ms = 10f64.powf(*v);
    if ms >= 1_000.0 {
        format!("{:.0} s", ms / 1e3)
    } else if ms >= 1.0 {
        format!("{ms:.0} ms")
    } else {
        let decimals = (-v.floor()) as usize;
        format!("{ms:.decimals$} ms")
    }
}

pub fn latency(r: &LoadReport) -> Result<String, String> {
    let rows = &r.series;
    let answered: Vec<&SecondRow> = rows.iter().filter(|s| s.latency_max_us > 0).collect();
    if answered.is_empty() {
        return Err("no answer was timed".into());
    }
    let low = answered
        .iter()
        .map(|s| log_ms(s.latency_p50_us))
        .fold(f64::MAX, f64::min);
    let high = answered
        .iter()
        .map(|s| log_ms(s.latency_max_us))
        .fold(f64::MIN, f64::max);
    // Whole decades, one more on top for the legend.
    let (bottom, top) = (low.floor(), high.ceil().max(low.floor() + 1.0) + 1.0);
    let lines: [Line; 3] = [
        ("p50", |s| s.latency_p50_us, 0),
        ("p99", |s| s.latency_p99_us, 1),
        ("max", |s| s.latency_max_us, 3),
    ];
    chart::draw(|root| {
        let mut c = chart::axes(&root, seconds_axis(rows), bottom..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: SECONDS,
                labels: rows.len().clamp(2, 20),
                format: &seconds_label,
            },
            Axis {
                desc: if closed_loop(r) {
                    "latency: service time (ms, log scale)"
                } else {
                    "latency from the schedule (ms, log scale)"
                },
                labels: (top - bottom) as usize + 1,
                format: &decade_label,
            },
        )?;
        stall_bands(&mut c, r, bottom..top)?;
        for (name, value, colour) in lines {
            let color = chart::series(colour);
            let points = rows
                .iter()
                .filter(|s| s.latency_max_us > 0)
                .map(|s| (s.second as f64 + 0.5, log_ms(value(s))));
            c.draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(dots(rows)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(chart::stroke(color, 2));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

/// The stalls as light bands over the whole height, one legend entry.
fn stall_bands(c: &mut Chart, r: &LoadReport, y: std::ops::Range<f64>) -> Result<(), String> {
    if r.stalls.is_empty() {
        return Ok(());
    }
    let color = chart::series(3);
    let bands = r.stalls.iter().map(|s| {
        Rectangle::new(
            [(s.start_s, y.start), (s.end_s, y.end)],
            color.mix(0.15).filled(),
        )
    });
    c.draw_series(bands)
        .map_err(|e| e.to_string())?
        .label("stall")
        .legend(chart::swatch(color));
    Ok(())
}

pub fn throughput(r: &LoadReport) -> Result<String, String> {
    let rows = &r.series;
    let max = rows
        .iter()
        .map(|s| s.events_due.max(s.events_acknowledged))
        .max()
        .unwrap_or(0) as f64;
    let top = chart::headroom_for_legend(max, 2, chart::HEIGHT);
    let offered = if closed_loop(r) {
        "events sent"
    } else {
        "events due (offered)"
    };
    let lines: [Line; 2] = [
        (offered, |s| s.events_due, 5),
        ("events acknowledged", |s| s.events_acknowledged, 0),
    ];
    chart::draw(|root| {
        let mut c = chart::axes(&root, seconds_axis(rows), 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: SECONDS,
                labels: rows.len().clamp(2, 20),
                format: &seconds_label,
            },
            Axis {
                desc: "events per second",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        stall_bands(&mut c, r, 0.0..top)?;
        // The offer wide and underneath: where everything due is acknowledged, both show.
        for ((name, value, colour), width) in lines.into_iter().zip([5, 2]) {
            let color = chart::series(colour);
            let points = rows
                .iter()
                .map(|s| (s.second as f64 + 0.5, value(s) as f64));
            c.draw_series(
                LineSeries::new(points, color.stroke_width(width)).point_size(dots(rows)),
            )
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(chart::stroke(color, width));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

/// Stacked bars a second wide, one colour per class (the classes in name order).
pub fn errors(r: &LoadReport) -> Result<String, String> {
    let rows = &r.series;
    let classes: Vec<&String> = r.errors_by_class.keys().collect();
    let max = rows
        .iter()
        .map(|s| s.errors.values().sum::<u64>())
        .max()
        .unwrap_or(0) as f64;
    let top = if classes.is_empty() {
        1.0
    } else {
        chart::headroom_for_legend(max, classes.len(), chart::HEIGHT)
    };
    chart::draw(|root| {
        let mut c = chart::axes(&root, seconds_axis(rows), 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: SECONDS,
                labels: rows.len().clamp(2, 20),
                format: &seconds_label,
            },
            Axis {
                desc: "requests in error per second",
                // Whole steps: a count of 3 is not labelled 0.5, 1, 1.5 ….
                labels: (top.floor() as usize + 1).clamp(2, 8),
                format: &chart::whole,
            },
        )?;
        if classes.is_empty() {
            let style = ("sans-serif", 14).into_font().color(&chart::INK);
            let middle = (rows.len().max(1) as f64 / 2.0, top / 2.0);
            c.draw_series(std::iter::once(Text::new("no errors", middle, style)))
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        for (k, class) in classes.iter().enumerate() {
            let color = chart::series(k);
            let bars = rows.iter().filter_map(|s| {
                let n = s.errors.get(*class).copied().unwrap_or(0);
                let below: u64 = classes[..k]
                    .iter()
                    .map(|c| s.errors.get(*c).copied().unwrap_or(0))
                    .sum();
                let x = s.second as f64;
                (n > 0).then(|| {
                    chart::bar(
                        (x + 0.1, x + 0.9),
                        (below as f64, (below + n) as f64),
                        color,
                    )
                })
            });
            c.draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(class.as_str())
                .legend(chart::swatch(color));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_read_as_latencies() {
        let labels: Vec<String> = [-2.0, -1.0, 0.0, 2.0, 3.0, 4.0]
            .iter()
            .map(decade_label)
            .collect();
        assert_eq!(
            labels,
            ["0.01 ms", "0.1 ms", "1 ms", "100 ms", "1 s", "10 s"]
        );
        assert_eq!(log_ms(1_000), 0.0);
        assert_eq!(log_ms(100_000), 2.0);
    }
}
