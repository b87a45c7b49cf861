//! The embedded billing engine: monthly invoices from metered usage and each shop's contract.
//!
//! Billing is a pure function of (usage, contract): the metering store calls it when a period
//! closes and keeps the result; anyone can recompute an invoice from the public usage queries.
//! Money follows `money`'s rule: one rounding per line.
//!
//! **Bases.** A contract bills either the per-mounting *events* or the cumulative *counters*
//! (after VEE). Both are always metered; the contract picks which one is invoiced.
//!
//! **Late usage** (events basis): an event dated in a period that was already invoiced is
//! billed on the next invoice, on its own line naming the period it belongs to
//! ([`LineKind::LateUsage`]). An invoice is never edited after it is issued.
//!
//! **Counters basis**: a period bills the steps of the readings attributed to it, plus an
//! estimate of its unread tail ([`LineKind::Estimate`]), minus the part of its steps that an
//! earlier period already billed as an estimate ([`LineKind::TrueUp`], a credit). See
//! `metering::vee` for the rules.
//!
//! **Plans** (issue #4): the catalogue of plans, service tiers and options ([`catalogue`], read
//! from TOML by [`catalogue_file`]), rated per contract and period by [`plans::rate`] into the
//! same [`Invoice`] with more [`LineKind`]s; [`consistency`] checks a catalogue for prices that
//! fall as the customer buys more. The rules (rounding, proration, indexation, split, SLA
//! credits, VAT) are stated in [`plans`].
//!
//! **Groups**: reports split revenue by [`LineGroup`] (usage, service, VAT…), each kind's group
//! given by [`LineKind::group`] in [`groups`].

pub mod catalogue;
pub mod catalogue_file;
pub mod close;
pub mod consistency;
pub mod groups;
pub mod plans;
pub mod service;
pub mod split;
pub mod terms;
pub mod tiers;
pub mod vat;

pub use groups::{GroupCents, LineGroup};

use crate::calendar::Period;
use crate::event::ShopId;
use crate::metering::vee::Channels;
use crate::metering::UsageRow;
use crate::money::{Cents, Currency, MoneyError, UnitPrice};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The price per billable mounting of every shop, indexed by shop id.
#[derive(Clone, Debug)]
pub struct PriceBook {
    pub currency: Currency,
    pub per_mounting: Vec<UnitPrice>,
}

/// Which usage a contract invoices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// One billable event per mounting.
    Events,
    /// Cumulative counter readings, validated and estimated (VEE).
    Counters,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Events => "events",
            Basis::Counters => "counters",
        }
    }

    pub fn parse(text: &str) -> Option<Basis> {
        match text {
            "events" => Some(Basis::Events),
            "counters" => Some(Basis::Counters),
            _ => None,
        }
    }
}

/// What a shop pays and how its usage is measured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub shop: ShopId,
    pub basis: Basis,
    #[serde(with = "price_text")]
    pub price_per_mounting: UnitPrice,
    pub currency: Currency,
}

/// The plan part of a shop's contract (issue #4): catalogue ids and dates, resolved against
/// the engine's catalogue at each close (`Catalogue::contract`). Travels as JSON with dates as
/// `"YYYY-MM-DD"` and the price as decimal text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTerms {
    pub plan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    #[serde(
        default,
        with = "opt_price_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub price_override: Option<UnitPrice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    pub start: chrono::NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_months: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_on: Option<chrono::NaiveDate>,
}

impl PlanTerms {
    /// The catalogue's view of these terms for `shop`.
    pub fn spec(&self, shop: ShopId) -> catalogue::ContractSpec {
        catalogue::ContractSpec {
            shop,
            plan: self.plan.clone(),
            segment: self.segment.clone(),
            price_override: self.price_override,
            service: self.service.clone(),
            options: self.options.clone(),
            start: self.start,
            term_months: self.term_months,
            terminated_on: self.terminated_on,
        }
    }
}

/// A shop's contract on a catalogue plan: which usage it bills, and the plan it signed.
/// Its invoices come from `plans::rate` (currency and prices from the catalogue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanAgreement {
    pub shop: ShopId,
    pub basis: Basis,
    pub terms: PlanTerms,
}

/// What an invoice line is for. Reports also sum kinds by [`LineGroup`] ([`LineKind::group`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Mountings metered by events in the invoiced period.
    Usage,
    /// Mountings metered by events of an earlier, already invoiced period.
    LateUsage,
    /// Mountings read from the counters.
    CounterUsage,
    /// Mountings estimated for the period's unread tail.
    Estimate,
    /// An earlier estimate reversed now that readings cover it (a credit).
    TrueUp,
    /// Frame tracing for remote-edged orders: shown, never billed.
    TraceOnly,
    // Plan lines (issue #4, `plans::rate`). Quantities are mountings unless said otherwise.
    /// Mountings covered by the plan's included allowance or by packages: shown at zero.
    Included,
    /// Mountings above a subscription's allowance.
    Overage,
    /// Blocks of a package plan (quantity = blocks; a started block is billed whole).
    Package,
    /// The flat fee of a price tier reached this period (quantity 1).
    TierFee,
    /// Shortfall under the monthly minimum commitment (quantity 1, price = the shortfall).
    MinimumTrueUp,
    /// A re-rated correction of an earlier period's estimated usage (signed).
    EstimateCorrection,
    /// Subscription fee; quantity = days covered, amount = price × days / days in the month.
    Subscription,
    /// Maintenance fee; quantity = days covered, as for `Subscription`.
    ServiceFee,
    /// One monthly instalment of a full-service lump sum (quantity 1).
    ServiceInstalment,
    /// Labour on a service visit; quantity = started quarter hours, price = hourly rate / 4.
    Labour,
    /// Travel fee per service visit.
    Travel,
    /// Parts at cost plus markup (quantity 1, price = the exact marked-up cost).
    Parts,
    /// An option bought separately; quantity = days covered, as for `Subscription`.
    OptionFee,
    /// Credit for breached service promises (negative quantity).
    SlaCredit,
    /// Early termination fee; quantity = contract months left.
    EarlyTermination,
    /// VAT on the net total (quantity 1, price = the exact VAT before rounding).
    Vat,
}

impl LineKind {
    pub fn description(self) -> &'static str {
        match self {
            LineKind::Usage => LINE_MOUNTINGS,
            LineKind::LateUsage => "Mountings of an earlier period, metered after it was invoiced",
            LineKind::CounterUsage => "Mountings read from the counters",
            LineKind::Estimate => "Mountings estimated for days not yet read",
            LineKind::TrueUp => "Estimate reversed: the counters have been read",
            LineKind::TraceOnly => LINE_TRACE_ONLY,
            LineKind::Included => "Mountings included in the plan (not billed separately)",
            LineKind::Overage => "Mountings above the subscription's allowance",
            LineKind::Package => "Packages of mountings (a started package is billed whole)",
            LineKind::TierFee => "Flat fee of a price tier",
            LineKind::MinimumTrueUp => "Minimum monthly commitment: shortfall",
            LineKind::EstimateCorrection => "Correction of an earlier period's estimated usage",
            LineKind::Subscription => "Monthly subscription (days covered)",
            LineKind::ServiceFee => "Maintenance contract (days covered)",
            LineKind::ServiceInstalment => "Full-service contract: monthly instalment",
            LineKind::Labour => "Service labour (quarter hours)",
            LineKind::Travel => "Service travel (visits)",
            LineKind::Parts => "Parts at cost plus markup",
            LineKind::OptionFee => "Option (days covered)",
            LineKind::SlaCredit => "Service-level credit: promised response or repair time missed",
            LineKind::EarlyTermination => "Early termination fee (months left in the term)",
            LineKind::Vat => "VAT on the net total",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LineKind::Usage => "usage",
            LineKind::LateUsage => "late_usage",
            LineKind::CounterUsage => "counter_usage",
            LineKind::Estimate => "estimate",
            LineKind::TrueUp => "true_up",
            LineKind::TraceOnly => "trace_only",
            LineKind::Included => "included",
            LineKind::Overage => "overage",
            LineKind::Package => "package",
            LineKind::TierFee => "tier_fee",
            LineKind::MinimumTrueUp => "minimum_true_up",
            LineKind::EstimateCorrection => "estimate_correction",
            LineKind::Subscription => "subscription",
            LineKind::ServiceFee => "service_fee",
            LineKind::ServiceInstalment => "service_instalment",
            LineKind::Labour => "labour",
            LineKind::Travel => "travel",
            LineKind::Parts => "parts",
            LineKind::OptionFee => "option_fee",
            LineKind::SlaCredit => "sla_credit",
            LineKind::EarlyTermination => "early_termination",
            LineKind::Vat => "vat",
        }
    }

    pub fn parse(text: &str) -> Option<LineKind> {
        LineKind::ALL.into_iter().find(|k| k.name() == text)
    }

    pub const ALL: [LineKind; 22] = [
        LineKind::Usage,
        LineKind::LateUsage,
        LineKind::CounterUsage,
        LineKind::Estimate,
        LineKind::TrueUp,
        LineKind::TraceOnly,
        LineKind::Included,
        LineKind::Overage,
        LineKind::Package,
        LineKind::TierFee,
        LineKind::MinimumTrueUp,
        LineKind::EstimateCorrection,
        LineKind::Subscription,
        LineKind::ServiceFee,
        LineKind::ServiceInstalment,
        LineKind::Labour,
        LineKind::Travel,
        LineKind::Parts,
        LineKind::OptionFee,
        LineKind::SlaCredit,
        LineKind::EarlyTermination,
        LineKind::Vat,
    ];

    /// Whether the line's quantity counts as billed mountings: the usage group (one list, in
    /// `group`), less the trace-only cycles shown beside it at zero.
    pub fn is_mountings(self) -> bool {
        self.group() == LineGroup::Usage && self != LineKind::TraceOnly
    }

    /// Whether the line is informational: its amount is always zero, whatever its price.
    pub fn is_free(self) -> bool {
        matches!(self, LineKind::TraceOnly | LineKind::Included)
    }

    /// Whether the quantity is days covered out of the usage period's days (a prorated fee).
    pub fn is_daily(self) -> bool {
        matches!(
            self,
            LineKind::Subscription | LineKind::ServiceFee | LineKind::OptionFee
        )
    }

    /// The amount of a line of this kind: `quantity × price` (× days covered / days in the
    /// month for daily kinds), exact, rounded once half away from zero; zero for free kinds.
    pub fn amount(
        self,
        quantity: i64,
        unit_price: UnitPrice,
        usage_period: Period,
        currency: &Currency,
    ) -> Result<Cents, MoneyError> {
        if self.is_free() {
            Ok(0)
        } else if self.is_daily() {
            unit_price.signed_prorated_amount(quantity, usage_period.days(), currency)
        } else {
            unit_price.signed_line_amount(quantity, currency)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub kind: LineKind,
    /// The period the usage belongs to (an earlier one for late usage).
    pub usage_period: Period,
    /// Negative for a credit.
    pub quantity: i64,
    #[serde(with = "price_text")]
    pub unit_price: UnitPrice,
    pub amount_cents: Cents,
}

impl InvoiceLine {
    pub fn description(&self) -> &'static str {
        self.kind.description()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub shop: ShopId,
    pub period: Period,
    pub basis: Basis,
    pub currency: Currency,
    pub lines: Vec<InvoiceLine>,
    pub total_cents: Cents,
}

impl Invoice {
    /// Billed mountings on the invoice: every mountings line, credits included.
    pub fn billed_mountings(&self) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.kind.is_mountings())
            .map(|l| l.quantity)
            .sum()
    }

    /// Billed mountings that belong to `period` (its own usage or a late correction).
    pub fn billed_mountings_of(&self, period: Period) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.kind.is_mountings() && l.usage_period == period)
            .map(|l| l.quantity)
            .sum()
    }

    pub fn unit_price(&self) -> UnitPrice {
        self.lines
            .first()
            .map_or(UnitPrice(Decimal::ZERO), |l| l.unit_price)
    }

    /// Whether every line is `quantity × unit price` rounded once and the lines add up.
    pub fn is_consistent(&self) -> bool {
        let lines_ok = self.lines.iter().all(|l| {
            l.kind
                .amount(l.quantity, l.unit_price, l.usage_period, &self.currency)
                == Ok(l.amount_cents)
        });
        lines_ok && self.lines.iter().map(|l| l.amount_cents).sum::<Cents>() == self.total_cents
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("invoice for shop {shop} in {period}: {source}")]
    Money {
        shop: ShopId,
        period: Period,
        source: MoneyError,
    },
    #[error("usage names shop {0}, which has no price")]
    UnknownShop(ShopId),
    #[error("shop {shop}: {message}")]
    Plan { shop: ShopId, message: String },
    /// A plan contract without a catalogue, or one the catalogue does not resolve.
    #[error("{0}")]
    Catalogue(String),
}

pub const LINE_MOUNTINGS: &str = "Mountings (pairs edged in store)";
pub const LINE_TRACE_ONLY: &str = "Frame tracing for remote-edged orders (not billed)";

/// Event-metered usage of one shop not yet invoiced, when `period` closes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventDue {
    /// (usage period, mountings, trace-only): the closing period's own usage and any usage of
    /// earlier periods metered after they were invoiced, in period order.
    pub by_period: Vec<(Period, u64, u64)>,
}

/// Counter-metered usage of one shop in one closed period (sums over its machines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDue {
    pub actual: Channels<u64>,
    pub estimate: Channels<u64>,
    pub reversed: Channels<u64>,
}

/// The invoice of a closed period for an events-basis contract. The period's own usage always
/// gets its lines (zero included); late usage gets a line only when there is some.
pub fn invoice_from_events(
    contract: &Contract,
    period: Period,
    due: &EventDue,
) -> Result<Invoice, BillingError> {
    let own = due.by_period.iter().find(|(p, ..)| *p == period);
    let (mountings, trace) = own.map_or((0, 0), |&(_, m, t)| (m, t));
    let mut lines = vec![(LineKind::Usage, period, count(mountings))];
    for &(usage_period, m, _) in due.by_period.iter().filter(|(p, ..)| *p != period) {
        if m > 0 {
            lines.push((LineKind::LateUsage, usage_period, count(m)));
        }
    }
    let late_trace: u64 = due
        .by_period
        .iter()
        .filter(|(p, ..)| *p != period)
        .map(|&(.., t)| t)
        .sum();
    lines.push((LineKind::TraceOnly, period, count(trace + late_trace)));
    priced(contract, period, Basis::Events, &lines)
}

/// The invoice of a closed period for a counters-basis contract.
pub fn invoice_from_counters(
    contract: &Contract,
    period: Period,
    due: &CounterDue,
) -> Result<Invoice, BillingError> {
    let mut lines = vec![(LineKind::CounterUsage, period, count(due.actual.mountings))];
    if due.estimate.mountings > 0 {
        lines.push((LineKind::Estimate, period, count(due.estimate.mountings)));
    }
    if due.reversed.mountings > 0 {
        lines.push((LineKind::TrueUp, period, -count(due.reversed.mountings)));
    }
    let trace = i128::from(due.actual.trace_only) + i128::from(due.estimate.trace_only)
        - i128::from(due.reversed.trace_only);
    lines.push((
        LineKind::TraceOnly,
        period,
        i64::try_from(trace).unwrap_or(i64::MAX),
    ));
    priced(contract, period, Basis::Counters, &lines)
}

/// A count as a signed quantity (no real count reaches 2^63).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn priced(
    contract: &Contract,
    period: Period,
    basis: Basis,
    lines: &[(LineKind, Period, i64)],
) -> Result<Invoice, BillingError> {
    let money = |source| BillingError::Money {
        shop: contract.shop,
        period,
        source,
    };
    let lines = lines
        .iter()
        .map(|&(kind, usage_period, quantity)| {
            let unit_price = if kind.is_mountings() {
                contract.price_per_mounting
            } else {
                UnitPrice(Decimal::ZERO)
            };
            let amount_cents = unit_price
                .signed_line_amount(quantity, &contract.currency)
                .map_err(money)?;
            Ok(InvoiceLine {
                kind,
                usage_period,
                quantity,
                unit_price,
                amount_cents,
            })
        })
        .collect::<Result<Vec<_>, BillingError>>()?;
    let total_cents = lines
        .iter()
        .try_fold(0_i64, |sum, l| sum.checked_add(l.amount_cents))
        .ok_or_else(|| money(MoneyError::Overflow))?;
    Ok(Invoice {
        shop: contract.shop,
        period,
        basis,
        currency: contract.currency.clone(),
        lines,
        total_cents,
    })
}

/// What `usage` would be invoiced on the events basis if nothing arrived late: the reference
/// the simulator compares against (one invoice per shop in the book, in shop order).
pub fn rate_period(
    period: Period,
    usage: &[UsageRow],
    book: &PriceBook,
) -> Result<Vec<Invoice>, BillingError> {
    let mut by_shop = vec![UsageRow::default(); book.per_mounting.len()];
    for row in usage {
        let slot = by_shop
            .get_mut(row.shop.0 as usize)
            .ok_or(BillingError::UnknownShop(row.shop))?;
        *slot = *row;
    }
    by_shop
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let contract = Contract {
                shop: ShopId(i as u32),
                basis: Basis::Events,
                price_per_mounting: book.per_mounting[i],
                currency: book.currency.clone(),
            };
            let due = EventDue {
                by_period: vec![(period, row.billable_mountings, row.trace_only)],
            };
            invoice_from_events(&contract, period, &due)
        })
        .collect()
}

/// Prices travel as decimal strings ("3.85"): JSON numbers would go through floats.
mod price_text {
    use crate::money::UnitPrice;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &UnitPrice, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnitPrice, D::Error> {
        let text = String::deserialize(d)?;
        UnitPrice::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a decimal price such as \"3.85\""))
        })
    }
}

/// Optional prices as decimal text, like `price_text`.
mod opt_price_text {
    use crate::money::UnitPrice;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<UnitPrice>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(&p.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnitPrice>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        UnitPrice::parse(&text)
            .filter(|p| !p.0.is_sign_negative())
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a decimal price ≥ 0 such as \"3.85\""
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> PriceBook {
        PriceBook {
            currency: Currency("EUR".into()),
            per_mounting: vec![
                UnitPrice::parse("3.85").unwrap(),
                UnitPrice::parse("2.10").unwrap(),
            ],
        }
    }

    #[test]
    fn one_invoice_per_shop_including_idle_ones() {
        let period = Period {
            year: 2024,
            month: 1,
        };
        let usage = [UsageRow {
            shop: ShopId(0),
            billable_mountings: 108,
            trace_only: 27,
            ..UsageRow::default()
        }];
        let invoices = rate_period(period, &usage, &book()).unwrap();
        assert_eq!(invoices.len(), 2);
        assert_eq!(invoices[0].total_cents, 41_580);
        assert_eq!(invoices[0].lines[1].quantity, 27);
        assert_eq!(
            invoices[0].lines[1].amount_cents, 0,
            "tracing is never billed"
        );
        assert_eq!(invoices[1].total_cents, 0);
    }

    #[test]
    fn lines_add_up_to_the_total() {
        let period = Period {
            year: 2024,
            month: 1,
        };
        let usage = [UsageRow {
            shop: ShopId(1),
            billable_mountings: 7,
            ..UsageRow::default()
        }];
        for inv in rate_period(period, &usage, &book()).unwrap() {
            assert_eq!(
                inv.lines.iter().map(|l| l.amount_cents).sum::<i64>(),
                inv.total_cents
            );
        }
    }

    fn contract(basis: Basis) -> Contract {
        Contract {
            shop: ShopId(3),
            basis,
            price_per_mounting: UnitPrice::parse("3.85").unwrap(),
            currency: Currency("EUR".into()),
        }
    }

    #[test]
    fn late_usage_is_a_line_of_its_own_naming_its_period() {
        let (jan, feb) = (
            Period {
                year: 2024,
                month: 1,
            },
            Period {
                year: 2024,
                month: 2,
            },
        );
        let due = EventDue {
            by_period: vec![(jan, 4, 1), (feb, 100, 20)],
        };
        let inv = invoice_from_events(&contract(Basis::Events), feb, &due).unwrap();
        let kinds: Vec<_> = inv
            .lines
            .iter()
            .map(|l| (l.kind, l.usage_period, l.quantity))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (LineKind::Usage, feb, 100),
                (LineKind::LateUsage, jan, 4),
                (LineKind::TraceOnly, feb, 21)
            ]
        );
        assert_eq!(inv.total_cents, 104 * 385);
        assert_eq!(inv.billed_mountings_of(jan), 4);
        assert!(inv.is_consistent());
    }

    #[test]
    fn counters_bill_actual_plus_estimate_minus_true_up() {
        let feb = Period {
            year: 2024,
            month: 2,
        };
        let due = CounterDue {
            actual: Channels {
                total_cycles: 130,
                mountings: 100,
                trace_only: 30,
            },
            estimate: Channels {
                total_cycles: 13,
                mountings: 10,
                trace_only: 3,
            },
            reversed: Channels {
                total_cycles: 16,
                mountings: 12,
                trace_only: 4,
            },
        };
        let inv = invoice_from_counters(&contract(Basis::Counters), feb, &due).unwrap();
        let q: Vec<_> = inv
            .lines
            .iter()
            .map(|l| (l.kind, l.quantity, l.amount_cents))
            .collect();
        assert_eq!(
            q,
            vec![
                (LineKind::CounterUsage, 100, 38_500),
                (LineKind::Estimate, 10, 3_850),
                (LineKind::TrueUp, -12, -4_620),
                (LineKind::TraceOnly, 29, 0),
            ]
        );
        assert_eq!(inv.billed_mountings(), 98);
        assert_eq!(inv.total_cents, 98 * 385);
        assert!(inv.is_consistent());
    }

    #[test]
    fn line_kind_names_are_stable_and_unique() {
        // The store and the HTTP JSON keep these names: the first six must never change.
        let names: Vec<&str> = LineKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names[..6],
            [
                "usage",
                "late_usage",
                "counter_usage",
                "estimate",
                "true_up",
                "trace_only"
            ]
        );
        for k in LineKind::ALL {
            assert_eq!(LineKind::parse(k.name()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn daily_lines_are_prorated_and_free_lines_are_zero() {
        let eur = Currency("EUR".into());
        let feb = Period {
            year: 2024,
            month: 2,
        };
        let fee = UnitPrice::parse("349.00").unwrap();
        // 349.00 × 10 / 29 = 120.344… → 120.34.
        assert_eq!(
            LineKind::Subscription.amount(10, fee, feb, &eur),
            Ok(12_034)
        );
        assert_eq!(
            LineKind::Subscription.amount(29, fee, feb, &eur),
            Ok(34_900)
        );
        assert_eq!(LineKind::Included.amount(10, fee, feb, &eur), Ok(0));
        assert_eq!(LineKind::Overage.amount(10, fee, feb, &eur), Ok(349_000));
    }

    #[test]
    fn a_tampered_invoice_is_not_consistent() {
        let feb = Period {
            year: 2024,
            month: 2,
        };
        let due = EventDue {
            by_period: vec![(feb, 3, 0)],
        };
        let mut inv = invoice_from_events(&contract(Basis::Events), feb, &due).unwrap();
        inv.lines[0].amount_cents += 1;
        assert!(!inv.is_consistent());
    }

    #[test]
    fn contracts_travel_as_json_with_prices_as_text() {
        let c = contract(Basis::Counters);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"shop":3,"basis":"counters","price_per_mounting":"3.85","currency":"EUR"}"#
        );
        assert_eq!(serde_json::from_str::<Contract>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Contract>(&json.replace("3.85", "3,85")).is_err());
    }

    #[test]
    fn plan_terms_travel_as_json_with_dates_and_prices_as_text() {
        let json = r#"{"plan":"per_mounting","price_override":"3.10","options":["loaner"],"start":"2024-01-15","terminated_on":"2025-06-30"}"#;
        let terms: PlanTerms = serde_json::from_str(json).unwrap();
        assert_eq!(terms.price_override, UnitPrice::parse("3.10"));
        assert_eq!(terms.start.to_string(), "2024-01-15");
        assert_eq!(terms.term_months, None);
        assert_eq!(serde_json::to_string(&terms).unwrap(), json);
        for bad in [
            json.replace(r#""3.10""#, "3.10"),
            json.replace(r#""3.10""#, r#""-1""#),
            json.replace("2024-01-15", "15/01/2024"),
            json.replace(r#""plan""#, r#""plam""#),
        ] {
            assert!(serde_json::from_str::<PlanTerms>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usage_for_an_unknown_shop_is_an_error() {
        let usage = [UsageRow {
            shop: ShopId(9),
            ..UsageRow::default()
        }];
        assert!(rate_period(
            Period {
                year: 2024,
                month: 1
            },
            &usage,
            &book()
        )
        .is_err());
    }
}
