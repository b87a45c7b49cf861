//! The calculator judged out of sample in a run (`[quote]`): every shop is priced from its
//! first `audit_months` of simulated activity; that price is its contract price for the months
//! after; then the same cost model is applied to what the shop really did in those months, on
//! the machines quoted, and the quoted price is compared with that realised cost plus margin.

use super::audit::Audit;
use super::costs::CostModel;
use super::explain::{clamp_name, money, show};
use super::price::{quote, quote_on, Clamp, Quote};
use crate::calendar::Calendar;
use crate::event::ShopId;
use crate::fleet::Fleet;
use crate::scenario::QuoteSpec;
use crate::truth::{Activity, Truth};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What an audit is called in explanations: `<scenario> S000042 2024-01..2024-06`.
pub fn source(scenario: &str, shop: ShopId, calendar: &Calendar, months: u32) -> String {
    format!(
        "{scenario} shop {shop}, months {}..{}",
        calendar.period_label(0),
        calendar.period_label(months.saturating_sub(1))
    )
}

/// Prices every shop from its audit (`activities` by shop id, over months `0..audit_months`).
pub fn price_fleet(
    scenario: &str,
    activities: &[Activity],
    calendar: &Calendar,
    spec: &QuoteSpec,
    model: &CostModel,
) -> Vec<Quote> {
    activities
        .iter()
        .enumerate()
        .map(|(shop, activity)| {
            let shop = ShopId(shop as u32);
            let audit = Audit::from_activity(
                source(scenario, shop, calendar, spec.audit_months),
                calendar,
                0..spec.audit_months,
                activity,
            );
            quote(&audit, &spec.terms, model)
        })
        .collect()
}

/// One shop's quote against what it then did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub shop: ShopId,
    pub quote: Quote,
    /// Mountings of the billed months (after the audit).
    pub billed_mountings: u64,
    /// The billed months costed on the quoted machines; `None` without a mounting.
    pub realised: Option<Quote>,
}

impl Outcome {
    /// Realised cost plus margin per mounting, rounded to the cent like a quote.
    pub fn realised_price(&self) -> Option<Decimal> {
        self.realised.as_ref().and_then(|r| r.rounded)
    }

    /// Quoted price − realised cost plus margin (positive: over-priced), EUR per mounting.
    pub fn error(&self) -> Option<Decimal> {
        self.realised_price().map(|r| self.quote.price - r)
    }

    /// The price the calculator would have quoted knowing the billed months: the realised
    /// cost plus margin within the bounds.
    pub fn hindsight_price(&self) -> Option<Decimal> {
        let t = &self.quote.terms;
        self.realised_price()
            .map(|r| r.clamp(t.min_price, t.max_price))
    }

    /// Quoted price − hindsight price.
    pub fn hindsight_error(&self) -> Option<Decimal> {
        self.hindsight_price().map(|r| self.quote.price - r)
    }
}

/// Costs the months after the audit for every quoted shop.
pub fn realise(
    quotes: Vec<Quote>,
    truth: &Truth,
    calendar: &Calendar,
    spec: &QuoteSpec,
    model: &CostModel,
) -> Vec<Outcome> {
    let billed = spec.audit_months..calendar.months();
    let days = calendar.first_day_of(billed.start)..calendar.days();
    quotes
        .into_iter()
        .enumerate()
        .map(|(shop, quote)| {
            let activity = truth.activity(shop as u32, billed.clone(), days.clone());
            let audit = Audit::from_activity(
                format!("shop {} (realised)", ShopId(shop as u32)),
                calendar,
                billed.clone(),
                &activity,
            );
            let realised = (audit.mountings > 0)
                .then(|| quote_on(&audit, &spec.terms, model, quote.costing.config));
            Outcome {
                shop: ShopId(shop as u32),
                billed_mountings: audit.mountings,
                quote,
                realised,
            }
        })
        .collect()
}

/// `/quote` in summary.json. EUR amounts are decimal strings.
#[derive(Clone, Debug, Serialize)]
pub struct QuoteSummary {
    pub audit_months: u32,
    pub billed_months: u32,
    pub term_months: u32,
    pub margin: String,
    pub min_price: String,
    pub max_price: String,
    pub shops_quoted: u64,
    /// Shops with a mounting in the billed months (the others have no realised price).
    pub shops_compared: u64,
    /// quoted − realised cost plus margin, EUR per mounting, over the compared shops.
    #[serde(flatten)]
    pub errors: ErrorStats,
    /// quoted − the hindsight price (the realised cost plus margin within the bounds: what the
    /// calculator would have quoted knowing the billed months): the estimation error alone.
    pub hindsight: ErrorStats,
    pub clamped_min: u64,
    pub clamped_max: u64,
    pub mean_quoted_price: String,
    pub mean_realised_cost_plus_margin: String,
    /// Shops per machine model quoted, by model name.
    pub models: BTreeMap<String, u64>,
}

/// Errors of quoted prices against a reference price (positive: over-priced).
#[derive(Clone, Debug, Serialize)]
pub struct ErrorStats {
    /// Mean |error|, EUR per mounting (4 decimals).
    pub mean_abs_error: String,
    /// Nearest-rank quantiles of |error|, EUR per mounting.
    pub p50_abs_error: String,
    pub p90_abs_error: String,
    pub max_abs_error: String,
    /// Mean error (positive: prices too high on average).
    pub mean_error: String,
    pub under_priced: u64,
    pub over_priced: u64,
    pub exact: u64,
    pub share_under_priced: String,
    pub share_over_priced: String,
}

impl ErrorStats {
    fn of(errors: &[Decimal]) -> ErrorStats {
        let mut abs: Vec<Decimal> = errors.iter().map(|e| e.abs()).collect();
        abs.sort();
        let n = errors.len() as u64;
        let under = errors.iter().filter(|e| **e < Decimal::ZERO).count() as u64;
        let over = errors.iter().filter(|e| **e > Decimal::ZERO).count() as u64;
        let share = |k: u64| {
            if n == 0 {
                "0".to_string()
            } else {
                show(Decimal::from(k) / Decimal::from(n), 4)
            }
        };
        ErrorStats {
            mean_abs_error: money4(mean(&abs)),
            p50_abs_error: money(quantile(&abs, Decimal::new(5, 1))),
            p90_abs_error: money(quantile(&abs, Decimal::new(9, 1))),
            max_abs_error: money(abs.last().copied().unwrap_or_default()),
            mean_error: money4(mean(errors)),
            under_priced: under,
            over_priced: over,
            exact: n - under - over,
            share_under_priced: share(under),
            share_over_priced: share(over),
        }
    }
}

fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

fn mean(values: &[Decimal]) -> Decimal {
    if values.is_empty() {
        return Decimal::ZERO;
    }
    values.iter().sum::<Decimal>() / Decimal::from(values.len())
}

/// Nearest rank: the ⌈q·n⌉-th smallest (0 for no value).
fn quantile(sorted: &[Decimal], q: Decimal) -> Decimal {
    if sorted.is_empty() {
        return Decimal::ZERO;
    }
    let rank: usize = (q * Decimal::from(sorted.len()))
        .ceil()
        .try_into()
        .unwrap_or(sorted.len());
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summary(
    spec: &QuoteSpec,
    calendar: &Calendar,
    outcomes: &[Outcome],
    model: &CostModel,
) -> QuoteSummary {
    let errors: Vec<Decimal> = outcomes.iter().filter_map(Outcome::error).collect();
    let hindsight: Vec<Decimal> = outcomes
        .iter()
        .filter_map(Outcome::hindsight_error)
        .collect();
    let mut models = BTreeMap::new();
    for o in outcomes {
        let name = model.models[o.quote.costing.config.model].name.to_string();
        *models.entry(name).or_insert(0) += 1;
    }
    let quoted: Vec<Decimal> = outcomes.iter().map(|o| o.quote.price).collect();
    let realised: Vec<Decimal> = outcomes
        .iter()
        .filter_map(Outcome::realised_price)
        .collect();
    let t = &spec.terms;
    QuoteSummary {
        audit_months: spec.audit_months,
        billed_months: calendar.months() - spec.audit_months,
        term_months: t.term_months,
        margin: show(t.margin, 6),
        min_price: money(t.min_price),
        max_price: money(t.max_price),
        shops_quoted: outcomes.len() as u64,
        shops_compared: errors.len() as u64,
        errors: ErrorStats::of(&errors),
        hindsight: ErrorStats::of(&hindsight),
        clamped_min: outcomes
            .iter()
            .filter(|o| o.quote.clamp == Clamp::Min)
            .count() as u64,
        clamped_max: outcomes
            .iter()
            .filter(|o| o.quote.clamp == Clamp::Max)
            .count() as u64,
        mean_quoted_price: money4(mean(&quoted)),
        mean_realised_cost_plus_margin: money4(mean(&realised)),
        models,
    }
}

/// Four decimals, always shown (means of cent amounts).
fn money4(d: Decimal) -> String {
    let mut r = round(d, 4);
    r.rescale(4);
    r.to_string()
}

/// `quotes.csv`: one row per shop.
pub fn quotes_csv(outcomes: &[Outcome], fleet: &Fleet, model: &CostModel) -> String {
    let mut out = String::from(
        "shop,segment,model,machines,audit_mountings,audit_open_days,audit_cost_per_mounting,quoted_price,clamped,billed_mountings,realised_cost_per_mounting,realised_cost_plus_margin,error,hindsight_price,hindsight_error\n",
    );
    for o in outcomes {
        let q = &o.quote;
        let opt = |d: Option<Decimal>, f: fn(Decimal) -> String| d.map(f).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            o.shop,
            fleet.shops[o.shop.0 as usize].segment.as_str(),
            model.models[q.costing.config.model].name,
            q.costing.config.machines,
            q.audit.mountings,
            q.audit.open_days,
            opt(q.costing.cost_per_mounting, money4),
            money(q.price),
            clamp_name(q.clamp),
            o.billed_mountings,
            opt(
                o.realised
                    .as_ref()
                    .and_then(|r| r.costing.cost_per_mounting),
                money4
            ),
            opt(o.realised_price(), money),
            opt(o.error(), money),
            opt(o.hindsight_price(), money),
            opt(o.hindsight_error(), money),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Decimal> = (1..=10).map(Decimal::from).collect();
        assert_eq!(quantile(&v, Decimal::new(5, 1)), Decimal::from(5));
        assert_eq!(quantile(&v, Decimal::new(9, 1)), Decimal::from(9));
        assert_eq!(quantile(&v[..1], Decimal::new(9, 1)), Decimal::from(1));
        assert_eq!(quantile(&[], Decimal::new(9, 1)), Decimal::ZERO);
        assert_eq!(money4(Decimal::new(12345, 5)), "0.1235");
    }
}
