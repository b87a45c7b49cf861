//! The service organisations as actors: one `ServiceOrgActor` per region, owning the region's
//! `Desk`, with each technician a child `TechnicianActor` owning its calendar.
//!
//! Protocol: the caller sends one message per batch, never one per failure: `Dispatch(batch)`
//! with the batch already in (time, shop, machine) order (`dispatch::sort_batch`), answered with
//! the repairs in the same order; `Prevent(requests)` likewise. For each visit the org asks
//! every technician at once for the earliest start of the slot, reads the answers in technician
//! order, books the earliest (ties: the lowest index) and goes on. That is exactly
//! `dispatch::book_earliest` over the same calendars, so an org answers what the pure
//! `Dispatcher` answers for the same region, seed and requests (tested).
//!
//! An error (a request out of order, a technician gone) ends the batch there: the reply is the
//! error, and the requests before it stay booked. A technician actor that dies stops its org
//! (ractor's default supervision), which the caller sees as the org's death.
//!
//! A region's org reads nothing of another region's: what it needs is its arguments.

use super::dispatch::{Booking, Desk, DispatchError, PreventRequest, Preventive, Promise, Step};
use super::region::RegionId;
use super::spec::FieldSpec;
use super::technician::{Slot, Technician, WorkingHours};
use super::{Failure, Repair};
use crate::event::MachineId;
use ractor::concurrency::{oneshot, JoinHandle};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

// Local only: never crosses nodes (ractor's `cluster` feature needs the impl).
#[derive(ractor_cluster::RactorMessage)]
pub enum TechnicianMsg {
    /// The earliest start of a block for the slot in this calendar.
    Earliest(Slot, RpcReplyPort<i64>),
    /// Book `[start, start + length)` (an answer to `Earliest` for the same slot).
    Book { start: i64, length: i64 },
}

pub struct TechnicianActor;

impl Actor for TechnicianActor {
    type Msg = TechnicianMsg;
    type State = Technician;
    type Arguments = WorkingHours;

    async fn pre_start(
        &self,
        _: ActorRef<TechnicianMsg>,
        hours: WorkingHours,
    ) -> Result<Technician, ActorProcessingErr> {
        Ok(Technician::new(hours))
    }

    async fn handle(
        &self,
        _: ActorRef<TechnicianMsg>,
        msg: TechnicianMsg,
        calendar: &mut Technician,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TechnicianMsg::Earliest(slot, reply) => {
                // The org waiting for this answer may have stopped: nothing to do then.
                let _ = reply.send(calendar.earliest(&slot));
            }
            TechnicianMsg::Book { start, length } => calendar.book(start, length),
        }
        Ok(())
    }
}

pub type DispatchReply = Result<Vec<Repair>, DispatchError>;
pub type PreventReply = Result<Vec<Preventive>, DispatchError>;

// Local only: never crosses nodes (ractor's `cluster` feature needs the impl).
#[derive(ractor_cluster::RactorMessage)]
pub enum OrgMsg {
    /// A batch of failures in (time, shop, machine) order; the repairs in the same order, for
    /// the failures earlier than `horizon`, which each repair that puts a machine back to work
    /// before `span_end` lowers to that time (no failure of that machine can come earlier;
    /// `actors::field` explains why). `horizon` `i64::MAX` and `span_end` `i64::MIN`: the
    /// whole batch.
    Dispatch {
        failures: Vec<(Failure, Promise)>,
        horizon: i64,
        span_end: i64,
        reply: RpcReplyPort<DispatchReply>,
    },
    /// Preventive visits in (time, shop, machine) order, after every failure of earlier times.
    Prevent(Vec<PreventRequest>, RpcReplyPort<PreventReply>),
}

/// What a region's organisation is made of (`Dispatcher::new`'s arguments).
#[derive(Clone, Debug)]
pub struct OrgArgs {
    pub field: FieldSpec,
    pub region: RegionId,
    pub technicians: u32,
    pub loaners: Vec<MachineId>,
    pub seed: u64,
}

pub struct OrgState {
    desk: Desk,
    technicians: Vec<ActorRef<TechnicianMsg>>,
}

pub struct ServiceOrgActor;

impl Actor for ServiceOrgActor {
    type Msg = OrgMsg;
    type State = OrgState;
    type Arguments = OrgArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<OrgMsg>,
        a: OrgArgs,
    ) -> Result<OrgState, ActorProcessingErr> {
        let desk = Desk::new(&a.field, a.region, a.technicians, a.loaners, a.seed)?;
        let mut technicians = Vec::with_capacity(a.technicians as usize);
        for _ in 0..a.technicians {
            let (t, _) =
                Actor::spawn_linked(None, TechnicianActor, desk.hours(), myself.get_cell()).await?;
            technicians.push(t);
        }
        Ok(OrgState { desk, technicians })
    }

    async fn handle(
        &self,
        _: ActorRef<OrgMsg>,
        msg: OrgMsg,
        s: &mut OrgState,
    ) -> Result<(), ActorProcessingErr> {
        // A caller that gave up on the answer is not the org's failure: the reply is dropped.
        match msg {
            OrgMsg::Dispatch {
                failures,
                horizon,
                span_end,
                reply,
            } => {
                let _ = reply.send(s.dispatch(&failures, horizon, span_end).await);
            }
            OrgMsg::Prevent(requests, reply) => {
                let _ = reply.send(s.prevent(&requests).await);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<OrgMsg>,
        _: &mut OrgState,
    ) -> Result<(), ActorProcessingErr> {
        myself.stop_children(None);
        Ok(())
    }
}

impl OrgState {
    async fn dispatch(
        &mut self,
        batch: &[(Failure, Promise)],
        mut horizon: i64,
        span_end: i64,
    ) -> DispatchReply {
        let mut repairs = Vec::with_capacity(batch.len());
        for (f, promise) in batch {
            if f.time >= horizon {
                break;
            }
            let first = self.desk.begin(f, *promise)?;
            match self.complete(first).await? {
                Step::Repaired(r) => {
                    if r.returned < span_end {
                        horizon = horizon.min(r.returned);
                    }
                    repairs.push(r);
                }
                _ => return Err(DispatchError::Protocol("a failure ended without a repair")),
            }
        }
        Ok(repairs)
    }

    async fn prevent(&mut self, requests: &[PreventRequest]) -> PreventReply {
        let mut visits = Vec::with_capacity(requests.len());
        for r in requests {
            let first = self.desk.begin_prevent(r)?;
            match self.complete(first).await? {
                Step::Prevented(p) => visits.push(p),
                _ => {
                    return Err(DispatchError::Protocol(
                        "a preventive request ended without a visit",
                    ))
                }
            }
        }
        Ok(visits)
    }

    async fn complete(&mut self, mut step: Step) -> Result<Step, DispatchError> {
        while let Step::Visit(slot) = step {
            let booking = self.book_earliest(&slot).await?;
            step = self.desk.booked(booking)?;
        }
        Ok(step)
    }

    /// `dispatch::book_earliest` across the technician actors: all asked at once, answers read
    /// in technician order.
    async fn book_earliest(&self, slot: &Slot) -> Result<Booking, DispatchError> {
        let mut answers = Vec::with_capacity(self.technicians.len());
        for (i, t) in self.technicians.iter().enumerate() {
            let (port, answer) = oneshot();
            t.cast(TechnicianMsg::Earliest(*slot, port.into()))
                .map_err(|e| gone(i, e.to_string()))?;
            answers.push(answer);
        }
        let mut starts = Vec::with_capacity(answers.len());
        for (i, answer) in answers.into_iter().enumerate() {
            starts.push(answer.await.map_err(|e| gone(i, e.to_string()))?);
        }
        let b = super::dispatch::earliest(&starts)?;
        self.technicians[b.technician as usize]
            .cast(TechnicianMsg::Book {
                start: b.start,
                length: slot.length,
            })
            .map_err(|e| gone(b.technician as usize, e.to_string()))?;
        Ok(b)
    }
}

fn gone(index: usize, reason: String) -> DispatchError {
    DispatchError::Technician {
        index: index as u32,
        reason,
    }
}

/// Starts a region's organisation (unsupervised: pass it to a supervisor with `spawn_linked`
/// instead when one exists).
pub async fn spawn_org(args: OrgArgs) -> Result<(ActorRef<OrgMsg>, JoinHandle<()>), SpawnErr> {
    Actor::spawn(None, ServiceOrgActor, args).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ShopId;
    use crate::rng::{stream, Purpose};
    use crate::service::dispatch::{sort_batch, Dispatcher};
    use crate::service::{Cause, ServiceSpec};
    use rand::Rng;

    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200;

    fn args() -> OrgArgs {
        OrgArgs {
            field: ServiceSpec::default().field,
            region: RegionId(1),
            technicians: 3,
            loaners: vec![MachineId(70_000), MachineId(70_001)],
            seed: 11,
        }
    }

    /// 400 failures over two months, shops drawn at random, a third remote-fixable, some
    /// waiting for parts, half of the shops promised a loaner.
    fn batch() -> Vec<(Failure, Promise)> {
        let mut rng = stream(5, Purpose::Failure, 9);
        let mut batch: Vec<(Failure, Promise)> = (0..400)
            .map(|_| {
                let shop = rng.random_range(0..200u32);
                let f = Failure {
                    machine: MachineId(shop),
                    shop: ShopId(shop),
                    time: MONDAY + rng.random_range(0..60 * 86_400),
                    day: 0,
                    cause: Cause::WaterPump,
                    remote_fixable: rng.random_bool(0.3),
                    on_site_minutes: rng.random_range(60..=240),
                    parts_cents: 12_000,
                    parts_order_days: if rng.random_bool(0.15) { 5 } else { 0 },
                    board_swap: false,
                };
                let promise = Promise {
                    response_hours: 24,
                    repair_hours: 48,
                    loaner: shop % 2 == 0,
                };
                (f, promise)
            })
            .collect();
        sort_batch(&mut batch);
        batch
    }

    fn prevents(after: i64) -> Vec<PreventRequest> {
        (0..20)
            .map(|i| PreventRequest {
                machine: MachineId(i),
                shop: ShopId(i),
                time: after + i64::from(i) * 3_600,
                minutes: 90,
                parts_cents: 4_000,
            })
            .collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    }

    #[test]
    fn an_org_answers_what_the_pure_dispatcher_answers() {
        let batch = batch();
        let (first, second) = batch.split_at(150);
        let last_time = batch.last().unwrap().0.time + 1;
        let a = args();
        let mut pure =
            Dispatcher::new(&a.field, a.region, a.technicians, a.loaners.clone(), a.seed).unwrap();
        let expected: Vec<Repair> = batch
            .iter()
            .map(|(f, p)| pure.dispatch(f, *p).unwrap())
            .collect();
        let expected_prevent: Vec<Preventive> = prevents(last_time)
            .iter()
            .map(|r| pure.prevent(r).unwrap())
            .collect();
        assert!(expected.iter().any(|r| r.loaner.is_some()) && expected.iter().any(|r| r.remote));

        let (repairs, prevented) = runtime().block_on(async {
            let (org, handle) = spawn_org(a).await.unwrap();
            let mut repairs = Vec::new();
            for part in [first, second] {
                let reply = org
                    .call(
                        |reply| OrgMsg::Dispatch {
                            failures: part.to_vec(),
                            horizon: i64::MAX,
                            span_end: i64::MIN,
                            reply,
                        },
                        None,
                    )
                    .await;
                repairs.extend(reply.unwrap().unwrap().unwrap());
            }
            let reply = org
                .call(|port| OrgMsg::Prevent(prevents(last_time), port), None)
                .await;
            let prevented = reply.unwrap().unwrap().unwrap();
            org.stop(None);
            handle.await.unwrap();
            (repairs, prevented)
        });
        assert_eq!(repairs, expected);
        assert_eq!(prevented, expected_prevent);
    }

    #[test]
    fn an_org_refuses_a_batch_out_of_order_from_that_request_on() {
        let mut batch = batch();
        batch.swap(10, 11);
        let answer = runtime().block_on(async {
            let (org, handle) = spawn_org(args()).await.unwrap();
            let reply = org
                .call(
                    |reply| OrgMsg::Dispatch {
                        failures: batch,
                        horizon: i64::MAX,
                        span_end: i64::MIN,
                        reply,
                    },
                    None,
                )
                .await;
            org.stop(None);
            handle.await.unwrap();
            reply.unwrap().unwrap()
        });
        assert!(
            matches!(answer, Err(DispatchError::OutOfOrder { .. })),
            "{answer:?}"
        );
    }

    #[test]
    fn an_org_without_technicians_does_not_start() {
        let a = OrgArgs {
            technicians: 0,
            ..args()
        };
        let started = runtime().block_on(spawn_org(a));
        assert!(started.is_err());
    }
}
