//! The actors: a coordinator owns the virtual clock; each shop is an actor and each of its
//! machines a child actor.
//!
//! Per span of simulated days (up to a week): coordinator → shop `Span` (one message), shop →
//! machine `Work` with every day's jobs of the span (one message), machine → its `DayBoard`
//! slots, one per day (writes, no message) and a countdown; the last machine wakes the
//! coordinator. The coordinator then reads the slots day by day in machine order, so output
//! order never depends on scheduling, on actor ids or on the span's length.

mod coordinator;
mod desk;
mod faults;
mod field;
mod loaner;
mod machine;
mod shop;

pub use coordinator::{simulate, IngestBatch, SimOutcome};
pub use desk::HealthQuery;
pub use faults::{Counters, FaultTally};

use crate::event::UsageEvent;
use crate::truth::{FieldTally, Mix, Tally};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;

/// One machine's output for one day.
#[derive(Debug, Default)]
pub struct MachineDay {
    /// Whether the shop opened (closed days produce no events).
    pub open: bool,
    pub events: Vec<UsageEvent>,
    /// The machine's own count of what it did: the ground truth.
    pub tally: Tally,
    /// The mountings of the day by frame and material (part of the truth).
    pub mix: Mix,
    /// The machine-side faults of the day (rollovers, board swap, lost read).
    pub faults: FaultTally,
    /// Mountings done since the machine's last reading that was sent (after today's work).
    pub unread_mountings: u64,
    /// The machine was removed today (its final read is among the events).
    pub removed: bool,
    /// `[service]`: wear, failures and downtime of the day.
    pub field: FieldTally,
    /// `[service]`: the jobs a loaner edged for this machine today (counted in `tally`, their
    /// events made by the coordinator, which holds the loaners: `loaner`).
    pub loaner_jobs: Vec<LoanerJob>,
}

/// A job a loaner edged in place of the shop's machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoanerJob {
    pub loaner: crate::event::MachineId,
    /// Unix seconds.
    pub time: i64,
    pub body: crate::event::EventBody,
}

/// The span barrier: per machine, one slot per day of the span, and a countdown.
pub struct DayBoard {
    slots: Vec<Mutex<Vec<MachineDay>>>,
    /// Days in the current span (the slots' length).
    span: AtomicUsize,
    remaining: AtomicUsize,
    done: Notify,
    /// `[service]`: failures reported during the current round, in no particular order (the
    /// coordinator sorts them).
    failures: Mutex<Vec<crate::service::Failure>>,
}

impl DayBoard {
    pub fn new(machines: usize) -> DayBoard {
        DayBoard {
            slots: (0..machines).map(|_| Mutex::new(Vec::new())).collect(),
            span: AtomicUsize::new(0),
            remaining: AtomicUsize::new(0),
            done: Notify::new(),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Arms the barrier for a span of `days` days; every machine must deposit exactly once.
    fn arm(&self, days: usize) {
        self.span.store(days, Ordering::Release);
        let previous = self.remaining.swap(self.slots.len(), Ordering::AcqRel);
        assert_eq!(
            previous, 0,
            "a span started before the previous one finished"
        );
    }

    /// Arms the barrier for a further round of the span in which `machines` machines go on
    /// with their work (`extend`).
    fn arm_round(&self, machines: usize) {
        let previous = self.remaining.swap(machines, Ordering::AcqRel);
        assert_eq!(
            previous, 0,
            "a round started before the previous one finished"
        );
    }

    /// Lets `machine` go on filling its slots of the span (a further round), then counts it in.
    fn extend(&self, machine: usize, fill: impl FnOnce(&mut [MachineDay])) {
        {
            let mut slots = self.slots[machine]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let days = self.span.load(Ordering::Acquire);
            fill(&mut slots[..days]);
        }
        self.count_in();
    }

    /// A machine failed: the coordinator gets it after the round.
    fn report_failure(&self, failure: crate::service::Failure) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(failure);
    }

    /// The round's failures (taken).
    fn take_failures(&self) -> Vec<crate::service::Failure> {
        std::mem::take(&mut *self.failures.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn count_in(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    /// Lets `machine` fill its slots for the span, one per day (the slots' buffers are reused
    /// span after span), then counts it in.
    fn deposit(&self, machine: usize, fill: impl FnOnce(&mut [MachineDay])) {
        {
            let mut slots = self.slots[machine]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let days = self.span.load(Ordering::Acquire);
            if slots.len() < days {
                slots.resize_with(days, MachineDay::default);
            }
            for slot in &mut slots[..days] {
                slot.open = false;
                slot.events.clear();
                slot.tally = Tally::default();
                slot.mix = Mix::default();
                slot.faults = FaultTally::default();
                slot.removed = false;
                slot.field = FieldTally::default();
                slot.loaner_jobs.clear();
            }
            fill(&mut slots[..days]);
        }
        self.count_in();
    }

    /// A span with nothing to do: nothing to fill.
    fn deposit_closed(&self, machine: usize) {
        self.deposit(machine, |_| {});
    }

    async fn wait(&self) {
        self.done.notified().await;
    }

    /// Reads a machine's slot for day `k` of the span (after the barrier).
    fn read<T>(&self, machine: usize, k: usize, f: impl FnOnce(&MachineDay) -> T) -> T {
        f(&self.slots[machine]
            .lock()
            .unwrap_or_else(|p| p.into_inner())[k])
    }

    fn machines(&self) -> usize {
        self.slots.len()
    }
}
