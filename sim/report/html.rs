//! index.html: a self-contained page (inline SVG charts drawn with plotters, no scripts).

use super::chart::{self, Axis};
use super::figure::Figure;
use super::{QuoteData, RunData, Summary};
use crate::billing::LineGroup;
use crate::money::format_cents;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write;

/// index.html and the charts drawn on it (the sections' charts are theirs).
pub struct Page {
    pub html: String,
    pub figures: Vec<Figure>,
}

/// The page; `sections` are the field's (`[service]` runs) and the alternatives'
/// (`[[alternative]]` runs), in that order.
pub fn page(d: &RunData, s: &Summary, sections: &[&str]) -> Page {
    let mut html = String::new();
    let mut drawn = Vec::new();
    html.push_str(&head(&s.scenario));
    let _ = write!(
        html,
        "<h1>fleetsim — {name}</h1><p>{desc}</p>",
        name = escape(&s.scenario),
        desc = escape(&s.description),
    );
    html.push_str(&verdict(s));
    html.push_str(&facts_table(s));
    let monthly = Figure::main(
        "billable_mountings",
        "Billable mountings per month: truth, metered events, billed from counters",
        monthly_chart(d),
    );
    section(&mut html, &mut drawn, monthly);
    html.push_str(&bases_table(s));
    html.push_str(&group_table(s));
    html.push_str(&revenue_table(s));
    let daily = Figure::main(
        "daily_activity",
        "Fleet activity per day (mountings, all shops)",
        daily_chart(d),
    );
    section(&mut html, &mut drawn, daily);
    // The fleet's calibration, for the page's reader rather than a slide.
    let levels = Figure::page_only(
        "shop_levels",
        "Shops by level (mean pairs per open day)",
        level_histogram(d),
    );
    section(&mut html, &mut drawn, levels);
    for section in sections {
        html.push_str(section);
    }
    if let Some(q) = d.quotes {
        quote_section(&mut html, &mut drawn, q);
    }
    html.push_str("<p>Data: <a href=\"summary.json\">summary.json</a>, <a href=\"invoices.csv\">invoices.csv</a>, <a href=\"shops.csv\">shops.csv</a>");
    if d.quotes.is_some() {
        html.push_str(", <a href=\"quotes.csv\">quotes.csv</a>");
    }
    html.push_str(".</p></body></html>\n");
    Page {
        html,
        figures: drawn,
    }
}

/// The page's head and style, up to `<body>`: every page fleetsim writes looks the same.
pub(super) fn head(title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>fleetsim — {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}}\
         th{{text-align:left}}.png{{margin:.2em 0 1.2em;font-size:.85em}}.ok{{color:#1a7f37}}.fail{{color:#c00}}\
         .cards{{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}}\
         .card{{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:11em}}\
         .card span{{display:block;color:#555;font-size:.85em}}.card b{{display:block;font-size:1.3em;margin:.15em 0}}\
         .wide{{overflow-x:auto}}svg{{max-width:100%;height:auto}}</style></head><body>",
        title = escape(title),
    )
}

fn verdict(s: &Summary) -> String {
    let r = &s.reconciliation;
    if r.ok {
        return "<p class=\"ok\"><strong>Reconciliation OK</strong>: every event counted once, every cent accounted for.</p>".into();
    }
    format!(
        "<p class=\"fail\"><strong>Reconciliation FAILED</strong>: {} missing, {} double-counted events, {} cents misbilled, {} mismatches.</p>",
        r.missing, r.double_counted, r.misbilled_cents, r.mismatch_count
    )
}

fn facts_table(s: &Summary) -> String {
    let rows: [(&str, &[&str], String); 10] = [
        ("Seed", &["/seed"], s.seed.to_string()),
        (
            "Shops / machines",
            &["/shops", "/machines"],
            format!("{} / {}", s.shops, s.machines),
        ),
        (
            "Period",
            &["/months", "/start", "/days"],
            format!("{} months from {} ({} days)", s.months, s.start, s.days),
        ),
        ("Jobs (truth)", &["/truth/jobs"], s.truth.jobs.to_string()),
        (
            "Billable mountings (truth / metered)",
            &["/truth/billable_mountings", "/metered/billable_mountings"],
            format!(
                "{} / {}",
                s.truth.billable_mountings, s.metered.billable_mountings
            ),
        ),
        (
            "Trace-only cycles, not billed (truth / metered)",
            &["/truth/trace_only", "/metered/trace_only"],
            format!("{} / {}", s.truth.trace_only, s.metered.trace_only),
        ),
        (
            "Mean jobs per shop per open day",
            &["/truth/mean_jobs_per_open_day"],
            format!("{:.2}", s.truth.mean_jobs_per_open_day),
        ),
        (
            "Events sent (duplicates re-sent)",
            &["/sent/events", "/sent/duplicates"],
            format!("{} ({})", s.sent.events, s.sent.duplicates),
        ),
        (
            "Invoiced",
            &[
                "/billed/total_cents",
                "/billed/currency",
                "/billed/invoices",
            ],
            format!(
                "{} {} over {} invoices",
                format_cents(s.billed.total_cents),
                s.billed.currency,
                s.billed.invoices
            ),
        ),
        (
            "Throughput",
            &[
                "/run/events_per_second",
                "/run/wall_seconds",
                "/run/threads",
            ],
            format!(
                "{:.0} events/s, {:.1} s wall, {} actor threads",
                s.run.events_per_second, s.run.wall_seconds, s.run.threads
            ),
        ),
    ];
    let mut t = String::from("<table>");
    for (k, from, v) in rows {
        t.push_str(&fact_row(k, from, &v));
    }
    t.push_str("</table>");
    t
}

/// A row of a facts table. `from` names the summary.json values its cell shows, as JSON
/// pointers in the order shown, so that a reader (or a test) can check the page against
/// the file.
pub(super) fn fact_row(label: &str, from: &[&str], value: &str) -> String {
    format!(
        "<tr><th>{label}</th><td data-summary=\"{}\">{}</td></tr>",
        escape(&from.join(" ")),
        escape(value)
    )
}

/// Both billing bases against the truth: events must match it every month; counters may be
/// off in a month (estimates, true-ups) and must match it over the run.
fn bases_table(s: &Summary) -> String {
    let b = &s.reconciliation.bases;
    let mut t = String::from(
        "<h2>Billing bases vs truth</h2><table><tr><th>basis</th><th>shops billed</th><th>mountings</th>\
         <th>Σ |month − truth|</th><th>estimated</th><th>trued up</th><th>outstanding</th><th>late</th></tr>",
    );
    let _ = write!(
        t,
        "<tr><th>truth</th><td></td><td>{}</td><td></td><td></td><td></td><td></td><td></td></tr>\
         <tr><th>events</th><td>{}</td><td>{}</td><td>{}</td><td></td><td></td><td></td><td>{}</td></tr>\
         <tr><th>counters (VEE)</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td></tr></table>",
        b.truth_mountings,
        b.events.shops_billed,
        b.events.mountings,
        b.events.period_abs_error,
        b.events.invoiced_late,
        b.counters.shops_billed,
        b.counters.mountings,
        b.counters.period_abs_error,
        b.counters.estimated,
        b.counters.trued_up,
        b.counters.outstanding,
    );
    t
}

/// What the billed total is made of, by group (usage, service, credits, VAT…); each shop's
/// split is in shops.csv.
fn group_table(s: &Summary) -> String {
    // In the groups' own order (usage first, VAT last), not the map's alphabetical one.
    let cents = |g: LineGroup| s.billed.by_group.get(g.name()).copied().unwrap_or(0);
    let rows = LineGroup::ALL.into_iter().map(|g| (g.name(), cents(g)));
    let mut html = share_table("Billed, by group", "group", rows, s);
    html.push_str("<p>Per shop: the <code>*_cents</code> columns of shops.csv.</p>");
    html.push_str(&contracts_line(s));
    html
}

/// How the plan contracts ran, in one sentence (nothing without plans).
fn contracts_line(s: &Summary) -> String {
    let c = &s.contracts;
    if c.on_plan == 0 {
        return String::new();
    }
    format!(
        "<p>Contracts: {} shops on catalogue plans; {} started after the run's first day, {} terminated early (termination fees {} {} net), {} reached the end of their term within the run. Dates per shop: the last columns of shops.csv.</p>",
        c.on_plan,
        c.started_after_day_one,
        c.terminated_early,
        format_cents(c.termination_fees_cents),
        escape(&s.billed.currency),
        c.ended_at_term
    )
}

/// The same total, line kind by line kind.
fn revenue_table(s: &Summary) -> String {
    let rows = s.billed.by_kind.iter().map(|(k, c)| (*k, *c));
    share_table("Billed, by invoice line kind", "kind", rows, s)
}

/// A table of amounts and their share of the billed total.
fn share_table<'a>(
    title: &str,
    label: &str,
    rows: impl Iterator<Item = (&'a str, i64)>,
    s: &Summary,
) -> String {
    let mut html =
        format!("<h2>{title}</h2><table><tr><th>{label}</th><th>amount</th><th>share</th></tr>");
    let total = s.billed.total_cents.max(1) as i128;
    for (name, cents) in rows {
        // Per mille, in integers: a share to read, not money.
        let permille = i128::from(cents).abs() * 1000 / total;
        let sign = if cents < 0 { "−" } else { "" };
        let _ = write!(
            html,
            "<tr><th>{name}</th><td>{} {}</td><td>{sign}{}.{} %</td></tr>",
            format_cents(cents),
            escape(&s.billed.currency),
            permille / 10,
            permille % 10
        );
    }
    html.push_str("</table>");
    html
}

/// A chart of the run's own under an `<h2>`, kept for its PNG.
fn section(html: &mut String, drawn: &mut Vec<Figure>, f: Figure) {
    html.push_str(&f.html_under("h2"));
    drawn.push(f);
}

fn monthly_chart(d: &RunData) -> Result<String, String> {
    let truth: Vec<u64> = (0..d.periods.len())
        .map(|p| {
            (0..d.fleet.shops.len())
                .map(|s| d.outcome.truth.cell(s as u32, p as u32).mountings)
                .sum()
        })
        .collect();
    let metered: Vec<u64> = d
        .usage
        .iter()
        .map(|rows| rows.iter().map(|r| r.billable_mountings).sum())
        .collect();
    let counters: Vec<f64> = d
        .counters
        .iter()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.usage.actual.mountings as f64 + r.usage.estimate.mountings as f64
                        - r.usage.reversed.mountings as f64
                })
                .sum()
        })
        .collect();
    let max = truth.iter().chain(&metered).copied().max().unwrap_or(1) as f64;
    let max = counters.iter().copied().fold(max, f64::max);
    // The legend above the bars: in a corner it hides a month.
    let top = chart::headroom_for_legend(max, 3, chart::HEIGHT);
    let labels: Vec<String> = d.periods.iter().map(|p| p.to_string()).collect();
    let month = |x: &f64| chart::category_label(&labels, *x);
    let (truth_color, metered_color, counters_color) =
        (chart::series(5), chart::series(0), chart::series(1));
    chart::draw(|root| {
        let mut c = chart::axes(&root, chart::categories(truth.len()), 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "month",
                labels: labels.len().min(12),
                format: &month,
            },
            Axis {
                desc: "billable mountings per month",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        c.draw_series(truth.iter().enumerate().map(|(i, v)| {
            chart::bar(
                (i as f64 - 0.4, i as f64 + 0.4),
                (0.0, *v as f64),
                truth_color,
            )
        }))
        .map_err(|e| e.to_string())?
        .label("truth")
        .legend(chart::swatch(truth_color));
        c.draw_series(LineSeries::new(
            metered
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, *v as f64)),
            metered_color.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("metered events")
        .legend(chart::stroke(metered_color, 2));
        c.draw_series(LineSeries::new(
            counters.iter().enumerate().map(|(i, v)| (i as f64, *v)),
            counters_color.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("billed from counters")
        .legend(chart::stroke(counters_color, 2));
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

fn daily_chart(d: &RunData) -> Result<String, String> {
    let daily: Vec<f64> = d
        .outcome
        .truth
        .daily
        .iter()
        .map(|t| t.tally.mountings as f64)
        .collect();
    // The legend above the line: below it, it hid the closed days.
    let top =
        chart::headroom_for_legend(daily.iter().copied().fold(1.0, f64::max), 1, chart::HEIGHT);
    let date = |x: &f64| d.calendar.date(*x as u32).format("%Y-%m-%d").to_string();
    chart::draw(|root| {
        let mut c = chart::axes(&root, 0f64..daily.len().max(1) as f64, 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "day",
                labels: 10,
                format: &date,
            },
            Axis {
                desc: "mountings per day",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        c.draw_series(LineSeries::new(
            daily.iter().enumerate().map(|(i, v)| (i as f64, *v)),
            chart::series(0).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("mountings (truth, all shops)")
        .legend(chart::stroke(chart::series(0), 1));
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

fn level_histogram(d: &RunData) -> Result<String, String> {
    const BINS: usize = 21; // 0–1, 1–2, …, 20+
    let mut counts = [0u32; BINS];
    for shop in &d.fleet.shops {
        counts[(shop.mean_pairs_per_day as usize).min(BINS - 1)] += 1;
    }
    let top = chart::headroom(f64::from(counts.iter().copied().max().unwrap_or(1)));
    let color = chart::series(2);
    chart::draw(|root| {
        let mut c = chart::axes(&root, 0f64..BINS as f64, 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "pairs per open day (last bin: 20 and more)",
                labels: 11,
                format: &chart::whole,
            },
            Axis {
                desc: "shops",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        c.draw_series(counts.iter().enumerate().map(|(i, n)| {
            chart::bar(
                (i as f64 + 0.05, i as f64 + 0.95),
                (0.0, f64::from(*n)),
                color,
            )
        }))
        .map_err(|e| e.to_string())?
        .label("shops at that level")
        .legend(chart::swatch(color));
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

/// `[quote]` runs: who the quoted prices subsidise and who pays over the cost to serve.
fn quote_section(html: &mut String, drawn: &mut Vec<Figure>, q: &QuoteData) {
    let s = &q.summary;
    let compared: Vec<_> = q
        .outcomes
        .iter()
        .filter(|o| o.realised_price().is_some())
        .collect();
    let subsidised = compared
        .iter()
        .filter(|o| o.error().is_some_and(|e| e < Decimal::ZERO))
        .count();
    let rows = [
        (
            "Shops quoted / compared out of sample",
            format!("{} / {}", s.shops_quoted, s.shops_compared),
        ),
        (
            "Audit / billed months",
            format!("{} / {}", s.audit_months, s.billed_months),
        ),
        (
            "Bounds, margin",
            format!("{}–{} EUR, {}", s.min_price, s.max_price, s.margin),
        ),
        (
            "Capped at the maximum / raised to the minimum",
            format!("{} / {}", s.clamped_max, s.clamped_min),
        ),
        (
            "Mean quoted price / mean realised cost + margin",
            format!(
                "{} / {} EUR",
                s.mean_quoted_price, s.mean_realised_cost_plus_margin
            ),
        ),
        (
            "Subsidised (quoted below realised cost + margin)",
            format!("{subsidised} shops"),
        ),
        (
            "|quoted − realised cost + margin|: mean, p50, p90",
            format!(
                "{}, {}, {} EUR",
                s.errors.mean_abs_error, s.errors.p50_abs_error, s.errors.p90_abs_error
            ),
        ),
        (
            "Estimation error alone (vs the hindsight price within bounds): mean, p90",
            format!(
                "{}, {} EUR",
                s.hindsight.mean_abs_error, s.hindsight.p90_abs_error
            ),
        ),
    ];
    html.push_str("<h2>Quoted prices, out of sample</h2><table>");
    for (name, value) in rows {
        let _ = write!(html, "<tr><th>{name}</th><td>{}</td></tr>", escape(&value));
    }
    html.push_str("</table>");
    let f = Figure::main(
        "quoted_prices",
        "Price per mounting by shop volume: quoted vs realised cost + margin (clipped at the top; lines: the price bounds)",
        quote_chart(q),
    );
    section(html, drawn, f);
}

/// One point per shop at its billed mountings per month: the quoted price and the realised
/// cost plus margin, with the bounds as lines. Floats here only place points on a chart.
fn quote_chart(q: &QuoteData) -> Result<String, String> {
    let months = f64::from(q.summary.billed_months.max(1));
    let per_month = |o: &crate::quote::backtest::Outcome| o.billed_mountings as f64 / months;
    let eur = |x: Decimal| x.to_f64().unwrap_or(0.0);
    let max_price = eur(q
        .outcomes
        .first()
        .map_or(Decimal::ZERO, |o| o.quote.terms.max_price));
    let min_price = eur(q
        .outcomes
        .first()
        .map_or(Decimal::ZERO, |o| o.quote.terms.min_price));
    let top = (max_price * 3.0).max(1.0);
    let right = q.outcomes.iter().map(per_month).fold(1.0, f64::max) * 1.05;
    let (quoted_color, realised_color) = (chart::series(0), chart::series(3));
    chart::draw(|root| {
        let mut c = chart::axes(&root, 0f64..right, 0f64..top)?;
        chart::mesh(
            &mut c,
            Axis {
                desc: "billed mountings per month",
                labels: 10,
                format: &chart::whole,
            },
            Axis {
                desc: "EUR per mounting",
                labels: 8,
                format: &chart::whole,
            },
        )?;
        for bound in [min_price, max_price] {
            c.draw_series(LineSeries::new(
                [(0.0, bound), (right, bound)],
                chart::REFERENCE.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        }
        let realised = q.outcomes.iter().filter_map(|o| {
            o.realised_price()
                .map(|r| (per_month(o), eur(r).min(top * 0.99)))
        });
        c.draw_series(realised.map(|p| Circle::new(p, 2, realised_color.filled())))
            .map_err(|e| e.to_string())?
            .label("realised cost + margin")
            .legend(chart::swatch(realised_color));
        let quoted = q
            .outcomes
            .iter()
            .map(|o| (per_month(o), eur(o.quote.price)));
        c.draw_series(quoted.map(|p| Circle::new(p, 2, quoted_color.filled())))
            .map_err(|e| e.to_string())?
            .label("quoted price")
            .legend(chart::swatch(quoted_color));
        chart::legend(&mut c, SeriesLabelPosition::UpperRight)
    })
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
