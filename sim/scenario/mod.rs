//! Scenario files: what a run simulates. `load` parses and validates; every problem comes
//! back as a `ScenarioError` with file, line, column and field.

pub mod alternatives;
pub mod bounds;
pub mod incidents;
pub mod load;
mod raw;
mod service;
mod validate;

pub use crate::input::ScenarioError;
/// For other TOML files that report errors the same way (the plan catalogue).
pub use crate::input::{file_error, Locator};

pub use crate::billing::Basis;
use crate::money::{Currency, UnitPrice};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A validated scenario. Every field has a default from calibration.md.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub start: NaiveDate,
    pub months: u32,
    pub fleet: FleetSpec,
    pub demand: DemandSpec,
    pub closures: ClosureSpec,
    pub pricing: PricingSpec,
    /// `[[alternative]]`: other pricings billed on the same simulated fleet.
    pub alternatives: Vec<alternatives::Alternative>,
    pub faults: FaultSpec,
    pub engine: EngineSpec,
    pub output: OutputSpec,
    /// `[quote]`: price every shop from its first months, bill the rest at that price.
    pub quote: Option<QuoteSpec>,
    /// `[service]`: machines wear, fail and get repaired by regional field service.
    pub service: crate::service::ServiceSpec,
    /// `[load]`: how `fleetsim load SCENARIO` paces the fleet's traffic.
    pub load: Option<load::LoadSpec>,
}

/// The calculator's settings for a run (`[quote]`).
#[derive(Clone, Debug, PartialEq)]
pub struct QuoteSpec {
    /// 1 ≤ audit_months < months: the audit's months are billed at the scenario's prices.
    pub audit_months: u32,
    pub terms: crate::quote::Terms,
}

#[derive(Clone, Debug)]
pub struct FleetSpec {
    pub shops: u32,
    pub chain_share: f64,
    pub second_machine_above: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DemandMode {
    Calibrated,
    /// Exactly this many mountings and trace-only cycles per machine per open day.
    Fixed {
        mountings: u32,
        trace_only: u32,
    },
}

#[derive(Clone, Debug)]
pub struct DemandSpec {
    pub mode: DemandMode,
    pub median_pairs_per_day: f64,
    pub sigma: f64,
    pub volume_factor: f64,
    pub chain_multiplier: f64,
    pub overdispersion_shape: f64,
    /// Monday first.
    pub weekday: [f64; 7],
    /// January first.
    pub month: [f64; 12],
    pub in_store_share_mean: f64,
    pub in_store_share_concentration: f64,
    pub remake_share: (f64, f64),
    /// full-rim, grooved, drilled.
    pub frame_mix: [f64; 3],
    /// 1.5, 1.6, 1.67+, polycarbonate, mineral.
    pub material_mix: [f64; 5],
}

#[derive(Clone, Debug)]
pub struct ClosureSpec {
    /// Monday first; `true` = every shop is closed that weekday.
    pub closed_weekdays: [bool; 7],
    pub independent_monday_closed_share: f64,
    pub chain_monday_closed_share: f64,
    pub summer_closure_share: f64,
    pub summer_closure_weeks: (u32, u32),
    /// Day of year (0-based, non-leap reference) bounds for the closure's first day.
    pub summer_closure_start: (u32, u32),
}

/// A plan catalogue a scenario bills from: where it is, its text (the engine is given the
/// text, as a remote engine would be) and what it says.
#[derive(Clone, Debug)]
pub struct CatalogueSpec {
    pub path: PathBuf,
    pub source: String,
    pub catalogue: crate::billing::catalogue::Catalogue,
}

/// What a shop signs from the catalogue, by ids (checked against it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanChoice {
    pub plan: String,
    pub service: Option<String>,
    pub options: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct PricingSpec {
    pub currency: Currency,
    pub chain: UnitPrice,
    pub independent: UnitPrice,
    pub per_shop: BTreeMap<u32, UnitPrice>,
    /// `pricing.catalogue`, loaded; plans need one.
    pub catalogue: Option<CatalogueSpec>,
    /// The plan every shop signs (`None`: the per-mounting prices, no catalogue plan).
    pub plan: Option<PlanChoice>,
    /// Shops whose plan, service or options differ from `plan`.
    pub per_shop_plan: BTreeMap<u32, PlanChoice>,
    pub basis: Basis,
    pub per_shop_basis: BTreeMap<u32, Basis>,
    pub close_after_days: u32,
    /// Plan contracts' term (`None`: the catalogue's default).
    pub term_months: Option<u32>,
    /// Plan shops without their own start start within the run's first `rollout_days` days.
    pub rollout_days: u32,
    /// Share of plan shops (without their own termination) that terminate early.
    pub early_termination_share: f64,
    /// Plan shops' own contract dates.
    pub per_shop_dates: BTreeMap<u32, ContractDates>,
    /// `pricing.incidents`, loaded: service incidents as input data, in file order.
    pub incidents: Vec<incidents::ShopIncident>,
}

/// A shop's own contract dates, as the scenario writes them (checked to lie within the run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContractDates {
    pub start: Option<NaiveDate>,
    pub terminated_on: Option<NaiveDate>,
}

impl Scenario {
    /// The longest audit of the run, in months from the start: `[quote]`'s and every
    /// alternative's `quote` (0: none). The truth keeps each shop's days that long, since a
    /// quote sizes machines from its busy days.
    pub fn audit_window_months(&self) -> u32 {
        std::iter::once(self.quote.as_ref())
            .chain(self.alternatives.iter().map(|a| a.quote.as_ref()))
            .flatten()
            .map(|q| q.audit_months)
            .max()
            .unwrap_or(0)
    }
}

/// A shop's segment: a chain's shop or an independent one (its demand and default price).
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

impl PricingSpec {
    pub fn basis_of(&self, shop: u32) -> Basis {
        self.per_shop_basis
            .get(&shop)
            .copied()
            .unwrap_or(self.basis)
    }

    /// The shop's price per mounting: its own, else its segment's.
    pub fn price_of(&self, shop: u32, segment: Segment) -> UnitPrice {
        self.per_shop.get(&shop).copied().unwrap_or(match segment {
            Segment::Chain => self.chain,
            Segment::Independent => self.independent,
        })
    }

    /// The catalogue plan the shop signs, if the scenario bills plans.
    pub fn plan_of(&self, shop: u32) -> Option<&PlanChoice> {
        self.per_shop_plan.get(&shop).or(self.plan.as_ref())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultSpec {
    pub duplicate_share: f64,
    /// The counters a machine reports wrap to 0 after 10^counter_digits − 1.
    pub counter_digits: u32,
    pub initial_counters: InitialCounters,
    pub board_swaps_per_machine_year: f64,
    pub lost_read_share: f64,
    pub outages: OutageSpec,
}

impl FaultSpec {
    /// 10^counter_digits: the first value a counter never shows.
    pub fn counter_modulus(&self) -> u64 {
        10u64.pow(self.counter_digits)
    }
}

/// Where a machine's counters stand on the first day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialCounters {
    /// New machines: every channel at 0.
    Zero,
    /// An installed fleet: mountings and trace-only uniform in [0, 10^digits), total their sum
    /// modulo the width.
    Random,
}

/// Connectivity outages: a Poisson process per machine, lognormal whole-day durations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutageSpec {
    pub per_machine_year: f64,
    pub median_days: f64,
    pub sigma: f64,
    pub max_days: u32,
}

#[derive(Clone, Debug)]
pub struct EngineSpec {
    pub commit_every_days: u32,
    /// Days the actors work per round of messages: a performance knob, never an output one.
    pub span_days: u32,
}

#[derive(Clone, Debug)]
pub struct OutputSpec {
    pub dir: PathBuf,
    pub html: bool,
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let bytes = std::fs::read(path)
        .map_err(|e| crate::input::file_error(path, format!("cannot read the file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| crate::input::file_error(path, format!("not UTF-8 text: {e}")))?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` names it in errors and supplies the default name.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let locator = crate::input::Locator::new(path, text);
    let raw: raw::RawScenario =
        toml::from_str(text).map_err(|e| locator.at_span(e.span(), e.message()))?;
    validate::validate(raw, path, &locator)
}
