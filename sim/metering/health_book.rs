//! The latest health each machine reported (`MeteringEngine::machine_health`): what a
//! provider's service desk watches. Pure and in memory; an engine feeds it every accepted
//! reading, in any order, and rebuilds it from its log at open.
//!
//! Rules: a machine's latest health is its reading with health that is latest by event time,
//! then sequence number — so a late reading (an outage's backlog, a retry) never replaces a
//! newer one, and the answer does not depend on arrival order; a reading without health
//! leaves the one before in place (a machine that stops reporting is not healed by it).

use super::MachineHealth;
use crate::event::{EventBody, MachineId, UsageEvent};
use std::collections::BTreeMap;

/// Per machine that ever reported health, its latest report. A map, not a slot per machine
/// id: a fleet without health telemetry keeps nothing.
#[derive(Clone, Debug, Default)]
pub struct HealthBook {
    latest: BTreeMap<MachineId, MachineHealth>,
}

impl HealthBook {
    /// Takes an accepted event into account: keeps its health if it is the machine's latest.
    pub fn observe(&mut self, e: &UsageEvent) {
        let EventBody::Counter {
            health: Some(health),
            ..
        } = e.body
        else {
            return;
        };
        let report = MachineHealth {
            machine: e.machine,
            shop: e.shop,
            time: e.time,
            seq: e.seq,
            health,
        };
        self.latest
            .entry(e.machine)
            .and_modify(|kept| {
                if (report.time, report.seq) > (kept.time, kept.seq) {
                    *kept = report;
                }
            })
            .or_insert(report);
    }

    /// Machines whose latest report is dated at or after `since`, in machine order.
    pub fn since(&self, since: i64) -> Vec<MachineHealth> {
        self.latest
            .values()
            .filter(|h| h.time >= since)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Health, ShopId};
    use crate::service::Cause;

    fn reading(machine: u32, seq: u64, time: i64, health: Option<Health>) -> UsageEvent {
        UsageEvent {
            machine: MachineId(machine),
            seq,
            time,
            shop: ShopId(machine / 2),
            body: EventBody::Counter {
                total_cycles: seq,
                mountings: seq,
                trace_only: 0,
                removal: false,
                health,
            },
        }
    }

    fn worn(permille: u16, warning: Option<Cause>) -> Option<Health> {
        Some(Health {
            wheel_wear_permille: permille,
            warning,
        })
    }

    fn wear_of(book: &HealthBook, since: i64) -> Vec<(u32, u16)> {
        let kept = book.since(since);
        kept.iter()
            .map(|h| (h.machine.0, h.health.wheel_wear_permille))
            .collect()
    }

    #[test]
    fn a_late_older_reading_does_not_replace_a_newer_one() {
        let mut book = HealthBook::default();
        book.observe(&reading(3, 10, 2_000, worn(500, None)));
        book.observe(&reading(3, 9, 1_000, worn(450, Some(Cause::WaterPump))));
        assert_eq!(wear_of(&book, 0), [(3, 500)]);
        let kept = book.since(0)[0];
        assert_eq!(
            (kept.seq, kept.time, kept.health.warning),
            (10, 2_000, None)
        );
        // At the same instant, the later sequence number is the later reading.
        book.observe(&reading(3, 11, 2_000, worn(510, None)));
        book.observe(&reading(3, 8, 2_000, worn(400, None)));
        assert_eq!(wear_of(&book, 0), [(3, 510)]);
    }

    #[test]
    fn a_reading_without_health_leaves_the_previous_health() {
        let mut book = HealthBook::default();
        book.observe(&reading(1, 1, 1_000, worn(100, Some(Cause::SpindleMotor))));
        book.observe(&reading(1, 2, 5_000, None));
        let kept = book.since(0);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].seq, 1);
        assert_eq!(kept[0].health.warning, Some(Cause::SpindleMotor));
    }

    #[test]
    fn since_is_inclusive_and_machines_come_in_order() {
        let mut book = HealthBook::default();
        for (machine, time) in [(7, 3_000), (2, 1_000), (5, 2_000)] {
            book.observe(&reading(machine, 1, time, worn(machine as u16, None)));
        }
        assert_eq!(wear_of(&book, i64::MIN), [(2, 2), (5, 5), (7, 7)]);
        assert_eq!(wear_of(&book, 2_000), [(5, 5), (7, 7)]);
        assert_eq!(wear_of(&book, 3_001), []);
    }

    #[test]
    fn the_answer_does_not_depend_on_arrival_order() {
        let readings = [
            reading(1, 1, 100, worn(10, None)),
            reading(1, 2, 200, None),
            reading(1, 3, 300, worn(30, Some(Cause::Clamping))),
            reading(2, 1, 100, worn(5, None)),
            reading(1, 4, 250, worn(25, None)),
        ];
        let mut forward = HealthBook::default();
        readings.iter().for_each(|r| forward.observe(r));
        let mut backward = HealthBook::default();
        readings.iter().rev().for_each(|r| backward.observe(r));
        assert_eq!(forward.since(0), backward.since(0));
        assert_eq!(wear_of(&forward, 0), [(1, 30), (2, 5)]);
    }
}
