//! Ground truth: what the machines actually did, tallied by the machines themselves and
//! gathered by the coordinator, independently of any event that was sent.

use crate::calendar::{DayIndex, PeriodIndex};
use serde::Serialize;

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
    open_days: Vec<u32>,
    pub daily: Vec<DayTotals>,
}

impl Truth {
    pub fn new(shops: u32, periods: u32, days: u32) -> Truth {
        let cells = (shops as usize) * (periods as usize);
        Truth {
            periods,
            cells: vec![Tally::default(); cells],
            open_days: vec![0; cells],
            daily: vec![DayTotals::default(); days as usize],
        }
    }

    pub fn record(&mut self, shop: u32, period: PeriodIndex, day: DayIndex, tally: &Tally) {
        let cell = self.index(shop, period);
        self.cells[cell].add(tally);
        self.daily[day as usize].tally.add(tally);
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
