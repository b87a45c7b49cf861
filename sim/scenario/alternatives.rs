//! `[[alternative]]`: other pricings of the same fleet. Each takes `[pricing]` and replaces the
//! billing-only keys it writes; it is then checked by the very rules `[pricing]` is, its
//! errors naming `alternative.N.<key>`. What shapes the fleet (contract dates and terms, the
//! rollout, incidents, the close schedule, the currency) stays `[pricing]`'s, so the
//! simulation is the same whichever alternative bills it. An alternative may carry `quote`
//! (the calculator's settings, as `[quote]`): it is then billed at its own prices over the
//! audit months and at each shop's quoted price after. A `sweep` expands into one
//! alternative per value, ids `<id>@<value>`: of a price, of the quote's margin, or of the
//! included mountings of the alternative's plan (each value with its own copy of the
//! catalogue, checked for consistency).

use super::bounds;
use super::raw::{RawAlternative, RawPricing, RawSweep};
use super::validate::Run;
use super::{CatalogueSpec, PricingSpec, QuoteSpec};
use crate::billing::catalogue::Pricing;
use crate::input::{Locator, ScenarioError};
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
    /// `quote = { … }`: after its audit months every shop is billed at the calculator's
    /// price (prices per mounting only: never with catalogue plans).
    pub quote: Option<QuoteSpec>,
    /// For an alternative a sweep made: what was swept, and its value here.
    pub swept: Option<Swept>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swept {
    /// The declared alternative's id (without `@value`).
    pub sweep: String,
    pub field: SweepField,
    /// In the field's unit (`SweepField::unit`): EUR per mounting, a margin (0.15 = 15 %) or
    /// a count of mountings.
    pub value: Decimal,
}

impl Swept {
    /// The value as ids, tables and summary.json write it (`SweepField::format`).
    pub fn label(&self) -> String {
        self.field.format(self.value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepField {
    /// The price per mounting of chains and independents alike.
    Price,
    Chain,
    Independent,
    /// The alternative's `quote.margin`.
    Margin,
    /// The included mountings of the alternative's plan.
    Included,
}

impl SweepField {
    pub fn name(self) -> &'static str {
        match self {
            SweepField::Price => "price",
            SweepField::Chain => "chain",
            SweepField::Independent => "independent",
            SweepField::Margin => "margin",
            SweepField::Included => "included",
        }
    }

    /// What a value counts, for tables and chart axes.
    pub fn unit(self) -> &'static str {
        match self {
            SweepField::Price | SweepField::Chain | SweepField::Independent => "EUR per mounting",
            SweepField::Margin => "margin",
            SweepField::Included => "mountings included",
        }
    }

    /// The value as written in ids and tables: prices and margins with at least two
    /// decimals (`3.00`, `0.15`, as `UnitPrice` shows prices), mountings as a whole number.
    pub fn format(self, value: Decimal) -> String {
        match self {
            SweepField::Included => value.normalize().to_string(),
            _ => UnitPrice(value).to_string(),
        }
    }

    /// A mounting count takes whole steps; prices and margins decimals.
    pub fn is_count(self) -> bool {
        self == SweepField::Included
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
        let declared = Alternative {
            id: raw.id.clone(),
            description: raw.description.clone(),
            quote: quote(raw, &pricing, run.months, &at, loc)?,
            pricing,
            swept: None,
        };
        let expanded = match &raw.sweep {
            None => vec![declared],
            Some(sweep) => expand(&declared, sweep, &format!("{at}.sweep"), loc)?,
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

/// The alternative's `quote`, checked as `[quote]` is; with catalogue plans it is refused,
/// as `[quote]` is (a quote sets every shop's price per mounting, replacing its plan).
fn quote(
    raw: &RawAlternative,
    pricing: &PricingSpec,
    months: u32,
    at: &str,
    loc: &Locator,
) -> Result<Option<QuoteSpec>> {
    let Some(q) = &raw.quote else {
        return Ok(None);
    };
    let at = format!("{at}.quote");
    if pricing.plan.is_some() || !pricing.per_shop_plan.is_empty() {
        return Err(loc.at_field(
            &at,
            "a quote prices every shop per mounting after its audit: it cannot be combined with catalogue plans (write `plan = \"\"` in the alternative, and no shop `plan`)",
        ));
    }
    super::validate::quote(q, months, &at, loc).map(Some)
}

fn expand(
    declared: &Alternative,
    sweep: &RawSweep,
    at: &str,
    loc: &Locator,
) -> Result<Vec<Alternative>> {
    let field = sweep_field(&sweep.field, &format!("{at}.field"), loc)?;
    applies(field, declared, &format!("{at}.field"), loc)?;
    let values = values(field, sweep, at, loc)?;
    values
        .into_iter()
        .map(|value| {
            let swept = Swept {
                sweep: declared.id.clone(),
                field,
                value,
            };
            let mut a = declared.clone();
            a.id = format!("{}@{}", declared.id, swept.label());
            set(&mut a, field, value, at, loc)?;
            a.swept = Some(swept);
            Ok(a)
        })
        .collect()
}

fn sweep_field(name: &str, at: &str, loc: &Locator) -> Result<SweepField> {
    Ok(match name {
        "price" => SweepField::Price,
        "chain" => SweepField::Chain,
        "independent" => SweepField::Independent,
        "margin" => SweepField::Margin,
        "included" => SweepField::Included,
        other => {
            return Err(loc.at_field(
                at,
                format!("`{other}` cannot be swept: `price` (chains and independents alike), `chain`, `independent`, `margin` (of the alternative's `quote`) or `included` (the included mountings of its plan)"),
            ))
        }
    })
}

/// What the swept field needs of the alternative: prices per mounting for a price, a
/// `quote` for a margin, a plan with included mountings for `included`.
fn applies(field: SweepField, a: &Alternative, at: &str, loc: &Locator) -> Result<()> {
    let plans = a.pricing.plan.is_some() || !a.pricing.per_shop_plan.is_empty();
    let refusal = match field {
        SweepField::Price | SweepField::Chain | SweepField::Independent if plans => {
            "a sweep sets prices per mounting, and this alternative bills catalogue plans: write `plan = \"\"` in it, or sweep another alternative".to_string()
        }
        SweepField::Price | SweepField::Chain | SweepField::Independent if a.quote.is_some() => {
            "this alternative's `quote` sets every price after the audit: sweep its `margin`, or sweep the prices of an alternative without `quote`".to_string()
        }
        SweepField::Margin if a.quote.is_none() => {
            "a sweep of `margin` sets the calculator's margin: give the alternative `quote = { … }` (its keys as `[quote]`'s)".to_string()
        }
        SweepField::Included => match swept_plan(a) {
            Ok(_) => return Ok(()),
            Err(why) => why,
        },
        _ => return Ok(()),
    };
    Err(loc.at_field(at, refusal))
}

/// The plan whose included mountings an `included` sweep sets: the alternative's `plan`,
/// a per-mounting or subscription plan of its catalogue.
fn swept_plan(a: &Alternative) -> std::result::Result<&str, String> {
    let (Some(choice), Some(catalogue)) = (&a.pricing.plan, &a.pricing.catalogue) else {
        return Err("a sweep of `included` sets the included mountings of the alternative's plan: give it `plan = \"<id>\"` (a subscription or per-mounting plan of its catalogue)".into());
    };
    match catalogue.catalogue.plan(&choice.plan).map(|p| &p.pricing) {
        Some(Pricing::Subscription { .. } | Pricing::PerMounting { .. }) => Ok(&choice.plan),
        Some(other) => Err(format!(
            "plan `{}` is a {} plan, which has no included mountings: sweep a subscription or per-mounting plan",
            choice.plan,
            other.kind_name()
        )),
        None => Err(format!("plan `{}` is not in the catalogue", choice.plan)),
    }
}

/// `from`, `from + step`, … up to `to`, each checked as the field's values are.
fn values(field: SweepField, sweep: &RawSweep, at: &str, loc: &Locator) -> Result<Vec<Decimal>> {
    let value = |text: &str, key: &str| -> Result<Decimal> {
        let at = format!("{at}.{key}");
        match field {
            SweepField::Price | SweepField::Chain | SweepField::Independent => {
                Ok(super::validate::price(text, &at, loc)?.0)
            }
            SweepField::Margin => super::validate::rate(text, &at, loc),
            SweepField::Included => mountings(text, &at, loc),
        }
    };
    let from = value(&sweep.from, "from")?;
    let to = value(&sweep.to, "to")?;
    let step = value(&sweep.step, "step")?;
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
    let mut v = from;
    while v <= to {
        out.push(v.normalize());
        v += step;
    }
    Ok(out)
}

/// A count of mountings, as a catalogue's `included_mountings` is: a whole number from 0 to
/// 1,000,000, written quoted like the other sweep values.
fn mountings(text: &str, at: &str, loc: &Locator) -> Result<Decimal> {
    match text.trim().parse::<u64>() {
        Ok(n) if n <= 1_000_000 => Ok(Decimal::from(n)),
        _ => Err(loc.at_field(
            at,
            format!("`{text}` is not a count of mountings: a whole number from 0 to 1000000, quoted (e.g. \"100\")"),
        )),
    }
}

/// The swept value written into the alternative.
fn set(
    a: &mut Alternative,
    field: SweepField,
    value: Decimal,
    at: &str,
    loc: &Locator,
) -> Result<()> {
    let price = UnitPrice(value);
    let p = &mut a.pricing;
    match field {
        SweepField::Price => (p.chain, p.independent) = (price, price),
        SweepField::Chain => p.chain = price,
        SweepField::Independent => p.independent = price,
        SweepField::Margin => {
            if let Some(q) = &mut a.quote {
                q.terms.margin = value;
            }
        }
        SweepField::Included => {
            let plan = swept_plan(a)
                .map_err(|why| loc.at_field(at, why))?
                .to_string();
            let catalogue = a.pricing.catalogue.as_mut().expect("swept_plan found one");
            *catalogue = with_included(catalogue, &plan, value, at, loc)?;
        }
    }
    Ok(())
}

/// A copy of the catalogue with `plan`'s included mountings set to `value`, refused if it
/// adds a finding to the consistency check of the catalogue as written (a sweep may not
/// make buying more cost less). `source` stays the file's text: the engine is never given a
/// sweep's copy, which only `billing::close::rate_close` reads.
fn with_included(
    spec: &CatalogueSpec,
    plan: &str,
    value: Decimal,
    at: &str,
    loc: &Locator,
) -> Result<CatalogueSpec> {
    let n = u64::try_from(value).expect("a checked count of mountings");
    let mut copy = spec.clone();
    for p in copy.catalogue.plans.iter_mut().filter(|p| p.id == plan) {
        match &mut p.pricing {
            Pricing::Subscription {
                included_mountings, ..
            }
            | Pricing::PerMounting {
                included_mountings, ..
            } => *included_mountings = n,
            _ => {}
        }
    }
    let before = crate::billing::consistency::check(&spec.catalogue);
    let after = crate::billing::consistency::check(&copy.catalogue);
    if let Some(new) = after.iter().find(|f| !before.contains(f)) {
        return Err(loc.at_field(
            at,
            format!(
                "with {n} mountings included in plan `{plan}` the alternative's catalogue is inconsistent ({}: {}): sweep a range that keeps it consistent (`fleetsim catalogue check` shows the rules)",
                new.rule,
                new.message
            ),
        ));
    }
    Ok(copy)
}
