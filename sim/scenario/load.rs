//! `[load]` from `RawLoad` to `LoadSpec`: how `fleetsim load SCENARIO --target URL` paces the
//! fleet's traffic (a compression of virtual time, or a mean event rate, or stages), how the
//! machines upload, and the run's thresholds. Every value is checked here, so a scenario that
//! validates can run.

use super::raw::{RawLoad, RawStage};
use crate::input::{Locator, ScenarioError};
use crate::threshold::Threshold;
use std::time::Duration;

type Result<T> = std::result::Result<T, ScenarioError>;

/// Stages one scenario may declare at most.
pub const MAX_STAGES: usize = 32;
/// The fastest virtual clock: a year of the fleet per wall second.
pub const MAX_SPEED: f64 = 366.0 * 86_400.0;
/// Mean event rates at most (events per wall second).
pub const MAX_RATE: f64 = 10_000_000.0;
const MAX_BATCH_SIZE: u32 = 100_000;
const MAX_CONNECTIONS: u32 = 1024;
/// Machines upload what they did every quarter of an hour unless told otherwise.
const DEFAULT_UPLOAD_EVERY: Duration = Duration::from_secs(15 * 60);
const DEFAULT_BATCH_SIZE: u32 = 100;
/// Uploads stay within their day (shops are closed at night), so the day's uploads are queued
/// in order.
pub const MAX_UPLOAD_EVERY: Duration = Duration::from_secs(3600);
const DEFAULT_CONNECTIONS: u32 = 16;

/// How fast the fleet's virtual time runs against the wall clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PaceTarget {
    /// Virtual seconds per wall second (`3600x`: an hour of the fleet a second).
    Speed(f64),
    /// A mean event rate over the fleet's whole span, events per wall second: converted into
    /// a speed from the fleet's own mean (its events over its virtual seconds).
    Rate(f64),
}

/// A stage, k6-style: over `duration` of wall time the pace moves linearly from the previous
/// stage's target (or the scenario's starting pace) to this one's.
#[derive(Clone, Debug, PartialEq)]
pub struct StageSpec {
    pub name: String,
    pub duration: Duration,
    pub target: PaceTarget,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// Without stages: the run's pace. With stages: where the first one starts (absent: the
    /// first stage holds its own target from the start).
    pub pace: Option<PaceTarget>,
    pub stages: Vec<StageSpec>,
    /// Virtual time between a machine's uploads (zero: each event is sent as it happens), at
    /// most `MAX_UPLOAD_EVERY`.
    pub upload_every: Duration,
    /// On a month's last day the head-end reads every machine's counters at once (23:00).
    pub month_end_read: bool,
    /// Events per request at most (a longer upload is split into several requests).
    pub batch_size: u32,
    pub connections: u32,
    /// Threshold expressions, each checked by `Threshold::parse`.
    pub thresholds: Vec<String>,
    /// Stop the run as soon as a threshold measured live fails.
    pub abort_on_fail: bool,
}

pub(super) fn load(raw: &RawLoad, loc: &Locator) -> Result<LoadSpec> {
    let pace = pace(raw.speed.as_deref(), raw.rate, "load", true, loc)?;
    let stages = raw
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| stage(s, i, loc))
        .collect::<Result<Vec<_>>>()?;
    check_stages(&stages, pace, loc)?;
    for (i, t) in raw.thresholds.iter().enumerate() {
        Threshold::parse(t).map_err(|e| {
            loc.at_field(
                &format!("load.thresholds.{i}"),
                format!(
                    "{:?}: {}; e.g. \"p99 < 25ms\", \"reconciliation == ok\"",
                    e.expression, e.reason
                ),
            )
        })?;
    }
    let upload_every = match &raw.upload_every {
        None => DEFAULT_UPLOAD_EVERY,
        Some(text) => upload_every(text).map_err(|e| loc.at_field("load.upload_every", e))?,
    };
    Ok(LoadSpec {
        pace,
        stages,
        upload_every,
        month_end_read: raw.month_end_read.unwrap_or(true),
        batch_size: count(
            raw.batch_size,
            DEFAULT_BATCH_SIZE,
            MAX_BATCH_SIZE,
            "batch_size",
            loc,
        )?,
        connections: count(
            raw.connections,
            DEFAULT_CONNECTIONS,
            MAX_CONNECTIONS,
            "connections",
            loc,
        )?,
        thresholds: raw.thresholds.clone(),
        abort_on_fail: raw.abort_on_fail,
    })
}

fn stage(raw: &RawStage, i: usize, loc: &Locator) -> Result<StageSpec> {
    let at = format!("load.stages.{i}");
    let duration = crate::units::parse_duration("duration", &raw.duration)
        .map_err(|e| loc.at_field(&format!("{at}.duration"), e))?;
    let target = pace(raw.speed.as_deref(), raw.rate, &at, false, loc)?.ok_or_else(|| {
        loc.at_field(
            &at,
            "a stage needs a target: `speed = \"3600x\"` or `rate = 5000`",
        )
    })?;
    Ok(StageSpec {
        name: raw
            .name
            .clone()
            .unwrap_or_else(|| format!("stage {}", i + 1)),
        duration,
        target,
    })
}

/// `speed = "3600x"` or `rate = 5000`, not both; zero allowed only where a stage ramps to or
/// from a stop (`positive` false).
fn pace(
    speed: Option<&str>,
    rate: Option<f64>,
    at: &str,
    positive: bool,
    loc: &Locator,
) -> Result<Option<PaceTarget>> {
    let target = match (speed, rate) {
        (Some(_), Some(_)) => {
            return Err(loc.at_field(
                &format!("{at}.rate"),
                "give `speed` or `rate`, not both: a rate is converted into a speed",
            ))
        }
        (Some(text), None) => PaceTarget::Speed(
            parse_speed(text).map_err(|e| loc.at_field(&format!("{at}.speed"), e))?,
        ),
        (None, Some(rate)) if rate.is_finite() && (0.0..=MAX_RATE).contains(&rate) => {
            PaceTarget::Rate(rate)
        }
        (None, Some(rate)) => {
            return Err(loc.at_field(
                &format!("{at}.rate"),
                format!("{rate}: a mean rate in events per second, from 0 to {MAX_RATE}"),
            ))
        }
        (None, None) => return Ok(None),
    };
    if positive && matches!(target, PaceTarget::Speed(v) | PaceTarget::Rate(v) if v == 0.0) {
        let key = if speed.is_some() { "speed" } else { "rate" };
        return Err(loc.at_field(
            &format!("{at}.{key}"),
            "must be above zero: at zero the fleet's clock stands still",
        ));
    }
    Ok(Some(target))
}

/// `15m`, `0s`: at most `MAX_UPLOAD_EVERY`.
pub fn upload_every(text: &str) -> std::result::Result<Duration, String> {
    let every = crate::units::parse_duration_or_zero("upload_every", text)?;
    if every > MAX_UPLOAD_EVERY {
        return Err(format!(
            "{text:?}: at most 1h (a machine's uploads stay within its working day)"
        ));
    }
    Ok(every)
}

/// `3600x`, `3600` (virtual seconds per wall second).
pub fn parse_speed(text: &str) -> std::result::Result<f64, String> {
    let digits = text.trim().trim_end_matches(['x', 'X']).trim();
    let speed: f64 = digits.parse().map_err(|_| {
        format!("{text:?}: a compression of virtual time such as \"3600x\" (an hour a second)")
    })?;
    if !speed.is_finite() || !(0.0..=MAX_SPEED).contains(&speed) {
        return Err(format!(
            "{text:?}: from 0x to {MAX_SPEED}x (a year of the fleet a second)"
        ));
    }
    Ok(speed)
}

fn check_stages(stages: &[StageSpec], start: Option<PaceTarget>, loc: &Locator) -> Result<()> {
    if stages.len() > MAX_STAGES {
        return Err(loc.at_field(
            "load.stages",
            format!("{} stages: at most {MAX_STAGES}", stages.len()),
        ));
    }
    if stages.is_empty() {
        return Ok(());
    }
    let kinds = stages
        .iter()
        .map(|s| s.target)
        .chain(start)
        .map(|t| matches!(t, PaceTarget::Rate(_)));
    let rates = kinds.clone().filter(|r| *r).count();
    if rates != 0 && rates != stages.len() + usize::from(start.is_some()) {
        return Err(loc.at_field(
            "load.stages",
            "give every stage (and the starting pace) a `speed`, or every one a `rate`: a ramp between the two has no meaning",
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in stages.iter().enumerate() {
        if !names.insert(s.name.as_str()) {
            return Err(loc.at_field(
                &format!("load.stages.{i}.name"),
                format!(
                    "`{}` names two stages: the report tells them apart by name",
                    s.name
                ),
            ));
        }
    }
    let last = stages.last().map(|s| s.target);
    if matches!(last, Some(PaceTarget::Speed(v) | PaceTarget::Rate(v)) if v == 0.0) {
        // After the stages their last pace holds until the fleet's last event: at zero the
        // run would never end.
        return Err(loc.at_field(
            &format!("load.stages.{}", stages.len() - 1),
            "the last stage must end above zero: after the stages its pace holds until every event is sent",
        ));
    }
    Ok(())
}

fn count(value: Option<u32>, default: u32, max: u32, key: &str, loc: &Locator) -> Result<u32> {
    match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(v) => Err(loc.at_field(
            &format!("load.{key}"),
            format!("{v}: must be from 1 to {max}"),
        )),
    }
}
