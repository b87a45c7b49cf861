//! The alternatives' section of index.html: cards, the pricings side by side, the sweep, the
//! charts, the subsidy tests and the shops that overpay or are subsidised the most.

use super::charts::{self, Sweep};
use super::sides::Side;
use super::CostSummary;
use crate::analysis::subsidy::SubsidyRow;
use crate::pricing::Evaluation;
use crate::report::figure::Figure;
use crate::report::html::escape;
use crate::report::RunData;
use std::fmt::Write;

/// A figure of a subsidy test's row.
type RowCents = fn(&SubsidyRow) -> i64;

/// Rows of the "top" tables.
const TOP: usize = 10;
/// Series a chart tells apart (the palette's six colours).
const SHOWN: usize = 6;

/// A chart under its title (or why it is missing), kept for its PNG.
fn figure(html: &mut String, drawn: &mut Vec<Figure>, f: Figure) {
    html.push_str(&f.html());
    drawn.push(f);
}

/// The section's HTML and its charts.
pub fn section(d: &RunData, e: &Evaluation, sides: &[Side]) -> (String, Vec<Figure>) {
    let mut html = String::from("<h2 id=\"alternatives\">Pricing alternatives</h2>");
    let drawn = &mut Vec::new();
    let _ = write!(
        html,
        "<p>{} pricings billed on the one simulated fleet: <code>base</code> is the scenario's \
         <code>[pricing]</code>, billed by the engine's close; every alternative is rated by the \
         same billing step from the usage the engine metered, and reconciled like the run. \
         Differences come from pricing alone. Revenue is invoiced net of VAT.</p>",
        sides.len()
    );
    html.push_str(&cards(sides));
    html.push_str(&side_by_side(sides));
    let shown = shown(sides);
    for sweep in charts::sweeps(sides) {
        sweep_part(&mut html, drawn, &sweep);
    }
    let labels: Vec<String> = d.periods.iter().map(|p| p.to_string()).collect();
    figure(
        &mut html,
        drawn,
        Figure::main(
            "alternatives_monthly_revenue",
            "Revenue per month, by pricing",
            charts::monthly_revenue(&labels, &shown),
        ),
    );
    figure(
        &mut html,
        drawn,
        Figure::main(
            "alternatives_price_spread",
            "Effective price per mounting: the middle 80 % of mountings, by pricing",
            charts::price_spread(&shown),
        ),
    );
    figure(
        &mut html,
        drawn,
        Figure::main(
            "alternatives_lorenz",
            "Lorenz curves: who pays the revenue, by price per mounting",
            charts::lorenz(&shown),
        ),
    );
    if sides[0].judgement.costs.is_some() {
        provider_part(&mut html, drawn, &labels, sides, &shown);
        figure(
            &mut html,
            drawn,
            Figure::main(
                "alternatives_margin_vs_volume",
                "Margin per shop against its volume",
                charts::margin_vs_volume(&e.view, &shown[..shown.len().min(2)]),
            ),
        );
        subsidy_part(&mut html, drawn, e, sides);
    } else {
        html.push_str(
            "<p>The field is not simulated (<code>[service] enabled = false</code>): no cost to \
             serve, so no margins and no subsidy tests.</p>",
        );
    }
    html.push_str(&definitions());
    html.push_str(&links());
    (html, std::mem::take(drawn))
}

/// What the provider earns month by month against what serving the fleet costs.
fn provider_part(
    html: &mut String,
    drawn: &mut Vec<Figure>,
    labels: &[String],
    sides: &[Side],
    shown: &[&Side],
) {
    html.push_str(
        "<h3>The provider's view</h3><p>The cost to serve is spent when it is: the machines \
         by the days they are installed, consumables by the pairs edged, a repair in the month \
         its machine failed (parts, labour, travel, loaner), a preventive visit in its month. \
         It is the same whichever pricing bills the fleet; SLA credits lower the revenue.</p>",
    );
    figure(
        html,
        drawn,
        Figure::main(
            "provider_months",
            format!(
                "Revenue, cost to serve and margin per month ({})",
                sides[0].id()
            ),
            charts::provider_months(labels, &sides[0]),
        ),
    );
    figure(
        html,
        drawn,
        Figure::main(
            "alternatives_cash",
            "Cash flow: cumulative margin since the start, by pricing",
            charts::cumulative_margin(labels, shown),
        ),
    );
    html.push_str(&cash_table(sides));
}

/// Per pricing: the deepest point of its cumulative margin, its months at a loss and when it
/// breaks even.
fn cash_table(sides: &[Side]) -> String {
    let mut html = String::from(
        "<div class=\"wide\"><table><tr><th>pricing</th><th>margin over the run</th>\
         <th>cash to fund (lowest cumulative margin)</th><th>in</th><th>months at a loss</th>\
         <th>breaks even from</th></tr>",
    );
    for (i, s) in sides.iter().enumerate() {
        let sum = s.summary();
        let Some(c) = sum.costs.as_ref() else {
            continue;
        };
        let cell = |keys: &[&str], text: String| fact(i, keys, text);
        let month = |key: &str, m: &Option<String>| {
            m.as_ref()
                .map_or_else(dash_cell, |m| cell(&[&format!("costs/{key}")], m.clone()))
        };
        let _ = write!(
            html,
            "<tr><th>{}</th>{}{}{}{}{}</tr>",
            escape(s.id()),
            cell(&["costs/margin_cents"], euros(c.margin_cents)),
            cell(
                &["costs/cumulative_margin_low_cents"],
                euros(c.cumulative_margin_low_cents)
            ),
            month(
                "cumulative_margin_low_month",
                &c.cumulative_margin_low_month
            ),
            cell(&["costs/months_at_loss"], c.months_at_loss.to_string()),
            month("break_even_month", &c.break_even_month),
        );
    }
    html.push_str(
        "</table></div><p>Month by month, in cents: \
         <a href=\"alternative_monthly.csv\">alternative_monthly.csv</a>.</p>",
    );
    html
}

/// The pricings the charts show: the base and the declared alternatives first, then sweep
/// points, at most `SHOWN`.
fn shown<'a>(sides: &'a [Side<'a>]) -> Vec<&'a Side<'a>> {
    let mut out: Vec<&Side> = sides.iter().filter(|s| !s.is_sweep()).collect();
    out.extend(sides.iter().filter(|s| s.is_sweep()));
    out.truncate(SHOWN);
    out
}

/// The best of the set on what a product team asks first.
fn cards(sides: &[Side]) -> String {
    let mut cards = Vec::new();
    let best = |key: &dyn Fn(&Side) -> Option<i64>| {
        sides
            .iter()
            .filter_map(|s| key(s).map(|k| (k, s)))
            .max_by_key(|(k, s)| (*k, std::cmp::Reverse(s.id().to_string())))
    };
    if let Some((m, s)) = best(&|s| s.judgement.costs.as_ref().map(|c| c.margin_cents)) {
        cards.push(("Highest margin", s.id().to_string(), euros(m)));
    }
    if let Some((_, s)) = best(&|s| Some(-((s.judgement.gini * 1e6) as i64))) {
        let gini = format!("Gini {:.3}", s.judgement.gini);
        cards.push(("Most even price per mounting", s.id().to_string(), gini));
    }
    if let Some((_, s)) = best(&|s| Some(-s.judgement.regret_cents)) {
        let regret = format!("regret {}", euros(s.judgement.regret_cents));
        cards.push(("Least regret for the shops", s.id().to_string(), regret));
    }
    let free: Vec<&str> = sides
        .iter()
        .filter(|s| {
            s.judgement.costs.as_ref().is_some_and(|c| {
                c.subsidy
                    .rows
                    .iter()
                    .all(|r| !r.fails_stand_alone() && !r.fails_incremental())
            })
        })
        .map(Side::id)
        .collect();
    if sides[0].judgement.costs.is_some() {
        let which = match free.len() {
            0 => "none".to_string(),
            _ => free.join(", "),
        };
        cards.push((
            "Subsidy-free (every shop and segment)",
            which,
            format!("{} of {}", free.len(), sides.len()),
        ));
    }
    let failed = sides.iter().filter(|s| !s.reconciled).count();
    cards.push((
        "Reconciled",
        if failed == 0 { "all" } else { "NOT all" }.to_string(),
        format!("{} of {}", sides.len() - failed, sides.len()),
    ));
    let mut html = String::from("<div class=\"cards\">");
    for (title, who, figure) in cards {
        let _ = write!(
            html,
            "<div class=\"card\"><span>{}</span><b>{}</b><span>{}</span></div>",
            escape(title),
            escape(&who),
            escape(&figure)
        );
    }
    html.push_str("</div>");
    html
}

/// Whole euros with thin spaces between thousands, for tables read at a glance (the CSVs
/// keep the cents).
fn euros(cents: i64) -> String {
    let whole = (cents.abs() + 50) / 100;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    let sign = if cents < 0 && whole > 0 { "−" } else { "" };
    format!("{sign}{out}\u{a0}EUR")
}

fn side_by_side(sides: &[Side]) -> String {
    let mut html = String::from(
        "<h3>What each pricing earns</h3><div class=\"wide\"><table><tr><th>pricing</th>\
         <th>revenue</th><th>margin</th><th>EUR per mounting</th><th>shops at a loss</th>\
         <th>their mountings</th><th>lost to downtime</th><th>credits</th><th>peak month</th>\
         <th>reconciled</th></tr>",
    );
    for (i, s) in sides.iter().enumerate() {
        let sum = s.summary();
        let cell = |keys: &[&str], text: String| fact(i, keys, text);
        let cost = |key: &str, text: &dyn Fn(&CostSummary) -> String| {
            sum.costs
                .as_ref()
                .map_or_else(dash_cell, |c| cell(&[&format!("costs/{key}")], text(c)))
        };
        let _ = write!(
            html,
            "<tr><th title=\"{}\">{}</th>{}{}{}{}{}{}{}{}<td class=\"{}\">{}</td></tr>",
            escape(&s.priced.description),
            escape(s.id()),
            cell(&["revenue_cents"], euros(sum.revenue_cents)),
            cost("margin_cents", &|c| euros(c.margin_cents)),
            optional(i, "price_per_mounting_cents", sum.price_per_mounting_cents),
            cost("shops_at_loss", &|c| c.shops_at_loss.to_string()),
            cost("at_loss_mountings_share", &|c| percent(
                c.at_loss_mountings_share
            )),
            cost("revenue_lost_to_failures_cents", &|c| euros(
                c.revenue_lost_to_failures_cents
            )),
            cell(&["credits_cents"], euros(sum.credits_cents)),
            sum.peak_month
                .as_ref()
                .map_or_else(dash_cell, |m| cell(&["peak_month"], m.clone())),
            if s.reconciled { "ok" } else { "fail" },
            if s.reconciled { "yes" } else { "NO" },
        );
    }
    html.push_str(
        "</table></div><h3>How evenly each pricing charges</h3><div class=\"wide\"><table><tr>\
         <th>pricing</th><th>Gini</th><th>EUR per mounting p10 – p50 – p90</th><th>bill CV \
         (median)</th><th>Spearman price ~ cost</th><th>shops failing stand-alone / \
         incremental</th><th>regret</th><th>cheapest for</th><th>catalogue findings</th></tr>",
    );
    for (i, s) in sides.iter().enumerate() {
        let sum = s.summary();
        let cell = |keys: &[&str], text: String| fact(i, keys, text);
        let spread = match (sum.p10_cents, sum.p50_cents, sum.p90_cents) {
            (Some(a), Some(b), Some(c)) => cell(
                &["p10_cents", "p50_cents", "p90_cents"],
                format!(
                    "{} – {} – {}",
                    price(Some(a)),
                    price(Some(b)),
                    price(Some(c))
                ),
            ),
            _ => dash_cell(),
        };
        let costs = sum.costs.as_ref();
        let _ = write!(
            html,
            "<tr><th>{}</th>{}{}{}{}{}{}{}{}</tr>",
            escape(s.id()),
            cell(&["gini"], format!("{:.3}", sum.gini)),
            spread,
            sum.bill_cv_median
                .map_or_else(dash_cell, |v| cell(&["bill_cv_median"], format!("{v:.2}"))),
            costs
                .and_then(|c| c.spearman_price_cost)
                .map_or_else(dash_cell, |v| {
                    cell(&["costs/spearman_price_cost"], format!("{v:.2}"))
                }),
            costs.map_or_else(dash_cell, |c| cell(
                &[
                    "costs/shops_failing_stand_alone",
                    "costs/shops_failing_incremental"
                ],
                format!(
                    "{} / {}",
                    c.shops_failing_stand_alone, c.shops_failing_incremental
                )
            )),
            cell(&["regret_cents"], euros(sum.regret_cents)),
            cell(&["cheapest_for"], sum.cheapest_for.to_string()),
            sum.catalogue_findings
                .map_or_else(dash_cell, |f| cell(&["catalogue_findings"], f.to_string())),
        );
    }
    html.push_str(
        "</table></div><p>Hover a pricing's name for its description. \
         <i>Lost to downtime</i>: what the mountings lost while a shop had no working machine \
         would have paid at its price per mounting. Every figure, in cents: \
         <a href=\"alternatives.csv\">alternatives.csv</a>.</p>",
    );
    html
}

/// A cell showing pricing `i`'s summary.json values `keys` (under `/alternatives/i/`, in the
/// order shown), so that a reader or a test can check the page against the file.
fn fact(i: usize, keys: &[&str], text: String) -> String {
    let pointers: Vec<String> = keys
        .iter()
        .map(|k| format!("/alternatives/{i}/{k}"))
        .collect();
    format!(
        "<td data-summary=\"{}\">{}</td>",
        escape(&pointers.join(" ")),
        escape(&text)
    )
}

fn dash_cell() -> String {
    "<td>–</td>".to_string()
}

/// A price per mounting cell, or a dash when the pricing billed no mounting.
fn optional(i: usize, key: &str, cents: Option<f64>) -> String {
    cents.map_or_else(dash_cell, |c| fact(i, &[key], price(Some(c))))
}

fn percent(share: f64) -> String {
    format!("{:.0}\u{a0}%", share * 100.0)
}

/// A price per mounting in cents as EUR with two decimals.
fn price(cents: Option<f64>) -> String {
    cents.map_or("–".to_string(), |c| format!("{:.2}", c / 100.0))
}

fn sweep_part(html: &mut String, drawn: &mut Vec<Figure>, sweep: &Sweep) {
    let slug = |what: &str| format!("sweep_{}_{what}", slug_of(&sweep.name));
    figure(
        html,
        drawn,
        Figure::main(
            slug("money"),
            format!(
                "Sweep `{}`: revenue and margin against {}",
                sweep.name,
                sweep.noun()
            ),
            charts::sweep_money(sweep),
        ),
    );
    if sweep
        .points
        .iter()
        .all(|(_, s)| s.judgement.costs.is_some())
    {
        figure(
            html,
            drawn,
            Figure::main(
                slug("losses"),
                format!(
                    "Sweep `{}`: shops served at a loss against {}",
                    sweep.name,
                    sweep.noun()
                ),
                charts::sweep_losses(sweep),
            ),
        );
    }
    figure(
        html,
        drawn,
        Figure::main(
            slug("gini"),
            format!(
                "Sweep `{}`: evenness (Gini) against {}",
                sweep.name,
                sweep.noun()
            ),
            charts::sweep_gini(sweep),
        ),
    );
}

/// A sweep's name as a file-name word: lowercase letters and digits, `_` for the rest.
fn slug_of(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect()
}

fn subsidy_part(html: &mut String, drawn: &mut Vec<Figure>, e: &Evaluation, sides: &[Side]) {
    let base = &sides[0];
    figure(
        html,
        drawn,
        Figure::main(
            "subsidy_segments",
            "Subsidy tests by segment, volume decile and mix (base): subsidy-free revenue \
             lies between the incremental and the stand-alone cost",
            charts::subsidy_segments(&e.view, base, false),
        ),
    );
    html.push_str(
        "<p>D1–D10: volume deciles, D1 the smallest shops. F1–F3: frame mix terciles by the \
         share of grooved and drilled pairs (F3 the most). M1–M3: material mix terciles by the \
         share of high-index (1.67+) and polycarbonate pairs (M3 the most).</p>",
    );
    figure(
        html,
        drawn,
        Figure::main(
            "subsidy_regions",
            "Subsidy tests by region (base)",
            charts::subsidy_segments(&e.view, base, true),
        ),
    );
    html.push_str(
        "<h3>Cross-subsidy, per pricing</h3><table><tr><th>pricing</th><th>shops above \
         stand-alone</th><th>paid beyond it</th><th>shops below incremental</th><th>short of \
         it</th><th>segments above stand-alone</th><th>segments below incremental</th></tr>",
    );
    for s in sides {
        let Some(c) = s.summary().costs else { continue };
        let segments = e.view.shops.len();
        let tested = s
            .judgement
            .costs
            .as_ref()
            .map_or(0, |c| c.subsidy.rows.len())
            - segments;
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(s.id()),
            c.shops_failing_stand_alone,
            euros(c.overpaid_cents),
            c.shops_failing_incremental,
            euros(c.subsidised_cents),
            failing(&c.segments_failing_stand_alone, tested),
            failing(&c.segments_failing_incremental, tested),
        );
    }
    html.push_str("</table>");
    top_shops(html, e, base);
}

/// Segments failing a test: their short names when few, else how many of those tested.
fn failing(names: &[String], tested: usize) -> String {
    match names.len() {
        0 => "none".to_string(),
        n if n <= 4 => escape(
            &names
                .iter()
                .map(|n| charts::short_segment(n))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        n => format!("{n} of {tested}"),
    }
}

/// The base's shops that pay most beyond their stand-alone cost, and most below their
/// incremental cost.
fn top_shops(html: &mut String, e: &Evaluation, base: &Side) {
    let Some(c) = &base.judgement.costs else {
        return;
    };
    let n = e.view.shops.len();
    let singles: Vec<(usize, &SubsidyRow)> = c.subsidy.rows[..n].iter().enumerate().collect();
    let tables: [(&str, RowCents); 2] = [
        (
            "Shops that overpay most (base): paid beyond serving them alone",
            |r| r.above_stand_alone_cents,
        ),
        (
            "Shops subsidised most (base): paid below what they cost the fleet",
            |r| r.below_incremental_cents,
        ),
    ];
    for (title, key) in tables {
        let mut rows: Vec<_> = singles.iter().filter(|(_, r)| key(r) > 0).collect();
        rows.sort_by_key(|(i, r)| (std::cmp::Reverse(key(r)), *i));
        let _ = write!(html, "<h3>{}</h3>", escape(title));
        if rows.is_empty() {
            html.push_str("<p>None.</p>");
            continue;
        }
        html.push_str(
            "<table><tr><th>shop</th><th>segment</th><th>mountings</th><th>paid</th>\
             <th>cost to serve</th><th>stand-alone</th><th>incremental</th><th>by</th></tr>",
        );
        for (i, r) in rows.into_iter().take(TOP) {
            let shop = &e.view.shops[*i];
            let _ = write!(
                html,
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&shop.name),
                shop.segment,
                shop.mountings,
                euros(r.revenue_cents),
                shop.cost.map_or("–".into(), |c| euros(c.total())),
                euros(r.stand_alone_cents),
                euros(r.incremental_cents),
                euros(key(r)),
            );
        }
        html.push_str("</table>");
    }
}

fn definitions() -> String {
    "<h3>How fairness is measured</h3><ul>\
     <li><b>Price per mounting</b> of a shop: what it was invoiced over the run (net of VAT) ÷ \
     its billable mountings.</li>\
     <li><b>Gini</b>: ΣᵢΣⱼ wᵢwⱼ|xᵢ − xⱼ| ÷ (2 (Σw)² μ), xᵢ a shop's price per mounting, wᵢ its \
     mountings, μ the weighted mean: 0 when every mounting costs the same. p10 / p50 / p90 are \
     weighted by mountings the same way; the Lorenz curve plots the share of revenue paid by \
     the share of mountings, cheapest first.</li>\
     <li><b>Stand-alone cost test</b> (Faulhaber, 1975): no shop or segment pays more than \
     serving it alone would cost (its machine, consumables and parts, and technicians' travel \
     longer by √(k ÷ k(S)) with fewer technicians for fewer shops). <b>Incremental cost \
     test</b>: each pays at least what the fleet's cost falls by without it. A pricing is \
     subsidy-free when every shop and segment passes both; the money paid beyond stand-alone \
     costs and short of incremental costs is what flows from one group to the other.</li>\
     <li><b>Shops at a loss</b>: revenue below their cost to serve; <b>bill CV</b>: the median \
     over shops of the coefficient of variation of the monthly bill (predictability); \
     <b>Spearman</b>: rank correlation of price per mounting with cost to serve per mounting \
     (1: prices follow costs).</li>\
     <li><b>Regret</b> of a shop: its bill under a pricing minus its cheapest bill in the set; \
     <b>cheapest for</b>: the shops for which the pricing is the cheapest (ties count for \
     each).</li></ul>"
        .to_string()
}

fn links() -> String {
    let files = [
        super::ALTERNATIVES_CSV,
        super::ALTERNATIVE_SHOPS_CSV,
        super::ALTERNATIVE_SEGMENTS_CSV,
        super::ALTERNATIVE_MONTHLY_CSV,
        super::ALTERNATIVE_INVOICES_CSV,
    ];
    let links: Vec<String> = files
        .iter()
        .map(|f| format!("<a href=\"{f}\">{f}</a>"))
        .collect();
    format!("<p>Alternatives' data: {}.</p>", links.join(", "))
}
