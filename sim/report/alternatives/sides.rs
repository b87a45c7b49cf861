//! Each pricing's figures as the tables and charts show them: its judgement, whether it
//! reconciled, and its invoices summed per month.

use super::{AlternativeSummary, CostSummary, SweepSummary};
use crate::analysis::tariffs::Judgement;
use crate::billing::{GroupCents, LineGroup};
use crate::money::Cents;
use crate::pricing::{Evaluation, Priced};
use crate::report::RunData;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// One pricing, base first.
pub struct Side<'a> {
    pub priced: &'a Priced,
    pub judgement: &'a Judgement,
    pub reconciled: bool,
    pub findings: Option<usize>,
    /// Per period of the run.
    pub months: Vec<Month>,
    pub revenue_lost_to_failures_cents: Option<Cents>,
    /// The first month with the highest revenue, and that revenue.
    pub peak: Option<(String, Cents)>,
    /// The run's periods, `YYYY-MM`.
    pub periods: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Month {
    pub invoices: u64,
    /// Net of VAT, credits included.
    pub revenue_cents: Cents,
    pub credits_cents: Cents,
    /// The fleet's cost to serve spent that month (`[service]` runs), the same whichever
    /// pricing bills it.
    pub cost_cents: Option<Cents>,
}

impl Month {
    pub fn margin_cents(&self) -> Option<Cents> {
        self.cost_cents.map(|c| self.revenue_cents - c)
    }
}

pub fn sides<'a>(d: &RunData, e: &'a Evaluation) -> Vec<Side<'a>> {
    e.priced
        .iter()
        .zip(&e.judgements)
        .enumerate()
        .map(|(i, (priced, judgement))| {
            let costs = d.service.map(|f| f.monthly_cost_cents.as_slice());
            let months = months(priced, costs);
            let peak = peak(&months).map(|(p, c)| (d.periods[p].to_string(), c));
            Side {
                priced,
                judgement,
                reconciled: match i {
                    0 => d.reconciliation.ok,
                    _ => e.reconciliations[i - 1].ok,
                },
                findings: e.consistency[i],
                months,
                revenue_lost_to_failures_cents: d.service.map(|_| lost_revenue(d, judgement)),
                peak,
                periods: d.periods.iter().map(|p| p.to_string()).collect(),
            }
        })
        .collect()
}

/// The first period with the highest revenue.
fn peak(months: &[Month]) -> Option<(usize, Cents)> {
    let mut best: Option<(usize, Cents)> = None;
    for (i, m) in months.iter().enumerate() {
        if best.is_none_or(|(_, c)| m.revenue_cents > c) {
            best = Some((i, m.revenue_cents));
        }
    }
    best
}

fn months(priced: &Priced, costs: Option<&[Cents]>) -> Vec<Month> {
    priced
        .invoices
        .iter()
        .enumerate()
        .map(|(p, per)| {
            let issued: Vec<_> = per.iter().flatten().collect();
            let split = GroupCents::of(issued.iter().copied());
            Month {
                invoices: issued.len() as u64,
                revenue_cents: split.net(),
                credits_cents: split.get(LineGroup::Credits),
                cost_cents: costs.and_then(|c| c.get(p).copied()),
            }
        })
        .collect()
}

/// Σ over shops of mountings lost × the shop's price per mounting under this pricing, in
/// exact decimals rounded once to cents.
fn lost_revenue(d: &RunData, j: &Judgement) -> Cents {
    let truth = &d.outcome.truth;
    let mut sum = Decimal::ZERO;
    for (i, shop) in j.shops.iter().enumerate() {
        let mountings = truth.shop_total(i as u32).mountings;
        let lost = truth.shop_field(i as u32).lost_mountings;
        if mountings > 0 && lost > 0 {
            sum +=
                Decimal::from(lost) * Decimal::from(shop.invoiced_cents) / Decimal::from(mountings);
        }
    }
    sum.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .unwrap_or(Cents::MAX)
}

impl Side<'_> {
    pub fn id(&self) -> &str {
        &self.priced.id
    }

    pub fn is_sweep(&self) -> bool {
        self.priced.swept.is_some()
    }

    pub fn credits_cents(&self) -> Cents {
        self.months.iter().map(|m| m.credits_cents).sum()
    }

    pub fn invoices(&self) -> u64 {
        self.months.iter().map(|m| m.invoices).sum()
    }

    pub fn summary(&self) -> AlternativeSummary {
        let j = self.judgement;
        AlternativeSummary {
            id: j.id.clone(),
            description: self.priced.description.clone(),
            sweep: self.priced.swept.as_ref().map(|s| SweepSummary {
                sweep: s.sweep.clone(),
                field: s.field.name(),
                value: s.label(),
                unit: s.field.unit(),
            }),
            reconciled: self.reconciled,
            catalogue_findings: self.findings,
            invoices: self.invoices(),
            revenue_cents: j.revenue_cents,
            credits_cents: self.credits_cents(),
            mountings: j.mountings,
            price_per_mounting_cents: j.price_per_mounting_cents.map(round4),
            gini: round4(j.gini),
            p10_cents: j.p10_cents.map(round4),
            p50_cents: j.p50_cents.map(round4),
            p90_cents: j.p90_cents.map(round4),
            bill_cv_median: j.bill_cv_median.map(round4),
            regret_cents: j.regret_cents,
            cheapest_for: j.cheapest_for,
            peak_month: self.peak.as_ref().map(|(p, _)| p.clone()),
            peak_month_cents: self.peak.as_ref().map_or(0, |(_, c)| *c),
            costs: self.cost_summary(),
        }
    }

    fn cost_summary(&self) -> Option<CostSummary> {
        let c = self.judgement.costs.as_ref()?;
        let rows = &c.subsidy.rows;
        let shops = self.judgement.shops.len();
        let (singles, segments) = rows.split_at(shops.min(rows.len()));
        let failing = |f: fn(&crate::analysis::subsidy::SubsidyRow) -> bool| {
            segments
                .iter()
                .filter(|r| f(r))
                .map(|r| r.coalition.clone())
                .collect()
        };
        let cash = cash(&self.months, &self.periods);
        Some(CostSummary {
            cost_cents: c.cost_cents,
            margin_cents: c.margin_cents,
            shops_at_loss: c.shops_at_loss,
            at_loss_mountings_share: round4(c.at_loss_mountings_share),
            spearman_price_cost: c.spearman_price_cost.map(round4),
            shops_failing_stand_alone: singles.iter().filter(|r| r.fails_stand_alone()).count(),
            shops_failing_incremental: singles.iter().filter(|r| r.fails_incremental()).count(),
            segments_failing_stand_alone: failing(|r| r.fails_stand_alone()),
            segments_failing_incremental: failing(|r| r.fails_incremental()),
            overpaid_cents: c.subsidy.overpaid_cents,
            subsidised_cents: c.subsidy.subsidised_cents,
            revenue_lost_to_failures_cents: self.revenue_lost_to_failures_cents.unwrap_or(0),
            cumulative_margin_low_cents: cash.low_cents,
            cumulative_margin_low_month: cash.low_month,
            months_at_loss: cash.months_at_loss,
            break_even_month: cash.break_even_month,
        })
    }

    /// The cumulative margin, month by month (empty without the field).
    pub fn cumulative_margin(&self) -> Vec<Cents> {
        cumulative_margin(&self.months)
    }
}

fn cumulative_margin(months: &[Month]) -> Vec<Cents> {
    let mut sum = 0;
    months
        .iter()
        .map_while(Month::margin_cents)
        .map(|m| {
            sum += m;
            sum
        })
        .collect()
}

/// The cumulative margin's lowest point, the months at a loss and the break-even month.
fn cash(months: &[Month], periods: &[String]) -> Cash {
    let cumulative = cumulative_margin(months);
    let mut cash = Cash::default();
    for (i, &c) in cumulative.iter().enumerate() {
        if c < cash.low_cents {
            cash.low_cents = c;
            cash.low_month = periods.get(i).cloned();
        }
    }
    cash.months_at_loss = months
        .iter()
        .filter(|m| m.margin_cents().is_some_and(|c| c < 0))
        .count();
    // After the last month below 0 (every month when none is).
    cash.break_even_month = match cumulative.iter().rposition(|&c| c < 0) {
        None => periods.first().cloned(),
        Some(i) => periods.get(i + 1).cloned(),
    };
    cash
}

/// The provider's cash position over the term (see `CostSummary`).
#[derive(Default)]
struct Cash {
    low_cents: Cents,
    low_month: Option<String>,
    months_at_loss: usize,
    break_even_month: Option<String>,
}

pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
