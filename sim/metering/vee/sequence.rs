//! The validation side of VEE: what a machine's readings, in time order, say about each step
//! (rollover or reset, spike, zero, consistency), and the recent readings kept so that a late
//! one can be put in its place and the steps after it derived again.
//!
//! A [`Sequence`] is the state after a prefix of the time-ordered readings: the last reading,
//! the trailing window of steps (for the average daily use) and when each channel last changed.
//! It is a pure function of that prefix, which is what makes re-sequencing exact: the steps
//! derived again from the state before a late reading are the steps an in-order arrival gives.

use super::text::stamp;
use super::{seconds_between, Channel, Channels, Flag, Reading, Step, StepKind, VeeConfig, DAY};
use std::collections::VecDeque;
use std::fmt;

/// How far back, at least, from the latest reading, readings are kept to place a late one:
/// the calibration's longest outage, six weeks, so that even a backlog delivered newest first
/// is put back in order. A reading older than the kept ones is not applied (see the rules).
pub const RESEQUENCE_DAYS: i64 = 42;

/// At most this many readings are kept per machine, whatever their times (a sender that reads
/// hourly keeps 10 to 21 days): the bound on memory and on the cost of one re-derivation.
pub const MAX_KEPT: usize = 512;

/// The validation state after a prefix of a machine's time-ordered readings.
#[derive(Clone, Debug, Default)]
pub(super) struct Sequence {
    pub last: Option<Reading>,
    /// Accepted steps within the trailing window, oldest first.
    window: VecDeque<WindowStep>,
    /// Per channel, the sums over `window` of the steps not flagged spike on it: kept with
    /// the window, so the average daily use costs nothing per reading.
    window_sums: Channels<WindowSum>,
    /// When each channel last changed (or the baseline time).
    pub changed_at: Channels<i64>,
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

/// `units` of use over `secs` seconds.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Rate {
    units: u64,
    secs: u64,
}

impl Rate {
    /// Use over `secs` seconds at this rate, rounded half up once; 0 without history.
    pub fn over(self, secs: u64) -> u64 {
        if self.secs == 0 {
            return 0;
        }
        let product = u128::from(self.units) * u128::from(secs);
        super::round_half_up(product, u128::from(self.secs))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return write!(f, "no history");
        }
        let per_day = self.over(DAY);
        write!(
            f,
            "{} in {} ≈ {per_day}/day",
            self.units,
            super::text::span(self.secs)
        )
    }
}

/// One step derived again because a late reading was placed before it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rederived {
    pub reading: Reading,
    pub before: Channels<u64>,
    pub after: Channels<u64>,
}

/// What validating a reading against a [`Sequence`] found.
pub(super) struct Judged {
    pub steps: Channels<Step>,
    pub findings: Vec<(Flag, String)>,
}

impl Judged {
    pub fn units(&self) -> Channels<u64> {
        self.steps.map(|s| s.units)
    }

    pub fn spike(&self) -> Channels<bool> {
        Channels::from_fn(|c| self.findings.iter().any(|(f, _)| *f == Flag::Spike(c)))
    }
}

impl Sequence {
    /// Trailing use per channel, spikes left out (sums beyond u64 saturate).
    pub fn rates(&self) -> Channels<Rate> {
        self.window_sums.map(|sum| Rate {
            units: u64::try_from(sum.units).unwrap_or(u64::MAX),
            secs: u64::try_from(sum.secs).unwrap_or(u64::MAX),
        })
    }

    /// The trailing average daily use per channel, rounded half up.
    pub fn average_daily_use(&self) -> Channels<u64> {
        self.rates().map(|r| r.over(DAY))
    }

    /// The baseline's step on every channel: no usage.
    pub fn baseline() -> Judged {
        let step = Step {
            kind: StepKind::Baseline,
            units: 0,
            allowance: 0,
        };
        Judged {
            steps: Channels::from_fn(|_| step),
            findings: Vec::new(),
        }
    }

    /// Validates `raw` as the reading after `prev` (this state's last reading).
    pub fn judge(&self, config: &VeeConfig, prev: &Reading, raw: &Reading) -> Judged {
        let steps = self.steps(config, prev, raw);
        let findings = self.quality_findings(config, raw, &steps);
        Judged { steps, findings }
    }

    /// Each channel's step, judged against the average before this reading.
    fn steps(&self, config: &VeeConfig, prev: &Reading, raw: &Reading) -> Channels<Step> {
        let elapsed = seconds_between(prev.time, raw.time);
        let average = self.average_daily_use();
        // A new board's first read: every counter at 0 is a reset, never a rollover.
        let new_board = raw.counters.is_zero();
        Channels::from_fn(|c| {
            let allowance = config.allowance(average.get(c), elapsed);
            let allowance_for_wrap = if new_board { 0 } else { allowance };
            Step {
                allowance,
                ..step(
                    config,
                    prev.counters.get(c),
                    raw.counters.get(c),
                    allowance_for_wrap,
                )
            }
        })
    }

    /// Spike, zero and consistency checks, each with its reason.
    fn quality_findings(
        &self,
        config: &VeeConfig,
        raw: &Reading,
        steps: &Channels<Step>,
    ) -> Vec<(Flag, String)> {
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
            if steps.get(c).units == 0 && quiet > config.zero_secs() {
                let why = format!(
                    "zero: {} unchanged since {} (more than {} days)",
                    c.name(),
                    stamp(self.changed_at.get(c)),
                    config.max_zero_days
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

    /// Moves the state past `raw`, whose step (from the last reading) had `units` and was a
    /// spike on `spike`; the first reading is the baseline.
    pub fn remember(
        &mut self,
        config: &VeeConfig,
        raw: Reading,
        units: Channels<u64>,
        spike: Channels<bool>,
    ) {
        let Some(prev) = self.last else {
            self.changed_at = Channels::from_fn(|_| raw.time);
            self.last = Some(raw);
            return;
        };
        let step = WindowStep {
            time: raw.time,
            secs: seconds_between(prev.time, raw.time),
            units,
            spike,
        };
        self.window.push_back(step);
        self.add_to_sums(&step, true);
        let horizon = raw.time.saturating_sub(config.window_secs());
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

    /// Judges `raw` against this state (the baseline if there is none) and moves past it.
    pub fn judge_and_remember(&mut self, config: &VeeConfig, raw: Reading) -> Judged {
        let judged = match self.last {
            None => Sequence::baseline(),
            Some(prev) => self.judge(config, &prev, &raw),
        };
        self.remember(config, raw, judged.units(), judged.spike());
        judged
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
        debug_assert!(self.sums_match_window(), "window sums drifted");
    }

    /// Whether the running sums are the window's own sums (what they must always be).
    pub fn sums_match_window(&self) -> bool {
        let summed = Channels::from_fn(|c| {
            self.window
                .iter()
                .filter(|w| !w.spike.get(c))
                .fold(WindowSum::default(), |sum, w| WindowSum {
                    units: sum.units + u128::from(w.units.get(c)),
                    secs: sum.secs + u128::from(w.secs),
                })
        });
        summed == self.window_sums
    }

    /// Whether two states judge every later reading alike (tests: re-sequencing is exact).
    #[cfg(test)]
    pub fn same_as(&self, other: &Sequence) -> bool {
        let steps = |s: &Sequence| {
            s.window
                .iter()
                .map(|w| (w.time, w.secs, w.units, w.spike))
                .collect::<Vec<_>>()
        };
        self.last == other.last
            && self.changed_at == other.changed_at
            && self.window_sums == other.window_sums
            && steps(self) == steps(other)
    }
}

/// The rollover-or-reset rule lives here (see the module docs).
fn step(config: &VeeConfig, prev: u64, new: u64, allowance: u64) -> Step {
    let (kind, units) = if new >= prev {
        (StepKind::Normal, new - prev)
    } else {
        match config.rollover_step(prev, new) {
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

/// A machine's recent readings in time order, and the validation state before the first of
/// them: enough to place a late reading and derive the steps after it again.
///
/// Kept in two generations so that an in-order reading costs a push, not a second validation:
/// `base` is the state before `kept[0]`, and `mid` a copy of the live state taken when the
/// readings kept spanned `RESEQUENCE_DAYS` (or half of `MAX_KEPT`). Once the readings after
/// `mid` span as much, everything before `mid` is forgotten and `mid` becomes the base. The
/// readings kept therefore always reach `RESEQUENCE_DAYS` back from the latest (at most twice
/// that), or `MAX_KEPT / 2` readings.
#[derive(Clone, Debug, Default)]
pub(super) struct History {
    base: Sequence,
    kept: VecDeque<Reading>,
    /// `(i, state before kept[i])`.
    mid: Option<(usize, Sequence)>,
    /// When the current generation began (`kept[0]`'s time, or `kept[i]`'s with `mid`):
    /// kept apart so that a push reads no reading but the one it adds.
    generation_start: i64,
}

/// Where a reading falls among the kept ones.
pub(super) enum Place {
    /// Before the kept readings' horizon: the reading that precedes it left them.
    TooOld { before: Reading },
    /// At the time of a kept (or forgotten) reading.
    SameTime { as_reading: Reading },
    /// Between kept readings (or before the first, when nothing was forgotten): `index` is
    /// its position in `kept`.
    Between { index: usize },
}

impl History {
    /// Keeps a reading taken after every kept one; `head` is the live state before it.
    pub fn push(&mut self, head: &Sequence, reading: Reading) {
        let time = reading.time;
        if self.kept.is_empty() {
            self.generation_start = time;
        }
        let from = self.mid.as_ref().map_or(0, |(at, _)| *at);
        let full = time.saturating_sub(self.generation_start) >= RESEQUENCE_DAYS * DAY as i64
            || self.kept.len() - from >= MAX_KEPT / 2;
        if full {
            if self.mid.is_some() {
                self.forget_before_mid();
            }
            self.mid = Some((self.kept.len(), head.clone()));
            self.generation_start = time;
        }
        self.kept.push_back(reading);
    }

    fn forget_before_mid(&mut self) {
        if let Some((at, state)) = self.mid.take() {
            self.kept.drain(..at);
            self.base = state;
        }
    }

    /// Where a reading taken before the latest kept one belongs.
    pub fn place(&self, time: i64) -> Place {
        if let Some(before) = self.base.last {
            if time < before.time {
                return Place::TooOld { before };
            }
            if time == before.time {
                return Place::SameTime { as_reading: before };
            }
        }
        let index = self.kept.partition_point(|r| r.time < time);
        match self.kept.get(index) {
            Some(r) if r.time == time => Place::SameTime { as_reading: *r },
            _ => Place::Between { index },
        }
    }

    /// The reading before position `index` of the kept ones: the one a reading placed there
    /// follows (`None` before the baseline).
    pub fn reading_before(&self, index: usize) -> Option<Reading> {
        match index.checked_sub(1) {
            Some(i) => self.kept.get(i).copied(),
            None => self.base.last,
        }
    }

    /// Whether a kept reading has this sequence number (a resend).
    pub fn has_seq(&self, seq: u64) -> bool {
        self.kept.iter().any(|r| r.seq == seq)
    }

    /// Inserts `raw` at `index` and derives every step from it on again. Returns the state
    /// after the last reading, how `raw` was judged (against the reading before it, or as a
    /// new baseline), and the later steps that changed. The old steps are derived again too
    /// (from the same base, so exactly as they were given): a late reading is rare, and an
    /// in-order one keeps nothing but the reading.
    pub fn insert(
        &mut self,
        config: &VeeConfig,
        index: usize,
        raw: Reading,
    ) -> (Sequence, Judged, Vec<Rederived>) {
        let mut before = self.base.clone();
        for r in self.kept.range(..index) {
            before.judge_and_remember(config, *r);
        }
        let mut old = before.clone();
        let mut state = before;
        let judged = state.judge_and_remember(config, raw);
        let mut changed = Vec::new();
        for r in self.kept.range(index..) {
            let was = old.judge_and_remember(config, *r).units();
            let now = state.judge_and_remember(config, *r).units();
            if was != now {
                changed.push(Rederived {
                    reading: *r,
                    before: was,
                    after: now,
                });
            }
        }
        self.kept.insert(index, raw);
        match self.mid {
            // The copy before `mid` is still right when the change is after it.
            Some((at, _)) if index >= at => {}
            // Otherwise the generation since the base goes on (its start stays kept[0]'s).
            Some(_) => {
                self.mid = None;
                self.generation_start = self.kept[0].time;
            }
            None => self.generation_start = self.generation_start.min(raw.time),
        }
        (state, judged, changed)
    }

    /// Whether the base is the state an in-order replay of `all` (every reading applied, in
    /// time order) gives before the first kept reading (tests).
    #[cfg(test)]
    pub fn base_is_exact(&self, config: &VeeConfig, all: &[Reading]) -> bool {
        let first = self.kept.front().map_or(i64::MAX, |r| r.time);
        let mut state = Sequence::default();
        for r in all.iter().filter(|r| r.time < first) {
            state.judge_and_remember(config, *r);
        }
        state.same_as(&self.base)
    }

    /// The state after every kept reading, derived from the base (tests: it is the live one).
    #[cfg(test)]
    pub fn replayed(&self, config: &VeeConfig) -> Sequence {
        let mut state = self.base.clone();
        for r in &self.kept {
            state.judge_and_remember(config, *r);
        }
        state
    }
}
