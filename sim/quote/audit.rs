//! An audit: what a shop did over an audit period (volumes, the busy days, the frame and
//! material mix, the remote-edged share, remakes), from a simulation or from a CSV history.

use crate::calendar::Calendar;
use crate::truth::Activity;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

/// A shop's observed activity over an audit period.
#[derive(Clone, Debug, PartialEq)]
pub struct Audit {
    /// Where it comes from, for the explanation (a file, or scenario + shop).
    pub source: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Calendar days from `first_day` to `last_day`, both included.
    pub days: u32,
    /// Days the shop worked (simulation: days open; CSV: rows with any cycle).
    pub open_days: u32,
    /// Billable mountings, remakes included.
    pub mountings: u64,
    pub remakes: u64,
    /// Frames traced for remote-edged orders (not billed, but machine time).
    pub trace_only: u64,
    /// Mountings by frame: full-rim, semi-rimless (grooved), rimless (drilled).
    pub frames: [u64; 3],
    /// Mountings by material: 1.5, 1.6, 1.67+, polycarbonate, mineral.
    pub materials: [u64; 5],
    /// Calendar days of the period in each month of the year (January first): seasonality.
    pub days_by_month: [u32; 12],
    /// `[mountings, trace_only]` of each day with any cycle; empty when not observed day by
    /// day (then no machine can be chosen from it: a realised period is costed on the quoted
    /// machines).
    pub daily: Vec<[u32; 2]>,
}

/// A busy day of the audit: its cycles and machine minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusyDay {
    pub mountings: u32,
    pub trace_only: u32,
    pub minutes: Decimal,
}

impl Audit {
    /// The activity of a simulated shop over `periods` (indices) of the calendar.
    pub fn from_activity(
        source: String,
        calendar: &Calendar,
        periods: std::ops::Range<u32>,
        activity: &Activity,
    ) -> Audit {
        let first = calendar.first_day_of(periods.start);
        let end = calendar.first_day_of(periods.end);
        let mut audit = Audit::empty(source, calendar.date(first), calendar.date(end - 1));
        for m in &activity.months {
            audit.open_days += m.open_days;
            audit.mountings += m.tally.mountings;
            audit.remakes += m.tally.remakes;
            audit.trace_only += m.tally.trace_only;
            for (a, b) in audit.frames.iter_mut().zip(m.mix.frames) {
                *a += u64::from(b);
            }
            for (a, b) in audit.materials.iter_mut().zip(m.mix.materials) {
                *a += u64::from(b);
            }
        }
        audit.daily = activity
            .daily
            .iter()
            .copied()
            .filter(|[m, t]| m + t > 0)
            .collect();
        audit
    }

    /// A period with nothing observed yet (`days` and `days_by_month` filled in).
    pub fn empty(source: String, first_day: NaiveDate, last_day: NaiveDate) -> Audit {
        let mut days_by_month = [0; 12];
        let mut day = first_day;
        let mut days = 0;
        while day <= last_day {
            days_by_month[day.month0() as usize] += 1;
            days += 1;
            day = day.succ_opt().expect("dates before 9999");
        }
        Audit {
            source,
            first_day,
            last_day,
            days,
            open_days: 0,
            mountings: 0,
            remakes: 0,
            trace_only: 0,
            frames: [0; 3],
            materials: [0; 5],
            days_by_month,
            daily: Vec::new(),
        }
    }

    /// The same shop `factor` times as busy, same mix (every count scaled, rounding down):
    /// used by the monotonicity property test.
    pub fn scaled(&self, factor: u32) -> Audit {
        let k = u64::from(factor);
        Audit {
            mountings: self.mountings * k,
            remakes: self.remakes * k,
            trace_only: self.trace_only * k,
            frames: self.frames.map(|c| c * k),
            materials: self.materials.map(|c| c * k),
            daily: self.daily.iter().map(|d| d.map(|c| c * factor)).collect(),
            ..self.clone()
        }
    }

    /// The day at the given quantile of machine load (nearest rank: the ⌈q·n⌉-th smallest
    /// of the days with any cycle), loads from the mix's mean minutes; `None` without daily
    /// data.
    pub fn busy_day(
        &self,
        quantile: Decimal,
        minutes_per_mounting: Decimal,
        trace_minutes: Decimal,
    ) -> Option<BusyDay> {
        let mut days: Vec<BusyDay> = self
            .daily
            .iter()
            .map(|&[m, t]| BusyDay {
                mountings: m,
                trace_only: t,
                minutes: Decimal::from(m) * minutes_per_mounting + Decimal::from(t) * trace_minutes,
            })
            .collect();
        if days.is_empty() {
            return None;
        }
        days.sort_by(|a, b| {
            (a.minutes, a.mountings, a.trace_only).cmp(&(b.minutes, b.mountings, b.trace_only))
        });
        let n = Decimal::from(days.len());
        let rank = (quantile * n).ceil();
        let rank: usize = rank.try_into().unwrap_or(days.len());
        Some(days[rank.clamp(1, days.len()) - 1])
    }

    /// Share of jobs ordered remote-edged (trace only), among jobs (mountings without
    /// remakes, plus trace-only).
    pub fn remote_share(&self) -> Decimal {
        let jobs = self.mountings - self.remakes.min(self.mountings) + self.trace_only;
        if jobs == 0 {
            return Decimal::ZERO;
        }
        Decimal::from(self.trace_only) / Decimal::from(jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn days_by_month_cover_the_period() {
        let a = Audit::empty("x".into(), date("2024-01-30"), date("2024-03-01"));
        assert_eq!(a.days, 32);
        assert_eq!(&a.days_by_month[..3], &[2, 29, 1]);
    }

    #[test]
    fn busy_days_by_nearest_rank() {
        let mut a = Audit::empty("x".into(), date("2024-01-01"), date("2024-01-31"));
        // 20 days with 1..=20 mountings, no trace-only.
        a.daily = (1..=20).rev().map(|m| [m, 0]).collect();
        let four = Decimal::from(4);
        // p95 of 20 days: rank ⌈19⌉ = 19th smallest = 19 mountings, 76 minutes.
        let p95 = a.busy_day(Decimal::new(95, 2), four, Decimal::ONE).unwrap();
        assert_eq!((p95.mountings, p95.minutes), (19, Decimal::from(76)));
        let peak = a.busy_day(Decimal::ONE, four, Decimal::ONE).unwrap();
        assert_eq!(peak.mountings, 20);
        a.daily.clear();
        assert_eq!(a.busy_day(Decimal::ONE, four, Decimal::ONE), None);
    }

    #[test]
    fn remote_share_counts_jobs_not_remakes() {
        let mut a = Audit::empty("x".into(), date("2024-01-01"), date("2024-01-31"));
        a.mountings = 110;
        a.remakes = 10;
        a.trace_only = 25;
        // 25 / (100 + 25) = 0.2
        assert_eq!(a.remote_share(), Decimal::new(2, 1));
    }
}
