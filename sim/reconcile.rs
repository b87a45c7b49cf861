//! Reconciliation: what the engines metered and billed against what the machines did.
//!
//! Checked per shop and period: billable mountings, trace-only cycles and counter reads
//! (metered vs truth), and the invoice total vs the truth priced with the same rounding rule.
//! Plus conservation: events sent = accepted + duplicates + rejected; accepted = emitted.
//! Any difference fails the run (exit code 3) and is listed with its place.

use crate::billing::{Invoice, PriceBook};
use crate::event::ShopId;
use crate::metering::{IngestReceipt, Period, UsageRow};
use crate::money::Cents;
use crate::truth::Truth;
use serde::Serialize;

/// At most this many mismatches are listed; all are counted.
const MAX_LISTED: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub shop: String,
    pub period: String,
    pub what: &'static str,
    pub truth: i64,
    pub observed: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Reconciliation {
    pub ok: bool,
    /// Events the machines emitted that the engine did not count.
    pub missing: u64,
    /// Events the engine counted beyond what the machines emitted.
    pub double_counted: u64,
    /// Of those, billable mountings.
    pub missing_mountings: u64,
    pub double_counted_mountings: u64,
    /// Sum over invoices of |billed − truth × price|.
    pub misbilled_cents: Cents,
    pub mismatch_count: u64,
    pub mismatches: Vec<Mismatch>,
    /// Violated conservation laws, in words.
    pub conservation_errors: Vec<String>,
}

/// What the transport sent, for the conservation check.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub emitted: u64,
    pub duplicates: u64,
}

pub struct Inputs<'a> {
    pub truth: &'a Truth,
    pub periods: &'a [Period],
    /// Per period, as the metering engine answered.
    pub usage: &'a [Vec<UsageRow>],
    /// Per period, one invoice per shop.
    pub invoices: &'a [Vec<Invoice>],
    pub book: &'a PriceBook,
    pub sent: Sent,
    pub receipt: IngestReceipt,
}

pub fn reconcile(inputs: &Inputs) -> Reconciliation {
    let mut r = Reconciliation::default();
    let shops = inputs.book.per_mounting.len();
    for (p, period) in inputs.periods.iter().enumerate() {
        let metered = spread_by_shop(&inputs.usage[p], shops);
        for shop in 0..shops {
            let truth = inputs.truth.cell(shop as u32, p as u32);
            let m = metered[shop];
            let place = (ShopId(shop as u32), *period);
            r.compare(
                place,
                "billable_mountings",
                truth.mountings,
                m.billable_mountings,
                true,
            );
            r.compare(place, "trace_only", truth.trace_only, m.trace_only, false);
            r.compare(
                place,
                "counter_reads",
                truth.counter_reads,
                m.counter_reads,
                false,
            );
            r.check_invoice(
                place,
                truth.mountings,
                inputs.invoices[p].get(shop),
                inputs.book,
            );
        }
    }
    r.check_conservation(inputs);
    r.ok = r.mismatch_count == 0 && r.conservation_errors.is_empty();
    r
}

fn spread_by_shop(rows: &[UsageRow], shops: usize) -> Vec<UsageRow> {
    let mut out = vec![UsageRow::default(); shops];
    for row in rows {
        if let Some(slot) = out.get_mut(row.shop.0 as usize) {
            slot.billable_mountings += row.billable_mountings;
            slot.trace_only += row.trace_only;
            slot.counter_reads += row.counter_reads;
        }
    }
    out
}

impl Reconciliation {
    fn compare(
        &mut self,
        place: (ShopId, Period),
        what: &'static str,
        truth: u64,
        observed: u64,
        mounting: bool,
    ) {
        if truth == observed {
            return;
        }
        if truth > observed {
            self.missing += truth - observed;
            self.missing_mountings += if mounting { truth - observed } else { 0 };
        } else {
            self.double_counted += observed - truth;
            self.double_counted_mountings += if mounting { observed - truth } else { 0 };
        }
        self.list(place, what, truth as i64, observed as i64);
    }

    fn check_invoice(
        &mut self,
        place: (ShopId, Period),
        truth_mountings: u64,
        invoice: Option<&Invoice>,
        book: &PriceBook,
    ) {
        let price = book.per_mounting[place.0 .0 as usize];
        let expected = price
            .line_amount(truth_mountings, &book.currency)
            .unwrap_or(i64::MAX);
        let billed = invoice.map_or(0, |i| i.total_cents);
        if invoice
            .is_some_and(|i| i.lines.iter().map(|l| l.amount_cents).sum::<i64>() != i.total_cents)
        {
            self.list(place, "invoice_lines_sum", billed, billed);
        }
        if expected != billed {
            self.misbilled_cents += (expected - billed).abs();
            self.list(place, "invoice_cents", expected, billed);
        }
    }

    fn list(
        &mut self,
        (shop, period): (ShopId, Period),
        what: &'static str,
        truth: i64,
        observed: i64,
    ) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_LISTED {
            self.mismatches.push(Mismatch {
                shop: shop.to_string(),
                period: period.to_string(),
                what,
                truth,
                observed,
            });
        }
    }

    fn check_conservation(&mut self, inputs: &Inputs) {
        let (sent, rc) = (inputs.sent, inputs.receipt);
        let total_sent = sent.emitted + sent.duplicates;
        if rc.total() != total_sent {
            self.conservation_errors.push(format!(
                "the engine acknowledged {} events but {} were sent",
                rc.total(),
                total_sent
            ));
        }
        if rc.accepted != sent.emitted {
            self.conservation_errors.push(format!(
                "the engine accepted {} distinct events but the machines emitted {}",
                rc.accepted, sent.emitted
            ));
        }
        let rejected = rc.rejected_unknown_machine + rc.rejected_wrong_shop;
        if rejected > 0 {
            self.conservation_errors
                .push(format!("the engine rejected {rejected} valid events"));
        }
        let truth_events = inputs.truth.fleet_total().events();
        if truth_events != sent.emitted {
            self.conservation_errors.push(format!(
                "machines tallied {truth_events} events but emitted {}",
                sent.emitted
            ));
        }
    }

    /// A short human account of what failed, for the terminal.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "reconciliation FAILED: {} missing, {} double-counted events ({} / {} billable mountings), {} cents misbilled, {} mismatches",
            self.missing, self.double_counted, self.missing_mountings, self.double_counted_mountings, self.misbilled_cents, self.mismatch_count
        );
        for m in self.mismatches.iter().take(10) {
            out.push_str(&format!(
                "\n  {} {} {}: truth {} vs observed {}",
                m.shop, m.period, m.what, m.truth, m.observed
            ));
        }
        for e in &self.conservation_errors {
            out.push_str(&format!("\n  conservation: {e}"));
        }
        out
    }
}
