//! Reconciliation: what the engines metered and billed against what the machines did.
//!
//! Checked per shop and period: billable mountings, trace-only cycles and counter reads
//! (metered vs truth), and each invoice's cents computed a second way: a price contract's as
//! its mountings × its price, rounded per line; a plan invoice's by the reference rater
//! (`reference`, which shares no code with `billing::plans`) from quantities checked here
//! (`plan_check`). Plus conservation: events sent = accepted + duplicates + rejected;
//! accepted = emitted. Any difference fails the run (exit code 3) and is listed with its place.

mod plan_check;
pub mod reference;

use crate::billing::catalogue::Catalogue;
use crate::billing::service::Incident;
use crate::billing::{Basis, Contract, Invoice, PlanAgreement, PlanTerms};
use crate::calendar::Period;
use crate::event::ShopId;
use crate::metering::{CounterUsageRow, IngestReceipt, UsageRow};
use crate::money::Cents;
use crate::truth::Truth;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Value of mountings invoiced wrongly (too many or too few), at each shop's price.
    pub misbilled_cents: Cents,
    pub mismatch_count: u64,
    pub mismatches: Vec<Mismatch>,
    /// Violated conservation laws, in words.
    pub conservation_errors: Vec<String>,
    /// Both ways of metering against the truth, whatever each shop's contract bills.
    pub bases: BasisComparison,
}

/// What each basis measured, fleet-wide, against the truth. Events must equal the truth in
/// every period; counters may not (an estimate bills a month's unread tail, a true-up
/// returns it the next month), but over the whole run they must, less what is still estimated.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BasisComparison {
    pub truth_mountings: u64,
    pub events: EventsBasis,
    pub counters: CountersBasis,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EventsBasis {
    pub mountings: u64,
    /// Σ over shops and periods of |metered − truth|.
    pub period_abs_error: u64,
    /// Events-contract mountings invoiced after their own period (late usage lines).
    pub invoiced_late: u64,
    pub shops_billed: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CountersBasis {
    /// actual + estimate − true-up, over every closed period.
    pub mountings: i64,
    /// Steps of the readings (what the counters really show).
    pub actual: u64,
    pub estimated: u64,
    pub trued_up: u64,
    /// Estimated and not reversed yet: the last months' unread tails.
    pub outstanding: i64,
    /// Mountings done after the machines' last sent reading: what `outstanding` estimates.
    pub unread: u64,
    /// Σ over shops and periods of |billed from counters − truth|.
    pub period_abs_error: u64,
    /// (shop, period) cells where counters billed something other than the truth.
    pub shop_periods_off: u64,
    /// (machine, period) tails estimated at close.
    pub estimated_machine_periods: u64,
    pub shops_billed: u64,
}

/// What the transport sent, for the conservation check.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub emitted: u64,
    pub duplicates: u64,
}

/// When a shop's contract applies, as the simulator ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopTerm {
    /// The period indexes the contract covers: each has one invoice; the others have none
    /// (the machines are not installed then, so the truth there is 0 too).
    pub periods: std::ops::Range<usize>,
    /// The machines were removed within the run, with a final read: nothing of theirs may
    /// still be estimated at the end.
    pub removed: bool,
}

#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub truth: &'a Truth,
    pub periods: &'a [Period],
    /// Per period, event usage as the metering engine answered.
    pub usage: &'a [Vec<UsageRow>],
    /// Per period, counter usage after VEE as the engine answered.
    pub counters: &'a [Vec<CounterUsageRow>],
    /// Per period, per shop: the invoice the engine issued.
    pub invoices: &'a [Vec<Option<Invoice>>],
    /// Per shop (index = shop id): the contracts the run started with.
    pub contracts: &'a [Contract],
    /// The shops billed from catalogue plans, whose invoices the reference rater prices
    /// (`None`: no catalogue, every shop pays its contract's one price).
    pub plans: Option<PlanBook<'a>>,
    /// Per shop: the periods its contract covers and whether its machines were removed.
    pub terms: &'a [ShopTerm],
    /// `[quote]`: from this period index on, these contracts (per shop) apply instead.
    pub repriced: Option<(usize, &'a [Contract])>,
    /// Per shop: mountings done after the machines' last sent reading (the counters cannot
    /// show them yet).
    pub unread_mountings: &'a [u64],
    pub sent: Sent,
    pub receipt: IngestReceipt,
}

/// What the run gave the engine for its plan contracts: the catalogue, each plan shop's terms
/// and the service incidents (input data), by shop and period.
#[derive(Clone, Copy)]
pub struct PlanBook<'a> {
    pub catalogue: &'a Catalogue,
    pub agreements: &'a [PlanAgreement],
    pub incidents: &'a BTreeMap<(ShopId, Period), Vec<Incident>>,
}

/// The place of a finding over the whole run rather than one period ("all" when listed).
const WHOLE_RUN: Period = Period { year: 0, month: 0 };

impl Inputs<'_> {
    /// Whether `shop`'s contract covers period index `p` (every period, if not said).
    fn in_term(&self, shop: usize, p: usize) -> bool {
        self.terms.get(shop).is_none_or(|t| t.periods.contains(&p))
    }

    /// The contract in force for `shop` when period index `p` was invoiced.
    fn contract(&self, shop: usize, p: usize) -> &Contract {
        match self.repriced {
            Some((from, contracts)) if p >= from => &contracts[shop],
            _ => &self.contracts[shop],
        }
    }
}

pub fn reconcile(inputs: &Inputs) -> Reconciliation {
    let mut r = Reconciliation::default();
    let shops = inputs.contracts.len();
    let metered: Vec<_> = inputs
        .usage
        .iter()
        .map(|rows| spread_by_shop(rows, shops))
        .collect();
    let mut plan_terms: Vec<Option<&PlanTerms>> = vec![None; shops];
    for a in inputs.plans.iter().flat_map(|b| b.agreements) {
        if let Some(slot) = plan_terms.get_mut(a.shop.0 as usize) {
            *slot = Some(&a.terms);
        }
    }
    // Shop by shop, so the listed mismatches tell each shop's whole story.
    for (shop, contract) in inputs.contracts.iter().enumerate() {
        for (p, period) in inputs.periods.iter().enumerate() {
            let truth = inputs.truth.cell(shop as u32, p as u32);
            let m = metered[p][shop];
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
            let invoice = inputs.invoices[p][shop].as_ref();
            if inputs.in_term(shop, p) {
                r.check_invoice(
                    place,
                    invoice,
                    inputs.contract(shop, p),
                    plan_terms[shop].is_some(),
                );
            } else if invoice.is_some() {
                r.list(place, "invoice_outside_term", 0, 1);
            }
            r.bases.events.period_abs_error += truth.mountings.abs_diff(m.billable_mountings);
            r.bases.events.mountings += m.billable_mountings;
            r.bases.truth_mountings += truth.mountings;
        }
        match contract.basis {
            Basis::Events => r.check_events_billing(inputs, shop),
            Basis::Counters => r.check_counters_billing(inputs, shop),
        }
        if let (Some(book), Some(terms)) = (&inputs.plans, plan_terms[shop]) {
            r.check_plan_cents(inputs, book, shop, terms);
        }
    }
    r.compare_counters(inputs);
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

/// A shop's counter usage in one period: (billed, actual, estimate, reversed, estimated
/// machines). `rows` are sorted by shop, as `MeteringEngine::counter_usage` returns them.
fn counter_cell(rows: &[CounterUsageRow], shop: usize) -> (i64, u64, u64, u64, u64) {
    rows.binary_search_by_key(&shop, |r| r.shop.0 as usize)
        .ok()
        .map(|i| &rows[i])
        .map_or((0, 0, 0, 0, 0), |r| {
            let u = r.usage;
            let billed = u.actual.mountings as i64 + u.estimate.mountings as i64
                - u.reversed.mountings as i64;
            (
                billed,
                u.actual.mountings,
                u.estimate.mountings,
                u.reversed.mountings,
                u64::from(r.estimated_machines),
            )
        })
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

    /// The invoice exists, its lines add up to its total, and a price contract's bills at its
    /// price and basis: each mountings line is quantity × price rounded once, computed here
    /// (a plan invoice's cents are the reference rater's business: `check_plan_cents`).
    fn check_invoice(
        &mut self,
        place: (ShopId, Period),
        invoice: Option<&Invoice>,
        contract: &Contract,
        on_plan: bool,
    ) {
        let Some(inv) = invoice else {
            self.list(place, "invoice_missing", 1, 0);
            return;
        };
        let lines: Cents = inv.lines.iter().map(|l| l.amount_cents).sum();
        if lines != inv.total_cents {
            self.list(place, "invoice_arithmetic", lines, inv.total_cents);
        }
        if !on_plan {
            let mountings = inv.lines.iter().filter(|l| l.kind.is_mountings());
            let expected = reference::per_mounting_total(
                mountings.map(|l| l.quantity),
                contract.price_per_mounting.0,
            );
            if expected != Ok(inv.total_cents) {
                let expected = expected.unwrap_or(Cents::MAX);
                self.misbilled_cents = self
                    .misbilled_cents
                    .saturating_add(expected.abs_diff(inv.total_cents) as Cents);
                self.list(place, "invoice_cents", expected, inv.total_cents);
            }
        }
        let off_price = !on_plan
            && inv
                .lines
                .iter()
                .any(|l| l.kind.is_mountings() && l.unit_price != contract.price_per_mounting);
        if off_price || inv.basis != contract.basis || inv.currency != contract.currency {
            self.list(place, "invoice_terms", 1, 0);
        }
    }

    /// Events basis: every period's mountings are invoiced exactly once, on its own invoice
    /// or (late usage) on a later one.
    fn check_events_billing(&mut self, inputs: &Inputs, shop: usize) {
        self.bases.events.shops_billed += 1;
        for (q, &period) in inputs.periods.iter().enumerate() {
            let price = inputs.contract(shop, q).price_per_mounting;
            let currency = &inputs.contract(shop, q).currency;
            let truth = inputs.truth.cell(shop as u32, q as u32).mountings as i64;
            let mut invoiced = 0;
            for per in inputs.invoices {
                if let Some(inv) = &per[shop] {
                    let billed = inv.billed_mountings_of(period);
                    invoiced += billed;
                    if inv.period != period {
                        self.bases.events.invoiced_late += billed.max(0) as u64;
                    }
                }
            }
            if invoiced != truth {
                let wrong = price
                    .signed_line_amount(invoiced - truth, currency)
                    .unwrap_or(i64::MAX);
                self.misbilled_cents = self.misbilled_cents.saturating_add(wrong.abs());
                self.list(
                    (ShopId(shop as u32), period),
                    "invoiced_mountings",
                    truth,
                    invoiced,
                );
            }
        }
    }

    /// Counters basis: over the run, the invoices bill what the counters' steps show plus
    /// what is still estimated, and the steps show exactly what the machines did up to their
    /// last sent reading.
    fn check_counters_billing(&mut self, inputs: &Inputs, shop: usize) {
        self.bases.counters.shops_billed += 1;
        let (mut actual, mut outstanding, mut invoiced) = (0_i64, 0_i64, 0_i64);
        for (p, rows) in inputs.counters.iter().enumerate() {
            let (_, a, e, rev, _) = counter_cell(rows, shop);
            actual += a as i64;
            outstanding += e as i64 - rev as i64;
            invoiced += inputs.invoices[p][shop]
                .as_ref()
                .map_or(0, Invoice::billed_mountings);
        }
        let unread = inputs.unread_mountings.get(shop).copied().unwrap_or(0) as i64;
        let truth = inputs.truth.shop_total(shop as u32).mountings as i64 - unread;
        let whole_run = WHOLE_RUN;
        if invoiced != actual + outstanding {
            self.list(
                (ShopId(shop as u32), whole_run),
                "counter_invoiced_vs_booked",
                actual + outstanding,
                invoiced,
            );
        }
        let removed = inputs.terms.get(shop).is_some_and(|t| t.removed);
        if removed && outstanding != 0 {
            // A final read leaves no unread tail: an estimate here bills use that never was.
            self.list(
                (ShopId(shop as u32), whole_run),
                "estimate_after_removal",
                0,
                outstanding,
            );
        }
        if actual != truth {
            let contract = &inputs.contracts[shop];
            let wrong = contract
                .price_per_mounting
                .signed_line_amount(actual - truth, &contract.currency)
                .unwrap_or(i64::MAX);
            self.misbilled_cents = self.misbilled_cents.saturating_add(wrong.abs());
            self.list(
                (ShopId(shop as u32), whole_run),
                "counter_mountings",
                truth,
                actual,
            );
        }
    }

    /// The counters basis for every shop (whatever it is billed on), against the truth.
    fn compare_counters(&mut self, inputs: &Inputs) {
        let c = &mut self.bases.counters;
        c.unread = inputs.unread_mountings.iter().sum();
        for (p, rows) in inputs.counters.iter().enumerate() {
            for shop in 0..inputs.contracts.len() {
                let (billed, a, e, rev, machines) = counter_cell(rows, shop);
                let truth = inputs.truth.cell(shop as u32, p as u32).mountings as i64;
                c.mountings += billed;
                c.actual += a;
                c.estimated += e;
                c.trued_up += rev;
                c.outstanding += e as i64 - rev as i64;
                c.period_abs_error += billed.abs_diff(truth);
                c.shop_periods_off += u64::from(billed != truth);
                c.estimated_machine_periods += machines;
            }
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
                period: if period.month == 0 {
                    "all".to_string()
                } else {
                    period.to_string()
                },
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
