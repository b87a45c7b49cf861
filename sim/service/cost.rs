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
        self.machine_cents
            + self.consumables_cents
            + self.parts_cents
            + self.labour_cents
            + self.travel_cents
            + self.loaner_cents
            + self.preventive_cents
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
