//! A machine: turns a day's jobs into timed events with machine-issued ids and keeps its
//! cumulative counters, which it reports at the end of each open day.

use super::{DayBoard, MachineDay};
use crate::demand::{Job, JobKind};
use crate::event::{EventBody, MachineId, ShopId, UsageEvent};
use crate::rng::{stream, Purpose};
use crate::truth::Tally;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Opening hours used to spread jobs over the day (UTC seconds after midnight).
const OPENS: i64 = 9 * 3600;
const CLOSES: i64 = 19 * 3600;
/// The counter is read remotely after closing.
const READ_AT: i64 = 19 * 3600 + 1800;

pub enum MachineMsg {
    /// The day's jobs (possibly none) for an open day starting at `midnight` (unix seconds).
    /// Closed days send no message: the shop reports them for its machines.
    Work { midnight: i64, jobs: Vec<Job> },
}

pub struct MachineArgs {
    pub id: MachineId,
    pub shop: ShopId,
    pub seed: u64,
    pub board: Arc<DayBoard>,
}

pub struct MachineState {
    id: MachineId,
    shop: ShopId,
    rng: ChaCha8Rng,
    /// Next sequence number: machine-issued, never reused.
    seq: u64,
    counters: Counters,
    board: Arc<DayBoard>,
    offsets: Vec<i64>,
}

#[derive(Default)]
struct Counters {
    total_cycles: u64,
    mountings: u64,
    trace_only: u64,
}

pub struct MachineActor;

impl Actor for MachineActor {
    type Msg = MachineMsg;
    type State = MachineState;
    type Arguments = MachineArgs;

    async fn pre_start(
        &self,
        _: ActorRef<MachineMsg>,
        a: MachineArgs,
    ) -> Result<MachineState, ActorProcessingErr> {
        Ok(MachineState {
            id: a.id,
            shop: a.shop,
            rng: stream(a.seed, Purpose::Machine, a.id.0),
            seq: 0,
            counters: Counters::default(),
            board: a.board,
            offsets: Vec::new(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<MachineMsg>,
        msg: MachineMsg,
        s: &mut MachineState,
    ) -> Result<(), ActorProcessingErr> {
        let MachineMsg::Work { midnight, jobs } = msg;
        let board = s.board.clone();
        board.deposit(s.id.0 as usize, |day| s.work(midnight, &jobs, day));
        Ok(())
    }
}

impl MachineState {
    /// Runs the day's jobs into `day` (an empty slot).
    fn work(&mut self, midnight: i64, jobs: &[Job], day: &mut MachineDay) {
        day.open = true;
        day.tally.counter_reads = 1;
        if self.seq == 0 {
            self.commissioning_reading(midnight, day);
        }
        self.draw_offsets(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let body = self.run_job(job, &mut day.tally);
            day.events
                .push(self.event(midnight + self.offsets[i], body));
        }
        let reading = self.reading();
        day.events.push(self.event(midnight + READ_AT, reading));
    }

    /// The counters as installed, read before the first job: the baseline that lets the first
    /// day's use be billed from the counters.
    fn commissioning_reading(&mut self, midnight: i64, day: &mut MachineDay) {
        let reading = self.reading();
        day.events.push(self.event(midnight, reading));
        day.tally.counter_reads += 1;
    }

    fn reading(&self) -> EventBody {
        let c = &self.counters;
        EventBody::Counter {
            total_cycles: c.total_cycles,
            mountings: c.mountings,
            trace_only: c.trace_only,
        }
    }

    /// Sorted start times through opening hours, one per job.
    fn draw_offsets(&mut self, n: usize) {
        self.offsets.clear();
        self.offsets
            .extend((0..n).map(|_| self.rng.random_range(OPENS..CLOSES)));
        self.offsets.sort_unstable();
    }

    fn run_job(&mut self, job: &Job, tally: &mut Tally) -> EventBody {
        self.counters.total_cycles += 1;
        match job.kind {
            JobKind::Mounting { material, remake } => {
                self.counters.mountings += 1;
                tally.mountings += 1;
                tally.remakes += u64::from(remake);
                tally.jobs += u64::from(!remake);
                EventBody::Mounting {
                    frame: job.frame,
                    material,
                    remake,
                }
            }
            JobKind::TraceOnly => {
                self.counters.trace_only += 1;
                tally.trace_only += 1;
                tally.jobs += 1;
                EventBody::TraceOnly { frame: job.frame }
            }
        }
    }

    fn event(&mut self, time: i64, body: EventBody) -> UsageEvent {
        self.seq += 1;
        UsageEvent {
            machine: self.id,
            seq: self.seq,
            time,
            shop: self.shop,
            body,
        }
    }
}
