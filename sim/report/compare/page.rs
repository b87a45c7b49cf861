//! The comparison's index.html: self-contained (inline SVG, no scripts), in the run report's
//! look (`html::head`). The banner when the fleets differ, cards for the best of the set,
//! the runs, every pricing side by side, the charts. Every number in a `<td>` names the
//! comparison.json value it shows (`data-summary`, JSON pointers in the order shown).

use super::{charts, Comparison, Row, COMPARISON_CSV, COMPARISON_JSON};
use crate::money::format_cents;
use crate::report::figure::Figure;
use crate::report::html::{escape, head};
use std::fmt::Write;

pub struct Page {
    pub html: String,
    pub figures: Vec<Figure>,
}

pub fn page(c: &Comparison) -> Page {
    let mut html = head("comparison");
    let names: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
    let _ = write!(
        html,
        "<h1>fleetsim — comparison</h1><p>{} pricings of {} runs: {}. Revenue is invoiced net \
         of VAT, in {}; margin is revenue − cost to serve.</p>",
        c.rows.len(),
        c.runs.len(),
        escape(&names.join(", ")),
        escape(&c.currency)
    );
    html.push_str(&banner(c));
    html.push_str(&cards(c));
    html.push_str(&runs_table(c));
    html.push_str(&money_table(c));
    html.push_str(&evenness_table(c));
    let figures = vec![
        Figure::main(
            "compare_margin",
            "Margin by pricing (revenue − cost to serve)",
            charts::margin_bars(c),
        ),
        Figure::main(
            "compare_gini",
            "Evenness by pricing: Gini of the price per mounting",
            charts::gini_bars(c),
        ),
        Figure::main(
            "compare_margin_vs_gini",
            "Margin against evenness, one point per pricing",
            charts::margin_vs_gini(c),
        ),
    ];
    for f in &figures {
        html.push_str(&f.html_under("h2"));
    }
    html.push_str(&notes());
    html.push_str("</body></html>\n");
    Page { html, figures }
}

/// Different fleets: said first, and why.
fn banner(c: &Comparison) -> String {
    if c.same_fleet {
        return "<p class=\"ok\"><strong>Same fleet</strong>: every run simulated the same shops \
                over the same months from the same seed; the pricings differ by pricing \
                alone.</p>"
            .into();
    }
    let mut html = format!(
        "<div class=\"fail\" id=\"different-fleets\"><p><strong>{}</strong>.</p><ul>",
        escape(&capitalised(super::DIFFERENT_FLEETS))
    );
    for w in &c.warnings[1..] {
        let _ = write!(html, "<li>{}</li>", escape(w));
    }
    html.push_str("</ul></div>");
    html
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The row with the greatest `key`; ties go to the first in the comparison's order.
fn best(c: &Comparison, key: impl Fn(&Row) -> Option<i64>) -> Option<&Row> {
    let mut found: Option<(&Row, i64)> = None;
    for r in &c.rows {
        if let Some(k) = key(r) {
            if found.is_none_or(|(_, best)| k > best) {
                found = Some((r, k));
            }
        }
    }
    found.map(|(r, _)| r)
}

fn cards(c: &Comparison) -> String {
    let mut cards = Vec::new();
    if let Some(r) = best(c, |r| r.margin_cents) {
        let m = r.margin_cents.unwrap_or(0);
        cards.push((
            "Best margin",
            r,
            format!("{} {}", format_cents(m), c.currency),
        ));
    }
    // Gini to a millionth, as an integer key: the ordering of floats is not needed.
    if let Some(r) = best(c, |r| r.gini.map(|g| -((g * 1e6).round() as i64))) {
        cards.push(("Most even", r, format!("Gini {:.3}", r.gini.unwrap_or(0.0))));
    }
    if let Some(r) = best(c, |r| r.regret_cents.map(|g| -g)) {
        let regret = r.regret_cents.unwrap_or(0);
        let text = format!("regret {} {} in its run", format_cents(regret), c.currency);
        cards.push(("Least regret", r, text));
    }
    let mut html = String::from("<div class=\"cards\">");
    for (title, r, figure) in cards {
        let _ = write!(
            html,
            "<div class=\"card\"><span>{}</span><b>{}</b><span>{}</span></div>",
            escape(title),
            escape(&r.label),
            escape(&figure)
        );
    }
    let failed = c.rows.iter().filter(|r| !r.reconciled).count();
    let _ = write!(
        html,
        "<div class=\"card\"><span>Reconciled</span><b class=\"{}\">{}</b><span>{} of {}</span></div></div>",
        if failed == 0 { "ok" } else { "fail" },
        if failed == 0 { "all" } else { "NOT all" },
        c.rows.len() - failed,
        c.rows.len()
    );
    html
}

/// A `<td>` showing `text`, which reads the values at `pointers` in order; without pointers
/// (a figure the run did not compute) a dash and no attribute.
fn cell(pointers: &[String], text: &str) -> String {
    match pointers.is_empty() {
        true => "<td>–</td>".into(),
        false => format!(
            "<td data-summary=\"{}\">{}</td>",
            escape(&pointers.join(" ")),
            escape(text)
        ),
    }
}

/// `/rows/i/field`.
fn at(i: usize, field: &str) -> Vec<String> {
    vec![format!("/rows/{i}/{field}")]
}

fn money(i: usize, field: &str, cents: Option<i64>, currency: &str) -> String {
    match cents {
        Some(v) => cell(
            &at(i, field),
            &format!("{}\u{a0}{currency}", format_cents(v)),
        ),
        None => cell(&[], ""),
    }
}

fn count<T: std::fmt::Display>(i: usize, field: &str, v: Option<T>) -> String {
    match v {
        Some(v) => cell(&at(i, field), &v.to_string()),
        None => cell(&[], ""),
    }
}

fn float(i: usize, field: &str, v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => cell(&at(i, field), &format!("{v:.decimals$}")),
        None => cell(&[], ""),
    }
}

fn runs_table(c: &Comparison) -> String {
    let mut html = String::from(
        "<h2>Runs</h2><div class=\"wide\"><table><tr><th>run</th><th>folder</th><th>seed</th>\
         <th>start</th><th>months</th><th>shops</th><th>machines</th><th>billable mountings</th>\
         <th>pricings</th></tr>",
    );
    for (i, r) in c.runs.iter().enumerate() {
        let p = |f: &str| vec![format!("/runs/{i}/{f}")];
        let pricings = c.rows.iter().filter(|row| row.run == i).count();
        let _ = write!(
            html,
            "<tr><th title=\"{}\">{}</th><td data-summary=\"/runs/{i}/dir\">{}</td>{}{}{}{}{}{}<td>{pricings}</td></tr>",
            escape(&r.description),
            escape(&r.label),
            escape(&r.dir),
            cell(&p("seed"), &r.seed.to_string()),
            cell(&p("start"), &r.start),
            cell(&p("months"), &r.months.to_string()),
            cell(&p("shops"), &r.shops.to_string()),
            cell(&p("machines"), &r.machines.to_string()),
            cell(&p("billable_mountings"), &r.billable_mountings.to_string()),
        );
    }
    html.push_str("</table></div>");
    html
}

fn money_table(c: &Comparison) -> String {
    let mut html = String::from(
        "<h2>What each pricing earns</h2><div class=\"wide\"><table><tr><th>pricing</th>\
         <th>revenue</th><th>cost to serve</th><th>margin</th><th>shops at a loss (share of \
         mountings)</th><th>invoices</th><th>reconciled</th></tr>",
    );
    let cur = c.currency.as_str();
    for (i, r) in c.rows.iter().enumerate() {
        let losses = match (r.shops_at_loss, r.at_loss_mountings_share) {
            (Some(n), Some(share)) => {
                let mut p = at(i, "shops_at_loss");
                p.extend(at(i, "at_loss_mountings_share"));
                cell(&p, &format!("{n} ({share:.4})"))
            }
            _ => cell(&[], ""),
        };
        let _ = write!(
            html,
            "<tr><th title=\"{}\">{}</th>{}{}{}{losses}{}<td class=\"{}\">{}</td></tr>",
            escape(&r.description),
            escape(&r.label),
            money(i, "revenue_cents", Some(r.revenue_cents), cur),
            money(i, "cost_cents", r.cost_cents, cur),
            money(i, "margin_cents", r.margin_cents, cur),
            count(i, "invoices", Some(r.invoices)),
            if r.reconciled { "ok" } else { "fail" },
            if r.reconciled { "yes" } else { "NO" },
        );
    }
    html.push_str("</table></div>");
    html
}

fn evenness_table(c: &Comparison) -> String {
    let mut html = String::from(
        "<h2>How evenly each pricing charges</h2><div class=\"wide\"><table><tr><th>pricing</th>\
         <th>mountings</th><th>cents per mounting</th><th>Gini</th><th>cents per mounting p10 \
         – p50 – p90</th><th>regret (in its run)</th><th>shops failing stand-alone / \
         incremental</th></tr>",
    );
    let cur = c.currency.as_str();
    for (i, r) in c.rows.iter().enumerate() {
        let spread = match (r.p10_cents, r.p50_cents, r.p90_cents) {
            (Some(a), Some(b), Some(d)) => {
                let p: Vec<String> = ["p10_cents", "p50_cents", "p90_cents"]
                    .iter()
                    .flat_map(|f| at(i, f))
                    .collect();
                cell(&p, &format!("{a:.2} – {b:.2} – {d:.2}"))
            }
            _ => cell(&[], ""),
        };
        let failing = match (r.shops_failing_stand_alone, r.shops_failing_incremental) {
            (Some(a), Some(b)) => {
                let mut p = at(i, "shops_failing_stand_alone");
                p.extend(at(i, "shops_failing_incremental"));
                cell(&p, &format!("{a} / {b}"))
            }
            _ => cell(&[], ""),
        };
        let _ = write!(
            html,
            "<tr><th>{}</th>{}{}{}{spread}{}{failing}</tr>",
            escape(&r.label),
            count(i, "mountings", Some(r.mountings)),
            float(i, "price_per_mounting_cents", r.price_per_mounting_cents, 2),
            float(i, "gini", r.gini, 3),
            money(i, "regret_cents", r.regret_cents, cur),
        );
    }
    html.push_str("</table></div>");
    html
}

fn notes() -> String {
    format!(
        "<h2>Reading the comparison</h2><ul>\
         <li>A run without <code>[[alternative]]</code>s is one pricing, <code>base</code>: its \
         revenue is its billed total less VAT; the figures computed per shop (Gini, spread, \
         shops at a loss, subsidy tests) exist only for runs with alternatives, and the margin \
         only where the field was simulated (<code>[service]</code>).</li>\
         <li><b>Regret</b> is within a run's own set of pricings (its bill minus each shop's \
         cheapest bill in that set): compare it between runs only as far as their sets \
         match.</li>\
         <li>Hover a pricing's name for its description; every figure, in cents: \
         <a href=\"{COMPARISON_CSV}\">{COMPARISON_CSV}</a>, \
         <a href=\"{COMPARISON_JSON}\">{COMPARISON_JSON}</a>.</li></ul>"
    )
}
