//! Rating a plan contract: one invoice per contract per billing period, pure and deterministic.
//!
//! [`rate`] takes a [`PlanContract`] (built from the catalogue), a [`Period`] and the period's
//! [`PeriodUsage`] (mountings, trace-only cycles, signed corrections, service incidents) and
//! returns a [`PlanInvoice`]: the stored [`Invoice`] (lines with a [`LineKind`]) plus notes for
//! the reader (what is included and what is not, proration, indexation, SLA breaches, VAT).
//!
//! # Rules
//!
//! - **Rounding.** Every line's amount is computed exactly in decimal and rounded **once**, half
//!   away from zero, to cents (`money`). Daily kinds (subscription, maintenance fee, options)
//!   round `price × days covered / days in the month` directly. The net total is the sum of the
//!   rounded net lines; VAT is one more line; the total is the sum of all lines, so lines always
//!   add up (`Invoice::is_consistent`, asserted in debug builds).
//! - **VAT** is computed on the net total, once per invoice (`vat`).
//! - **Proration.** Terms are calendar-aligned (`terms`): a start after the 1st makes a stub
//!   month, then `term_months` full months, so only the stub (and a month cut by early
//!   termination) is partial. There, monthly fees are prorated by days; the minimum commitment is
//!   prorated (rounded once to cents, then the shortfall taken) and included mountings too
//!   (rounded down). Tier bounds and package sizes are not prorated. Full-service instalments are
//!   never prorated: instalment *k* is billed in the contract's *k*-th period (the stub counts).
//! - **Indexation** (`terms`): unit prices, tier prices and fees, subscription and option fees,
//!   minimum commitments, maintenance fees, hourly and travel rates rise by the contract's
//!   percentage on each anniversary, compounding from the base price and rounded to 4 decimals.
//!   Not indexed: the full-service lump sum (a fixed price for its term), parts (at cost) and
//!   percentages.
//! - **Split.** The full-service lump sum is split over its `years × 12` instalments by the
//!   largest-remainder method (`split`), so the instalments add up to the lump sum exactly.
//! - **Trace-only cycles** are shown with their quantity at zero, never billed.
//! - **Corrections** (late or estimated usage found after a period was invoiced) are signed
//!   mountings for an earlier period: that period's usage is re-rated at its own prices (its
//!   index year, its proration) from `billed` to `billed + delta`, and the difference is billed
//!   line by line (same price → one line of the net quantity). A correction never reopens the
//!   earlier period's minimum true-up: that was settled when the period closed.
//! - **Minimum commitment.** When the period's own usage charges (usage, overage, packages,
//!   tier fees) are below the prorated minimum, the shortfall is one true-up line.
//! - **Early termination.** In the period of the last day covered, `early_termination_percent`
//!   of the fixed monthly charges (subscription fee, minimum commitment, maintenance fee, at the
//!   prices in force) is due for each contract month left, plus the same percentage of the
//!   full-service instalments not yet billed.
//! - **SLA credits**: see `service`.

use super::catalogue::{PlanContract, Pricing, ServicePricing};
use super::service::{self, Incident};
use super::split::{even_share, split_evenly};
use super::terms::{index_price, Term};
use super::tiers;
use super::vat::exact_vat;
use super::{Basis, BillingError, Invoice, InvoiceLine, LineKind};
use crate::calendar::Period;
use crate::money::{format_cents, Cents, MoneyError, UnitPrice};
use rust_decimal::Decimal;

/// What happened in one billing period for one contract.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodUsage {
    /// Billable mountings (pairs edged in store) of the period.
    pub mountings: u64,
    /// Trace-only cycles (frames traced for remote-edged orders): shown, never billed.
    pub trace_only: u64,
    pub corrections: Vec<Correction>,
    pub incidents: Vec<Incident>,
}

/// Signed mountings of an earlier period, found after it was invoiced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Correction {
    pub usage_period: Period,
    /// Mountings the earlier period's invoice billed (the base the correction re-rates from).
    pub billed: u64,
    /// Mountings to add (late usage, an estimate too low) or remove (an estimate too high).
    pub delta: i64,
    pub cause: CorrectionCause,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrectionCause {
    /// Usage metered after its period was invoiced (line kind `late_usage`).
    Late,
    /// An estimate replaced by actual readings (line kind `estimate_correction`).
    Estimate,
}

/// An invoice with what a reader needs beside the stored lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanInvoice {
    pub invoice: Invoice,
    /// Human-readable notes, e.g. `included: consumables, loaner`.
    pub notes: Vec<String>,
    /// Sum of the lines before VAT.
    pub net_cents: Cents,
    pub vat_cents: Cents,
}

impl PlanInvoice {
    /// Lines add up, each is rounded once, net + VAT = total.
    pub fn is_consistent(&self) -> bool {
        let vat: Cents = self
            .invoice
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Vat)
            .map(|l| l.amount_cents)
            .sum();
        self.invoice.is_consistent()
            && vat == self.vat_cents
            && self.net_cents + self.vat_cents == self.invoice.total_cents
    }

    /// Sum of the lines of one kind.
    pub fn amount_of(&self, kind: LineKind) -> Cents {
        self.invoice
            .lines
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| l.amount_cents)
            .sum()
    }
}

/// A line before its amount: (kind, quantity, unit price).
type Draft = (LineKind, i64, UnitPrice);

struct Builder<'c> {
    contract: &'c PlanContract,
    period: Period,
    lines: Vec<InvoiceLine>,
}

impl Builder<'_> {
    fn push(
        &mut self,
        kind: LineKind,
        usage_period: Period,
        quantity: i64,
        unit_price: UnitPrice,
    ) -> Result<Cents, BillingError> {
        let amount_cents = kind
            .amount(quantity, unit_price, usage_period, &self.contract.currency)
            .map_err(|e| money(self.contract, self.period, e))?;
        self.lines.push(InvoiceLine {
            kind,
            usage_period,
            quantity,
            unit_price,
            amount_cents,
        });
        Ok(amount_cents)
    }
}

fn money(c: &PlanContract, period: Period, source: MoneyError) -> BillingError {
    BillingError::Money {
        shop: c.shop,
        period,
        source,
    }
}

fn plan_error(c: &PlanContract, message: String) -> BillingError {
    BillingError::Plan {
        shop: c.shop,
        message,
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn zero() -> UnitPrice {
    UnitPrice(Decimal::ZERO)
}

/// `n × days / days_in_month`, rounded down.
fn prorate_count(n: u64, days: u32, days_in_month: u32) -> u64 {
    if days >= days_in_month {
        n
    } else {
        (u128::from(n) * u128::from(days) / u128::from(days_in_month.max(1))) as u64
    }
}

/// The usage lines of `quantity` mountings under the contract's plan, at the prices of index
/// year `year`, in a period covered `days` out of `days_in_month`.
pub fn usage_lines(
    c: &PlanContract,
    quantity: u64,
    year: u32,
    days: u32,
    days_in_month: u32,
) -> Vec<Draft> {
    let ix = |p: UnitPrice| index_price(p, c.indexation_percent, year);
    let q = count(quantity);
    match &c.plan.pricing {
        Pricing::PerMounting {
            price,
            segment_prices,
            included_mountings,
        } => {
            let base = c
                .price_override
                .or_else(|| {
                    c.segment
                        .as_ref()
                        .and_then(|s| segment_prices.get(s).copied())
                })
                .unwrap_or(*price);
            let included = prorate_count(*included_mountings, days, days_in_month);
            let free = quantity.min(included);
            let mut out = Vec::with_capacity(2);
            if included > 0 {
                out.push((LineKind::Included, count(free), zero()));
            }
            out.push((LineKind::Usage, count(quantity - free), ix(base)));
            out
        }
        Pricing::Subscription {
            included_mountings,
            overage_price,
            ..
        } => {
            let included = prorate_count(*included_mountings, days, days_in_month);
            let free = quantity.min(included);
            vec![
                (LineKind::Included, count(free), zero()),
                (
                    LineKind::Overage,
                    count(quantity - free),
                    ix(*overage_price),
                ),
            ]
        }
        Pricing::Graduated { tiers: t } => {
            let mut out = Vec::with_capacity(2 * t.len());
            for (i, n) in tiers::graduated(t, quantity) {
                out.push((LineKind::Usage, count(n), ix(t[i].price)));
                if n > 0 && !t[i].flat_fee.0.is_zero() {
                    out.push((LineKind::TierFee, 1, ix(t[i].flat_fee)));
                }
            }
            out
        }
        Pricing::Volume { tiers: t } => {
            let i = tiers::volume(t, quantity);
            let mut out = vec![(LineKind::Usage, q, ix(t[i].price))];
            if quantity > 0 && !t[i].flat_fee.0.is_zero() {
                out.push((LineKind::TierFee, 1, ix(t[i].flat_fee)));
            }
            out
        }
        Pricing::Package { size, price } => vec![
            (LineKind::Included, q, zero()),
            (
                LineKind::Package,
                count(quantity.div_ceil((*size).max(1))),
                ix(*price),
            ),
        ],
    }
}

/// The usage charge of `quantity` mountings in a full month at base prices, in cents, plus the
/// fixed monthly fee and the minimum true-up: what the consistency check compares.
pub fn monthly_cost(c: &PlanContract, quantity: u64) -> Result<Cents, MoneyError> {
    let mut usage: Cents = 0;
    for (kind, q, price) in usage_lines(c, quantity, 0, 30, 30) {
        usage += kind.amount(
            q,
            price,
            Period {
                year: 2001,
                month: 4,
            },
            &c.currency,
        )?;
    }
    let mut total = usage;
    if let Some(min) = c.plan.minimum_monthly {
        total = total.max(min.line_amount(1, &c.currency)?);
    }
    if let Pricing::Subscription { monthly_fee, .. } = &c.plan.pricing {
        total += monthly_fee.line_amount(1, &c.currency)?;
    }
    Ok(total)
}

/// The invoice of `period` for the contract. Errors: the period lies outside the contract, a
/// correction is for a period outside it or would make its usage negative, or an amount
/// overflows.
pub fn rate(
    c: &PlanContract,
    period: Period,
    input: &PeriodUsage,
) -> Result<PlanInvoice, BillingError> {
    let term = c.term();
    let days = term.days_covered(period);
    if days == 0 {
        return Err(plan_error(
            c,
            format!(
                "{period} is outside the contract ({} to {})",
                c.start,
                term.last_day()
            ),
        ));
    }
    let dim = period.days();
    let year = term.index_year(period);
    let ix = |p: UnitPrice| index_price(p, c.indexation_percent, year);
    let mut b = Builder {
        contract: c,
        period,
        lines: Vec::with_capacity(8),
    };
    let mut notes = Vec::new();
    if days < dim {
        notes.push(format!(
            "covers {days} of {dim} days (contract {} to {}): monthly fees prorated",
            c.start,
            term.last_day()
        ));
    }
    if year > 0 {
        notes.push(format!(
            "prices indexed {year}× by {} % (contract anniversary {})",
            c.indexation_percent,
            c.start.format("%d %B")
        ));
    }

    // Usage of the period, then tracing (never billed).
    let mut usage_cents: Cents = 0;
    for (kind, q, price) in usage_lines(c, input.mountings, year, days, dim) {
        usage_cents += b.push(kind, period, q, price)?;
    }
    b.push(LineKind::TraceOnly, period, count(input.trace_only), zero())?;

    // Minimum commitment.
    if let Some(min) = c.plan.minimum_monthly {
        let minimum = ix(min)
            .signed_prorated_amount(i64::from(days), dim, &c.currency)
            .map_err(|e| money(c, period, e))?;
        if usage_cents < minimum {
            let shortfall = UnitPrice(Decimal::new(minimum - usage_cents, 2));
            b.push(LineKind::MinimumTrueUp, period, 1, shortfall)?;
            notes.push(format!(
                "minimum commitment {} for the period; usage charges {}",
                format_cents(minimum),
                format_cents(usage_cents)
            ));
        }
    }

    // Corrections of earlier periods, re-rated at their own prices.
    for corr in &input.corrections {
        corrections(&mut b, &term, corr, &mut notes)?;
    }

    // Fixed monthly charges.
    if let Pricing::Subscription { monthly_fee, .. } = &c.plan.pricing {
        b.push(
            LineKind::Subscription,
            period,
            i64::from(days),
            ix(*monthly_fee),
        )?;
    }
    let service_cents = service_lines(&mut b, &term, year, days, input, &mut notes)?;
    for o in &c.options {
        b.push(
            LineKind::OptionFee,
            period,
            i64::from(days),
            ix(o.monthly_fee),
        )?;
    }

    // SLA credit.
    if let Some(tier) = &c.service {
        let breaches = input
            .incidents
            .iter()
            .filter(|i| service::breached(tier, i))
            .count() as u64;
        if breaches > 0 {
            notes.push(format!(
                "SLA: {breaches} of {} incidents missed the promise ({} h response, {} h repair); \
                 credit {} % of the month's service charges ({}) per incident, at most {} %",
                input.incidents.len(),
                tier.response_hours,
                tier.repair_hours,
                tier.sla.credit_percent,
                format_cents(service_cents),
                tier.sla.cap_percent
            ));
            if let Some((q, price, capped)) =
                service::sla_credit(&tier.sla, breaches, service_cents)
            {
                b.push(LineKind::SlaCredit, period, q, price)?;
                if capped {
                    notes.push("SLA credit capped".to_string());
                }
            }
        }
    } else if !input.incidents.is_empty() {
        notes.push(format!(
            "{} service incidents: no service contract, billed separately",
            input.incidents.len()
        ));
    }

    // Early termination.
    if c.terminated_on.is_some() && Period::of_date(term.last_day()) == period {
        early_termination(&mut b, &term, year, &mut notes)?;
    }

    // What is included.
    notes.push(format!("included: {}", list_or_nothing(&c.included)));
    let bought: Vec<String> = c.options.iter().map(|o| o.name.clone()).collect();
    if !bought.is_empty() {
        notes.push(format!("options billed: {}", bought.join(", ")));
    }
    notes.push(format!(
        "not included: {}",
        list_or_nothing(&c.not_included)
    ));

    // VAT on the net total.
    let net_cents = b
        .lines
        .iter()
        .try_fold(0_i64, |s, l| s.checked_add(l.amount_cents))
        .ok_or_else(|| money(c, period, MoneyError::Overflow))?;
    let vat_cents = b.push(
        LineKind::Vat,
        period,
        1,
        exact_vat(net_cents, c.vat_percent),
    )?;
    notes.push(format!(
        "VAT {} % on the net total {}",
        c.vat_percent,
        format_cents(net_cents)
    ));
    let total_cents = net_cents
        .checked_add(vat_cents)
        .ok_or_else(|| money(c, period, MoneyError::Overflow))?;
    let out = PlanInvoice {
        invoice: Invoice {
            shop: c.shop,
            period,
            basis: Basis::Events,
            currency: c.currency.clone(),
            lines: b.lines,
            total_cents,
        },
        notes,
        net_cents,
        vat_cents,
    };
    debug_assert!(out.is_consistent(), "inconsistent invoice {out:?}");
    Ok(out)
}

fn list_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}

fn corrections(
    b: &mut Builder<'_>,
    term: &Term,
    corr: &Correction,
    notes: &mut Vec<String>,
) -> Result<(), BillingError> {
    let c = b.contract;
    let p = corr.usage_period;
    let days = term.days_covered(p);
    if days == 0 || p >= b.period {
        return Err(plan_error(
            c,
            format!(
                "a correction for {p} on the invoice of {}: it must be for an earlier period of the contract",
                b.period
            ),
        ));
    }
    let new = i128::from(corr.billed) + i128::from(corr.delta);
    let new = u64::try_from(new).map_err(|_| {
        plan_error(
            c,
            format!(
                "a correction of {} for {p} would leave {} billed mountings, below zero",
                corr.delta, corr.billed
            ),
        )
    })?;
    let year = term.index_year(p);
    let dim = p.days();
    let kind = match corr.cause {
        CorrectionCause::Late => LineKind::LateUsage,
        CorrectionCause::Estimate => LineKind::EstimateCorrection,
    };
    // Net quantity per (line kind, price), in first-seen order.
    let mut net: Vec<(LineKind, UnitPrice, i64)> = Vec::new();
    let mut add = |k: LineKind, price: UnitPrice, q: i64| {
        let k = if k.is_mountings() { kind } else { k };
        match net.iter_mut().find(|(nk, np, _)| *nk == k && *np == price) {
            Some(slot) => slot.2 += q,
            None => net.push((k, price, q)),
        }
    };
    for (k, q, price) in usage_lines(c, new, year, days, dim) {
        add(k, price, q);
    }
    for (k, q, price) in usage_lines(c, corr.billed, year, days, dim) {
        add(k, price, -q);
    }
    let mut shown = false;
    for (k, price, q) in net {
        if q != 0 {
            b.push(k, p, q, price)?;
            shown = true;
        }
    }
    if !shown {
        // Still show the correction, at zero (e.g. inside an included allowance).
        b.push(kind, p, corr.delta, zero())?;
    }
    notes.push(format!(
        "{p}: {:+} mountings ({}) re-rated at {p}'s prices from {} billed",
        corr.delta,
        match corr.cause {
            CorrectionCause::Late => "late usage",
            CorrectionCause::Estimate => "estimate corrected",
        },
        corr.billed
    ));
    Ok(())
}

/// The period's service lines; returns the service charges the SLA credit is based on.
fn service_lines(
    b: &mut Builder<'_>,
    term: &Term,
    year: u32,
    days: u32,
    input: &PeriodUsage,
    notes: &mut Vec<String>,
) -> Result<Cents, BillingError> {
    let c = b.contract;
    let period = b.period;
    let Some(tier) = &c.service else {
        return Ok(0);
    };
    let ix = |p: UnitPrice| index_price(p, c.indexation_percent, year);
    let mut base: Cents = 0;
    let mut markup = None;
    match &tier.pricing {
        ServicePricing::FullService { years, lump_sum } => {
            let idx = term.period_index(period);
            let n = (*years as usize) * 12;
            let lump_cents = lump_sum
                .line_amount(1, &c.currency)
                .map_err(|e| money(c, period, e))?;
            let index = usize::try_from(idx).ok().filter(|&i| i < n);
            if let Some(share) = index.map(|i| even_share(lump_cents, n, i)) {
                base += b.push(
                    LineKind::ServiceInstalment,
                    period,
                    1,
                    UnitPrice(Decimal::new(share, 2)),
                )?;
                notes.push(format!(
                    "full service: instalment {} of {n} of {}",
                    idx + 1,
                    lump_sum
                ));
            }
        }
        ServicePricing::Maintenance {
            monthly_fee,
            parts_markup_percent,
        } => {
            base += b.push(
                LineKind::ServiceFee,
                period,
                i64::from(days),
                ix(*monthly_fee),
            )?;
            markup = Some(*parts_markup_percent);
        }
        ServicePricing::TimeAndMaterials {
            hourly_rate,
            travel_per_visit,
            parts_markup_percent,
        } => {
            let quarters: u64 = input
                .incidents
                .iter()
                .map(|i| service::quarter_hours(i.labour_minutes))
                .sum();
            let visits: u64 = input.incidents.iter().map(|i| u64::from(i.visits)).sum();
            if quarters > 0 {
                let per_quarter = UnitPrice(ix(*hourly_rate).0 / Decimal::from(4));
                base += b.push(LineKind::Labour, period, count(quarters), per_quarter)?;
            }
            if visits > 0 {
                base += b.push(
                    LineKind::Travel,
                    period,
                    count(visits),
                    ix(*travel_per_visit),
                )?;
            }
            markup = Some(*parts_markup_percent);
        }
    }
    if let Some(markup) = markup {
        let parts = service::parts_price(&input.incidents, markup);
        if !parts.0.is_zero() {
            b.push(LineKind::Parts, period, 1, parts)?;
            notes.push(format!("parts at cost plus {markup} %"));
        }
    }
    Ok(base)
}

/// The full-service instalments in cents (largest-remainder split of the lump sum).
pub fn instalments(
    c: &PlanContract,
    lump_sum: UnitPrice,
    n: usize,
) -> Result<Vec<Cents>, MoneyError> {
    let total = lump_sum.line_amount(1, &c.currency)?;
    Ok(split_evenly(total, n.max(1)))
}

fn early_termination(
    b: &mut Builder<'_>,
    term: &Term,
    year: u32,
    notes: &mut Vec<String>,
) -> Result<(), BillingError> {
    let c = b.contract;
    let period = b.period;
    let left = term.months_left();
    if left == 0 {
        return Ok(());
    }
    let ix = |p: UnitPrice| index_price(p, c.indexation_percent, year);
    let pct = c.early_termination_percent / Decimal::ONE_HUNDRED;
    let mut fixed = Decimal::ZERO;
    if let Pricing::Subscription { monthly_fee, .. } = &c.plan.pricing {
        fixed += ix(*monthly_fee).0;
    }
    if let Some(min) = c.plan.minimum_monthly {
        fixed += ix(min).0;
    }
    if let Some(ServicePricing::Maintenance { monthly_fee, .. }) =
        c.service.as_ref().map(|s| &s.pricing)
    {
        fixed += ix(*monthly_fee).0;
    }
    if !fixed.is_zero() {
        b.push(
            LineKind::EarlyTermination,
            period,
            i64::from(left),
            UnitPrice(fixed * pct),
        )?;
    }
    if let Some(ServicePricing::FullService { years, lump_sum }) =
        c.service.as_ref().map(|s| &s.pricing)
    {
        let n = (*years as usize) * 12;
        let billed_through = usize::try_from(term.period_index(period) + 1).unwrap_or(0);
        let unbilled: Cents = instalments(c, *lump_sum, n)
            .map_err(|e| money(c, period, e))?
            .iter()
            .skip(billed_through)
            .sum();
        if unbilled > 0 {
            b.push(
                LineKind::EarlyTermination,
                period,
                1,
                UnitPrice(Decimal::new(unbilled, 2) * pct),
            )?;
        }
    }
    notes.push(format!(
        "terminated early on {}: {left} contract months left; fee {} % of the fixed monthly \
         charges for each and of the full-service instalments not billed",
        term.last_day(),
        c.early_termination_percent
    ));
    Ok(())
}
