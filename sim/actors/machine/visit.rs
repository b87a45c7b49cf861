//! A preventive visit at the machine (`[service.predictive]`): the technician the service desk
//! sent before a foreseen failure.
//!
//! The machine learns of the visit before the span in which it is booked starts (the desk
//! reviews at span boundaries), so it needs no round of messages: at the first moment it
//! works at or after the technician's arrival (a job, or the evening read) it settles it.
//! - The machine failed since the desk asked (or is down): the failure went its own way; the
//!   visit finds it broken or already repaired and does nothing (its cost is spent all the
//!   same: labour, travel and the parts brought).
//! - Otherwise the pending failure is cancelled (`FailureProcess::prevent`, the next one drawn
//!   from the pairs edged so far) and the machine stops until the technician leaves: its jobs
//!   meanwhile follow the shop's downtime policy, as during a repair.

use super::field::Restore;
use super::MachineState;
use crate::actors::MachineDay;

/// A preventive visit as the machine sees it (unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visit {
    /// When the desk asked for it.
    pub requested: i64,
    /// The technician arrives: the machine stops.
    pub on_site: i64,
    /// The technician leaves: the machine works again.
    pub done: i64,
}

impl MachineState {
    /// Settles the visits whose technician arrived by `now` (module docs).
    pub(super) fn visit_if_due(&mut self, now: i64, day: &mut MachineDay) {
        let Some(field) = self.field.as_deref_mut() else {
            return;
        };
        while let Some(v) = field.visits.first().copied().filter(|v| v.on_site <= now) {
            field.visits.remove(0);
            if field.is_down() || field.last_failure >= v.requested {
                day.field.wasted_visits += 1;
                continue;
            }
            field.failures.prevent();
            day.field.preventive_visits += 1;
            day.field.preventive_down_minutes += ((v.done - v.on_site) / 60) as u32;
            if v.done > now {
                field.stop_until(Restore {
                    at: v.done,
                    board_swap: false,
                    loan: None,
                });
            }
        }
    }

    /// A visit booked for this machine, kept in arrival order.
    pub(super) fn expect_visit(&mut self, v: Visit) {
        if let Some(field) = self.field.as_deref_mut() {
            field.visits.push(v);
            field.visits.sort_by_key(|v| (v.on_site, v.done));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::field::FieldState;
    use super::super::{DayWork, MachineState};
    use super::*;
    use crate::actors::faults::{BoardSwaps, Counters, LostReads};
    use crate::actors::DayBoard;
    use crate::demand::{Job, JobKind};
    use crate::event::{Frame, MachineId, Material, ShopId};
    use crate::rng::{stream, Purpose};
    use crate::scenario::{FaultSpec, InitialCounters, OutageSpec};
    use crate::service::spec::DowntimePolicy;
    use crate::service::ServiceSpec;
    use std::sync::Arc;

    /// Monday 2024-01-01 00:00 UTC.
    const MIDNIGHT: i64 = 1_704_067_200;

    fn machine() -> MachineState {
        let faults = FaultSpec {
            duplicate_share: 0.0,
            counter_digits: 8,
            initial_counters: InitialCounters::Zero,
            board_swaps_per_machine_year: 0.0,
            lost_read_share: 0.0,
            outages: OutageSpec {
                per_machine_year: 0.0,
                median_days: 5.0,
                sigma: 1.0,
                max_days: 42,
            },
        };
        let id = MachineId(3);
        let spec = ServiceSpec::default();
        MachineState {
            since_read: 0,
            id,
            shop: ShopId(3),
            rng: stream(9, Purpose::Machine, id.0),
            seq: 0,
            counters: Counters::new(&faults, 9, id),
            swaps: BoardSwaps::new(&faults, 9, id),
            lost_reads: LostReads::new(&faults, 9, id),
            board: Arc::new(DayBoard::new(1)),
            offsets: Vec::new(),
            field: Some(Box::new(FieldState::new(
                &spec,
                9,
                id,
                10.0,
                DowntimePolicy::RemoteEdge,
            ))),
            span: Vec::new(),
        }
    }

    /// A day of 20 mountings spread over the opening hours.
    fn day() -> DayWork {
        let job = Job {
            kind: JobKind::Mounting {
                material: Material::Index150,
                remake: false,
            },
            frame: Frame::FullRim,
        };
        DayWork {
            day: 0,
            midnight: MIDNIGHT,
            jobs: vec![job; 20],
            open: true,
            removal: false,
        }
    }

    fn pending(m: &MachineState) -> u64 {
        m.field.as_ref().unwrap().failures.fails_at()
    }

    /// The technician from 09:00 to 13:00: long enough to stop some of the day's jobs.
    const VISIT: Visit = Visit {
        requested: MIDNIGHT,
        on_site: MIDNIGHT + 9 * 3600,
        done: MIDNIGHT + 13 * 3600,
    };

    #[test]
    fn a_visit_cancels_the_pending_failure_and_stops_the_machine_while_on_site() {
        let mut m = machine();
        let before = pending(&m);
        assert!(before > 100, "the first failure is far: {before}");
        m.expect_visit(VISIT);
        let mut out = MachineDay::default();
        let _ = m.field_day(0, None, &day(), &mut out);
        assert_eq!(out.field.preventive_visits, 1);
        assert_eq!(out.field.wasted_visits, 0);
        assert_eq!(out.field.preventive_down_minutes, 240);
        assert_ne!(
            pending(&m),
            before,
            "the pending failure was cancelled, the next drawn"
        );
        // The jobs of the visit's hours were ordered remote-edged; the rest edged.
        let lost = out.field.lost_mountings;
        assert!(lost > 0 && lost < 20, "{lost} lost");
        assert_eq!(out.tally.mountings + u64::from(lost), 20);
        assert_eq!(out.field.demand_jobs, 20);
    }

    #[test]
    fn a_visit_after_a_failure_since_the_request_does_nothing() {
        let mut m = machine();
        let before = pending(&m);
        m.field.as_mut().unwrap().last_failure = MIDNIGHT - 1;
        // Failed before the request: the warning was seen later; the visit services it.
        m.expect_visit(VISIT);
        let _ = m.field_day(0, None, &day(), &mut MachineDay::default());
        assert_ne!(pending(&m), before);

        let mut m = machine();
        let before = pending(&m);
        m.field.as_mut().unwrap().last_failure = MIDNIGHT + 1;
        m.expect_visit(VISIT);
        let mut out = MachineDay::default();
        let _ = m.field_day(0, None, &day(), &mut out);
        assert_eq!(out.field.wasted_visits, 1);
        assert_eq!(out.field.preventive_visits, 0);
        assert_eq!(out.field.lost_mountings, 0, "the machine never stopped");
        assert_eq!(pending(&m), before, "the failure process is untouched");
    }
}
