//! What the field came to over a run: per shop its cost to serve, and the fleet's figures for
//! `summary.json`'s `/service` (README lists the pointers). Built once from the truth and the
//! repairs, after the simulation.

use super::cost::{self, CostToServe};
use super::dispatch::Preventive;
use super::region::Regions;
use super::start::promise_of;
use super::{Cause, Repair};
use crate::calendar::Calendar;
use crate::fleet::Fleet;
use crate::scenario::Scenario;
use crate::truth::Truth;
use serde::Serialize;
use std::collections::BTreeMap;

/// The field's results, for the reports.
pub struct FieldOutcome {
    /// Per shop id.
    pub costs: Vec<CostToServe>,
    /// Per period: the fleet's cost to serve spent that month (they add up to `costs`).
    pub monthly_cost_cents: Vec<i64>,
    /// Per shop id: repairs that missed the shop's promise (response or repair time).
    pub breaches: Vec<u32>,
    /// Per shop id: preventive visits booked (`[service.predictive]`).
    pub preventive_visits: Vec<u32>,
    pub summary: ServiceSummary,
    /// `[service.predictive]` on: the same seed and demand with and without the policy.
    pub predictive: Option<PredictiveComparison>,
}

/// What predictive maintenance changed: the run as simulated (`with`) against the same
/// fleet, seed and demand simulated again with the policy off (`without`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PredictiveComparison {
    pub with: FieldFigures,
    pub without: FieldFigures,
}

/// The field's headline figures for one simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct FieldFigures {
    /// Jobs the shops gave their machines: the demand, the same with and without.
    pub demand_jobs: u64,
    pub failures: u64,
    /// Preventive visits the desk sent (0 without the policy).
    pub preventive_visits: u64,
    /// Of those, the visits that found the machine failed since the desk asked (nothing to
    /// prevent: the failure went its own way).
    pub wasted_visits: u64,
    /// Hours machines stood still: failure to restored, summed over incidents, plus the
    /// preventive visits that stopped a working machine (technician on site).
    pub downtime_hours: f64,
    pub lost_mountings: u64,
    pub waited_mountings: u64,
    pub sla_breaches: u64,
    pub cost_cents: i64,
    /// The maintenance part of the cost to serve: parts, labour, travel, loaners and
    /// preventive visits (the machine's lease and the consumables left out).
    pub maintenance_cents: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceSummary {
    pub incidents: u64,
    /// Incidents per machine-year installed.
    pub incidents_per_machine_year: f64,
    pub remote_fixes: u64,
    pub site_visits: u64,
    /// Repairs during which a loaner machine stood in.
    pub loaners: u64,
    pub sla_breaches: u64,
    /// Hours from the call to someone on it, and to the shop edging again: p50, p90, max.
    pub response_hours: [f64; 3],
    pub repair_hours: [f64; 3],
    pub cost_cents: i64,
    /// The cost to serve by component (`cost::CostToServe::COLUMNS`).
    pub cost_by_component: BTreeMap<&'static str, i64>,
    pub by_cause: BTreeMap<&'static str, u64>,
    pub by_region: BTreeMap<&'static str, RegionSummary>,
    pub wheel_sets: u64,
    /// Mountings that waited for a repair (billed when edged, later).
    pub waited_mountings: u64,
    /// Mountings loaners edged while shops' machines were repaired.
    pub loaner_mountings: u64,
    /// `[service.predictive]` on: the run against the same one without the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictive: Option<PredictiveComparison>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RegionSummary {
    pub shops: u64,
    pub machines: u64,
    pub technicians: u32,
    pub incidents: u64,
    /// Median and p90 hours from the call to the shop edging again.
    pub repair_hours: [f64; 2],
}

impl FieldOutcome {
    pub fn build(
        scenario: &Scenario,
        fleet: &Fleet,
        calendar: &Calendar,
        truth: &Truth,
        repairs: &[Repair],
        visits: &[Preventive],
    ) -> FieldOutcome {
        let spec = &scenario.service;
        let costs = cost::per_shop(spec, fleet, calendar, truth, repairs, visits);
        let monthly_cost_cents =
            cost::per_month(spec, fleet, calendar, truth, repairs, visits, &costs);
        let mut breaches = vec![0u32; fleet.shops.len()];
        for r in repairs {
            let promise = promise_of(scenario, r.failure.shop.0);
            let incident = r.incident();
            if incident.response_hours > promise.response_hours.into()
                || incident.repair_hours > promise.repair_hours.into()
            {
                breaches[r.failure.shop.0 as usize] += 1;
            }
        }
        let mut preventive_visits = vec![0u32; fleet.shops.len()];
        for v in visits {
            preventive_visits[v.request.shop.0 as usize] += 1;
        }
        let summary = summarise(scenario, fleet, truth, repairs, &costs, &breaches);
        FieldOutcome {
            costs,
            monthly_cost_cents,
            breaches,
            preventive_visits,
            summary,
            predictive: None,
        }
    }

    /// The headline figures of this outcome (`visits`: the preventive visits it was built
    /// with).
    pub fn figures(
        &self,
        truth: &Truth,
        repairs: &[Repair],
        visits: &[Preventive],
    ) -> FieldFigures {
        let mut tally = crate::truth::FieldTally::default();
        for shop in 0..self.costs.len() as u32 {
            tally.add(&truth.shop_field(shop));
        }
        let repair_seconds: i64 = repairs.iter().map(|r| r.restored - r.failure.time).sum();
        FieldFigures {
            demand_jobs: u64::from(tally.demand_jobs),
            failures: repairs.len() as u64,
            preventive_visits: visits.len() as u64,
            wasted_visits: u64::from(tally.wasted_visits),
            downtime_hours: round2(
                repair_seconds as f64 / 3600.0 + f64::from(tally.preventive_down_minutes) / 60.0,
            ),
            lost_mountings: u64::from(tally.lost_mountings),
            waited_mountings: u64::from(tally.waited_mountings),
            sla_breaches: self.summary.sla_breaches,
            cost_cents: self.summary.cost_cents,
            maintenance_cents: self.costs.iter().map(maintenance_cents).sum(),
        }
    }

    /// Puts the comparison with the policy off in the outcome and its summary.
    pub fn set_predictive(&mut self, comparison: Option<PredictiveComparison>) {
        self.summary.predictive = comparison.clone();
        self.predictive = comparison;
    }
}

fn maintenance_cents(c: &CostToServe) -> i64 {
    c.parts_cents + c.labour_cents + c.travel_cents + c.loaner_cents + c.preventive_cents
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn summarise(
    scenario: &Scenario,
    fleet: &Fleet,
    truth: &Truth,
    repairs: &[Repair],
    costs: &[CostToServe],
    breaches: &[u32],
) -> ServiceSummary {
    let hours = |to: fn(&Repair) -> i64| -> Vec<f64> {
        let mut h: Vec<f64> = repairs
            .iter()
            .map(|r| (to(r) - r.failure.time) as f64 / 3600.0)
            .collect();
        h.sort_by(f64::total_cmp);
        h
    };
    let response = hours(|r| r.responded);
    let repair = hours(|r| r.restored);
    let mut by_cause: BTreeMap<&'static str, u64> =
        Cause::ALL.iter().map(|c| (c.as_str(), 0)).collect();
    for r in repairs {
        *by_cause.entry(r.failure.cause.as_str()).or_default() += 1;
    }
    let mut cost_by_component: BTreeMap<&'static str, i64> = BTreeMap::new();
    for c in costs {
        for (name, cents) in CostToServe::COLUMNS.iter().zip(c.components()) {
            *cost_by_component.entry(name).or_default() += cents;
        }
    }
    if scenario.service.predictive.is_some() {
        let preventive = costs.iter().map(|c| c.preventive_cents).sum();
        cost_by_component.insert("preventive_cents", preventive);
    }
    let mut field_total = crate::truth::FieldTally::default();
    for shop in 0..fleet.shops.len() as u32 {
        field_total.add(&truth.shop_field(shop));
    }
    ServiceSummary {
        incidents: repairs.len() as u64,
        incidents_per_machine_year: repairs.len() as f64 / machine_years(fleet).max(1e-9),
        remote_fixes: repairs.iter().filter(|r| r.remote).count() as u64,
        site_visits: repairs.iter().map(|r| u64::from(r.visits)).sum(),
        loaners: repairs.iter().filter(|r| r.loaner.is_some()).count() as u64,
        sla_breaches: breaches.iter().map(|&b| u64::from(b)).sum(),
        response_hours: quantiles(&response),
        repair_hours: quantiles(&repair),
        cost_cents: costs.iter().map(CostToServe::total).sum(),
        cost_by_component,
        by_cause,
        by_region: by_region(scenario, fleet, repairs),
        wheel_sets: u64::from(field_total.wheel_sets),
        waited_mountings: u64::from(field_total.waited_mountings),
        loaner_mountings: u64::from(field_total.loaner_mountings),
        predictive: None,
    }
}

/// Machine-years installed over the run.
pub fn machine_years(fleet: &Fleet) -> f64 {
    fleet
        .shops
        .iter()
        .map(|s| {
            let days = f64::from(s.in_service.last_day + 1 - s.in_service.first_day);
            days / 365.25 * s.machines.len() as f64
        })
        .sum()
}

fn by_region(
    scenario: &Scenario,
    fleet: &Fleet,
    repairs: &[Repair],
) -> BTreeMap<&'static str, RegionSummary> {
    let regions = Regions::assign(scenario.seed, fleet);
    let field = &scenario.service.field;
    let mut out = BTreeMap::new();
    let mut hours: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for r in super::region::RegionId::all() {
        let f = regions.fleet(r);
        if f.machines == 0 {
            continue;
        }
        out.insert(
            r.name(),
            RegionSummary {
                shops: f.shops.len() as u64,
                machines: u64::from(f.machines),
                technicians: regions.technicians(field, r),
                ..RegionSummary::default()
            },
        );
    }
    for r in repairs {
        let name = regions.of_shop[r.failure.shop.0 as usize].name();
        if let Some(s) = out.get_mut(name) {
            s.incidents += 1;
        }
        hours
            .entry(name)
            .or_default()
            .push((r.restored - r.failure.time) as f64 / 3600.0);
    }
    for (name, mut h) in hours {
        h.sort_by(f64::total_cmp);
        let q = quantiles(&h);
        if let Some(s) = out.get_mut(name) {
            s.repair_hours = [q[0], q[1]];
        }
    }
    out
}

/// p50, p90, max of sorted values, to 0.01 (0 when empty).
fn quantiles(sorted: &[f64]) -> [f64; 3] {
    let at = |q: f64| {
        if sorted.is_empty() {
            return 0.0;
        }
        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
        (sorted[i] * 100.0).round() / 100.0
    };
    [at(0.5), at(0.9), at(1.0)]
}
