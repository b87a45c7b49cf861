//! A shop's demand on one day: how many jobs, and what each one is.
//!
//! Calibrated mode: jobs ~ Poisson(level × weekday × month × G), G ~ Gamma(k, 1/k) (a
//! Gamma–Poisson mixture, i.e. negative binomial, for day-to-day overdispersion). Each job is
//! edged in store (a billable mounting, plus a remake with the shop's remake rate) or ordered
//! remote-edged (the frame is traced: a trace-only cycle, never billed).

use crate::calendar::DayInfo;
use crate::event::{Frame, Material};
use crate::fleet::ShopProfile;
use crate::scenario::bounds::MAX_PAIRS_PER_MACHINE_DAY;
use crate::scenario::{DemandMode, DemandSpec};
use rand::distr::weighted::WeightedIndex;
use rand::Rng;
use rand_distr::{Distribution, Gamma, Poisson};

/// The most jobs a shop's machines take in a day (calibrated demand beyond it is not drawn;
/// the calibrated fleets never come near it).
pub fn capacity(shop: &ShopProfile) -> u32 {
    shop.machines.len().max(1) as u32 * MAX_PAIRS_PER_MACHINE_DAY
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Mounting { material: Material, remake: bool },
    TraceOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    pub kind: JobKind,
    pub frame: Frame,
}

/// Pre-built samplers for one scenario, shared by all shops.
pub struct DemandModel {
    spec: DemandSpec,
    frames: WeightedIndex<f64>,
    materials: WeightedIndex<f64>,
    overdispersion: Option<Gamma<f64>>,
}

impl DemandModel {
    pub fn new(spec: &DemandSpec) -> DemandModel {
        let weights = |w: &[f64]| WeightedIndex::new(w.iter().copied()).expect("mixes validated");
        DemandModel {
            frames: weights(&spec.frame_mix),
            materials: weights(&spec.material_mix),
            overdispersion: Gamma::new(spec.overdispersion_shape, 1.0 / spec.overdispersion_shape)
                .ok(),
            spec: spec.clone(),
        }
    }

    /// Whether the shop opens that day.
    pub fn is_open(&self, shop: &ShopProfile, day: &DayInfo) -> bool {
        if shop.closed_weekdays[day.weekday] {
            return false;
        }
        match shop.summer_closure {
            Some((start, days)) => !(start..start + days).contains(&day.reference_day_of_year),
            None => true,
        }
    }

    /// The shop's jobs on an open day, appended to `jobs`.
    pub fn draw_day<R: Rng>(
        &self,
        shop: &ShopProfile,
        day: &DayInfo,
        rng: &mut R,
        jobs: &mut Vec<Job>,
    ) {
        match self.spec.mode {
            DemandMode::Fixed {
                mountings,
                trace_only,
            } => self.fixed_day(shop, mountings, trace_only, jobs),
            DemandMode::Calibrated => self.calibrated_day(shop, day, rng, jobs),
        }
    }

    /// Expected jobs that day for an open shop (used by calibration checks).
    pub fn expected_jobs(&self, shop: &ShopProfile, day: &DayInfo) -> f64 {
        shop.mean_pairs_per_day * self.spec.weekday[day.weekday] * self.spec.month[day.month]
    }

    fn fixed_day(&self, shop: &ShopProfile, mountings: u32, trace_only: u32, jobs: &mut Vec<Job>) {
        // Per machine, so that a two-machine shop's counts stay hand-checkable.
        let machines = shop.machines.len().max(1) as u32;
        for _ in 0..mountings * machines {
            jobs.push(Job {
                kind: JobKind::Mounting {
                    material: Material::Index150,
                    remake: false,
                },
                frame: Frame::FullRim,
            });
        }
        for _ in 0..trace_only * machines {
            jobs.push(Job {
                kind: JobKind::TraceOnly,
                frame: Frame::FullRim,
            });
        }
    }

    fn calibrated_day<R: Rng>(
        &self,
        shop: &ShopProfile,
        day: &DayInfo,
        rng: &mut R,
        jobs: &mut Vec<Job>,
    ) {
        let mut lambda = self.expected_jobs(shop, day);
        if let Some(gamma) = &self.overdispersion {
            lambda *= gamma.sample(rng);
        }
        let count = if lambda > 0.0 {
            Poisson::new(lambda).map_or(0.0, |p| p.sample(rng)) as u32
        } else {
            0
        };
        // No shop edges more than its machines can: a busier day's surplus goes to a lab.
        let count = count.min(capacity(shop));
        for _ in 0..count {
            let frame = Frame::from_index(self.frames.sample(rng));
            if !rng.random_bool(shop.in_store_share) {
                jobs.push(Job {
                    kind: JobKind::TraceOnly,
                    frame,
                });
                continue;
            }
            let material = Material::from_index(self.materials.sample(rng));
            jobs.push(Job {
                kind: JobKind::Mounting {
                    material,
                    remake: false,
                },
                frame,
            });
            if rng.random_bool(shop.remake_share) {
                jobs.push(Job {
                    kind: JobKind::Mounting {
                        material,
                        remake: true,
                    },
                    frame,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::fleet::Fleet;

    /// The busiest demand the scenario bounds allow: the draws are astronomical (a level of
    /// 10^5 pairs a day and more), the day's jobs stay within the machines' capacity.
    #[test]
    fn a_day_never_holds_more_jobs_than_the_machines_can_edge() {
        let text = "[fleet]\nshops = 40\nchain_share = 0.5\n[demand]\nmedian_pairs_per_day = 360\nvolume_factor = 10\nchain_multiplier = 0.1\nsigma = 3\noverdispersion_shape = 0.25\nweekday_multipliers = [7, 7, 7, 7, 7, 7, 7]\nmonth_multipliers = [12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12]\nremake_share_min = 0.5\nremake_share_max = 0.5\n";
        let s = crate::scenario::parse(std::path::Path::new("busy.toml"), text).unwrap();
        let fleet = Fleet::generate(&s);
        let model = DemandModel::new(&s.demand);
        let day = Calendar::new(s.start, s.months).info(0);
        let mut rng = crate::rng::stream(1, crate::rng::Purpose::ShopProfile, 0);
        let mut busiest = 0.0f64;
        for shop in &fleet.shops {
            busiest = busiest.max(model.expected_jobs(shop, &day));
            let mut jobs = Vec::new();
            model.draw_day(shop, &day, &mut rng, &mut jobs);
            let customer_jobs = jobs
                .iter()
                .filter(|j| !matches!(j.kind, JobKind::Mounting { remake: true, .. }))
                .count();
            assert!(
                customer_jobs <= capacity(shop) as usize,
                "{customer_jobs} jobs"
            );
            assert_eq!(capacity(shop), shop.machines.len() as u32 * 360);
        }
        assert!(busiest > 1e5, "the draws are far above capacity: {busiest}");
    }
}
