//! Field faults: what real machines and their connections do to the data a metering engine
//! receives, while the truth (what each machine did, by the day it did it) stays exact.
//!
//! Machine side: the counters a machine reports are `counter_digits` wide and wrap to 0
//! (`Counters`); a control-board swap restarts them at 0 (`BoardSwaps`); a lost read is a
//! day's reading the head-end never gets (`LostReads`). Transport side (`Links`): an offline
//! machine works on and buffers its events, then delivers them in order, with their original
//! ids and times, on its first open day back online — or on the run's last day, so that every
//! emitted event is delivered exactly once.
//!
//! Each fault draws from its own stream per machine (`rng::Purpose`), and only when the fault
//! happens, never per event: switching a fault on or off shifts neither demand, nor job times,
//! nor another fault.

use crate::calendar::DayIndex;
use crate::event::{EventBody, MachineId, UsageEvent};
use crate::rng::{stream, Purpose};
use crate::scenario::{FaultSpec, InitialCounters, OutageSpec};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Geometric, LogNormal};
use serde::Serialize;

/// Rates are per machine-year; the calendar's days are converted with this.
const DAYS_PER_YEAR: f64 = 365.25;

/// The faults a run injected, for reports and for checking the engine's VEE against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultTally {
    /// Wraps from 10^digits − 1 to 0 in the counters the machines kept (and reported, unless
    /// the day's read was lost); each channel's wrap counts once.
    pub rollovers: u64,
    /// Control boards replaced: the machine's counters restarted at 0.
    pub board_swaps: u64,
    /// Daily counter readings never delivered (no event, no sequence number).
    pub lost_reads: u64,
    /// Connectivity outages that began during the run.
    pub outages: u64,
    /// Events delivered on a later day than the day they happened (they keep their time).
    pub events_delivered_late: u64,
    /// The longest wait, in days, between an event's day and its delivery.
    pub max_delay_days: u32,
}

impl FaultTally {
    pub fn add(&mut self, other: &FaultTally) {
        self.rollovers += other.rollovers;
        self.board_swaps += other.board_swaps;
        self.lost_reads += other.lost_reads;
        self.outages += other.outages;
        self.events_delivered_late += other.events_delivered_late;
        self.max_delay_days = self.max_delay_days.max(other.max_delay_days);
    }
}

/// A machine's cumulative counters as its board keeps them: each channel runs
/// 0..10^digits − 1 and wraps, and `total_cycles` = `mountings` + `trace_only` modulo the
/// width, always (so a VEE may check the channels against each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub total_cycles: u64,
    pub mountings: u64,
    pub trace_only: u64,
    modulus: u64,
}

impl Counters {
    /// What `machine` shows before its first job: the installation reading a VEE needs as
    /// its baseline to bill the machine's first day.
    pub fn new(spec: &FaultSpec, seed: u64, machine: MachineId) -> Counters {
        let modulus = spec.counter_modulus();
        let (mountings, trace_only) = match spec.initial_counters {
            InitialCounters::Zero => (0, 0),
            InitialCounters::Random => {
                let mut rng = stream(seed, Purpose::CounterStart, machine.0);
                (rng.random_range(0..modulus), rng.random_range(0..modulus))
            }
        };
        Counters {
            // Both below 10^18: the sum cannot overflow.
            total_cycles: (mountings + trace_only) % modulus,
            mountings,
            trace_only,
            modulus,
        }
    }

    /// Counts a mounting cycle; returns the number of channels that wrapped.
    pub(super) fn count_mounting(&mut self) -> u64 {
        advance(&mut self.total_cycles, self.modulus) + advance(&mut self.mountings, self.modulus)
    }

    /// Counts a trace-only cycle; returns the number of channels that wrapped.
    pub(super) fn count_trace_only(&mut self) -> u64 {
        advance(&mut self.total_cycles, self.modulus) + advance(&mut self.trace_only, self.modulus)
    }

    /// The counters as a reading's body.
    pub(super) fn reading(&self, removal: bool, health: Option<crate::event::Health>) -> EventBody {
        EventBody::Counter {
            total_cycles: self.total_cycles,
            mountings: self.mountings,
            trace_only: self.trace_only,
            removal,
            health,
        }
    }

    /// A new control board: every channel starts again from 0.
    pub(super) fn reset(&mut self) {
        self.total_cycles = 0;
        self.mountings = 0;
        self.trace_only = 0;
    }
}

/// One step of a wrapping counter; 1 if it wrapped.
fn advance(value: &mut u64, modulus: u64) -> u64 {
    *value += 1;
    if *value == modulus {
        *value = 0;
        return 1;
    }
    0
}

/// When a machine's control board is next replaced. Failures arrive as a Poisson process in
/// calendar time; the technician swaps the board on the shop's first open day from the
/// failure's day on, before the day's work, so that day's reading counts from 0 and the
/// previous reading holds everything the old board counted. Failures falling in one closed
/// spell make one visit.
pub(super) struct BoardSwaps {
    rng: ChaCha8Rng,
    gap_days: Option<Exp<f64>>,
    /// Day (fractional) of the next failure.
    next: f64,
}

impl BoardSwaps {
    pub fn new(spec: &FaultSpec, seed: u64, machine: MachineId) -> BoardSwaps {
        let mut swaps = BoardSwaps {
            rng: stream(seed, Purpose::BoardSwap, machine.0),
            gap_days: exponential_gap(spec.board_swaps_per_machine_year),
            next: 0.0,
        };
        swaps.next = swaps.draw_gap();
        swaps
    }

    /// Whether the board is swapped on open day `day` (before its work).
    pub fn due(&mut self, day: DayIndex) -> bool {
        let day = f64::from(day);
        if day < self.next.floor() {
            return false;
        }
        self.next = day + self.draw_gap();
        true
    }

    fn draw_gap(&mut self) -> f64 {
        self.gap_days
            .map_or(f64::INFINITY, |gap| gap.sample(&mut self.rng))
    }
}

/// Days between events of a Poisson process with `per_year` events per machine-year; `None`
/// when it never happens.
fn exponential_gap(per_year: f64) -> Option<Exp<f64>> {
    (per_year > 0.0)
        .then(|| Exp::new(per_year / DAYS_PER_YEAR).ok())
        .flatten()
}

/// Which daily readings never reach the head-end: each is lost with `lost_read_share`,
/// independently. The number of reads before the next loss is drawn (geometric), so an
/// ordinary day costs a countdown, not a draw.
pub(super) struct LostReads {
    rng: ChaCha8Rng,
    delivered_between: Option<Geometric>,
    until_next_loss: u64,
}

impl LostReads {
    pub fn new(spec: &FaultSpec, seed: u64, machine: MachineId) -> LostReads {
        let share = spec.lost_read_share;
        let mut reads = LostReads {
            rng: stream(seed, Purpose::LostRead, machine.0),
            delivered_between: (share > 0.0).then(|| Geometric::new(share).ok()).flatten(),
            until_next_loss: 0,
        };
        reads.until_next_loss = reads.draw_gap();
        reads
    }

    /// Whether today's reading is lost.
    pub fn next_is_lost(&mut self) -> bool {
        if self.until_next_loss > 0 {
            self.until_next_loss -= 1;
            return false;
        }
        self.until_next_loss = self.draw_gap();
        true
    }

    fn draw_gap(&mut self) -> u64 {
        self.delivered_between
            .map_or(u64::MAX, |g| g.sample(&mut self.rng))
    }
}

/// Whole days a machine is offline: `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Outage {
    pub start: DayIndex,
    pub end: DayIndex,
}

impl Outage {
    const NEVER: Outage = Outage {
        start: DayIndex::MAX,
        end: DayIndex::MAX,
    };
}

/// A machine's outages that begin before day `days`, in order: a Poisson process in calendar
/// time (the next outage can begin once the previous one is over), each lasting a lognormal
/// number of days, rounded up to whole days, capped at `max_days`.
pub(super) fn outages(
    spec: &OutageSpec,
    seed: u64,
    machine: MachineId,
    days: DayIndex,
) -> Vec<Outage> {
    let Some(gap) = exponential_gap(spec.per_machine_year) else {
        return Vec::new();
    };
    let duration = LogNormal::new(spec.median_days.ln(), spec.sigma).ok();
    let mut rng = stream(seed, Purpose::Outage, machine.0);
    let mut found = Vec::new();
    let mut from = 0.0;
    loop {
        let start = from + gap.sample(&mut rng);
        if start >= f64::from(days) {
            return found;
        }
        let length = duration.map_or(spec.median_days, |d| d.sample(&mut rng));
        let length = (length.ceil() as u32).clamp(1, spec.max_days);
        let start = start as DayIndex;
        found.push(Outage {
            start,
            end: start.saturating_add(length),
        });
        from = f64::from(start + length);
    }
}

/// The transport between the machines and the engine: per machine, its outages and what it
/// buffered while offline. Empty when the scenario has no outages (events pass straight on).
pub(super) struct Links {
    machines: Vec<Link>,
    /// Outages, late deliveries and the longest delay so far.
    tally: FaultTally,
}

struct Link {
    current: Outage,
    /// The outages after `current`, last first.
    later: Vec<Outage>,
    buffer: Vec<UsageEvent>,
    /// The day of the oldest buffered event.
    buffered_since: DayIndex,
}

impl Link {
    fn offline(&mut self, day: DayIndex) -> bool {
        while day >= self.current.end {
            self.current = self.later.pop().unwrap_or(Outage::NEVER);
        }
        day >= self.current.start
    }
}

impl Links {
    /// The links of `machines` machines over a run of `days` (their outages drawn now).
    pub fn new(spec: &FaultSpec, seed: u64, machines: usize, days: DayIndex) -> Links {
        let mut tally = FaultTally::default();
        if spec.outages.per_machine_year <= 0.0 {
            return Links {
                machines: Vec::new(),
                tally,
            };
        }
        let machines = (0..machines as u32)
            .map(|m| {
                let mut later = outages(&spec.outages, seed, MachineId(m), days);
                tally.outages += later.len() as u64;
                later.reverse();
                Link {
                    current: later.pop().unwrap_or(Outage::NEVER),
                    later,
                    buffer: Vec::new(),
                    buffered_since: 0,
                }
            })
            .collect();
        Links { machines, tally }
    }

    /// The transport's faults: outages, events delivered late, the longest delay.
    pub fn tally(&self) -> &FaultTally {
        &self.tally
    }

    /// Hands on what `machine` emitted on `day` (`open`: it worked that day): appended to
    /// `out` when the machine is online, after anything it buffered; buffered while it is
    /// offline. On the `last` day everything still buffered is delivered.
    pub fn route(
        &mut self,
        machine: usize,
        day: DayIndex,
        open: bool,
        last: bool,
        emitted: &[UsageEvent],
        out: &mut Vec<UsageEvent>,
    ) {
        let Some(link) = self.machines.get_mut(machine) else {
            out.extend_from_slice(emitted);
            return;
        };
        if link.offline(day) && !last {
            if link.buffer.is_empty() {
                link.buffered_since = day;
            }
            link.buffer.extend_from_slice(emitted);
            return;
        }
        // Back online: the machine sends its backlog when it next runs (or at the run's end).
        if !link.buffer.is_empty() && (open || last) {
            let tally = &mut self.tally;
            tally.events_delivered_late += link.buffer.len() as u64;
            tally.max_delay_days = tally.max_delay_days.max(day - link.buffered_since);
            // Taken, not drained: a backlog's allocation is freed rather than kept for the
            // machine's next outage (months away), which held ≈ 30 MB over France's 4 years.
            out.extend_from_slice(&std::mem::take(&mut link.buffer));
        }
        out.extend_from_slice(emitted);
    }

    /// The run's last day woke no machine: every backlog is delivered anyway.
    pub fn flush_all(&mut self, day: DayIndex, out: &mut Vec<UsageEvent>) {
        for m in 0..self.machines.len() {
            self.route(m, day, false, true, &[], out);
        }
    }
}

/// The transport's re-sends (a retry after a lost acknowledgement): each machine's drawn from
/// its own stream, so which of its events are re-sent depends on the machine alone, not on
/// which other machines the same process simulates (a region on a cluster node, issue 14).
pub(super) struct Resends {
    seed: u64,
    share: f64,
    /// By machine id (loaners' ids follow the fleet's), made on a machine's first event.
    streams: Vec<Option<ChaCha8Rng>>,
}

impl Resends {
    pub fn new(seed: u64, share: f64) -> Resends {
        Resends {
            seed,
            share,
            streams: Vec::new(),
        }
    }

    /// Appends the re-sent copies of `events` (same ids, in the originals' order); returns
    /// how many.
    pub fn inject(&mut self, events: &mut Vec<UsageEvent>) -> u64 {
        if self.share <= 0.0 {
            return 0;
        }
        let originals = events.len();
        for i in 0..originals {
            if self.resend(events[i].machine) {
                events.push(events[i]);
            }
        }
        (events.len() - originals) as u64
    }

    fn resend(&mut self, machine: MachineId) -> bool {
        let i = machine.0 as usize;
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, || None);
        }
        let seed = self.seed;
        self.streams[i]
            .get_or_insert_with(|| stream(seed, Purpose::Transport, machine.0))
            .random_bool(self.share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine's re-sends are the same whether or not other machines' events pass first.
    #[test]
    fn a_machines_resends_do_not_depend_on_the_other_machines() {
        let events = |machine: u32| -> Vec<UsageEvent> {
            (1..=400)
                .map(|seq| UsageEvent {
                    machine: MachineId(machine),
                    seq,
                    time: 1_704_186_000,
                    shop: crate::event::ShopId(machine),
                    body: EventBody::TraceOnly {
                        frame: crate::event::Frame::FullRim,
                    },
                })
                .collect()
        };
        let resent_of_7 = |batch: Vec<UsageEvent>| -> Vec<u64> {
            let mut batch = batch;
            let originals = batch.len();
            Resends::new(42, 0.1).inject(&mut batch);
            batch[originals..]
                .iter()
                .filter(|e| e.machine == MachineId(7))
                .map(|e| e.seq)
                .collect()
        };
        let alone = resent_of_7(events(7));
        let mut shared = events(3);
        shared.extend(events(7));
        assert!(
            !alone.is_empty(),
            "a 10 % share of 400 events re-sends some"
        );
        assert_eq!(resent_of_7(shared), alone);
    }
    use crate::scenario::{InitialCounters, OutageSpec};

    fn spec(digits: u32, initial: InitialCounters) -> FaultSpec {
        FaultSpec {
            duplicate_share: 0.0,
            counter_digits: digits,
            initial_counters: initial,
            board_swaps_per_machine_year: 0.0,
            lost_read_share: 0.0,
            outages: OutageSpec {
                per_machine_year: 0.0,
                median_days: 5.0,
                sigma: 1.0,
                max_days: 42,
            },
        }
    }

    #[test]
    fn counters_wrap_at_their_width_and_keep_total_as_the_sum() {
        let mut c = Counters::new(&spec(3, InitialCounters::Zero), 1, MachineId(0));
        let mut wraps = 0;
        for i in 0..2_500 {
            wraps += if i % 3 == 0 {
                c.count_trace_only()
            } else {
                c.count_mounting()
            };
        }
        // 2,500 cycles: total wraps twice (at 1,000 and 2,000), mountings (1,666) once.
        assert_eq!((c.total_cycles, c.mountings, c.trace_only), (500, 666, 834));
        assert_eq!(wraps, 3);
    }

    #[test]
    fn random_initial_counters_are_consistent_and_spread() {
        let s = spec(4, InitialCounters::Random);
        let starts: Vec<Counters> = (0..1_000)
            .map(|m| Counters::new(&s, 9, MachineId(m)))
            .collect();
        for c in &starts {
            assert!(c.mountings < 10_000 && c.trace_only < 10_000);
            assert_eq!(c.total_cycles, (c.mountings + c.trace_only) % 10_000);
        }
        let mean = starts.iter().map(|c| c.mountings as f64).sum::<f64>() / 1_000.0;
        // Uniform on [0, 10^4): mean 5,000, s.e. of 1,000 draws ≈ 91.
        assert!((mean - 5_000.0).abs() < 400.0, "mean start {mean}");
    }

    #[test]
    fn no_fault_never_fires() {
        let s = spec(8, InitialCounters::Zero);
        let mut swaps = BoardSwaps::new(&s, 3, MachineId(5));
        let mut reads = LostReads::new(&s, 3, MachineId(5));
        assert!((0..10_000).all(|d| !swaps.due(d) && !reads.next_is_lost()));
        assert!(outages(&s.outages, 3, MachineId(5), 10_000).is_empty());
    }

    #[test]
    fn every_read_is_lost_at_share_one() {
        let mut s = spec(8, InitialCounters::Zero);
        s.lost_read_share = 1.0;
        let mut reads = LostReads::new(&s, 3, MachineId(5));
        assert!((0..100).all(|_| reads.next_is_lost()));
    }

    #[test]
    fn a_swap_due_on_a_closed_day_happens_on_the_next_open_day() {
        let mut s = spec(8, InitialCounters::Zero);
        s.board_swaps_per_machine_year = 12.0;
        let mut swaps = BoardSwaps::new(&s, 3, MachineId(0));
        let first = swaps.next.floor() as DayIndex;
        // Open only from well after the failure: the swap happens on the first open day.
        assert!(swaps.due(first + 3));
        assert!(swaps.next >= f64::from(first + 3));
    }

    #[test]
    fn outages_are_ordered_disjoint_whole_days_within_the_cap() {
        let spec = OutageSpec {
            per_machine_year: 6.0,
            median_days: 5.0,
            sigma: 1.5,
            max_days: 10,
        };
        let found = outages(&spec, 11, MachineId(2), 3_650);
        assert!(
            found.len() > 20,
            "{} outages in 10 years at 6/yr",
            found.len()
        );
        for pair in found.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{pair:?} overlap");
        }
        for o in &found {
            assert!(
                o.start < 3_650 && (1..=10).contains(&(o.end - o.start)),
                "{o:?}"
            );
        }
        assert!(
            found.iter().any(|o| o.end - o.start == 10),
            "sigma 1.5 reaches the cap"
        );
    }
}
