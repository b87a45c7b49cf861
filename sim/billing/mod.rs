//! The embedded billing engine: monthly invoices from metered usage and each shop's price.
//!
//! Billing is a pure function of (usage, price book): any invoice can be recomputed from the
//! metering engine's public query. Money follows `money`'s rule: one rounding per line.

use crate::event::ShopId;
use crate::metering::{Period, UsageRow};
use crate::money::{Cents, Currency, MoneyError, UnitPrice};
use rust_decimal::Decimal;
use serde::Serialize;

/// The price per billable mounting of every shop, indexed by shop id.
#[derive(Clone, Debug)]
pub struct PriceBook {
    pub currency: Currency,
    pub per_mounting: Vec<UnitPrice>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    pub description: &'static str,
    pub quantity: u64,
    #[serde(serialize_with = "price_as_string")]
    pub unit_price: UnitPrice,
    pub amount_cents: Cents,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invoice {
    pub shop: ShopId,
    pub period: Period,
    pub lines: Vec<InvoiceLine>,
    pub total_cents: Cents,
}

impl Invoice {
    /// Billable mountings on the invoice.
    pub fn billed_mountings(&self) -> u64 {
        self.lines.first().map_or(0, |l| l.quantity)
    }

    pub fn unit_price(&self) -> UnitPrice {
        self.lines
            .first()
            .map_or(UnitPrice(Decimal::ZERO), |l| l.unit_price)
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
}

pub const LINE_MOUNTINGS: &str = "Mountings (pairs edged in store)";
pub const LINE_TRACE_ONLY: &str = "Frame tracing for remote-edged orders (not billed)";

/// Invoices for one period: one per shop in the price book, in shop order, zero-usage
/// shops included. `usage` must be sorted by shop (as `MeteringEngine::usage` returns it).
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
            invoice(
                ShopId(i as u32),
                period,
                row,
                book.per_mounting[i],
                &book.currency,
            )
        })
        .collect()
}

fn invoice(
    shop: ShopId,
    period: Period,
    usage: &UsageRow,
    price: UnitPrice,
    currency: &Currency,
) -> Result<Invoice, BillingError> {
    let money = |source| BillingError::Money {
        shop,
        period,
        source,
    };
    let lines = vec![
        InvoiceLine {
            description: LINE_MOUNTINGS,
            quantity: usage.billable_mountings,
            unit_price: price,
            amount_cents: price
                .line_amount(usage.billable_mountings, currency)
                .map_err(money)?,
        },
        InvoiceLine {
            description: LINE_TRACE_ONLY,
            quantity: usage.trace_only,
            unit_price: UnitPrice(Decimal::ZERO),
            amount_cents: 0,
        },
    ];
    let total_cents = lines
        .iter()
        .try_fold(0_i64, |sum, l| sum.checked_add(l.amount_cents))
        .ok_or_else(|| money(MoneyError::Overflow))?;
    Ok(Invoice {
        shop,
        period,
        lines,
        total_cents,
    })
}

fn price_as_string<S: serde::Serializer>(p: &UnitPrice, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string())
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
