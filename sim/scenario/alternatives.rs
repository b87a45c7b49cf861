//! `[[alternative]]`: other pricings of the same fleet. Each takes `[pricing]` and replaces the
//! billing-only keys it writes; it is then checked by the very rules `[pricing]` is, its
//! errors naming `alternative.N.<key>`. What shapes the fleet (contract dates and terms, the
//! rollout, incidents, the close schedule, the currency) stays `[pricing]`'s, so the
//! simulation is the same whichever alternative bills it. A `sweep` expands into one
//! alternative per value, ids `<id>@<value>`.

use super::bounds;
use super::error::{Locator, ScenarioError};
use super::raw::{RawAlternative, RawPricing, RawSweep};
use super::validate::Run;
use super::PricingSpec;
use crate::money::UnitPrice;
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::path::Path;

type Result<T> = std::result::Result<T, ScenarioError>;

/// A pricing billed on the run's fleet besides `[pricing]`'s (whose id is `base`).
#[derive(Clone, Debug)]
pub struct Alternative {
    pub id: String,
    pub description: String,
    pub pricing: PricingSpec,
    /// For an alternative a sweep made: what was swept, and its value here.
    pub swept: Option<Swept>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swept {
    /// The declared alternative's id (without `@value`).
    pub sweep: String,
    pub field: SweepField,
    pub value: UnitPrice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepField {
    /// The price per mounting of chains and independents alike.
    Price,
    Chain,
    Independent,
}

impl SweepField {
    pub fn name(self) -> &'static str {
        match self {
            SweepField::Price => "price",
            SweepField::Chain => "chain",
            SweepField::Independent => "independent",
        }
    }
}

/// The id `[pricing]` is reported under.
pub const BASE_ID: &str = "base";

/// Every alternative, sweeps expanded, in file order.
pub(super) fn alternatives(
    raws: &[RawAlternative],
    base_raw: &RawPricing,
    base: &PricingSpec,
    (shops, run, path): (i64, Run, &Path),
    loc: &Locator,
) -> Result<Vec<Alternative>> {
    let mut out: Vec<Alternative> = Vec::new();
    let mut ids = BTreeSet::from([BASE_ID.to_string()]);
    for (i, raw) in raws.iter().enumerate() {
        let at = format!("alternative.{i}");
        check_id(&raw.id, &at, loc)?;
        let merged = merge(raw, base_raw, &at, loc)?;
        let pricing = super::validate::pricing(&merged, &at, shops, run, path, loc)?;
        let pricing = with_fleet_terms(pricing, base);
        let expanded = match &raw.sweep {
            None => vec![Alternative {
                id: raw.id.clone(),
                description: raw.description.clone(),
                pricing,
                swept: None,
            }],
            Some(sweep) => expand(raw, sweep, &pricing, &format!("{at}.sweep"), loc)?,
        };
        for alternative in expanded {
            if !ids.insert(alternative.id.clone()) {
                return Err(loc.at_field(
                    &format!("{at}.id"),
                    format!(
                        "`{}` names another alternative (or `[pricing]`, which is `{BASE_ID}`): ids are unique",
                        alternative.id
                    ),
                ));
            }
            out.push(alternative);
        }
        let count = out.len() as i64;
        if count > bounds::ALTERNATIVES.hi {
            bounds::ALTERNATIVES.check(count, &at, loc)?;
        }
    }
    Ok(out)
}

fn check_id(id: &str, at: &str, loc: &Locator) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Ok(());
    }
    Err(loc.at_field(
        &format!("{at}.id"),
        format!("`{id}` is not an alternative id: 1 to 40 letters, digits, `-`, `_` or `.` (it names columns and files)"),
    ))
}

/// `[pricing]` with the alternative's keys written over it. `plan = ""` bills prices per
/// mounting (the service tier and options go with the plan, unless written).
fn merge(raw: &RawAlternative, base: &RawPricing, at: &str, loc: &Locator) -> Result<RawPricing> {
    let mut m = base.clone();
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            field.clone_from(v);
        }
    };
    set(&mut m.chain, &raw.chain);
    set(&mut m.independent, &raw.independent);
    set(&mut m.basis, &raw.basis);
    if raw.catalogue.is_some() {
        m.catalogue.clone_from(&raw.catalogue);
    }
    match raw.plan.as_deref() {
        Some("") => {
            m.plan = None;
            m.service = None;
            m.options = Vec::new();
        }
        Some(plan) => m.plan = Some(plan.to_string()),
        None => {}
    }
    if raw.service.is_some() {
        m.service.clone_from(&raw.service);
    }
    if let Some(options) = &raw.options {
        m.options.clone_from(options);
    }
    if let Some(entries) = &raw.shop {
        for (j, e) in entries.iter().enumerate() {
            if e.start.is_some() || e.terminated_on.is_some() {
                let key = if e.start.is_some() {
                    "start"
                } else {
                    "terminated_on"
                };
                return Err(loc.at_field(
                    &format!("{at}.shop.{j}.{key}"),
                    "contract dates shape the simulated fleet (when machines are installed and removed): set them in `[pricing]`, which every alternative shares",
                ));
            }
        }
        m.shop.clone_from(entries);
    }
    // The fleet's terms are `[pricing]`'s (copied back after validation): only the billing
    // keys are checked here.
    m.term_months = None;
    m.rollout_days = 0;
    m.early_termination_share = 0.0;
    m.incidents = None;
    for e in &mut m.shop {
        e.start = None;
        e.terminated_on = None;
    }
    m.shop.retain(|e| {
        e.price.is_some()
            || e.basis.is_some()
            || e.plan.is_some()
            || e.service.is_some()
            || e.options.is_some()
    });
    Ok(m)
}

/// The alternative's billing keys with `[pricing]`'s fleet terms.
fn with_fleet_terms(mut p: PricingSpec, base: &PricingSpec) -> PricingSpec {
    p.term_months = base.term_months;
    p.rollout_days = base.rollout_days;
    p.early_termination_share = base.early_termination_share;
    p.per_shop_dates = base.per_shop_dates.clone();
    p.incidents = base.incidents.clone();
    p.close_after_days = base.close_after_days;
    p
}

fn expand(
    raw: &RawAlternative,
    sweep: &RawSweep,
    pricing: &PricingSpec,
    at: &str,
    loc: &Locator,
) -> Result<Vec<Alternative>> {
    let field = match sweep.field.as_str() {
        "price" => SweepField::Price,
        "chain" => SweepField::Chain,
        "independent" => SweepField::Independent,
        other => {
            return Err(loc.at_field(
                &format!("{at}.field"),
                format!("`{other}` cannot be swept: `price` (chains and independents alike), `chain` or `independent`"),
            ))
        }
    };
    if pricing.plan.is_some() || !pricing.per_shop_plan.is_empty() {
        return Err(loc.at_field(
            &format!("{at}.field"),
            "a sweep sets prices per mounting, and this alternative bills catalogue plans: write `plan = \"\"` in it, or sweep another alternative",
        ));
    }
    let from = super::validate::price(&sweep.from, &format!("{at}.from"), loc)?.0;
    let to = super::validate::price(&sweep.to, &format!("{at}.to"), loc)?.0;
    let step = super::validate::price(&sweep.step, &format!("{at}.step"), loc)?.0;
    if step <= Decimal::ZERO || to < from {
        return Err(loc.at_field(
            at,
            format!("a sweep goes from `from` up to `to` by a positive `step`: {from} to {to} by {step} gives no value"),
        ));
    }
    let count = ((to - from) / step).floor() + Decimal::ONE;
    if count > Decimal::from(bounds::ALTERNATIVES.hi) {
        return Err(loc.at_field(
            &format!("{at}.step"),
            format!("{from} to {to} by {step} makes {count} alternatives; at most {} are billed: take a larger step", bounds::ALTERNATIVES.hi),
        ));
    }
    let mut out = Vec::new();
    let mut value = from;
    while value <= to {
        let mut p = pricing.clone();
        let price = UnitPrice(value.normalize());
        match field {
            SweepField::Price => (p.chain, p.independent) = (price, price),
            SweepField::Chain => p.chain = price,
            SweepField::Independent => p.independent = price,
        }
        out.push(Alternative {
            id: format!("{}@{}", raw.id, price),
            description: raw.description.clone(),
            pricing: p,
            swept: Some(Swept {
                sweep: raw.id.clone(),
                field,
                value: price,
            }),
        });
        value += step;
    }
    Ok(out)
}
