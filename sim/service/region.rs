//! The 13 metropolitan regions: which shop is where, how many technicians and loaners each
//! region's service organisation has, and how far its technicians drive (calibration.md
//! "Regions"; populations and areas V, everything derived from them E).
//!
//! **Shops.** A shop's region is drawn from its own `Purpose::Region` stream (the stream's first
//! draw), with probabilities proportional to population: optician density is roughly even per
//! inhabitant. The draw depends on the seed and the shop alone, so shop 17 is in the same region
//! whatever the fleet's size.
//!
//! **Technicians.** `technicians_by_region[name]` if given, else, for a region with machines,
//! max(1, round(machines × technicians_per_1000_machines / 1000)), half away from zero; a region
//! without machines has none. **Loaners** the same way with `loaners_per_1000_machines`, without
//! the floor of one when the ratio is 0.
//!
//! **Travel.** Each technician covers an equal share of the region, `area ÷ technicians`; the
//! mean straight-line distance from the centre of a disc of area A to a point in it is
//! ⅔ × √(A/π) ≈ 0.376 √A, and roads wind by ≈ 1.3: the mean one-way distance of a visit is
//! `0.5 × √(area ÷ technicians)` km (Île-de-France with 10 technicians: 17 km; Corse with 1:
//! 47 km). Each visit's one-way distance is drawn from a Gamma of shape 2 with that mean (most
//! shops near, a tail of far ones), rounded to whole km and at least 1, from the region's
//! `Purpose::Dispatch` stream in dispatch order; its one-way time is the distance at `road_kmh`,
//! rounded to whole minutes and at least 1.

use super::spec::{FieldSpec, REGION_NAMES};
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::rng::{stream, Purpose};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

/// A region, by its index in `REGION_NAMES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub u8);

impl RegionId {
    pub fn name(self) -> &'static str {
        REGION_NAMES[usize::from(self.0)]
    }

    pub fn all() -> impl Iterator<Item = RegionId> {
        (0..REGION_NAMES.len() as u8).map(RegionId)
    }
}

/// Population in units of 10,000 inhabitants (INSEE 2021, rounded) and area in km², in
/// `REGION_NAMES` order.
const POPULATION_10K: [u32; 13] = [
    1230, 810, 600, 600, 600, 560, 510, 380, 340, 330, 280, 260, 35,
];
const AREA_KM2: [u32; 13] = [
    12_012, 69_711, 31_813, 84_036, 72_724, 57_441, 31_400, 32_082, 27_208, 29_907, 47_784, 39_151,
    8_680,
];

/// Inhabitants of the region (rounded as in calibration.md).
pub fn population(region: RegionId) -> u32 {
    POPULATION_10K[usize::from(region.0)] * 10_000
}

pub fn area_km2(region: RegionId) -> u32 {
    AREA_KM2[usize::from(region.0)]
}

/// The region of a shop: proportional to population, from the shop's own stream.
pub fn region_of(seed: u64, shop: ShopId) -> RegionId {
    let total: u32 = POPULATION_10K.iter().sum();
    let mut draw = stream(seed, Purpose::Region, shop.0).random_range(0..total);
    for (i, &people) in POPULATION_10K.iter().enumerate() {
        if draw < people {
            return RegionId(i as u8);
        }
        draw -= people;
    }
    unreachable!("the draw is below the sum of the populations")
}

/// One region's share of the fleet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionFleet {
    /// In shop order.
    pub shops: Vec<ShopId>,
    pub machines: u32,
}

/// Every shop's region and every region's shops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regions {
    /// Indexed by shop id.
    pub of_shop: Vec<RegionId>,
    /// Indexed by `RegionId`.
    pub fleets: Vec<RegionFleet>,
}

impl Regions {
    pub fn assign(seed: u64, fleet: &Fleet) -> Regions {
        Regions::from_shops(
            seed,
            fleet.shops.iter().map(|s| (s.id, s.machines.len() as u32)),
        )
    }

    /// `shops`: each shop with its machine count, in shop id order from 0.
    pub fn from_shops(seed: u64, shops: impl IntoIterator<Item = (ShopId, u32)>) -> Regions {
        let mut fleets = vec![RegionFleet::default(); REGION_NAMES.len()];
        let mut of_shop = Vec::new();
        for (shop, machines) in shops {
            debug_assert_eq!(shop.0 as usize, of_shop.len(), "shops in id order from 0");
            let region = region_of(seed, shop);
            let f = &mut fleets[usize::from(region.0)];
            f.shops.push(shop);
            f.machines += machines;
            of_shop.push(region);
        }
        Regions { of_shop, fleets }
    }

    pub fn fleet(&self, region: RegionId) -> &RegionFleet {
        &self.fleets[usize::from(region.0)]
    }

    pub fn technicians(&self, field: &FieldSpec, region: RegionId) -> u32 {
        technicians(field, region, self.fleet(region).machines)
    }

    pub fn loaners(&self, field: &FieldSpec, region: RegionId) -> u32 {
        loaners(field, self.fleet(region).machines)
    }
}

/// The region's technicians: the scenario's count by name, else the ratio (module docs).
pub fn technicians(field: &FieldSpec, region: RegionId, machines: u32) -> u32 {
    if let Some(&n) = field.technicians_by_region.get(region.name()) {
        return n;
    }
    per_1000(machines, field.technicians_per_1000_machines).max(u32::from(machines > 0))
}

/// The region's loaner machines (module docs).
pub fn loaners(field: &FieldSpec, machines: u32) -> u32 {
    let at_least = u32::from(machines > 0 && field.loaners_per_1000_machines > 0.0);
    per_1000(machines, field.loaners_per_1000_machines).max(at_least)
}

fn per_1000(machines: u32, ratio: f64) -> u32 {
    // f64::round rounds half away from zero.
    (f64::from(machines) * ratio / 1000.0).round() as u32
}

/// Mean one-way road distance from a technician to a shop (module docs).
pub fn mean_one_way_km(region: RegionId, technicians: u32) -> f64 {
    0.5 * (f64::from(area_km2(region)) / f64::from(technicians.max(1))).sqrt()
}

/// One visit's road: one-way distance and time, drawn per visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    pub km: u32,
    pub minutes: u32,
}

/// The per-visit distance distribution of one region (module docs).
#[derive(Clone, Debug)]
pub struct Travel {
    gamma: Gamma<f64>,
    road_kmh: f64,
}

/// Shape of the per-visit distance's Gamma.
const DISTANCE_SHAPE: f64 = 2.0;

impl Travel {
    /// `None` unless `road_kmh` is positive and finite.
    pub fn new(region: RegionId, technicians: u32, road_kmh: f64) -> Option<Travel> {
        if !(road_kmh.is_finite() && road_kmh > 0.0) {
            return None;
        }
        let mean = mean_one_way_km(region, technicians);
        let gamma = Gamma::new(DISTANCE_SHAPE, mean / DISTANCE_SHAPE).ok()?;
        Some(Travel { gamma, road_kmh })
    }

    pub fn leg(&self, rng: &mut ChaCha8Rng) -> Leg {
        let km = self.gamma.sample(rng).round().max(1.0);
        let minutes = (km * 60.0 / self.road_kmh).round().max(1.0);
        Leg {
            km: km as u32,
            minutes: minutes as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_follow_calibration_order() {
        assert_eq!(REGION_NAMES.len(), POPULATION_10K.len());
        assert_eq!(RegionId(0).name(), "Île-de-France");
        assert_eq!(population(RegionId(0)), 12_300_000);
        assert_eq!(area_km2(RegionId(3)), 84_036);
        assert_eq!(RegionId(12).name(), "Corse");
        assert_eq!(population(RegionId(12)), 350_000);
    }

    /// Shares of 200,000 shops against population shares: within 0.4 percentage points
    /// (the binomial's standard deviation is at most 0.11 points).
    #[test]
    fn shop_shares_follow_population() {
        let n = 200_000u32;
        let regions = Regions::from_shops(7, (0..n).map(|i| (ShopId(i), 1)));
        let total: u32 = POPULATION_10K.iter().sum();
        for r in RegionId::all() {
            let share = f64::from(regions.fleet(r).machines) / f64::from(n);
            let expected = f64::from(POPULATION_10K[usize::from(r.0)]) / f64::from(total);
            assert!(
                (share - expected).abs() < 0.004,
                "{}: {share} against {expected}",
                r.name()
            );
        }
    }

    #[test]
    fn a_shop_keeps_its_region_whatever_the_fleet_size() {
        let small = Regions::from_shops(3, (0..40).map(|i| (ShopId(i), 1)));
        let large = Regions::from_shops(3, (0..4_000).map(|i| (ShopId(i), 2)));
        assert_eq!(small.of_shop[..], large.of_shop[..40]);
        assert_eq!(small.of_shop[17], region_of(3, ShopId(17)));
        let other_seed = Regions::from_shops(4, (0..40).map(|i| (ShopId(i), 1)));
        assert_ne!(small.of_shop, other_seed.of_shop);
    }

    #[test]
    fn assign_counts_machines_and_lists_shops_in_order() {
        let regions = Regions::from_shops(9, (0..500).map(|i| (ShopId(i), 1 + i % 2)));
        let shops: usize = regions.fleets.iter().map(|f| f.shops.len()).sum();
        assert_eq!(shops, 500);
        for (i, f) in regions.fleets.iter().enumerate() {
            assert!(f.shops.windows(2).all(|w| w[0] < w[1]));
            let machines: u32 = f.shops.iter().map(|s| 1 + s.0 % 2).sum();
            assert_eq!(f.machines, machines);
            assert!(f
                .shops
                .iter()
                .all(|s| regions.of_shop[s.0 as usize].0 as usize == i));
        }
    }

    #[test]
    fn technicians_by_name_else_by_ratio_at_least_one() {
        let mut field = crate::service::ServiceSpec::default().field;
        let idf = RegionId(0);
        assert_eq!(technicians(&field, idf, 2_470), 10); // 9.88
        assert_eq!(technicians(&field, idf, 70), 1); // 0.28, floor of one
        assert_eq!(technicians(&field, idf, 0), 0);
        assert_eq!(technicians(&field, idf, 375), 2); // 1.5: half away from zero
        field
            .technicians_by_region
            .insert("Île-de-France".into(), 3);
        assert_eq!(technicians(&field, idf, 2_470), 3);
        assert_eq!(technicians(&field, RegionId(1), 2_470), 10);
        assert_eq!(loaners(&field, 2_470), 25);
        assert_eq!(loaners(&field, 30), 1);
        field.loaners_per_1000_machines = 0.0;
        assert_eq!(loaners(&field, 2_470), 0);
    }

    #[test]
    fn distances_grow_with_area_per_technician() {
        assert!((mean_one_way_km(RegionId(0), 10) - 17.33).abs() < 0.01);
        assert!((mean_one_way_km(RegionId(12), 1) - 46.58).abs() < 0.01);
        let mean_leg = |technicians| {
            let travel = Travel::new(RegionId(3), technicians, 60.0).unwrap();
            let mut rng = stream(1, Purpose::Dispatch, 3);
            let n = 20_000;
            let km: u32 = (0..n).map(|_| travel.leg(&mut rng).km).sum();
            f64::from(km) / f64::from(n)
        };
        let (one, four) = (mean_leg(1), mean_leg(4));
        assert!((one - mean_one_way_km(RegionId(3), 1)).abs() < 3.0, "{one}");
        assert!((one / four - 2.0).abs() < 0.1, "{one} vs {four}");
        assert!(Travel::new(RegionId(0), 1, 0.0).is_none());
    }

    #[test]
    fn a_leg_takes_its_distance_at_road_speed() {
        let travel = Travel::new(RegionId(2), 2, 60.0).unwrap();
        let mut rng = stream(5, Purpose::Dispatch, 2);
        for _ in 0..1_000 {
            let leg = travel.leg(&mut rng);
            assert!(leg.km >= 1);
            assert_eq!(leg.minutes, leg.km); // 60 km/h: a minute a km
        }
    }
}
