//! Working hours and a technician's calendar (pure).
//!
//! **Working time.** Monday to Friday, `day_starts_hour..day_ends_hour` UTC (local time is UTC
//! in the simulation; unix day 0, 1970-01-01, is a Thursday; no public holidays). Calendars
//! live on a *working-time axis*: the working seconds since the Monday before the epoch, so a
//! Friday's closing and the next Monday's opening are the same point, and "three working days
//! later" is `3 × day length`. `WorkingHours` converts between the axis and unix seconds.
//!
//! **A visit** is one block of working time: travel out, on site, travel back. A block that
//! fits in a working day is booked inside one day (never across a night); a block longer than
//! a working day starts at an opening and runs on through the next working days (the technician
//! stays over). A technician's calendar is the set of booked blocks, never overlapping; a new
//! block goes in the earliest gap that holds it, never moving another.

/// Seconds in a calendar day.
const DAY: i64 = 86_400;
/// Unix day 0 is a Thursday: day 0 counted from the Monday before is day 3.
const EPOCH_WEEKDAY: i64 = 3;
const WORKING_DAYS_A_WEEK: i64 = 5;

/// Monday-to-Friday working hours, and the working-time axis (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    /// Seconds after midnight UTC.
    open: i64,
    close: i64,
}

impl WorkingHours {
    /// `None` unless `starts_hour < ends_hour <= 24`.
    pub fn new(starts_hour: u32, ends_hour: u32) -> Option<WorkingHours> {
        (starts_hour < ends_hour && ends_hour <= 24).then(|| WorkingHours {
            open: i64::from(starts_hour) * 3600,
            close: i64::from(ends_hour) * 3600,
        })
    }

    /// Working seconds in a working day.
    pub fn day_length(&self) -> i64 {
        self.close - self.open
    }

    /// The axis point of a unix instant: the working time elapsed before it (an instant out of
    /// hours maps to the next opening).
    pub fn to_axis(&self, t: i64) -> i64 {
        let (day, second) = (t.div_euclid(DAY), t.rem_euclid(DAY));
        let from_monday = day + EPOCH_WEEKDAY;
        let (week, weekday) = (from_monday.div_euclid(7), from_monday.rem_euclid(7));
        let days_before = week * WORKING_DAYS_A_WEEK + weekday.min(WORKING_DAYS_A_WEEK);
        let within = if weekday < WORKING_DAYS_A_WEEK {
            (second - self.open).clamp(0, self.day_length())
        } else {
            0
        };
        days_before * self.day_length() + within
    }

    /// The unix instant at which something starting at axis point `w` starts (a day's
    /// boundary is that day's opening).
    pub fn start_at(&self, w: i64) -> i64 {
        let l = self.day_length();
        self.instant(w.div_euclid(l), w.rem_euclid(l))
    }

    /// The unix instant at which something ending at axis point `w` ends (a day's boundary is
    /// the previous working day's closing).
    pub fn end_at(&self, w: i64) -> i64 {
        let l = self.day_length();
        let (day, offset) = (w.div_euclid(l), w.rem_euclid(l));
        if offset == 0 {
            self.instant(day - 1, l)
        } else {
            self.instant(day, offset)
        }
    }

    /// The first instant at or after `t` in working hours.
    pub fn next_open(&self, t: i64) -> i64 {
        self.start_at(self.to_axis(t))
    }

    /// The working day (on the axis, counted like `to_axis`) in which a block ending at `w`
    /// ends.
    pub fn day_ending(&self, w: i64) -> i64 {
        (w - 1).div_euclid(self.day_length())
    }

    fn instant(&self, working_day: i64, offset: i64) -> i64 {
        let week = working_day.div_euclid(WORKING_DAYS_A_WEEK);
        let weekday = working_day.rem_euclid(WORKING_DAYS_A_WEEK);
        let day = week * 7 + weekday - EPOCH_WEEKDAY;
        day * DAY + self.open + offset
    }
}

/// What a visit needs from a technician, on the working-time axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The block may not start before this point.
    pub not_before: i64,
    /// The block's working seconds (travel out, on site, travel back).
    pub length: i64,
    /// The current request's call: no later request can start before it, so blocks ending
    /// by then are forgotten.
    pub now: i64,
}

/// One technician's calendar (module docs): booked blocks on the axis, sorted, disjoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Technician {
    day_length: i64,
    booked: Vec<(i64, i64)>,
}

impl Technician {
    pub fn new(hours: WorkingHours) -> Technician {
        Technician {
            day_length: hours.day_length(),
            booked: Vec::new(),
        }
    }

    /// The earliest start of a block for `slot` in this calendar (after forgetting the blocks
    /// that ended by `slot.now`).
    pub fn earliest(&mut self, slot: &Slot) -> i64 {
        self.forget_before(slot.now);
        let mut start = self.fit(slot.not_before, slot.length);
        for &(from, to) in &self.booked {
            if to <= start {
                continue;
            }
            if start + slot.length <= from {
                break;
            }
            start = self.fit(to, slot.length);
        }
        start
    }

    /// Books `[start, start + length)`, which `earliest` returned for the same slot.
    pub fn book(&mut self, start: i64, length: i64) {
        let at = self.booked.partition_point(|&(from, _)| from < start);
        debug_assert!(
            at == 0 || self.booked[at - 1].1 <= start,
            "overlaps the block before"
        );
        debug_assert!(
            at == self.booked.len() || start + length <= self.booked[at].0,
            "overlaps the block after"
        );
        self.booked.insert(at, (start, start + length));
    }

    /// Booked blocks still remembered (for tests and the actor's answers).
    pub fn booked(&self) -> &[(i64, i64)] {
        &self.booked
    }

    fn forget_before(&mut self, now: i64) {
        let done = self.booked.partition_point(|&(_, to)| to <= now);
        self.booked.drain(..done);
    }

    /// The first start at or after `at` that keeps a block inside one day (or, longer than a
    /// day, starts it at an opening).
    fn fit(&self, at: i64, length: i64) -> i64 {
        let offset = at.rem_euclid(self.day_length);
        let next_opening = at - offset + self.day_length;
        let fits = if length <= self.day_length {
            offset + length <= self.day_length
        } else {
            offset == 0
        };
        if fits {
            at
        } else {
            next_opening
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200;

    fn hours() -> WorkingHours {
        WorkingHours::new(8, 17).unwrap()
    }

    #[test]
    fn unix_day_zero_is_a_thursday() {
        let h = hours();
        // Thursday 1970-01-01 08:00 is the fourth working day's opening.
        assert_eq!(h.to_axis(8 * H), 3 * 9 * H);
        assert_eq!(h.start_at(3 * 9 * H), 8 * H);
        // Monday 2024-01-01 opens at 08:00.
        assert_eq!(h.next_open(MONDAY), MONDAY + 8 * H);
    }

    #[test]
    fn out_of_hours_maps_to_the_next_opening() {
        let h = hours();
        let friday = MONDAY + 4 * DAY;
        let next_monday = MONDAY + 7 * DAY;
        for t in [
            friday + 17 * H,
            friday + 20 * H,
            friday + 2 * DAY,
            next_monday + 7 * H,
        ] {
            assert_eq!(h.next_open(t), next_monday + 8 * H, "from {t}");
        }
        assert_eq!(h.next_open(friday + 16 * H), friday + 16 * H);
        assert_eq!(h.to_axis(friday + 17 * H), h.to_axis(next_monday + 8 * H));
    }

    #[test]
    fn an_end_on_a_boundary_is_the_closing_before() {
        let h = hours();
        let w = h.to_axis(MONDAY + 7 * DAY + 8 * H); // next Monday's opening
        assert_eq!(h.end_at(w), MONDAY + 4 * DAY + 17 * H); // Friday's closing
        assert_eq!(h.start_at(w), MONDAY + 7 * DAY + 8 * H);
        assert_eq!(
            h.day_ending(w),
            h.day_ending(h.to_axis(MONDAY + 4 * DAY + 12 * H))
        );
    }

    #[test]
    fn the_axis_round_trips_every_working_minute_of_a_fortnight() {
        let h = hours();
        for minute in 0..14 * 24 * 60 {
            let t = MONDAY + minute * 60;
            let w = h.to_axis(t);
            assert_eq!(h.start_at(w), h.next_open(t));
            let second = t.rem_euclid(DAY);
            let weekday = (minute / (24 * 60)) % 7;
            if weekday < 5 && (8 * H..17 * H).contains(&second) {
                assert_eq!(h.start_at(w), t);
            }
        }
    }

    #[test]
    fn bad_hours_are_refused() {
        assert!(WorkingHours::new(17, 8).is_none());
        assert!(WorkingHours::new(8, 8).is_none());
        assert!(WorkingHours::new(0, 25).is_none());
        assert_eq!(WorkingHours::new(0, 24).unwrap().day_length(), 24 * H);
    }

    fn slot(not_before: i64, length: i64) -> Slot {
        Slot {
            not_before,
            length,
            now: 0,
        }
    }

    #[test]
    fn a_block_goes_in_the_earliest_gap_that_holds_it() {
        let mut t = Technician::new(hours());
        let day = 9 * H;
        t.book(H, 2 * H); // 09:00–11:00 on day 0
        t.book(4 * H, 2 * H); // 12:00–14:00
        assert_eq!(t.earliest(&slot(0, H)), 0); // 08:00–09:00 is free
        assert_eq!(t.earliest(&slot(0, 2 * H)), 6 * H); // 1 h gaps too short
        assert_eq!(t.earliest(&slot(2 * H, H)), 3 * H); // 11:00–12:00
        assert_eq!(t.earliest(&slot(0, 4 * H)), day); // 14:00–18:00 would cross the night
        let s = t.earliest(&slot(0, 3 * H));
        assert_eq!(s, 6 * H);
        t.book(s, 3 * H);
        assert_eq!(t.booked(), &[(H, 3 * H), (4 * H, 6 * H), (6 * H, 9 * H)]);
    }

    #[test]
    fn a_block_longer_than_a_day_starts_at_an_opening() {
        let mut t = Technician::new(hours());
        let day = 9 * H;
        assert_eq!(t.earliest(&slot(H, 12 * H)), day);
        t.book(day, 12 * H);
        assert_eq!(t.earliest(&slot(day, H)), day + 12 * H);
    }

    #[test]
    fn blocks_ended_by_now_are_forgotten() {
        let mut t = Technician::new(hours());
        t.book(0, H);
        t.book(2 * H, H);
        let s = Slot {
            not_before: 2 * H,
            length: H,
            now: 2 * H,
        };
        assert_eq!(t.earliest(&s), 3 * H);
        assert_eq!(t.booked(), &[(2 * H, 3 * H)]);
    }
}
