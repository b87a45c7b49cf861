//! The reference rater: what a plan invoice must come to, computed a second, simpler way.
//!
//! The reconciliation checks every plan invoice's cents against this module, so it shares no
//! code with what it checks: it never calls `billing::plans`, `tiers`, `split`, `terms` or
//! `service`, nor `LineKind::amount` or `Invoice::is_consistent`. It reads the catalogue as
//! plain data (plans, tiers, service tiers, options, percentages) and resolves a shop's terms
//! itself. Where `billing` is clever, it is plain:
//!
//! - **Arithmetic.** Every amount is an exact fraction of integers ([`Exact`], `i128`), rounded
//!   once to the cent, half away from zero, by its own two-line rule ([`Exact::cents`]).
//! - **Tiers** by brute force: mounting *n* (counted from 1) falls in the first tier whose
//!   `up_to` is at least *n*; graduated counts each tier's mountings one by one, volume prices
//!   all of them at the tier of the last one. Packages are counted one block at a time.
//! - **Proration** by counting the days of the month the contract covers, one by one.
//! - **Indexation** counts the anniversaries passed (the 1st of every 12th month after the
//!   first full month) and applies `base × (1 + percent/100)` that many times from the base,
//!   rounded once to 4 decimals.
//! - **Instalments** (full-service lump sum): the cents are dealt to the months in turn, like
//!   cards, so month *k* of *n* gets ⌈(total − k) / n⌉ — the first `total mod n` months one
//!   cent more, which is the largest-remainder split with ties to the earlier month.
//! - **Corrections** re-rate the earlier period from `billed` to `billed + delta` and bill the
//!   difference per charge and price, each rounded once (the invoice format's rule).
//!
//! [`rate`] gives the expected cents per line group ([`Expected`]), so a mismatch says which
//! part of an invoice differs.

use crate::billing::catalogue::{
    Catalogue, OptionItem, Plan, Pricing, ServicePricing, ServiceTier,
};
use crate::billing::service::Incident;
use crate::billing::tiers::Tier;
use crate::billing::{LineGroup, PlanTerms};
use crate::calendar::Period;
use crate::money::Cents;
use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;
use std::fmt;

/// Why the reference cannot rate an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefError {
    /// An amount does not fit in 128-bit fractions (no real invoice comes near).
    Overflow,
    /// More mountings in a month than the reference counts one by one.
    TooMany(u64),
    /// The terms name something the catalogue does not have.
    Unresolved(String),
    /// A correction for a period outside the contract or not before the invoice's period, or
    /// one that leaves a period's usage below zero.
    Correction(String),
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::Overflow => f.write_str("an amount overflows the reference's arithmetic"),
            RefError::TooMany(n) => write!(
                f,
                "{n} mountings in a month: more than the reference counts ({MAX_MOUNTINGS})"
            ),
            RefError::Unresolved(m) | RefError::Correction(m) => f.write_str(m),
        }
    }
}

type Result<T> = std::result::Result<T, RefError>;

/// An exact amount in major units: `num / den`, `den > 0`, kept reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exact {
    num: i128,
    den: i128,
}

impl Exact {
    pub const ZERO: Exact = Exact { num: 0, den: 1 };

    pub fn int(n: i128) -> Exact {
        Exact { num: n, den: 1 }
    }

    /// A decimal as the fraction it is: mantissa / 10^scale.
    pub fn of(d: Decimal) -> Exact {
        Exact::reduced(d.mantissa(), 10_i128.pow(d.scale()))
    }

    fn reduced(num: i128, den: i128) -> Exact {
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1) as i128;
        Exact {
            num: num / g,
            den: den / g,
        }
    }

    pub fn times(self, other: Exact) -> Result<Exact> {
        // Cross-reduce first so that the products stay small.
        let a = Exact::reduced(self.num, other.den);
        let b = Exact::reduced(other.num, self.den);
        let num = a.num.checked_mul(b.num).ok_or(RefError::Overflow)?;
        let den = a.den.checked_mul(b.den).ok_or(RefError::Overflow)?;
        Ok(Exact::reduced(num, den))
    }

    pub fn times_int(self, n: i128) -> Result<Exact> {
        self.times(Exact::int(n))
    }

    /// Divided by a positive integer.
    pub fn over(self, n: i128) -> Result<Exact> {
        if n <= 0 {
            return Err(RefError::Overflow);
        }
        self.times(Exact::reduced(1, n))
    }

    pub fn plus(self, other: Exact) -> Result<Exact> {
        let den = self.den.checked_mul(other.den).ok_or(RefError::Overflow)?;
        let num = self
            .num
            .checked_mul(other.den)
            .and_then(|a| {
                other
                    .num
                    .checked_mul(self.den)
                    .and_then(|b| a.checked_add(b))
            })
            .ok_or(RefError::Overflow)?;
        Ok(Exact::reduced(num, den))
    }

    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    pub fn le(self, other: Exact) -> Result<bool> {
        let a = self.num.checked_mul(other.den).ok_or(RefError::Overflow)?;
        let b = other.num.checked_mul(self.den).ok_or(RefError::Overflow)?;
        Ok(a <= b)
    }

    /// In cents, rounded once, half away from zero.
    pub fn cents(self) -> Result<Cents> {
        let n = self.num.checked_mul(100).ok_or(RefError::Overflow)?;
        let (q, r) = (n / self.den, n % self.den);
        let rounded = if r.abs() >= self.den - r.abs() {
            q + n.signum()
        } else {
            q
        };
        Cents::try_from(rounded).map_err(|_| RefError::Overflow)
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The expected cents of one invoice, per line group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Mountings charged: the period's own and the corrections of earlier periods.
    pub usage: Cents,
    pub minimum: Cents,
    /// Subscription fee, packages, tier flat fees.
    pub subscription: Cents,
    /// Maintenance fee or full-service instalment, labour, travel, parts.
    pub service: Cents,
    pub options: Cents,
    /// SLA credits (negative).
    pub credits: Cents,
    pub termination: Cents,
    pub vat: Cents,
}

impl Expected {
    pub fn net(&self) -> Cents {
        self.usage
            + self.minimum
            + self.subscription
            + self.service
            + self.options
            + self.credits
            + self.termination
    }

    pub fn total(&self) -> Cents {
        self.net() + self.vat
    }

    /// The cents of `group` (the reports' grouping; nothing is ever `Other`).
    pub fn group(&self, group: LineGroup) -> Cents {
        match group {
            LineGroup::Usage => self.usage,
            LineGroup::Minimum => self.minimum,
            LineGroup::Subscription => self.subscription,
            LineGroup::Service => self.service,
            LineGroup::Options => self.options,
            LineGroup::Credits => self.credits,
            LineGroup::Termination => self.termination,
            LineGroup::Other => 0,
            LineGroup::Vat => self.vat,
        }
    }
}

/// Signed mountings of an earlier period billed on this invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Correction {
    pub usage_period: Period,
    /// Mountings billed for that period before this invoice.
    pub billed: u64,
    pub delta: i64,
}

/// What one invoice bills: the period's own mountings, corrections, service incidents.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage<'a> {
    pub mountings: u64,
    pub corrections: &'a [Correction],
    pub incidents: &'a [Incident],
}

/// The days a contract covers, by calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dates {
    pub start: NaiveDate,
    /// The first full month: the start's own when it starts on the 1st, else the next.
    pub first_full: Period,
    pub term_months: u32,
    /// The last day of the full term.
    pub natural_end: NaiveDate,
    /// The last day covered: the term's, or the termination's when earlier.
    pub last_day: NaiveDate,
}

impl Dates {
    pub fn new(start: NaiveDate, term_months: u32, terminated_on: Option<NaiveDate>) -> Dates {
        let first_full = if start.day() == 1 {
            Period::of_date(start)
        } else {
            Period::of_date(start).next()
        };
        // The term ends the day before the 1st of the month `term_months` after the first full.
        let mut after = first_full;
        for _ in 0..term_months {
            after = after.next();
        }
        let natural_end = first_day(after).pred_opt().unwrap_or(NaiveDate::MAX);
        let last_day = terminated_on.map_or(natural_end, |t| t.min(natural_end));
        Dates {
            start,
            first_full,
            term_months,
            natural_end,
            last_day,
        }
    }

    /// The days of `period` the contract covers, counted one by one.
    pub fn days_covered(&self, period: Period) -> u32 {
        let first = first_day(period);
        (0..period.days())
            .filter_map(|d| first.checked_add_days(Days::new(u64::from(d))))
            .filter(|day| self.start <= *day && *day <= self.last_day)
            .count() as u32
    }

    /// Anniversaries passed by `period`: the 1st of the 12th, 24th, … month after the first
    /// full month, each counted when the period starts on or after it.
    pub fn index_year(&self, period: Period) -> u32 {
        let mut years = 0;
        let mut anniversary = self.first_full;
        loop {
            for _ in 0..12 {
                anniversary = anniversary.next();
            }
            if anniversary > period {
                return years;
            }
            years += 1;
        }
    }

    /// 0-based position of `period` among the contract's periods (the start's is 0).
    pub fn period_index(&self, period: Period) -> usize {
        let mut p = Period::of_date(self.start);
        let mut index = 0;
        while p < period {
            p = p.next();
            index += 1;
        }
        index
    }

    /// Months of the term that begin after the last day covered.
    pub fn months_left(&self) -> u32 {
        let mut month = self.first_full;
        let mut left = 0;
        for _ in 0..self.term_months {
            if first_day(month) > self.last_day {
                left += 1;
            }
            month = month.next();
        }
        left
    }
}

fn first_day(p: Period) -> NaiveDate {
    p.first_day().unwrap_or(NaiveDate::MAX)
}

/// A shop's plan contract as the reference reads it from the catalogue.
#[derive(Clone, Debug)]
pub struct Contract<'c> {
    pub plan: &'c Plan,
    pub service: Option<&'c ServiceTier>,
    /// Options billed monthly: each one the shop names that neither plan nor tier includes.
    pub options: Vec<&'c OptionItem>,
    /// A per-mounting plan's price for this shop: its own, its segment's, or the plan's.
    pub price_per_mounting: Option<Decimal>,
    pub dates: Dates,
    pub indexation_percent: Decimal,
    pub early_termination_percent: Decimal,
    pub vat_percent: Decimal,
}

impl<'c> Contract<'c> {
    /// Looks the terms' ids up in the catalogue; the terms not given are its defaults.
    pub fn resolve(catalogue: &'c Catalogue, terms: &PlanTerms) -> Result<Contract<'c>> {
        let missing = |what: &str, id: &str| RefError::Unresolved(format!("no {what} `{id}`"));
        let plan = catalogue
            .plans
            .iter()
            .find(|p| p.id == terms.plan)
            .ok_or_else(|| missing("plan", &terms.plan))?;
        let service = match &terms.service {
            Some(id) => Some(
                catalogue
                    .services
                    .iter()
                    .find(|s| &s.id == id)
                    .ok_or_else(|| missing("service tier", id))?,
            ),
            None => None,
        };
        let included = |id: &String| {
            plan.includes.contains(id) || service.is_some_and(|s| s.includes.contains(id))
        };
        let mut options = Vec::new();
        for id in terms.options.iter().filter(|id| !included(id)) {
            let option = catalogue.options.iter().find(|o| &o.id == id);
            options.push(option.ok_or_else(|| missing("option", id))?);
        }
        let price_per_mounting = match &plan.pricing {
            Pricing::PerMounting {
                price,
                segment_prices,
                ..
            } => {
                let segment = terms.segment.as_ref().and_then(|s| segment_prices.get(s));
                Some(
                    terms
                        .price_override
                        .or(segment.copied())
                        .unwrap_or(*price)
                        .0,
                )
            }
            _ => None,
        };
        let term_months = terms.term_months.unwrap_or(catalogue.defaults.term_months);
        Ok(Contract {
            plan,
            service,
            options,
            price_per_mounting,
            dates: Dates::new(terms.start, term_months, terms.terminated_on),
            indexation_percent: catalogue.defaults.indexation_percent,
            early_termination_percent: catalogue.defaults.early_termination_percent,
            vat_percent: catalogue.vat_percent,
        })
    }

    /// A price after the anniversaries `years`: `base × (1 + percent/100)` applied `years`
    /// times from the base, rounded once to 4 decimals (half away from zero); unchanged when
    /// nothing is indexed.
    pub fn indexed(&self, base: Decimal, years: u32) -> Result<Exact> {
        if years == 0 || self.indexation_percent.is_zero() {
            return Ok(Exact::of(base));
        }
        let factor = Decimal::ONE + self.indexation_percent / Decimal::ONE_HUNDRED;
        let mut value = base;
        for _ in 0..years {
            value = value.checked_mul(factor).ok_or(RefError::Overflow)?;
        }
        Ok(Exact::of(value.round_dp_with_strategy(
            4,
            RoundingStrategy::MidpointAwayFromZero,
        )))
    }
}

/// The most mountings of one month the reference counts one by one, so that an absurd quantity
/// on an invoice is refused rather than counted for hours: a machine edges ≈ 3,000 pairs a year
/// (calibration.md), so a million a month is thousands of machines in one shop.
pub const MAX_MOUNTINGS: u64 = 1_000_000;

/// What usage lines charge for, as the reference counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Charge {
    Mountings,
    TierFee,
    Package,
}

/// One usage charge before rounding: (what, quantity, unit price).
type UsageCharge = (Charge, i128, Exact);

/// The mountings of a month in each tier, counted one mounting at a time.
fn per_tier(tiers: &[Tier], quantity: u64) -> Vec<u64> {
    let mut counts = vec![0; tiers.len()];
    for n in 1..=quantity {
        counts[tier_of(tiers, n)] += 1;
    }
    counts
}

/// The tier mounting `n` (from 1) falls in: the first whose bound reaches it.
fn tier_of(tiers: &[Tier], n: u64) -> usize {
    tiers
        .iter()
        .position(|t| t.up_to.is_none_or(|u| n <= u))
        .unwrap_or(tiers.len() - 1)
}

/// Package blocks a month's mountings start, one block every `size` mountings.
fn blocks(quantity: u64, size: u64) -> u64 {
    let mut started = 0;
    let mut in_block = 0;
    for _ in 0..quantity {
        if in_block == 0 {
            started += 1;
        }
        in_block = (in_block + 1) % size.max(1);
    }
    started
}

/// `n × days / days in the month`, rounded down (an allowance in a partial month).
fn prorated_count(n: u64, days: u32, days_in_month: u32) -> u64 {
    (u128::from(n) * u128::from(days) / u128::from(days_in_month.max(1))) as u64
}

/// The usage charges of `quantity` mountings at the prices of index year `year`, in a month
/// covered `days` of `dim`. Charges at price zero (included mountings) are left out.
fn usage_charges(
    c: &Contract,
    quantity: u64,
    year: u32,
    days: u32,
    dim: u32,
) -> Result<Vec<UsageCharge>> {
    let ix = |p: Decimal| c.indexed(p, year);
    let q = i128::from(quantity);
    let mut out = Vec::new();
    if quantity > MAX_MOUNTINGS {
        return Err(RefError::TooMany(quantity));
    }
    if let Pricing::Graduated { tiers } | Pricing::Volume { tiers } = &c.plan.pricing {
        if tiers.is_empty() {
            return Err(RefError::Unresolved(format!(
                "plan `{}` has no tiers",
                c.plan.id
            )));
        }
    }
    match &c.plan.pricing {
        Pricing::PerMounting {
            included_mountings, ..
        } => {
            let free = quantity.min(prorated_count(*included_mountings, days, dim));
            let price = c.price_per_mounting.unwrap_or_default();
            out.push((Charge::Mountings, q - i128::from(free), ix(price)?));
        }
        Pricing::Subscription {
            included_mountings,
            overage_price,
            ..
        } => {
            let free = quantity.min(prorated_count(*included_mountings, days, dim));
            out.push((
                Charge::Mountings,
                q - i128::from(free),
                ix(overage_price.0)?,
            ));
        }
        Pricing::Graduated { tiers } => {
            for (tier, n) in tiers.iter().zip(per_tier(tiers, quantity)) {
                if n > 0 {
                    out.push((Charge::Mountings, i128::from(n), ix(tier.price.0)?));
                    out.push((Charge::TierFee, 1, ix(tier.flat_fee.0)?));
                }
            }
        }
        Pricing::Volume { tiers } if quantity > 0 => {
            let tier = &tiers[tier_of(tiers, quantity)];
            out.push((Charge::Mountings, q, ix(tier.price.0)?));
            out.push((Charge::TierFee, 1, ix(tier.flat_fee.0)?));
        }
        Pricing::Volume { .. } => {}
        Pricing::Package { size, price } => {
            let n = blocks(quantity, *size);
            out.push((Charge::Package, i128::from(n), ix(price.0)?));
        }
    }
    out.retain(|(_, n, price)| *n != 0 && !price.is_zero());
    Ok(out)
}

fn amount(quantity: i128, price: Exact) -> Result<Cents> {
    price.times_int(quantity)?.cents()
}

/// `fee × days / days in the month`, rounded once.
fn prorated(fee: Exact, days: u32, dim: u32) -> Result<Cents> {
    fee.times_int(i128::from(days))?
        .over(i128::from(dim))?
        .cents()
}

/// Share `k` of `total` cents dealt over `n` months in turn, one cent at a time from month 0:
/// month `k` receives cents `k`, `k + n`, `k + 2n`, … of them, ⌈(total − k) / n⌉ in all. A
/// credit is dealt like the charge, negated.
pub fn instalment(total: Cents, n: usize, k: usize) -> Cents {
    let (magnitude, n, k) = (
        i128::from(total.unsigned_abs()),
        n.max(1) as i128,
        k as i128,
    );
    let share = ((magnitude - k + n - 1).div_euclid(n)).max(0) as Cents;
    if total < 0 {
        -share
    } else {
        share
    }
}

/// The expected cents of `period`'s invoice; `None` when the contract does not cover it.
pub fn rate(c: &Contract, period: Period, usage: &Usage) -> Result<Option<Expected>> {
    let d = &c.dates;
    let days = d.days_covered(period);
    if days == 0 {
        return Ok(None);
    }
    let dim = period.days();
    let year = d.index_year(period);
    let ix = |p: Decimal| c.indexed(p, year);
    let mut e = Expected::default();

    // The period's own usage, then the minimum commitment on it.
    let mut usage_cents = 0;
    for (charge, n, price) in usage_charges(c, usage.mountings, year, days, dim)? {
        let cents = amount(n, price)?;
        usage_cents += cents;
        *slot(&mut e, charge) += cents;
    }
    if let Some(min) = c.plan.minimum_monthly {
        let minimum = prorated(ix(min.0)?, days, dim)?;
        e.minimum = (minimum - usage_cents).max(0);
    }
    for corr in usage.corrections {
        for (charge, cents) in correction(c, period, corr)? {
            *slot(&mut e, charge) += cents;
        }
    }

    // Monthly fees, by days covered.
    if let Pricing::Subscription { monthly_fee, .. } = &c.plan.pricing {
        e.subscription += prorated(ix(monthly_fee.0)?, days, dim)?;
    }
    for option in &c.options {
        e.options += prorated(ix(option.monthly_fee.0)?, days, dim)?;
    }
    if let Some(tier) = c.service {
        let (charges, parts) = service(c, tier, period, year, days, usage.incidents)?;
        e.service = charges + parts;
        e.credits = sla_credit(tier, charges, usage.incidents)?;
    }
    if d.last_day < d.natural_end && d.last_day < first_day(period.next()) {
        e.termination = termination(c, period, year)?;
    }
    // VAT on the net total: net (in cents) / 100 × percent / 100, rounded once.
    e.vat = Exact::int(i128::from(e.net()))
        .over(100)?
        .times(Exact::of(c.vat_percent))?
        .over(100)?
        .cents()?;
    Ok(Some(e))
}

fn slot(e: &mut Expected, charge: Charge) -> &mut Cents {
    match charge {
        Charge::Mountings => &mut e.usage,
        Charge::TierFee | Charge::Package => &mut e.subscription,
    }
}

/// A correction's cents per charge: the earlier period re-rated at its own prices from
/// `billed` to `billed + delta`, the difference netted per charge and price, each rounded once.
fn correction(c: &Contract, period: Period, corr: &Correction) -> Result<Vec<(Charge, Cents)>> {
    let p = corr.usage_period;
    let days = c.dates.days_covered(p);
    if days == 0 || p >= period {
        return Err(RefError::Correction(format!(
            "a correction for {p} on the invoice of {period}: not an earlier period of the contract"
        )));
    }
    let after = u64::try_from(i128::from(corr.billed) + i128::from(corr.delta)).map_err(|_| {
        RefError::Correction(format!(
            "a correction of {} for {p} leaves {} billed mountings below zero",
            corr.delta, corr.billed
        ))
    })?;
    let (year, dim) = (c.dates.index_year(p), p.days());
    let mut net: BTreeMap<(Charge, i128, i128), (Exact, i128)> = BTreeMap::new();
    for (sign, quantity) in [(1, after), (-1, corr.billed)] {
        for (charge, n, price) in usage_charges(c, quantity, year, days, dim)? {
            let entry = net
                .entry((charge, price.num, price.den))
                .or_insert((price, 0));
            entry.1 += sign * n;
        }
    }
    let mut out = Vec::new();
    for ((charge, ..), (price, n)) in net {
        out.push((charge, amount(n, price)?));
    }
    Ok(out)
}

/// The month's service charges (the SLA credit's base) and parts, in cents.
fn service(
    c: &Contract,
    tier: &ServiceTier,
    period: Period,
    year: u32,
    days: u32,
    incidents: &[Incident],
) -> Result<(Cents, Cents)> {
    let ix = |p: Decimal| c.indexed(p, year);
    let (charges, markup) = match &tier.pricing {
        ServicePricing::FullService { years, lump_sum } => {
            let n = *years as usize * 12;
            let k = c.dates.period_index(period);
            let total = Exact::of(lump_sum.0).cents()?;
            (if k < n { instalment(total, n, k) } else { 0 }, None)
        }
        ServicePricing::Maintenance {
            monthly_fee,
            parts_markup_percent,
        } => (
            prorated(ix(monthly_fee.0)?, days, period.days())?,
            Some(*parts_markup_percent),
        ),
        ServicePricing::TimeAndMaterials {
            hourly_rate,
            travel_per_visit,
            parts_markup_percent,
        } => {
            // Labour per started quarter hour of each incident, at a quarter of the rate.
            let quarters: i128 = incidents
                .iter()
                .map(|i| i128::from(i.labour_minutes.div_ceil(15)))
                .sum();
            let visits: i128 = incidents.iter().map(|i| i128::from(i.visits)).sum();
            let labour = amount(quarters, ix(hourly_rate.0)?.over(4)?)?;
            let travel = amount(visits, ix(travel_per_visit.0)?)?;
            (labour + travel, Some(*parts_markup_percent))
        }
    };
    let parts = match markup {
        Some(markup) => {
            let mut cost = Exact::ZERO;
            for i in incidents {
                cost = cost.plus(Exact::of(i.parts_cost))?;
            }
            let factor = Exact::int(100).plus(Exact::of(markup))?.over(100)?;
            cost.times(factor)?.cents()?
        }
        None => 0,
    };
    Ok((charges, parts))
}

/// The SLA credit (negative): the credit percentage of the service charges per incident that
/// missed a promise, at most the cap percentage.
fn sla_credit(tier: &ServiceTier, charges: Cents, incidents: &[Incident]) -> Result<Cents> {
    let missed = incidents
        .iter()
        .filter(|i| {
            i.response_hours > Decimal::from(tier.response_hours)
                || i.repair_hours > Decimal::from(tier.repair_hours)
        })
        .count() as i128;
    if missed == 0 || charges <= 0 {
        return Ok(0);
    }
    let percent_of_charges = |pct: Decimal| {
        Exact::int(i128::from(charges))
            .over(100)?
            .times(Exact::of(pct))?
            .over(100)
    };
    let per_incident = percent_of_charges(tier.sla.credit_percent)?.times_int(missed)?;
    let cap = percent_of_charges(tier.sla.cap_percent)?;
    let credit = if per_incident.le(cap)? {
        per_incident
    } else {
        cap
    };
    Ok(-credit.cents()?)
}

/// The early termination fee, in the month of the last day covered: the percentage of the
/// fixed monthly charges for each month left, and of the instalments not billed yet.
fn termination(c: &Contract, period: Period, year: u32) -> Result<Cents> {
    let left = c.dates.months_left();
    if left == 0 {
        return Ok(0);
    }
    let ix = |p: Decimal| c.indexed(p, year);
    let share = Exact::of(c.early_termination_percent).over(100)?;
    let mut fixed = Exact::ZERO;
    if let Pricing::Subscription { monthly_fee, .. } = &c.plan.pricing {
        fixed = fixed.plus(ix(monthly_fee.0)?)?;
    }
    if let Some(min) = c.plan.minimum_monthly {
        fixed = fixed.plus(ix(min.0)?)?;
    }
    let service = c.service.map(|s| &s.pricing);
    if let Some(ServicePricing::Maintenance { monthly_fee, .. }) = service {
        fixed = fixed.plus(ix(monthly_fee.0)?)?;
    }
    let mut cents = fixed.times(share)?.times_int(i128::from(left))?.cents()?;
    if let Some(ServicePricing::FullService { years, lump_sum }) = service {
        let n = *years as usize * 12;
        let total = Exact::of(lump_sum.0).cents()?;
        let unbilled: Cents = (c.dates.period_index(period) + 1..n)
            .map(|k| instalment(total, n, k))
            .sum();
        cents += Exact::int(i128::from(unbilled))
            .over(100)?
            .times(share)?
            .cents()?;
    }
    Ok(cents)
}

/// A price-per-mounting invoice's total: each mountings line's quantity × the contract's price,
/// rounded once; every other line is free.
pub fn per_mounting_total(
    mountings_lines: impl IntoIterator<Item = i64>,
    price: Decimal,
) -> Result<Cents> {
    let price = Exact::of(price);
    mountings_lines
        .into_iter()
        .try_fold(0, |sum: Cents, q| Ok(sum + amount(i128::from(q), price)?))
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
