//! invoices.csv and shops.csv, for notebooks. Fields are identifiers, integers and decimals
//! rendered by fleetsim itself: nothing needs quoting.

use super::RunData;
use crate::money::format_cents;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt::Write;

pub fn invoices_csv(d: &RunData) -> String {
    let mut out = String::from(
        "shop,segment,period,billable_mountings,trace_only,unit_price,amount_cents,amount,currency\n",
    );
    for (s, shop) in d.fleet.shops.iter().enumerate() {
        for (p, period) in d.periods.iter().enumerate() {
            let inv = &d.invoices[p][s];
            let trace = inv.lines.get(1).map_or(0, |l| l.quantity);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                shop.id,
                shop.segment.as_str(),
                period,
                inv.billed_mountings(),
                trace,
                inv.unit_price(),
                inv.total_cents,
                format_cents(inv.total_cents),
                d.book.currency
            );
        }
    }
    out
}

pub fn shops_csv(d: &RunData) -> String {
    let mut out = String::from(
        "shop,segment,machines,level_pairs_per_day,in_store_share,open_days,jobs,mountings,remakes,trace_only,unit_price,invoiced_cents,effective_price_per_mounting,effective_price_per_job\n",
    );
    let truth = &d.outcome.truth;
    for (s, shop) in d.fleet.shops.iter().enumerate() {
        let t = truth.shop_total(s as u32);
        let open_days: u32 = (0..truth.periods())
            .map(|p| truth.open_days(s as u32, p))
            .sum();
        let invoiced: i64 = d.invoices.iter().map(|per| per[s].total_cents).sum();
        let _ = writeln!(
            out,
            "{},{},{},{:.3},{:.3},{},{},{},{},{},{},{},{},{}",
            shop.id,
            shop.segment.as_str(),
            shop.machines.len(),
            shop.mean_pairs_per_day,
            shop.in_store_share,
            open_days,
            t.jobs,
            t.mountings,
            t.remakes,
            t.trace_only,
            shop.price,
            invoiced,
            per_unit(invoiced, t.mountings),
            per_unit(invoiced, t.jobs),
        );
    }
    out
}

/// cents / count, in major units with 4 decimals (half away from zero); empty if count is 0.
fn per_unit(cents: i64, count: u64) -> String {
    if count == 0 {
        return String::new();
    }
    let value = Decimal::from(cents) / Decimal::from(100) / Decimal::from(count);
    value
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .to_string()
}
