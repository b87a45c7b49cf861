//! The field's figures the service view shows, computed once from the run: per month
//! (incidents by cause, downtime, lost and waited mountings, the repairs' cost), per shop and
//! month (lost and waited mountings), per shop (volume, cost to serve, net invoiced).

use crate::billing::GroupCents;
use crate::report::RunData;
use crate::service::cost::installed_months;
use crate::service::dispatch::Promise;
use crate::service::outcome::FieldOutcome;
use crate::service::{Cause, Repair};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// One month of the field. Repairs count in the month their failure happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Month {
    /// Indexed by `Cause as usize`.
    pub incidents: [u64; 6],
    /// Seconds from failure to restored, summed over the month's incidents.
    pub downtime_seconds: i64,
    pub lost: u64,
    pub waited: u64,
    pub repairs: RepairCost,
}

/// What repairs cost, by the cost to serve's rules (`service::cost`): parts at cost, labour
/// and road time at the technician's rate, km, loaner logistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairCost {
    pub parts_cents: i64,
    pub labour_cents: i64,
    pub travel_cents: i64,
    pub loaner_cents: i64,
}

impl RepairCost {
    pub fn total(&self) -> i64 {
        self.parts_cents + self.labour_cents + self.travel_cents + self.loaner_cents
    }
}

impl Month {
    pub fn incident_count(&self) -> u64 {
        self.incidents.iter().sum()
    }

    pub fn downtime_hours(&self) -> f64 {
        self.downtime_seconds as f64 / 3600.0
    }
}

/// The run's months, in order.
pub fn monthly(d: &RunData) -> Vec<Month> {
    let months = d.periods.len();
    let mut out = vec![Month::default(); months];
    let mut minutes = vec![0i64; months];
    let field = &d.scenario.service.field;
    for r in &d.outcome.repairs {
        let p = d.calendar.period_of(r.failure.day) as usize;
        let Some(m) = out.get_mut(p) else { continue };
        m.incidents[r.failure.cause as usize] += 1;
        m.downtime_seconds += r.restored - r.failure.time;
        m.repairs.parts_cents += r.failure.parts_cents;
        m.repairs.travel_cents += i64::from(r.travel_km) * field.cents_per_km;
        m.repairs.loaner_cents += i64::from(r.loaner.is_some()) * field.loaner_logistics_cents;
        minutes[p] += i64::from(r.labour_minutes) + i64::from(r.travel_minutes);
    }
    for (p, m) in out.iter_mut().enumerate() {
        m.repairs.labour_cents = labour_cents(minutes[p], field.technician_cents_per_hour);
        for shop in 0..d.fleet.shops.len() as u32 {
            let f = d.outcome.truth.field(shop, p as u32);
            m.lost += u64::from(f.lost_mountings);
            m.waited += u64::from(f.waited_mountings);
        }
    }
    out
}

/// Minutes at an hourly rate, rounded once to the cent (half away from zero), as
/// `service::cost` rounds a shop's labour.
fn labour_cents(minutes: i64, cents_per_hour: i64) -> i64 {
    (Decimal::from(minutes) * Decimal::from(cents_per_hour) / Decimal::from(60))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// A shop's lost and waited mountings in one month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShopMonth {
    pub shop: u32,
    pub period: usize,
    pub lost: u64,
    pub waited: u64,
}

/// Every (shop, month) with a lost or waited mounting, in shop then month order.
pub fn lost_by_shop_month(d: &RunData) -> Vec<ShopMonth> {
    let mut out = Vec::new();
    for shop in 0..d.fleet.shops.len() as u32 {
        for period in 0..d.periods.len() {
            let f = d.outcome.truth.field(shop, period as u32);
            if f.lost_mountings > 0 || f.waited_mountings > 0 {
                out.push(ShopMonth {
                    shop,
                    period,
                    lost: u64::from(f.lost_mountings),
                    waited: u64::from(f.waited_mountings),
                });
            }
        }
    }
    out
}

/// A shop's downtime and what it cost it, for the table of the worst hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShopLoss {
    pub shop: u32,
    pub incidents: u64,
    pub downtime_seconds: i64,
    pub lost: u64,
    pub waited: u64,
}

/// The `n` shops with the most lost mountings (then most waited, then by id); shops that
/// lost and waited nothing are left out.
pub fn top_lost(d: &RunData, n: usize) -> Vec<ShopLoss> {
    let mut shops: Vec<ShopLoss> = (0..d.fleet.shops.len() as u32)
        .map(|shop| {
            let f = d.outcome.truth.shop_field(shop);
            ShopLoss {
                shop,
                incidents: u64::from(f.failures),
                downtime_seconds: 0,
                lost: u64::from(f.lost_mountings),
                waited: u64::from(f.waited_mountings),
            }
        })
        .collect();
    for r in &d.outcome.repairs {
        if let Some(s) = shops.get_mut(r.failure.shop.0 as usize) {
            s.downtime_seconds += r.restored - r.failure.time;
        }
    }
    shops.retain(|s| s.lost > 0 || s.waited > 0);
    shops.sort_by(|a, b| {
        b.lost
            .cmp(&a.lost)
            .then(b.waited.cmp(&a.waited))
            .then(a.shop.cmp(&b.shop))
    });
    shops.truncate(n);
    shops
}

/// The repairs in the order a reader expects: by failure time, then shop, then machine.
pub fn sorted_repairs(repairs: &[Repair]) -> Vec<&Repair> {
    let mut sorted: Vec<&Repair> = repairs.iter().collect();
    sorted.sort_by_key(|r| (r.failure.time, r.failure.shop.0, r.failure.machine.0));
    sorted
}

/// The repair kept the shop's promise: response and repair time both within it (the rule
/// `FieldOutcome` counts breaches by).
pub fn within_promise(r: &Repair, promise: &Promise) -> bool {
    let i = r.incident();
    i.response_hours <= Decimal::from(promise.response_hours)
        && i.repair_hours <= Decimal::from(promise.repair_hours)
}

/// A shop's economics over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShopEconomics {
    pub shop: u32,
    pub mountings: u64,
    /// Mountings over the run ÷ years installed within it.
    pub mountings_a_year: Decimal,
    pub cost_cents: i64,
    pub net_cents: i64,
}

pub fn economics(d: &RunData, field: &FieldOutcome) -> Vec<ShopEconomics> {
    d.fleet
        .shops
        .iter()
        .enumerate()
        .map(|(s, shop)| {
            let mountings = d.outcome.truth.shop_total(s as u32).mountings;
            let net = GroupCents::of(d.invoices.iter().filter_map(|per| per[s].as_ref())).net();
            ShopEconomics {
                shop: shop.id.0,
                mountings,
                mountings_a_year: per_year(mountings, installed_months(shop, d.calendar)),
                cost_cents: field.costs[s].total(),
                net_cents: net,
            }
        })
        .collect()
}

/// `count` over `months` installed, a year's worth (0 when never installed).
pub fn per_year(count: u64, months: Decimal) -> Decimal {
    if months <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    Decimal::from(count) * Decimal::from(12) / months
}

/// Volume bins (mountings a year), lower bounds; the last is open.
pub const VOLUME_BINS: [u32; 6] = [0, 500, 1_000, 2_000, 4_000, 8_000];

pub fn volume_bin(mountings_a_year: Decimal) -> usize {
    VOLUME_BINS
        .iter()
        .rposition(|lower| mountings_a_year >= Decimal::from(*lower))
        .unwrap_or(0)
}

pub fn volume_bin_label(bin: usize) -> String {
    match VOLUME_BINS.get(bin + 1) {
        Some(upper) => format!("{}–{}", VOLUME_BINS[bin], upper),
        None => format!("{} and more", VOLUME_BINS[bin]),
    }
}

/// The six causes' names, in `Cause` order.
pub fn cause_names() -> [&'static str; 6] {
    Cause::ALL.map(Cause::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MachineId, ShopId};
    use crate::service::Failure;

    const H: i64 = 3600;

    fn repair(response_seconds: i64, repair_seconds: i64) -> Repair {
        let failure = Failure {
            machine: MachineId(1),
            shop: ShopId(0),
            time: 1_700_000_000,
            day: 0,
            cause: Cause::Clamping,
            remote_fixable: false,
            on_site_minutes: 60,
            parts_cents: 8_000,
            parts_order_days: 0,
            board_swap: false,
        };
        Repair {
            failure,
            responded: failure.time + response_seconds,
            restored: failure.time + repair_seconds,
            returned: failure.time + repair_seconds,
            remote: false,
            visits: 1,
            labour_minutes: 60,
            travel_km: 30,
            travel_minutes: 30,
            loaner: None,
        }
    }

    /// Within means at most the promised hours, to the incident's 0.01 h: 24 h 00 min 17 s
    /// rounds to 24.00 (kept), 24 h 00 min 18 s to 24.01 (missed); either time can miss it.
    #[test]
    fn a_promise_is_kept_up_to_its_hours() {
        let promise = Promise {
            response_hours: 24,
            repair_hours: 48,
            loaner: false,
        };
        assert!(within_promise(&repair(24 * H, 48 * H), &promise));
        assert!(within_promise(&repair(24 * H + 17, 30 * H), &promise));
        assert!(!within_promise(&repair(24 * H + 18, 30 * H), &promise));
        assert!(!within_promise(&repair(2 * H, 48 * H + 18), &promise));
    }

    #[test]
    fn volumes_fall_in_their_bins() {
        assert_eq!(volume_bin(Decimal::ZERO), 0);
        assert_eq!(volume_bin(Decimal::new(4999, 1)), 0);
        assert_eq!(volume_bin(Decimal::from(500)), 1);
        assert_eq!(volume_bin(Decimal::from(100_000)), 5);
        assert_eq!(volume_bin_label(1), "500–1000");
        assert_eq!(volume_bin_label(5), "8000 and more");
        assert_eq!(per_year(600, Decimal::from(6)), Decimal::from(1200));
        assert_eq!(per_year(600, Decimal::ZERO), Decimal::ZERO);
    }
}
