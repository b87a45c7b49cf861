//! The scenario file as written: serde structs whose `Default`s are the calibrated defaults
//! (../shared/domain/calibration.md). Validation into `Scenario` happens in `validate.rs`.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawScenario {
    pub scenario: RawMeta,
    pub calendar: RawCalendar,
    pub fleet: RawFleet,
    pub demand: RawDemand,
    pub closures: RawClosures,
    pub pricing: RawPricing,
    pub faults: RawFaults,
    pub engine: RawEngine,
    pub output: RawOutput,
    /// `[quote]`: price every shop with the calculator from its first months (absent: no).
    pub quote: Option<RawQuote>,
    /// `[service]`: the field (wear, failures, repairs). Every key absent takes
    /// `ServiceSpec::default()`'s value, so the defaults live in one place (`service/spec.rs`).
    pub service: RawService,
    /// `[[alternative]]`: other pricings billed on the same simulated fleet (issue 12).
    pub alternative: Vec<RawAlternative>,
    /// `[load]`: how `fleetsim load SCENARIO` paces the fleet's traffic (absent: its defaults).
    pub load: Option<RawLoad>,
}

/// `[load]`: `speed = "3600x"` or `rate = 5000` (mean events/s), `upload_every`, `batch_size`,
/// `connections`, `thresholds`, and `[[load.stages]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLoad {
    pub speed: Option<String>,
    pub rate: Option<f64>,
    pub upload_every: Option<String>,
    pub month_end_read: Option<bool>,
    pub batch_size: Option<u32>,
    pub connections: Option<u32>,
    pub thresholds: Vec<String>,
    pub abort_on_fail: bool,
    pub stages: Vec<RawStage>,
}

/// `{ name = "spike", duration = "10s", speed = "7200x" }` (or `rate = 20000`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub name: Option<String>,
    pub duration: String,
    pub speed: Option<String>,
    pub rate: Option<f64>,
}

/// A pricing alternative: any billing-only key of `[pricing]`; an absent key takes
/// `[pricing]`'s value. What shapes the fleet (dates, terms, rollout, incidents, the close
/// schedule, the currency) is `[pricing]`'s alone: every alternative bills the same fleet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlternative {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub chain: Option<String>,
    pub independent: Option<String>,
    pub basis: Option<String>,
    /// Replaces `[pricing]`'s per-shop entries (prices, bases, plans) when given.
    pub shop: Option<Vec<RawShopPrice>>,
    pub catalogue: Option<String>,
    /// A catalogue plan, or `""` for prices per mounting.
    pub plan: Option<String>,
    pub service: Option<String>,
    pub options: Option<Vec<String>>,
    /// The click-price calculator as this alternative's pricing: its own prices over the
    /// audit months, then each shop at its quoted price (same keys and defaults as `[quote]`).
    pub quote: Option<RawQuote>,
    /// One alternative per value of a parameter swept over a range.
    pub sweep: Option<RawSweep>,
}

/// `sweep = { field = "price", from = "2.00", to = "6.00", step = "0.25" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    /// `price` (chain and independent alike), `chain`, `independent`, `margin` (the
    /// alternative's `quote.margin`) or `included` (its plan's included mountings).
    pub field: String,
    pub from: String,
    pub to: String,
    pub step: String,
}

/// `[quote]`: the click-price calculator judged out of sample. Defaults: `fleetsim quote`'s.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawQuote {
    /// Months audited (from the start); the quoted price bills the months after them.
    pub audit_months: i64,
    /// Term of the contract the price is computed for (the offer: 4 years).
    pub term_months: i64,
    /// Target margin on the cost to serve, a quoted decimal ("0.15" = 15%).
    pub margin: String,
    /// Bounds of a price per mounting, quoted decimals (seed document: 2–6 EUR).
    pub min_price: String,
    pub max_price: String,
}

impl Default for RawQuote {
    fn default() -> Self {
        RawQuote {
            audit_months: 6,
            term_months: 48,
            margin: "0.15".into(),
            min_price: "2".into(),
            max_price: "6".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMeta {
    pub name: Option<String>,
    pub description: String,
    pub seed: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCalendar {
    pub start: String,
    pub months: i64,
}

impl Default for RawCalendar {
    fn default() -> Self {
        RawCalendar {
            start: "2024-01-01".into(),
            months: 12,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFleet {
    pub shops: i64,
    /// V: 70% of French shops belong to chains.
    pub chain_share: f64,
    /// E: a shop whose mean volume exceeds this many pairs per open day runs two machines.
    pub second_machine_above: f64,
}

impl Default for RawFleet {
    fn default() -> Self {
        RawFleet {
            shops: 500,
            chain_share: 0.70,
            second_machine_above: 20.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDemand {
    /// `calibrated` (the stochastic model) or `fixed` (exact counts, for hand-checked examples).
    pub mode: String,
    /// E fitted to V (2014): median pairs per shop per open day across the fleet.
    pub median_pairs_per_day: f64,
    /// E fitted to V (2014): lognormal sigma; 37% of shops < 2/day, 5% > 10/day.
    pub sigma: f64,
    /// 1.0 reproduces 2014 volumes; 1.37 scales to 2022.
    pub volume_factor: f64,
    /// E: chain shops' median relative to independents' (fleet mean kept calibrated).
    pub chain_multiplier: f64,
    /// E: Gamma shape of day-to-day overdispersion (Gamma–Poisson); larger = calmer days.
    pub overdispersion_shape: f64,
    /// E: Mon..Sun multipliers on a shop's mean; Sunday 0 by default.
    pub weekday_multipliers: Vec<f64>,
    /// E: Jan..Dec multipliers (July busy, August slow, December good).
    pub month_multipliers: Vec<f64>,
    /// E: mean share of jobs edged in store (Beta across shops); the rest are trace-only.
    pub in_store_share_mean: f64,
    /// E: Beta concentration (alpha + beta) of the in-store share across shops.
    pub in_store_share_concentration: f64,
    /// E from V: remakes add 5–15% extra mountings; each shop draws its rate uniformly.
    pub remake_share_min: f64,
    pub remake_share_max: f64,
    /// V (GfK): frame mix, renormalised.
    pub frame_mix: RawFrameMix,
    /// E (France): lens material mix.
    pub material_mix: RawMaterialMix,
    /// `fixed` mode: billable mountings per machine per open day.
    pub fixed_mountings_per_day: i64,
    /// `fixed` mode: trace-only cycles per machine per open day.
    pub fixed_trace_only_per_day: i64,
}

impl Default for RawDemand {
    fn default() -> Self {
        RawDemand {
            mode: "calibrated".into(),
            median_pairs_per_day: 2.6,
            sigma: 0.81,
            volume_factor: 1.0,
            chain_multiplier: 1.5,
            overdispersion_shape: 4.0,
            weekday_multipliers: vec![0.6, 1.05, 1.05, 1.0, 1.05, 1.25, 0.0],
            month_multipliers: vec![
                0.95, 0.92, 1.02, 0.97, 0.93, 1.00, 1.05, 0.70, 1.08, 1.08, 1.05, 1.25,
            ],
            in_store_share_mean: 0.75,
            in_store_share_concentration: 8.0,
            remake_share_min: 0.05,
            remake_share_max: 0.15,
            frame_mix: RawFrameMix::default(),
            material_mix: RawMaterialMix::default(),
            fixed_mountings_per_day: 4,
            fixed_trace_only_per_day: 1,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFrameMix {
    pub full_rim: f64,
    pub grooved: f64,
    pub drilled: f64,
}

impl Default for RawFrameMix {
    fn default() -> Self {
        RawFrameMix {
            full_rim: 0.78,
            grooved: 0.15,
            drilled: 0.07,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMaterialMix {
    pub index_150: f64,
    pub index_160: f64,
    pub index_167: f64,
    pub polycarbonate: f64,
    pub mineral: f64,
}

impl Default for RawMaterialMix {
    fn default() -> Self {
        RawMaterialMix {
            index_150: 0.55,
            index_160: 0.25,
            index_167: 0.08,
            polycarbonate: 0.08,
            mineral: 0.04,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawClosures {
    /// Weekdays every shop is closed (`mon` … `sun`).
    pub closed_weekdays: Vec<String>,
    /// E: 40% of independents close on Mondays.
    pub independent_monday_closed_share: f64,
    /// E: chains rarely close on Mondays.
    pub chain_monday_closed_share: f64,
    /// V (2022 poll): 44% of shops close in summer (56% stay open).
    pub summer_closure_share: f64,
    /// V/E: a summer closure lasts 1–3 weeks.
    pub summer_closure_min_weeks: i64,
    pub summer_closure_max_weeks: i64,
    /// E: closures start between these days of the year (`MM-DD`), the same each year.
    pub summer_closure_earliest: String,
    pub summer_closure_latest: String,
}

impl Default for RawClosures {
    fn default() -> Self {
        RawClosures {
            closed_weekdays: vec!["sun".into()],
            independent_monday_closed_share: 0.40,
            chain_monday_closed_share: 0.10,
            summer_closure_share: 0.44,
            summer_closure_min_weeks: 1,
            summer_closure_max_weeks: 3,
            summer_closure_earliest: "07-14".into(),
            summer_closure_latest: "08-16".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPricing {
    pub currency: String,
    /// Price per billable mounting (a pair), as a quoted decimal in major units.
    pub chain: String,
    pub independent: String,
    /// What invoices bill: "counters" (monthly counter reads after VEE, as the offer is sold)
    /// or "events" (one event per mounting).
    pub basis: String,
    /// A month is closed and invoiced this many days after it ends; usage metered later is
    /// billed as late usage on the next invoice.
    pub close_after_days: i64,
    /// Per-shop overrides, e.g. after an audit.
    pub shop: Vec<RawShopPrice>,
    /// A plan catalogue (TOML, path relative to the scenario file) to bill plans from.
    pub catalogue: Option<String>,
    /// The catalogue plan every shop signs (default: none, the per-mounting prices above).
    pub plan: Option<String>,
    /// The catalogue service tier every shop signs, if any.
    pub service: Option<String>,
    /// Catalogue options every shop buys.
    pub options: Vec<String>,
    /// Plan contracts' term in months (default: the catalogue's `defaults.term_months`).
    pub term_months: Option<i64>,
    /// A staggered rollout: each plan shop without its own `start` starts on a day drawn
    /// uniformly from the run's first `rollout_days` days (0: every contract starts on day 1).
    pub rollout_days: i64,
    /// Share of plan shops without their own `terminated_on` that terminate early, on a day
    /// drawn uniformly after their start within the run.
    pub early_termination_share: f64,
    /// Service incidents as input data: a CSV file, relative to the scenario file.
    pub incidents: Option<String>,
}

impl Default for RawPricing {
    fn default() -> Self {
        RawPricing {
            currency: "EUR".into(),
            chain: "3.20".into(),
            independent: "3.80".into(),
            basis: "counters".into(),
            close_after_days: 3,
            shop: Vec::new(),
            catalogue: None,
            plan: None,
            service: None,
            options: Vec::new(),
            term_months: None,
            rollout_days: 0,
            early_termination_share: 0.0,
            incidents: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShopPrice {
    pub shop: i64,
    pub price: Option<String>,
    /// This shop's contract basis, if not the scenario's.
    pub basis: Option<String>,
    /// This shop's catalogue plan, service tier and options, if not the scenario's.
    pub plan: Option<String>,
    pub service: Option<String>,
    pub options: Option<Vec<String>>,
    /// The day this shop's plan contract starts ("YYYY-MM-DD"): its machines are installed
    /// that day, and a start after the 1st prorates the first month.
    pub start: Option<String>,
    /// The last day this shop's plan contract covers, when it ends early ("YYYY-MM-DD"): its
    /// machines are removed that day, and the invoice carries the early termination fee.
    pub terminated_on: Option<String>,
}

/// Field faults. The random ones (initial counters, board swaps, lost reads, outages) are
/// `None` when not written: their default depends on the demand mode (calibrated: the
/// estimate below; fixed, for hand-checked examples: none).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFaults {
    /// Share of events the transport sends twice (same id): the engine must count them once.
    pub duplicate_share: f64,
    /// E: the counters wrap to 0 after 10^digits − 1. No public figure for edgers; 8 digits is
    /// the width of the utility registers in the field notes (99 999 678 → 00 000 123).
    pub counter_digits: i64,
    /// `zero` (new machines) or `random` (an installed fleet: each channel starts anywhere in
    /// its range).
    pub initial_counters: Option<String>,
    /// Control-board replacements per machine-year; the counters restart at 0.
    pub board_swaps_per_machine_year: Option<f64>,
    /// Share of daily counter readings the head-end never gets.
    pub lost_read_share: Option<f64>,
    /// Connectivity outages per machine-year: the machine works on, delivers nothing, then
    /// everything it buffered when it is back.
    pub outages_per_machine_year: Option<f64>,
    /// E: an outage lasts a lognormal number of days (median, sigma), whole days, capped.
    pub outage_median_days: f64,
    pub outage_sigma: f64,
    pub outage_max_days: i64,
}

/// Calibrated defaults of the random faults (used in `calibrated` demand mode).
pub mod fault_defaults {
    /// E: contracts start on an installed fleet, whose counters stand anywhere.
    pub const INITIAL_COUNTERS: &str = "random";
    /// E from calibration.md "Wear, failures, service": 1.5 incidents/yr at 3,000 pairs/yr;
    /// software/comms (15%) and spindle/motor (10%) are the causes that can take the control
    /// board; 70% of incidents need a visit; say half of those visits swap the board:
    /// 1.5 × 0.25 × 0.7 × 0.5 ≈ 0.13/yr. The average machine edges 1,000–1,300 pairs/yr, not
    /// 3,000, and fails less (the failure process grows with cycles): 0.1.
    pub const BOARD_SWAPS_PER_MACHINE_YEAR: f64 = 0.1;
    /// E: a failed nightly remote read (modem asleep, head-end timeout); no public figure.
    pub const LOST_READ_SHARE: f64 = 0.005;
    /// E: router replaced, Wi-Fi password changed, machine unplugged from the network; no
    /// public figure. The field reports machines "back online after weeks".
    pub const OUTAGES_PER_MACHINE_YEAR: f64 = 0.5;
}

impl Default for RawFaults {
    fn default() -> Self {
        RawFaults {
            duplicate_share: 0.0,
            counter_digits: 8,
            initial_counters: None,
            board_swaps_per_machine_year: None,
            lost_read_share: None,
            outages_per_machine_year: None,
            // E: most outages are fixed within the week (median 5 days); sigma 1 puts one in
            // ten beyond 18 days; after 6 weeks the service desk sends someone (cap 42).
            outage_median_days: 5.0,
            outage_sigma: 1.0,
            outage_max_days: 42,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawEngine {
    /// The embedded engine commits one transaction per this many simulated days.
    pub commit_every_days: i64,
    /// Days the actors work per round of messages (any length gives the same output).
    pub span_days: i64,
}

impl Default for RawEngine {
    fn default() -> Self {
        RawEngine {
            commit_every_days: 7,
            span_days: 7,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOutput {
    /// Output folder; default `reports/<scenario name>`.
    pub dir: Option<String>,
    pub html: bool,
}

impl Default for RawOutput {
    fn default() -> Self {
        RawOutput {
            dir: None,
            html: true,
        }
    }
}

/// `[service]` as written. `None` (absent) is the calibrated default of `ServiceSpec`; money
/// is a quoted decimal in major units (`"30000.00"`), converted to cents exactly.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawService {
    /// Off until the field is wired into the run.
    pub enabled: bool,
    /// What chain and independent shops do with their jobs while no machine works:
    /// `"remote_edge"` or `"wait"`.
    pub downtime_chain: Option<String>,
    pub downtime_independent: Option<String>,
    pub machine_price: Option<String>,
    /// A quoted decimal (a rate: exact, never a float).
    pub lease_per_1000_per_month: Option<String>,
    pub wear: RawWear,
    pub failures: RawFailures,
    pub field: RawField,
    pub predictive: RawPredictive,
}

/// One value per frame type (`demand.frame_mix`'s names).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawByFrame<T> {
    pub full_rim: Option<T>,
    pub grooved: Option<T>,
    pub drilled: Option<T>,
}

/// One value per lens material (`demand.material_mix`'s names).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawByMaterial<T> {
    pub index_150: Option<T>,
    pub index_160: Option<T>,
    pub index_167: Option<T>,
    pub polycarbonate: Option<T>,
    pub mineral: Option<T>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWear {
    pub by_material: RawByMaterial<f64>,
    pub extra_by_frame: RawByFrame<f64>,
    pub wheel_life_min: Option<f64>,
    pub wheel_life_max: Option<f64>,
    pub wheel_price: Option<String>,
    pub tool_price: RawByFrame<String>,
    /// Per mounting.
    pub sundries_price: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFailures {
    pub shape: Option<f64>,
    pub incidents_per_year_at_reference: Option<f64>,
    pub reference_pairs_per_year: Option<f64>,
    pub term_years: Option<f64>,
    pub board_swap_share: Option<f64>,
    pub causes: RawCauses,
}

/// `[service.failures.causes.NAME]`, NAME as `Cause::as_str` writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCauses {
    pub tools_wear: RawCause,
    pub clamping: RawCause,
    pub tracer_blocker: RawCause,
    pub software_comms: RawCause,
    pub water_pump: RawCause,
    pub spindle_motor: RawCause,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCause {
    pub share: Option<f64>,
    pub remote_fixable: Option<f64>,
    pub on_site_minutes_min: Option<i64>,
    pub on_site_minutes_max: Option<i64>,
    pub parts_median_price: Option<String>,
    pub parts_sigma: Option<f64>,
    pub parts_order: Option<f64>,
    pub parts_order_days_min: Option<i64>,
    pub parts_order_days_max: Option<i64>,
    pub precursor: Option<f64>,
    pub precursor_days_min: Option<i64>,
    pub precursor_days_max: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawField {
    pub technicians_per_1000_machines: Option<f64>,
    /// Region name (calibration.md's spelling) → technicians, overriding the ratio.
    pub technicians: BTreeMap<String, i64>,
    pub day_starts_hour: Option<i64>,
    pub day_ends_hour: Option<i64>,
    pub road_kmh: Option<f64>,
    pub km_price: Option<String>,
    pub technician_hour_price: Option<String>,
    pub desk_response_minutes: Option<i64>,
    pub remote_minutes: Option<i64>,
    pub loaners_per_1000_machines: Option<f64>,
    pub loaner_logistics_price: Option<String>,
    pub default_response_hours: Option<i64>,
    pub default_repair_hours: Option<i64>,
    pub default_loaner: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPredictive {
    pub enabled: bool,
    pub acts_on: Option<f64>,
    pub visit_minutes: Option<i64>,
    pub parts_factor: Option<f64>,
}
