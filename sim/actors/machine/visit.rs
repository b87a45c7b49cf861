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
