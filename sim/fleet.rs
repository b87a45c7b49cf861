//! The fleet: every shop's static profile, drawn once from the scenario and the seed.
//!
//! Each shop draws from its own `ShopProfile` stream, so shop 17 is the same shop whatever
//! the fleet size or thread count.

use crate::billing::terms::Term;
use crate::calendar::DayIndex;
use crate::event::{MachineId, ShopId};
use crate::money::UnitPrice;
use crate::rng::{stream, Purpose};
use crate::scenario::{DemandMode, Scenario};
use chrono::{Days, NaiveDate};
use rand::Rng;
use rand_distr::{Beta, Distribution, LogNormal};

pub use crate::scenario::Segment;

#[derive(Clone, Debug)]
pub struct ShopProfile {
    pub id: ShopId,
    pub segment: Segment,
    /// The shop's level: mean pairs (jobs) per open day before weekday/month effects.
    pub mean_pairs_per_day: f64,
    /// Share of jobs edged in store; the rest are remote-edged (trace-only, not billed).
    pub in_store_share: f64,
    /// Extra mountings per in-store mounting, for remakes.
    pub remake_share: f64,
    /// Monday first: the shop is closed on these weekdays.
    pub closed_weekdays: [bool; 7],
    /// Summer closure, the same every year: (first day of year, 0-based; length in days).
    pub summer_closure: Option<(u32, u32)>,
    pub machines: Vec<MachineId>,
    pub price: UnitPrice,
    /// The days the shop's machines are installed.
    pub in_service: InService,
}

/// When a shop's machines work: from its contract's start to the contract's last day covered
/// (or the run's end). A plan contract that ends within the run (early termination, or the
/// term's natural end) removes the machines on its last day, with a final counter read.
/// Shops without a catalogue plan work the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InService {
    /// The contract's first day (the run's first day unless the scenario says otherwise).
    pub start: NaiveDate,
    /// The early termination the contract records, if any (its last day covered).
    pub terminated_on: Option<NaiveDate>,
    pub first_day: DayIndex,
    /// Last day the machines work (inclusive).
    pub last_day: DayIndex,
    /// The machines are removed on `last_day`: the contract ends within the run.
    pub removed: bool,
}

impl InService {
    pub fn covers(&self, day: DayIndex) -> bool {
        (self.first_day..=self.last_day).contains(&day)
    }

    pub fn removal_day(&self) -> Option<DayIndex> {
        self.removed.then_some(self.last_day)
    }
}

#[derive(Clone, Debug)]
pub struct Fleet {
    pub shops: Vec<ShopProfile>,
    /// Shop of each machine, indexed by machine id.
    pub machine_shop: Vec<ShopId>,
}

impl Fleet {
    pub fn generate(s: &Scenario) -> Fleet {
        let mut shops = Vec::with_capacity(s.fleet.shops as usize);
        let mut machine_shop = Vec::with_capacity(s.fleet.shops as usize);
        for index in 0..s.fleet.shops {
            let mut shop = draw_shop(s, index);
            let count = if shop.mean_pairs_per_day > s.fleet.second_machine_above {
                2
            } else {
                1
            };
            for _ in 0..count {
                shop.machines.push(MachineId(machine_shop.len() as u32));
                machine_shop.push(shop.id);
            }
            shops.push(shop);
        }
        Fleet {
            shops,
            machine_shop,
        }
    }

    pub fn machine_count(&self) -> usize {
        self.machine_shop.len()
    }
}

/// Medians of the two segments such that the fleet mean equals that of the calibrated
/// lognormal (median, sigma): chains are `chain_multiplier` × independents.
pub fn segment_medians(s: &Scenario) -> (f64, f64) {
    let d = &s.demand;
    let weight = s.fleet.chain_share * d.chain_multiplier + (1.0 - s.fleet.chain_share);
    let independent = d.median_pairs_per_day * d.volume_factor / weight;
    (independent * d.chain_multiplier, independent)
}

fn draw_shop(s: &Scenario, index: u32) -> ShopProfile {
    let mut rng = stream(s.seed, Purpose::ShopProfile, index);
    let d = &s.demand;
    let c = &s.closures;
    let segment = if rng.random_bool(s.fleet.chain_share) {
        Segment::Chain
    } else {
        Segment::Independent
    };
    let (chain_median, independent_median) = segment_medians(s);
    let median = if segment == Segment::Chain {
        chain_median
    } else {
        independent_median
    };
    let mean_pairs_per_day =
        LogNormal::new(median.ln(), d.sigma).map_or(median, |ln| ln.sample(&mut rng));
    let in_store_share = beta_by_mean(
        &mut rng,
        d.in_store_share_mean,
        d.in_store_share_concentration,
    );
    let remake_share = rng.random_range(d.remake_share.0..=d.remake_share.1);
    let monday_share = match segment {
        Segment::Chain => c.chain_monday_closed_share,
        Segment::Independent => c.independent_monday_closed_share,
    };
    let monday_closed = rng.random_bool(monday_share);
    let closes_in_summer = rng.random_bool(c.summer_closure_share);
    let weeks = rng.random_range(c.summer_closure_weeks.0..=c.summer_closure_weeks.1);
    let start = rng.random_range(c.summer_closure_start.0..=c.summer_closure_start.1);
    let id = ShopId(index);
    let price = s.pricing.price_of(index, segment);
    let mut closed_weekdays = c.closed_weekdays;
    let calibrated = d.mode == DemandMode::Calibrated;
    // Fixed demand is for hand-checked examples: only the scenario's closed weekdays apply.
    if calibrated && monday_closed {
        closed_weekdays[0] = true;
    }
    if closed_weekdays.iter().all(|c| *c) {
        closed_weekdays = c.closed_weekdays;
    }
    ShopProfile {
        id,
        segment,
        mean_pairs_per_day,
        in_store_share,
        remake_share,
        closed_weekdays,
        summer_closure: (calibrated && closes_in_summer && weeks > 0).then_some((start, weeks * 7)),
        machines: Vec::new(),
        price,
        in_service: in_service(s, index),
    }
}

/// The shop's contract dates: its own, else drawn (rollout, early termination) from its
/// `Contract` stream, which is drawn in the same order whatever is used, so one shop's dates
/// never depend on another's or on the scenario's other keys.
fn in_service(s: &Scenario, index: u32) -> InService {
    let run_last = s.start + Days::new(u64::from(run_days(s)) - 1);
    let whole_run = InService {
        start: s.start,
        terminated_on: None,
        first_day: 0,
        last_day: run_days(s) - 1,
        removed: false,
    };
    let p = &s.pricing;
    let (Some(_), Some(catalogue)) = (p.plan_of(index), &p.catalogue) else {
        return whole_run;
    };
    let mut rng = stream(s.seed, Purpose::Contract, index);
    let rollout = rng.random_range(0..p.rollout_days.max(1));
    let terminates = rng.random_bool(p.early_termination_share);
    let share_of_rest: f64 = rng.random();
    let own = p.per_shop_dates.get(&index).copied().unwrap_or_default();
    let start = own.start.unwrap_or(s.start + Days::new(u64::from(rollout)));
    let months = p
        .term_months
        .unwrap_or(catalogue.catalogue.defaults.term_months);
    let natural_end = Term {
        start,
        months,
        terminated_on: None,
    }
    .natural_end();
    // Early means before the term's own last day; a termination on or after it is none.
    let before_end = natural_end.pred_opt().unwrap_or(natural_end).min(run_last);
    let terminated_on = own
        .terminated_on
        .or_else(|| {
            // A uniform day after the start, up to the term's or the run's end.
            let after = (before_end - start).num_days();
            (terminates && after > 0).then(|| {
                let offset = 1 + ((after as f64) * share_of_rest) as i64;
                start + Days::new(offset.min(after) as u64)
            })
        })
        .filter(|t| *t < natural_end);
    let last = terminated_on.unwrap_or(natural_end);
    let day_of = |d: NaiveDate| (d - s.start).num_days() as DayIndex;
    InService {
        start,
        terminated_on,
        first_day: day_of(start),
        last_day: day_of(last.min(run_last)),
        removed: last <= run_last,
    }
}

fn run_days(s: &Scenario) -> u32 {
    crate::calendar::Calendar::new(s.start, s.months).days()
}

/// A Beta draw with the given mean and concentration (alpha + beta); the ends are constant.
fn beta_by_mean<R: Rng>(rng: &mut R, mean: f64, concentration: f64) -> f64 {
    if mean <= 0.0 || mean >= 1.0 {
        return mean.clamp(0.0, 1.0);
    }
    Beta::new(mean * concentration, (1.0 - mean) * concentration).map_or(mean, |b| b.sample(rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A scenario in the tests' data folder, so its catalogue path resolves.
    fn scenario(shops: u32, pricing: &str) -> Scenario {
        let text = format!(
            "[calendar]\nstart = \"2024-01-01\"\nmonths = 15\n[fleet]\nshops = {shops}\n[pricing]\ncatalogue = \"../../scenarios/catalogue/default.toml\"\n{pricing}"
        );
        crate::scenario::parse(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/x.toml"),
            &text,
        )
        .unwrap()
    }

    fn services(s: &Scenario) -> Vec<InService> {
        Fleet::generate(s)
            .shops
            .iter()
            .map(|s| s.in_service)
            .collect()
    }

    #[test]
    fn a_rollout_starts_every_shop_within_its_days_and_not_all_on_the_first() {
        let all = services(&scenario(
            200,
            "plan = \"per_mounting\"\nrollout_days = 30\n",
        ));
        assert!(all.iter().all(|s| s.first_day < 30 && !s.removed));
        assert!(all.iter().filter(|s| s.first_day > 0).count() > 150);
        assert!(
            all.iter().all(|s| s.last_day == 456 - 1),
            "a 48-month term outlasts the run"
        );
    }

    #[test]
    fn a_shop_s_dates_do_not_depend_on_the_fleet_size() {
        let keys = "plan = \"per_mounting\"\nrollout_days = 60\nearly_termination_share = 0.5\n";
        let small = services(&scenario(10, keys));
        let large = services(&scenario(300, keys));
        assert_eq!(small[..], large[..10]);
        let ended = large.iter().filter(|s| s.terminated_on.is_some()).count();
        assert!(
            (100..200).contains(&ended),
            "{ended} of 300 terminate early"
        );
        for s in large.iter().filter(|s| s.terminated_on.is_some()) {
            assert!(s.removed && s.last_day > s.first_day);
        }
    }

    #[test]
    fn a_term_that_ends_within_the_run_removes_the_machines_on_its_last_day() {
        let s = scenario(
            3,
            "plan = \"per_mounting\"\nterm_months = 12\n[[pricing.shop]]\nshop = 1\nstart = \"2024-04-20\"\n[[pricing.shop]]\nshop = 2\nplan = \"graduated\"\nterminated_on = \"2024-05-31\"\n",
        );
        let d =
            |m, day| (NaiveDate::from_ymd_opt(2024, m, day).unwrap() - s.start).num_days() as u32;
        let all = services(&s);
        // From 1 January: 12 full months, to 31 December 2024.
        assert_eq!(
            (all[0].first_day, all[0].last_day, all[0].removed),
            (0, d(12, 31), true)
        );
        // From 20 April: a stub, then May 2024 to April 2025, beyond the run's last day.
        assert_eq!(
            (all[1].first_day, all[1].last_day, all[1].removed),
            (d(4, 20), 456 - 1, false)
        );
        assert_eq!((all[2].last_day, all[2].removed), (d(5, 31), true));
        assert!(all[2].covers(d(5, 31)) && !all[2].covers(d(6, 1)));
    }

    #[test]
    fn shops_without_a_plan_work_the_whole_run() {
        let s = scenario(2, "");
        for service in services(&s) {
            assert_eq!(
                (service.first_day, service.last_day, service.removed),
                (0, 456 - 1, false)
            );
        }
    }
}
