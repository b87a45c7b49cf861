//! invoices.csv and shops.csv, for notebooks. Fields are identifiers, integers and decimals
//! rendered by fleetsim itself: nothing needs quoting.

use super::RunData;
use crate::billing::{GroupCents, LineGroup};
use crate::money::format_cents;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt::Write;

/// The notes printed on plan invoices, one row per note, in shop then period order.
pub fn invoice_notes_csv(d: &RunData) -> String {
    let mut out = String::from("shop,period,line,note\n");
    for shop in &d.fleet.shops {
        for (period, per) in d.periods.iter().zip(d.notes) {
            for (i, note) in per.get(&shop.id).into_iter().flatten().enumerate() {
                let _ = writeln!(out, "{},{},{},{}", shop.id, period, i, csv_field(note));
            }
        }
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
pub(super) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The columns of one invoice line, as invoices.csv and alternative_invoices.csv write them.
pub(super) const INVOICE_LINE_HEADER: &str = "shop,segment,period,basis,line,kind,usage_period,quantity,unit_price,amount_cents,amount,invoice_total_cents,currency";

/// Every line of each `(prefix, invoices)` set (per period, per shop id) after `header`, in
/// set, shop, then period order, each row starting with its set's prefix: one row per
/// invoice line, for a notebook to sum by period, usage period or kind. Written a shop at a
/// time: every alternative's lines of a national fleet come to hundreds of megabytes, never
/// held whole.
pub(super) fn write_invoice_lines(
    path: &std::path::Path,
    header: &str,
    fleet: &crate::fleet::Fleet,
    sets: &[(String, &[Vec<Option<crate::billing::Invoice>>])],
) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(file, "{header}")?;
    let mut rows = String::new();
    for (prefix, invoices) in sets {
        for (s, shop) in fleet.shops.iter().enumerate() {
            rows.clear();
            shop_invoice_rows(&mut rows, prefix, shop, s, invoices);
            file.write_all(rows.as_bytes())?;
        }
    }
    file.flush()
}

/// One shop's invoice lines, period by period.
fn shop_invoice_rows(
    out: &mut String,
    prefix: &str,
    shop: &crate::fleet::ShopProfile,
    s: usize,
    invoices: &[Vec<Option<crate::billing::Invoice>>],
) {
    for per in invoices {
        let Some(inv) = &per[s] else { continue };
        for (i, line) in inv.lines.iter().enumerate() {
            let _ = writeln!(
                out,
                "{prefix}{},{},{},{},{},{},{},{},{},{},{},{},{}",
                shop.id,
                shop.segment.as_str(),
                inv.period,
                inv.basis.name(),
                i,
                line.kind.name(),
                line.usage_period,
                line.quantity,
                line.unit_price,
                line.amount_cents,
                format_cents(line.amount_cents),
                inv.total_cents,
                inv.currency
            );
        }
    }
}

pub fn shops_csv(d: &RunData) -> String {
    // The revenue split comes last: notebooks that read columns by position keep working.
    let mut out = String::from(
        "shop,segment,machines,level_pairs_per_day,in_store_share,open_days,jobs,mountings,remakes,trace_only,basis,unit_price,invoiced_cents,effective_price_per_mounting,effective_price_per_job,events_mountings,counter_mountings,counter_estimated,counter_period_abs_error",
    );
    out.push_str(&split_header());
    out.push_str(",plan,service,start,last_day,terminated_on");
    if d.service.is_some() {
        out.push_str(&service_header(d.scenario.service.predictive.is_some()));
    }
    out.push('\n');
    let truth = &d.outcome.truth;
    // One pass over the usage rows, not one per shop (France: 13 k shops × 48 months of rows).
    let mut events_by_shop = vec![0_u64; d.fleet.shops.len()];
    for r in d.usage.iter().flatten() {
        if let Some(total) = events_by_shop.get_mut(r.shop.0 as usize) {
            *total += r.billable_mountings;
        }
    }
    for (s, shop) in d.fleet.shops.iter().enumerate() {
        let t = truth.shop_total(s as u32);
        let open_days: u32 = (0..truth.periods())
            .map(|p| truth.open_days(s as u32, p))
            .sum();
        // This shop's invoices by slot, each period once: no scan of the other shops'.
        let issued = || d.invoices.iter().filter_map(|per| per[s].as_ref());
        let invoiced: i64 = issued().map(|i| i.total_cents).sum();
        let split = GroupCents::of(issued());
        let events = events_by_shop[s];
        let counters = counter_totals(d, s);
        let _ = write!(
            out,
            "{},{},{},{:.3},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
            d.contracts[s].basis.name(),
            shop.price,
            invoiced,
            per_unit(invoiced, t.mountings),
            per_unit(invoiced, t.jobs),
            events,
            counters.0,
            counters.1,
            counters.2,
        );
        let _ = write!(out, "{}{}", split_fields(&split), contract_fields(d, s));
        if let Some(field) = d.service {
            out.push_str(&service_fields(d, field, s, split.net()));
        }
        out.push('\n');
    }
    out
}

/// `[service]`: the cost to serve, its components, the field's counts and the margin.
/// `predictive`: `[service.predictive]` is on (its cost and visits get columns of their own).
fn service_header(predictive: bool) -> String {
    let mut header = String::from(",cost_to_serve_cents");
    for c in crate::service::cost::CostToServe::COLUMNS {
        let _ = write!(header, ",cost_{c}");
    }
    if predictive {
        header.push_str(",cost_preventive_cents");
    }
    header.push_str(
        ",incidents,sla_breaches,lost_mountings,waited_mountings,loaner_mountings,wheel_sets,\
         margin_cents",
    );
    if predictive {
        header.push_str(",preventive_visits,wasted_visits,demand_jobs");
    }
    header
}

/// The values under `service_header`; the margin is net invoiced − cost to serve.
fn service_fields(
    d: &RunData,
    field: &crate::service::outcome::FieldOutcome,
    shop: usize,
    net_cents: i64,
) -> String {
    let cost = &field.costs[shop];
    let mut fields = format!(",{}", cost.total());
    for cents in cost.components() {
        let _ = write!(fields, ",{cents}");
    }
    let predictive = d.scenario.service.predictive.is_some();
    if predictive {
        let _ = write!(fields, ",{}", cost.preventive_cents);
    }
    let tally = d.outcome.truth.shop_field(shop as u32);
    let _ = write!(
        fields,
        ",{},{},{},{},{},{},{}",
        tally.failures,
        field.breaches[shop],
        tally.lost_mountings,
        tally.waited_mountings,
        tally.loaner_mountings,
        tally.wheel_sets,
        net_cents - cost.total()
    );
    if predictive {
        let booked = field.preventive_visits[shop];
        let _ = write!(
            fields,
            ",{booked},{},{}",
            tally.wasted_visits, tally.demand_jobs
        );
    }
    fields
}

/// `,plan,service,start,last_day,terminated_on`: what the shop signed and the days its
/// machines were installed (the contract's first day, and its last day covered within the run).
fn contract_fields(d: &RunData, shop: usize) -> String {
    let choice = d.scenario.pricing.plan_of(shop as u32);
    let service = d.fleet.shops[shop].in_service;
    format!(
        ",{},{},{},{},{}",
        choice.map_or("", |c| c.plan.as_str()),
        choice.and_then(|c| c.service.as_deref()).unwrap_or(""),
        service.start,
        d.calendar.date(service.last_day),
        service
            .terminated_on
            .map(|t| t.to_string())
            .unwrap_or_default(),
    )
}

/// `,net_cents,vat_cents,usage_cents,…`: the header of the revenue split, one column per net
/// group in `LineGroup::NET` order.
fn split_header() -> String {
    let mut header = String::from(",net_cents,vat_cents");
    for group in LineGroup::NET {
        let _ = write!(header, ",{}_cents", group.name());
    }
    header
}

/// The values under `split_header`.
fn split_fields(split: &GroupCents) -> String {
    let mut fields = format!(",{},{}", split.net(), split.vat());
    for group in LineGroup::NET {
        let _ = write!(fields, ",{}", split.get(group));
    }
    fields
}

/// A shop's counter-basis mountings over the run (billed, estimated) and Σ over periods of
/// |billed from counters − truth|.
fn counter_totals(d: &RunData, shop: usize) -> (i64, u64, u64) {
    let mut totals = (0_i64, 0_u64, 0_u64);
    for (p, rows) in d.counters.iter().enumerate() {
        // Rows come sorted by shop from the engine.
        let row = rows
            .binary_search_by_key(&shop, |r| r.shop.0 as usize)
            .ok()
            .map(|i| &rows[i]);
        let billed = row.map_or(0, |r| {
            r.usage.actual.mountings as i64 + r.usage.estimate.mountings as i64
                - r.usage.reversed.mountings as i64
        });
        let truth = d.outcome.truth.cell(shop as u32, p as u32).mountings as i64;
        totals.0 += billed;
        totals.1 += row.map_or(0, |r| r.usage.estimate.mountings);
        totals.2 += billed.abs_diff(truth);
    }
    totals
}

/// cents / count, in major units with 4 decimals (half away from zero); empty if count is 0.
pub(super) fn per_unit(cents: i64, count: u64) -> String {
    if count == 0 {
        return String::new();
    }
    let value = Decimal::from(cents) / Decimal::from(100) / Decimal::from(count);
    value
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .to_string()
}
