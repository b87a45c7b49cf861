//! A shop: decides each day of a span whether it opens and what jobs come in, and hands each
//! of its machines (child actors) the span's work in one message. Outside its contract's days
//! (`InService`) it stays closed; on the day its machines are removed it wakes them for their
//! final read even if closed.

use super::machine::{DayWork, MachineActor, MachineArgs, MachineMsg, Restore, Visit};
use super::DayBoard;
use crate::calendar::DayInfo;
use crate::demand::{DemandModel, Job};
use crate::event::MachineId;
use crate::fleet::ShopProfile;
use crate::rng::{stream, Purpose};
use crate::scenario::FaultSpec;
use crate::service::ServiceSpec;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

// Local only: never crosses nodes (ractor's `cluster` feature needs the impl).
#[derive(ractor_cluster::RactorMessage)]
pub enum ShopMsg {
    /// The days of a span, in order (days on which the scenario closes every shop left out).
    Span(Arc<[DayInfo]>),
    /// `[service]`: when one of the shop's machines works again (forwarded to it).
    Restore(MachineId, Restore),
    /// `[service.predictive]`: a preventive visit to one of the shop's machines (forwarded).
    Prevent(MachineId, Visit),
}

pub struct ShopArgs {
    pub profile: ShopProfile,
    pub seed: u64,
    pub faults: FaultSpec,
    pub demand: Arc<DemandModel>,
    pub board: Arc<DayBoard>,
    /// `[service]` on: the field's parameters.
    pub service: Option<Arc<ServiceSpec>>,
}

pub struct ShopState {
    profile: ShopProfile,
    board: Arc<DayBoard>,
    rng: ChaCha8Rng,
    demand: Arc<DemandModel>,
    machines: Vec<ActorRef<MachineMsg>>,
}

pub struct ShopActor;

impl Actor for ShopActor {
    type Msg = ShopMsg;
    type State = ShopState;
    type Arguments = ShopArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ShopMsg>,
        a: ShopArgs,
    ) -> Result<ShopState, ActorProcessingErr> {
        let mut machines = Vec::with_capacity(a.profile.machines.len());
        let field = a.service.as_ref().map(|spec| {
            let p = &a.profile;
            let policy = spec.downtime[p.segment as usize];
            // What one machine edges on an average open day: the warnings' lead in pairs.
            let pairs = p.mean_pairs_per_day * p.in_store_share * (1.0 + p.remake_share)
                / p.machines.len() as f64;
            (spec.clone(), policy, pairs)
        });
        for &id in &a.profile.machines {
            let args = MachineArgs {
                id,
                shop: a.profile.id,
                seed: a.seed,
                faults: a.faults,
                board: a.board.clone(),
                field: field.clone(),
            };
            let (machine, _) =
                Actor::spawn_linked(None, MachineActor, args, myself.get_cell()).await?;
            machines.push(machine);
        }
        Ok(ShopState {
            rng: stream(a.seed, Purpose::ShopDemand, a.profile.id.0),
            profile: a.profile,
            board: a.board,
            demand: a.demand,
            machines,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<ShopMsg>,
        msg: ShopMsg,
        s: &mut ShopState,
    ) -> Result<(), ActorProcessingErr> {
        let days = match msg {
            ShopMsg::Span(days) => days,
            ShopMsg::Restore(machine, restore) => {
                let i = s.profile.machines.iter().position(|&m| m == machine);
                let i = i.ok_or("a restore for a machine of another shop")?;
                s.machines[i].cast(MachineMsg::Restore(restore))?;
                return Ok(());
            }
            ShopMsg::Prevent(machine, visit) => {
                let i = s.profile.machines.iter().position(|&m| m == machine);
                let i = i.ok_or("a preventive visit for a machine of another shop")?;
                s.machines[i].cast(MachineMsg::Prevent(visit))?;
                return Ok(());
            }
        };
        let service = s.profile.in_service;
        let span: Vec<DayWork> = days
            .iter()
            .map(|day| {
                let open = service.covers(day.index) && s.demand.is_open(&s.profile, day);
                let mut jobs = Vec::new();
                if open {
                    s.demand.draw_day(&s.profile, day, &mut s.rng, &mut jobs);
                }
                DayWork {
                    day: day.index,
                    midnight: day.midnight,
                    jobs,
                    open,
                    removal: service.removal_day() == Some(day.index),
                }
            })
            .collect();
        if span.iter().all(|w| !w.open && !w.removal) {
            // Nothing for the machines to do: report their (empty) span without waking them.
            for id in &s.profile.machines {
                s.board.deposit_closed(id.0 as usize);
            }
            return Ok(());
        }
        if let [machine] = s.machines.as_slice() {
            machine.cast(MachineMsg::Work(span))?;
            return Ok(());
        }
        let n = s.machines.len();
        for (i, m) in s.machines.iter().enumerate() {
            let share = span
                .iter()
                .map(|w| w.with_jobs(share_of(&w.jobs, i, n)))
                .collect();
            m.cast(MachineMsg::Work(share))?;
        }
        Ok(())
    }
}

/// Machine `i` of `n` takes every n-th job, so work splits evenly and deterministically.
fn share_of(jobs: &[Job], i: usize, n: usize) -> Vec<Job> {
    jobs.iter().skip(i).step_by(n).copied().collect()
}
