//! The plan catalogue: plans, service tiers, options and contract defaults that several
//! scenarios share, and the contracts built from it. Types only; `catalogue_file` reads the
//! TOML, `plans` rates a contract, `consistency` checks a catalogue.

use super::tiers::Tier;
use crate::event::ShopId;
use crate::money::{Currency, UnitPrice};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Catalogue {
    pub currency: Currency,
    /// VAT rate in percent (e.g. 20), applied to each invoice's net total.
    pub vat_percent: Decimal,
    pub defaults: ContractDefaults,
    pub plans: Vec<Plan>,
    pub services: Vec<ServiceTier>,
    pub options: Vec<OptionItem>,
    pub ladders: Vec<Ladder>,
    pub consistency: ConsistencySettings,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContractDefaults {
    pub term_months: u32,
    /// Percent per year, compounding on each anniversary.
    pub indexation_percent: Decimal,
    /// Percent of the fixed monthly charges still due for each contract month left.
    pub early_termination_percent: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub id: String,
    pub pricing: Pricing,
    /// Monthly minimum commitment on the usage charges (prorated in partial months); the
    /// shortfall is billed as a true-up line.
    pub minimum_monthly: Option<UnitPrice>,
    /// Option ids the plan includes.
    pub includes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pricing {
    PerMounting {
        price: UnitPrice,
        /// Price by segment (e.g. `chain`, `independent`), overriding `price`.
        segment_prices: BTreeMap<String, UnitPrice>,
        /// Mountings per month not charged (prorated in partial months, rounded down).
        included_mountings: u64,
    },
    Subscription {
        monthly_fee: UnitPrice,
        included_mountings: u64,
        overage_price: UnitPrice,
    },
    Graduated {
        tiers: Vec<Tier>,
    },
    Volume {
        tiers: Vec<Tier>,
    },
    Package {
        size: u64,
        price: UnitPrice,
    },
}

impl Pricing {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Pricing::PerMounting { .. } => "per_mounting",
            Pricing::Subscription { .. } => "subscription",
            Pricing::Graduated { .. } => "graduated",
            Pricing::Volume { .. } => "volume",
            Pricing::Package { .. } => "package",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceTier {
    pub id: String,
    /// Higher = more service; tiers are compared by level in the consistency check.
    pub level: u32,
    pub pricing: ServicePricing,
    /// Promised response time (hours from the call to a technician on it).
    pub response_hours: u32,
    /// Promised repair time (hours from the call to the machine working again).
    pub repair_hours: u32,
    /// Option ids the tier includes.
    pub includes: Vec<String>,
    pub sla: SlaRule,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ServicePricing {
    /// Everything (labour, travel, parts) for a lump sum over `years`, billed monthly.
    FullService { years: u32, lump_sum: UnitPrice },
    /// Labour and travel for a monthly fee; parts at cost plus markup.
    Maintenance {
        monthly_fee: UnitPrice,
        parts_markup_percent: Decimal,
    },
    /// Everything charged as used.
    TimeAndMaterials {
        hourly_rate: UnitPrice,
        travel_per_visit: UnitPrice,
        parts_markup_percent: Decimal,
    },
}

impl ServicePricing {
    pub fn kind_name(&self) -> &'static str {
        match self {
            ServicePricing::FullService { .. } => "full_service",
            ServicePricing::Maintenance { .. } => "maintenance",
            ServicePricing::TimeAndMaterials { .. } => "time_and_materials",
        }
    }
}

/// Service-level credit: `credit_percent` of the month's service charges per incident whose
/// measured response or repair time exceeds the promise, at most `cap_percent` per month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlaRule {
    pub credit_percent: Decimal,
    pub cap_percent: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OptionItem {
    pub id: String,
    /// Short name shown on invoices ("remote support").
    pub name: String,
    pub monthly_fee: UnitPrice,
}

/// Plans a shop moves through as its monthly volume grows: `steps` in increasing `from`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    pub id: String,
    /// (plan id, first monthly quantity the plan is for).
    pub steps: Vec<(String, u64)>,
}

/// What the consistency check assumes where a price depends on usage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConsistencySettings {
    /// Monthly quantities checked: 0 ..= this (and at least twice every tier bound).
    pub max_mountings: u64,
    /// Service tiers are compared at this many incidents per year (time and materials is
    /// costed at it; calibration.md: ≈ 1.5 incidents/yr at 3,000 pairs/yr).
    pub incidents_per_year: Decimal,
    /// Labour per incident for that costing.
    pub labour_minutes_per_incident: u32,
    /// Site visits per incident for that costing (calibration.md: 60 % on site).
    pub visits_per_incident: Decimal,
}

impl Catalogue {
    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&ServiceTier> {
        self.services.iter().find(|s| s.id == id)
    }

    pub fn option(&self, id: &str) -> Option<&OptionItem> {
        self.options.iter().find(|o| o.id == id)
    }

    /// Builds a shop's contract from the catalogue; the terms not given are the defaults.
    pub fn contract(&self, spec: &ContractSpec) -> Result<PlanContract, String> {
        let plan = self
            .plan(&spec.plan)
            .ok_or_else(|| format!("no plan `{}` in the catalogue", spec.plan))?
            .clone();
        let service = match &spec.service {
            None => None,
            Some(id) => Some(
                self.service(id)
                    .ok_or_else(|| format!("no service tier `{id}` in the catalogue"))?
                    .clone(),
            ),
        };
        let included: Vec<&str> = plan
            .includes
            .iter()
            .chain(service.iter().flat_map(|s| s.includes.iter()))
            .map(String::as_str)
            .collect();
        let mut bought = Vec::new();
        for id in &spec.options {
            let o = self
                .option(id)
                .ok_or_else(|| format!("no option `{id}` in the catalogue"))?;
            if !included.contains(&id.as_str()) {
                bought.push(o.clone());
            }
        }
        let name_of = |id: &str| self.option(id).map_or(id.to_string(), |o| o.name.clone());
        let mut included_names: Vec<String> = Vec::new();
        for id in &included {
            let n = name_of(id);
            if !included_names.contains(&n) {
                included_names.push(n);
            }
        }
        let not_included = self
            .options
            .iter()
            .filter(|o| !included.contains(&o.id.as_str()) && !bought.iter().any(|b| b.id == o.id))
            .map(|o| o.name.clone())
            .collect();
        if let Some(seg) = &spec.segment {
            if let Pricing::PerMounting { segment_prices, .. } = &plan.pricing {
                if !segment_prices.contains_key(seg) {
                    return Err(format!(
                        "plan `{}` has no price for segment `{seg}` (it has: {})",
                        plan.id,
                        segment_prices
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        if spec.price_override.is_some() && !matches!(plan.pricing, Pricing::PerMounting { .. }) {
            return Err(format!(
                "a price per mounting is set for plan `{}`, a {} plan: only per_mounting plans take one",
                plan.id,
                plan.pricing.kind_name()
            ));
        }
        if let Some(end) = spec.terminated_on.filter(|&end| end < spec.start) {
            return Err(format!(
                "the contract is terminated on {end}, before it starts on {}",
                spec.start
            ));
        }
        let term_months = spec.term_months.unwrap_or(self.defaults.term_months);
        if term_months == 0 {
            return Err("a contract term is at least 1 month".to_string());
        }
        if let Some(ServicePricing::FullService { years, .. }) =
            service.as_ref().map(|s| &s.pricing)
        {
            if years * 12 > term_months {
                return Err(format!(
                    "a {years}-year full-service tier does not fit a {term_months}-month term"
                ));
            }
        }
        Ok(PlanContract {
            shop: spec.shop,
            currency: self.currency.clone(),
            plan,
            segment: spec.segment.clone(),
            price_override: spec.price_override,
            service,
            options: bought,
            included: included_names,
            not_included,
            start: spec.start,
            term_months,
            terminated_on: spec.terminated_on,
            indexation_percent: self.defaults.indexation_percent,
            early_termination_percent: self.defaults.early_termination_percent,
            vat_percent: self.vat_percent,
        })
    }
}

/// What a shop signed, by catalogue ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractSpec {
    pub shop: ShopId,
    pub plan: String,
    pub segment: Option<String>,
    /// Per-shop price per mounting set after an audit (per-mounting plans only).
    pub price_override: Option<UnitPrice>,
    pub service: Option<String>,
    /// Options bought; those the plan or service already include are not billed twice.
    pub options: Vec<String>,
    pub start: NaiveDate,
    pub term_months: Option<u32>,
    pub terminated_on: Option<NaiveDate>,
}

impl ContractSpec {
    pub fn new(shop: ShopId, plan: &str, start: NaiveDate) -> ContractSpec {
        ContractSpec {
            shop,
            plan: plan.to_string(),
            segment: None,
            price_override: None,
            service: None,
            options: Vec::new(),
            start,
            term_months: None,
            terminated_on: None,
        }
    }
}

/// A shop's contract, resolved from the catalogue: everything `plans::rate` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanContract {
    pub shop: ShopId,
    pub currency: Currency,
    pub plan: Plan,
    pub segment: Option<String>,
    pub price_override: Option<UnitPrice>,
    pub service: Option<ServiceTier>,
    /// Options bought separately (billed monthly).
    pub options: Vec<OptionItem>,
    /// Names of the options the plan or service includes (shown on each invoice).
    pub included: Vec<String>,
    /// Names of the catalogue's options neither included nor bought.
    pub not_included: Vec<String>,
    pub start: NaiveDate,
    pub term_months: u32,
    pub terminated_on: Option<NaiveDate>,
    pub indexation_percent: Decimal,
    pub early_termination_percent: Decimal,
    pub vat_percent: Decimal,
}

impl PlanContract {
    pub fn term(&self) -> super::terms::Term {
        super::terms::Term {
            start: self.start,
            months: self.term_months,
            terminated_on: self.terminated_on,
        }
    }
}
