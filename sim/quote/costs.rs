//! The cost to serve one shop, parametric: every parameter has a default from
//! `calibration.md` (V = a public figure, E = an estimate) and is named with its source.
//!
//! All arithmetic is `Decimal` (money is never a float). The one non-polynomial step, the
//! failure power law `x^1.5`, is computed as `x × √x` with a Decimal Newton square root
//! ([`sqrt`]) to 20 decimal places, deterministic on every platform.

use rust_decimal::Decimal;

/// A machine model the offer can install.
#[derive(Clone, Debug, PartialEq)]
pub struct MachineModel {
    pub name: &'static str,
    /// Purchase price, EUR.
    pub price: Decimal,
    /// Machine time relative to the top model (1.0): a budget or refurbished edger is slower.
    pub time_factor: Decimal,
    pub source: &'static str,
}

/// Repair outcomes of an incident (calibration.md "Wear, failures, service").
pub const REPAIRS: [&str; 3] = ["remote fix", "site visit", "loaner episode"];
/// Frame types as an audit names them (CSV columns), index = `Frame as usize`.
pub const FRAMES: [&str; 3] = ["full_rim", "semi_rimless", "rimless"];
/// Lens materials, index = `Material as usize`.
pub const MATERIALS: [&str; 5] = [
    "index_150",
    "index_160",
    "index_167",
    "polycarbonate",
    "mineral",
];

/// Every parameter of the cost model. `CostModel::default()` is the calibrated one; README
/// "Pricing a shop" tables it with each source.
#[derive(Clone, Debug, PartialEq)]
pub struct CostModel {
    /// Candidate models, cheapest first.
    pub models: Vec<MachineModel>,
    /// V (lease): ≈ 20 per 1,000 of machine value per month over 5 years; the offer's
    /// amortisation and financing of the machine, per month of term.
    pub lease_rate_per_month: Decimal,
    /// E: machine minutes a shop can give the edger on one open day (one operator day, 8 h).
    pub machine_minutes_per_day: Decimal,
    /// E: the machines must absorb the p95 day's load with this headroom:
    /// p95 day minutes × (1 + headroom) ≤ machines × capacity.
    pub headroom: Decimal,
    /// E from V: minutes per pair by material (1.5: 4; 1.6 and 1.67: 6; poly: 7; mineral: 9).
    pub minutes_by_material: [Decimal; 5],
    /// E from V: extra minutes by frame (semi-rimless: grooving 1.5 + polishing 1.5;
    /// rimless: drilling 4 + polishing 1.5).
    pub extra_minutes_by_frame: [Decimal; 3],
    /// E: a frame traced for a remote-edged order.
    pub trace_minutes: Decimal,
    /// E: relative wheel wear per lens by material (1.0 / 1.3 / 1.3 / 1.5 / 4.0).
    pub wear_by_material: [Decimal; 5],
    /// E: a wheel set lasts 8–15 k lens-equivalents; the midpoint.
    pub lens_equivalents_per_wheel: Decimal,
    /// E (no public figure): a diamond wheel set, EUR.
    pub wheel_cost: Decimal,
    /// E (no public figure): grooving / drilling tools and bits per pair, by frame, EUR.
    pub tool_cost_by_frame: [Decimal; 3],
    /// E (no public figure): blocking pads, water and filter per mounting, EUR.
    pub sundries_per_mounting: Decimal,
    /// E: ≈ 1.5 incidents per machine-year at 3,000 pairs per year, a power law of shape
    /// 1.5 in the volume (copier analogue, V).
    pub incidents_per_year_at_reference: Decimal,
    pub reference_pairs_per_year: Decimal,
    /// E: repair mix: 30% fixed remotely, 60% on site, 10% with a loaner machine.
    pub repair_mix: [Decimal; 3],
    /// E (no public figure): cost of a remote fix, a site visit, a loaner episode, EUR.
    pub repair_cost: [Decimal; 3],
    /// E: month multipliers Jan..Dec (calibration "Time patterns"), to annualise an audit.
    pub month_weights: [Decimal; 12],
}

fn d(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            models: vec![
                MachineModel {
                    name: "budget",
                    price: d(12_500, 0),
                    time_factor: d(13, 1),
                    source: "V: 10–15 k budget/refurbished (20/20 Magazine); E: 30% slower",
                },
                MachineModel {
                    name: "top",
                    price: d(30_000, 0),
                    time_factor: d(1, 0),
                    source: "V: ≈ 30 k new top model (20/20 Magazine)",
                },
            ],
            lease_rate_per_month: d(20, 3),
            machine_minutes_per_day: d(480, 0),
            headroom: d(25, 2),
            minutes_by_material: [d(4, 0), d(6, 0), d(6, 0), d(7, 0), d(9, 0)],
            extra_minutes_by_frame: [d(0, 0), d(3, 0), d(55, 1)],
            trace_minutes: d(1, 0),
            wear_by_material: [d(10, 1), d(13, 1), d(13, 1), d(15, 1), d(40, 1)],
            lens_equivalents_per_wheel: d(11_500, 0),
            wheel_cost: d(1_200, 0),
            tool_cost_by_frame: [d(0, 0), d(10, 2), d(30, 2)],
            sundries_per_mounting: d(15, 2),
            incidents_per_year_at_reference: d(15, 1),
            reference_pairs_per_year: d(3_000, 0),
            repair_mix: [d(30, 2), d(60, 2), d(10, 2)],
            repair_cost: [d(80, 0), d(600, 0), d(2_000, 0)],
            month_weights: [
                d(95, 2),
                d(92, 2),
                d(102, 2),
                d(97, 2),
                d(93, 2),
                d(100, 2),
                d(105, 2),
                d(70, 2),
                d(108, 2),
                d(108, 2),
                d(105, 2),
                d(125, 2),
            ],
        }
    }
}

/// Days of each month in a non-leap reference year.
pub const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl CostModel {
    /// Σ over `counts` of count × per-unit value, divided by `total` (a weighted mean);
    /// 0 when `total` is 0.
    fn mean(counts: &[u64], values: &[Decimal], total: u64) -> Decimal {
        if total == 0 {
            return Decimal::ZERO;
        }
        let sum: Decimal = counts
            .iter()
            .zip(values)
            .map(|(c, v)| Decimal::from(*c) * v)
            .sum();
        sum / Decimal::from(total)
    }

    /// Machine minutes of the average mounting of this mix (material time + frame extra).
    pub fn minutes_per_mounting(&self, frames: &[u64; 3], materials: &[u64; 5]) -> Decimal {
        let m: u64 = materials.iter().sum();
        let f: u64 = frames.iter().sum();
        Self::mean(materials, &self.minutes_by_material, m)
            + Self::mean(frames, &self.extra_minutes_by_frame, f)
    }

    /// Mean wheel wear per lens of this material mix (lens-equivalents per lens).
    pub fn mean_wear(&self, materials: &[u64; 5]) -> Decimal {
        let m: u64 = materials.iter().sum();
        Self::mean(materials, &self.wear_by_material, m)
    }

    /// Wheels per mounting, EUR: 2 lenses × mean wear × wheel cost / lens-equivalents.
    pub fn wheels_per_mounting(&self, materials: &[u64; 5]) -> Decimal {
        Decimal::TWO * self.mean_wear(materials) * self.wheel_cost / self.lens_equivalents_per_wheel
    }

    /// Grooving and drilling tools per mounting, EUR.
    pub fn tools_per_mounting(&self, frames: &[u64; 3]) -> Decimal {
        let f: u64 = frames.iter().sum();
        Self::mean(frames, &self.tool_cost_by_frame, f)
    }

    /// Expected incidents per machine-year at `pairs` mountings per machine-year:
    /// `1.5 × (pairs / 3000)^1.5` (power law in the cycle count, shape 1.5).
    pub fn incidents_per_machine_year(&self, pairs: Decimal) -> Decimal {
        let x = pairs / self.reference_pairs_per_year;
        self.incidents_per_year_at_reference * x * sqrt(x)
    }

    /// Expected cost of one incident, EUR: Σ repair share × repair cost.
    pub fn cost_per_incident(&self) -> Decimal {
        self.repair_mix
            .iter()
            .zip(&self.repair_cost)
            .map(|(s, c)| s * c)
            .sum()
    }

    /// Machine minutes one machine of `model` offers a day (time measured on the top model).
    pub fn capacity_minutes(&self, model: &MachineModel) -> Decimal {
        self.machine_minutes_per_day / model.time_factor
    }

    /// Amortisation and financing of one machine for one month, EUR.
    pub fn lease_per_month(&self, model: &MachineModel) -> Decimal {
        model.price * self.lease_rate_per_month
    }

    /// Σ of month weights over a year (365 reference days).
    pub fn year_weight(&self) -> Decimal {
        MONTH_DAYS
            .iter()
            .zip(&self.month_weights)
            .map(|(days, w)| Decimal::from(*days) * w)
            .sum()
    }

    /// Σ of month weights over the audit's days (`days_by_month`: days in each month).
    pub fn audit_weight(&self, days_by_month: &[u32; 12]) -> Decimal {
        days_by_month
            .iter()
            .zip(&self.month_weights)
            .map(|(days, w)| Decimal::from(*days) * w)
            .sum()
    }
}

/// √x for x ≥ 0 (0 for x ≤ 0), Newton's method in Decimal, rounded to 20 decimal places.
pub fn sqrt(x: Decimal) -> Decimal {
    if x <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    // Start above the root: max(x, 1) ≥ √x; Newton then decreases monotonically.
    let mut r = if x > Decimal::ONE { x } else { Decimal::ONE };
    for _ in 0..200 {
        let next = (r + x / r) / Decimal::TWO;
        if next >= r {
            break;
        }
        r = next;
    }
    r.round_dp(20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn square_roots() {
        assert_eq!(sqrt(dec("4")), dec("2"));
        assert_eq!(sqrt(dec("0.25")), dec("0.5"));
        assert_eq!(sqrt(dec("0")), dec("0"));
        assert_eq!(sqrt(dec("1")), dec("1"));
        assert_eq!(sqrt(dec("2")).round_dp(12), dec("1.414213562373"));
        assert_eq!(sqrt(dec("1000000")), dec("1000"));
        assert_eq!(sqrt(dec("0.0001")), dec("0.01"));
    }

    #[test]
    fn machine_time_of_the_calibrated_mix() {
        let m = CostModel::default();
        // 55/25/8/8/4 by material: (55×4 + 25×6 + 8×6 + 8×7 + 4×9)/100 = 510/100 = 5.10;
        // 78/15/7 by frame: (15×3 + 7×5.5)/100 = 83.5/100 = 0.835. Total 5.935 min.
        let t = m.minutes_per_mounting(&[78, 15, 7], &[55, 25, 8, 8, 4]);
        assert_eq!(t, dec("5.935"));
        assert_eq!(m.minutes_per_mounting(&[0; 3], &[0; 5]), Decimal::ZERO);
    }

    #[test]
    fn wheel_wear_by_material() {
        let m = CostModel::default();
        // Mean wear (55×1 + 25×1.3 + 8×1.3 + 8×1.5 + 4×4)/100 = 125.9/100 = 1.259.
        assert_eq!(m.mean_wear(&[55, 25, 8, 8, 4]), dec("1.259"));
        // 2 × 1.259 × 1200 / 11500 = 3021.6 / 11500 = 0.26274782608695652173913043478…
        assert_eq!(
            m.wheels_per_mounting(&[55, 25, 8, 8, 4]).round_dp(8),
            dec("0.26274783")
        );
        // All mineral: 2 × 4 × 1200 / 11500 = 0.8347826…
        assert_eq!(
            m.wheels_per_mounting(&[0, 0, 0, 0, 10]).round_dp(6),
            dec("0.834783")
        );
    }

    #[test]
    fn tools_by_frame() {
        let m = CostModel::default();
        // (15 × 0.10 + 7 × 0.30) / 100 = 3.6 / 100 = 0.036.
        assert_eq!(m.tools_per_mounting(&[78, 15, 7]), dec("0.036"));
        assert_eq!(m.tools_per_mounting(&[1, 0, 0]), Decimal::ZERO);
    }

    #[test]
    fn failures_follow_the_power_law() {
        let m = CostModel::default();
        // At the reference volume: 1.5 incidents a year.
        assert_eq!(m.incidents_per_machine_year(dec("3000")), dec("1.5"));
        // At 4 × the volume: 1.5 × 4 × 2 = 12.
        assert_eq!(m.incidents_per_machine_year(dec("12000")), dec("12"));
        // At 750 pairs (¼): 1.5 × 0.25 × 0.5 = 0.1875.
        assert_eq!(m.incidents_per_machine_year(dec("750")), dec("0.1875"));
        assert_eq!(m.incidents_per_machine_year(Decimal::ZERO), Decimal::ZERO);
    }

    #[test]
    fn service_cost_per_incident() {
        // 0.3 × 80 + 0.6 × 600 + 0.1 × 2000 = 24 + 360 + 200 = 584.
        assert_eq!(CostModel::default().cost_per_incident(), dec("584"));
    }

    #[test]
    fn machines_capacity_and_lease() {
        let m = CostModel::default();
        let (budget, top) = (&m.models[0], &m.models[1]);
        assert_eq!(m.capacity_minutes(top), dec("480"));
        assert_eq!(m.capacity_minutes(budget).round_dp(4), dec("369.2308"));
        assert_eq!(m.lease_per_month(budget), dec("250"));
        assert_eq!(m.lease_per_month(top), dec("600"));
    }

    #[test]
    fn seasonal_weights() {
        let m = CostModel::default();
        // 31×.95 + 28×.92 + 31×1.02 + 30×.97 + 31×.93 + 30×1 + 31×1.05 + 31×.7 + 30×1.08
        // + 31×1.08 + 30×1.05 + 31×1.25 = 365.14.
        assert_eq!(m.year_weight(), dec("365.14"));
        // January and February 2024 (31 + 29 days): 31×.95 + 29×.92 = 56.13.
        let mut days = [0; 12];
        days[0] = 31;
        days[1] = 29;
        assert_eq!(m.audit_weight(&days), dec("56.13"));
    }
}
