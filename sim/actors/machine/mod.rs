//! A machine: turns a day's jobs into timed events with machine-issued ids and keeps its
//! cumulative counters, which it reports at the end of each open day — as a real board does:
//! width-limited, restarted by a board swap, and now and then not read (`faults`).

mod field;
mod visit;

pub use field::{Loan, Restore};
pub use visit::Visit;

use super::faults::{BoardSwaps, Counters, LostReads};
use super::{DayBoard, MachineDay};
use crate::calendar::DayIndex;
use crate::demand::{Job, JobKind};
use crate::event::{EventBody, MachineId, ShopId, UsageEvent};
use crate::rng::{stream, Purpose};
use crate::scenario::FaultSpec;
use crate::service::spec::{DowntimePolicy, ServiceSpec};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Opening hours used to spread jobs over the day (UTC seconds after midnight).
const OPENS: i64 = 9 * 3600;
const CLOSES: i64 = 19 * 3600;
/// A board swap: the technician's visit, before opening.
const SWAP_AT: i64 = 8 * 3600;
/// The counter is read remotely after closing.
pub(super) const READ_AT: i64 = 19 * 3600 + 1800;

// Local only: never crosses nodes (ractor's `cluster` feature needs the impl).
#[derive(ractor_cluster::RactorMessage)]
pub enum MachineMsg {
    /// A span's days, in order.
    Work(Vec<DayWork>),
    /// `[service]`: when the machine that failed works again (it goes on with its span).
    Restore(Restore),
    /// `[service.predictive]`: a preventive visit booked (before the span it falls in).
    Prevent(Visit),
}

/// One day of a span for one machine.
pub struct DayWork {
    pub day: DayIndex,
    /// Unix seconds.
    pub midnight: i64,
    /// The day's jobs (none on a closed day).
    pub jobs: Vec<Job>,
    pub open: bool,
    /// The machine is removed today, after any work: a final read, which is never lost.
    pub removal: bool,
}

impl DayWork {
    /// The same day with other jobs (a machine's share of the shop's).
    pub fn with_jobs(&self, jobs: Vec<Job>) -> DayWork {
        DayWork {
            day: self.day,
            midnight: self.midnight,
            jobs,
            open: self.open,
            removal: self.removal,
        }
    }
}

pub struct MachineArgs {
    pub id: MachineId,
    pub shop: ShopId,
    pub seed: u64,
    pub faults: FaultSpec,
    pub board: Arc<DayBoard>,
    /// `[service]` on: the machine wears and fails (its policy while down, its shop's
    /// expected pairs per open day for the failure warnings' lead).
    pub field: Option<(Arc<ServiceSpec>, DowntimePolicy, f64)>,
}

pub struct MachineState {
    /// Mountings done since the last reading that left the machine: what the counters have
    /// not told yet (the truth behind an estimate).
    since_read: u64,
    id: MachineId,
    shop: ShopId,
    rng: ChaCha8Rng,
    /// Next sequence number: machine-issued, never reused.
    seq: u64,
    counters: Counters,
    swaps: BoardSwaps,
    lost_reads: LostReads,
    board: Arc<DayBoard>,
    offsets: Vec<i64>,
    /// `[service]` on: wear, failures, downtime.
    field: Option<Box<field::FieldState>>,
    /// The span being worked, kept while a failure suspends it.
    span: Vec<DayWork>,
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
            since_read: 0,
            id: a.id,
            shop: a.shop,
            rng: stream(a.seed, Purpose::Machine, a.id.0),
            seq: 0,
            counters: Counters::new(&a.faults, a.seed, a.id),
            swaps: BoardSwaps::new(&a.faults, a.seed, a.id),
            lost_reads: LostReads::new(&a.faults, a.seed, a.id),
            field: a.field.map(|(spec, policy, pairs_per_day)| {
                Box::new(field::FieldState::new(
                    &spec,
                    a.seed,
                    a.id,
                    pairs_per_day,
                    policy,
                ))
            }),
            board: a.board,
            offsets: Vec::new(),
            span: Vec::new(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<MachineMsg>,
        msg: MachineMsg,
        s: &mut MachineState,
    ) -> Result<(), ActorProcessingErr> {
        let board = s.board.clone();
        let machine = s.id.0 as usize;
        match msg {
            MachineMsg::Work(span) if s.field.is_some() => {
                board.deposit(machine, |days| s.field_span(span, days, 0, None));
            }
            MachineMsg::Work(span) => board.deposit(machine, |days| {
                for (w, day) in span.iter().zip(days) {
                    if w.open || w.removal {
                        s.work(w, day);
                    }
                }
            }),
            MachineMsg::Restore(r) => board.extend(machine, |days| s.field_restore(r, days)),
            MachineMsg::Prevent(v) => s.expect_visit(v),
        }
        Ok(())
    }
}

impl MachineState {
    /// One day the machine is woken: its jobs if the shop opens, its removal if due.
    fn work(&mut self, w: &DayWork, day: &mut MachineDay) {
        if self.seq == 0 {
            self.commissioning_reading(w.midnight, day);
        }
        if w.open {
            self.work_day(w.day, w.midnight, &w.jobs, day);
        }
        self.day_end(w, day);
    }

    /// The day's reading after its work: the removal's final read, or the end-of-day read
    /// (unless lost).
    fn day_end(&mut self, w: &DayWork, day: &mut MachineDay) {
        if w.removal {
            self.removal_reading(w.midnight, day);
        } else if w.open {
            self.end_of_day_reading(w.midnight, day);
        }
        day.unread_mountings = self.since_read;
    }

    /// Runs the day's jobs into `day` (an empty slot); a removal day's read is `removal_reading`.
    fn work_day(&mut self, index: DayIndex, midnight: i64, jobs: &[Job], day: &mut MachineDay) {
        day.open = true;
        // The technician comes in the morning, reads the old board's counters (a final read,
        // as at any meter exchange: the use since the last read is not lost even if that read
        // was), fits the new board, which counts from 0, and reads it.
        if self.swaps.due(index) {
            let final_read = self.reading();
            day.events.push(self.event(midnight + SWAP_AT, final_read));
            self.counters.reset();
            // The new board's first read, all zeros: tells VEE the drop is a reset.
            let first_read = self.reading();
            day.events
                .push(self.event(midnight + SWAP_AT + 60, first_read));
            day.tally.counter_reads += 2;
            day.faults.board_swaps = 1;
        }
        self.draw_offsets(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let body = self.run_job(job, day);
            day.events
                .push(self.event(midnight + self.offsets[i], body));
        }
    }

    fn end_of_day_reading(&mut self, midnight: i64, day: &mut MachineDay) {
        // A lost read is never emitted: the machine's sequence numbers stay gapless, and the
        // head-end simply has no reading for the day.
        if self.lost_reads.next_is_lost() {
            day.faults.lost_reads = 1;
            return;
        }
        let reading = self.reading();
        day.events.push(self.event(midnight + READ_AT, reading));
        day.tally.counter_reads += 1;
    }

    /// The counters as installed (never lost: the installer checks it), read before the first
    /// job: the baseline that lets the first day's use be billed from the counters.
    fn commissioning_reading(&mut self, midnight: i64, day: &mut MachineDay) {
        let reading = self.reading();
        day.events.push(self.event(midnight, reading));
        day.tally.counter_reads += 1;
    }

    /// The technician reads the counters as the machine is taken out (never lost): the last
    /// reading, after which the engine must estimate nothing more for this machine.
    fn removal_reading(&mut self, midnight: i64, day: &mut MachineDay) {
        let mut reading = self.reading();
        if let EventBody::Counter { removal, .. } = &mut reading {
            *removal = true;
        }
        day.events.push(self.event(midnight + READ_AT, reading));
        day.tally.counter_reads += 1;
        day.removed = true;
    }

    /// The counters as a reading that is sent: from now on, the counters have told everything.
    fn reading(&mut self) -> EventBody {
        self.since_read = 0;
        // An end-of-day (or commissioning, or board swap) read; see `removal_reading`. In the
        // field, with the wheels' wear and any failure the diagnostics foresee.
        let health = self.field.as_deref().map(field::FieldState::health);
        self.counters.reading(false, health)
    }

    /// Sorted start times through opening hours, one per job.
    fn draw_offsets(&mut self, n: usize) {
        self.offsets.clear();
        self.offsets
            .extend((0..n).map(|_| self.rng.random_range(OPENS..CLOSES)));
        self.offsets.sort_unstable();
    }

    /// Counts the job on the machine's counters, on the board and in the truth; the counters'
    /// wraps go to the day's faults.
    fn run_job(&mut self, job: &Job, day: &mut MachineDay) -> EventBody {
        day.faults.rollovers += match job.kind {
            JobKind::Mounting { .. } => {
                self.since_read += 1;
                self.counters.count_mounting()
            }
            JobKind::TraceOnly => self.counters.count_trace_only(),
        };
        tally_job(job, day)
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

/// Counts a job in the day's truth (whichever machine edged it) and gives its event's body.
fn tally_job(job: &Job, day: &mut MachineDay) -> EventBody {
    let tally = &mut day.tally;
    match job.kind {
        JobKind::Mounting { material, remake } => {
            tally.mountings += 1;
            tally.remakes += u64::from(remake);
            tally.jobs += u64::from(!remake);
            day.mix.count(job.frame, material);
            EventBody::Mounting {
                frame: job.frame,
                material,
                remake,
            }
        }
        JobKind::TraceOnly => {
            tally.trace_only += 1;
            tally.jobs += 1;
            EventBody::TraceOnly { frame: job.frame }
        }
    }
}
