//! The fleet: every shop's static profile, drawn once from the scenario and the seed.
//!
//! Each shop draws from its own `ShopProfile` stream, so shop 17 is the same shop whatever
//! the fleet size or thread count.

use crate::event::{MachineId, ShopId};
use crate::money::UnitPrice;
use crate::rng::{stream, Purpose};
use crate::scenario::{DemandMode, Scenario};
use rand::Rng;
use rand_distr::{Beta, Distribution, LogNormal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Chain,
    Independent,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Chain => "chain",
            Segment::Independent => "independent",
        }
    }
}

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
    let price = s
        .pricing
        .per_shop
        .get(&index)
        .copied()
        .unwrap_or(match segment {
            Segment::Chain => s.pricing.chain,
            Segment::Independent => s.pricing.independent,
        });
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
    }
}

/// A Beta draw with the given mean and concentration (alpha + beta); the ends are constant.
fn beta_by_mean<R: Rng>(rng: &mut R, mean: f64, concentration: f64) -> f64 {
    if mean <= 0.0 || mean >= 1.0 {
        return mean.clamp(0.0, 1.0);
    }
    Beta::new(mean * concentration, (1.0 - mean) * concentration).map_or(mean, |b| b.sample(rng))
}
