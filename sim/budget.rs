//! The memory a run needs, estimated from the validated scenario before anything is simulated,
//! and the limit it must fit in (the machine's available memory, or `--max-memory`).
//!
//! The model adds up what a run holds at once, each part from the scenario alone: the fixed
//! cost of the process, SQLite's page cache, an actor per shop and per machine, the events
//! between the machines and the store, and per shop and month the truth, usage and invoices
//! read back for reconciliation and the reports. The per-part constants were calibrated
//! against the peak RSS of real runs (ARCHITECTURE.md, "Memory"); the sum is meant to stay
//! above the real peak (freed actors' memory is partly reused by the read-back, which the sum
//! does not count on).

use crate::billing::{Invoice, InvoiceLine};
use crate::event::UsageEvent;
use crate::metering::{CounterUsageRow, UsageRow};
use crate::scenario::bounds::MAX_PAIRS_PER_MACHINE_DAY;
use crate::scenario::{DemandMode, Scenario};
use crate::truth::{Mix, Tally};
use std::fmt;
use std::mem::size_of;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The process before any shop: runtime, threads, binary, per-day fleet tallies (measured:
/// 10–12 MB for a run of two shops).
const FIXED: u64 = 16 * MIB;
/// SQLite's page cache (`cache_size = -65536`, 64 MiB) and its other allocations; the cache
/// fills only as far as the store grows, about 32 bytes an event (France: 2.5 GB for 77.7 M).
const STORE_CACHE: u64 = 68 * MIB;
const STORE_BYTES_PER_EVENT: u64 = 40;
/// A shop actor and a machine actor: ractor's mailboxes and tokio's task (≈ 8 KB each, field
/// notes), the profile, the board's slots, the engine's per-machine state (`seen`, VEE).
/// Measured: 15–19 KB for a one-machine shop (France, 1 month, with and without demand); then
/// ≈ 6 KB more an actor with ractor's `cluster` feature (a boxed message is 112 bytes instead
/// of 16 and a mailbox preallocates 32 of them: France's peak +150 MB).
const PER_SHOP: u64 = 18 * KIB;
const PER_MACHINE: u64 = 16 * KIB;
/// The engine's recent readings of a machine, kept to re-sequence late ones (`vee::sequence`):
/// 42 to 84 days of daily reads at 48 bytes, in a deque of 128, and two copies of the
/// validation state. Measured: +95 MB for France's 13,251 machines over 12 months.
const VEE_HISTORY_PER_MACHINE: u64 = 8 * KIB;
/// `[service]` on: a machine's failure process and wheels (their streams and parameters), its
/// backlog, and the field's tallies. Measured: +17 MB for France's 13,251 machines over 12
/// months (1.3 KB a machine).
const FIELD_PER_MACHINE: u64 = 2 * KIB;
/// Days of events held at once between the machines and the store: the span on the board
/// (a week, written and read), the coordinator's day batches, the channel's four, each vector
/// up to twice its length. Measured 1.8–3.0 KB per event a day of the busiest month, 32–54
/// days' worth of `UsageEvent`s.
const DAYS_IN_FLIGHT: u64 = 48;
/// Per shop and month beyond the sizes of the types read back: heap headers, the currency
/// and lines of each invoice, reconciliation and report rows. Calibrated so that a shop-month
/// costs 640 bytes in all (measured 470–480 over 120 months; 250 for France, whose read-back
/// reuses the freed actors' memory). A compile error if the types outgrow it.
const PER_SHOP_MONTH_EXTRA: u64 = 640 - SHOP_MONTH_TYPES;
/// A plan invoice's notes (what is included, proration, SLA: 5–8 sentences).
const PER_PLAN_SHOP_MONTH: u64 = 640;
/// `[[alternative]]`s: per pricing and shop-month, its invoice and lines rated in memory and
/// its judgement's rows; once more for the metered closes they are rated from and the base's
/// copy. Measured: +830 MB from 1 to 5 alternatives on France over 48 months (631 k
/// shop-months: 330 bytes each per alternative).
const PER_ALTERNATIVE_SHOP_MONTH: u64 = 384;

const SHOP_MONTH_TYPES: u64 = (size_of::<Tally>()
    + size_of::<Mix>()
    + size_of::<u32>()
    + size_of::<UsageRow>()
    + size_of::<CounterUsageRow>()
    + size_of::<Option<Invoice>>()
    + 3 * size_of::<InvoiceLine>()) as u64;

/// A run's peak memory, by part, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Estimate {
    /// The process itself.
    pub fixed: u64,
    /// SQLite's page cache, as far as the store fills it.
    pub store_cache: u64,
    /// An actor per shop and per machine, with their state.
    pub actors: u64,
    /// Events between the machines and the store, outage backlogs included.
    pub in_flight: u64,
    /// Per shop and month: truth, usage and invoices read back, reports.
    pub shop_months: u64,
    /// `[quote]`: every shop's audit, day by day.
    pub audit: u64,
    /// `[[alternative]]`s: every pricing's bills, in memory.
    pub alternatives: u64,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.fixed
            + self.store_cache
            + self.actors
            + self.in_flight
            + self.shop_months
            + self.audit
            + self.alternatives
    }
}

/// The peak memory a run of `s` needs (see the module's doc for the model).
pub fn estimate(s: &Scenario) -> Estimate {
    let load = Load::of(s);
    let days = u64::from(crate::calendar::Calendar::new(s.start, s.months).days());
    let shops = u64::from(s.fleet.shops);
    let shop_months = shops * u64::from(s.months);
    let event = size_of::<UsageEvent>() as u64;
    let events_a_day = load.events_per_day.ceil() as u64;
    let field = if s.service.enabled {
        FIELD_PER_MACHINE
    } else {
        0
    };
    let plan_shops = if s.pricing.plan.is_some() {
        shops
    } else {
        s.pricing.per_shop_plan.len() as u64
    };
    Estimate {
        fixed: FIXED,
        store_cache: STORE_CACHE.min(events_a_day * days * STORE_BYTES_PER_EVENT),
        actors: shops * PER_SHOP
            + load.machines.ceil() as u64 * (PER_MACHINE + VEE_HISTORY_PER_MACHINE + field),
        in_flight: (events_a_day * DAYS_IN_FLIGHT + load.backlog(days)) * event,
        shop_months: shop_months * (SHOP_MONTH_TYPES + PER_SHOP_MONTH_EXTRA)
            + plan_shops * u64::from(s.months) * PER_PLAN_SHOP_MONTH,
        // `[mountings, trace_only]` per shop and day, and each shop's audit built from it
        // (the longest audit: `[quote]`'s or an alternative's).
        audit: shops * u64::from(s.audit_window_months()) * 31 * 2 * size_of::<[u32; 2]>() as u64,
        alternatives: alternatives_bytes(s, shop_months),
    }
}

/// Every alternative's bills (plans with their notes), and the metered closes they are rated
/// from with the base's copy: nothing without alternatives.
fn alternatives_bytes(s: &Scenario, shop_months: u64) -> u64 {
    if s.alternatives.is_empty() {
        return 0;
    }
    let pricings = s.alternatives.len() as u64 + 1;
    let plans = s
        .alternatives
        .iter()
        .filter(|a| a.pricing.plan.is_some() || !a.pricing.per_shop_plan.is_empty())
        .count() as u64;
    shop_months * (pricings * PER_ALTERNATIVE_SHOP_MONTH + plans * PER_PLAN_SHOP_MONTH)
}

/// What the fleet does on a day of its busiest month, from the scenario's figures alone.
struct Load {
    /// Expected machines: one per shop, two above `second_machine_above`.
    machines: f64,
    /// Events a day: jobs, remakes, counter reads, duplicates re-sent.
    events_per_day: f64,
    /// Per machine and day, for the outage backlogs.
    events_per_machine_day: f64,
    /// Share of machines offline at a time, and the mean outage's days.
    offline: f64,
    outage_days: f64,
}

impl Load {
    fn of(s: &Scenario) -> Load {
        let shops = f64::from(s.fleet.shops);
        let machines = shops * (1.0 + second_machine_share(s));
        let d = &s.demand;
        let open = |w: usize| !s.closures.closed_weekdays[w];
        let jobs_per_machine_day = match d.mode {
            DemandMode::Fixed {
                mountings,
                trace_only,
            } => f64::from(mountings + trace_only),
            DemandMode::Calibrated => {
                // The fleet's mean level (segment medians keep the lognormal's mean), on an
                // average open weekday of the busiest month, within the machines' capacity.
                let level =
                    d.median_pairs_per_day * d.volume_factor * (d.sigma * d.sigma / 2.0).exp();
                let week: f64 = (0..7)
                    .filter(|w| open(*w))
                    .map(|w| d.weekday[w])
                    .sum::<f64>();
                let busiest = d.month.iter().copied().fold(0.0, f64::max);
                let per_shop_day = level * week / 7.0 * busiest * (1.0 + d.remake_share.1);
                let capacity = f64::from(MAX_PAIRS_PER_MACHINE_DAY) * (1.0 + d.remake_share.1);
                (per_shop_day * shops / machines).min(capacity)
            }
        };
        let f = &s.faults;
        // A counter read a day, two on a board swap's day.
        let reads = 1.0 + f.board_swaps_per_machine_year / 365.0;
        let per_machine_day = (jobs_per_machine_day + reads) * (1.0 + f.duplicate_share);
        let o = &f.outages;
        let outage_days =
            (o.median_days * (o.sigma * o.sigma / 2.0).exp()).min(f64::from(o.max_days));
        Load {
            machines,
            events_per_day: per_machine_day * machines,
            events_per_machine_day: per_machine_day,
            offline: (o.per_machine_year * outage_days / 365.0).min(1.0),
            outage_days,
        }
    }

    /// Events buffered by machines offline, at a time: each holds its outage's days of work.
    fn backlog(&self, days: u64) -> u64 {
        let held_days = self.outage_days.min(days as f64);
        (self.offline * self.machines * self.events_per_machine_day * held_days).ceil() as u64
    }
}

/// The expected share of shops whose drawn level is above `second_machine_above` (they run
/// two machines): per segment, the lognormal's upper tail.
fn second_machine_share(s: &Scenario) -> f64 {
    let threshold = s.fleet.second_machine_above;
    let (chain, independent) = crate::fleet::segment_medians(s);
    let above = |median: f64| {
        let sigma = s.demand.sigma;
        if threshold <= 0.0 {
            1.0
        } else if sigma == 0.0 {
            f64::from(u8::from(median > threshold))
        } else {
            0.5 * erfc((threshold.ln() - median.ln()) / (sigma * std::f64::consts::SQRT_2))
        }
    };
    let c = s.fleet.chain_share;
    c * above(chain) + (1.0 - c) * above(independent)
}

/// The complementary error function (Numerical Recipes' `erfcc`, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// A number of bytes, as `--max-memory` takes it and messages print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    /// `500M`, `8G`, `1.5GiB`, `2000MB`: K, M, G, T and KiB … TiB are powers of 1024; KB … TB
    /// powers of 1000; B bytes. A unit is required (a bare `8` is more likely a mistake than
    /// 8 bytes).
    fn from_str(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = (&t[..split], t[split..].trim());
        let bad = || {
            format!("`{text}` is not a size: write a number and a unit, e.g. 500M, 8G or 1.5GiB")
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        let scale = match unit.to_ascii_lowercase().as_str() {
            "b" => 1,
            "k" | "kib" => KIB,
            "m" | "mib" => MIB,
            "g" | "gib" => GIB,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(bad()),
        };
        let bytes = value * scale as f64;
        // Up to 2^60 bytes (an exbibyte): beyond any machine, and far from u64's end.
        if !(1.0..=(1u64 << 60) as f64).contains(&bytes) {
            return Err(format!(
                "`{text}` is out of range: allowed 1 byte to 1024 PiB"
            ));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    /// In binary units, three significant figures or so: `704 MiB`, `1.5 GiB`, `77.4 GiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let (value, unit) = match self.0 {
            n if n >= GIB => (b / GIB as f64, "GiB"),
            n if n >= MIB => (b / MIB as f64, "MiB"),
            n if n >= KIB => (b / KIB as f64, "KiB"),
            _ => return write!(f, "{} B", self.0),
        };
        if value < 100.0 {
            write!(f, "{value:.1} {unit}")
        } else {
            write!(f, "{value:.0} {unit}")
        }
    }
}

/// The memory a run may use, and where that figure comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    pub source: LimitSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitSource {
    /// `--max-memory`.
    Flag,
    /// `/proc/meminfo`'s `MemAvailable`: what can be allocated without swapping.
    Available,
    /// `/proc/meminfo`'s `MemTotal`, on kernels without `MemAvailable` (before 3.14).
    Total,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = ByteSize(self.bytes);
        match self.source {
            LimitSource::Flag => write!(f, "the limit of {size} (--max-memory)"),
            LimitSource::Available => write!(f, "the {size} available (MemAvailable)"),
            LimitSource::Total => write!(f, "the machine's {size} (MemTotal)"),
        }
    }
}

/// `--max-memory` if given, else the machine's memory; `None` where neither is known (no
/// `/proc/meminfo`: not Linux), and then no run is refused for its memory.
pub fn limit(max_memory: Option<ByteSize>) -> Option<Limit> {
    match max_memory {
        Some(size) => Some(Limit {
            bytes: size.0,
            source: LimitSource::Flag,
        }),
        None => std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| meminfo_limit(&text)),
    }
}

/// `MemAvailable`, else `MemTotal`, from `/proc/meminfo`'s text (`MemTotal: 24683652 kB`).
pub fn meminfo_limit(text: &str) -> Option<Limit> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib * KIB)
        })
    };
    let (bytes, source) = match field("MemAvailable") {
        Some(b) => (b, LimitSource::Available),
        None => (field("MemTotal")?, LimitSource::Total),
    };
    Some(Limit { bytes, source })
}

/// This process's peak resident memory so far (`VmHWM`), where the system tells it (Linux).
pub fn peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find_map(|line| {
        let kib: u64 = line
            .strip_prefix("VmHWM:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(kib * KIB)
    })
}

/// A scenario whose estimate is above the limit: what it needs, what there is, and how many
/// shops or months would fit.
#[derive(Clone, Debug, PartialEq)]
pub struct OverBudget {
    pub estimate: u64,
    pub limit: Limit,
    pub shops: u32,
    pub months: u32,
    /// The most shops that fit over the scenario's months (0: not even one).
    pub shops_that_fit: u32,
    /// The most months that fit with the scenario's shops (0: not even one).
    pub months_that_fit: u32,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a run needs about {} of memory (estimated from the scenario), more than {}: ",
            ByteSize(self.estimate),
            self.limit
        )?;
        let mut ways = Vec::new();
        if self.shops_that_fit > 0 {
            ways.push(format!(
                "fewer shops (`fleet.shops` = {}; at most about {} fit over {} months)",
                self.shops, self.shops_that_fit, self.months
            ));
        }
        if self.months_that_fit > 0 {
            ways.push(format!(
                "fewer months (`calendar.months` = {}; at most about {} fit with {} shops)",
                self.months, self.months_that_fit, self.shops
            ));
        }
        if ways.is_empty() {
            ways.push("fewer shops and months".to_string());
        }
        let flag = match self.limit.source {
            LimitSource::Flag => "raise --max-memory",
            _ => "run it on a machine with more memory (--max-memory SIZE sets the limit)",
        };
        write!(f, "use {}, or {flag}", ways.join(" or "))
    }
}

/// Whether a run of `s` fits `limit`; `None` (no limit known) always fits.
pub fn check(s: &Scenario, limit: Option<Limit>) -> Result<Estimate, OverBudget> {
    let estimate = estimate(s);
    let Some(limit) = limit else {
        return Ok(estimate);
    };
    if estimate.total() <= limit.bytes {
        return Ok(estimate);
    }
    let fits = |shops: u32, months: u32| {
        let mut t = s.clone();
        t.fleet.shops = shops;
        t.months = months;
        t.quote = t.quote.filter(|q| q.audit_months < months);
        self::estimate(&t).total() <= limit.bytes
    };
    Err(OverBudget {
        estimate: estimate.total(),
        limit,
        shops: s.fleet.shops,
        months: s.months,
        shops_that_fit: most(s.fleet.shops, |n| fits(n, s.months)),
        months_that_fit: most(s.months, |n| fits(s.fleet.shops, n)),
    })
}

/// The largest n in 1..=hi with `fits(n)` (which holds up to some n and not above), or 0.
fn most(hi: u32, fits: impl Fn(u32) -> bool) -> u32 {
    let (mut lo, mut hi) = (0, hi);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        crate::scenario::parse(Path::new("budget.toml"), text).unwrap()
    }

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        let b = |t: &str| t.parse::<ByteSize>().map(|s| s.0);
        assert_eq!(b("8G"), Ok(8 << 30));
        assert_eq!(b("500M"), Ok(500 << 20));
        assert_eq!(b("1.5GiB"), Ok(3 << 29));
        assert_eq!(b("2000MB"), Ok(2_000_000_000));
        assert_eq!(b(" 64 k "), Ok(64 << 10));
        assert_eq!(b("1T"), Ok(1 << 40));
        for bad in [
            "8", "G", "8X", "-1G", "1.2.3G", "", "0G", "0.1B", "2000000T",
        ] {
            assert!(b(bad).is_err(), "{bad:?} is refused");
        }
        assert!(b("8").unwrap_err().contains("e.g. 500M, 8G or 1.5GiB"));
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(ByteSize(704 * MIB).to_string(), "704 MiB");
        assert_eq!(ByteSize(3 << 29).to_string(), "1.5 GiB");
        assert_eq!(ByteSize(50 * MIB + MIB / 2).to_string(), "50.5 MiB");
        assert_eq!(ByteSize(512).to_string(), "512 B");
    }

    #[test]
    fn the_machine_limit_is_mem_available_else_mem_total() {
        let both = "MemTotal:       24683652 kB\nMemFree:        16875184 kB\nMemAvailable:   24201500 kB\n";
        assert_eq!(
            meminfo_limit(both),
            Some(Limit {
                bytes: 24_201_500 * 1024,
                source: LimitSource::Available
            })
        );
        let old = "MemTotal:        2048 kB\nMemFree:         1024 kB\n";
        assert_eq!(
            meminfo_limit(old),
            Some(Limit {
                bytes: 2048 * 1024,
                source: LimitSource::Total
            })
        );
        assert_eq!(meminfo_limit("nothing here\n"), None);
    }

    #[test]
    fn the_second_machine_share_follows_the_lognormal_tail() {
        // Median 2.6, σ 0.81, one segment: P(level > 20) = Q((ln 20 − ln 2.6) / 0.81) ≈ 0.59%.
        let s = scenario("[fleet]\nchain_share = 0.0\n[demand]\nchain_multiplier = 1.0\n");
        let p = second_machine_share(&s);
        assert!((p - 0.00589).abs() < 0.0002, "{p}");
        let every = scenario("[fleet]\nsecond_machine_above = 0.0\n");
        assert_eq!(second_machine_share(&every), 1.0);
        let none = scenario("[fleet]\nsecond_machine_above = 10000.0\n");
        assert!(second_machine_share(&none) < 1e-9);
        assert!((erfc(0.0) - 1.0).abs() < 1e-7 && (erfc(-3.0) - 2.0).abs() < 1e-4);
    }

    #[test]
    fn the_estimate_grows_with_shops_months_and_demand() {
        let base = estimate(&scenario(
            "[fleet]\nshops = 1000\n[calendar]\nmonths = 12\n",
        ));
        let shops = estimate(&scenario(
            "[fleet]\nshops = 2000\n[calendar]\nmonths = 12\n",
        ));
        let months = estimate(&scenario(
            "[fleet]\nshops = 1000\n[calendar]\nmonths = 24\n",
        ));
        let busy = estimate(&scenario(
            "[fleet]\nshops = 1000\n[calendar]\nmonths = 12\n[demand]\nmedian_pairs_per_day = 50\n",
        ));
        // Machines are expected counts, rounded up: doubling the shops doubles them ± 1.
        assert!(shops.actors.abs_diff(2 * base.actors) <= PER_MACHINE + VEE_HISTORY_PER_MACHINE);
        assert_eq!(shops.shop_months, 2 * base.shop_months);
        assert!(months.shop_months == 2 * base.shop_months && months.actors == base.actors);
        assert!(busy.in_flight > 10 * base.in_flight);
        assert!(base.total() < shops.total() && base.total() < months.total());
    }

    #[test]
    fn the_field_adds_its_state_per_machine() {
        let off = estimate(&scenario("[fleet]\nshops = 1000\n"));
        let on = estimate(&scenario(
            "[fleet]\nshops = 1000\n[service]\nenabled = true\n",
        ));
        let machines = (on.actors - off.actors) / FIELD_PER_MACHINE;
        assert!((1000..1100).contains(&machines), "{machines}");
        assert_eq!(on.total() - off.total(), on.actors - off.actors);
    }

    #[test]
    fn alternatives_add_their_bills_per_pricing() {
        let one = "[fleet]\nshops = 1000\n[calendar]\nmonths = 12\n";
        let none = estimate(&scenario(one));
        let two = estimate(&scenario(&format!(
            "{one}[[alternative]]\nid = \"a\"\nchain = \"3.00\"\n\
             [[alternative]]\nid = \"b\"\nchain = \"4.00\"\n"
        )));
        assert_eq!(none.alternatives, 0);
        // Two alternatives and the base (with the closes they are rated from).
        assert_eq!(two.alternatives, 1000 * 12 * 3 * PER_ALTERNATIVE_SHOP_MONTH);
        assert_eq!(two.total() - none.total(), two.alternatives);
    }

    #[test]
    fn over_the_limit_says_how_many_shops_or_months_fit() {
        let s = scenario("[fleet]\nshops = 1000000\n[calendar]\nmonths = 120\n");
        let limit = Limit {
            bytes: 8 * GIB,
            source: LimitSource::Flag,
        };
        let over = check(&s, Some(limit)).unwrap_err();
        assert!(over.estimate > 8 * GIB);
        assert!(over.shops_that_fit > 0 && over.shops_that_fit < 1_000_000);
        let mut fitting = s.clone();
        fitting.fleet.shops = over.shops_that_fit;
        assert!(estimate(&fitting).total() <= limit.bytes);
        fitting.fleet.shops += 1;
        assert!(estimate(&fitting).total() > limit.bytes);
        // A million shops do not fit 8 GiB even for one month.
        assert_eq!(over.months_that_fit, 0);
        let text = over.to_string();
        assert!(
            text.contains("more than the limit of 8.0 GiB (--max-memory)"),
            "{text}"
        );
        assert!(text.contains("`fleet.shops` = 1000000"), "{text}");
        assert!(check(&s, None).is_ok(), "no known limit refuses nothing");
    }
}
