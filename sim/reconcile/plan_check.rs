//! Plan invoices against the reference rater, cent for cent and line group by line group.
//!
//! **Quantities.** The reference rates what each invoice bills, read from the invoice's
//! mountings lines *as totals*: the period's own mountings (lines naming the period) and, per
//! earlier period, the signed correction (late usage, a reversed estimate). These totals are
//! what the reconciliation verifies independently: events basis, each period's mountings over
//! all invoices equal the truth; counters basis, the invoices equal the counter steps plus the
//! outstanding estimate and the steps equal the truth. How an invoice splits them (included,
//! tiers, overage, packages) is never taken from it. The base a correction is re-rated from
//! is kept here, from the earlier invoices (own mountings plus every correction since), not
//! read from the engine. Contract terms and the catalogue are what the run gave the engine;
//! incidents are the scenario's input data.

use super::reference::{self, Correction, Expected, RefError, Usage};
use super::{PlanBook, Reconciliation, WHOLE_RUN};
use crate::billing::{GroupCents, Invoice, LineGroup, PlanTerms};
use crate::calendar::Period;
use crate::event::ShopId;
use crate::money::Cents;
use std::collections::BTreeMap;

impl Reconciliation {
    /// Every invoice of a shop on a plan, in period order, against the reference.
    pub(super) fn check_plan_cents(
        &mut self,
        inputs: &super::Inputs,
        book: &PlanBook,
        shop: usize,
        terms: &PlanTerms,
    ) {
        let id = ShopId(shop as u32);
        let contract = match reference::Contract::resolve(book.catalogue, terms) {
            Ok(c) => c,
            Err(_) => return self.list((id, WHOLE_RUN), "plan_contract_unresolved", 1, 0),
        };
        // Mountings billed per usage period so far: the base of later corrections.
        let mut billed: BTreeMap<Period, i64> = BTreeMap::new();
        for (p, &period) in inputs.periods.iter().enumerate() {
            let Some(invoice) = inputs.invoices[p][shop].as_ref() else {
                continue;
            };
            let (own, deltas) = billed_quantities(invoice);
            let corrections: Vec<Correction> = deltas
                .iter()
                .map(|(&usage_period, &delta)| Correction {
                    usage_period,
                    billed: billed.get(&usage_period).copied().unwrap_or(0).max(0) as u64,
                    delta,
                })
                .collect();
            let incidents = book.incidents.get(&(id, period));
            let expected = u64::try_from(own)
                .map_err(|_| RefError::Correction(format!("{own} own mountings")))
                .and_then(|mountings| {
                    let usage = Usage {
                        mountings,
                        corrections: &corrections,
                        incidents: incidents.map_or(&[], Vec::as_slice),
                    };
                    reference::rate(&contract, period, &usage)
                });
            match expected {
                Ok(Some(e)) => self.compare_cents((id, period), &e, invoice),
                // Listed as `invoice_outside_term`.
                Ok(None) => {}
                Err(_) => self.list((id, period), "plan_unratable", 0, invoice.total_cents),
            }
            *billed.entry(period).or_default() += own;
            for (usage_period, delta) in deltas {
                *billed.entry(usage_period).or_default() += delta;
            }
        }
    }

    fn compare_cents(&mut self, place: (ShopId, Period), expected: &Expected, invoice: &Invoice) {
        let got = GroupCents::of([invoice]);
        for group in LineGroup::ALL {
            if expected.group(group) != got.get(group) {
                self.list(
                    place,
                    cents_mismatch(group),
                    expected.group(group),
                    got.get(group),
                );
            }
        }
        if expected.total() != invoice.total_cents {
            let off = expected.total().abs_diff(invoice.total_cents) as Cents;
            self.misbilled_cents = self.misbilled_cents.saturating_add(off);
            self.list(
                place,
                "plan_total_cents",
                expected.total(),
                invoice.total_cents,
            );
        }
    }
}

/// The invoice's mountings: its own period's, and the signed total per earlier period.
fn billed_quantities(invoice: &Invoice) -> (i64, BTreeMap<Period, i64>) {
    let mut own = 0;
    let mut earlier: BTreeMap<Period, i64> = BTreeMap::new();
    for line in invoice.lines.iter().filter(|l| l.kind.is_mountings()) {
        if line.usage_period == invoice.period {
            own += line.quantity;
        } else {
            *earlier.entry(line.usage_period).or_default() += line.quantity;
        }
    }
    (own, earlier)
}

/// The mismatch's name for a line group whose cents differ from the reference.
fn cents_mismatch(group: LineGroup) -> &'static str {
    match group {
        LineGroup::Usage => "plan_usage_cents",
        LineGroup::Minimum => "plan_minimum_cents",
        LineGroup::Subscription => "plan_subscription_cents",
        LineGroup::Service => "plan_service_cents",
        LineGroup::Options => "plan_options_cents",
        LineGroup::Credits => "plan_credits_cents",
        LineGroup::Termination => "plan_termination_cents",
        LineGroup::Other => "plan_other_cents",
        LineGroup::Vat => "plan_vat_cents",
    }
}
