//! An alternative with `quote`: the click-price calculator as a pricing. Its audit months are
//! billed at the alternative's own prices; then every shop is billed at the price the
//! calculator quotes from its audit, from the close after the audit's last on (as the run's
//! `[quote]` switches the engine's contracts, `run::close_and_reprice`).
//!
//! The audit's volumes are what the engine metered: each shop's mountings and trace-only
//! cycles over the audit's closes (`MeteredClose`), by the basis its contract bills (events
//! due, or counter usage after VEE: actual + estimated tail − reversed estimates). What a
//! metered close does not hold — the frame and material mix (minutes per mounting, wheels
//! and tools), the busy days (which size the machines), open days and remakes — comes from
//! the simulator's truth, exactly as the run's `[quote]` takes all of it
//! (`truth::Truth::activity`, kept day by day for the longest audit of the run:
//! `Scenario::audit_window_months`). Where nothing is lost or late, the metered volumes are
//! the truth's and the alternative quotes what `[quote]` quotes (tests/alternatives.rs).

use crate::billing::close::MeteredClose;
use crate::billing::{Basis, Contract};
use crate::calendar::Calendar;
use crate::event::ShopId;
use crate::money::UnitPrice;
use crate::quote::{backtest, quote, Audit, Clamp, CostModel};
use crate::scenario::QuoteSpec;
use crate::truth::Truth;

/// What a quote's audit reads besides the metered closes.
#[derive(Clone, Copy)]
pub struct AuditSource<'a> {
    /// The scenario's name, for the audit's source line (as `[quote]` writes it).
    pub scenario: &'a str,
    pub calendar: &'a Calendar,
    pub truth: &'a Truth,
}

/// The contracts a quote puts in place after its audit.
#[derive(Clone, Debug)]
pub struct Repriced {
    /// The first period (index) billed at the quoted prices: the audit's months come before.
    pub first_period: usize,
    /// Per shop: the contract at its quoted price (basis and currency unchanged).
    pub contracts: Vec<Contract>,
    /// Per shop: where its quote landed against the bounds (empty for `[pricing]`, whose
    /// quotes are the run's `/quote`).
    pub clamps: Vec<Clamp>,
}

/// Every shop quoted from its audit: `closes` are the run's, in period order (only the
/// audit's are read: what the engine had metered when the price was set).
pub fn reprice(
    spec: &QuoteSpec,
    contracts: &[Contract],
    closes: &[MeteredClose],
    source: &AuditSource,
) -> Repriced {
    let months = spec.audit_months;
    let audited = &closes[..(months as usize).min(closes.len())];
    let end = source.calendar.first_day_of(months);
    let model = CostModel::default();
    let (contracts, clamps): (Vec<Contract>, Vec<Clamp>) = contracts
        .iter()
        .map(|c| {
            let shop = c.shop;
            let activity = source.truth.activity(shop.0, 0..months, 0..end);
            let mut audit = Audit::from_activity(
                backtest::source(source.scenario, shop, source.calendar, months),
                source.calendar,
                0..months,
                &activity,
            );
            (audit.mountings, audit.trace_only) = metered(audited, shop, c.basis);
            let q = quote(&audit, &spec.terms, &model);
            let contract = Contract {
                price_per_mounting: UnitPrice(q.price),
                ..c.clone()
            };
            (contract, q.clamp)
        })
        .unzip();
    Repriced {
        first_period: months as usize,
        contracts,
        clamps,
    }
}

/// A shop's (mountings, trace-only cycles) over `closes`, as its basis meters them.
fn metered(closes: &[MeteredClose], shop: ShopId, basis: Basis) -> (u64, u64) {
    let (mut mountings, mut trace) = (0i128, 0i128);
    for close in closes {
        match basis {
            Basis::Events => {
                for &(_, m, t) in close
                    .events
                    .get(&shop)
                    .map_or(&[][..], |d| d.by_period.as_slice())
                {
                    mountings += i128::from(m);
                    trace += i128::from(t);
                }
            }
            Basis::Counters => {
                if let Some(row) = close.counters.get(&shop) {
                    let u = &row.usage;
                    mountings += i128::from(u.actual.mountings) + i128::from(u.estimate.mountings)
                        - i128::from(u.reversed.mountings);
                    trace += i128::from(u.actual.trace_only) + i128::from(u.estimate.trace_only)
                        - i128::from(u.reversed.trace_only);
                }
            }
        }
    }
    // A reversal is of an estimate billed in an earlier close, so the sums stay ≥ 0; clamp
    // rather than trust it.
    let count = |n: i128| u64::try_from(n.max(0)).unwrap_or(u64::MAX);
    (count(mountings), count(trace))
}
