//! Catalogue consistency: no price path where buying more costs less.
//!
//! Rules, each finding naming the offending pair and where it happens:
//! - `plan_not_monotone`: a plan's monthly cost (usage lines rounded as on an invoice, plus the
//!   subscription fee and the minimum commitment, at base prices, full month) must not fall when
//!   the month's mountings grow by one — e.g. volume tiers where `total(n + 1) < total(n)` at a
//!   tier bound. Checked for every quantity from 0 to the settings' `max_mountings` (and at
//!   least twice the largest tier bound, allowance, package size or ladder step).
//! - `ladder_not_monotone`: along a ladder (the plan a shop is put on as its monthly volume
//!   grows), the cost at `n + 1` mountings on its plan must not be below the cost at `n` on the
//!   plan before — e.g. a subscription with overage cheaper than the per-mounting plan below it.
//! - `service_more_for_less`: service tiers ordered by `level`; a lower tier must not promise a
//!   faster response or repair, nor include an option the higher tier lacks.
//! - `service_cheaper_above`: a higher tier must not cost less per year than a lower one (yearly
//!   cost: lump sum / years; 12 × the maintenance fee; time and materials at the settings'
//!   incidents per year, labour per incident and visits per incident; parts are at cost and left
//!   out).

use super::catalogue::{
    Catalogue, ContractSpec, PlanContract, Pricing, ServicePricing, ServiceTier,
};
use super::plans::monthly_cost;
use crate::event::ShopId;
use crate::money::{format_cents, Cents};
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// At most this many drops are listed per plan or ladder (the first ones).
const MAX_PER_SUBJECT: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `plan_not_monotone`, `ladder_not_monotone`, `service_more_for_less`,
    /// `service_cheaper_above`.
    pub rule: &'static str,
    /// The plan or tier that gives more for less (or the plan before the drop).
    pub subject: String,
    /// The other side of the pair.
    pub other: String,
    /// Monthly mountings where the cost falls (the `n + 1`), for price paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    pub message: String,
}

/// Every inconsistency of the catalogue, in a fixed order (plans, ladders, service tiers).
pub fn check(cat: &Catalogue) -> Vec<Finding> {
    let range = range(cat);
    let mut out = Vec::new();
    let costs: Vec<(String, Vec<Cents>)> = cat
        .plans
        .iter()
        .filter_map(|p| {
            let c = contract(cat, &p.id)?;
            let v: Option<Vec<Cents>> = (0..=range).map(|q| monthly_cost(&c, q).ok()).collect();
            Some((p.id.clone(), v?))
        })
        .collect();
    for (id, cost) in &costs {
        let mut n = 0;
        for q in 0..range as usize {
            if cost[q + 1] < cost[q] && n < MAX_PER_SUBJECT {
                n += 1;
                out.push(Finding {
                    rule: "plan_not_monotone",
                    subject: id.clone(),
                    other: id.clone(),
                    quantity: Some(q as u64 + 1),
                    message: format!(
                        "plan `{id}`: {} mountings cost {} but {} cost {}: buying more costs less",
                        q + 1,
                        format_cents(cost[q + 1]),
                        q,
                        format_cents(cost[q])
                    ),
                });
            }
        }
    }
    let cost_of = |id: &str| costs.iter().find(|(p, _)| p == id).map(|(_, c)| c);
    for ladder in &cat.ladders {
        let plan_at = |q: u64| {
            ladder
                .steps
                .iter()
                .rev()
                .find(|(_, from)| *from <= q)
                .map(|(p, _)| p.as_str())
                .unwrap_or(ladder.steps[0].0.as_str())
        };
        let mut n = 0;
        for q in 0..range {
            let (a, b) = (plan_at(q), plan_at(q + 1));
            if a == b {
                continue; // within one plan: plan_not_monotone's business
            }
            let (Some(ca), Some(cb)) = (cost_of(a), cost_of(b)) else {
                continue;
            };
            let (before, after) = (ca[q as usize], cb[q as usize + 1]);
            if after < before && n < MAX_PER_SUBJECT {
                n += 1;
                out.push(Finding {
                    rule: "ladder_not_monotone",
                    subject: a.to_string(),
                    other: b.to_string(),
                    quantity: Some(q + 1),
                    message: format!(
                        "ladder `{}`: {q} mountings on `{a}` cost {} but {} on `{b}` cost {}: buying more costs less",
                        ladder.id,
                        format_cents(before),
                        q + 1,
                        format_cents(after)
                    ),
                });
            }
        }
    }
    let mut tiers: Vec<&ServiceTier> = cat.services.iter().collect();
    tiers.sort_by_key(|t| (t.level, t.id.clone()));
    for (i, low) in tiers.iter().enumerate() {
        for high in tiers[i + 1..].iter().filter(|h| h.level > low.level) {
            services(cat, low, high, &mut out);
        }
    }
    out
}

fn services(cat: &Catalogue, low: &ServiceTier, high: &ServiceTier, out: &mut Vec<Finding>) {
    let (lc, hc) = (yearly_cost(cat, low), yearly_cost(cat, high));
    let mut more = Vec::new();
    if low.response_hours < high.response_hours {
        more.push(format!(
            "a faster response ({} h against {} h)",
            low.response_hours, high.response_hours
        ));
    }
    if low.repair_hours < high.repair_hours {
        more.push(format!(
            "a faster repair ({} h against {} h)",
            low.repair_hours, high.repair_hours
        ));
    }
    let extra: Vec<&str> = low
        .includes
        .iter()
        .filter(|o| !high.includes.contains(o))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        more.push(format!(
            "options the higher tier lacks ({})",
            extra.join(", ")
        ));
    }
    if !more.is_empty() {
        out.push(Finding {
            rule: "service_more_for_less",
            subject: low.id.clone(),
            other: high.id.clone(),
            quantity: None,
            message: format!(
                "service tier `{}` (level {}, {} a year) gives more than higher tier `{}` (level {}, {} a year): {}",
                low.id,
                low.level,
                format_cents(lc),
                high.id,
                high.level,
                format_cents(hc),
                more.join(", ")
            ),
        });
    }
    if hc < lc {
        out.push(Finding {
            rule: "service_cheaper_above",
            subject: high.id.clone(),
            other: low.id.clone(),
            quantity: None,
            message: format!(
                "service tier `{}` (level {}) costs {} a year, less than lower tier `{}` (level {}) at {}: more service for less money",
                high.id,
                high.level,
                format_cents(hc),
                low.id,
                low.level,
                format_cents(lc)
            ),
        });
    }
}

/// A tier's yearly cost in cents at base prices (see the module doc).
pub fn yearly_cost(cat: &Catalogue, tier: &ServiceTier) -> Cents {
    let exact = match &tier.pricing {
        ServicePricing::FullService { years, lump_sum } => lump_sum.0 / Decimal::from(*years),
        ServicePricing::Maintenance { monthly_fee, .. } => monthly_fee.0 * Decimal::from(12),
        ServicePricing::TimeAndMaterials {
            hourly_rate,
            travel_per_visit,
            ..
        } => {
            let s = &cat.consistency;
            let labour =
                hourly_rate.0 * Decimal::from(s.labour_minutes_per_incident) / Decimal::from(60);
            let travel = travel_per_visit.0 * s.visits_per_incident;
            s.incidents_per_year * (labour + travel)
        }
    };
    (exact * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

fn contract(cat: &Catalogue, plan: &str) -> Option<PlanContract> {
    let start = NaiveDate::from_ymd_opt(2001, 1, 1)?;
    cat.contract(&ContractSpec::new(ShopId(0), plan, start))
        .ok()
}

/// Quantities checked: 0 ..= this.
fn range(cat: &Catalogue) -> u64 {
    let mut bound = 0_u64;
    for p in &cat.plans {
        let b = match &p.pricing {
            Pricing::PerMounting {
                included_mountings, ..
            }
            | Pricing::Subscription {
                included_mountings, ..
            } => *included_mountings,
            Pricing::Graduated { tiers } | Pricing::Volume { tiers } => {
                tiers.iter().filter_map(|t| t.up_to).max().unwrap_or(0)
            }
            Pricing::Package { size, .. } => *size,
        };
        bound = bound.max(b);
    }
    for l in &cat.ladders {
        bound = bound.max(l.steps.iter().map(|s| s.1).max().unwrap_or(0));
    }
    cat.consistency
        .max_mountings
        .max(bound.saturating_mul(2).saturating_add(1))
        .min(10_000_000)
}
