//! Ground truth: what the machines actually did, tallied by the machines themselves and
//! gathered by the coordinator, independently of any event that was sent.

use crate::calendar::{DayIndex, PeriodIndex};
use crate::event::{Frame, Material};
use serde::Serialize;
use std::ops::Range;

/// One machine's (or shop's, or fleet's) tally.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Customer jobs: in-store mountings (remakes excluded) plus remote-edged orders.
    pub jobs: u64,
    /// Mounting cycles, remakes included: all billable.
    pub mountings: u64,
    pub remakes: u64,
    pub trace_only: u64,
    pub counter_reads: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.jobs += other.jobs;
        self.mountings += other.mountings;
        self.remakes += other.remakes;
        self.trace_only += other.trace_only;
        self.counter_reads += other.counter_reads;
    }

    /// Events the tally stands for.
    pub fn events(&self) -> u64 {
        self.mountings + self.trace_only + self.counter_reads
    }
}

/// Mountings (remakes included) by frame type and by lens material: what an audit of the
/// shop's work sees (the quote calculator prices wear and machine time from it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mix {
    /// Indexed by `Frame as usize`: full-rim, grooved (semi-rimless), drilled (rimless).
    pub frames: [u32; 3],
    /// Indexed by `Material as usize`: 1.5, 1.6, 1.67+, polycarbonate, mineral.
    pub materials: [u32; 5],
}

impl Mix {
    pub fn count(&mut self, frame: Frame, material: Material) {
        self.frames[frame as usize] += 1;
        self.materials[material as usize] += 1;
    }

    pub fn add(&mut self, other: &Mix) {
        for (a, b) in self.frames.iter_mut().zip(other.frames) {
            *a += b;
        }
        for (a, b) in self.materials.iter_mut().zip(other.materials) {
            *a += b;
        }
    }
}

/// One shop's activity over a run of months, for an audit: per month its tally, mix and open
/// days, and (for days inside the truth's daily window) its mountings and trace-only cycles
/// day by day.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    /// The months, in order (`periods` of `Truth::activity`).
    pub months: Vec<MonthActivity>,
    /// `[mountings, trace_only]` per calendar day of the months, when the truth kept them.
    pub daily: Vec<[u32; 2]>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MonthActivity {
    pub tally: Tally,
    pub mix: Mix,
    pub open_days: u32,
}

/// What the field did (`[service]`): to a machine on a day, or to a shop in a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FieldTally {
    /// Wheel sets worn out and replaced.
    pub wheel_sets: u32,
    pub failures: u32,
    /// Mountings ordered remote-edged because the machine was down (not billed).
    pub lost_mountings: u32,
    /// Mountings that waited for the repair (edged, and billed, later).
    pub waited_mountings: u32,
    /// Mountings a loaner edged while the shop's machine was repaired (billed to the shop).
    pub loaner_mountings: u32,
    /// `[service.predictive]`: visits that serviced the machine before its failure, and the
    /// minutes it stood still for them.
    pub preventive_visits: u32,
    pub preventive_down_minutes: u32,
    /// Visits that found the machine failed since the desk asked (nothing to do).
    pub wasted_visits: u32,
    /// Jobs the shop gave its machines, whatever their state: the demand, which nothing of
    /// the field may change.
    pub demand_jobs: u32,
}

impl FieldTally {
    pub fn add(&mut self, other: &FieldTally) {
        self.wheel_sets += other.wheel_sets;
        self.failures += other.failures;
        self.lost_mountings += other.lost_mountings;
        self.waited_mountings += other.waited_mountings;
        self.loaner_mountings += other.loaner_mountings;
        self.preventive_visits += other.preventive_visits;
        self.preventive_down_minutes += other.preventive_down_minutes;
        self.wasted_visits += other.wasted_visits;
        self.demand_jobs += other.demand_jobs;
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DayTotals {
    pub tally: Tally,
    pub open_shops: u32,
}

/// Truth per shop and period, plus fleet totals per day.
#[derive(Clone, Debug)]
pub struct Truth {
    periods: u32,
    cells: Vec<Tally>,
    mixes: Vec<Mix>,
    open_days: Vec<u32>,
    pub daily: Vec<DayTotals>,
    /// Days `0..shop_days_window` are also kept per shop (`[mountings, trace_only]`), for
    /// audits that need each day (peak and p95 days). 0 unless a quote is asked for.
    shop_days_window: u32,
    shop_days: Vec<[u32; 2]>,
    /// `[service]`: per shop and period, what the field did (empty when it is off).
    field: Vec<FieldTally>,
}

impl Truth {
    pub fn new(shops: u32, periods: u32, days: u32) -> Truth {
        Truth::with_shop_days(shops, periods, days, 0)
    }

    /// Also keeps each shop's mountings and trace-only cycles day by day for the first
    /// `window` days (an audit period).
    pub fn with_shop_days(shops: u32, periods: u32, days: u32, window: u32) -> Truth {
        let cells = (shops as usize) * (periods as usize);
        let window = window.min(days);
        Truth {
            periods,
            cells: vec![Tally::default(); cells],
            mixes: vec![Mix::default(); cells],
            open_days: vec![0; cells],
            daily: vec![DayTotals::default(); days as usize],
            shop_days_window: window,
            shop_days: vec![[0; 2]; shops as usize * window as usize],
            field: Vec::new(),
        }
    }

    /// Keeps the field's tallies too (`[service]` on).
    pub fn with_field(mut self) -> Truth {
        self.field = vec![FieldTally::default(); self.cells.len()];
        self
    }

    pub fn record_field(&mut self, shop: u32, period: PeriodIndex, field: &FieldTally) {
        let cell = self.index(shop, period);
        if let Some(f) = self.field.get_mut(cell) {
            f.add(field);
        }
    }

    /// What the field did to `shop` in `period` (all zero when `[service]` is off).
    pub fn field(&self, shop: u32, period: PeriodIndex) -> FieldTally {
        self.field
            .get(self.index(shop, period))
            .copied()
            .unwrap_or_default()
    }

    /// What the field did to `shop` over the run.
    pub fn shop_field(&self, shop: u32) -> FieldTally {
        let mut total = FieldTally::default();
        for p in 0..self.periods {
            total.add(&self.field(shop, p));
        }
        total
    }

    /// Mountings lost to downtime over the run (ordered remote-edged instead).
    pub fn lost_billable_mountings(&self) -> u64 {
        self.field.iter().map(|f| u64::from(f.lost_mountings)).sum()
    }

    pub fn record(
        &mut self,
        shop: u32,
        period: PeriodIndex,
        day: DayIndex,
        tally: &Tally,
        mix: &Mix,
    ) {
        let cell = self.index(shop, period);
        self.cells[cell].add(tally);
        self.mixes[cell].add(mix);
        self.daily[day as usize].tally.add(tally);
        if day < self.shop_days_window {
            let slot =
                &mut self.shop_days[shop as usize * self.shop_days_window as usize + day as usize];
            slot[0] += tally.mountings as u32;
            slot[1] += tally.trace_only as u32;
        }
    }

    pub fn mix(&self, shop: u32, period: PeriodIndex) -> &Mix {
        &self.mixes[self.index(shop, period)]
    }

    /// A shop's activity over `periods`; `days` are the calendar days those periods cover
    /// (their day-by-day counts are included when they lie inside the daily window).
    pub fn activity(
        &self,
        shop: u32,
        periods: Range<PeriodIndex>,
        days: Range<DayIndex>,
    ) -> Activity {
        let months = periods
            .map(|p| MonthActivity {
                tally: *self.cell(shop, p),
                mix: *self.mix(shop, p),
                open_days: self.open_days(shop, p),
            })
            .collect();
        let daily = if days.end <= self.shop_days_window {
            let base = shop as usize * self.shop_days_window as usize;
            self.shop_days[base + days.start as usize..base + days.end as usize].to_vec()
        } else {
            Vec::new()
        };
        Activity { months, daily }
    }

    pub fn record_open(&mut self, shop: u32, period: PeriodIndex, day: DayIndex) {
        let cell = self.index(shop, period);
        self.open_days[cell] += 1;
        self.daily[day as usize].open_shops += 1;
    }

    pub fn cell(&self, shop: u32, period: PeriodIndex) -> &Tally {
        &self.cells[self.index(shop, period)]
    }

    pub fn open_days(&self, shop: u32, period: PeriodIndex) -> u32 {
        self.open_days[self.index(shop, period)]
    }

    pub fn shop_total(&self, shop: u32) -> Tally {
        let mut t = Tally::default();
        for p in 0..self.periods {
            t.add(self.cell(shop, p));
        }
        t
    }

    pub fn fleet_total(&self) -> Tally {
        let mut t = Tally::default();
        for d in &self.daily {
            t.add(&d.tally);
        }
        t
    }

    pub fn periods(&self) -> u32 {
        self.periods
    }

    fn index(&self, shop: u32, period: PeriodIndex) -> usize {
        shop as usize * self.periods as usize + period as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_gathers_months_mix_and_days() {
        // 2 shops, 2 periods, 4 days (days 0–1 in period 0, 2–3 in period 1), days 0–2 kept.
        let mut t = Truth::with_shop_days(2, 2, 4, 3);
        let day = |mountings, trace_only| Tally {
            mountings,
            trace_only,
            ..Tally::default()
        };
        let mut mix = Mix::default();
        mix.count(Frame::Grooved, Material::Mineral);
        mix.count(Frame::FullRim, Material::Index150);
        t.record(1, 0, 0, &day(2, 1), &mix);
        t.record(1, 0, 1, &day(0, 0), &Mix::default());
        t.record_open(1, 0, 0);
        t.record(1, 1, 2, &day(2, 0), &mix);
        t.record(0, 1, 2, &day(5, 5), &Mix::default());
        let a = t.activity(1, 0..2, 0..3);
        assert_eq!(a.months.len(), 2);
        assert_eq!(a.months[0].tally.mountings, 2);
        assert_eq!(a.months[0].open_days, 1);
        assert_eq!(a.months[1].mix.frames, [1, 1, 0]);
        assert_eq!(a.months[1].mix.materials, [1, 0, 0, 0, 1]);
        assert_eq!(a.daily, vec![[2, 1], [0, 0], [2, 0]]);
        // Beyond the kept days, no day-by-day counts.
        assert!(t.activity(1, 1..2, 2..4).daily.is_empty());
        assert_eq!(t.activity(0, 1..2, 2..3).daily, vec![[5, 5]]);
    }
}
