//! What a shop's money is for, coarser than the line kinds: the revenue split that reports show
//! per shop (`shops.csv`) and fleet-wide (`summary.json` `/billed/by_group`, `index.html`).
//!
//! The grouping is defined here and only here ([`LineKind::group`]). Its match is exhaustive on
//! purpose: a new line kind does not compile until someone decides which group it belongs to.
//!
//! | group          | line kinds                                                                |
//! |----------------|---------------------------------------------------------------------------|
//! | `usage`        | every mountings kind ([`LineKind::is_mountings`]): usage, late usage, counter usage, estimate, true-up, included, overage, estimate correction; and trace-only (always 0) |
//! | `minimum`      | minimum commitment true-up                                                |
//! | `subscription` | subscription fee, packages, price-tier flat fees                          |
//! | `service`      | maintenance fee, full-service instalment, labour, travel, parts           |
//! | `options`      | options bought separately                                                 |
//! | `credits`      | SLA credits (negative)                                                    |
//! | `termination`  | early termination fee                                                     |
//! | `other`        | none today: the place for a kind that fits no group                       |
//! | `vat`          | VAT (not part of the net)                                                 |
//!
//! Packages and tier fees are priced per block or per tier reached, not per mounting, so they are
//! plan fees (`subscription`), although they grow with usage. Every group but `vat` is net, so
//! the net groups sum to the invoices' net and net + VAT is their total.

use super::{Invoice, LineKind};
use crate::money::Cents;

/// A group of line kinds (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineGroup {
    Usage,
    Minimum,
    Subscription,
    Service,
    Options,
    Credits,
    Termination,
    Other,
    Vat,
}

impl LineGroup {
    /// In report column order; the index of a group is its position here.
    pub const ALL: [LineGroup; 9] = [
        LineGroup::Usage,
        LineGroup::Minimum,
        LineGroup::Subscription,
        LineGroup::Service,
        LineGroup::Options,
        LineGroup::Credits,
        LineGroup::Termination,
        LineGroup::Other,
        LineGroup::Vat,
    ];

    /// Every group before VAT: their sum is the net.
    pub const NET: [LineGroup; 8] = [
        LineGroup::Usage,
        LineGroup::Minimum,
        LineGroup::Subscription,
        LineGroup::Service,
        LineGroup::Options,
        LineGroup::Credits,
        LineGroup::Termination,
        LineGroup::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LineGroup::Usage => "usage",
            LineGroup::Minimum => "minimum",
            LineGroup::Subscription => "subscription",
            LineGroup::Service => "service",
            LineGroup::Options => "options",
            LineGroup::Credits => "credits",
            LineGroup::Termination => "termination",
            LineGroup::Other => "other",
            LineGroup::Vat => "vat",
        }
    }

    /// Position in [`LineGroup::ALL`] (the declaration order).
    fn index(self) -> usize {
        self as usize
    }
}

impl LineKind {
    /// The group this kind's amounts count in (see `billing::groups`).
    pub fn group(self) -> LineGroup {
        match self {
            LineKind::Usage
            | LineKind::LateUsage
            | LineKind::CounterUsage
            | LineKind::Estimate
            | LineKind::TrueUp
            | LineKind::Included
            | LineKind::Overage
            | LineKind::EstimateCorrection
            // Shown with the usage, always at zero.
            | LineKind::TraceOnly => LineGroup::Usage,
            LineKind::MinimumTrueUp => LineGroup::Minimum,
            LineKind::Subscription | LineKind::Package | LineKind::TierFee => {
                LineGroup::Subscription
            }
            LineKind::ServiceFee
            | LineKind::ServiceInstalment
            | LineKind::Labour
            | LineKind::Travel
            | LineKind::Parts => LineGroup::Service,
            LineKind::OptionFee => LineGroup::Options,
            LineKind::SlaCredit => LineGroup::Credits,
            LineKind::EarlyTermination => LineGroup::Termination,
            LineKind::Vat => LineGroup::Vat,
        }
    }
}

/// Cents per group, summed over any number of invoices (a shop's, or the fleet's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCents([Cents; LineGroup::ALL.len()]);

impl GroupCents {
    /// The split of `invoices`, in one pass over their lines.
    pub fn of<'a>(invoices: impl IntoIterator<Item = &'a Invoice>) -> GroupCents {
        let mut split = GroupCents::default();
        for invoice in invoices {
            split.add(invoice);
        }
        split
    }

    pub fn add(&mut self, invoice: &Invoice) {
        for line in &invoice.lines {
            self.0[line.kind.group().index()] += line.amount_cents;
        }
    }

    pub fn get(&self, group: LineGroup) -> Cents {
        self.0[group.index()]
    }

    /// Before VAT.
    pub fn net(&self) -> Cents {
        LineGroup::NET.iter().map(|g| self.get(*g)).sum()
    }

    pub fn vat(&self) -> Cents {
        self.get(LineGroup::Vat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{Basis, InvoiceLine};
    use crate::calendar::Period;
    use crate::event::ShopId;
    use crate::money::{Currency, UnitPrice};

    #[test]
    fn all_lists_every_group_at_its_index_and_net_is_all_but_vat() {
        for (i, g) in LineGroup::ALL.iter().enumerate() {
            assert_eq!(g.index(), i, "{g:?}");
        }
        let net: Vec<_> = LineGroup::ALL
            .into_iter()
            .filter(|g| *g != LineGroup::Vat)
            .collect();
        assert_eq!(net, LineGroup::NET);
    }

    #[test]
    fn usage_is_the_mountings_kinds_and_vat_is_only_vat() {
        for kind in LineKind::ALL {
            let usage = kind.is_mountings() || kind == LineKind::TraceOnly;
            assert_eq!(kind.group() == LineGroup::Usage, usage, "{kind:?}");
            assert_eq!(
                kind.group() == LineGroup::Vat,
                kind == LineKind::Vat,
                "{kind:?}"
            );
        }
    }

    fn line(kind: LineKind, amount_cents: Cents) -> InvoiceLine {
        InvoiceLine {
            kind,
            usage_period: Period {
                year: 2024,
                month: 1,
            },
            quantity: 1,
            unit_price: UnitPrice::parse("0").unwrap(),
            amount_cents,
        }
    }

    #[test]
    fn a_split_sums_each_group_over_invoices_and_net_plus_vat_is_the_total() {
        let invoice = |lines: Vec<InvoiceLine>| Invoice {
            shop: ShopId(0),
            period: Period {
                year: 2024,
                month: 1,
            },
            basis: Basis::Events,
            currency: Currency("EUR".into()),
            total_cents: lines.iter().map(|l| l.amount_cents).sum(),
            lines,
        };
        let a = invoice(vec![
            line(LineKind::Usage, 1_000),
            line(LineKind::LateUsage, 50),
            line(LineKind::Labour, 300),
            line(LineKind::SlaCredit, -120),
            line(LineKind::Vat, 246),
        ]);
        let b = invoice(vec![
            line(LineKind::Package, 2_000),
            line(LineKind::TierFee, 500),
            line(LineKind::Parts, 99),
            line(LineKind::Vat, 520),
        ]);
        let split = GroupCents::of([&a, &b]);
        assert_eq!(split.get(LineGroup::Usage), 1_050);
        assert_eq!(split.get(LineGroup::Subscription), 2_500);
        assert_eq!(split.get(LineGroup::Service), 399);
        assert_eq!(split.get(LineGroup::Credits), -120);
        assert_eq!(split.get(LineGroup::Other), 0);
        assert_eq!(split.vat(), 766);
        assert_eq!(split.net(), 1_050 + 2_500 + 399 - 120);
        assert_eq!(split.net() + split.vat(), a.total_cents + b.total_cents);
    }
}
