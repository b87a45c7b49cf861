//! The alternatives' charts (inline SVG, the page's palette: `report::chart`). Floats only
//! place marks: every figure they show comes from the judgements and invoices in cents.

use super::sides::Side;
use crate::analysis::tariffs::FleetView;
use crate::report::chart::{self, Axis};
use crate::scenario::alternatives::SweepField;
use plotters::prelude::*;

fn eur(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn thousands(v: &f64) -> String {
    format!("{:.0}", v / 1000.0)
}

fn two_decimals(v: &f64) -> String {
    format!("{v:.2}")
}

fn percent(v: &f64) -> String {
    format!("{v:.0}%")
}

/// A line per series over x, each with its colour and legend.
fn lines(
    series: &[(String, Vec<(f64, f64)>)],
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_axis: Axis,
    y_axis: Axis,
    position: SeriesLabelPosition,
) -> Result<String, String> {
    chart::draw(|root| {
        let mut c = chart::axes(&root, x, y)?;
        chart::mesh(&mut c, x_axis, y_axis)?;
        for (k, (name, points)) in series.iter().enumerate() {
            let color = chart::series(k);
            c.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.as_str())
                .legend(chart::stroke(color, 2));
        }
        chart::legend(&mut c, position)
    })
}

fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A y range holding every value and 0, with headroom above (and below, for losses).
fn y_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = range_of(values);
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let pad = ((hi - lo) * 0.12).max(1.0);
    (lo - if lo < 0.0 { pad } else { 0.0 })..hi + pad * 2.0
}

/// The swept pricings of one sweep, by swept value.
pub struct Sweep<'a> {
    pub name: String,
    pub field: SweepField,
    pub points: Vec<(f64, &'a Side<'a>)>,
}

impl Sweep<'_> {
    /// The x axis: what is swept, in its unit.
    fn axis(&self) -> String {
        match self.field {
            SweepField::Price | SweepField::Chain | SweepField::Independent => {
                format!("{} ({})", self.field.name(), self.field.unit())
            }
            SweepField::Margin => "margin (on the cost to serve; 0.15 = 15 %)".to_string(),
            SweepField::Included => format!("{} a month", self.field.unit()),
        }
    }

    /// What the charts' titles say the sweep varies.
    pub fn noun(&self) -> &'static str {
        match self.field {
            SweepField::Price | SweepField::Chain | SweepField::Independent => "the price",
            SweepField::Margin => "the margin",
            SweepField::Included => "the included mountings",
        }
    }

    /// The x range, and the format of its labels (mountings are whole).
    fn x(&self) -> (std::ops::Range<f64>, fn(&f64) -> String) {
        let (lo, hi) = range_of(self.points.iter().map(|p| p.0));
        if self.field.is_count() {
            (lo..hi.max(lo + 1.0), whole)
        } else {
            (lo..hi.max(lo + 0.01), two_decimals)
        }
    }
}

fn whole(v: &f64) -> String {
    format!("{v:.0}")
}

/// Revenue and (with the field) margin against the swept price, in thousands of EUR.
pub fn sweep_money(s: &Sweep) -> Result<String, String> {
    let mut series = vec![(
        "revenue (net of VAT)".to_string(),
        s.points
            .iter()
            .map(|(x, side)| (*x, eur(side.judgement.revenue_cents)))
            .collect::<Vec<_>>(),
    )];
    if s.points.iter().all(|(_, d)| d.judgement.costs.is_some()) {
        series.push((
            "margin (revenue − cost to serve)".to_string(),
            s.points
                .iter()
                .filter_map(|(x, d)| Some((*x, eur(d.judgement.costs.as_ref()?.margin_cents))))
                .collect(),
        ));
    }
    let (x, format) = s.x();
    let y = y_range(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)));
    let desc = s.axis();
    lines(
        &series,
        x,
        y,
        Axis {
            desc: &desc,
            labels: 12,
            format: &format,
        },
        Axis {
            desc: "thousand EUR over the run",
            labels: 8,
            format: &thousands,
        },
        SeriesLabelPosition::UpperLeft,
    )
}

/// The share of shops at a loss, and of mountings at those shops, against the swept price.
pub fn sweep_losses(s: &Sweep) -> Result<String, String> {
    let share = |f: fn(&Side) -> Option<f64>| -> Vec<(f64, f64)> {
        s.points
            .iter()
            .filter_map(|(x, d)| Some((*x, f(d)? * 100.0)))
            .collect()
    };
    let series = vec![
        (
            "shops served at a loss (% of shops)".to_string(),
            share(|d| {
                let c = d.judgement.costs.as_ref()?;
                Some(c.shops_at_loss as f64 / d.judgement.shops.len().max(1) as f64)
            }),
        ),
        (
            "their mountings (% of mountings)".to_string(),
            share(|d| Some(d.judgement.costs.as_ref()?.at_loss_mountings_share)),
        ),
    ];
    let (x, format) = s.x();
    let desc = s.axis();
    lines(
        &series,
        x,
        0.0..125.0,
        Axis {
            desc: &desc,
            labels: 12,
            format: &format,
        },
        Axis {
            desc: "percent",
            labels: 6,
            format: &percent,
        },
        SeriesLabelPosition::UpperRight,
    )
}

/// The Gini of the price per mounting against the swept price.
pub fn sweep_gini(s: &Sweep) -> Result<String, String> {
    let series = vec![(
        "Gini of the price per mounting (0: every mounting at one price)".to_string(),
        s.points
            .iter()
            .map(|(x, d)| (*x, d.judgement.gini))
            .collect::<Vec<_>>(),
    )];
    let top = s
        .points
        .iter()
        .map(|(_, d)| d.judgement.gini)
        .fold(0.001, f64::max)
        * 1.5;
    let (x, format) = s.x();
    let desc = s.axis();
    lines(
        &series,
        x,
        0.0..top,
        Axis {
            desc: &desc,
            labels: 12,
            format: &format,
        },
        Axis {
            desc: "Gini",
            labels: 6,
            format: &|v: &f64| format!("{v:.3}"),
        },
        SeriesLabelPosition::UpperRight,
    )
}

/// Lorenz curves: the share of revenue paid by the share of mountings billed cheapest first.
pub fn lorenz(sides: &[&Side]) -> Result<String, String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = sides
        .iter()
        .map(|s| {
            let points = s
                .judgement
                .lorenz
                .iter()
                .map(|&(x, y)| (x * 100.0, y * 100.0))
                .collect();
            (format!("{} (Gini {:.3})", s.id(), s.judgement.gini), points)
        })
        .collect();
    chart::draw(|root| {
        let mut c = chart::axes(&root, 0.0..100.0, 0.0..100.0)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "share of mountings, cheapest price per mounting first (%)",
                labels: 11,
                format: &percent,
            },
            Axis {
                desc: "share of revenue (%)",
                labels: 6,
                format: &percent,
            },
        )?;
        c.draw_series(LineSeries::new(
            vec![(0.0, 0.0), (100.0, 100.0)],
            chart::REFERENCE.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("equal price per mounting")
        .legend(chart::stroke(chart::REFERENCE, 1));
        for (k, (name, points)) in series.iter().enumerate() {
            let color = chart::series(k);
            c.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.as_str())
                .legend(chart::stroke(color, 2));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperLeft)
    })
}

/// Per pricing: the mounting-weighted p10–p90 of the price per mounting as a bar, p50 marked.
pub fn price_spread(sides: &[&Side]) -> Result<String, String> {
    let eur = |c: Option<f64>| c.unwrap_or(0.0) / 100.0;
    let top = sides
        .iter()
        .map(|s| eur(s.judgement.p90_cents))
        .fold(0.0, f64::max);
    let labels: Vec<String> = sides.iter().map(|s| s.id().to_string()).collect();
    let label = |x: &f64| chart::category_label(&labels, *x);
    chart::draw(|root| {
        let mut c = chart::axes(
            &root,
            chart::categories(labels.len()),
            0.0..top * 1.25 + 0.5,
        )?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "pricing",
                labels: labels.len(),
                format: &label,
            },
            Axis {
                desc: "EUR per mounting",
                labels: 8,
                format: &two_decimals,
            },
        )?;
        let bars = sides.iter().enumerate().map(|(i, s)| {
            let x = i as f64;
            let j = s.judgement;
            chart::bar(
                (x - 0.3, x + 0.3),
                (eur(j.p10_cents), eur(j.p90_cents)),
                chart::series(0),
            )
        });
        c.draw_series(bars)
            .map_err(|e| e.to_string())?
            .label("p10 to p90 of mountings")
            .legend(chart::swatch(chart::series(0)));
        let medians = sides.iter().enumerate().map(|(i, s)| {
            let x = i as f64;
            let y = eur(s.judgement.p50_cents);
            PathElement::new(
                vec![(x - 0.3, y), (x + 0.3, y)],
                chart::series(1).stroke_width(3),
            )
        });
        c.draw_series(medians)
            .map_err(|e| e.to_string())?
            .label("median (p50)")
            .legend(chart::stroke(chart::series(1), 3));
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

/// Each shop's margin over the run against its mountings, for each pricing shown.
pub fn margin_vs_volume(view: &FleetView, sides: &[&Side]) -> Result<String, String> {
    let points: Vec<Vec<(f64, f64)>> = sides
        .iter()
        .map(|s| {
            view.shops
                .iter()
                .zip(&s.judgement.shops)
                .filter_map(|(shop, bill)| {
                    let cost = shop.cost?.total();
                    Some((shop.mountings as f64, eur(bill.invoiced_cents - cost)))
                })
                .collect()
        })
        .collect();
    let right = points.iter().flatten().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let y = y_range(points.iter().flatten().map(|p| p.1));
    chart::draw(|root| {
        let mut c = chart::axes(&root, 0.0..right, y)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "mountings over the run (per shop)",
                labels: 10,
                format: &chart::whole,
            },
            Axis {
                desc: "margin per shop (thousand EUR)",
                labels: 8,
                format: &thousands,
            },
        )?;
        c.draw_series(LineSeries::new(
            vec![(0.0, 0.0), (right, 0.0)],
            chart::REFERENCE.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("break-even")
        .legend(chart::stroke(chart::REFERENCE, 1));
        for (k, (side, pts)) in sides.iter().zip(&points).enumerate() {
            let color = chart::series(k);
            c.draw_series(
                pts.iter()
                    .map(move |&p| Circle::new(p, 2, color.mix(0.6).filled())),
            )
            .map_err(|e| e.to_string())?
            .label(side.id())
            .legend(chart::swatch(color));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperLeft)
    })
}

/// Revenue per month, one line per pricing shown, in thousands of EUR.
pub fn monthly_revenue(labels: &[String], sides: &[&Side]) -> Result<String, String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = sides
        .iter()
        .map(|s| {
            let points = s
                .months
                .iter()
                .enumerate()
                .map(|(i, m)| (i as f64, eur(m.revenue_cents)))
                .collect();
            (s.id().to_string(), points)
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(1.0, f64::max);
    // Room above the lines for the legend, a line per pricing.
    let y = 0.0..top * (1.15 + 0.12 * series.len() as f64);
    let month = |x: &f64| chart::category_label(labels, *x);
    lines(
        &series,
        chart::categories(labels.len()),
        y,
        Axis {
            desc: "month invoiced",
            labels: labels.len().min(12),
            format: &month,
        },
        Axis {
            desc: "revenue per month, net of VAT (thousand EUR)",
            labels: 8,
            format: &thousands,
        },
        SeriesLabelPosition::UpperRight,
    )
}

/// The provider's month for one pricing: revenue, the cost to serve and the margin, in
/// thousands of EUR.
pub fn provider_months(labels: &[String], side: &Side) -> Result<String, String> {
    if side.months.iter().any(|m| m.cost_cents.is_none()) {
        return Err("the field is not simulated: no cost to serve".into());
    }
    let series_of = |name: &str, f: &dyn Fn(&super::sides::Month) -> i64| {
        let points = side
            .months
            .iter()
            .enumerate()
            .map(|(i, m)| (i as f64, eur(f(m))))
            .collect();
        (name.to_string(), points)
    };
    let series = vec![
        series_of("revenue, net of VAT", &|m| m.revenue_cents),
        series_of("cost to serve", &|m| m.cost_cents.unwrap_or(0)),
        series_of("margin", &|m| m.margin_cents().unwrap_or(0)),
    ];
    money_lines(labels, &series, "per month (thousand EUR)")
}

/// The cash the provider has made (or must fund) since the start, one line per pricing shown,
/// in thousands of EUR.
pub fn cumulative_margin(labels: &[String], sides: &[&Side]) -> Result<String, String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = sides
        .iter()
        .map(|s| {
            let points = s
                .cumulative_margin()
                .iter()
                .enumerate()
                .map(|(i, &c)| (i as f64, eur(c)))
                .collect();
            (s.id().to_string(), points)
        })
        .collect();
    if series.iter().any(|(_, p)| p.len() != labels.len()) {
        return Err("the field is not simulated: no cost to serve".into());
    }
    money_lines(
        labels,
        &series,
        "cumulative margin since the start (thousand EUR)",
    )
}

/// Lines of money over the run's months, 0 inside the range and room for the legend.
fn money_lines(
    labels: &[String],
    series: &[(String, Vec<(f64, f64)>)],
    y_desc: &str,
) -> Result<String, String> {
    let (lo, hi) = range_of(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)));
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = (hi - lo).max(1.0);
    let y = lo - span * 0.05..hi + span * (0.15 + 0.12 * series.len() as f64);
    let month = |x: &f64| chart::category_label(labels, *x);
    lines(
        series,
        chart::categories(labels.len()),
        y,
        Axis {
            desc: "month",
            labels: labels.len().min(12),
            format: &month,
        },
        Axis {
            desc: y_desc,
            labels: 8,
            format: &thousands,
        },
        SeriesLabelPosition::UpperRight,
    )
}

/// One pricing's segments: what each pays against what serving it alone would cost and what
/// the fleet's cost falls by without it, in thousands of EUR.
pub fn subsidy_segments(view: &FleetView, side: &Side, regions: bool) -> Result<String, String> {
    let Some(costs) = &side.judgement.costs else {
        return Err("the field is not simulated: no cost to serve".into());
    };
    let n = view.shops.len();
    let rows: Vec<_> = costs
        .subsidy
        .rows
        .iter()
        .skip(n)
        .filter(|r| r.coalition.starts_with("region:") == regions)
        .collect();
    let labels: Vec<String> = rows.iter().map(|r| short_segment(&r.coalition)).collect();
    let top = rows
        .iter()
        .map(|r| eur(r.revenue_cents.max(r.stand_alone_cents)))
        .fold(1.0, f64::max)
        * 1.3;
    let label = |x: &f64| chart::category_label(&labels, *x);
    let layers: [(&str, RowCents); 3] = [
        ("incremental cost (the floor)", |r| r.incremental_cents),
        ("revenue", |r| r.revenue_cents),
        ("stand-alone cost (the ceiling)", |r| r.stand_alone_cents),
    ];
    chart::draw(|root| {
        let mut c = chart::axes(&root, chart::categories(labels.len()), 0.0..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "segment",
                labels: labels.len(),
                format: &label,
            },
            Axis {
                desc: "thousand EUR over the run",
                labels: 8,
                format: &thousands,
            },
        )?;
        for (k, (name, value)) in layers.iter().enumerate() {
            let color = chart::series(k);
            let offset = -0.36 + 0.24 * k as f64;
            let bars = rows.iter().enumerate().map(|(i, r)| {
                let x = i as f64 + offset;
                chart::bar((x, x + 0.22), (0.0, eur(value(r))), color)
            });
            c.draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(chart::swatch(color));
        }
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

/// A figure of a subsidy test's row.
type RowCents = fn(&crate::analysis::subsidy::SubsidyRow) -> i64;

/// "volume_decile:3" → "D3", "frame_mix:1" → "F1", "material_mix:3" → "M3",
/// "segment:chain" → "chain", "segment:independent" → "indep.", "region:Île-de-France" → "IDF"
/// (the regions' usual abbreviations, so that thirteen fit under one chart).
pub fn short_segment(name: &str) -> String {
    const REGIONS: [(&str, &str); 13] = [
        ("Île-de-France", "IDF"),
        ("Auvergne-Rhône-Alpes", "ARA"),
        ("Hauts-de-France", "HDF"),
        ("Nouvelle-Aquitaine", "NAQ"),
        ("Occitanie", "OCC"),
        ("Grand Est", "GES"),
        ("Provence-Alpes-Côte d'Azur", "PACA"),
        ("Pays de la Loire", "PDL"),
        ("Bretagne", "BRE"),
        ("Normandie", "NOR"),
        ("Bourgogne-Franche-Comté", "BFC"),
        ("Centre-Val de Loire", "CVL"),
        ("Corse", "COR"),
    ];
    match name.split_once(':') {
        Some(("volume_decile", d)) => format!("D{d}"),
        Some(("frame_mix", t)) => format!("F{t}"),
        Some(("material_mix", t)) => format!("M{t}"),
        // Short enough not to run into its neighbour under the bars.
        Some(("segment", "independent")) => "indep.".to_string(),
        Some(("region", r)) => REGIONS
            .iter()
            .find(|(full, _)| *full == r)
            .map_or_else(|| r.to_string(), |(_, code)| code.to_string()),
        Some((_, rest)) => rest.to_string(),
        None => name.to_string(),
    }
}

/// The sweeps among `sides`, each in the order of its values.
pub fn sweeps<'a>(sides: &'a [Side<'a>]) -> Vec<Sweep<'a>> {
    let mut out: Vec<Sweep> = Vec::new();
    for side in sides {
        let Some(s) = &side.priced.swept else {
            continue;
        };
        let x = decimal_f64(s.value);
        match out.iter_mut().find(|w| w.name == s.sweep) {
            Some(w) => w.points.push((x, side)),
            None => out.push(Sweep {
                name: s.sweep.clone(),
                field: s.field,
                points: vec![(x, side)],
            }),
        }
    }
    for w in &mut out {
        w.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn decimal_f64(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(0.0)
}
