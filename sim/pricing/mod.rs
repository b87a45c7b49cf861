//! Pricing alternatives (issue 12): every `[[alternative]]` billed on the one fleet the run
//! simulated and metered. The engine closed each period once, for `[pricing]`'s contracts;
//! its metered closes are read back through its interface (`MeteringEngine::metered_close`,
//! over HTTP `GET /v1/closes/{period}/metered`) and each alternative's contracts are rated
//! from them by billing's own close step (`billing::close::rate_close`), a ledger in memory
//! per alternative. Nothing is simulated or metered again: alternatives differ by pricing
//! alone.
//!
//! `[pricing]` itself is the `base` alternative, billed by the engine's close. An
//! alternative with `quote` switches to its quoted contracts after its audit (`quote`).

pub mod contracts;
pub mod quote;
pub mod view;

use crate::analysis::tariffs::{self, Bills, FleetView, Judgement};
use crate::billing::close::{rate_close, CloseError, MemoryLedger, MeteredClose, ResolvedPlans};
use crate::billing::{BillingError, Contract, Invoice, PlanAgreement};
use crate::calendar::Period;
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::metering::Incident;
use crate::metering::{MeteringEngine, MeteringError};
use crate::progress::Progress;
use crate::reconcile::{reconcile, Inputs, PlanBook, Reconciliation};
use crate::scenario::alternatives::BASE_ID;
use crate::scenario::alternatives::{Alternative, Swept};
use crate::scenario::Scenario;
use crate::truth::Truth;
use quote::{AuditSource, Repriced};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("reading the metered closes back: {0}")]
    Metering(#[from] MeteringError),
    #[error("alternative `{id}`: {source}")]
    Billing { id: String, source: BillingError },
    #[error("alternatives are rated from closed periods, and the engine says {0} is not closed")]
    NotClosed(Period),
    #[error(
        "alternative `{0}` has a quote, and its audit needs the run's truth: bill it from a run"
    )]
    NoAudit(String),
}

/// One pricing's bills over the run.
#[derive(Clone, Debug)]
pub struct Priced {
    pub id: String,
    pub description: String,
    pub swept: Option<Swept>,
    /// Per shop: the price contracts (a plan shop's plan replaces its own).
    pub contracts: Vec<Contract>,
    pub agreements: Vec<PlanAgreement>,
    /// A quote's contracts after its audit (`[quote]`'s for the base).
    pub repriced: Option<Repriced>,
    /// Per period, per shop id.
    pub invoices: Vec<Vec<Option<Invoice>>>,
    /// Per period: the notes of plan invoices, by shop.
    pub notes: Vec<BTreeMap<ShopId, Vec<String>>>,
}

/// Bills every alternative from the engine's metered closes of `periods` (all closed);
/// `audits` is what an alternative with `quote` reads besides them (`None`: none has one).
pub fn bill_alternatives(
    engine: &mut dyn MeteringEngine,
    alternatives: &[Alternative],
    fleet: &Fleet,
    periods: &[Period],
    audits: Option<&AuditSource>,
    progress: &dyn Progress,
) -> Result<Vec<Priced>, PricingError> {
    if alternatives.is_empty() {
        return Ok(Vec::new());
    }
    let closes = metered_closes(engine, periods)?;
    let shops = fleet.shops.len();
    let priced = alternatives
        .iter()
        .enumerate()
        .map(|(i, alternative)| {
            progress.billing(&alternative.id, i, alternatives.len());
            bill_one(alternative, fleet, &closes, audits, shops)
        })
        .collect();
    progress.billed();
    priced
}

fn metered_closes(
    engine: &mut dyn MeteringEngine,
    periods: &[Period],
) -> Result<Vec<MeteredClose>, PricingError> {
    periods
        .iter()
        .map(|&p| engine.metered_close(p)?.ok_or(PricingError::NotClosed(p)))
        .collect()
}

fn bill_one(
    alternative: &Alternative,
    fleet: &Fleet,
    closes: &[MeteredClose],
    audits: Option<&AuditSource>,
    shops: usize,
) -> Result<Priced, PricingError> {
    let pricing = &alternative.pricing;
    let contracts = contracts::price_contracts(pricing, fleet);
    let agreements = contracts::plan_agreements(pricing, fleet);
    let terms = contracts::close_terms(pricing, &contracts, &agreements);
    let repriced = match &alternative.quote {
        None => None,
        Some(spec) => {
            let source = audits.ok_or_else(|| PricingError::NoAudit(alternative.id.clone()))?;
            Some(quote::reprice(spec, &contracts, closes, source))
        }
    };
    // A quote has no plans (refused at validation): its contracts are prices alone.
    let after = repriced.as_ref().map(|r| {
        let terms = contracts::close_terms(pricing, &r.contracts, &[]);
        (r.first_period, terms)
    });
    let catalogue = pricing.catalogue.as_ref().map(|c| &c.catalogue);
    let mut ledger = MemoryLedger::default();
    let mut book = ResolvedPlans::new(catalogue);
    let mut priced = Priced {
        id: alternative.id.clone(),
        description: alternative.description.clone(),
        swept: alternative.swept.clone(),
        contracts,
        agreements,
        repriced,
        invoices: Vec::with_capacity(closes.len()),
        notes: Vec::with_capacity(closes.len()),
    };
    for (i, close) in closes.iter().enumerate() {
        let terms = match &after {
            Some((first, after)) if i >= *first => after,
            _ => &terms,
        };
        let rated = rate_close(close, terms, &mut book, &mut ledger).map_err(|e| {
            let source = match e {
                CloseError::Billing(e) | CloseError::Ledger(e) => e,
            };
            PricingError::Billing {
                id: alternative.id.clone(),
                source,
            }
        })?;
        let mut by_shop = vec![None; shops];
        for invoice in rated.invoices {
            if let Some(slot) = by_shop.get_mut(invoice.shop.0 as usize) {
                *slot = Some(invoice);
            }
        }
        priced.invoices.push(by_shop);
        priced.notes.push(rated.notes.into_iter().collect());
    }
    Ok(priced)
}

/// What a run's stages hand the evaluation of its alternatives.
pub struct Stage<'a> {
    pub scenario: &'a Scenario,
    pub fleet: &'a Fleet,
    pub periods: &'a [Period],
    pub truth: &'a Truth,
    pub field: Option<view::Field<'a>>,
    /// `[pricing]`'s bills, as the engine issued them (copied only when there are alternatives).
    pub base: Base<'a>,
    /// The base's reconciliation inputs: an alternative's differ only in its bills.
    pub inputs: Inputs<'a>,
    pub incidents: &'a BTreeMap<(ShopId, Period), Vec<Incident>>,
}

/// Every pricing of the run (base first), reconciled and judged.
pub struct Evaluation {
    pub priced: Vec<Priced>,
    /// Per alternative (not the base, whose reconciliation is the run's).
    pub reconciliations: Vec<Reconciliation>,
    /// Per pricing, base first.
    pub judgements: Vec<Judgement>,
    /// Per pricing: the findings of its catalogue's consistency check (`None`: no catalogue).
    pub consistency: Vec<Option<usize>>,
    pub view: FleetView,
}

impl Evaluation {
    /// The alternatives whose reconciliation failed, with their ids: a run with any is a
    /// failed run (their bills do not account for what was metered).
    pub fn unreconciled(&self) -> impl Iterator<Item = (&str, &Reconciliation)> {
        self.priced[1..]
            .iter()
            .zip(&self.reconciliations)
            .filter(|(_, r)| !r.ok)
            .map(|(p, r)| (p.id.as_str(), r))
    }
}

/// The one entry point of the run's pricing stage: `None` without alternatives.
pub fn evaluate(
    stage: Stage,
    engine: &mut dyn MeteringEngine,
    progress: &dyn Progress,
) -> Result<Option<Evaluation>, PricingError> {
    let scenario = stage.scenario;
    if scenario.alternatives.is_empty() {
        return Ok(None);
    }
    let calendar = crate::calendar::Calendar::new(scenario.start, scenario.months);
    let audits = AuditSource {
        scenario: &scenario.name,
        calendar: &calendar,
        truth: stage.truth,
    };
    let alternatives = bill_alternatives(
        engine,
        &scenario.alternatives,
        stage.fleet,
        stage.periods,
        Some(&audits),
        progress,
    )?;
    let reconciliations = alternatives
        .iter()
        .zip(&scenario.alternatives)
        .map(|(p, a)| {
            let plans = a.pricing.catalogue.as_ref().map(|c| PlanBook {
                catalogue: &c.catalogue,
                agreements: &p.agreements,
                incidents: stage.incidents,
            });
            reconcile(&Inputs {
                invoices: &p.invoices,
                contracts: &p.contracts,
                plans,
                repriced: p
                    .repriced
                    .as_ref()
                    .map(|r| (r.first_period, r.contracts.as_slice())),
                ..stage.inputs
            })
        })
        .collect();
    let mut priced = vec![stage
        .base
        .priced(&scenario.description, stage.inputs.repriced)];
    priced.extend(alternatives);
    let view = view::fleet_view(stage.fleet, stage.truth, stage.field.as_ref());
    let bills: Vec<Bills> = priced.iter().map(|p| bills_of(p, stage.fleet)).collect();
    let judgements = tariffs::judge(&view, &bills);
    let consistency = std::iter::once(&scenario.pricing)
        .chain(scenario.alternatives.iter().map(|a| &a.pricing))
        .map(|p| {
            p.catalogue
                .as_ref()
                .map(|c| crate::billing::consistency::check(&c.catalogue).len())
        })
        .collect();
    Ok(Some(Evaluation {
        priced,
        reconciliations,
        judgements,
        consistency,
        view,
    }))
}

/// Per shop, per period: what the invoice earns the provider, its total net of VAT (0 where
/// none was issued).
fn bills_of<'a>(p: &'a Priced, fleet: &Fleet) -> Bills<'a> {
    let monthly_cents = (0..fleet.shops.len())
        .map(|s| {
            p.invoices
                .iter()
                .map(|period| period[s].as_ref().map_or(0, net_cents))
                .collect()
        })
        .collect();
    Bills {
        id: &p.id,
        monthly_cents,
    }
}

/// An invoice's total without its VAT lines: VAT is collected for the state, not earned.
pub fn net_cents(invoice: &Invoice) -> crate::money::Cents {
    crate::billing::GroupCents::of([invoice]).net()
}

/// `[pricing]`'s contracts and the engine's bills for them.
pub struct Base<'a> {
    pub contracts: &'a [Contract],
    pub agreements: &'a [PlanAgreement],
    pub invoices: &'a [Vec<Option<Invoice>>],
    pub notes: &'a [BTreeMap<ShopId, Vec<String>>],
}

impl Base<'_> {
    fn priced(&self, description: &str, repriced: Option<(usize, &[Contract])>) -> Priced {
        Priced {
            id: BASE_ID.to_string(),
            description: description.to_string(),
            swept: None,
            contracts: self.contracts.to_vec(),
            agreements: self.agreements.to_vec(),
            repriced: repriced.map(|(first_period, contracts)| Repriced {
                first_period,
                contracts: contracts.to_vec(),
                clamps: Vec::new(),
            }),
            invoices: self.invoices.to_vec(),
            notes: self.notes.to_vec(),
        }
    }
}
