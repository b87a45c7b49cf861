//! Predictive maintenance (`[service.predictive]`): the service desk's weekly review of the
//! fleet's health, as a provider's desk would do it — through the engine's query interface
//! (`MeteringEngine::machine_health`), seeing only what was delivered.
//!
//! Rules:
//! - **When.** Every Monday at 00:00 (simulated UTC), before the technicians' day starts: the
//!   desk reads the health reported since its last review (the run's start for the first)
//!   once the engine has taken in everything delivered up to Sunday's end. The visits it asks
//!   for are dated Monday 00:00 and booked from the working day's opening. No failure can
//!   happen at midnight (machines work from 08:00 to 19:30), so every failure of earlier times
//!   is dispatched before them and every later one after them.
//! - **What it acts on.** A warning (the cause a machine's diagnostics foresee) that no visit
//!   covers yet: a visit sent covers the machine's readings dated before the technician
//!   leaves. For each such warning the desk acts with probability `acts_on`, drawn from the
//!   machine's own stream (`Purpose::Predictive`) only when a warning is seen; a warning it
//!   let pass is drawn for again at the next review if it still shows.
//! - **The request.** `visit_minutes` on site; parts = `parts_factor` × the warned cause's
//!   median parts price (`failures.causes.*.parts_median`), exact in decimal, rounded to the
//!   cent half away from zero.

use super::dispatch::{PreventRequest, Preventive};
use super::spec::{FailureSpec, PredictiveSpec};
use super::Cause;
use crate::event::MachineId;
use crate::metering::MachineHealth;
use crate::rng::{stream, Purpose};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Monday, in `Calendar::info`'s weekday numbering (Monday first).
pub const REVIEW_WEEKDAY: usize = 0;

/// The service desk's side of predictive maintenance: what it decided so far.
#[derive(Clone, Debug)]
pub struct ReviewDesk {
    acts_on: f64,
    visit_minutes: u32,
    /// Per cause: a preventive visit's parts, in cents.
    parts_cents: [i64; 6],
    seed: u64,
    /// Machines of the fleet (ids below): a report from any other machine is not the desk's.
    machines: u32,
    /// Per machine whose warning the desk saw: its draws.
    streams: BTreeMap<MachineId, ChaCha8Rng>,
    /// Per machine: readings dated before this instant are covered by a visit sent.
    covered_until: BTreeMap<MachineId, i64>,
    last_review: i64,
}

impl ReviewDesk {
    /// The desk of a fleet of `machines` machines whose run starts at `start` (unix seconds).
    pub fn new(
        spec: &PredictiveSpec,
        failures: &FailureSpec,
        seed: u64,
        machines: u32,
        start: i64,
    ) -> ReviewDesk {
        let factor = decimal(spec.parts_factor);
        let parts_cents = Cause::ALL
            .map(|c| round(factor * Decimal::from(failures.causes[c as usize].parts_median_cents)));
        ReviewDesk {
            acts_on: spec.acts_on,
            visit_minutes: spec.visit_minutes,
            parts_cents,
            seed,
            machines,
            streams: BTreeMap::new(),
            covered_until: BTreeMap::new(),
            last_review: start,
        }
    }

    /// What to ask the engine for: reports dated at or after the last review.
    pub fn since(&self) -> i64 {
        self.last_review
    }

    /// The review at `at` of the engine's answer: the visits to ask for, in (time, shop,
    /// machine) order (all at `at`).
    pub fn review(&mut self, at: i64, health: &[MachineHealth]) -> Vec<PreventRequest> {
        self.last_review = at;
        let mut requests = Vec::new();
        for report in health {
            let Some(cause) = report.health.warning else {
                continue;
            };
            if report.machine.0 >= self.machines || self.covered(report) {
                continue;
            }
            if self.acts(report.machine) {
                requests.push(PreventRequest {
                    machine: report.machine,
                    shop: report.shop,
                    time: at,
                    minutes: self.visit_minutes,
                    parts_cents: self.parts_cents[cause as usize],
                });
                // Covered from now until the visit is booked (`booked` sets its end).
                self.covered_until.insert(report.machine, i64::MAX);
            }
        }
        requests.sort_by_key(|r| (r.time, r.shop, r.machine));
        requests
    }

    /// The visits booked for the requests: each covers its machine's readings until the
    /// technician leaves.
    pub fn booked(&mut self, visits: &[Preventive]) {
        for v in visits {
            self.covered_until.insert(v.request.machine, v.done);
        }
    }

    fn covered(&self, report: &MachineHealth) -> bool {
        self.covered_until
            .get(&report.machine)
            .is_some_and(|&until| report.time < until)
    }

    fn acts(&mut self, machine: MachineId) -> bool {
        let seed = self.seed;
        let rng = self
            .streams
            .entry(machine)
            .or_insert_with(|| stream(seed, Purpose::Predictive, machine.0));
        rng.random::<f64>() < self.acts_on
    }
}

/// A factor as written in the scenario (the shortest decimal that reads back as it).
fn decimal(x: f64) -> Decimal {
    x.to_string().parse().unwrap_or(Decimal::ZERO)
}

fn round(cents: Decimal) -> i64 {
    cents
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Health, ShopId};
    use crate::service::ServiceSpec;

    const MONDAY: i64 = 1_704_067_200;

    fn desk(acts_on: f64) -> ReviewDesk {
        let spec = ServiceSpec::default();
        let p = PredictiveSpec {
            acts_on,
            ..PredictiveSpec::default()
        };
        ReviewDesk::new(&p, &spec.failures, 7, 100, MONDAY - 7 * 86_400)
    }

    fn report(machine: u32, shop: u32, time: i64, warning: Option<Cause>) -> MachineHealth {
        MachineHealth {
            machine: MachineId(machine),
            shop: ShopId(shop),
            time,
            seq: 1,
            health: Health {
                wheel_wear_permille: 300,
                warning,
            },
        }
    }

    #[test]
    fn the_desk_asks_for_visits_to_the_warned_machines_only_in_shop_order() {
        let mut d = desk(1.0);
        let health = [
            report(1, 9, MONDAY - 3600, Some(Cause::WaterPump)),
            report(2, 4, MONDAY - 3600, None),
            report(3, 2, MONDAY - 3600, Some(Cause::SpindleMotor)),
            // Not one of the fleet's machines (a loaner): not the desk's to service.
            report(500, 1, MONDAY - 3600, Some(Cause::WaterPump)),
        ];
        let requests = d.review(MONDAY, &health);
        let machines: Vec<u32> = requests.iter().map(|r| r.machine.0).collect();
        assert_eq!(machines, vec![3, 1]);
        assert!(requests.iter().all(|r| r.time == MONDAY && r.minutes == 60));
        // Half the cause's median parts: 450.00 and 60.00 at cost.
        assert_eq!(requests[0].parts_cents, 45_000);
        assert_eq!(requests[1].parts_cents, 6_000);
        assert_eq!(d.since(), MONDAY);
    }

    #[test]
    fn a_warning_covered_by_a_visit_is_not_acted_on_again() {
        let mut d = desk(1.0);
        let warned = [report(1, 1, MONDAY - 3600, Some(Cause::WaterPump))];
        let first = d.review(MONDAY, &warned);
        assert_eq!(first.len(), 1);
        // Before the booking, and after it for readings before the technician leaves.
        assert!(d.review(MONDAY + 1, &warned).is_empty());
        let done = MONDAY + 10 * 86_400;
        d.booked(&[Preventive {
            request: first[0],
            on_site: done - 3600,
            done,
            labour_minutes: 60,
            travel_km: 10,
            travel_minutes: 12,
        }]);
        let later = MONDAY + 7 * 86_400;
        let still = [report(1, 1, later - 3600, Some(Cause::WaterPump))];
        assert!(d.review(later, &still).is_empty());
        // A warning read after the visit is a new one.
        let after = [report(1, 1, done + 3600, Some(Cause::Clamping))];
        assert_eq!(d.review(done + 86_400, &after).len(), 1);
    }

    #[test]
    fn the_desk_acts_on_its_share_of_warnings_drawing_per_machine() {
        let mut d = desk(0.3);
        let health: Vec<MachineHealth> = (0..100)
            .map(|m| report(m, m, MONDAY - 3600, Some(Cause::ToolsWear)))
            .collect();
        let acted = d.review(MONDAY, &health).len();
        assert!((15..=45).contains(&acted), "{acted} of 100 at 0.3");
        // The same machines warned in the same way: the same decisions, whatever others saw.
        let mut again = desk(0.3);
        let some: Vec<MachineHealth> = health
            .iter()
            .copied()
            .filter(|h| h.machine.0 % 2 == 0)
            .collect();
        let a: Vec<u32> = again
            .review(MONDAY, &some)
            .iter()
            .map(|r| r.machine.0)
            .collect();
        let mut full = desk(0.3);
        let b: Vec<u32> = full
            .review(MONDAY, &health)
            .iter()
            .map(|r| r.machine.0)
            .filter(|m| m % 2 == 0)
            .collect();
        assert_eq!(a, b);
        assert!(desk(0.0).review(MONDAY, &health).is_empty());
    }
}
