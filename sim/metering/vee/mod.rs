//! VEE (validation, estimation, editing) of cumulative counter readings, so that usage can be
//! billed from the counters a machine reports at the end of the day.
//!
//! Pure and deterministic: no I/O, no clock, no floats. Quantities are `u64` counts; a billed
//! quantity that may be a credit is `i128` (exact for any difference of two `u64`).
//!
//! One [`MachineVee`] per machine takes that machine's readings as they arrive
//! ([`MachineVee::apply`]) and closes its billing periods in order ([`MachineVee::close_through`]).
//! Each reading gives a [`ValidatedReading`]: the raw reading (the pre-VEE copy), the step per
//! channel, the flags and an explanation. Each closed period gives a [`PeriodUsage`]: actual
//! steps, estimate, estimate reversed (true-up) and notes. Every edit can be recomputed from
//! the raw readings, the order of calls and the [`VeeConfig`].
//!
//! # Rules
//!
//! **Baseline.** The first accepted reading is the starting point and carries no usage. To bill
//! from a known installation state, apply an installation reading first (e.g. zeros).
//!
//! **Order.** A machine's readings are ordered by their time (`seq` only identifies them: a
//! swapped board may restart it). Readings may arrive in any order (buffered telemetry comes
//! late and not always in sequence): a reading timed before the latest accepted one is
//! **re-sequenced**, placed between the accepted readings around it, and every step from it on
//! is derived again from the validation state before it, exactly as if the readings had
//! arrived in time order (sequence.rs keeps that state and the recent readings). The changes
//! are booked as a later reading's are (see *Attribution*): in each reading's own period while
//! it is open; what falls in closed (invoiced) periods is netted and booked in the first open
//! period — a correction on the next invoice; a fall there (rare: a reading that makes an
//! earlier step a spike lowers the average and can turn a later rollover into a reset) is
//! pending until the next closing periods' steps absorb it. Readings are kept for this at
//! least [`RESEQUENCE_DAYS`] days back from the latest (up to twice that; and at least half of
//! [`MAX_KEPT`] readings, at most all of them, for machines that read more than daily).
//!
//! **Not applied** (flagged, state unchanged): a reading with the `seq` of an accepted one
//! (`Duplicate`); a time equal to an accepted reading's, or before the oldest kept reading
//! (`OutOfOrder`: it cannot be placed, and its use is in the step that spans it); a counter
//! value at or above the modulus (`OutOfRange`).
//!
//! **Steps**, per channel, against the last accepted reading (`prev` → `new`):
//! - `new ≥ prev`: step = `new − prev` (normal);
//! - `new < prev`: the rollover step is `modulus − prev + new` (from `prev` the counter takes
//!   `modulus − 1 − prev` steps to its top value, one to wrap to 0, then `new`). It is chosen when
//!   it is within the spike allowance below; otherwise the drop is a reset (board swap, loaner
//!   machine: the counter restarted at 0) and step = `new`. A reading with every counter at 0 (a
//!   new board's first read, sent by the technician at a swap) is always a reset. Why: a genuine wrap only happens from
//!   just under the top, so its step looks like ordinary use; a reset lands anywhere, and reading
//!   it as a wrap would bill most of the counter's range. An 8-digit counter going
//!   99_999_678 → 123 is a rollover of 321 + 1 + 123 = 445 units (the field notes' "444" leaves
//!   out the step from 99_999_999 to 0).
//!
//! **Average daily use** per channel: the steps of accepted readings timed within `window_days`
//! before the last accepted reading, excluding steps flagged spike on that channel, divided by
//! the seconds those steps cover (from each one's previous reading), × 86,400. Closed days with
//! no reading are inside those seconds, so the average is per calendar day, not per open day.
//!
//! **Spike**: step > allowance, where allowance = `days × max(min_daily_allowance, spike_factor ×
//! average daily use)`, the average rounded half up, `days` = the time since the previous reading
//! in whole days rounded up, at least 1. The step is kept and billed; the flag asks for review.
//!
//! **Zero**: a channel's step is 0 and it has not changed since a reading (or the baseline) more
//! than `max_zero_days` before. **Inconsistent**: total_cycles step ≠ mountings + trace_only steps.
//!
//! **Attribution at period boundaries**: a step goes wholly to the period (calendar month, UTC)
//! of its reading's time; nothing is prorated, because the reading time is the only fact the data
//! holds. If that period is already closed (a late reading), the step goes to the first open one.
//!
//! **Estimation**, when period P closes (its end = the first second of the next month): the
//! unread tail starts at the last accepted reading, or at the end of an estimate still
//! outstanding. If the tail is longer than `read_grace_hours`, it is estimated per channel as
//! `average units × tail seconds / average seconds`, rounded half up once (never from a rounded
//! average), booked to P and marked estimated. A shorter tail is not estimated: it reaches the
//! next period with the next reading. No usage history gives an estimate of 0, still marked.
//! Day counting is therefore in seconds: 10/day from Jan 28 19:30 to Feb 1 00:00 (3 d 4.5 h) is
//! 31.875 → 32.
//!
//! **True-up**: an outstanding estimate is reversed against the actual steps that follow. A step
//! whose reading falls inside the estimated interval (a late reading) reverses at most itself; the
//! first reading at or after the interval's end reverses all that remains. A re-sequenced
//! reading (always inside the interval, since it is before the latest) reverses at most the use
//! it reveals: its step plus the net change of the steps after it. The reversal is booked
//! with the step, so a period bills `actual + estimate − reversed`, which is negative (a credit)
//! when an estimate was too high.
//!
//! **Removal**: a reading flagged `removal` is the final read taken when the machine leaves the
//! shop (contract terminated or term ended). Once it is applied the machine is *removed*: a
//! period close estimates no tail for it, because its counters stopped at that read. The removal
//! read itself is validated, attributed and trues up like any other reading (it is the first
//! reading at or after an outstanding estimate's interval); if it falls inside that interval (a
//! late removal read) it still reverses all of the estimate, since no reading will follow it and
//! the use estimated past it never happened. A removal read that is not applied (`Duplicate`,
//! `OutOfOrder`, `OutOfRange`) does not remove. A later accepted reading (reinstallation) ends
//! the removed state: its step against the removal read is billed as usual, and the next close
//! estimates again (at the same shop: a machine installed at another is a new stay, validated by
//! a `MachineVee` of its own, see `vee_book`). The state is the last accepted reading's flag, so a replay of the log
//! restores it.
//!
//! **Conservation**: over all periods, closed and open, billed = accepted steps + outstanding
//! estimate − pending fall; once a reading follows the last estimate (and any fall is
//! absorbed), billed = accepted steps exactly, whatever order the readings arrived in.
//!
//! **Rounding**: integer division rounded half up (`n/d`, plus 1 when `2·(n mod d) ≥ d`).

use super::Period;
use crate::event::{EventBody, UsageEvent};
use sequence::{History, Judged, Place, Rederived, Sequence};
use std::collections::BTreeMap;
use std::fmt;
use text::{describe_booking, describe_step, heading, not_applied, span, stamp, REMOVED};

mod sequence;
#[cfg(test)]
mod tests;
mod text;

pub use sequence::{MAX_KEPT, RESEQUENCE_DAYS};

/// Seconds in a day: an average "per day" is per 86,400 s.
const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;

/// One of the three cumulative counters an edger reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    TotalCycles,
    Mountings,
    TraceOnly,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::TotalCycles, Channel::Mountings, Channel::TraceOnly];

    pub fn name(self) -> &'static str {
        match self {
            Channel::TotalCycles => "total_cycles",
            Channel::Mountings => "mountings",
            Channel::TraceOnly => "trace_only",
        }
    }
}

/// One value per channel.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Channels<T> {
    pub total_cycles: T,
    pub mountings: T,
    pub trace_only: T,
}

impl<T: Copy> Channels<T> {
    pub fn from_fn(mut f: impl FnMut(Channel) -> T) -> Channels<T> {
        Channels {
            total_cycles: f(Channel::TotalCycles),
            mountings: f(Channel::Mountings),
            trace_only: f(Channel::TraceOnly),
        }
    }

    pub fn get(&self, channel: Channel) -> T {
        match channel {
            Channel::TotalCycles => self.total_cycles,
            Channel::Mountings => self.mountings,
            Channel::TraceOnly => self.trace_only,
        }
    }

    pub fn map<U: Copy>(&self, mut f: impl FnMut(T) -> U) -> Channels<U> {
        Channels::from_fn(|c| f(self.get(c)))
    }
}

impl Channels<u64> {
    /// Channel-wise sum (saturating: no real counter gets near `u64::MAX`).
    pub fn plus(&self, other: &Channels<u64>) -> Channels<u64> {
        Channels::from_fn(|c| self.get(c).saturating_add(other.get(c)))
    }

    pub fn is_zero(&self) -> bool {
        Channel::ALL.iter().all(|&c| self.get(c) == 0)
    }
}

impl<T: Copy + fmt::Display> fmt::Display for Channels<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "total_cycles {}, mountings {}, trace_only {}",
            self.total_cycles, self.mountings, self.trace_only
        )
    }
}

/// The VEE rules' parameters. Integers only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VeeConfig {
    /// Counters run 0..modulus−1, then wrap to 0 (100_000_000 for 8 digits); 0 = never wrap.
    pub modulus: u64,
    /// A step above this many times the average daily use (per elapsed day) is a spike.
    pub spike_factor: u64,
    /// Units per elapsed day always allowed before a spike, so a new machine is not flagged.
    pub min_daily_allowance: u64,
    /// A channel unchanged for more than this many days while readings arrive is flagged.
    pub max_zero_days: u64,
    /// The average daily use looks back this many days from the last accepted reading.
    pub window_days: u64,
    /// A period whose last reading is at most this many hours before its end is not estimated.
    pub read_grace_hours: u64,
}

impl Default for VeeConfig {
    fn default() -> Self {
        VeeConfig {
            // A 32-bit register, the common width of a machine's counter.
            modulus: 1 << 32,
            spike_factor: 5,
            // Far above an edger's day (a busy shop mounts ~20 pairs), far below a bogus jump.
            min_daily_allowance: 100,
            // Longer than a shop's ordinary quiet spells between open days.
            max_zero_days: 14,
            // Four whole weeks: every weekday weighs the same.
            window_days: 28,
            // End-of-day reads come hours before midnight; a whole missing day is estimated.
            read_grace_hours: 24,
        }
    }
}

impl VeeConfig {
    fn modulus_wide(&self) -> u128 {
        if self.modulus == 0 {
            1 << 64
        } else {
            u128::from(self.modulus)
        }
    }

    fn in_range(&self, value: u64) -> bool {
        u128::from(value) < self.modulus_wide()
    }

    /// `modulus − prev + new`, if it fits in a count.
    fn rollover_step(&self, prev: u64, new: u64) -> Option<u64> {
        let wide = self.modulus_wide() - u128::from(prev) + u128::from(new);
        u64::try_from(wide).ok()
    }

    /// Allowed units for a step covering `elapsed` seconds, given the average daily use.
    fn allowance(&self, average_per_day: u64, elapsed: u64) -> u64 {
        let days = elapsed.div_ceil(DAY).max(1);
        let per_day = self
            .min_daily_allowance
            .max(self.spike_factor.saturating_mul(average_per_day));
        per_day.saturating_mul(days)
    }

    fn window_secs(&self) -> i64 {
        secs_i64(self.window_days.saturating_mul(DAY))
    }

    fn zero_secs(&self) -> i64 {
        secs_i64(self.max_zero_days.saturating_mul(DAY))
    }

    fn grace_secs(&self) -> i64 {
        secs_i64(self.read_grace_hours.saturating_mul(HOUR))
    }
}

/// A cumulative counter reading, as the machine sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub seq: u64,
    /// Unix seconds, UTC.
    pub time: i64,
    pub counters: Channels<u64>,
    /// The final read at removal: once applied, no tail is estimated after it (see the rules).
    pub removal: bool,
}

impl Reading {
    /// The reading carried by a counter event; `None` for any other event.
    pub fn from_event(event: &UsageEvent) -> Option<Reading> {
        let EventBody::Counter {
            total_cycles,
            mountings,
            trace_only,
            removal,
            ..
        } = event.body
        else {
            return None;
        };
        Some(Reading {
            seq: event.seq,
            time: event.time,
            counters: Channels {
                total_cycles,
                mountings,
                trace_only,
            },
            removal,
        })
    }
}

/// How a channel's step was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// The first accepted reading: the starting point, no usage.
    Baseline,
    /// `new − prev`.
    Normal,
    /// The counter wrapped: `modulus − prev + new`.
    Rollover,
    /// The counter restarted at 0: `new`.
    Reset,
}

/// One channel's usage since the previous accepted reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub units: u64,
    /// The spike allowance this step was judged against (0 for a baseline).
    pub allowance: u64,
}

/// What validation found. The first three mean the reading was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    Duplicate,
    OutOfOrder,
    OutOfRange(Channel),
    Spike(Channel),
    Zero(Channel),
    Inconsistent,
    /// The first reading of a machine's new stay (a loaner installed at another shop) differs
    /// from the removal read that ended its previous stay: the counters moved in transit.
    /// Not usage, billed to no one (the stay starts from this reading as its baseline); the
    /// flag asks for review. Set by the store's book of stays (`vee_book`).
    ChangedInTransit,
}

impl Flag {
    pub fn rejects(self) -> bool {
        matches!(
            self,
            Flag::Duplicate | Flag::OutOfOrder | Flag::OutOfRange(_)
        )
    }
}

/// One reading after validation: the raw copy, what was made of it, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedReading {
    pub raw: Reading,
    /// `None` when the reading was not applied (see `flags`).
    pub steps: Option<Channels<Step>>,
    pub flags: Vec<Flag>,
    /// The period the steps are billed in; `None` for a baseline or a reading not applied.
    pub period: Option<Period>,
    /// The part of the steps already billed as an estimate, reversed now (true-up).
    pub reversed_estimate: Channels<u64>,
    pub explanation: String,
}

impl ValidatedReading {
    pub fn applied(&self) -> bool {
        self.steps.is_some()
    }

    /// The step units per channel (zeros when not applied).
    pub fn units(&self) -> Channels<u64> {
        self.steps
            .map(|s| s.map(|step| step.units))
            .unwrap_or_default()
    }
}

/// A period's usage, as billed when it closes (or as booked so far while it is open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodUsage {
    pub period: Period,
    /// Steps of the accepted readings attributed to this period.
    pub actual: Channels<u64>,
    /// The part of `actual` already billed as an estimate in an earlier period.
    pub reversed_estimate: Channels<u64>,
    /// The estimate for this period's unread tail.
    pub estimate: Channels<u64>,
    pub estimated: bool,
    /// One line per estimate, reversal or removal read booked here.
    pub notes: Vec<String>,
}

impl PeriodUsage {
    fn empty(period: Period) -> PeriodUsage {
        PeriodUsage {
            period,
            actual: Channels::default(),
            reversed_estimate: Channels::default(),
            estimate: Channels::default(),
            estimated: false,
            notes: Vec::new(),
        }
    }

    /// `actual + estimate − reversed_estimate`: negative is a credit.
    pub fn billed(&self) -> Channels<i128> {
        Channels::from_fn(|c| {
            i128::from(self.actual.get(c)) + i128::from(self.estimate.get(c))
                - i128::from(self.reversed_estimate.get(c))
        })
    }
}

/// VEE state of one machine.
#[derive(Clone, Debug)]
pub struct MachineVee {
    config: VeeConfig,
    /// The validation state after the latest reading in time order.
    head: Sequence,
    /// The recent readings, to place a late one (re-sequencing).
    history: History,
    /// The period of the baseline: where closing starts.
    first_period: Option<Period>,
    open: BTreeMap<Period, PeriodUsage>,
    closed_through: Option<Period>,
    outstanding: Option<Outstanding>,
    /// Use already invoiced that a re-derivation took back, not yet taken off a closing
    /// period's steps (see the rules: a correction on the next invoices).
    withdrawal: Channels<u64>,
    /// Whether accepted readings get their explanation text (the store replays it on demand:
    /// formatting it for every reading would cost more than the rest of VEE together).
    explain: bool,
}

/// Estimated usage billed but not yet matched by actual readings, up to `until`.
#[derive(Clone, Copy, Debug)]
struct Outstanding {
    until: i64,
    units: Channels<u64>,
}

impl MachineVee {
    pub fn new(config: VeeConfig) -> MachineVee {
        MachineVee {
            config,
            head: Sequence::default(),
            history: History::default(),
            first_period: None,
            open: BTreeMap::new(),
            closed_through: None,
            outstanding: None,
            withdrawal: Channels::default(),
            explain: true,
        }
    }

    /// The same machine without explanation texts on accepted readings (flags, steps and
    /// bookings are unchanged; rejections and period notes keep their texts).
    pub fn quiet(config: VeeConfig) -> MachineVee {
        MachineVee {
            explain: false,
            ..MachineVee::new(config)
        }
    }

    pub fn config(&self) -> &VeeConfig {
        &self.config
    }

    /// The latest accepted reading in time order.
    pub fn last_accepted(&self) -> Option<&Reading> {
        self.head.last.as_ref()
    }

    /// Taken out of the shop: the latest accepted reading is a removal read. The state is that
    /// reading's flag, nothing more, so replaying the log restores it.
    pub fn is_removed(&self) -> bool {
        self.head.last.is_some_and(|r| r.removal)
    }

    /// Estimated usage billed and not yet matched by actual readings.
    pub fn outstanding_estimate(&self) -> Channels<u64> {
        self.outstanding.map(|o| o.units).unwrap_or_default()
    }

    /// Use already invoiced that re-sequencing took back and no closed period has absorbed
    /// yet: billed over all periods = accepted steps + outstanding estimate − this.
    pub fn pending_withdrawal(&self) -> Channels<u64> {
        self.withdrawal
    }

    /// Periods with bookings that are not closed yet, in order.
    pub fn open_periods(&self) -> impl Iterator<Item = &PeriodUsage> {
        self.open.values()
    }

    /// The trailing average daily use per channel, rounded half up.
    pub fn average_daily_use(&self) -> Channels<u64> {
        self.head.average_daily_use()
    }

    /// Validates one reading and, when it is applied, books its steps: after the latest
    /// reading as usual, or in its place among the recent ones (re-sequencing).
    pub fn apply(&mut self, raw: Reading) -> ValidatedReading {
        let rejections = self.rejections(&raw);
        if !rejections.is_empty() {
            return not_applied(raw, rejections);
        }
        match self.head.last {
            None => self.accept_baseline(raw),
            Some(prev) if raw.time > prev.time => self.accept_step(prev, raw),
            Some(latest) => match self.history.place(raw.time) {
                Place::Between { index } => self.resequence(latest, index, raw),
                // `rejections` refused both other places.
                _ => unreachable!("a reading at a refused place was applied"),
            },
        }
    }

    /// Closes every period not closed yet up to `period`, in order, estimating unread tails.
    pub fn close_through(&mut self, period: Period) -> Vec<PeriodUsage> {
        let mut closed = Vec::new();
        let mut next = self.first_unclosed(period);
        while next <= period {
            closed.push(self.close(next));
            next = next.next();
        }
        closed
    }

    fn rejections(&self, raw: &Reading) -> Vec<(Flag, String)> {
        let mut found: Vec<(Flag, String)> = Channel::ALL
            .iter()
            .filter(|&&c| !self.config.in_range(raw.counters.get(c)))
            .map(|&c| {
                let why = format!(
                    "{} {} is not below the counter modulus {}",
                    c.name(),
                    raw.counters.get(c),
                    self.config.modulus
                );
                (Flag::OutOfRange(c), why)
            })
            .collect();
        let Some(latest) = self.head.last else {
            return found;
        };
        // Formatted only for a rejection: this runs for every reading.
        let since = |r: &Reading| format!("seq {} at {}", r.seq, stamp(r.time));
        if raw.seq == latest.seq || (raw.time < latest.time && self.history.has_seq(raw.seq)) {
            found.push((
                Flag::Duplicate,
                format!("same seq as an accepted reading, {}", since(&latest)),
            ));
        } else if raw.time <= latest.time {
            match self.history.place(raw.time) {
                Place::Between { .. } => {}
                Place::SameTime { as_reading } => found.push((
                    Flag::OutOfOrder,
                    format!("at the same time as the accepted {}", since(&as_reading)),
                )),
                Place::TooOld { before } => found.push((
                    Flag::OutOfOrder,
                    format!(
                        "before {}, the oldest reading kept to place late ones \
                         (at least {RESEQUENCE_DAYS} days, or {} readings, are kept back from the latest, {})",
                        since(&before),
                        MAX_KEPT / 2,
                        since(&latest)
                    ),
                )),
            }
        }
        found
    }

    fn accept_baseline(&mut self, raw: Reading) -> ValidatedReading {
        self.first_period = Some(Period::of_unix(raw.time));
        self.history.push(&self.head, raw);
        let judged = self.head.judge_and_remember(&self.config, raw);
        ValidatedReading {
            raw,
            steps: Some(judged.steps),
            flags: Vec::new(),
            period: None,
            reversed_estimate: Channels::default(),
            explanation: if self.explain {
                let mut text = format!(
                    "{}: baseline ({}): the starting point, no usage",
                    heading(&raw),
                    raw.counters
                );
                if raw.removal {
                    text.push_str("; ");
                    text.push_str(REMOVED);
                }
                text
            } else {
                String::new()
            },
        }
    }

    fn accept_step(&mut self, prev: Reading, raw: Reading) -> ValidatedReading {
        let judged = self.head.judge(&self.config, &prev, &raw);
        let units = judged.units();
        let period = self.attribution_period(raw.time);
        let reversed = self.reverse_estimate(&raw, units);
        let explanation = if self.explain {
            self.explain_step(&prev, &raw, &judged, period, &reversed)
        } else {
            String::new()
        };
        self.book(period, units, reversed, &raw);
        self.history.push(&self.head, raw);
        self.head.remember(&self.config, raw, units, judged.spike());
        ValidatedReading {
            raw,
            steps: Some(judged.steps),
            flags: judged.findings.into_iter().map(|(flag, _)| flag).collect(),
            period: Some(period),
            reversed_estimate: reversed,
            explanation,
        }
    }

    /// A reading older than the latest one: placed among the kept readings at `index`, the
    /// steps from it on derived again, and every difference booked (see the rules).
    fn resequence(&mut self, latest: Reading, index: usize, raw: Reading) -> ValidatedReading {
        let prev = self.history.reading_before(index);
        let (head, judged, rederived) = self.history.insert(&self.config, index, raw);
        self.head = head;
        let own = (judged.steps.get(Channel::Mountings).kind != StepKind::Baseline)
            .then(|| judged.units());
        if own.is_none() {
            // A reading before the baseline is the new baseline.
            let period = Period::of_unix(raw.time);
            self.first_period = self
                .first_period
                .map_or(Some(period), |p| Some(p.min(period)));
        }
        let revealed = self.book_rederived(&raw, own, &rederived);
        let period = self.attribution_period(raw.time);
        let reversed = self.reverse_inside(revealed);
        self.book(period, Channels::default(), reversed, &raw);
        let explanation = if self.explain {
            self.explain_resequenced(
                &latest,
                prev.as_ref(),
                &raw,
                &judged,
                &rederived,
                period,
                &reversed,
            )
        } else {
            String::new()
        };
        ValidatedReading {
            raw,
            steps: Some(judged.steps),
            flags: judged.findings.into_iter().map(|(flag, _)| flag).collect(),
            period: own.map(|_| period),
            reversed_estimate: reversed,
            explanation,
        }
    }

    /// Books a re-sequenced reading's own step and the changes of the steps after it, each in
    /// its reading's period while that one is open; what falls in closed periods is netted
    /// and booked in the first open one (a credit waits as a withdrawal). Returns the net
    /// change per channel.
    fn book_rederived(
        &mut self,
        raw: &Reading,
        own: Option<Channels<u64>>,
        rederived: &[Rederived],
    ) -> Channels<i128> {
        let mut changes: Vec<(i64, Channels<i128>)> = Vec::new();
        if let Some(units) = own {
            changes.push((raw.time, units.map(i128::from)));
        }
        for r in rederived {
            let delta =
                Channels::from_fn(|c| i128::from(r.after.get(c)) - i128::from(r.before.get(c)));
            changes.push((r.reading.time, delta));
        }
        let mut closed_net = Channels::<i128>::default();
        let mut net = Channels::<i128>::default();
        for (time, delta) in changes {
            net = Channels::from_fn(|c| net.get(c) + delta.get(c));
            let own_period = Period::of_unix(time);
            if self
                .closed_through
                .is_some_and(|closed| own_period <= closed)
            {
                closed_net = Channels::from_fn(|c| closed_net.get(c) + delta.get(c));
            } else {
                self.adjust_open(own_period, delta);
            }
        }
        if closed_net != Channels::default() {
            let first_open = self.attribution_period(raw.time);
            let gained = closed_net.map(|d| u64::try_from(d.max(0)).unwrap_or(u64::MAX));
            let lost = closed_net.map(|d| u64::try_from((-d).max(0)).unwrap_or(u64::MAX));
            self.adjust_open(first_open, gained.map(i128::from));
            self.withdrawal = self.withdrawal.plus(&lost);
            let usage = self.open_usage(first_open);
            usage.notes.push(format!(
                "re-sequencing: seq {} at {} changes the steps of closed periods by {}; booked here{}",
                raw.seq,
                stamp(raw.time),
                closed_net,
                if lost.is_zero() {
                    String::new()
                } else {
                    format!(" (the fall, {lost}, comes off the next closing periods' steps)")
                }
            ));
        }
        net
    }

    /// Adds a signed change to an open period's actual steps. A fall never takes a period
    /// below zero: it only undoes a step booked there (a reading of an open period has all
    /// of its step in its own period).
    fn adjust_open(&mut self, period: Period, delta: Channels<i128>) {
        let usage = self.open_usage(period);
        let adjusted = Channels::from_fn(|c| i128::from(usage.actual.get(c)) + delta.get(c));
        debug_assert!(
            Channel::ALL.iter().all(|&c| adjusted.get(c) >= 0),
            "a re-derived step fell below what its period holds"
        );
        usage.actual = adjusted.map(|v| u64::try_from(v.max(0)).unwrap_or(u64::MAX));
    }

    fn open_usage(&mut self, period: Period) -> &mut PeriodUsage {
        self.open
            .entry(period)
            .or_insert_with(|| PeriodUsage::empty(period))
    }

    /// The true-up for use a late reading revealed inside the estimated interval: at most that
    /// use, as for a step inside it (a late reading is never past the interval's end).
    fn reverse_inside(&mut self, revealed: Channels<i128>) -> Channels<u64> {
        let Some(outstanding) = self.outstanding.as_mut() else {
            return Channels::default();
        };
        let reversed = Channels::from_fn(|c| {
            let up = u64::try_from(revealed.get(c).max(0)).unwrap_or(u64::MAX);
            up.min(outstanding.units.get(c))
        });
        outstanding.units = Channels::from_fn(|c| outstanding.units.get(c) - reversed.get(c));
        reversed
    }

    fn explain_step(
        &self,
        prev: &Reading,
        raw: &Reading,
        judged: &Judged,
        period: Period,
        reversed: &Channels<u64>,
    ) -> String {
        let mut lines = vec![format!(
            "{}, {} after seq {}",
            heading(raw),
            span(seconds_between(prev.time, raw.time)),
            prev.seq
        )];
        lines.extend(self.describe_steps(prev, raw, judged));
        lines.push(describe_booking(period, reversed));
        if prev.removal {
            lines.push(format!(
                "reinstalled: the first reading since the removal read seq {}",
                prev.seq
            ));
        }
        if raw.removal {
            lines.push(REMOVED.to_string());
        }
        lines.join("; ")
    }

    fn describe_steps(&self, prev: &Reading, raw: &Reading, judged: &Judged) -> Vec<String> {
        let mut lines: Vec<String> = Channel::ALL
            .iter()
            .map(|&c| describe_step(&self.config, c, prev, raw, judged.steps.get(c)))
            .collect();
        lines.extend(judged.findings.iter().map(|(_, why)| why.clone()));
        lines
    }

    #[allow(clippy::too_many_arguments)]
    fn explain_resequenced(
        &self,
        latest: &Reading,
        prev: Option<&Reading>,
        raw: &Reading,
        judged: &Judged,
        rederived: &[Rederived],
        period: Period,
        reversed: &Channels<u64>,
    ) -> String {
        let mut lines = vec![match prev {
            Some(p) => format!(
                "{}, arrived after seq {} at {}: re-sequenced after seq {} at {}",
                heading(raw),
                latest.seq,
                stamp(latest.time),
                p.seq,
                stamp(p.time)
            ),
            None => format!(
                "{}, arrived after seq {} at {}: re-sequenced first, the new baseline ({})",
                heading(raw),
                latest.seq,
                stamp(latest.time),
                raw.counters
            ),
        }];
        if let Some(p) = prev {
            lines.extend(self.describe_steps(p, raw, judged));
        }
        for r in rederived {
            lines.push(format!(
                "{} derived again: {} → {}",
                heading(&r.reading),
                r.before,
                r.after
            ));
        }
        if prev.is_some() {
            lines.push(describe_booking(period, reversed));
        }
        if raw.removal {
            lines.push(
                "removal read followed by later readings: the machine stays installed".into(),
            );
        }
        lines.join("; ")
    }

    /// The period of the reading's time, or the first open period if that one is closed.
    fn attribution_period(&self, time: i64) -> Period {
        let own = Period::of_unix(time);
        match self.closed_through {
            Some(closed) if own <= closed => closed.next(),
            _ => own,
        }
    }

    /// The true-up: how much of these steps was already billed as an estimate. A removal read
    /// settles all of it even when it falls inside the estimated interval: no reading will
    /// follow it, and the use estimated past it never happened.
    fn reverse_estimate(&mut self, raw: &Reading, units: Channels<u64>) -> Channels<u64> {
        let Some(outstanding) = self.outstanding.as_mut() else {
            return Channels::default();
        };
        if raw.time >= outstanding.until || raw.removal {
            let all = outstanding.units;
            self.outstanding = None;
            return all;
        }
        let reversed = Channels::from_fn(|c| units.get(c).min(outstanding.units.get(c)));
        outstanding.units = Channels::from_fn(|c| outstanding.units.get(c) - reversed.get(c));
        reversed
    }

    fn book(
        &mut self,
        period: Period,
        units: Channels<u64>,
        reversed: Channels<u64>,
        raw: &Reading,
    ) {
        let usage = self.open_usage(period);
        usage.actual = usage.actual.plus(&units);
        usage.reversed_estimate = usage.reversed_estimate.plus(&reversed);
        if !reversed.is_zero() {
            usage.notes.push(format!(
                "true-up: seq {} at {} reveals {units}; reverses the estimate {reversed}",
                raw.seq,
                stamp(raw.time)
            ));
        }
        if raw.removal {
            usage.notes.push(format!(
                "removal: seq {} at {} is the final read; no tail is estimated after it",
                raw.seq,
                stamp(raw.time)
            ));
        }
    }

    fn first_unclosed(&self, requested: Period) -> Period {
        match (self.closed_through, self.first_period) {
            (Some(closed), _) => closed.next(),
            (None, Some(first)) => first.min(requested),
            (None, None) => requested,
        }
    }

    fn close(&mut self, period: Period) -> PeriodUsage {
        let mut usage = self
            .open
            .remove(&period)
            .unwrap_or_else(|| PeriodUsage::empty(period));
        self.absorb_withdrawal(&mut usage);
        self.estimate_tail(&mut usage);
        self.closed_through = Some(period);
        usage
    }

    /// Takes a pending withdrawal off the closing period's steps, as far as they go.
    fn absorb_withdrawal(&mut self, usage: &mut PeriodUsage) {
        let taken = Channels::from_fn(|c| self.withdrawal.get(c).min(usage.actual.get(c)));
        if taken.is_zero() {
            return;
        }
        usage.actual = Channels::from_fn(|c| usage.actual.get(c) - taken.get(c));
        self.withdrawal = Channels::from_fn(|c| self.withdrawal.get(c) - taken.get(c));
        usage.notes.push(format!(
            "re-sequencing correction: {taken} billed before in a closed period is taken off this period's steps"
        ));
    }

    /// Estimates the closing period's unread tail and adds it to the outstanding estimate.
    fn estimate_tail(&mut self, usage: &mut PeriodUsage) {
        let Some(last) = self.head.last else {
            return;
        };
        // A removed machine has no unread tail: its counters stopped with the removal read.
        if last.removal {
            return;
        }
        let end = usage.period.next().start_unix();
        let from = self
            .outstanding
            .map_or(last.time, |o| o.until.max(last.time));
        if end.saturating_sub(from) <= self.config.grace_secs() {
            return;
        }
        let tail = seconds_between(from, end);
        let rates = self.head.rates();
        let units = rates.map(|r| r.over(tail));
        usage.estimate = units;
        usage.estimated = true;
        usage.notes.push(format!(
            "estimate: {units} for {} → {} ({}) at the trailing use ({}), rounded half up",
            stamp(from),
            stamp(end),
            span(tail),
            Channel::ALL
                .map(|c| format!("{} {}", c.name(), rates.get(c)))
                .join(", ")
        ));
        let before = self.outstanding_estimate();
        self.outstanding = Some(Outstanding {
            until: end,
            units: before.plus(&units),
        });
    }

    /// Whether the oldest state kept is the one an in-order replay of `all` gives (tests).
    #[cfg(test)]
    fn base_is_exact(&self, all: &[Reading]) -> bool {
        self.history.base_is_exact(&self.config, all)
    }

    /// Whether two machines judge every later reading alike (tests).
    #[cfg(test)]
    fn same_validation_state(&self, other: &MachineVee) -> bool {
        self.head.same_as(&other.head)
    }

    /// Whether the live state is the one a replay of the kept readings gives (tests).
    #[cfg(test)]
    fn head_is_replayable(&self) -> bool {
        self.history.replayed(&self.config).same_as(&self.head) && self.head.sums_match_window()
    }
}

/// `n / d` rounded half up (`d > 0`), saturating at `u64::MAX`.
fn round_half_up(n: u128, d: u128) -> u64 {
    let up = u128::from(2 * (n % d) >= d);
    u64::try_from(n / d + up).unwrap_or(u64::MAX)
}

/// Seconds from `from` to `to`, 0 if `to` is not later.
fn seconds_between(from: i64, to: i64) -> u64 {
    u64::try_from(to.saturating_sub(from)).unwrap_or(0)
}

fn secs_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}
