//! Rating a closed period: billing's pure step over what metering closed.
//!
//! Metering closes a period (VEE estimates every unread tail, event usage not invoiced yet is
//! taken) and hands billing a `MeteredClose`: per shop, the event usage due by usage period,
//! the counter usage after VEE, and the service incidents recorded for the period. `rate_close`
//! issues every contracted shop's invoice from it under the contracts and catalogue given, and
//! keeps what plan invoices billed per usage period in a `Ledger`: the base a later correction
//! (late usage, a reversed estimate) re-rates from.
//!
//! The embedded store runs it inside its close's transaction with the ledger in SQL
//! (`metering::sqlite`); a pricing alternative runs it once per close over the metered closes
//! the engine answers (`MeteringEngine::metered_close`) with the ledger in memory
//! (`MemoryLedger`). Same code, same inputs, so one contract set rates to the same invoices
//! either way (`tests/alternatives.rs` checks it byte for byte).

use super::plans::{self, Correction, CorrectionCause};
use super::service::Incident;
use super::{
    invoice_from_counters, invoice_from_events, Basis, BillingError, Contract, EventDue, Invoice,
    PlanTerms,
};
use crate::billing::catalogue::{Catalogue, PlanContract};
use crate::calendar::Period;
use crate::event::ShopId;
use crate::metering::CounterUsageRow;
use std::collections::BTreeMap;

/// What metering hands billing when `period` closes. Shops without anything due are absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeteredClose {
    pub period: Period,
    /// Event usage not invoiced before this close: the period's own and any earlier period's
    /// metered after it closed (`EventDue::by_period`, in period order).
    pub events: BTreeMap<ShopId, EventDue>,
    /// Counter usage of the period after VEE: actual, estimated tail, reversed estimates.
    pub counters: BTreeMap<ShopId, CounterUsageRow>,
    /// Service incidents recorded for the period, in recorded order.
    pub incidents: BTreeMap<ShopId, Vec<Incident>>,
}

impl MeteredClose {
    /// A close with nothing due.
    pub fn empty(period: Period) -> MeteredClose {
        MeteredClose {
            period,
            events: BTreeMap::new(),
            counters: BTreeMap::new(),
            incidents: BTreeMap::new(),
        }
    }
}

/// A contract as a close reads it: its basis and currency, and the plan terms of a plan
/// contract (`None`: price per mounting).
pub type ContractTerms = (Contract, Option<PlanTerms>);

/// What plan invoices billed per (shop, usage period): the mountings billed (the period's own
/// invoice plus every correction since) and the part that is an estimate not reversed yet.
pub trait Ledger {
    type Error;
    /// (mountings billed, estimate left); (0, 0) if nothing was billed for it.
    fn billed(&mut self, shop: ShopId, period: Period) -> Result<(u64, u64), Self::Error>;
    /// The shop's usage periods with an estimate left, oldest first: (period, billed, left).
    fn open_estimates(&mut self, shop: ShopId) -> Result<Vec<(Period, u64, u64)>, Self::Error>;
    /// Adds to a usage period's mountings billed and estimate left.
    fn add(
        &mut self,
        shop: ShopId,
        period: Period,
        mountings: i64,
        estimate: i64,
    ) -> Result<(), Self::Error>;
}

/// The ledger of one pricing alternative, in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryLedger {
    rows: BTreeMap<(ShopId, Period), (i64, i64)>,
}

impl MemoryLedger {
    fn count(shop: ShopId, period: Period, what: &str, n: i64) -> Result<u64, BillingError> {
        u64::try_from(n).map_err(|_| BillingError::Plan {
            shop,
            message: format!("the {what} billed for {period} fell below zero ({n})"),
        })
    }
}

impl Ledger for MemoryLedger {
    type Error = BillingError;

    fn billed(&mut self, shop: ShopId, period: Period) -> Result<(u64, u64), BillingError> {
        let (m, e) = self.rows.get(&(shop, period)).copied().unwrap_or((0, 0));
        Ok((
            Self::count(shop, period, "mountings", m)?,
            Self::count(shop, period, "estimate", e)?,
        ))
    }

    fn open_estimates(&mut self, shop: ShopId) -> Result<Vec<(Period, u64, u64)>, BillingError> {
        let first = Period {
            year: i32::MIN,
            month: 0,
        };
        let last = Period {
            year: i32::MAX,
            month: u32::MAX,
        };
        let mut open = Vec::new();
        for (&(_, period), &(m, e)) in self.rows.range((shop, first)..=(shop, last)) {
            if e > 0 {
                open.push((
                    period,
                    Self::count(shop, period, "mountings", m)?,
                    Self::count(shop, period, "estimate", e)?,
                ));
            }
        }
        Ok(open)
    }

    fn add(
        &mut self,
        shop: ShopId,
        period: Period,
        mountings: i64,
        estimate: i64,
    ) -> Result<(), BillingError> {
        let row = self.rows.entry((shop, period)).or_default();
        row.0 = row.0.saturating_add(mountings);
        row.1 = row.1.saturating_add(estimate);
        Ok(())
    }
}

/// The invoices of one close, in shop order, and the notes of the plan invoices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RatedClose {
    pub invoices: Vec<Invoice>,
    /// Per plan invoice with notes, in shop order.
    pub notes: Vec<(ShopId, Vec<String>)>,
}

/// Why a close could not be rated: billing refused it, or the ledger failed.
#[derive(Debug)]
pub enum CloseError<E> {
    Billing(BillingError),
    Ledger(E),
}

/// The catalogue plan contracts are rated with, and each contract resolved against it
/// (`Catalogue::contract`), kept from one close to the next: resolving a contract costs more
/// than rating it (it copies the plan, its tier and options), and a pricing rates every close
/// of a run with the same contracts. A contract whose terms change is resolved again.
pub struct ResolvedPlans<'c> {
    catalogue: Option<&'c Catalogue>,
    /// By the contract's index in `rate_close`'s list.
    resolved: Vec<Option<Resolved>>,
}

struct Resolved {
    shop: ShopId,
    terms: PlanTerms,
    contract: PlanContract,
}

impl<'c> ResolvedPlans<'c> {
    pub fn new(catalogue: Option<&'c Catalogue>) -> ResolvedPlans<'c> {
        ResolvedPlans {
            catalogue,
            resolved: Vec::new(),
        }
    }

    /// The `index`-th contract resolved (again only if its shop or terms changed).
    fn contract(
        &mut self,
        index: usize,
        shop: ShopId,
        terms: &PlanTerms,
    ) -> Result<&PlanContract, BillingError> {
        if self.resolved.len() <= index {
            self.resolved.resize_with(index + 1, || None);
        }
        let slot = &mut self.resolved[index];
        let fresh = slot
            .as_ref()
            .is_some_and(|r| r.shop == shop && r.terms == *terms);
        if !fresh {
            let catalogue = self.catalogue.ok_or_else(|| {
                BillingError::Catalogue(format!(
                    "shop {shop} has a plan contract but the store holds no catalogue"
                ))
            })?;
            let contract = catalogue.contract(&terms.spec(shop)).map_err(|m| {
                BillingError::Catalogue(format!(
                    "the catalogue does not resolve the contract of shop {shop}: {m}"
                ))
            })?;
            *slot = Some(Resolved {
                shop,
                terms: terms.clone(),
                contract,
            });
        }
        Ok(&slot.as_ref().expect("resolved above").contract)
    }
}

/// Rates one close: every contract (in the order given, shop order) gets its invoice for
/// `metered.period`, except a plan contract whose term does not cover the period.
pub fn rate_close<L: Ledger>(
    metered: &MeteredClose,
    contracts: &[ContractTerms],
    book: &mut ResolvedPlans<'_>,
    ledger: &mut L,
) -> Result<RatedClose, CloseError<L::Error>> {
    let period = metered.period;
    let mut rated = RatedClose::default();
    for (index, (contract, terms)) in contracts.iter().enumerate() {
        let shop = contract.shop;
        if let Some(terms) = terms {
            let pc = book
                .contract(index, shop, terms)
                .map_err(CloseError::Billing)?;
            let Some(plan) = plan_invoice(metered, contract, pc, ledger)? else {
                continue;
            };
            if !plan.notes.is_empty() {
                rated.notes.push((shop, plan.notes));
            }
            rated.invoices.push(plan.invoice);
            continue;
        }
        let invoice = match contract.basis {
            Basis::Events => {
                let due = metered.events.get(&shop).cloned().unwrap_or_default();
                invoice_from_events(contract, period, &due)
            }
            Basis::Counters => {
                let due = metered
                    .counters
                    .get(&shop)
                    .map(|r| r.usage)
                    .unwrap_or_default();
                invoice_from_counters(contract, period, &due)
            }
        };
        rated.invoices.push(invoice.map_err(CloseError::Billing)?);
    }
    Ok(rated)
}

/// The invoice of a plan contract for the close's period, or `None` when the period lies
/// outside the contract's term. Records what it billed per usage period in the ledger:
/// - events basis: the period's own mountings; usage of an earlier period of the term
///   metered after it closed is a `Late` correction from what was billed for it (usage
///   dated outside the term is never billed);
/// - counters basis: actual + estimated mountings of the period; a reversed estimate is an
///   `Estimate` correction of the oldest periods whose estimate is not reversed yet (VEE
///   pools a machine's outstanding estimates, so oldest-first is the attribution); a
///   reversal with no plan estimate left (one billed before the plan contract) is taken off
///   the period's own mountings, as a price contract would.
fn plan_invoice<L: Ledger>(
    metered: &MeteredClose,
    contract: &Contract,
    pc: &PlanContract,
    ledger: &mut L,
) -> Result<Option<plans::PlanInvoice>, CloseError<L::Error>> {
    let (shop, period) = (contract.shop, metered.period);
    let term = pc.term();
    if term.days_covered(period) == 0 {
        return Ok(None);
    }
    let ledger_err = CloseError::Ledger;
    let mut usage = plans::PeriodUsage::default();
    let mut estimate = 0;
    let mut unattributed = 0;
    match contract.basis {
        Basis::Events => {
            let due = metered
                .events
                .get(&shop)
                .map_or(&[][..], |d| &d.by_period[..]);
            for &(p, m, t) in due {
                usage.trace_only += t;
                if p == period {
                    usage.mountings = m;
                } else if m > 0 && term.days_covered(p) > 0 {
                    let (billed, _) = ledger.billed(shop, p).map_err(ledger_err)?;
                    usage.corrections.push(Correction {
                        usage_period: p,
                        billed,
                        delta: signed(m),
                        cause: CorrectionCause::Late,
                    });
                }
            }
        }
        Basis::Counters => {
            let due = metered
                .counters
                .get(&shop)
                .map(|r| r.usage)
                .unwrap_or_default();
            estimate = due.estimate.mountings;
            let mut to_reverse = due.reversed.mountings;
            for (p, billed, left) in ledger.open_estimates(shop).map_err(ledger_err)? {
                if to_reverse == 0 {
                    break;
                }
                let take = left.min(to_reverse);
                to_reverse -= take;
                usage.corrections.push(Correction {
                    usage_period: p,
                    billed,
                    delta: -signed(take),
                    cause: CorrectionCause::Estimate,
                });
            }
            unattributed = to_reverse;
            usage.mountings =
                (due.actual.mountings + due.estimate.mountings).saturating_sub(to_reverse);
            usage.trace_only = (due.actual.trace_only + due.estimate.trace_only)
                .saturating_sub(due.reversed.trace_only);
        }
    }
    usage.incidents = metered.incidents.get(&shop).cloned().unwrap_or_default();
    let mut rated = plans::rate(pc, period, &usage).map_err(CloseError::Billing)?;
    rated.invoice.basis = contract.basis;
    if unattributed > 0 {
        rated.notes.push(format!(
            "{unattributed} mountings of an estimate billed before this plan contract reversed on this period's usage"
        ));
    }
    ledger
        .add(shop, period, signed(usage.mountings), signed(estimate))
        .map_err(ledger_err)?;
    for c in &usage.corrections {
        let estimate = if c.cause == CorrectionCause::Estimate {
            c.delta
        } else {
            0
        };
        ledger
            .add(shop, c.usage_period, c.delta, estimate)
            .map_err(ledger_err)?;
    }
    Ok(Some(rated))
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::catalogue_file;
    use crate::money::{Currency, UnitPrice};
    use chrono::NaiveDate;
    use std::path::Path;

    fn plan_contract(plan: &str) -> ContractTerms {
        let shop = ShopId(0);
        let contract = Contract {
            shop,
            basis: Basis::Events,
            price_per_mounting: UnitPrice::parse("3.85").unwrap(),
            currency: Currency("EUR".into()),
        };
        let terms = PlanTerms {
            plan: plan.to_string(),
            segment: None,
            price_override: None,
            service: None,
            options: Vec::new(),
            start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            term_months: None,
            terminated_on: None,
        };
        (contract, Some(terms))
    }

    fn rate(book: &mut ResolvedPlans<'_>, plan: &str, month: u32) -> Vec<Invoice> {
        let close = MeteredClose::empty(Period { year: 2024, month });
        let contracts = [plan_contract(plan)];
        let mut ledger = MemoryLedger::default();
        rate_close(&close, &contracts, book, &mut ledger)
            .unwrap_or_else(|_| panic!("{plan} rates"))
            .invoices
    }

    /// A pricing that moves a shop to another plan mid-run rates it on the new plan from then
    /// on, with the book it resolved the old plan into.
    #[test]
    fn a_contract_whose_terms_change_is_resolved_again() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalogue = catalogue_file::load(&root.join("scenarios/catalogue/default.toml"))
            .expect("the default catalogue loads");
        let mut book = ResolvedPlans::new(Some(&catalogue));
        let january = rate(&mut book, "subscription_100", 1);
        let february = rate(&mut book, "per_mounting", 2);
        let february_alone = rate(&mut ResolvedPlans::new(Some(&catalogue)), "per_mounting", 2);
        let february_unchanged = rate(
            &mut ResolvedPlans::new(Some(&catalogue)),
            "subscription_100",
            2,
        );
        assert_ne!(
            february_alone, february_unchanged,
            "the two plans bill an empty month differently"
        );
        assert_eq!(february, february_alone);
        assert_eq!(january.len(), 1);
    }
}
