//! Every scenario parameter's allowed range, and why it ends there: what a lens-edging shop,
//! its machines and its contracts can physically be (figures from calibration.md). A value
//! outside its range is refused with the range and the reason; a scenario inside every range
//! runs without panic or hang. Whether it also fits the machine's memory is `budget`'s
//! question, not this one's.

use crate::input::{Locator, ScenarioError};
use std::fmt::Display;

type Result<T> = std::result::Result<T, ScenarioError>;

/// An edger's shortest cycle is about 4 minutes a pair (1.5 index, full rim: calibration.md),
/// so around the clock it edges at most 360 pairs a day. No shop edges more than its machines
/// can: a day's jobs beyond this per machine are not drawn (`demand`).
pub const MAX_PAIRS_PER_MACHINE_DAY: u32 = 360;

/// A closed range `lo..=hi` and the reason for it, written in every refusal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound<T> {
    pub lo: T,
    pub hi: T,
    pub why: &'static str,
}

impl<T: Copy + PartialOrd> Bound<T> {
    pub fn contains(&self, v: T) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// "V is out of range: allowed LO to HI (WHY)".
fn refusal(v: impl Display, lo: impl Display, hi: impl Display, why: &str) -> String {
    format!("{v} is out of range: allowed {lo} to {hi} ({why})")
}

impl Bound<i64> {
    pub fn check(&self, v: i64, field: &str, loc: &Locator) -> Result<i64> {
        if !self.contains(v) {
            return Err(loc.at_field(field, refusal(v, self.lo, self.hi, self.why)));
        }
        Ok(v)
    }

    /// The same range with another upper end (one that depends on the scenario).
    pub fn up_to(self, hi: i64) -> Bound<i64> {
        Bound { hi, ..self }
    }
}

impl Bound<f64> {
    /// NaN and infinities are outside every range. Reals are written as reals (`1.0`).
    pub fn check(&self, v: f64, field: &str, loc: &Locator) -> Result<f64> {
        if !v.is_finite() || !self.contains(v) {
            let (lo, hi) = (format!("{:?}", self.lo), format!("{:?}", self.hi));
            return Err(loc.at_field(field, refusal(format!("{v:?}"), lo, hi, self.why)));
        }
        Ok(v)
    }
}

const fn int(lo: i64, hi: i64, why: &'static str) -> Bound<i64> {
    Bound { lo, hi, why }
}

const fn real(lo: f64, hi: f64, why: &'static str) -> Bound<f64> {
    Bound { lo, hi, why }
}

// [scenario], [calendar]
pub const NAME_CHARS: Bound<i64> = int(1, 100, "it names the output folder");
pub const START_YEAR: Bound<i64> = int(
    1990,
    2200,
    "connected edgers; every date keeps four digits to the run's end",
);
pub const MONTHS: Bound<i64> = int(
    1,
    120,
    "ten years: an edger's service life, two and a half 4-year contract terms",
);

// [fleet]
pub const SHOPS: Bound<i64> = int(
    1,
    1_000_000,
    "76 × France's 13,144 shops: more than any maker's installed base",
);
pub const SECOND_MACHINE_ABOVE: Bound<f64> = real(
    0.0,
    10_000.0,
    "pairs per open day; above every shop's level it means no second machine, e.g. 1000",
);

// [demand]
pub const MEDIAN_PAIRS_PER_DAY: Bound<f64> = real(
    0.01,
    360.0,
    "pairs per shop per open day, from one in 100 days to one edger's capacity around the clock",
);
pub const SIGMA: Bound<f64> = real(
    0.0,
    3.0,
    "σ 3 puts the 95th-percentile shop at 140 × the median; France's fleet is 0.81",
);
pub const VOLUME_FACTOR: Bound<f64> = real(0.01, 10.0, "× 2014's volumes; 2022 is 1.37");
pub const CHAIN_MULTIPLIER: Bound<f64> = real(
    0.1,
    10.0,
    "chains' median against independents'; calibrated 1.5",
);
pub const OVERDISPERSION_SHAPE: Bound<f64> = real(
    0.25,
    1e6,
    "below 0.25 a day's spread passes twice its mean, most days empty; 10^6 is Poisson already",
);
pub const WEEKDAY_MULTIPLIER: Bound<f64> = real(
    0.0,
    7.0,
    "about 1 on average; 7 puts a whole week's work on one day",
);
pub const MONTH_MULTIPLIER: Bound<f64> = real(
    0.0,
    12.0,
    "about 1 on average; 12 puts a whole year's work in one month",
);
pub const SHARE: Bound<f64> = real(0.0, 1.0, "a share: 0 none, 1 all");
pub const CONCENTRATION: Bound<f64> = real(
    0.1,
    10_000.0,
    "Beta α + β: 0.1 splits shops into all and nothing, 10,000 gives every shop the mean",
);
pub const REMAKE_SHARE: Bound<f64> = real(
    0.0,
    0.5,
    "V: about 15% of orders on average, 5% in well-run shops; half the pairs remade is no optician",
);
pub const MIX_SHARE: Bound<f64> = real(
    0.0,
    100.0,
    "a share or a percentage; the mix is renormalised",
);
pub const FIXED_PER_DAY: Bound<i64> = int(
    0,
    MAX_PAIRS_PER_MACHINE_DAY as i64,
    "per machine per open day; 360 is one edger's capacity around the clock",
);

// [closures]
pub const SUMMER_WEEKS: Bound<i64> = int(0, 8, "8 weeks: July and August whole");

// [pricing]
/// Prices per unit, in major units of any currency: 6 EUR is about 100,000 IDR. The bound
/// also keeps every invoice line far from 64-bit overflow (10⁶ × 10¹² units < 9.2 × 10¹⁸ cents).
pub const MAX_PRICE: i64 = 1_000_000;
pub const CLOSE_AFTER_DAYS: Bound<i64> = int(
    0,
    27,
    "a month closes before the next one ends: February has 28 days",
);
/// `[[alternative]]`s after sweeps are expanded, beside `[pricing]`'s own.
pub const ALTERNATIVES: Bound<i64> = int(
    0,
    64,
    "each is rated over every close again; 64 covers a sweep of 2–6 EUR by 0.10 with room",
);
pub const TERM_MONTHS: Bound<i64> = int(1, 120, "ten years; the offer's term is 4 years");
/// Its upper end is the run's length in days.
pub const ROLLOUT_DAYS: Bound<i64> = int(0, 0, "every shop starts within the run");
/// The shop index: its upper end is the fleet's last shop.
pub const SHOP_INDEX: Bound<i64> = int(0, 0, "shops are numbered from 0");

// [faults]
pub const COUNTER_DIGITS: Bound<i64> = int(
    3,
    18,
    "fewer would wrap more than once on a day at capacity, up to 720 cycles; more than 18 \
     overflow the engines' signed 64-bit columns",
);
pub const RATE_PER_MACHINE_YEAR: Bound<f64> = real(
    0.0,
    365.0,
    "per machine-year: at most one a day; calibrated 0.1 board swaps, 0.5 outages",
);
pub const OUTAGE_MEDIAN_DAYS: Bound<f64> =
    real(0.1, 366.0, "from a few hours to a year; calibrated 5 days");
pub const OUTAGE_SIGMA: Bound<f64> = real(
    0.0,
    5.0,
    "σ 5 puts one outage in ten at 600 × the median; the cap takes over",
);
pub const OUTAGE_MAX_DAYS: Bound<i64> = int(
    1,
    366,
    "after a year offline a machine is gone, not out; calibrated 42",
);

// [engine]
pub const COMMIT_EVERY_DAYS: Bound<i64> = int(1, 366, "from a transaction a day to one a year");
pub const SPAN_DAYS: Bound<i64> = int(
    1,
    31,
    "a day to a month of work per message; the output is the same for any",
);

// [quote]
/// Its upper end is the run's months less one.
pub const AUDIT_MONTHS: Bound<i64> = int(1, 0, "the audit must leave at least one month to bill");

// [service]
/// Money of the field (machine, wheels, parts, travel, labour), in major units of any currency
/// and whole cents: a 30,000 EUR machine is about 500 M IDR; far from 64-bit overflow in cents.
pub const SERVICE_MONEY: Bound<i64> = int(
    0,
    1_000_000_000,
    "major units of any currency, whole cents: a 30,000 EUR machine is about 500 M IDR",
);
pub const LEASE_PER_1000: Bound<f64> = real(
    0.0,
    1000.0,
    "per 1,000 of machine value a month: 1000 pays the machine every month; V ≈ 20",
);
pub const WEAR_FACTOR: Bound<f64> = real(
    0.0,
    100.0,
    "wheel wear per lens, 1.5 index = 1 and mineral 4; 100 wears a calibrated set out in 40 pairs",
);
pub const WHEEL_LIFE: Bound<f64> = real(
    100.0,
    10_000_000.0,
    "lens-equivalents a set lasts, calibrated 8–15 k: from 50 pairs to over ten years at capacity (2.6 M lenses)",
);
pub const FAILURE_SHAPE: Bound<f64> = real(
    0.5,
    5.0,
    "β: 1 is a constant rate, below 1 failures thin out with age, 5 crowds them at the end of life; calibrated 1.5, copiers 1.64",
);
pub const REFERENCE_PAIRS: Bound<f64> = real(
    1.0,
    131_400.0,
    "pairs a year, from one to an edger's capacity around the clock (360 × 365); calibrated 3,000",
);
pub const TERM_YEARS: Bound<f64> = real(
    0.5,
    10.0,
    "the machines' age at the term's end: ten years is an edger's service life; the offer's term is 4",
);
pub const WORK_MINUTES: Bound<i64> = int(
    1,
    1440,
    "minutes of work, at most a day around the clock; it must also fit in the working day",
);
pub const PARTS_SIGMA: Bound<f64> = real(
    0.0,
    3.0,
    "σ 3 puts one repair in twenty at 140 × the median part; calibrated 0.6",
);
pub const PARTS_ORDER_DAYS: Bound<i64> = int(
    1,
    60,
    "working days for parts, calibrated 3–7; after a quarter the machine is replaced, not repaired",
);
pub const PRECURSOR_DAYS: Bound<i64> = int(
    0,
    90,
    "days of warning, calibrated 3–21: 0 comes with the failure, a quarter ahead is a service plan",
);
pub const PER_1000_MACHINES: Bound<f64> = real(
    0.0,
    1000.0,
    "per 1,000 machines: at most one per machine; calibrated 4 technicians, 10 loaners",
);
pub const TECHNICIANS: Bound<i64> = int(
    1,
    100_000,
    "a region without a technician never repairs; 100,000 is more than one a shop in France",
);
pub const DAY_HOUR: Bound<i64> = int(0, 24, "an hour of the day (UTC in the simulation)");
pub const ROAD_KMH: Bound<f64> = real(
    5.0,
    130.0,
    "from walking pace to France's motorway limit; calibrated 60",
);
pub const DESK_RESPONSE_MINUTES: Bound<i64> = int(
    0,
    1440,
    "a desk slower than a day is no remote desk; calibrated 60",
);
pub const PROMISE_HOURS: Bound<i64> = int(
    1,
    10_000,
    "as a catalogue service tier's promise: 10,000 h is over a year",
);
pub const PARTS_FACTOR: Bound<f64> = real(
    0.0,
    1.0,
    "a preventive visit's parts against the failure's: nothing broke yet, so at most as much",
);

/// The ranges as the README's scenario table writes them (`1–120`, `0.01–360`), each with the
/// key that starts its row (a test keeps the two in step). Ranges whose end depends on the
/// scenario (`pricing.rollout_days`, `quote.audit_months`, a shop's index) are not listed.
pub fn documented() -> Vec<(&'static str, String)> {
    let i = |b: Bound<i64>| format!("{}–{}", b.lo, b.hi);
    let r = |b: Bound<f64>| format!("{}–{}", b.lo, b.hi);
    vec![
        ("scenario.name", i(NAME_CHARS)),
        ("calendar.start", i(START_YEAR)),
        ("calendar.start", i(MONTHS)),
        ("fleet.shops", i(SHOPS)),
        ("fleet.chain_share", r(SHARE)),
        ("fleet.second_machine_above", r(SECOND_MACHINE_ABOVE)),
        ("demand.median_pairs_per_day", r(MEDIAN_PAIRS_PER_DAY)),
        ("demand.median_pairs_per_day", r(SIGMA)),
        ("demand.volume_factor", r(VOLUME_FACTOR)),
        ("demand.chain_multiplier", r(CHAIN_MULTIPLIER)),
        ("demand.overdispersion_shape", r(OVERDISPERSION_SHAPE)),
        ("demand.weekday_multipliers", r(WEEKDAY_MULTIPLIER)),
        ("demand.month_multipliers", r(MONTH_MULTIPLIER)),
        ("demand.in_store_share_mean", r(SHARE)),
        ("demand.in_store_share_mean", r(CONCENTRATION)),
        ("demand.remake_share_min", r(REMAKE_SHARE)),
        ("demand.frame_mix", r(MIX_SHARE)),
        ("demand.material_mix", r(MIX_SHARE)),
        ("demand.fixed_mountings_per_day", i(FIXED_PER_DAY)),
        ("closures.independent_monday_closed_share", r(SHARE)),
        ("closures.summer_closure_share", i(SUMMER_WEEKS)),
        ("pricing.chain", format!("0–{MAX_PRICE}")),
        ("pricing.term_months", i(TERM_MONTHS)),
        ("pricing.early_termination_share", r(SHARE)),
        ("pricing.close_after_days", i(CLOSE_AFTER_DAYS)),
        ("alternative", i(ALTERNATIVES)),
        ("faults.duplicate_share", r(SHARE)),
        ("faults.counter_digits", i(COUNTER_DIGITS)),
        (
            "faults.board_swaps_per_machine_year",
            r(RATE_PER_MACHINE_YEAR),
        ),
        ("faults.lost_read_share", r(SHARE)),
        ("faults.outages_per_machine_year", r(RATE_PER_MACHINE_YEAR)),
        ("faults.outage_median_days", r(OUTAGE_MEDIAN_DAYS)),
        ("faults.outage_median_days", r(OUTAGE_SIGMA)),
        ("faults.outage_median_days", i(OUTAGE_MAX_DAYS)),
        ("engine.commit_every_days", i(COMMIT_EVERY_DAYS)),
        ("engine.span_days", i(SPAN_DAYS)),
        ("service.machine_price", i(SERVICE_MONEY)),
        ("service.lease_per_1000_per_month", r(LEASE_PER_1000)),
        ("service.wear.by_material", r(WEAR_FACTOR)),
        ("service.wear.extra_by_frame", r(WEAR_FACTOR)),
        ("service.wear.wheel_life_min", r(WHEEL_LIFE)),
        ("service.wear.wheel_price", i(SERVICE_MONEY)),
        ("service.wear.tool_price", i(SERVICE_MONEY)),
        ("service.wear.sundries_price", i(SERVICE_MONEY)),
        ("service.failures.shape", r(FAILURE_SHAPE)),
        (
            "service.failures.incidents_per_year_at_reference",
            r(RATE_PER_MACHINE_YEAR),
        ),
        (
            "service.failures.reference_pairs_per_year",
            r(REFERENCE_PAIRS),
        ),
        ("service.failures.term_years", r(TERM_YEARS)),
        ("service.failures.board_swap_share", r(SHARE)),
        ("service.failures.causes.*.share", r(SHARE)),
        ("service.failures.causes.*.remote_fixable", r(SHARE)),
        (
            "service.failures.causes.*.on_site_minutes_min",
            i(WORK_MINUTES),
        ),
        (
            "service.failures.causes.*.parts_median_price",
            i(SERVICE_MONEY),
        ),
        (
            "service.failures.causes.*.parts_median_price",
            r(PARTS_SIGMA),
        ),
        ("service.failures.causes.*.parts_order", r(SHARE)),
        ("service.failures.causes.*.parts_order", i(PARTS_ORDER_DAYS)),
        ("service.failures.causes.*.precursor", r(SHARE)),
        ("service.failures.causes.*.precursor", i(PRECURSOR_DAYS)),
        (
            "service.field.technicians_per_1000_machines",
            r(PER_1000_MACHINES),
        ),
        ("service.field.technicians.REGION", i(TECHNICIANS)),
        ("service.field.day_starts_hour", i(DAY_HOUR)),
        ("service.field.road_kmh", r(ROAD_KMH)),
        ("service.field.km_price", i(SERVICE_MONEY)),
        (
            "service.field.desk_response_minutes",
            i(DESK_RESPONSE_MINUTES),
        ),
        ("service.field.desk_response_minutes", i(WORK_MINUTES)),
        (
            "service.field.loaners_per_1000_machines",
            r(PER_1000_MACHINES),
        ),
        ("service.field.loaner_logistics_price", i(SERVICE_MONEY)),
        ("service.field.default_response_hours", i(PROMISE_HOURS)),
        ("service.predictive.acts_on", r(SHARE)),
        ("service.predictive.acts_on", i(WORK_MINUTES)),
        ("service.predictive.acts_on", r(PARTS_FACTOR)),
    ]
}

/// A share in [0, 1].
pub fn share(v: f64, field: &str, loc: &Locator) -> Result<f64> {
    SHARE.check(v, field, loc)
}

/// `N` multipliers (weekdays, months), each within `bound`, not all 0.
pub fn multipliers<const N: usize>(
    values: &[f64],
    bound: Bound<f64>,
    field: &str,
    what: &str,
    loc: &Locator,
) -> Result<[f64; N]> {
    let array: [f64; N] = values.try_into().map_err(|_| {
        loc.at_field(
            field,
            format!("has {} values; it needs exactly {N}, {what}", values.len()),
        )
    })?;
    for (i, v) in array.iter().enumerate() {
        bound.check(*v, &format!("{field}.{i}"), loc)?;
    }
    if array.iter().all(|v| *v == 0.0) {
        return Err(loc.at_field(field, "all multipliers are 0: nothing would ever happen"));
    }
    Ok(array)
}

/// A mix of named shares (or percentages), not all 0, renormalised to sum to 1.
pub fn mix<const N: usize>(
    values: [f64; N],
    field: &str,
    names: &[&str],
    loc: &Locator,
) -> Result<[f64; N]> {
    for (v, name) in values.iter().zip(names) {
        MIX_SHARE.check(*v, &format!("{field}.{name}"), loc)?;
    }
    let total: f64 = values.iter().sum();
    if total <= 0.0 {
        return Err(loc.at_field(field, "all shares are 0: at least one must be positive"));
    }
    // Shares are renormalised, so 78/15/7 and 0.78/0.15/0.07 mean the same.
    Ok(values.map(|v| v / total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_refusal_names_the_value_the_range_and_the_reason() {
        let loc = Locator::new(Path::new("s.toml"), "[demand]\nsigma = 4.0\n");
        let e = SIGMA.check(4.0, "demand.sigma", &loc).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.toml:2:9: field `demand.sigma`: 4.0 is out of range: allowed 0.0 to 3.0 (σ 3 puts the 95th-percentile shop at 140 × the median; France's fleet is 0.81)"
        );
        assert!(SIGMA.check(f64::NAN, "demand.sigma", &loc).is_err());
        assert!(SIGMA.check(f64::INFINITY, "demand.sigma", &loc).is_err());
        assert_eq!(SIGMA.check(3.0, "demand.sigma", &loc), Ok(3.0));
        assert_eq!(SIGMA.check(0.0, "demand.sigma", &loc), Ok(0.0));
    }

    #[test]
    fn integer_ranges_include_both_ends() {
        let loc = Locator::new(Path::new("s.toml"), "");
        assert_eq!(MONTHS.check(1, "calendar.months", &loc), Ok(1));
        assert_eq!(MONTHS.check(120, "calendar.months", &loc), Ok(120));
        assert!(MONTHS.check(0, "calendar.months", &loc).is_err());
        assert!(MONTHS.check(121, "calendar.months", &loc).is_err());
        assert!(ROLLOUT_DAYS.up_to(31).check(31, "x", &loc).is_ok());
        assert!(ROLLOUT_DAYS.up_to(31).check(32, "x", &loc).is_err());
    }

    /// Every range is in the README's scenario table, on the row of its key.
    #[test]
    fn the_readme_documents_every_range() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
        for (key, range) in documented() {
            let row = rows
                .iter()
                .find(|r| r.starts_with(&format!("| `{key}")))
                .unwrap_or_else(|| panic!("README.md has no row for `{key}`"));
            assert!(
                row.contains(&range),
                "README.md's row for `{key}` lacks {range}: {row}"
            );
        }
    }
}
