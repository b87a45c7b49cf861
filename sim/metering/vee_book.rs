//! The store's VEE state: one [`MachineVee`] per machine, fed that machine's readings in
//! arrival order and closed period by period, and how a validated reading is kept beside its
//! raw copy (extra columns of the `readings` log).
//!
//! A machine that moves between shops (a loaner) has one state per *stay* (its time at one
//! shop, `Slot`): a new stay starts from its installation reading as a baseline, so the step
//! between the removal read at one shop and the installation read at the next is no one's
//! usage, and estimates never bridge stays. A stay that ended keeps its state: a late reading
//! of it is still validated against it and billed to its shop.
//!
//! The state is a pure function of (readings in arrival order, period closes, config), so the
//! store never saves it: it replays the log at open ([`VeeBook::replay`]), and explains any
//! machine's readings by replaying that machine with explanations on.

use super::vee::{
    Channel, Channels, Flag, MachineVee, PeriodUsage, Reading, StepKind, ValidatedReading,
    VeeConfig,
};
use super::Period;
use std::collections::BTreeMap;

pub struct VeeBook {
    config: VeeConfig,
    /// Each machine's latest stay with readings. Boxed: a slot per machine id, so a high id
    /// costs a pointer per id below it.
    machines: Vec<Option<Box<StayVee>>>,
    /// The earlier stays of machines that moved (loaners), whose late readings still count.
    earlier: BTreeMap<Slot, Box<MachineVee>>,
    closed_through: Option<Period>,
    explain: bool,
}

/// One stay of one machine: the unit VEE validates and the store bills to a shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub machine: usize,
    /// The stay's number, 0 for the machine's first.
    pub stay: u32,
}

struct StayVee {
    stay: u32,
    vee: MachineVee,
}

/// A period close as the store logged it: readings with a rowid above `readings_through`
/// arrived after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedClose {
    pub period: Period,
    pub readings_through: i64,
}

/// A reading as the `readings` log stores it, in arrival (rowid) order.
#[derive(Clone, Copy, Debug)]
pub struct LoggedReading {
    pub rowid: i64,
    pub machine: usize,
    /// The stay the reading's time falls in.
    pub stay: u32,
    pub reading: Reading,
}

impl VeeBook {
    pub fn new(config: VeeConfig, explain: bool) -> VeeBook {
        VeeBook {
            config,
            machines: Vec::new(),
            earlier: BTreeMap::new(),
            closed_through: None,
            explain,
        }
    }

    pub fn config(&self) -> &VeeConfig {
        &self.config
    }

    pub fn closed_through(&self) -> Option<Period> {
        self.closed_through
    }

    /// Whether any machine has VEE state (a reading, accepted or not): then every close
    /// books something for it, if only a zero row or an estimate.
    pub fn has_machines(&self) -> bool {
        self.machines.iter().any(Option::is_some)
    }

    /// Rebuilds the state from the log: readings in rowid order, each close applied between
    /// the last reading it saw and the first it did not. `on_reading` sees every validation.
    pub fn replay(
        config: VeeConfig,
        explain: bool,
        readings: impl Iterator<Item = LoggedReading>,
        closes: &[LoggedClose],
        mut on_reading: impl FnMut(&LoggedReading, &ValidatedReading),
    ) -> VeeBook {
        let mut book = VeeBook::new(config, explain);
        let mut pending = closes.iter().peekable();
        for logged in readings {
            while let Some(close) = pending.next_if(|c| c.readings_through < logged.rowid) {
                book.close(close.period);
            }
            let slot = Slot {
                machine: logged.machine,
                stay: logged.stay,
            };
            let validated = book.apply(slot, logged.reading);
            on_reading(&logged, &validated);
        }
        for close in pending {
            book.close(close.period);
        }
        book
    }

    /// Validates one reading of a machine's stay and books it.
    pub fn apply(&mut self, slot: Slot, reading: Reading) -> ValidatedReading {
        let left_at = self.left_previous_stay_at(slot);
        let mut validated = self.stay(slot).apply(reading);
        let baseline = validated.applied() && validated.period.is_none();
        if let Some(left) = left_at.filter(|left| baseline && *left != reading.counters) {
            validated.flags.push(Flag::ChangedInTransit);
            if !self.explain {
                return validated;
            }
            let show = |c: Channels<u64>| {
                format!(
                    "total_cycles {}, mountings {}, trace_only {}",
                    c.total_cycles, c.mountings, c.trace_only
                )
            };
            validated.explanation.push_str(&format!(
                " Installed after a move: the removal read at the previous shop read {}, this \
                 reading {}; the difference happened in transit and is billed to no one.",
                show(left),
                show(reading.counters)
            ));
        }
        validated
    }

    /// The counters the previous stay ended with, when `slot` has no accepted reading yet
    /// (its next accepted one is the stay's baseline).
    fn left_previous_stay_at(&self, slot: Slot) -> Option<Channels<u64>> {
        let previous = Slot {
            stay: slot.stay.checked_sub(1)?,
            ..slot
        };
        let fresh = self
            .get(slot)
            .is_none_or(|vee| vee.last_accepted().is_none());
        fresh.then(|| self.get(previous)?.last_accepted().map(|r| r.counters))?
    }

    /// The time of the removal read that ended the stay's readings, if its latest accepted
    /// reading is one (the condition for the machine to move to another shop).
    pub fn removed_at(&self, slot: Slot) -> Option<i64> {
        let vee = self.get(slot)?;
        let last = vee.last_accepted()?;
        vee.is_removed().then_some(last.time)
    }

    /// Closes `period` for every stay with readings; returns what each booked in it, in slot
    /// order. Periods close one at a time and in order, so each returns exactly `period`.
    pub fn close(&mut self, period: Period) -> Vec<(Slot, PeriodUsage)> {
        let mut closed = Vec::new();
        let mut book = |slot: Slot, vee: &mut MachineVee| {
            for usage in vee.close_through(period) {
                debug_assert_eq!(usage.period, period, "periods close one at a time");
                closed.push((slot, usage));
            }
        };
        for (m, current) in self.machines.iter_mut().enumerate() {
            let Some(current) = current else { continue };
            let slot = Slot {
                machine: m,
                stay: current.stay,
            };
            book(slot, &mut current.vee);
        }
        for (&slot, vee) in self.earlier.iter_mut() {
            book(slot, vee);
        }
        if !self.earlier.is_empty() {
            closed.sort_by_key(|(slot, _)| *slot);
        }
        self.closed_through = Some(period);
        closed
    }

    /// What each stay has booked so far in a period that is still open.
    pub fn open_usage(&self, period: Period) -> impl Iterator<Item = (Slot, &PeriodUsage)> {
        let current = self.machines.iter().enumerate().filter_map(|(m, s)| {
            let s = s.as_ref()?;
            Some((
                Slot {
                    machine: m,
                    stay: s.stay,
                },
                &s.vee,
            ))
        });
        let earlier = self.earlier.iter().map(|(slot, vee)| (*slot, &**vee));
        current.chain(earlier).filter_map(move |(slot, vee)| {
            let usage = vee.open_periods().find(|u| u.period == period)?;
            Some((slot, usage))
        })
    }

    fn get(&self, slot: Slot) -> Option<&MachineVee> {
        match self.machines.get(slot.machine)?.as_ref() {
            Some(current) if current.stay == slot.stay => Some(&current.vee),
            _ => self.earlier.get(&slot).map(|vee| &**vee),
        }
    }

    /// A stay's state, created on its first reading. A machine's latest stay is kept in
    /// `machines`; a reading of a later stay moves it to `earlier`.
    fn stay(&mut self, slot: Slot) -> &mut MachineVee {
        if self.machines.len() <= slot.machine {
            self.machines.resize_with(slot.machine + 1, || None);
        }
        let (config, explain, closed) = (self.config, self.explain, self.closed_through);
        let fresh = move || fresh(config, explain, closed);
        let current = &mut self.machines[slot.machine];
        match current.as_ref().map(|c| c.stay) {
            Some(stay) if stay > slot.stay => {
                return self
                    .earlier
                    .entry(slot)
                    .or_insert_with(|| Box::new(fresh()));
            }
            Some(stay) if stay < slot.stay => {
                if let Some(ended) = current.take() {
                    let at = Slot {
                        machine: slot.machine,
                        stay,
                    };
                    self.earlier.insert(at, Box::new(ended.vee));
                }
            }
            _ => {}
        }
        let current = current.get_or_insert_with(|| {
            Box::new(StayVee {
                stay: slot.stay,
                vee: fresh(),
            })
        });
        &mut current.vee
    }
}

/// A new stay's state. One that starts after some periods closed starts closed through them
/// too, so its late steps go to an open period.
fn fresh(config: VeeConfig, explain: bool, closed: Option<Period>) -> MachineVee {
    let mut vee = if explain {
        MachineVee::new(config)
    } else {
        MachineVee::quiet(config)
    };
    if let Some(closed) = closed {
        vee.close_through(closed);
    }
    vee
}

/// The validated part of a reading, as stored beside the raw counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VeeColumns {
    /// Bit 0: applied; bits 1–13: flags; bits 16–21: step kind per channel (2 bits each).
    pub code: i64,
    /// `yyyymm` of the period the steps are billed in; `None` for a baseline or a rejection.
    pub period: Option<i64>,
    /// Step units: total cycles, mountings, trace-only.
    pub steps: [i64; 3],
    /// The part of the steps reversing an earlier estimate (true-up).
    pub reversed: [i64; 3],
}

impl VeeColumns {
    pub fn of(v: &ValidatedReading) -> VeeColumns {
        let applied = i64::from(v.applied());
        let flags = v.flags.iter().fold(0, |bits, &f| bits | 1 << flag_bit(f));
        let kinds = v.steps.map_or(0, |steps| {
            Channel::ALL.iter().enumerate().fold(0, |bits, (i, &c)| {
                bits | kind_code(steps.get(c).kind) << (16 + 2 * i)
            })
        });
        VeeColumns {
            code: applied | flags | kinds,
            period: v.period.map(Period::key),
            steps: as_columns(v.units()),
            reversed: as_columns(v.reversed_estimate),
        }
    }
}

/// Flag names in bit order (bit 1 first).
const FLAG_NAMES: [&str; 13] = [
    "duplicate",
    "out_of_order",
    "out_of_range_total_cycles",
    "out_of_range_mountings",
    "out_of_range_trace_only",
    "spike_total_cycles",
    "spike_mountings",
    "spike_trace_only",
    "zero_total_cycles",
    "zero_mountings",
    "zero_trace_only",
    "inconsistent",
    "changed_in_transit",
];

/// A flag's name as the API shows it, e.g. `spike_mountings`.
pub fn flag_name(flag: Flag) -> &'static str {
    FLAG_NAMES[flag_bit(flag) as usize - 1]
}

fn flag_bit(flag: Flag) -> u32 {
    let channel = |c: Channel| Channel::ALL.iter().position(|&x| x == c).unwrap_or(0) as u32;
    match flag {
        Flag::Duplicate => 1,
        Flag::OutOfOrder => 2,
        Flag::OutOfRange(c) => 3 + channel(c),
        Flag::Spike(c) => 6 + channel(c),
        Flag::Zero(c) => 9 + channel(c),
        Flag::Inconsistent => 12,
        Flag::ChangedInTransit => 13,
    }
}

fn kind_code(kind: StepKind) -> i64 {
    match kind {
        StepKind::Baseline => 0,
        StepKind::Normal => 1,
        StepKind::Rollover => 2,
        StepKind::Reset => 3,
    }
}

fn as_columns(c: Channels<u64>) -> [i64; 3] {
    Channel::ALL.map(|ch| i64::try_from(c.get(ch)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(seq: u64, time: i64, mountings: u64) -> Reading {
        Reading {
            seq,
            time,
            counters: Channels {
                total_cycles: mountings,
                mountings,
                trace_only: 0,
            },
            removal: false,
        }
    }

    const JAN_2: i64 = 1_704_223_800; // 2024-01-02T19:30:00Z
    const DAY: i64 = 86_400;
    const SLOT_0: Slot = Slot {
        machine: 0,
        stay: 0,
    };

    #[test]
    fn replay_with_closes_between_readings_equals_the_live_sequence() {
        let config = VeeConfig::default();
        let jan = Period {
            year: 2024,
            month: 1,
        };
        let readings: Vec<_> = [
            (1, JAN_2, 0),
            (2, JAN_2 + 10 * DAY, 50),
            (3, JAN_2 + 40 * DAY, 80),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(seq, time, m))| LoggedReading {
            rowid: i as i64 + 1,
            machine: 0,
            stay: 0,
            reading: reading(seq, time, m),
        })
        .collect();
        let mut live = VeeBook::new(config, false);
        let mut live_columns = Vec::new();
        for r in &readings[..2] {
            live_columns.push(VeeColumns::of(&live.apply(SLOT_0, r.reading)));
        }
        let closed = live.close(jan);
        assert_eq!(closed.len(), 1);
        assert!(
            closed[0].1.estimated,
            "19 days unread at the end of January are estimated"
        );
        live_columns.push(VeeColumns::of(&live.apply(SLOT_0, readings[2].reading)));

        let closes = [LoggedClose {
            period: jan,
            readings_through: 2,
        }];
        let mut replayed = Vec::new();
        let book = VeeBook::replay(config, false, readings.into_iter(), &closes, |_, v| {
            replayed.push(VeeColumns::of(v))
        });
        assert_eq!(replayed, live_columns);
        assert_eq!(book.closed_through(), Some(jan));
        assert!(
            replayed[2].reversed[1] > 0,
            "February's reading trues up the estimate"
        );
    }

    #[test]
    fn a_machine_first_read_after_a_close_books_into_the_open_period() {
        let mut book = VeeBook::new(VeeConfig::default(), false);
        let jan = Period {
            year: 2024,
            month: 1,
        };
        book.close(jan);
        let seven = Slot {
            machine: 7,
            stay: 0,
        };
        book.apply(seven, reading(1, JAN_2, 0));
        let v = book.apply(seven, reading(2, JAN_2 + DAY, 5));
        assert_eq!(v.period, Some(jan.next()), "January is closed");
        let columns = VeeColumns::of(&v);
        assert_eq!(columns.steps, [5, 5, 0]);
        assert_eq!(columns.code & 1, 1);
        assert!(v.flags.is_empty());
    }

    #[test]
    fn flags_are_named_in_bit_order() {
        let mut book = VeeBook::new(VeeConfig::default(), false);
        book.apply(SLOT_0, reading(1, JAN_2, 10));
        let again = book.apply(SLOT_0, reading(1, JAN_2 + DAY, 12));
        let columns = VeeColumns::of(&again);
        assert_eq!(
            columns.code & 1,
            0,
            "a reading with the last one's seq is not applied"
        );
        assert_eq!(
            again
                .flags
                .iter()
                .map(|&f| flag_name(f))
                .collect::<Vec<_>>(),
            ["duplicate"]
        );
        assert_eq!(columns.code & 0b10, 0b10);
        assert_eq!(
            flag_name(Flag::Spike(Channel::Mountings)),
            "spike_mountings"
        );
        assert_eq!(flag_name(Flag::Inconsistent), "inconsistent");
    }
}
