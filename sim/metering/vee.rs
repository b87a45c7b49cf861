//! VEE (validation, estimation, editing) of cumulative counter readings, so that usage can be
//! billed from the counters a machine reports at the end of the day.
//!
//! Pure and deterministic: no I/O, no clock, no floats. Quantities are `u64` counts; a billed
//! quantity that may be a credit is `i128` (exact for any difference of two `u64`).
//!
//! One [`MachineVee`] per machine takes that machine's readings in arrival order
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
//! **Not applied** (flagged, state unchanged): a reading with the same `seq` as the last accepted
//! one (`Duplicate`); a time not after the last accepted reading (`OutOfOrder`); a counter value
//! at or above the modulus (`OutOfRange`). `seq` need not increase: a swapped board may restart
//! it, so time orders readings and `seq` only identifies them.
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
//! first reading at or after the interval's end reverses all that remains. The reversal is booked
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
//! estimates again. The state is the last accepted reading's flag, so a replay of the log
//! restores it.
//!
//! **Conservation**: over all periods, closed and open, billed = accepted steps + outstanding
//! estimate; once a reading follows the last estimate, billed = accepted steps exactly.
//!
//! **Rounding**: integer division rounded half up (`n/d`, plus 1 when `2·(n mod d) ≥ d`).

use super::Period;
use crate::event::{EventBody, UsageEvent};
use chrono::{DateTime, SecondsFormat};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// What an accepted removal read does, in its explanation.
const REMOVED: &str =
    "removal read: the machine is removed; no tail is estimated until it reads again";

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
    last: Option<Reading>,
    /// The period of the baseline: where closing starts.
    first_period: Option<Period>,
    /// Accepted steps within the trailing window, oldest first.
    window: VecDeque<WindowStep>,
    /// Per channel, the sums over `window` of the steps not flagged spike on it: kept with
    /// the window, so the average daily use costs nothing per reading.
    window_sums: Channels<WindowSum>,
    /// When each channel last changed (or the baseline time).
    changed_at: Channels<i64>,
    open: BTreeMap<Period, PeriodUsage>,
    closed_through: Option<Period>,
    outstanding: Option<Outstanding>,
    /// Whether accepted readings get their explanation text (the store replays it on demand:
    /// formatting it for every reading would cost more than the rest of VEE together).
    explain: bool,
}

#[derive(Clone, Copy, Debug)]
struct WindowStep {
    time: i64,
    secs: u64,
    units: Channels<u64>,
    spike: Channels<bool>,
}

/// Units and seconds of a channel's window steps (u128: no sum of u64 steps can overflow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct WindowSum {
    units: u128,
    secs: u128,
}

/// Estimated usage billed but not yet matched by actual readings, up to `until`.
#[derive(Clone, Copy, Debug)]
struct Outstanding {
    until: i64,
    units: Channels<u64>,
}

/// `units` of use over `secs` seconds.
#[derive(Clone, Copy, Debug, Default)]
struct Rate {
    units: u64,
    secs: u64,
}

impl Rate {
    /// Use over `secs` seconds at this rate, rounded half up once; 0 without history.
    fn over(self, secs: u64) -> u64 {
        if self.secs == 0 {
            return 0;
        }
        let product = u128::from(self.units) * u128::from(secs);
        round_half_up(product, u128::from(self.secs))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return write!(f, "no history");
        }
        let per_day = self.over(DAY);
        write!(f, "{} in {} ≈ {per_day}/day", self.units, span(self.secs))
    }
}

impl MachineVee {
    pub fn new(config: VeeConfig) -> MachineVee {
        MachineVee {
            config,
            last: None,
            first_period: None,
            window: VecDeque::new(),
            window_sums: Channels::from_fn(|_| WindowSum::default()),
            changed_at: Channels::default(),
            open: BTreeMap::new(),
            closed_through: None,
            outstanding: None,
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

    pub fn last_accepted(&self) -> Option<&Reading> {
        self.last.as_ref()
    }

    /// Taken out of the shop: the last accepted reading is a removal read. The state is the
    /// last reading's flag, nothing more, so replaying the log restores it.
    pub fn is_removed(&self) -> bool {
        self.last.is_some_and(|r| r.removal)
    }

    /// Estimated usage billed and not yet matched by actual readings.
    pub fn outstanding_estimate(&self) -> Channels<u64> {
        self.outstanding.map(|o| o.units).unwrap_or_default()
    }

    /// Periods with bookings that are not closed yet, in order.
    pub fn open_periods(&self) -> impl Iterator<Item = &PeriodUsage> {
        self.open.values()
    }

    /// The trailing average daily use per channel, rounded half up.
    pub fn average_daily_use(&self) -> Channels<u64> {
        self.rates().map(|r| r.over(DAY))
    }

    /// Validates one reading and, when it is applied, books its steps.
    pub fn apply(&mut self, raw: Reading) -> ValidatedReading {
        let rejections = self.rejections(&raw);
        if !rejections.is_empty() {
            return not_applied(raw, rejections);
        }
        match self.last {
            None => self.accept_baseline(raw),
            Some(prev) => self.accept_step(prev, raw),
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
        if let Some(prev) = self.last {
            // Formatted only for a rejection: this runs for every reading.
            let since = || format!("seq {} at {}", prev.seq, stamp(prev.time));
            if raw.seq == prev.seq {
                found.push((
                    Flag::Duplicate,
                    format!("same seq as the last accepted, {}", since()),
                ));
            } else if raw.time <= prev.time {
                found.push((
                    Flag::OutOfOrder,
                    format!("not after the last accepted, {}", since()),
                ));
            }
        }
        found
    }

    fn accept_baseline(&mut self, raw: Reading) -> ValidatedReading {
        self.last = Some(raw);
        self.first_period = Some(Period::of_unix(raw.time));
        self.changed_at = Channels::from_fn(|_| raw.time);
        let baseline = Step {
            kind: StepKind::Baseline,
            units: 0,
            allowance: 0,
        };
        ValidatedReading {
            raw,
            steps: Some(Channels::from_fn(|_| baseline)),
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
        let steps = self.steps(&prev, &raw);
        let findings = self.quality_findings(&raw, &steps);
        let units = steps.map(|s| s.units);
        let period = self.attribution_period(raw.time);
        let reversed = self.reverse_estimate(&raw, units);
        let explanation = if self.explain {
            self.explain_step(&prev, &raw, &steps, &findings, period, &reversed)
        } else {
            String::new()
        };
        self.book(period, units, reversed, &raw);
        let flags: Vec<Flag> = findings.into_iter().map(|(flag, _)| flag).collect();
        self.remember(prev, raw, units, &flags);
        ValidatedReading {
            raw,
            steps: Some(steps),
            flags,
            period: Some(period),
            reversed_estimate: reversed,
            explanation,
        }
    }

    fn explain_step(
        &self,
        prev: &Reading,
        raw: &Reading,
        steps: &Channels<Step>,
        findings: &[(Flag, String)],
        period: Period,
        reversed: &Channels<u64>,
    ) -> String {
        let mut lines = vec![format!(
            "{}, {} after seq {}",
            heading(raw),
            span(seconds_between(prev.time, raw.time)),
            prev.seq
        )];
        lines.extend(Channel::ALL.map(|c| self.describe_step(c, prev, raw, steps)));
        lines.extend(findings.iter().map(|(_, why)| why.clone()));
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

    /// Each channel's step, judged against the average before this reading.
    fn steps(&self, prev: &Reading, raw: &Reading) -> Channels<Step> {
        let elapsed = seconds_between(prev.time, raw.time);
        let average = self.average_daily_use();
        // A new board's first read: every counter at 0 is a reset, never a rollover.
        let new_board = raw.counters.is_zero();
        Channels::from_fn(|c| {
            let allowance = self.config.allowance(average.get(c), elapsed);
            let allowance_for_wrap = if new_board { 0 } else { allowance };
            Step {
                allowance,
                ..self.step(
                    prev.counters.get(c),
                    raw.counters.get(c),
                    allowance_for_wrap,
                )
            }
        })
    }

    /// The rollover-or-reset rule lives here (see the module docs).
    fn step(&self, prev: u64, new: u64, allowance: u64) -> Step {
        let (kind, units) = if new >= prev {
            (StepKind::Normal, new - prev)
        } else {
            match self.config.rollover_step(prev, new) {
                Some(units) if units <= allowance => (StepKind::Rollover, units),
                _ => (StepKind::Reset, new),
            }
        };
        Step {
            kind,
            units,
            allowance,
        }
    }

    /// Spike, zero and consistency checks, each with its reason.
    fn quality_findings(&self, raw: &Reading, steps: &Channels<Step>) -> Vec<(Flag, String)> {
        let mut found = Vec::new();
        for c in Channel::ALL {
            let step = steps.get(c);
            if step.units > step.allowance {
                let why = format!(
                    "spike: {} +{} is above the allowance {}",
                    c.name(),
                    step.units,
                    step.allowance
                );
                found.push((Flag::Spike(c), why));
            }
        }
        for c in Channel::ALL {
            let quiet = raw.time.saturating_sub(self.changed_at.get(c));
            if steps.get(c).units == 0 && quiet > self.config.zero_secs() {
                let why = format!(
                    "zero: {} unchanged since {} (more than {} days)",
                    c.name(),
                    stamp(self.changed_at.get(c)),
                    self.config.max_zero_days
                );
                found.push((Flag::Zero(c), why));
            }
        }
        let [total, mountings, trace] = Channel::ALL.map(|c| steps.get(c).units);
        if mountings.checked_add(trace) != Some(total) {
            let why = format!(
                "inconsistent: total_cycles +{total} ≠ mountings +{mountings} + trace_only +{trace}"
            );
            found.push((Flag::Inconsistent, why));
        }
        found
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
        let usage = self
            .open
            .entry(period)
            .or_insert_with(|| PeriodUsage::empty(period));
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

    /// Keeps what later readings are judged against: the window, the zero clocks, the last reading.
    fn remember(&mut self, prev: Reading, raw: Reading, units: Channels<u64>, flags: &[Flag]) {
        let step = WindowStep {
            time: raw.time,
            secs: seconds_between(prev.time, raw.time),
            units,
            spike: Channels::from_fn(|c| flags.contains(&Flag::Spike(c))),
        };
        self.window.push_back(step);
        self.add_to_sums(&step, true);
        let horizon = raw.time.saturating_sub(self.config.window_secs());
        while let Some(old) = self.window.front().copied().filter(|w| w.time <= horizon) {
            self.window.pop_front();
            self.add_to_sums(&old, false);
        }
        self.changed_at = Channels::from_fn(|c| {
            if units.get(c) > 0 {
                raw.time
            } else {
                self.changed_at.get(c)
            }
        });
        self.last = Some(raw);
    }

    /// Adds a step entering the window to the sums of the channels it is no spike on, or takes
    /// away one leaving it.
    fn add_to_sums(&mut self, step: &WindowStep, entering: bool) {
        self.window_sums = Channels::from_fn(|c| {
            let mut sum = self.window_sums.get(c);
            if !step.spike.get(c) {
                let (units, secs) = (u128::from(step.units.get(c)), u128::from(step.secs));
                if entering {
                    sum.units += units;
                    sum.secs += secs;
                } else {
                    sum.units -= units;
                    sum.secs -= secs;
                }
            }
            sum
        });
        debug_assert_eq!(
            self.window_sums,
            self.summed_window(),
            "window sums drifted"
        );
    }

    /// The sums recomputed from the window (what `window_sums` must always equal).
    fn summed_window(&self) -> Channels<WindowSum> {
        Channels::from_fn(|c| {
            self.window
                .iter()
                .filter(|w| !w.spike.get(c))
                .fold(WindowSum::default(), |sum, w| WindowSum {
                    units: sum.units + u128::from(w.units.get(c)),
                    secs: sum.secs + u128::from(w.secs),
                })
        })
    }

    /// Trailing use per channel, spikes left out (sums beyond u64 saturate).
    fn rates(&self) -> Channels<Rate> {
        self.window_sums.map(|sum| Rate {
            units: u64::try_from(sum.units).unwrap_or(u64::MAX),
            secs: u64::try_from(sum.secs).unwrap_or(u64::MAX),
        })
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
        self.estimate_tail(&mut usage);
        self.closed_through = Some(period);
        usage
    }

    /// Estimates the closing period's unread tail and adds it to the outstanding estimate.
    fn estimate_tail(&mut self, usage: &mut PeriodUsage) {
        let Some(last) = self.last else {
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
        let rates = self.rates();
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

    fn describe_step(
        &self,
        c: Channel,
        prev: &Reading,
        raw: &Reading,
        steps: &Channels<Step>,
    ) -> String {
        let (old, new, step) = (prev.counters.get(c), raw.counters.get(c), steps.get(c));
        let head = format!("{} {old} → {new}", c.name());
        match step.kind {
            StepKind::Baseline | StepKind::Normal => format!("{head}: +{}", step.units),
            StepKind::Rollover => format!(
                "{head}: rollover +{} (= {} − {old} + {new}, within the allowance {})",
                step.units,
                self.config.modulus_wide(),
                step.allowance
            ),
            StepKind::Reset => {
                let wrap = self
                    .config
                    .rollover_step(old, new)
                    .map_or("impossible".to_string(), |w| format!("+{w}"));
                format!(
                    "{head}: reset +{} (restarted at 0; a rollover would be {wrap}, allowance {})",
                    step.units, step.allowance
                )
            }
        }
    }
}

fn not_applied(raw: Reading, rejections: Vec<(Flag, String)>) -> ValidatedReading {
    let reasons: Vec<String> = rejections.iter().map(|(_, why)| why.clone()).collect();
    ValidatedReading {
        raw,
        steps: None,
        flags: rejections.into_iter().map(|(flag, _)| flag).collect(),
        period: None,
        reversed_estimate: Channels::default(),
        explanation: format!("{}: not applied: {}", heading(&raw), reasons.join("; ")),
    }
}

fn describe_booking(period: Period, reversed: &Channels<u64>) -> String {
    if reversed.is_zero() {
        format!("billed in {period}")
    } else {
        format!("billed in {period}, less {reversed} already billed as an estimate (true-up)")
    }
}

fn heading(raw: &Reading) -> String {
    format!("seq {} at {}", raw.seq, stamp(raw.time))
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

/// Unix seconds of the period's first instant (UTC).
fn stamp(time: i64) -> String {
    DateTime::from_timestamp(time, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| time.to_string())
}

/// A duration as `3 d 04:30:00`.
fn span(secs: u64) -> String {
    let (days, rest) = (secs / DAY, secs % DAY);
    let (hours, minutes, seconds) = (rest / HOUR, rest % HOUR / 60, rest % 60);
    format!("{days} d {hours:02}:{minutes:02}:{seconds:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2024-01-01T19:30:00Z: the simulator's end-of-day read on the first day of 2024.
    const JAN_1_1930: i64 = 1_704_137_400;

    fn at(day: i64) -> i64 {
        JAN_1_1930 + day * DAY as i64
    }

    fn reading(seq: u64, time: i64, total: u64, mountings: u64, trace: u64) -> Reading {
        Reading {
            seq,
            time,
            counters: Channels {
                total_cycles: total,
                mountings,
                trace_only: trace,
            },
            removal: false,
        }
    }

    /// The same reading, taken when the machine is removed.
    fn removal(r: Reading) -> Reading {
        Reading { removal: true, ..r }
    }

    fn period(year: i32, month: u32) -> Period {
        Period { year, month }
    }

    /// Applies daily readings (day index, seq = day + 1) that add `per_day` = (mountings,
    /// trace_only) each day, total = their sum; returns the counters after the last one.
    fn daily(
        vee: &mut MachineVee,
        days: std::ops::RangeInclusive<i64>,
        start: (u64, u64),
        per_day: (u64, u64),
    ) -> (u64, u64) {
        let (mut m, mut t) = start;
        for day in days {
            if vee.last_accepted().is_some() {
                m += per_day.0;
                t += per_day.1;
            }
            let v = vee.apply(reading(day as u64 + 1, at(day), m + t, m, t));
            assert!(v.applied() && v.flags.is_empty(), "{}", v.explanation);
        }
        (m, t)
    }

    #[test]
    fn period_start_is_midnight_utc_on_the_first() {
        assert_eq!(period(2024, 1).start_unix(), 1_704_067_200);
        assert_eq!(period(2024, 3).start_unix(), 1_709_251_200);
        assert_eq!(
            Period::of_unix(period(2024, 3).start_unix() - 1),
            period(2024, 2)
        );
    }

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(round_half_up(255, 10), 26);
        assert_eq!(round_half_up(254, 10), 25);
        assert_eq!(round_half_up(6375, 1000), 6);
        assert_eq!(round_half_up(1, 2), 1);
        assert_eq!(round_half_up(0, 7), 0);
    }

    #[test]
    fn counter_events_become_readings() {
        let event = UsageEvent {
            machine: crate::event::MachineId(1),
            seq: 9,
            time: 42,
            shop: crate::event::ShopId(2),
            body: EventBody::Counter {
                total_cycles: 10,
                mountings: 8,
                trace_only: 2,
                removal: false,
            },
        };
        assert_eq!(Reading::from_event(&event), Some(reading(9, 42, 10, 8, 2)));
        let removed = UsageEvent {
            body: EventBody::Counter {
                total_cycles: 10,
                mountings: 8,
                trace_only: 2,
                removal: true,
            },
            ..event
        };
        assert_eq!(
            Reading::from_event(&removed),
            Some(removal(reading(9, 42, 10, 8, 2)))
        );
        let trace = UsageEvent {
            body: EventBody::TraceOnly {
                frame: crate::event::Frame::FullRim,
            },
            ..event
        };
        assert_eq!(Reading::from_event(&trace), None);
    }

    #[test]
    fn first_reading_is_a_baseline_without_usage() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let v = vee.apply(reading(1, at(0), 500, 400, 100));
        assert!(v.applied());
        assert_eq!(v.steps.unwrap().mountings.kind, StepKind::Baseline);
        assert!(v.units().is_zero());
        assert_eq!(v.period, None);
        assert!(v.explanation.contains("baseline"), "{}", v.explanation);
    }

    /// An 8-digit counter (modulus 100_000_000) at 99_999_678 counts 99_999_679 ..= 99_999_999
    /// (99_999_999 − 99_999_678 = 321 units), wraps to 0 (1 unit: 99_999_999 → 0 is a count
    /// like any other), then 1 ..= 123 (123 units): 321 + 1 + 123 = 445 = 100_000_000 −
    /// 99_999_678 + 123. The field notes' "444" is 99_999_999 − 99_999_678 + 123, which drops
    /// the wrap's own count; a counter that counted 444 times from 99_999_678 would show 122.
    #[test]
    fn rollover_of_an_8_digit_counter_is_445_units() {
        let config = VeeConfig {
            modulus: 100_000_000,
            ..VeeConfig::default()
        };
        let mut vee = MachineVee::new(config);
        // 100 mountings a day for 4 days: 99_999_278 → 99_999_678; allowance 5 × 100 = 500.
        for day in 0..=4u64 {
            let m = 99_999_278 + 100 * day;
            let v = vee.apply(reading(day + 1, at(day as i64), 5_000 + 100 * day, m, 0));
            assert!(v.flags.is_empty(), "{}", v.explanation);
        }
        assert_eq!(vee.average_daily_use().mountings, 100);
        let v = vee.apply(reading(6, at(5), 5_845, 123, 0));
        let step = v.steps.unwrap().mountings;
        assert_eq!(
            step,
            Step {
                kind: StepKind::Rollover,
                units: 445,
                allowance: 500
            }
        );
        assert_eq!(v.units().total_cycles, 445);
        assert!(v.flags.is_empty(), "{}", v.explanation);
        assert!(
            v.explanation
                .contains("rollover +445 (= 100000000 − 99999678 + 123"),
            "{}",
            v.explanation
        );
    }

    /// The same drop is a rollover when 445 is within the allowance, a reset (123) when not.
    #[test]
    fn rollover_or_reset_is_decided_by_the_allowance() {
        for (allowance, kind, units) in
            [(445, StepKind::Rollover, 445), (444, StepKind::Reset, 123)]
        {
            let config = VeeConfig {
                modulus: 100_000_000,
                min_daily_allowance: allowance,
                ..VeeConfig::default()
            };
            let mut vee = MachineVee::new(config);
            vee.apply(reading(1, at(0), 0, 99_999_678, 0));
            let v = vee.apply(reading(2, at(1), 0, 123, 0));
            let step = v.steps.unwrap().mountings;
            assert_eq!((step.kind, step.units), (kind, units), "{}", v.explanation);
        }
    }

    /// 100 → 350 → 50: +250, then a reset (a 32-bit wrap would be 2^32 − 350 + 50 = 4_294_966_996 units), +50.
    /// Reset-aware usage is 300; a naive end − start would say −50.
    #[test]
    fn reset_aware_usage_of_100_350_50_is_300() {
        let mut vee = MachineVee::new(VeeConfig::default());
        // Three days apart, so 250 stays within the new machine's 3 × 100 allowance.
        vee.apply(reading(1, at(0), 100, 100, 0));
        let up = vee.apply(reading(2, at(3), 350, 350, 0));
        let down = vee.apply(reading(3, at(6), 50, 50, 0));
        let (up, down) = (up.steps.unwrap(), down.steps.unwrap());
        assert_eq!(
            (up.total_cycles.kind, up.total_cycles.units),
            (StepKind::Normal, 250)
        );
        assert_eq!(
            (down.total_cycles.kind, down.total_cycles.units),
            (StepKind::Reset, 50)
        );
        assert_eq!(down.mountings.kind, StepKind::Reset);
        assert_eq!(up.total_cycles.units + down.total_cycles.units, 300);
        let billed = vee
            .open_periods()
            .map(|p| p.billed().total_cycles)
            .sum::<i128>();
        assert_eq!(billed, 300);
    }

    #[test]
    fn reset_explanation_names_the_rejected_rollover() {
        let mut vee = MachineVee::new(VeeConfig::default());
        vee.apply(reading(1, at(0), 350, 350, 0));
        let v = vee.apply(reading(2, at(1), 50, 50, 0));
        assert!(
            v.explanation
                .contains("total_cycles 350 → 50: reset +50 (restarted at 0; a rollover would be +4294966996, allowance 100)"),
            "{}",
            v.explanation
        );
    }

    /// 40/day for 10 days: allowance max(100, 5 × 40) = 200 a day. +200 passes, +201 is a
    /// spike: kept, billed, flagged, and left out of the average.
    #[test]
    fn spike_is_flagged_kept_and_left_out_of_the_average() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, _) = daily(&mut vee, 0..=10, (0, 0), (40, 0));
        let ok = vee.apply(reading(12, at(11), m + 200, m + 200, 0));
        assert!(ok.flags.is_empty(), "{}", ok.explanation);
        let m = m + 200;
        // The average now includes the 200: (400 + 200) / 11 days = 54.5 → 55; allowance 275.
        assert_eq!(vee.average_daily_use().mountings, 55);
        let v = vee.apply(reading(13, at(12), m + 276, m + 276, 0));
        assert_eq!(
            v.flags,
            vec![
                Flag::Spike(Channel::TotalCycles),
                Flag::Spike(Channel::Mountings)
            ]
        );
        assert_eq!(v.units().mountings, 276);
        assert!(
            v.explanation
                .contains("spike: mountings +276 is above the allowance 275"),
            "{}",
            v.explanation
        );
        assert_eq!(
            vee.average_daily_use().mountings,
            55,
            "the spike is not averaged"
        );
        let billed: i128 = vee.open_periods().map(|p| p.billed().mountings).sum();
        assert_eq!(billed, 400 + 200 + 276, "spiked usage is still billed");
    }

    #[test]
    fn a_new_machine_is_allowed_the_minimum_per_day() {
        for (used, flagged) in [(100, false), (101, true)] {
            let mut vee = MachineVee::new(VeeConfig::default());
            vee.apply(reading(1, at(0), 0, 0, 0));
            let v = vee.apply(reading(2, at(1), used, used, 0));
            assert_eq!(
                v.flags.contains(&Flag::Spike(Channel::Mountings)),
                flagged,
                "{}",
                v.explanation
            );
        }
    }

    /// trace_only stays at 0 under daily readings: 14 days unchanged is allowed, 15 is flagged,
    /// and the flag stays until the channel moves.
    #[test]
    fn zero_channel_is_flagged_after_max_zero_days() {
        let mut vee = MachineVee::new(VeeConfig::default());
        daily(&mut vee, 0..=14, (0, 0), (3, 0));
        let v = vee.apply(reading(16, at(15), 48, 48, 0));
        assert_eq!(v.flags, vec![Flag::Zero(Channel::TraceOnly)]);
        assert!(
            v.explanation.contains(
                "zero: trace_only unchanged since 2024-01-01T19:30:00Z (more than 14 days)"
            ),
            "{}",
            v.explanation
        );
        let v = vee.apply(reading(17, at(16), 52, 51, 1));
        assert!(v.flags.is_empty(), "{}", v.explanation);
    }

    #[test]
    fn duplicates_late_and_out_of_range_readings_are_not_applied() {
        let config = VeeConfig {
            modulus: 100_000_000,
            ..VeeConfig::default()
        };
        let mut vee = MachineVee::new(config);
        vee.apply(reading(1, at(0), 10, 10, 0));
        vee.apply(reading(2, at(1), 20, 20, 0));
        let duplicate = vee.apply(reading(2, at(1), 20, 20, 0));
        assert_eq!(duplicate.flags, vec![Flag::Duplicate]);
        let stale = vee.apply(reading(3, at(1) - 60, 15, 15, 0));
        assert_eq!(stale.flags, vec![Flag::OutOfOrder]);
        let same_time = vee.apply(reading(4, at(1), 25, 25, 0));
        assert_eq!(same_time.flags, vec![Flag::OutOfOrder]);
        let too_big = vee.apply(reading(5, at(2), 100_000_000, 30, 0));
        assert_eq!(too_big.flags, vec![Flag::OutOfRange(Channel::TotalCycles)]);
        for v in [&duplicate, &stale, &same_time, &too_big] {
            assert!(!v.applied() && v.period.is_none() && v.units().is_zero());
            assert!(v.flags.iter().all(|f| f.rejects()));
            assert!(v.explanation.contains("not applied"), "{}", v.explanation);
        }
        assert_eq!(vee.last_accepted(), Some(&reading(2, at(1), 20, 20, 0)));
        // A restarted seq with a later time is accepted: time orders readings.
        assert!(vee.apply(reading(1, at(2), 30, 30, 0)).applied());
    }

    #[test]
    fn inconsistent_channels_are_flagged() {
        let mut vee = MachineVee::new(VeeConfig::default());
        vee.apply(reading(1, at(0), 100, 80, 20));
        let v = vee.apply(reading(2, at(1), 105, 83, 21));
        assert_eq!(v.flags, vec![Flag::Inconsistent]);
        assert!(
            v.explanation
                .contains("total_cycles +5 ≠ mountings +3 + trace_only +1"),
            "{}",
            v.explanation
        );
        assert_eq!(
            v.units(),
            Channels {
                total_cycles: 5,
                mountings: 3,
                trace_only: 1
            }
        );
    }

    /// A step whose readings straddle a month end goes wholly to the later reading's month; a
    /// January whose last reading is 4.5 h before its end is not estimated.
    #[test]
    fn a_step_across_a_month_end_goes_to_the_later_reading() {
        let mut vee = MachineVee::new(VeeConfig::default());
        daily(&mut vee, 0..=30, (0, 0), (8, 2)); // Jan 1 .. Jan 31
        let v = vee.apply(reading(32, at(31), 310, 248, 62)); // Feb 1 19:30
        assert_eq!(v.period, Some(period(2024, 2)));
        let closed = vee.close_through(period(2024, 1));
        assert_eq!(closed.len(), 1);
        assert!(!closed[0].estimated);
        assert_eq!(closed[0].billed().total_cycles, 300);
        assert_eq!(vee.open_periods().next().unwrap().actual.total_cycles, 10);
    }

    /// Hand-computed. 10/day (8 mountings + 2 trace-only) read daily at 19:30 from Jan 1
    /// (baseline) to Jan 28: January's actual steps are 27 × 10 = 270. The window holds 27
    /// steps of one day each: 10/day exactly. January closes with its last reading at Jan 28
    /// 19:30, 3 d 04:30 = 275_400 s (3.1875 days) before Feb 1 00:00, so the estimate is
    /// total 10 × 3.1875 = 31.875 → 32, mountings 8 × 3.1875 = 25.5 → 26 (half up), trace-only
    /// 2 × 3.1875 = 6.375 → 6. January bills 270 + 32 = 302.
    /// The Feb 3 reading shows 70 since Jan 28 (56 + 14): February bills 70 − 32 = 38 for it,
    /// then 26 daily steps of 10 (Feb 4 .. Feb 29, 2024 is a leap year) = 260: 298 in all.
    /// Feb 29 19:30 is 4.5 h before March: within the 24 h grace, not estimated.
    /// 302 + 298 = 600 = 270 + 70 + 260, every unit once.
    #[test]
    fn missing_end_of_period_reading_is_estimated_then_trued_up() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2)); // Jan 1 .. Jan 28
        assert_eq!(
            vee.average_daily_use(),
            Channels {
                total_cycles: 10,
                mountings: 8,
                trace_only: 2
            }
        );

        let january = vee.close_through(period(2024, 1));
        assert_eq!(january.len(), 1);
        let january = &january[0];
        assert!(january.estimated);
        assert_eq!(
            january.actual,
            Channels {
                total_cycles: 270,
                mountings: 216,
                trace_only: 54
            }
        );
        assert_eq!(
            january.estimate,
            Channels {
                total_cycles: 32,
                mountings: 26,
                trace_only: 6
            }
        );
        assert_eq!(
            january.billed(),
            Channels {
                total_cycles: 302,
                mountings: 242,
                trace_only: 60
            }
        );
        assert!(
            january.notes[0].contains("2024-01-28T19:30:00Z → 2024-02-01T00:00:00Z (3 d 04:30:00)"),
            "{}",
            january.notes[0]
        );
        assert_eq!(vee.outstanding_estimate(), january.estimate);

        let (m, t) = (m + 56, t + 14);
        let feb_3 = vee.apply(reading(100, at(33), m + t, m, t));
        assert_eq!(feb_3.period, Some(period(2024, 2)));
        assert_eq!(
            feb_3.units(),
            Channels {
                total_cycles: 70,
                mountings: 56,
                trace_only: 14
            }
        );
        assert_eq!(feb_3.reversed_estimate, january.estimate);
        assert!(
            feb_3.explanation.contains("true-up"),
            "{}",
            feb_3.explanation
        );
        assert!(vee.outstanding_estimate().is_zero());

        // Feb 4 .. Feb 29 (seq need not increase: time orders readings).
        daily(&mut vee, 34..=59, (m, t), (8, 2));
        let february = vee.close_through(period(2024, 2));
        let february = &february[0];
        assert!(!february.estimated);
        assert_eq!(february.actual.total_cycles, 70 + 260);
        assert_eq!(february.reversed_estimate.total_cycles, 32);
        assert_eq!(
            february.billed(),
            Channels {
                total_cycles: 298,
                mountings: 238,
                trace_only: 60
            }
        );
        assert_eq!(
            january.billed().total_cycles + february.billed().total_cycles,
            600
        );
    }

    /// The same January, but Feb 3 shows only 20 since Jan 28: February is credited 20 − 32 = −12.
    #[test]
    fn an_estimate_that_was_too_high_becomes_a_credit() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        vee.close_through(period(2024, 1));
        vee.apply(reading(100, at(33), m + t + 20, m + 16, t + 4));
        let february = vee.open_periods().next().unwrap();
        assert_eq!(
            february.billed(),
            Channels {
                total_cycles: -12,
                mountings: -10,
                trace_only: -2
            }
        );
    }

    /// A late reading inside the estimated interval (Jan 30, arriving after January closed)
    /// goes to February and reverses only itself (15 of 32); Feb 3 reverses the other 17.
    #[test]
    fn a_late_reading_inside_the_estimate_reverses_only_itself() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        vee.close_through(period(2024, 1));
        let late = vee.apply(reading(100, at(29), m + t + 15, m + 12, t + 3));
        assert_eq!(late.period, Some(period(2024, 2)));
        assert_eq!(late.reversed_estimate.total_cycles, 15);
        assert_eq!(vee.outstanding_estimate().total_cycles, 17);
        let feb_3 = vee.apply(reading(101, at(33), m + t + 70, m + 56, t + 14));
        assert_eq!(feb_3.reversed_estimate.total_cycles, 17);
        let february = vee.open_periods().next().unwrap();
        assert_eq!(february.billed().total_cycles, 70 - 32);
    }

    /// Silent through February: January is estimated to Feb 1 (32), February for all its 29
    /// days (290); the Mar 5 reading reverses both.
    #[test]
    fn estimates_carry_across_silent_periods() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        let closed = vee.close_through(period(2024, 2));
        assert_eq!(
            closed.iter().map(|p| p.period).collect::<Vec<_>>(),
            [period(2024, 1), period(2024, 2)]
        );
        assert_eq!(closed[1].estimate.total_cycles, 290);
        assert_eq!(closed[1].actual.total_cycles, 0);
        assert_eq!(vee.outstanding_estimate().total_cycles, 322);
        let march_5 = vee.apply(reading(100, at(64), m + t + 350, m + 280, t + 70));
        assert_eq!(march_5.reversed_estimate.total_cycles, 322);
        assert_eq!(
            vee.open_periods().next().unwrap().billed().total_cycles,
            350 - 322
        );
    }

    #[test]
    fn without_history_the_estimate_is_zero_but_marked() {
        let mut vee = MachineVee::new(VeeConfig::default());
        vee.apply(reading(1, at(10), 0, 0, 0));
        let january = vee.close_through(period(2024, 1));
        assert!(january[0].estimated);
        assert!(january[0].estimate.is_zero());
        assert!(
            january[0].notes[0].contains("no history"),
            "{}",
            january[0].notes[0]
        );
    }

    #[test]
    fn closing_starts_at_the_baseline_period_and_never_repeats() {
        let mut vee = MachineVee::new(VeeConfig::default());
        assert_eq!(vee.close_through(period(2023, 12)).len(), 1);
        let mut vee = MachineVee::new(VeeConfig::default());
        vee.apply(reading(1, at(0), 0, 0, 0));
        vee.apply(reading(2, at(70), 10, 10, 0)); // Mar 11
        let closed = vee.close_through(period(2024, 2));
        assert_eq!(
            closed.iter().map(|p| p.period).collect::<Vec<_>>(),
            [period(2024, 1), period(2024, 2)]
        );
        assert!(
            closed.iter().all(|p| !p.estimated),
            "a later reading covers both"
        );
        assert!(vee.close_through(period(2024, 2)).is_empty());
    }

    /// January at 10/day read daily through Jan 27, then the Jan 28 read (+10), flagged as the
    /// removal read or not; then January, February and March close with no further reading.
    fn closes_after_a_last_read_on_jan_28(flagged: bool) -> (MachineVee, Vec<PeriodUsage>) {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=26, (0, 0), (8, 2));
        let last = reading(28, at(27), m + t + 10, m + 8, t + 2);
        let v = vee.apply(Reading {
            removal: flagged,
            ..last
        });
        assert!(v.applied() && v.flags.is_empty(), "{}", v.explanation);
        let closed = vee.close_through(period(2024, 3));
        assert_eq!(closed.len(), 3);
        (vee, closed)
    }

    /// (a) A removed machine has no unread tail: three closes after its removal read estimate
    /// nothing, and January bills exactly its 27 steps of 10.
    #[test]
    fn no_tail_is_estimated_after_a_removal_read() {
        let (vee, closed) = closes_after_a_last_read_on_jan_28(true);
        assert!(vee.is_removed());
        for p in &closed {
            assert!(!p.estimated, "{}: {:?}", p.period, p.notes);
            assert!(p.estimate.is_zero());
        }
        assert!(vee.outstanding_estimate().is_zero());
        assert_eq!(closed[0].billed().total_cycles, 270);
        assert!(closed[1..].iter().all(|p| p.billed().total_cycles == 0));
    }

    /// (b) The same history without the flag: the machine is still in the shop, so every close
    /// estimates its tail (January's 3 d 04:30 → 32, February's 29 days → 290, March's 31 → 310).
    #[test]
    fn the_same_history_without_the_removal_flag_is_estimated() {
        let (vee, closed) = closes_after_a_last_read_on_jan_28(false);
        assert!(!vee.is_removed());
        assert!(closed.iter().all(|p| p.estimated));
        let estimates: Vec<u64> = closed.iter().map(|p| p.estimate.total_cycles).collect();
        assert_eq!(estimates, [32, 290, 310]);
        assert_eq!(vee.outstanding_estimate().total_cycles, 632);
    }

    /// (c) January is estimated (32 from Jan 28 19:30), then the machine is removed on Feb 3
    /// with 70 since Jan 28: the removal read is the first reading after the estimate and trues
    /// it up (February bills 70 − 32 = 38); February and March close without an estimate.
    /// 302 + 38 = 340 = 270 + 70, every unit once.
    #[test]
    fn an_outstanding_estimate_is_trued_up_by_the_removal_read() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        let january = vee.close_through(period(2024, 1)).remove(0);
        assert_eq!(january.estimate.total_cycles, 32);
        let v = vee.apply(removal(reading(100, at(33), m + t + 70, m + 56, t + 14)));
        assert_eq!(v.period, Some(period(2024, 2)));
        assert_eq!(v.reversed_estimate, january.estimate);
        assert!(v.explanation.contains("true-up"), "{}", v.explanation);
        assert!(v.explanation.contains("removal read"), "{}", v.explanation);
        assert!(vee.outstanding_estimate().is_zero());
        let closed = vee.close_through(period(2024, 3));
        assert!(closed.iter().all(|p| !p.estimated), "{closed:?}");
        assert_eq!(closed[0].billed().total_cycles, 70 - 32);
        assert!(
            closed[0]
                .notes
                .iter()
                .any(|n| n.starts_with("removal: seq 100")),
            "{:?}",
            closed[0].notes
        );
        assert_eq!(
            january.billed().total_cycles + closed[0].billed().total_cycles,
            270 + 70
        );
    }

    /// A removal read dated inside the estimated interval (Jan 30, after January closed with 32
    /// estimated to Feb 1) reverses all 32, not only its own 15: nothing will follow it, and the
    /// use estimated after Jan 30 never happened. February bills 15 − 32 = −17.
    #[test]
    fn a_late_removal_read_inside_the_estimate_reverses_all_of_it() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        vee.close_through(period(2024, 1));
        let v = vee.apply(removal(reading(100, at(29), m + t + 15, m + 12, t + 3)));
        assert_eq!(v.reversed_estimate.total_cycles, 32);
        assert!(vee.outstanding_estimate().is_zero());
        let february = vee.close_through(period(2024, 2)).remove(0);
        assert_eq!(february.billed().total_cycles, 15 - 32);
        assert!(!february.estimated);
    }

    /// (d) Removed on Jan 29 (nothing estimated for January's 2 d 04:30 tail nor for February),
    /// reinstalled with a read on Mar 4 showing 8 more: that step is billed in March as usual,
    /// the machine is no longer removed, and March's close estimates its tail again.
    #[test]
    fn a_reading_after_the_removal_reinstalls_the_machine() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        let (m, t) = (m + 8, t + 2);
        vee.apply(removal(reading(29, at(28), m + t, m, t)));
        let closed = vee.close_through(period(2024, 2));
        assert!(closed.iter().all(|p| !p.estimated), "{closed:?}");

        let (m, t) = (m + 6, t + 2);
        let v = vee.apply(reading(64, at(63), m + t, m, t));
        assert!(v.flags.is_empty(), "{}", v.explanation);
        assert_eq!(v.period, Some(period(2024, 3)));
        assert_eq!(v.units().total_cycles, 8);
        assert!(v.reversed_estimate.is_zero());
        assert!(v.explanation.contains("reinstalled"), "{}", v.explanation);
        assert!(!vee.is_removed());

        daily(&mut vee, 64..=79, (m, t), (8, 2)); // Mar 5 .. Mar 20
        let march = vee.close_through(period(2024, 3)).remove(0);
        assert!(march.estimated, "{:?}", march.notes);
        assert!(march.estimate.total_cycles > 0);
        assert_eq!(march.actual.total_cycles, 8 + 16 * 10);
    }

    /// A removal read that is not applied does not remove: the machine is still estimated.
    #[test]
    fn a_rejected_removal_read_does_not_remove() {
        let mut vee = MachineVee::new(VeeConfig::default());
        let (m, t) = daily(&mut vee, 0..=27, (0, 0), (8, 2));
        let duplicate = vee.apply(removal(reading(28, at(28), m + t, m, t)));
        assert_eq!(duplicate.flags, vec![Flag::Duplicate]);
        let stale = vee.apply(removal(reading(99, at(27) - 60, m + t, m, t)));
        assert_eq!(stale.flags, vec![Flag::OutOfOrder]);
        assert!(!vee.is_removed());
        assert!(vee.close_through(period(2024, 1))[0].estimated);
    }

    /// One step of the conservation property's machine.
    #[derive(Clone, Debug)]
    enum Op {
        Read {
            gap: i64,
            mountings: u64,
            trace: u64,
            reset: bool,
            removal: bool,
        },
        Resend,
        Stale,
        CloseEnded,
        CloseCurrent,
    }

    fn op() -> impl Strategy<Value = Op> {
        let gap = prop_oneof![
            8 => (DAY as i64 - 3_600)..=(DAY as i64 + 3_600),
            2 => (DAY as i64)..=(6 * DAY as i64),
            1 => (6 * DAY as i64)..=(40 * DAY as i64),
        ];
        let read = (
            gap,
            0u64..=40,
            0u64..=10,
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.05),
        )
            .prop_map(|(gap, mountings, trace, reset, removal)| Op::Read {
                gap,
                mountings,
                trace,
                reset,
                removal,
            });
        prop_oneof![
            12 => read,
            1 => Just(Op::Resend),
            1 => Just(Op::Stale),
            2 => Just(Op::CloseEnded),
            1 => Just(Op::CloseCurrent),
        ]
    }

    /// The true counters of a simulated machine: they wrap at the modulus, and a board swap
    /// restarts them at 0 right after a reading (so reset-aware usage is the true usage).
    struct Truth {
        counters: Channels<u64>,
        used: Channels<u64>,
        time: i64,
        seq: u64,
    }

    const MODULUS: u64 = 1_000_000;

    impl Truth {
        fn run(&mut self, gap: i64, mountings: u64, trace: u64, reset: bool) -> Reading {
            let used = Channels {
                total_cycles: mountings + trace,
                mountings,
                trace_only: trace,
            };
            if reset && self.reset_is_visible(&used) {
                self.counters = Channels::default();
            }
            self.counters = Channels::from_fn(|c| (self.counters.get(c) + used.get(c)) % MODULUS);
            self.used = self.used.plus(&used);
            self.time += gap;
            self.seq += 1;
            self.now()
        }

        /// A reset the data can show: every channel drops (or was 0 anyway, so nothing
        /// changes), from below half the range (near the top a reset looks like a wrap).
        fn reset_is_visible(&self, used: &Channels<u64>) -> bool {
            Channel::ALL.iter().all(|&c| {
                let before = self.counters.get(c);
                before < MODULUS / 2 && (before == 0 || used.get(c) < before)
            })
        }

        fn now(&self) -> Reading {
            Reading {
                seq: self.seq,
                time: self.time,
                counters: self.counters,
                removal: false,
            }
        }
    }

    fn previous(p: Period) -> Period {
        Period::of_unix(p.start_unix() - 1)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// For random streams with wraps, resets, gaps over month ends, duplicates, stale
        /// readings, removal reads (and reinstallations), and closes at any time: every accepted
        /// step equals the true usage, every estimate is reversed exactly once, nothing is
        /// estimated while the machine is removed, and the billed total over all periods is the
        /// true total, channel by channel.
        #[test]
        fn billed_usage_is_conserved(
            start in proptest::array::uniform3(MODULUS - 600..MODULUS),
            offset in 0i64..(DAY as i64),
            ops in proptest::collection::vec(op(), 1..160),
        ) {
            let config = VeeConfig { modulus: MODULUS, ..VeeConfig::default() };
            let mut vee = MachineVee::new(config);
            let mut truth = Truth {
                counters: Channels { total_cycles: start[0], mountings: start[1], trace_only: start[2] },
                used: Channels::default(),
                time: period(2024, 1).start_unix() + offset,
                seq: 1,
            };
            let mut steps = Channels::default();
            let mut closed: Vec<PeriodUsage> = Vec::new();
            prop_assert!(vee.apply(truth.now()).applied());
            for op in ops {
                match op {
                    Op::Read { gap, mountings, trace, reset, removal } => {
                        let read = Reading { removal, ..truth.run(gap, mountings, trace, reset) };
                        let v = vee.apply(read);
                        prop_assert!(v.applied(), "{}", v.explanation);
                        prop_assert_eq!(vee.is_removed(), removal);
                        // The running window sums are the window's own sums.
                        prop_assert_eq!(vee.window_sums, vee.summed_window());
                        steps = steps.plus(&v.units());
                    }
                    Op::Resend => {
                        let v = vee.apply(truth.now());
                        prop_assert_eq!(v.flags, vec![Flag::Duplicate]);
                    }
                    Op::Stale => {
                        let stale = Reading { seq: truth.seq + 1_000_000, time: truth.time - offset, ..truth.now() };
                        prop_assert_eq!(vee.apply(stale).flags, vec![Flag::OutOfOrder]);
                    }
                    Op::CloseEnded | Op::CloseCurrent => {
                        let mut through = Period::of_unix(truth.time);
                        if matches!(op, Op::CloseEnded) {
                            through = previous(through);
                        }
                        let removed = vee.is_removed();
                        let now = vee.close_through(through);
                        // A removal read settled every estimate and stops new ones.
                        prop_assert!(!removed || now.iter().all(|p| !p.estimated && p.estimate.is_zero()));
                        prop_assert!(!removed || vee.outstanding_estimate().is_zero());
                        closed.extend(now);
                    }
                }
            }
            // A last reading after every closed period settles any estimate still outstanding.
            let after_closed = closed.last().map_or(truth.time, |p| p.period.next().start_unix());
            let gap = after_closed.max(truth.time) - truth.time + DAY as i64;
            steps = steps.plus(&vee.apply(truth.run(gap, 5, 1, false)).units());

            prop_assert!(vee.outstanding_estimate().is_zero());
            prop_assert_eq!(steps, truth.used, "reset/rollover-aware steps are the true usage");
            for pair in closed.windows(2) {
                prop_assert_eq!(pair[0].period.next(), pair[1].period, "periods close once, in order");
            }
            let all: Vec<&PeriodUsage> = closed.iter().chain(vee.open_periods()).collect();
            for c in Channel::ALL {
                let billed: i128 = all.iter().map(|p| p.billed().get(c)).sum();
                prop_assert_eq!(billed, i128::from(truth.used.get(c)), "{}", c.name());
                let estimated: u64 = all.iter().map(|p| p.estimate.get(c)).sum();
                let reversed: u64 = all.iter().map(|p| p.reversed_estimate.get(c)).sum();
                prop_assert_eq!(estimated, reversed, "every estimate reversed exactly once");
            }
        }
    }

    #[test]
    fn a_new_boards_zero_read_is_a_reset_even_just_under_the_top() {
        let mut vee = MachineVee::new(VeeConfig {
            modulus: 1_000,
            ..VeeConfig::default()
        });
        vee.apply(reading(1, at(0), 990, 990, 0));
        // Just under the top, a drop to 5 is read as a wrap of 15 (within the allowance)...
        let wrap = vee.clone().apply(reading(2, at(1), 5, 5, 0));
        assert_eq!(wrap.steps.unwrap().mountings.kind, StepKind::Rollover);
        // ...but the new board's zero read says it restarted: the old count ended at 990.
        let zero = vee.apply(reading(2, at(1), 0, 0, 0));
        let steps = zero.steps.unwrap();
        assert_eq!(
            (steps.mountings.kind, steps.mountings.units),
            (StepKind::Reset, 0)
        );
        let next = vee.apply(reading(3, at(1) + 3_600, 5, 5, 0));
        assert_eq!(
            next.steps.unwrap().mountings.units,
            5,
            "{}",
            next.explanation
        );
    }
}
