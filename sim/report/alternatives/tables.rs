//! The alternatives' CSVs, for notebooks: one row per pricing (which is also the sweep
//! table), per pricing and invoice line, per pricing and shop, per pricing and segment, per
//! pricing and month. Money in cents; prices per mounting in EUR with four decimals.

use super::sides::Side;
use crate::analysis::subsidy::SubsidyRow;
use crate::analysis::tariffs::{self, FleetView};
use crate::money::Cents;
use crate::pricing::Evaluation;
use crate::report::tables::{csv_field, per_unit, write_invoice_lines, INVOICE_LINE_HEADER};
use crate::report::RunData;
use std::fmt::Write;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn float4(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

pub fn alternatives_csv(sides: &[Side]) -> String {
    let mut out = String::from(
        "alternative,description,sweep,sweep_field,sweep_value,sweep_unit,reconciled,catalogue_findings,invoices,\
         revenue_cents,credits_cents,mountings,price_per_mounting,gini,p10,p50,p90,bill_cv_median,\
         regret_cents,cheapest_for,peak_month,peak_month_cents,cost_cents,margin_cents,shops_at_loss,\
         at_loss_mountings_share,spearman_price_cost,shops_failing_stand_alone,\
         shops_failing_incremental,segments_failing_stand_alone,segments_failing_incremental,\
         overpaid_cents,subsidised_cents,revenue_lost_to_failures_cents\n",
    );
    for side in sides {
        let s = side.summary();
        let j = side.judgement;
        let (sweep, field, value, unit) = s.sweep.as_ref().map_or_else(Default::default, |w| {
            (w.sweep.clone(), w.field, w.value.clone(), w.unit)
        });
        let cents = |v: Option<f64>| float4(v.map(|c| c / 100.0));
        let _ = write!(
            out,
            "{},{},{sweep},{field},{value},{unit},{},{},{},{},{},{},{},{:.4},{},{},{},{},{},{},{},{}",
            s.id,
            csv_field(&s.description),
            s.reconciled,
            opt(s.catalogue_findings),
            s.invoices,
            s.revenue_cents,
            s.credits_cents,
            s.mountings,
            per_unit(j.revenue_cents, j.mountings),
            j.gini,
            cents(j.p10_cents),
            cents(j.p50_cents),
            cents(j.p90_cents),
            float4(j.bill_cv_median),
            s.regret_cents,
            s.cheapest_for,
            opt(s.peak_month),
            s.peak_month_cents,
        );
        match &s.costs {
            None => out.push_str(",,,,,,,,,,,,\n"),
            Some(c) => {
                let _ = writeln!(
                    out,
                    ",{},{},{},{:.4},{},{},{},{},{},{},{},{}",
                    c.cost_cents,
                    c.margin_cents,
                    c.shops_at_loss,
                    c.at_loss_mountings_share,
                    float4(c.spearman_price_cost),
                    c.shops_failing_stand_alone,
                    c.shops_failing_incremental,
                    c.segments_failing_stand_alone.join(" "),
                    c.segments_failing_incremental.join(" "),
                    c.overpaid_cents,
                    c.subsidised_cents,
                    c.revenue_lost_to_failures_cents,
                );
            }
        }
    }
    out
}

/// Every pricing's invoices, line by line, in invoices.csv's columns after the pricing's id
/// (the base's rows are invoices.csv's), written to `path`.
pub fn write_invoices(path: &std::path::Path, d: &RunData, e: &Evaluation) -> std::io::Result<()> {
    let sets: Vec<_> = e
        .priced
        .iter()
        .map(|p| (format!("{},", p.id), p.invoices.as_slice()))
        .collect();
    let header = format!("alternative,{INVOICE_LINE_HEADER}");
    write_invoice_lines(path, &header, d.fleet, &sets)
}

/// Per shop: its volume decile (1–10), frame and material mix terciles (1–3) and its
/// region's name ("" without the field).
struct ShopGroups<'a> {
    decile: Vec<usize>,
    frames: Vec<usize>,
    materials: Vec<usize>,
    region: Vec<&'a str>,
}

fn shop_groups(view: &FleetView) -> ShopGroups<'_> {
    let rank = |groups: Vec<Vec<usize>>| {
        let mut of = vec![0; view.shops.len()];
        for (g, members) in groups.iter().enumerate() {
            for &i in members {
                of[i] = g + 1;
            }
        }
        of
    };
    ShopGroups {
        decile: rank(tariffs::volume_deciles(view)),
        frames: rank(tariffs::mix_terciles(view, |m| m.grooved_or_drilled)),
        materials: rank(tariffs::mix_terciles(view, |m| m.high_index_or_poly)),
        region: view
            .shops
            .iter()
            .map(|s| s.cost.map_or("", |c| view.regions[c.region].1.as_str()))
            .collect(),
    }
}

/// One row per pricing and shop: what it pays, at what price per mounting, against its cost
/// and its stand-alone and incremental costs; its regret (this bill minus its cheapest).
pub fn shops_csv(d: &RunData, e: &Evaluation, sides: &[Side]) -> String {
    let mut out = String::from(
        "alternative,shop,segment,volume_decile,frame_mix,material_mix,region,mountings,\
         lost_mountings,invoiced_cents,\
         price_per_mounting,cost_cents,margin_cents,stand_alone_cents,incremental_cents,\
         regret_cents,cheapest\n",
    );
    let groups = shop_groups(&e.view);
    for side in sides {
        let j = side.judgement;
        let singles = j.costs.as_ref().map(|c| &c.subsidy.rows[..j.shops.len()]);
        for (i, (shop, bill)) in e.view.shops.iter().zip(&j.shops).enumerate() {
            let cost = shop.cost.map(|c| c.total());
            let single: Option<&SubsidyRow> = singles.map(|rows| &rows[i]);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                side.id(),
                shop.name,
                shop.segment,
                groups.decile[i],
                groups.frames[i],
                groups.materials[i],
                groups.region[i],
                shop.mountings,
                d.outcome.truth.shop_field(i as u32).lost_mountings,
                bill.invoiced_cents,
                per_unit(bill.invoiced_cents, shop.mountings),
                opt(cost),
                opt(cost.map(|c| bill.invoiced_cents - c)),
                opt(single.map(|r| r.stand_alone_cents)),
                opt(single.map(|r| r.incremental_cents)),
                bill.regret_cents,
                bill.regret_cents == 0,
            );
        }
    }
    out
}

/// One row per pricing and segment tested as a coalition (chains, independents, volume
/// deciles, frame and material mix terciles, regions): what it pays against its cost, and both subsidy tests.
pub fn segments_csv(e: &Evaluation, sides: &[Side]) -> String {
    let mut out = String::from(
        "alternative,segment,shops,mountings,revenue_cents,price_per_mounting,cost_cents,margin_cents,\
         stand_alone_cents,incremental_cents,above_stand_alone_cents,below_incremental_cents,\
         fails_stand_alone,fails_incremental\n",
    );
    let coalitions = tariffs::coalitions(&e.view);
    let n = e.view.shops.len();
    for side in sides {
        let j = side.judgement;
        let rows = j.costs.as_ref().map(|c| &c.subsidy.rows);
        for (k, c) in coalitions.iter().enumerate().skip(n) {
            let mountings: u64 = c.members.iter().map(|&i| e.view.shops[i].mountings).sum();
            let revenue: Cents = c.members.iter().map(|&i| j.shops[i].invoiced_cents).sum();
            let cost: Option<Cents> = c
                .members
                .iter()
                .map(|&i| e.view.shops[i].cost.map(|c| c.total()))
                .sum();
            let row = rows.map(|r| &r[k]);
            let _ = writeln!(
                out,
                "{},{},{},{mountings},{revenue},{},{},{},{},{},{},{},{},{}",
                side.id(),
                c.name,
                c.members.len(),
                per_unit(revenue, mountings),
                opt(cost),
                opt(cost.map(|c| revenue - c)),
                opt(row.map(|r| r.stand_alone_cents)),
                opt(row.map(|r| r.incremental_cents)),
                opt(row.map(|r| r.above_stand_alone_cents)),
                opt(row.map(|r| r.below_incremental_cents)),
                opt(row.map(SubsidyRow::fails_stand_alone)),
                opt(row.map(SubsidyRow::fails_incremental)),
            );
        }
    }
    out
}

/// One row per pricing and month: invoices, revenue net of VAT, credits, and the revenue to
/// date (the provider's cash in, month by month).
pub fn monthly_csv(d: &RunData, sides: &[Side]) -> String {
    let mut out = String::from(
        "alternative,period,invoices,revenue_cents,credits_cents,cumulative_revenue_cents,\
         cost_cents,margin_cents,cumulative_margin_cents\n",
    );
    let blank = String::new;
    for side in sides {
        let mut cumulative: Cents = 0;
        let margins = side.cumulative_margin();
        for (i, (period, m)) in d.periods.iter().zip(&side.months).enumerate() {
            cumulative += m.revenue_cents;
            let _ = writeln!(
                out,
                "{},{period},{},{},{},{cumulative},{},{},{}",
                side.id(),
                m.invoices,
                m.revenue_cents,
                m.credits_cents,
                m.cost_cents.map_or_else(blank, |c| c.to_string()),
                m.margin_cents().map_or_else(blank, |c| c.to_string()),
                margins.get(i).map_or_else(blank, |c| c.to_string()),
            );
        }
    }
    out
}
