//! How VEE explains itself: times, spans, steps and bookings as text.

use super::{
    Channel, Channels, Flag, Period, Reading, Step, StepKind, ValidatedReading, VeeConfig, DAY,
    HOUR,
};
use chrono::{DateTime, SecondsFormat};

/// What an accepted removal read does, in its explanation.
pub const REMOVED: &str =
    "removal read: the machine is removed; no tail is estimated until it reads again";

pub fn not_applied(raw: Reading, rejections: Vec<(Flag, String)>) -> ValidatedReading {
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

pub fn describe_booking(period: Period, reversed: &Channels<u64>) -> String {
    if reversed.is_zero() {
        format!("billed in {period}")
    } else {
        format!("billed in {period}, less {reversed} already billed as an estimate (true-up)")
    }
}

pub fn heading(raw: &Reading) -> String {
    format!("seq {} at {}", raw.seq, stamp(raw.time))
}

/// One channel's step from `prev` to `raw`, with the rule that decided it.
pub fn describe_step(
    config: &VeeConfig,
    c: Channel,
    prev: &Reading,
    raw: &Reading,
    step: Step,
) -> String {
    let (old, new) = (prev.counters.get(c), raw.counters.get(c));
    let head = format!("{} {old} → {new}", c.name());
    match step.kind {
        StepKind::Baseline | StepKind::Normal => format!("{head}: +{}", step.units),
        StepKind::Rollover => format!(
            "{head}: rollover +{} (= {} − {old} + {new}, within the allowance {})",
            step.units,
            config.modulus_wide(),
            step.allowance
        ),
        StepKind::Reset => {
            let wrap = config
                .rollover_step(old, new)
                .map_or("impossible".to_string(), |w| format!("+{w}"));
            format!(
                "{head}: reset +{} (restarted at 0; a rollover would be {wrap}, allowance {})",
                step.units, step.allowance
            )
        }
    }
}

/// Unix seconds as an RFC 3339 instant (UTC).
pub fn stamp(time: i64) -> String {
    DateTime::from_timestamp(time, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| time.to_string())
}

/// A duration as `3 d 04:30:00`.
pub fn span(secs: u64) -> String {
    let (days, rest) = (secs / DAY, secs % DAY);
    let (hours, minutes, seconds) = (rest / HOUR, rest % HOUR / 60, rest % 60);
    format!("{days} d {hours:02}:{minutes:02}:{seconds:02}")
}
