//! The cost to serve each shop: what the provider spends on it over the run, by component.
//!
//! Every component is computed exactly in decimal from counts the simulation kept (the truth's
//! field tallies and the service organisations' repairs), then rounded once per shop and
//! component to cents, half away from zero (`money`'s rule):
//! - **machine**: each machine's price × the lease rate per month (V: ≈ 20 per 1,000 a month),
//!   for the share of each month the shop's machines were installed;
//! - **consumables**: wheel sets worn out × their price, grooving and drilling tools by
//!   each mounting's frame,
//!   sundries per mounting;
//! - **parts** at cost, **labour** (remote sessions, time on site and on the road at the
//!   technician's cost per hour), **travel** per km, **loaners** (logistics per episode);
//! - **preventive** (`[service.predictive]`): the preventive visits' parts, labour (on site
//!   and on the road) and travel, priced as a repair's, in a component of their own (a
//!   preventive visit is not an incident). Every visit booked counts, whether it found the
//!   machine working or already failed.

use super::dispatch::Preventive;
use super::spec::ServiceSpec;
use super::wear::consumables_cents;
use super::Repair;
use crate::calendar::Calendar;
use crate::fleet::Fleet;
use crate::money::Cents;
use crate::truth::Truth;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CostToServe {
    pub machine_cents: Cents,
    pub consumables_cents: Cents,
    pub parts_cents: Cents,
    pub labour_cents: Cents,
    pub travel_cents: Cents,
    pub loaner_cents: Cents,
    /// Not among `COLUMNS`: a column of its own only when predictive maintenance is on.
    pub preventive_cents: Cents,
}

impl CostToServe {
    pub fn total(&self) -> Cents {
        self.all().iter().sum()
    }

    /// Every component, `COLUMNS`' order then preventive visits.
    pub fn all(&self) -> [Cents; 7] {
        let [machine, consumables, parts, labour, travel, loaner] = self.components();
        [
            machine,
            consumables,
            parts,
            labour,
            travel,
            loaner,
            self.preventive_cents,
        ]
    }

    pub const COLUMNS: [&'static str; 6] = [
        "machine_cents",
        "consumables_cents",
        "parts_cents",
        "labour_cents",
        "travel_cents",
        "loaner_cents",
    ];

    pub fn components(&self) -> [Cents; 6] {
        [
            self.machine_cents,
            self.consumables_cents,
            self.parts_cents,
            self.labour_cents,
            self.travel_cents,
            self.loaner_cents,
        ]
    }
}

/// What the repairs of one shop add up to, before rounding.
#[derive(Default)]
struct RepairSums {
    parts_cents: i64,
    labour_and_road_minutes: i64,
    travel_km: i64,
    loaner_episodes: i64,
    preventive_parts_cents: i64,
    preventive_minutes: i64,
    preventive_km: i64,
}

/// Every shop's cost to serve, by shop id.
pub fn per_shop(
    spec: &ServiceSpec,
    fleet: &Fleet,
    calendar: &Calendar,
    truth: &Truth,
    repairs: &[Repair],
    visits: &[Preventive],
) -> Vec<CostToServe> {
    let mut sums: Vec<RepairSums> = (0..fleet.shops.len())
        .map(|_| RepairSums::default())
        .collect();
    for r in repairs {
        let s = &mut sums[r.failure.shop.0 as usize];
        s.parts_cents += r.failure.parts_cents;
        s.labour_and_road_minutes += i64::from(r.labour_minutes) + i64::from(r.travel_minutes);
        s.travel_km += i64::from(r.travel_km);
        s.loaner_episodes += i64::from(r.loaner.is_some());
    }
    for v in visits {
        let s = &mut sums[v.request.shop.0 as usize];
        s.preventive_parts_cents += v.request.parts_cents;
        s.preventive_minutes += i64::from(v.labour_minutes) + i64::from(v.travel_minutes);
        s.preventive_km += i64::from(v.travel_km);
    }
    fleet
        .shops
        .iter()
        .zip(&sums)
        .map(|(shop, repairs)| {
            let id = shop.id.0;
            // Tools go by the frame of each mounting edged: the truth's mix counts them.
            let mut pairs_by_frame = [0u64; 3];
            for p in 0..calendar.months() {
                for (total, n) in pairs_by_frame.iter_mut().zip(truth.mix(id, p).frames) {
                    *total += u64::from(n);
                }
            }
            let wheel_sets = u64::from(truth.shop_field(id).wheel_sets);
            let mountings = truth.shop_total(id).mountings;
            let w = &spec.wear;
            let f = &spec.field;
            CostToServe {
                machine_cents: machine_cents(
                    spec,
                    shop.machines.len(),
                    installed_months(shop, calendar),
                ),
                consumables_cents: consumables_cents(w, wheel_sets, pairs_by_frame, mountings),
                parts_cents: repairs.parts_cents,
                labour_cents: labour_cents(spec, repairs.labour_and_road_minutes),
                travel_cents: repairs.travel_km * f.cents_per_km,
                loaner_cents: repairs.loaner_episodes * f.loaner_logistics_cents,
                preventive_cents: repairs.preventive_parts_cents
                    + labour_cents(spec, repairs.preventive_minutes)
                    + repairs.preventive_km * f.cents_per_km,
            }
        })
        .collect()
}

/// Technician time at the provider's cost per hour, rounded once.
fn labour_cents(spec: &ServiceSpec, minutes: i64) -> Cents {
    round(
        Decimal::from(minutes) * Decimal::from(spec.field.technician_cents_per_hour)
            / Decimal::from(60),
    )
}

/// Months (exact fractions: days installed ÷ days of the month) the shop's machines were in.
pub fn installed_months(shop: &crate::fleet::ShopProfile, calendar: &Calendar) -> Decimal {
    let s = shop.in_service;
    let mut months = Decimal::ZERO;
    for p in 0..calendar.months() {
        let days = calendar.days_of(p);
        let length = days.end - days.start;
        let from = days.start.max(s.first_day);
        let to = days.end.min(s.last_day + 1);
        let installed = to.saturating_sub(from);
        months += Decimal::from(installed) / Decimal::from(length);
    }
    months
}

fn machine_cents(spec: &ServiceSpec, machines: usize, months: Decimal) -> Cents {
    round(
        Decimal::from(spec.machine_cents)
            * Decimal::from(machines as u64)
            * spec.lease_per_1000_per_month
            / Decimal::from(1000)
            * months,
    )
}

fn round(cents: Decimal) -> Cents {
    cents
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// The fleet's cost to serve per month of the run (by period), adding up exactly to the
/// shops' costs (`costs`, from [`per_shop`]): each component's fleet total is shared out over
/// the months by the largest remainder, in proportion to when it was spent — the machines by
/// machine-days installed, consumables by pairs edged, a repair's parts, labour, travel and
/// loaner in the month its machine failed, a preventive visit in the month it was booked for.
/// Rounding is per shop (what the shops' costs say), so only the split between months is
/// proportional, never the total.
pub fn per_month(
    spec: &ServiceSpec,
    fleet: &Fleet,
    calendar: &Calendar,
    truth: &Truth,
    repairs: &[Repair],
    visits: &[Preventive],
    costs: &[CostToServe],
) -> Vec<Cents> {
    let months = calendar.months() as usize;
    let w = monthly_weights(spec, fleet, calendar, truth, repairs, visits);
    let totals = costs.iter().fold([0i64; 7], |mut t, c| {
        for (t, p) in t.iter_mut().zip(c.all()) {
            *t += p;
        }
        t
    });
    let mut out = vec![0; months];
    for (total, weights) in totals.iter().zip(&w) {
        for (o, share) in out.iter_mut().zip(share_out(*total, weights)) {
            *o += share;
        }
    }
    out
}

/// Per component (`CostToServe::all`'s order), per month: what its spending is proportional to.
fn monthly_weights(
    spec: &ServiceSpec,
    fleet: &Fleet,
    calendar: &Calendar,
    truth: &Truth,
    repairs: &[Repair],
    visits: &[Preventive],
) -> [Vec<u64>; 7] {
    let months = calendar.months() as usize;
    let mut w: [Vec<u64>; 7] = std::array::from_fn(|_| vec![0u64; months]);
    for shop in &fleet.shops {
        let s = shop.in_service;
        for p in 0..calendar.months() {
            let days = calendar.days_of(p);
            let length = u64::from(days.end - days.start);
            let installed = u64::from(
                days.end
                    .min(s.last_day + 1)
                    .saturating_sub(days.start.max(s.first_day)),
            );
            // Machine-days in millionths of a month: months differ in length.
            w[0][p as usize] += shop.machines.len() as u64 * installed * 1_000_000 / length;
            let pairs: u32 = truth.mix(shop.id.0, p).frames.iter().sum();
            w[1][p as usize] += u64::from(pairs);
        }
    }
    let month_of = |day: crate::calendar::DayIndex| {
        (calendar.period_of(day) as usize).min(months.saturating_sub(1))
    };
    for r in repairs {
        let m = month_of(r.failure.day);
        w[2][m] += r.failure.parts_cents.max(0) as u64;
        w[3][m] += u64::from(r.labour_minutes) + u64::from(r.travel_minutes);
        w[4][m] += u64::from(r.travel_km);
        w[5][m] += u64::from(r.loaner.is_some());
    }
    let f = &spec.field;
    for v in visits {
        let day = (v.request.time - calendar.midnight_unix(0)).div_euclid(86_400);
        let m = month_of(day.clamp(0, i64::from(u32::MAX)) as crate::calendar::DayIndex);
        // In sixtieths of a cent: labour is priced by the hour.
        let minutes = i64::from(v.labour_minutes) + i64::from(v.travel_minutes);
        let sixtieths = v.request.parts_cents * 60
            + minutes * f.technician_cents_per_hour
            + i64::from(v.travel_km) * f.cents_per_km * 60;
        w[6][m] += sixtieths.max(0) as u64;
    }
    w
}

/// `total` over the months in proportion to `weights`; evenly when nothing says when it was
/// spent (no weight), so that no cent is dropped.
fn share_out(total: Cents, weights: &[u64]) -> Vec<Cents> {
    if weights.is_empty() {
        return Vec::new();
    }
    if total == 0 {
        return vec![0; weights.len()];
    }
    if weights.iter().all(|&w| w == 0) {
        return crate::billing::split::split_largest_remainder(total, &vec![1; weights.len()]);
    }
    crate::billing::split::split_largest_remainder(total, weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MachineId, ShopId};
    use crate::service::{Cause, Failure};

    fn repair(shop: u32, day: u32, parts_cents: i64, loaner: bool) -> Repair {
        Repair {
            failure: Failure {
                machine: MachineId(shop),
                shop: ShopId(shop),
                time: 0,
                day,
                cause: Cause::Clamping,
                remote_fixable: false,
                on_site_minutes: 60,
                parts_cents,
                parts_order_days: 0,
                board_swap: false,
            },
            responded: 0,
            restored: 0,
            returned: 0,
            remote: false,
            visits: 1,
            labour_minutes: 60,
            travel_km: 50,
            travel_minutes: 30,
            loaner: loaner.then_some(MachineId(99)),
        }
    }

    /// Two one-machine shops over January–March 2024, nothing edged: each month costs the
    /// two machines' lease (2 × 30,000 × 20 / 1,000 = 1,200.00 EUR), and each repair lands
    /// whole in the month its machine failed — parts, labour and road time (90 minutes at
    /// 60.00 an hour), 50 km at 0.45, and the loaner's logistics (150.00).
    #[test]
    fn each_month_bears_what_was_spent_in_it() {
        let text = "[fleet]\nshops = 2\nsecond_machine_above = 1000.0\n[calendar]\nmonths = 3\n\
                    [demand]\nmode = \"fixed\"\n[service]\nenabled = true\n";
        let scenario = crate::scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        let fleet = Fleet::generate(&scenario);
        let calendar = Calendar::new(scenario.start, scenario.months);
        let truth = Truth::new(2, 3, calendar.days());
        let spec = ServiceSpec::default();
        // Day 40 is 10 February; day 70 is 11 March.
        let repairs = [repair(0, 40, 10_000, true), repair(1, 70, 5_000, false)];
        let costs = per_shop(&spec, &fleet, &calendar, &truth, &repairs, &[]);
        let months = per_month(&spec, &fleet, &calendar, &truth, &repairs, &[], &costs);
        let lease = 120_000;
        let visit = 9_000 + 2_250;
        assert_eq!(
            months,
            vec![
                lease,
                lease + 10_000 + visit + 15_000,
                lease + 5_000 + visit
            ]
        );
        let total: Cents = costs.iter().map(CostToServe::total).sum();
        assert_eq!(months.iter().sum::<Cents>(), total);
    }

    #[test]
    fn a_total_without_weights_is_spread_evenly_and_nothing_is_dropped() {
        assert_eq!(share_out(10, &[0, 0, 0]), vec![4, 3, 3]);
        assert_eq!(share_out(0, &[0, 5]), vec![0, 0]);
        assert_eq!(share_out(7, &[1, 0, 2]), vec![2, 0, 5]);
    }
}
