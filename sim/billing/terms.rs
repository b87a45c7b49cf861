//! Contract calendar: term, days covered in a period (proration), indexation year, months left.
//!
//! - **Calendar alignment.** A contract starts on any day; a start after the 1st makes a first
//!   partial month (a stub), and the term then runs `term_months` *full calendar months* from
//!   the 1st of the next month (a start on the 1st has no stub). The term always ends on the
//!   last day of a month, so only the stub is prorated over a whole term and no amount is lost
//!   or created by prorating both ends. Early termination ends it earlier (the given day is the
//!   last day covered; that month is prorated too).
//! - **Proration**: a monthly fee covers `days covered / days in the month` of the month,
//!   exactly; the amount is rounded once (see `money::UnitPrice::signed_prorated_amount`).
//! - **Indexation**: prices rise by `indexation_percent` on each anniversary of the first full
//!   month, compounding: full month 13 onwards is indexed once, 25 onwards twice, and so on (the
//!   stub is priced as year 0). A contract starting on 1 January 2024 (or on 15 January 2024,
//!   first full month February) is indexed from January 2025 (February 2025). See
//!   [`index_price`] for the rounding of indexed prices.

use crate::calendar::Period;
use crate::money::UnitPrice;
use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places kept in an indexed price (unit prices and fees alike).
pub const INDEXED_PRICE_DECIMALS: u32 = 4;

/// The dates a contract covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    pub start: NaiveDate,
    pub months: u32,
    /// Last day covered when terminated early.
    pub terminated_on: Option<NaiveDate>,
}

impl Term {
    /// The 1st of the first full month: the start itself when it is a 1st.
    pub fn first_full_month(&self) -> NaiveDate {
        if self.start.day() == 1 {
            self.start
        } else {
            let p = Period::of_date(self.start).next();
            p.first_day().unwrap_or(NaiveDate::MAX)
        }
    }

    /// Last day of the full term (always a month's last day).
    pub fn natural_end(&self) -> NaiveDate {
        add_months(self.first_full_month(), self.months)
            .pred_opt()
            .unwrap_or(NaiveDate::MAX)
    }

    /// Last day actually covered.
    pub fn last_day(&self) -> NaiveDate {
        match self.terminated_on {
            Some(t) => t.min(self.natural_end()),
            None => self.natural_end(),
        }
    }

    /// Days of `period` the contract covers (0 outside it).
    pub fn days_covered(&self, period: Period) -> u32 {
        let (Some(first), Some(next)) = (period.first_day(), period.next().first_day()) else {
            return 0;
        };
        let from = first.max(self.start);
        let to = next.min(self.last_day().succ_opt().unwrap_or(NaiveDate::MAX));
        u32::try_from((to - from).num_days().max(0)).unwrap_or(0)
    }

    /// 0-based index of `period` among the contract's billing periods (the start's period is 0).
    pub fn period_index(&self, period: Period) -> i64 {
        months_between(Period::of_date(self.start), period)
    }

    /// Anniversaries passed by `period`: how many times its prices were indexed.
    pub fn index_year(&self, period: Period) -> u32 {
        let full = months_between(Period::of_date(self.first_full_month()), period);
        u32::try_from(full.max(0) / 12).unwrap_or(u32::MAX)
    }

    /// Full months of the term that begin after the last day covered (0 unless terminated).
    pub fn months_left(&self) -> u32 {
        let last = self.last_day();
        let first = self.first_full_month();
        (0..self.months)
            .filter(|&m| add_months(first, m) > last)
            .count() as u32
    }
}

fn months_between(from: Period, to: Period) -> i64 {
    (i64::from(to.year) - i64::from(from.year)) * 12 + i64::from(to.month) - i64::from(from.month)
}

pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// A base price after `years` anniversaries of `percent` indexation: `base × (1 + percent/100)^years`
/// computed exactly from the base (never from last year's rounded price, so rounding does not
/// compound), then rounded half away from zero to [`INDEXED_PRICE_DECIMALS`] places. Year 0 is
/// the base price unchanged (not rounded).
pub fn index_price(base: UnitPrice, percent: Decimal, years: u32) -> UnitPrice {
    if years == 0 || percent.is_zero() {
        return base;
    }
    let factor = Decimal::ONE + percent / Decimal::ONE_HUNDRED;
    let mut value = base.0;
    for _ in 0..years {
        value = value.checked_mul(factor).unwrap_or(Decimal::MAX);
    }
    UnitPrice(value.round_dp_with_strategy(
        INDEXED_PRICE_DECIMALS,
        RoundingStrategy::MidpointAwayFromZero,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn p(y: i32, m: u32) -> Period {
        Period { year: y, month: m }
    }

    #[test]
    fn a_mid_month_start_has_a_stub_then_full_months() {
        let t = Term {
            start: d(2024, 1, 15),
            months: 48,
            terminated_on: None,
        };
        // A stub of 17 days, then 48 full months: February 2024 to January 2028.
        assert_eq!(t.natural_end(), d(2028, 1, 31));
        assert_eq!(t.days_covered(p(2024, 1)), 17);
        assert_eq!(t.days_covered(p(2024, 2)), 29);
        assert_eq!(t.days_covered(p(2028, 1)), 31);
        assert_eq!(t.days_covered(p(2028, 2)), 0);
        assert_eq!(t.days_covered(p(2023, 12)), 0);
        assert_eq!(t.period_index(p(2025, 1)), 12);
    }

    #[test]
    fn indexation_applies_from_the_first_period_after_each_anniversary() {
        let on_first = Term {
            start: d(2024, 1, 1),
            months: 48,
            terminated_on: None,
        };
        assert_eq!(on_first.index_year(p(2024, 12)), 0);
        assert_eq!(on_first.index_year(p(2025, 1)), 1);
        assert_eq!(on_first.index_year(p(2027, 12)), 3);
        let mid = Term {
            start: d(2024, 1, 15),
            ..on_first
        };
        assert_eq!(mid.index_year(p(2025, 1)), 0);
        assert_eq!(mid.index_year(p(2025, 2)), 1);
    }

    #[test]
    fn indexed_prices_compound_from_the_base_and_keep_four_decimals() {
        let base = UnitPrice::parse("3.85").unwrap();
        let pct: Decimal = "2.0".parse().unwrap();
        assert_eq!(index_price(base, pct, 0), base);
        // 3.85 × 1.02 = 3.927
        assert_eq!(index_price(base, pct, 1).0, "3.927".parse().unwrap());
        // 3.85 × 1.02² = 4.00554 → 4.0055
        assert_eq!(index_price(base, pct, 2).0, "4.0055".parse().unwrap());
        // 3.85 × 1.02³ = 4.0856508 → 4.0857 (not 4.0055 × 1.02 = 4.08561 → 4.0856)
        assert_eq!(index_price(base, pct, 3).0, "4.0857".parse().unwrap());
    }

    #[test]
    fn months_left_after_early_termination() {
        let t = Term {
            start: d(2024, 1, 15),
            months: 48,
            terminated_on: Some(d(2025, 6, 30)),
        };
        // Full months run from 2024-02-01; the last one begun is June 2025 (month 16):
        // months 17..47 are left = 31.
        assert_eq!(t.months_left(), 31);
        assert_eq!(t.days_covered(p(2025, 7)), 0);
        let full = Term {
            terminated_on: None,
            ..t
        };
        assert_eq!(full.months_left(), 0);
    }
}
