//! The service view's charts (inline SVG, the page's palette: `report::chart`).

use super::figures::{cause_names, Month, ShopEconomics};
use super::quote_check::ShopCheck;
use super::tiers::Tier;
use crate::report::chart::{self, Axis};
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

fn eur(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn f64_of(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Stacked bars: one layer per (label, colour, value per month).
fn stacked_months(
    labels: &[String],
    layers: &[(String, RGBColor, Vec<f64>)],
    y_desc: &str,
) -> Result<String, String> {
    let totals: Vec<f64> = (0..labels.len())
        .map(|m| layers.iter().map(|l| l.2[m]).sum())
        .collect();
    // Room above the bars for the legend, a line per layer.
    let legend_room = 1.0 + 0.2 * layers.len() as f64;
    let top = chart::headroom(totals.iter().copied().fold(0.0, f64::max)) * legend_room;
    let month = |x: &f64| chart::category_label(labels, *x);
    chart::draw(|root| {
        let mut c = chart::axes(&root, chart::categories(labels.len()), 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "month (of the failure)",
                labels: labels.len().min(12),
                format: &month,
            },
            Axis {
                desc: y_desc,
                labels: 8,
                format: &chart::whole,
            },
        )?;
        let mut base = vec![0.0; labels.len()];
        for (name, color, values) in layers {
            let bars: Vec<_> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let bar = chart::bar(
                        (i as f64 - 0.35, i as f64 + 0.35),
                        (base[i], base[i] + v),
                        *color,
                    );
                    base[i] += v;
                    bar
                })
                .collect();
            c.draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(name.as_str())
                .legend(chart::swatch(*color));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

/// 1. Incidents per month, stacked by cause.
pub fn incidents_by_cause(labels: &[String], months: &[Month]) -> Result<String, String> {
    let layers: Vec<_> = cause_names()
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let values = months.iter().map(|m| m.incidents[c] as f64).collect();
            (name.to_string(), chart::series(c), values)
        })
        .collect();
    stacked_months(labels, &layers, "incidents (failures) per month")
}

/// 3a. Lost and waited mountings per month, stacked.
pub fn lost_and_waited(labels: &[String], months: &[Month]) -> Result<String, String> {
    let layers = vec![
        (
            "lost (ordered remote-edged, not billed)".to_string(),
            chart::series(3),
            months.iter().map(|m| m.lost as f64).collect(),
        ),
        (
            "waited (edged and billed later)".to_string(),
            chart::series(5),
            months.iter().map(|m| m.waited as f64).collect(),
        ),
    ];
    stacked_months(labels, &layers, "mountings per month")
}

/// 3b. Downtime per month: hours from failure to restored, summed.
pub fn downtime(labels: &[String], months: &[Month]) -> Result<String, String> {
    let layers = vec![(
        "downtime (failure to restored, all incidents)".to_string(),
        chart::series(0),
        months.iter().map(Month::downtime_hours).collect(),
    )];
    stacked_months(labels, &layers, "machine-hours down per month")
}

/// Which of a repair's times a distribution shows.
#[derive(Clone, Copy)]
pub enum Time {
    Response,
    Repair,
}

/// A tier's times of one kind, ascending.
fn times(t: &Tier, which: Time) -> &[f64] {
    match which {
        Time::Response => &t.response_hours,
        Time::Repair => &t.repair_hours,
    }
}

/// 2. The share of repairs done within x hours, one line per tier, its promise marked.
pub fn time_distribution(tiers: &[Tier], which: Time) -> Result<String, String> {
    let promise = |t: &Tier| match which {
        Time::Response => f64::from(t.promise.response_hours),
        Time::Repair => f64::from(t.promise.repair_hours),
    };
    // Past 3 × the longest promise the lines are flat near 100 %: the tail is in the table.
    let longest = tiers.iter().map(promise).fold(1.0, f64::max);
    let slowest = tiers
        .iter()
        .filter_map(|t| times(t, which).last().copied())
        .fold(1.0, f64::max);
    let right = slowest.min(longest * 3.0).max(longest) * 1.05;
    let (desc, what) = match which {
        Time::Response => ("hours from the failure to someone on it", "response"),
        Time::Repair => ("hours from the failure to the shop edging again", "repair"),
    };
    chart::draw(|root| {
        // Above 100 %: room for the promises' labels, clear of the lines that reach 100 %.
        let mut c = chart::axes(&root, 0f64..right, 0f64..112.0)?;
        chart::mesh(
            &mut c,
            Axis {
                desc,
                labels: 12,
                format: &chart::whole,
            },
            Axis {
                desc: "repairs done within x hours (%)",
                labels: 6,
                format: &chart::whole,
            },
        )?;
        for (i, t) in tiers.iter().enumerate() {
            let h = times(t, which);
            if h.is_empty() {
                continue;
            }
            let color = chart::series(i);
            let n = h.len() as f64;
            let mut steps = vec![(0.0, 0.0)];
            for (k, x) in h.iter().enumerate() {
                let x = x.min(right);
                steps.push((x, k as f64 / n * 100.0));
                steps.push((x, (k + 1) as f64 / n * 100.0));
            }
            steps.push((right, 100.0));
            let within = match which {
                Time::Response => t.response_within,
                Time::Repair => t.repair_within,
            };
            let label = format!(
                "{} — {} within the {what} promise",
                t.label(),
                super::tiers::percent(within, h.len() as u64)
            );
            c.draw_series(LineSeries::new(steps, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(chart::stroke(color, 2));
            chart::marker(
                &mut c,
                promise(t),
                0.0..100.0,
                color,
                &format!("{} h", promise(t)),
            )?;
        }
        chart::legend(&mut c, SeriesLabelPosition::LowerRight)
    })
}

/// 4. Per shop, cost to serve and net invoiced over the run by its volume.
pub fn cost_and_revenue(shops: &[ShopEconomics]) -> Result<String, String> {
    let x = |s: &ShopEconomics| f64_of(s.mountings_a_year);
    let right = chart::headroom(shops.iter().map(x).fold(0.0, f64::max));
    let top = chart::headroom(
        shops
            .iter()
            .map(|s| eur(s.cost_cents.max(s.net_cents)))
            .fold(0.0, f64::max),
    );
    let (cost_color, net_color) = (chart::series(3), chart::series(0));
    chart::draw(|root| {
        let mut c = chart::axes(&root, 0f64..right, 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "mountings a year (shop volume)",
                labels: 10,
                format: &chart::whole,
            },
            Axis {
                desc: "EUR over the run",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        let points = |f: fn(&ShopEconomics) -> i64, color: RGBColor| {
            shops
                .iter()
                .map(move |s| Circle::new((x(s), eur(f(s))), 2, color.mix(0.7).filled()))
        };
        c.draw_series(points(|s| s.cost_cents, cost_color))
            .map_err(|e| e.to_string())?
            .label("cost to serve")
            .legend(chart::swatch(cost_color));
        c.draw_series(points(|s| s.net_cents, net_color))
            .map_err(|e| e.to_string())?
            .label("net invoiced")
            .legend(chart::swatch(net_color));
        chart::legend(&mut c, SeriesLabelPosition::UpperLeft)
    })
}

/// 6. Per shop, the calculator's expected service cost against the simulated one, x = y.
pub fn expected_vs_simulated(checks: &[ShopCheck]) -> Result<String, String> {
    let pairs = |c: &ShopCheck| {
        [
            (
                eur(c.expected.repairs_cents),
                eur(c.simulated.repairs_cents),
            ),
            (
                eur(c.expected.consumables_cents),
                eur(c.simulated.consumables_cents),
            ),
        ]
    };
    let edge = chart::headroom(
        checks
            .iter()
            .flat_map(pairs)
            .map(|(a, b)| a.max(b))
            .fold(0.0, f64::max),
    );
    let (repairs_color, consumables_color) = (chart::series(3), chart::series(2));
    chart::draw_sized((chart::WIDTH, 420), |root| {
        let mut c = chart::axes(&root, 0f64..edge, 0f64..edge)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "expected by the quote calculator (EUR over the run)",
                labels: 10,
                format: &chart::whole,
            },
            Axis {
                desc: "simulated (EUR over the run)",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        c.draw_series(LineSeries::new(
            [(0.0, 0.0), (edge, edge)],
            chart::REFERENCE.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("x = y (the calculator is right)")
        .legend(chart::stroke(chart::REFERENCE, 1));
        let series = |k: usize, color: RGBColor| {
            checks
                .iter()
                .map(move |c| Circle::new(pairs(c)[k], 2, color.mix(0.7).filled()))
        };
        c.draw_series(series(0, repairs_color))
            .map_err(|e| e.to_string())?
            .label("repairs: parts, labour, travel, loaners")
            .legend(chart::swatch(repairs_color));
        c.draw_series(series(1, consumables_color))
            .map_err(|e| e.to_string())?
            .label("consumables: wheels, tools, sundries")
            .legend(chart::swatch(consumables_color));
        chart::legend(&mut c, SeriesLabelPosition::UpperLeft)
    })
}
