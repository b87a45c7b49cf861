//! `[service]` runs: the field in the report. One entry point, [`view`], gives the page's
//! section and the CSVs it links to; everything is computed from `RunData` (the repairs, the
//! truth's field tallies, the invoices, each shop's promise) and the run's `FieldOutcome`.
//!
//! - `figures`: per month, per shop and month, per shop (what the charts and tables show);
//! - `tiers`: repairs grouped by the shop's promise, their times against it;
//! - `quote_check`: the quote calculator's expected service cost against the simulated one;
//! - `charts`, `tables`: the SVG charts and the CSVs.

mod charts;
mod figures;
mod quote_check;
mod tables;
mod tiers;

use super::figure::Figure;
use super::html::{escape, fact_row};
use crate::money::format_cents;
use crate::quote::CostModel;
use crate::report::RunData;
use crate::service::outcome::{FieldFigures, FieldOutcome, PredictiveComparison};
use charts::Time;
use figures::{Month, ShopEconomics, VOLUME_BINS};
use quote_check::{ShopCheck, Totals};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write;
use tiers::{percent, quantile, Tier};

pub const REPAIRS_CSV: &str = "repairs.csv";
pub const SERVICE_MONTHLY_CSV: &str = "service_monthly.csv";
pub const LOST_MOUNTINGS_CSV: &str = "lost_mountings.csv";
pub const SERVICE_VS_QUOTE_CSV: &str = "service_vs_quote.csv";

/// Rows of the "worst" tables.
const TOP: usize = 10;

/// The service section of index.html, its charts and the files it links to, (name, content).
pub struct View {
    pub html: String,
    pub figures: Vec<Figure>,
    pub files: Vec<(&'static str, String)>,
}

/// Everything the service view shows, for one run.
pub fn view(d: &RunData, field: &FieldOutcome) -> View {
    let months = figures::monthly(d);
    let economics = figures::economics(d, field);
    let model = d
        .quotes
        .map_or_else(CostModel::default, |q| q.model.clone());
    let checks = quote_check::per_shop(d, &field.costs, &economics, &model);
    let lost = figures::lost_by_shop_month(d);
    let files = vec![
        (REPAIRS_CSV, tables::repairs_csv(d)),
        (SERVICE_MONTHLY_CSV, tables::monthly_csv(d, &months)),
        (LOST_MOUNTINGS_CSV, tables::lost_csv(d, &lost)),
        (SERVICE_VS_QUOTE_CSV, quote_check::csv(&checks)),
    ];
    let labels: Vec<String> = d.periods.iter().map(|p| p.to_string()).collect();
    let mut html = String::from("<h2 id=\"service\">Field service</h2>");
    let mut drawn = Vec::new();
    html.push_str(&facts(d, field));
    incidents(&mut html, &mut drawn, &labels, &months);
    promises(&mut html, &mut drawn, &tiers::tiers(d));
    downtime(&mut html, &mut drawn, d, &labels, &months);
    economics_part(&mut html, &mut drawn, &economics);
    if let Some(p) = &field.predictive {
        html.push_str(&predictive_table(p));
    }
    quote_part(&mut html, &mut drawn, d, &checks, &model);
    html.push_str(&links());
    View {
        html,
        figures: drawn,
        files,
    }
}

/// A chart under its title (or why it is missing), kept for its PNG.
fn figure(html: &mut String, drawn: &mut Vec<Figure>, f: Figure) {
    html.push_str(&f.html());
    drawn.push(f);
}

/// "1234.56 EUR", kept on one line (a no-break space).
fn money(cents: i64) -> String {
    format!("{}\u{a0}EUR", format_cents(cents))
}

fn facts(d: &RunData, field: &FieldOutcome) -> String {
    let s = &field.summary;
    let rows: [(&str, &[&str], String); 7] = [
        (
            "Incidents (per machine-year)",
            &["/service/incidents", "/service/incidents_per_machine_year"],
            format!("{} ({:.2})", s.incidents, s.incidents_per_machine_year),
        ),
        (
            "Fixed remotely / site visits / with a loaner",
            &[
                "/service/remote_fixes",
                "/service/site_visits",
                "/service/loaners",
            ],
            format!("{} / {} / {}", s.remote_fixes, s.site_visits, s.loaners),
        ),
        (
            "Response hours: p50, p90, max",
            &[
                "/service/response_hours/0",
                "/service/response_hours/1",
                "/service/response_hours/2",
            ],
            format!(
                "{}, {}, {}",
                s.response_hours[0], s.response_hours[1], s.response_hours[2]
            ),
        ),
        (
            "Repair hours (to edging again): p50, p90, max",
            &[
                "/service/repair_hours/0",
                "/service/repair_hours/1",
                "/service/repair_hours/2",
            ],
            format!(
                "{}, {}, {}",
                s.repair_hours[0], s.repair_hours[1], s.repair_hours[2]
            ),
        ),
        (
            "Repairs that missed the promise (SLA breaches)",
            &["/service/sla_breaches"],
            s.sla_breaches.to_string(),
        ),
        (
            "Mountings lost (remote-edged, not billed) / waited",
            &[
                "/truth/lost_billable_mountings",
                "/service/waited_mountings",
            ],
            format!(
                "{} / {}",
                d.outcome.truth.lost_billable_mountings(),
                s.waited_mountings
            ),
        ),
        (
            "Cost to serve",
            &["/service/cost_cents"],
            money(s.cost_cents),
        ),
    ];
    let mut t = String::from("<table>");
    for (k, from, v) in rows {
        t.push_str(&fact_row(k, from, &v));
    }
    t.push_str("</table>");
    t
}

fn incidents(html: &mut String, drawn: &mut Vec<Figure>, labels: &[String], months: &[Month]) {
    let svg = charts::incidents_by_cause(labels, months);
    let f = Figure::main("incidents_by_cause", "Incidents per month, by cause", svg);
    figure(html, drawn, f);
}

/// 2. Response and repair times against each tier's promise.
fn promises(html: &mut String, drawn: &mut Vec<Figure>, tiers: &[Tier]) {
    let response = Figure::main(
        "response_time",
        "Response time against the promise, by service tier (dashed: the promise)",
        charts::time_distribution(tiers, Time::Response),
    );
    figure(html, drawn, response);
    // The response chart's twin: on the page, not on a slide.
    let repair = Figure::page_only(
        "repair_time",
        "Repair time (to the shop edging again) against the promise, by service tier",
        charts::time_distribution(tiers, Time::Repair),
    );
    figure(html, drawn, repair);
    html.push_str(
        "<table><tr><th>tier (promise)</th><th>shops</th><th>repairs</th><th>response within</th>\
         <th>repair within</th><th>promise kept</th><th>response p50 / p90 h</th><th>repair p50 / p90 h</th></tr>",
    );
    for t in tiers {
        let n = t.repairs();
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{}</td><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} / {:.1}</td><td>{:.1} / {:.1}</td></tr>",
            escape(&t.label()),
            t.shops,
            percent(t.response_within, n),
            percent(t.repair_within, n),
            percent(t.kept, n),
            quantile(&t.response_hours, 0.5),
            quantile(&t.response_hours, 0.9),
            quantile(&t.repair_hours, 0.5),
            quantile(&t.repair_hours, 0.9),
        );
    }
    html.push_str("</table><p>A repair keeps the promise when both its response and its repair time are within it; the others are the SLA breaches.</p>");
}

/// 3. Downtime, lost and waited mountings, and the shops that lost most.
fn downtime(
    html: &mut String,
    drawn: &mut Vec<Figure>,
    d: &RunData,
    labels: &[String],
    months: &[Month],
) {
    let svg = charts::downtime(labels, months);
    figure(
        html,
        drawn,
        Figure::main("downtime", "Downtime per month", svg),
    );
    let lost = Figure::main(
        "lost_and_waited",
        "Mountings lost and waited per month while a shop had no working machine",
        charts::lost_and_waited(labels, months),
    );
    figure(html, drawn, lost);
    let top = figures::top_lost(d, TOP);
    if top.is_empty() {
        html.push_str("<p>No shop lost or waited a mounting.</p>");
        return;
    }
    html.push_str(
        "<h3>Shops that lost the most mountings</h3><table><tr><th>shop</th><th>segment</th>\
         <th>incidents</th><th>downtime h</th><th>lost</th><th>waited</th></tr>",
    );
    for s in top {
        let segment = d.fleet.shops[s.shop as usize].segment.as_str();
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{segment}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            crate::event::ShopId(s.shop),
            s.incidents,
            s.downtime_seconds as f64 / 3600.0,
            s.lost,
            s.waited
        );
    }
    html.push_str("</table><p>Every shop and month: <a href=\"lost_mountings.csv\">lost_mountings.csv</a>.</p>");
}

/// 4. Cost to serve against net invoiced, by volume.
fn economics_part(html: &mut String, drawn: &mut Vec<Figure>, shops: &[ShopEconomics]) {
    let f = Figure::main(
        "cost_and_revenue",
        "Cost to serve and net invoiced per shop, by volume",
        charts::cost_and_revenue(shops),
    );
    figure(html, drawn, f);
    let mut bins = vec![(0u64, 0u64, 0i64, 0i64); VOLUME_BINS.len()];
    for s in shops {
        let b = &mut bins[figures::volume_bin(s.mountings_a_year)];
        b.0 += 1;
        b.1 += s.mountings;
        b.2 += s.cost_cents;
        b.3 += s.net_cents;
    }
    html.push_str(
        "<table><tr><th>mountings a year</th><th>shops</th><th>mountings</th><th>cost to serve</th>\
         <th>net invoiced</th><th>margin</th><th>margin / net</th></tr>",
    );
    for (i, (n, mountings, cost, net)) in bins.into_iter().enumerate() {
        if n == 0 {
            continue;
        }
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{n}</td><td>{mountings}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            figures::volume_bin_label(i),
            money(cost),
            money(net),
            money(net - cost),
            signed_percent(net - cost, net),
        );
    }
    html.push_str("</table><p>Margin = net invoiced (before VAT) − cost to serve (machine, consumables, parts, labour, travel, loaners, and preventive visits when the policy is on); per shop in shops.csv.</p>");
}

/// `part` of `whole` as a signed percentage to 0.1, in integers ("−12.3 %"; "" of 0).
fn signed_percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return String::new();
    }
    let permille = i128::from(part) * 1000 / i128::from(whole);
    let sign = if permille < 0 { "−" } else { "" };
    let p = permille.abs();
    format!("{sign}{}.{} %", p / 10, p % 10)
}

/// One integer figure of a simulation of the field.
type FieldFigure = fn(&FieldFigures) -> i64;

/// 5. With and without predictive maintenance.
pub fn predictive_table(p: &PredictiveComparison) -> String {
    let (w, o) = (&p.with, &p.without);
    let ints: [(&str, FieldFigure); 9] = [
        ("jobs the shops gave their machines", |f| {
            f.demand_jobs as i64
        }),
        ("failures", |f| f.failures as i64),
        ("preventive visits", |f| f.preventive_visits as i64),
        ("visits that found the machine failed", |f| {
            f.wasted_visits as i64
        }),
        ("lost mountings", |f| f.lost_mountings as i64),
        ("waited mountings", |f| f.waited_mountings as i64),
        ("SLA breaches", |f| f.sla_breaches as i64),
        ("maintenance cost (cents)", |f| f.maintenance_cents),
        ("cost to serve (cents)", |f| f.cost_cents),
    ];
    let mut t = String::from(
        "<h3>Predictive maintenance: with and without</h3><table><tr><th>figure</th><th>without</th>\
         <th>with</th><th>change</th></tr>",
    );
    for (name, get) in ints {
        let (a, b) = (get(o), get(w));
        let _ = write!(
            t,
            "<tr><th>{name}</th><td>{a}</td><td>{b}</td><td>{}</td></tr>",
            signed_percent(b - a, a)
        );
    }
    let (a, b) = (o.downtime_hours, w.downtime_hours);
    let change = if a == 0.0 {
        String::new()
    } else {
        format!("{:.1} %", (b - a) / a * 100.0).replace('-', "−")
    };
    let _ = write!(
        t,
        "<tr><th>downtime hours</th><td>{a:.1}</td><td>{b:.1}</td><td>{change}</td></tr></table>\
         <p>The same fleet, seed and demand simulated with the policy (with) and without it.</p>"
    );
    t
}

/// 6. The quote calculator against the simulated field.
fn quote_part(
    html: &mut String,
    drawn: &mut Vec<Figure>,
    d: &RunData,
    checks: &[ShopCheck],
    model: &CostModel,
) {
    html.push_str(
        "<h3>The quote calculator's expected service cost against the simulated field</h3>",
    );
    html.push_str(
        "<p>For each shop, the calculator's formulas (<code>quote::costs</code>) at the shop's simulated \
         mountings, frame and material mix, machine count and months installed within the run, against \
         what the simulated field cost it. Compared like with like: <strong>repairs</strong> — the calculator's \
         incidents × cost per incident (a mix of remote fixes, site visits and loaner episodes) against the \
         simulated parts + labour + travel + loaner logistics (+ preventive visits when the policy is on); <strong>consumables</strong> — mountings × \
         (wheels + tools + sundries) against the simulated wheel sets, tools and sundries. The machine's \
         lease is the same formula on both sides and is left out.</p>",
    );
    let t = quote_check::totals(checks);
    html.push_str(&totals_table(&t, model));
    html.push_str(&term_note(d));
    html.push_str(WHEEL_NOTE);
    html.push_str(&bins_table(checks));
    html.push_str(&worst_table(checks));
    let f = Figure::main(
        "quote_vs_simulated",
        "Expected by the quote calculator against simulated, per shop (line: x = y)",
        charts::expected_vs_simulated(checks),
    );
    figure(html, drawn, f);
}

fn ratio_text(r: Option<rust_decimal::Decimal>) -> String {
    r.map(|r| r.round_dp(2).to_string()).unwrap_or_default()
}

/// How the simulation counts wheels, which the calculator spreads over the mountings.
const WHEEL_NOTE: &str = "<p>Consumables: the simulation pays for a wheel set when it wears out \
     (8–15 k lens-equivalents) and the machines start with a fresh set, so a shop that edges less \
     than a set's life within the run pays no wheel yet; the calculator spreads the wheels over every \
     mounting.</p>";

fn totals_table(t: &Totals, model: &CostModel) -> String {
    let (e, s) = (&t.expected, &t.simulated);
    let per_incident = quote_check::ratio(s.repairs_cents, s.incidents as i64)
        .map(|c| money(c.round().to_i64().unwrap_or(0)))
        .unwrap_or_default();
    let expected_per_incident = model.cost_per_incident() * Decimal::from(100);
    let rows = [
        (
            "incidents",
            e.incidents.round_dp(1).to_string(),
            s.incidents.to_string(),
            String::new(),
        ),
        (
            "repair cost per incident",
            money(expected_per_incident.round().to_i64().unwrap_or(0)),
            per_incident,
            String::new(),
        ),
        (
            "repairs",
            money(e.repairs_cents),
            money(s.repairs_cents),
            ratio_text(quote_check::ratio(s.repairs_cents, e.repairs_cents)),
        ),
        (
            "consumables",
            money(e.consumables_cents),
            money(s.consumables_cents),
            ratio_text(quote_check::ratio(s.consumables_cents, e.consumables_cents)),
        ),
        (
            "service (repairs + consumables)",
            money(e.repairs_cents + e.consumables_cents),
            money(s.repairs_cents + s.consumables_cents),
            ratio_text(quote_check::ratio(
                s.repairs_cents + s.consumables_cents,
                e.repairs_cents + e.consumables_cents,
            )),
        ),
    ];
    let mut html = String::from(
        "<table><tr><th>fleet total</th><th>expected</th><th>simulated</th><th>simulated / expected</th></tr>",
    );
    for (name, a, b, r) in rows {
        let _ = write!(
            html,
            "<tr><th>{name}</th><td>{a}</td><td>{b}</td><td>{r}</td></tr>"
        );
    }
    let _ = write!(
        html,
        "<tr><th>median of the shops' ratios (service)</th><td></td><td></td><td>{}</td></tr></table>",
        ratio_text(t.median_ratio)
    );
    html
}

/// Why a run shorter than the term sees fewer failures than the calculator's average.
fn term_note(d: &RunData) -> String {
    let f = &d.scenario.service.failures;
    let years = f64::from(d.calendar.months()) / 12.0;
    if years >= f.term_years {
        return String::new();
    }
    let factor = (years / f.term_years).powf(f.shape - 1.0);
    format!(
        "<p>The calculator's incident rate is the average over the offer's {:.0}-year term; the simulated \
         machines are new at the run's start and fail less while young. Over the first {years:.1} years of a \
         power law of shape {} the expected failures are ({years:.1} / {:.0})<sup>{:.1}</sup> = {factor:.2} \
         of the term's average: that much of the repairs' gap is the run's length, not the calculator.</p>",
        f.term_years,
        f.shape,
        f.term_years,
        f.shape - 1.0,
    )
}

fn bins_table(checks: &[ShopCheck]) -> String {
    let mut bins = vec![(0u64, 0i64, 0i64, 0i64, 0i64); VOLUME_BINS.len()];
    for c in checks {
        let b = &mut bins[figures::volume_bin(c.mountings_a_year)];
        b.0 += 1;
        b.1 += c.expected.repairs_cents;
        b.2 += c.simulated.repairs_cents;
        b.3 += c.expected.consumables_cents;
        b.4 += c.simulated.consumables_cents;
    }
    let mut html = String::from(
        "<table><tr><th>mountings a year</th><th>shops</th><th>repairs expected</th><th>simulated</th>\
         <th>ratio</th><th>consumables expected</th><th>simulated</th><th>ratio</th></tr>",
    );
    for (i, (n, er, sr, ec, sc)) in bins.into_iter().enumerate() {
        if n == 0 {
            continue;
        }
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            figures::volume_bin_label(i),
            money(er),
            money(sr),
            ratio_text(quote_check::ratio(sr, er)),
            money(ec),
            money(sc),
            ratio_text(quote_check::ratio(sc, ec)),
        );
    }
    html.push_str("</table>");
    html
}

fn worst_table(checks: &[ShopCheck]) -> String {
    let mut html = String::from(
        "<h3>Shops furthest from the calculator</h3><table><tr><th>shop</th><th>machines</th>\
         <th>mountings a year</th><th>incidents expected / simulated</th><th>service expected</th>\
         <th>simulated</th><th>ratio</th></tr>",
    );
    for c in quote_check::worst(checks, TOP) {
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::event::ShopId(c.shop),
            c.machines,
            c.mountings_a_year.round_dp(0),
            c.expected.incidents.round_dp(2),
            c.simulated.incidents,
            money(c.expected.repairs_cents + c.expected.consumables_cents),
            money(c.simulated.repairs_cents + c.simulated.consumables_cents),
            ratio_text(c.ratio()),
        );
    }
    html.push_str(
        "</table><p>Every shop: <a href=\"service_vs_quote.csv\">service_vs_quote.csv</a>.</p>",
    );
    html
}

fn links() -> String {
    let mut html = String::from("<p>Field data:");
    for (i, name) in [
        REPAIRS_CSV,
        SERVICE_MONTHLY_CSV,
        LOST_MOUNTINGS_CSV,
        SERVICE_VS_QUOTE_CSV,
    ]
    .iter()
    .enumerate()
    {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(html, "{sep}<a href=\"{name}\">{name}</a>");
    }
    html.push_str(".</p>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(failures: u64, cost_cents: i64, downtime_hours: f64) -> FieldFigures {
        FieldFigures {
            demand_jobs: 5_000,
            wasted_visits: 0,
            maintenance_cents: cost_cents / 4,
            failures,
            preventive_visits: if failures < 100 { 30 } else { 0 },
            downtime_hours,
            lost_mountings: failures * 2,
            waited_mountings: failures,
            sla_breaches: failures / 10,
            cost_cents,
        }
    }

    /// 100 failures without, 80 with: −20.0 %; cost 1,000.00 → 1,100.00 EUR: +10.0 %;
    /// downtime 50 → 40 h: −20.0 %; preventive visits from 0: no change to state.
    #[test]
    fn the_predictive_table_shows_both_runs_and_the_change() {
        let p = PredictiveComparison {
            with: figures(80, 110_000, 40.0),
            without: figures(100, 100_000, 50.0),
        };
        let t = predictive_table(&p);
        assert!(
            t.contains("<tr><th>failures</th><td>100</td><td>80</td><td>−20.0 %</td></tr>"),
            "{t}"
        );
        assert!(t.contains("<tr><th>cost to serve (cents)</th><td>100000</td><td>110000</td><td>10.0 %</td></tr>"), "{t}");
        assert!(t.contains("<tr><th>maintenance cost (cents)</th><td>25000</td><td>27500</td><td>10.0 %</td></tr>"), "{t}");
        assert!(t.contains("<tr><th>jobs the shops gave their machines</th><td>5000</td><td>5000</td><td>0.0 %</td></tr>"), "{t}");
        assert!(
            t.contains(
                "<tr><th>downtime hours</th><td>50.0</td><td>40.0</td><td>−20.0 %</td></tr>"
            ),
            "{t}"
        );
        assert!(
            t.contains("<tr><th>preventive visits</th><td>0</td><td>30</td><td></td></tr>"),
            "{t}"
        );
        assert!(
            t.contains("<tr><th>SLA breaches</th><td>10</td><td>8</td><td>−20.0 %</td></tr>"),
            "{t}"
        );
    }

    #[test]
    fn signed_percentages_in_integers() {
        assert_eq!(signed_percent(-1, 3), "−33.3 %");
        assert_eq!(signed_percent(1, 8), "12.5 %");
        assert_eq!(signed_percent(5, 0), "");
    }
}
