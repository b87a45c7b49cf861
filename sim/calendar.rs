//! The simulated calendar: which days exist, and how busy each weekday and month is.
//!
//! Time in the simulation is virtual: day `d` is `start + d` days. Nothing here reads the
//! wall clock.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Weekday};
use serde::Serialize;
use std::fmt;

/// A simulated day, counted from the scenario's start date.
pub type DayIndex = u32;

/// A billing period: a calendar month, counted from the scenario's start month.
pub type PeriodIndex = u32;

/// What every actor needs to know about one simulated day, computed once by the coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayInfo {
    pub index: DayIndex,
    pub date: NaiveDate,
    /// Monday = 0 … Sunday = 6.
    pub weekday: usize,
    /// January = 0.
    pub month: usize,
    /// Day of year on a non-leap reference calendar (closures fall on the same dates yearly).
    pub reference_day_of_year: u32,
    /// Unix seconds at midnight UTC.
    pub midnight: i64,
}

#[derive(Clone, Debug)]
pub struct Calendar {
    start: NaiveDate,
    days: u32,
    months: u32,
}

impl Calendar {
    /// `months` whole calendar months starting on the first day of `start`'s month.
    /// (Scenario validation guarantees the start is the first of a month.)
    pub fn new(start: NaiveDate, months: u32) -> Calendar {
        let end = start + Months::new(months);
        let days = (end - start).num_days() as u32;
        Calendar {
            start,
            days,
            months,
        }
    }

    pub fn days(&self) -> u32 {
        self.days
    }

    pub fn months(&self) -> u32 {
        self.months
    }

    pub fn date(&self, day: DayIndex) -> NaiveDate {
        self.start + Days::new(u64::from(day))
    }

    /// The billing period a day belongs to.
    pub fn period_of(&self, day: DayIndex) -> PeriodIndex {
        let date = self.date(day);
        let months = (date.year() - self.start.year()) * 12 + date.month() as i32
            - self.start.month() as i32;
        months as PeriodIndex
    }

    pub fn info(&self, day: DayIndex) -> DayInfo {
        let date = self.date(day);
        DayInfo {
            index: day,
            date,
            weekday: weekday_index(date),
            month: month_index(date),
            reference_day_of_year: reference_day_of_year(date),
            midnight: self.midnight_unix(day),
        }
    }

    /// The first day of a period (the day after the calendar for `period == months`).
    pub fn first_day_of(&self, period: PeriodIndex) -> DayIndex {
        let first = self.start + Months::new(period);
        (first - self.start).num_days() as DayIndex
    }

    /// Days of a period.
    pub fn days_of(&self, period: PeriodIndex) -> std::ops::Range<DayIndex> {
        self.first_day_of(period)..self.first_day_of(period + 1)
    }

    /// `YYYY-MM` label of a period.
    pub fn period_label(&self, period: PeriodIndex) -> String {
        let first = self.start + Months::new(period);
        format!("{:04}-{:02}", first.year(), first.month())
    }

    /// Unix seconds at midnight UTC of a day. Simulated times are UTC by convention.
    pub fn midnight_unix(&self, day: DayIndex) -> i64 {
        self.date(day)
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_default()
    }
}

/// Day of year on a non-leap reference calendar: 29 February shares 28 February's number,
/// so every later date keeps the same number each year.
pub fn reference_day_of_year(date: NaiveDate) -> u32 {
    let after_leap_day = date.leap_year() && date.ordinal() > 59;
    date.ordinal0() - u32::from(after_leap_day)
}

/// Monday = 0 … Sunday = 6.
pub fn weekday_index(date: NaiveDate) -> usize {
    date.weekday().num_days_from_monday() as usize
}

pub fn weekday_name(index: usize) -> &'static str {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    NAMES[index % 7]
}

pub fn parse_weekday(text: &str) -> Option<usize> {
    let w: Weekday = text.parse().ok()?;
    Some(w.num_days_from_monday() as usize)
}

/// Month of year, January = 0.
pub fn month_index(date: NaiveDate) -> usize {
    date.month0() as usize
}

/// A billing period: a calendar month (UTC), e.g. 2024-01. Serialised as `"2024-01"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn of_unix(seconds: i64) -> Period {
        let t = DateTime::from_timestamp(seconds, 0).unwrap_or_default();
        Period {
            year: t.year(),
            month: t.month(),
        }
    }

    /// `yyyymm` as an integer key.
    pub fn key(self) -> i64 {
        i64::from(self.year) * 100 + i64::from(self.month)
    }

    pub fn from_key(key: i64) -> Period {
        Period {
            year: (key / 100) as i32,
            month: (key % 100) as u32,
        }
    }

    /// Unix seconds at the period's first instant (midnight UTC on the 1st); `i64::MAX` for a
    /// period that is not a real month, which then never starts.
    pub fn start_unix(self) -> i64 {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(i64::MAX, |t| t.and_utc().timestamp())
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Period> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let period = Period {
            year: year.parse().ok()?,
            month: month.parse().ok()?,
        };
        (1..=12).contains(&period.month).then_some(period)
    }

    /// The period's first day; `None` for a period that is not a real month.
    pub fn first_day(self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1)
    }

    /// Days in the month (28–31); 30 for a period that is not a real month.
    pub fn days(self) -> u32 {
        match (self.first_day(), self.next().first_day()) {
            (Some(a), Some(b)) => (b - a).num_days() as u32,
            _ => 30,
        }
    }

    /// The period of a date.
    pub fn of_date(date: chrono::NaiveDate) -> Period {
        use chrono::Datelike;
        Period {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a period: write YYYY-MM, e.g. 2024-01"
            ))
        })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(
            Period::of_unix(1_704_067_200),
            Period {
                year: 2024,
                month: 1
            }
        );
        assert_eq!(
            Period::of_unix(1_704_067_199),
            Period {
                year: 2023,
                month: 12
            }
        );
        assert_eq!(
            Period {
                year: 2023,
                month: 12
            }
            .next(),
            Period {
                year: 2024,
                month: 1
            }
        );
        assert_eq!(Period::from_key(202402).to_string(), "2024-02");
    }

    fn cal() -> Calendar {
        Calendar::new(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), 14)
    }

    #[test]
    fn counts_days_of_whole_months_including_leap_day() {
        assert_eq!(
            Calendar::new(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), 12).days(),
            366
        );
        assert_eq!(
            Calendar::new(NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(), 48).days(),
            1461
        );
    }

    #[test]
    fn periods_follow_calendar_months() {
        let c = cal();
        assert_eq!(c.period_of(0), 0);
        assert_eq!(c.period_of(30), 0);
        assert_eq!(c.period_of(31), 1);
        assert_eq!(c.period_of(366), 12);
        assert_eq!(c.period_label(12), "2025-01");
        assert_eq!(c.period_label(13), "2025-02");
    }

    #[test]
    fn weekdays() {
        // 2024-01-01 was a Monday.
        assert_eq!(weekday_index(cal().date(0)), 0);
        assert_eq!(weekday_index(cal().date(6)), 6);
        assert_eq!(parse_weekday("sat"), Some(5));
        assert_eq!(parse_weekday("Monday"), Some(0));
        assert_eq!(parse_weekday("funday"), None);
    }

    #[test]
    fn reference_day_of_year_ignores_leap_days() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            reference_day_of_year(d(2023, 8, 1)),
            reference_day_of_year(d(2024, 8, 1))
        );
        assert_eq!(
            reference_day_of_year(d(2024, 2, 29)),
            reference_day_of_year(d(2024, 2, 28))
        );
        assert_eq!(cal().info(0).weekday, 0);
        assert_eq!(cal().info(31).month, 1);
    }

    #[test]
    fn midnight_is_utc() {
        assert_eq!(cal().midnight_unix(0), 1_704_067_200);
    }
}
