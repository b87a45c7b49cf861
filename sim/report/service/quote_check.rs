//! The quote calculator's expected service cost (`quote::costs`, `quote::price::cost`) for
//! each shop's simulated volume and mix over the run, against what the simulated field cost.
//!
//! Like with like, as the calculator splits it:
//! - **repairs**: its `service` term, incidents × cost per incident (a mix of remote fixes,
//!   site visits and loaner episodes, each all-in), against the simulation's parts + labour +
//!   travel + loaner logistics;
//! - **consumables**: mountings × (wheels + tools + sundries per mounting), against the
//!   simulation's wheel sets worn out, tools by frame and sundries.
//!
//! The calculator sizes incidents by pairs per machine-year with the shop's own machine count
//! and the years its machines were installed within the run. The machine (lease) cost is
//! left out: it is the same formula on both sides.

use super::figures::{per_year, ShopEconomics};
use crate::quote::CostModel;
use crate::report::RunData;
use crate::service::cost::{installed_months, CostToServe};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt::Write;

/// What the calculator expects for a shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub incidents: Decimal,
    pub repairs_cents: i64,
    pub consumables_cents: i64,
}

/// The calculator's formulas for `mountings` over `months` installed on `machines` machines,
/// with this frame and material mix.
pub fn expected(
    model: &CostModel,
    machines: u32,
    months: Decimal,
    mountings: u64,
    frames: &[u64; 3],
    materials: &[u64; 5],
) -> Expected {
    let years = months / Decimal::from(12);
    let machine_years = Decimal::from(machines) * years;
    let pairs_per_machine_year = if machine_years > Decimal::ZERO {
        Decimal::from(mountings) / machine_years
    } else {
        Decimal::ZERO
    };
    let incidents = model.incidents_per_machine_year(pairs_per_machine_year) * machine_years;
    let per_mounting = model.wheels_per_mounting(materials)
        + model.tools_per_mounting(frames)
        + model.sundries_per_mounting;
    Expected {
        incidents,
        repairs_cents: euros_to_cents(incidents * model.cost_per_incident()),
        consumables_cents: euros_to_cents(Decimal::from(mountings) * per_mounting),
    }
}

/// EUR to cents, once, half away from zero (`money`'s rule).
fn euros_to_cents(eur: Decimal) -> i64 {
    (eur * Decimal::from(100))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// What the simulated field cost a shop, split as the calculator splits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Simulated {
    pub incidents: u64,
    pub repairs_cents: i64,
    pub consumables_cents: i64,
}

impl Simulated {
    pub fn of(cost: &CostToServe, incidents: u64) -> Simulated {
        Simulated {
            incidents,
            repairs_cents: cost.parts_cents
                + cost.labour_cents
                + cost.travel_cents
                + cost.loaner_cents
                + cost.preventive_cents,
            consumables_cents: cost.consumables_cents,
        }
    }
}

/// One shop: expected against simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShopCheck {
    pub shop: u32,
    pub machines: u32,
    pub mountings: u64,
    pub mountings_a_year: Decimal,
    pub expected: Expected,
    pub simulated: Simulated,
}

impl ShopCheck {
    /// Simulated ÷ expected, repairs and consumables together (`None` when nothing expected).
    pub fn ratio(&self) -> Option<Decimal> {
        ratio(
            self.simulated.repairs_cents + self.simulated.consumables_cents,
            self.expected.repairs_cents + self.expected.consumables_cents,
        )
    }

    /// Simulated − expected, repairs and consumables together.
    pub fn gap_cents(&self) -> i64 {
        self.simulated.repairs_cents + self.simulated.consumables_cents
            - self.expected.repairs_cents
            - self.expected.consumables_cents
    }
}

/// `a ÷ b` to 4 decimals (`None` when b is 0).
pub fn ratio(a: i64, b: i64) -> Option<Decimal> {
    if b == 0 {
        return None;
    }
    Some((Decimal::from(a) / Decimal::from(b)).round_dp(4))
}

/// Every shop, by id. The calculator's model is the run's `[quote]` one, else its defaults.
pub fn per_shop(
    d: &RunData,
    costs: &[CostToServe],
    economics: &[ShopEconomics],
    model: &CostModel,
) -> Vec<ShopCheck> {
    let truth = &d.outcome.truth;
    d.fleet
        .shops
        .iter()
        .enumerate()
        .map(|(s, shop)| {
            let (mut frames, mut materials) = ([0u64; 3], [0u64; 5]);
            for p in 0..truth.periods() {
                let mix = truth.mix(s as u32, p);
                add(&mut frames, &mix.frames);
                add(&mut materials, &mix.materials);
            }
            let months = installed_months(shop, d.calendar);
            let machines = shop.machines.len() as u32;
            let mountings = economics[s].mountings;
            let incidents = u64::from(truth.shop_field(s as u32).failures);
            ShopCheck {
                shop: shop.id.0,
                machines,
                mountings,
                mountings_a_year: per_year(mountings, months),
                expected: expected(model, machines, months, mountings, &frames, &materials),
                simulated: Simulated::of(&costs[s], incidents),
            }
        })
        .collect()
}

fn add<const N: usize>(total: &mut [u64; N], counts: &[u32; N]) {
    for (t, n) in total.iter_mut().zip(counts) {
        *t += u64::from(*n);
    }
}

/// Fleet totals and the spread of the per-shop ratios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub expected: Expected,
    pub simulated: Simulated,
    /// Median of the per-shop ratios (shops with something expected).
    pub median_ratio: Option<Decimal>,
}

pub fn totals(checks: &[ShopCheck]) -> Totals {
    let mut expected = Expected {
        incidents: Decimal::ZERO,
        repairs_cents: 0,
        consumables_cents: 0,
    };
    let mut simulated = Simulated {
        incidents: 0,
        repairs_cents: 0,
        consumables_cents: 0,
    };
    for c in checks {
        expected.incidents += c.expected.incidents;
        expected.repairs_cents += c.expected.repairs_cents;
        expected.consumables_cents += c.expected.consumables_cents;
        simulated.incidents += c.simulated.incidents;
        simulated.repairs_cents += c.simulated.repairs_cents;
        simulated.consumables_cents += c.simulated.consumables_cents;
    }
    let mut ratios: Vec<Decimal> = checks.iter().filter_map(ShopCheck::ratio).collect();
    ratios.sort();
    Totals {
        expected,
        simulated,
        median_ratio: median(&ratios),
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(sorted: &[Decimal]) -> Option<Decimal> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::TWO),
    }
}

/// The `n` shops furthest from the calculator, in cents either way (then by id).
pub fn worst(checks: &[ShopCheck], n: usize) -> Vec<ShopCheck> {
    let mut sorted = checks.to_vec();
    sorted.sort_by(|a, b| {
        b.gap_cents()
            .abs()
            .cmp(&a.gap_cents().abs())
            .then(a.shop.cmp(&b.shop))
    });
    sorted.truncate(n);
    sorted
}

pub const CSV_HEADER: &str = "shop,machines,mountings,mountings_a_year,expected_incidents,simulated_incidents,expected_repairs_cents,simulated_repairs_cents,expected_consumables_cents,simulated_consumables_cents,ratio";

/// service_vs_quote.csv: one row per shop.
pub fn csv(checks: &[ShopCheck]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for c in checks {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            crate::event::ShopId(c.shop),
            c.machines,
            c.mountings,
            c.mountings_a_year.round_dp(1),
            c.expected.incidents.round_dp(4),
            c.simulated.incidents,
            c.expected.repairs_cents,
            c.simulated.repairs_cents,
            c.expected.consumables_cents,
            c.simulated.consumables_cents,
            c.ratio().map(|r| r.to_string()).unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// One machine for 12 months, 3,000 full-rim 1.5 mountings: the reference volume, so
    /// 1.5 incidents × 584 EUR = 876.00 EUR; consumables 3,000 × (2 × 1.0 × 1,200 / 11,500
    /// + 0 + 0.15) = 626.0869… + 450 = 1,076.0869… EUR → 107,609 cents.
    #[test]
    fn a_shop_at_the_reference_volume() {
        let e = expected(
            &CostModel::default(),
            1,
            dec("12"),
            3_000,
            &[3_000, 0, 0],
            &[3_000, 0, 0, 0, 0],
        );
        assert_eq!(e.incidents, dec("1.5"));
        assert_eq!(e.repairs_cents, 87_600);
        assert_eq!(e.consumables_cents, 107_609);
    }

    /// Two machines for 6 months sharing 3,000 mountings: 3,000 pairs per machine-year again,
    /// 1.5 a machine-year × 1 machine-year = 1.5 incidents. A quarter of the volume on one
    /// machine over a year: 1.5 × 0.25^1.5 = 0.1875 incidents, × 584 = 109.50 EUR. Mixed
    /// frames: 100 drilled of 750 add 100 × 0.30 = 30 EUR of tools.
    #[test]
    fn machines_and_months_scale_the_incidents() {
        let m = CostModel::default();
        let materials = [3_000, 0, 0, 0, 0];
        let two = expected(&m, 2, dec("6"), 3_000, &[3_000, 0, 0], &materials);
        assert_eq!(two.incidents, dec("1.5"));
        assert_eq!(two.repairs_cents, 87_600);
        let quarter = expected(&m, 1, dec("12"), 750, &[650, 0, 100], &[750, 0, 0, 0, 0]);
        assert_eq!(quarter.incidents, dec("0.1875"));
        assert_eq!(quarter.repairs_cents, 10_950);
        // 750 × (0.2086956… + 0.15) + 30 = 269.0217… + 30 = 299.0217… EUR.
        assert_eq!(quarter.consumables_cents, 29_902);
        let never = expected(&m, 1, Decimal::ZERO, 0, &[0; 3], &[0; 5]);
        assert_eq!(never.incidents, Decimal::ZERO);
        assert_eq!(never.repairs_cents + never.consumables_cents, 0);
    }

    /// The simulated side adds parts, labour, travel, loaners and preventive visits; the machine is left out.
    #[test]
    fn the_simulated_side_is_split_as_the_calculator_splits_it() {
        let cost = CostToServe {
            machine_cents: 1_000_000,
            consumables_cents: 100_000,
            parts_cents: 30_000,
            labour_cents: 12_000,
            travel_cents: 4_500,
            loaner_cents: 15_000,
            preventive_cents: 2_000,
        };
        let s = Simulated::of(&cost, 2);
        assert_eq!(s.repairs_cents, 63_500);
        assert_eq!(s.consumables_cents, 100_000);
        let check = ShopCheck {
            shop: 3,
            machines: 1,
            mountings: 3_000,
            mountings_a_year: dec("3000"),
            expected: expected(
                &CostModel::default(),
                1,
                dec("12"),
                3_000,
                &[3_000, 0, 0],
                &[3_000, 0, 0, 0, 0],
            ),
            simulated: s,
        };
        // (63,500 + 100,000) / (87,600 + 107,609) = 163,500 / 195,209 = 0.83756…
        assert_eq!(check.ratio(), Some(dec("0.8376")));
        assert_eq!(check.gap_cents(), 163_500 - 195_209);
        let t = totals(&[check, check]);
        assert_eq!(t.expected.repairs_cents, 175_200);
        assert_eq!(t.simulated.incidents, 4);
        assert_eq!(t.median_ratio, Some(dec("0.8376")));
        let row = csv(&[check]);
        assert_eq!(
            row.lines().nth(1),
            Some("S000003,1,3000,3000,1.5,2,87600,63500,107609,100000,0.8376")
        );
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[dec("1"), dec("2"), dec("9")]), Some(dec("2")));
        assert_eq!(median(&[dec("1"), dec("2")]), Some(dec("1.5")));
    }
}
