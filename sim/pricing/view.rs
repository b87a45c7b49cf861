//! The fleet as the judgement of alternatives sees it (`analysis::tariffs::FleetView`): each
//! shop's segment, its mountings (the truth) and, with the field simulated, its cost to serve
//! split into what is its own and the technicians' travel it shares with its region.

use crate::analysis::tariffs::{FleetView, Shop, ShopCost, ShopMix};
use crate::fleet::Fleet;
use crate::money::Cents;
use crate::service::dispatch::Preventive;
use crate::service::outcome::FieldOutcome;
use crate::service::region::{RegionId, Regions};
use crate::service::spec::REGION_NAMES;
use crate::service::{Repair, ServiceSpec};
use crate::truth::Truth;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// What the field did, when it was simulated.
pub struct Field<'a> {
    pub spec: &'a ServiceSpec,
    pub seed: u64,
    pub outcome: &'a FieldOutcome,
    pub repairs: &'a [Repair],
    pub visits: &'a [Preventive],
}

pub fn fleet_view(fleet: &Fleet, truth: &Truth, field: Option<&Field>) -> FleetView {
    let periods = truth.periods();
    let regions = field.map(|f| (Regions::assign(f.seed, fleet), f));
    let travel = field.map(|f| travel_cents(fleet, f));
    let shops = fleet
        .shops
        .iter()
        .enumerate()
        .map(|(i, shop)| Shop {
            name: shop.id.to_string(),
            segment: shop.segment.as_str(),
            mountings: truth.shop_total(shop.id.0).mountings,
            mix: mix_of(truth, shop.id.0, periods),
            cost: regions.as_ref().zip(travel.as_ref()).map(|((r, f), t)| {
                let total = f.outcome.costs[i].total();
                ShopCost {
                    own_cents: total - t[i],
                    travel_cents: t[i],
                    region: usize::from(r.of_shop[i].0),
                }
            }),
        })
        .collect();
    let regions = match &regions {
        None => Vec::new(),
        Some((r, f)) => (0..REGION_NAMES.len())
            .map(|i| {
                let id = RegionId(i as u8);
                (r.technicians(&f.spec.field, id), id.name().to_string())
            })
            .collect(),
    };
    FleetView { shops, regions }
}

/// Per shop: technicians' travel to it (km and road time, repairs and preventive visits),
/// rounded once per shop (the cost to serve rounds road time with time on site, so the two
/// may differ by a cent).
fn travel_cents(fleet: &Fleet, field: &Field) -> Vec<Cents> {
    let mut km = vec![0i64; fleet.shops.len()];
    let mut minutes = vec![0i64; fleet.shops.len()];
    let trips = field
        .repairs
        .iter()
        .map(|r| (r.failure.shop, r.travel_km, r.travel_minutes))
        .chain(
            field
                .visits
                .iter()
                .map(|v| (v.request.shop, v.travel_km, v.travel_minutes)),
        );
    for (shop, k, m) in trips {
        km[shop.0 as usize] += i64::from(k);
        minutes[shop.0 as usize] += i64::from(m);
    }
    let f = &field.spec.field;
    km.iter()
        .zip(&minutes)
        .map(|(&k, &m)| {
            let road =
                Decimal::from(m) * Decimal::from(f.technician_cents_per_hour) / Decimal::from(60);
            k * f.cents_per_km
                + road
                    .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                    .to_i64()
                    .unwrap_or(0)
        })
        .collect()
}

/// A shop's pairs over the run, by frame and material (`Mix`'s indices: frames full-rim,
/// grooved, drilled; materials 1.5, 1.6, 1.67+, polycarbonate, mineral).
fn mix_of(truth: &Truth, shop: u32, periods: u32) -> ShopMix {
    let mut mix = ShopMix::default();
    for p in 0..periods {
        let m = truth.mix(shop, p);
        mix.pairs += m.frames.iter().map(|&n| u64::from(n)).sum::<u64>();
        mix.grooved_or_drilled += u64::from(m.frames[1]) + u64::from(m.frames[2]);
        mix.high_index_or_poly += u64::from(m.materials[2]) + u64::from(m.materials[3]);
    }
    mix
}
