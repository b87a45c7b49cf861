//! Service tiers at work: incidents measured in the field, what they cost under each tier, and
//! the service-level (SLA) credits owed when a promise is missed.
//!
//! **Breach.** An incident breaches its tier's promise when its measured response time exceeds
//! `response_hours` *or* its measured repair time exceeds `repair_hours`; it counts once even if
//! both are missed.
//!
//! **SLA credit** (field practice for equipment service contracts: a few percent of the monthly
//! fee per missed promise, capped so that a bad month never makes the service free): each
//! breached incident credits `sla_credit_percent` (default 10 %) of the month's service charges,
//! and the month's credit is capped at `sla_cap_percent` (default 50 %) of them. The service
//! charges are the full-service instalment or the maintenance fee of the month, or for time and
//! materials the month's labour and travel; parts are never credited. The credit is one line:
//! quantity −(breached incidents) at the per-incident credit, or, when the cap binds, quantity −1
//! at the cap; rounded once like any line.
//!
//! **Labour** is billed per started quarter hour of each incident (quantity = quarter hours,
//! unit price = hourly rate / 4, exact); **travel** per visit; **parts** at cost plus the tier's
//! markup, summed over the month's incidents into one line.

use super::catalogue::{ServiceTier, SlaRule};
use crate::money::{Cents, UnitPrice};
use rust_decimal::Decimal;

/// One service incident, as measured (input data, e.g. from the field-service log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incident {
    /// Hours from the call to a technician working on it.
    pub response_hours: Decimal,
    /// Hours from the call to the machine working again.
    pub repair_hours: Decimal,
    /// Technician time on the incident.
    pub labour_minutes: u32,
    /// Site visits (0 when fixed remotely).
    pub visits: u32,
    /// Parts used, at cost, in major units.
    pub parts_cost: Decimal,
}

/// Whether the incident missed the tier's response or repair promise.
pub fn breached(tier: &ServiceTier, incident: &Incident) -> bool {
    incident.response_hours > Decimal::from(tier.response_hours)
        || incident.repair_hours > Decimal::from(tier.repair_hours)
}

/// Started quarter hours.
pub fn quarter_hours(minutes: u32) -> u64 {
    u64::from(minutes).div_ceil(15)
}

/// Parts at cost plus `markup_percent`, exact.
pub fn parts_price(incidents: &[Incident], markup_percent: Decimal) -> UnitPrice {
    let cost: Decimal = incidents.iter().map(|i| i.parts_cost).sum();
    UnitPrice(cost * (Decimal::ONE + markup_percent / Decimal::ONE_HUNDRED))
}

/// The SLA credit line for `breaches` incidents on `base_cents` of service charges:
/// `(quantity, unit price)` (quantity negative), or `None` when nothing is owed. The bool says
/// whether the cap bound.
pub fn sla_credit(
    rule: &SlaRule,
    breaches: u64,
    base_cents: Cents,
) -> Option<(i64, UnitPrice, bool)> {
    if breaches == 0 || base_cents <= 0 {
        return None;
    }
    let base = Decimal::new(base_cents, 2);
    let per = base * rule.credit_percent / Decimal::ONE_HUNDRED;
    let cap = base * rule.cap_percent / Decimal::ONE_HUNDRED;
    let breaches_i = i64::try_from(breaches).unwrap_or(i64::MAX);
    if Decimal::from(breaches_i) * per <= cap {
        Some((-breaches_i, UnitPrice(per), false))
    } else {
        Some((-1, UnitPrice(cap), true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> SlaRule {
        SlaRule {
            credit_percent: Decimal::from(10),
            cap_percent: Decimal::from(25),
        }
    }

    #[test]
    fn credit_per_breach_then_capped() {
        // 150.00 base: 10 % = 15.00 per breach; cap 25 % = 37.50.
        assert_eq!(
            sla_credit(&rule(), 2, 15_000),
            Some((-2, UnitPrice(Decimal::new(15, 0)), false))
        );
        assert_eq!(
            sla_credit(&rule(), 3, 15_000),
            Some((-1, UnitPrice(Decimal::new(3750, 2)), true))
        );
        assert_eq!(sla_credit(&rule(), 0, 15_000), None);
        assert_eq!(sla_credit(&rule(), 1, 0), None);
    }

    #[test]
    fn quarter_hours_are_started_ones() {
        assert_eq!(quarter_hours(0), 0);
        assert_eq!(quarter_hours(1), 1);
        assert_eq!(quarter_hours(15), 1);
        assert_eq!(quarter_hours(100), 7);
    }
}
