//! The coordinator's side of the field (`[service]`): after each round of a span, the
//! failures the machines reported go to their region's service organisation, and the machines
//! whose repair time is then known go on with their work.
//!
//! **Exact order.** Each organisation must dispatch its region's failures in (time, shop,
//! machine) order, as if the simulation went minute by minute, although machines work a span
//! at a time. A failure can be dispatched once no earlier one can still appear. The only
//! machines whose future is unknown are those repaired within the span and not yet resumed:
//! none can fail before its repair time. So a region dispatches its pending failures while
//! they are earlier than the earliest such repair (the horizon, lowered by each repair it
//! makes), then the machines repaired no later than its next pending failure go on, and their
//! new failures join the queue. The result is the same whatever the span's length, the
//! rounds, or the threads.

use crate::event::{MachineId, ShopId};
use crate::service::dispatch::{PreventRequest, Preventive, Promise};
use crate::service::org::OrgMsg;
use crate::service::{Failure, Repair};
use ractor::ActorRef;

use super::machine::{Loan, Restore};

/// The service organisations, one per region, and what they still have to do in the span.
pub(super) struct Field {
    orgs: Vec<ActorRef<OrgMsg>>,
    /// Per shop: its region (index into `orgs`) and its tier's promise.
    shops: Vec<(usize, Promise)>,
    /// Per region: failures not dispatched yet, sorted by (time, shop, machine).
    pending: Vec<Vec<Failure>>,
    /// Per region: repairs within the span whose machines have not gone on yet.
    waiting: Vec<Vec<(i64, MachineId, Restore)>>,
    /// Every repair so far, in dispatch order per region.
    pub(super) repairs: Vec<Repair>,
}

fn order(f: &Failure) -> (i64, ShopId, MachineId) {
    (f.time, f.shop, f.machine)
}

impl Field {
    pub(super) fn new(orgs: Vec<ActorRef<OrgMsg>>, shops: Vec<(usize, Promise)>) -> Field {
        let regions = orgs.len();
        Field {
            orgs,
            shops,
            pending: vec![Vec::new(); regions],
            waiting: vec![Vec::new(); regions],
            repairs: Vec::new(),
        }
    }

    /// One round's failures in; the machines that can go on out (in machine order), with when
    /// they work again. Empty: the span is done.
    pub(super) async fn after_round(
        &mut self,
        failures: Vec<Failure>,
        span_end: i64,
    ) -> Result<Vec<(MachineId, Restore)>, String> {
        for f in failures {
            let region = self.shops[f.shop.0 as usize].0;
            self.pending[region].push(f);
        }
        let mut replies = Vec::new();
        for (region, org) in self.orgs.iter().enumerate() {
            let pending = &mut self.pending[region];
            if pending.is_empty() {
                continue;
            }
            pending.sort_by_key(order);
            let horizon = self.waiting[region]
                .iter()
                .map(|w| w.0)
                .min()
                .unwrap_or(i64::MAX);
            let batch: Vec<(Failure, Promise)> = pending
                .iter()
                .map(|f| (*f, self.shops[f.shop.0 as usize].1))
                .collect();
            let reply = ractor::call!(org, |reply| OrgMsg::Dispatch {
                failures: batch,
                horizon,
                span_end,
                reply,
            })
            .map_err(|e| format!("the service organisation of region {region} failed: {e}"))?
            .map_err(|e| format!("the service organisation of region {region}: {e}"))?;
            replies.push((region, reply));
        }
        for (region, repairs) in replies {
            self.pending[region].drain(..repairs.len());
            for r in &repairs {
                let restore = Restore {
                    at: r.returned,
                    board_swap: r.failure.board_swap,
                    loan: r.loan().map(|(loaner, from, _)| Loan { loaner, from }),
                };
                self.waiting[region].push((restore.at, r.failure.machine, restore));
            }
            self.repairs.extend(repairs);
        }
        Ok(self.release(span_end))
    }

    /// Preventive visits (in (time, shop, machine) order), each to its region's organisation,
    /// at a span boundary: every failure of earlier times is dispatched (a span ends with
    /// nothing pending) and none of later times yet. The visits, regions in order.
    pub(super) async fn prevent(
        &mut self,
        requests: Vec<PreventRequest>,
    ) -> Result<Vec<Preventive>, String> {
        debug_assert!(
            self.pending.iter().all(Vec::is_empty),
            "a span ends dispatched"
        );
        let mut by_region = vec![Vec::new(); self.orgs.len()];
        for r in requests {
            by_region[self.shops[r.shop.0 as usize].0].push(r);
        }
        let mut visits = Vec::new();
        for (region, (org, requests)) in self.orgs.iter().zip(by_region).enumerate() {
            if requests.is_empty() {
                continue;
            }
            let booked = ractor::call!(org, OrgMsg::Prevent, requests)
                .map_err(|e| format!("the service organisation of region {region} failed: {e}"))?
                .map_err(|e| format!("the service organisation of region {region}: {e}"))?;
            visits.extend(booked);
        }
        Ok(visits)
    }

    /// The machines that can go on: repaired after the span (nothing more happens to them in
    /// it), or no later than their region's next pending failure.
    fn release(&mut self, span_end: i64) -> Vec<(MachineId, Restore)> {
        let mut out = Vec::new();
        for region in 0..self.orgs.len() {
            let next = self.pending[region].first().map_or(i64::MAX, |f| f.time);
            self.waiting[region].retain(|&(at, machine, restore)| {
                let go = at >= span_end || at <= next;
                if go {
                    out.push((machine, restore));
                }
                !go
            });
        }
        out.sort_by_key(|(m, _)| *m);
        out
    }
}
