//! Money: amounts are integer minor units (cents), rates are decimals, never floats.
//!
//! Rounding rule (the only one in fleetsim): an amount is computed exactly as
//! `quantity × unit price` in decimal, then rounded **once per invoice line** to the
//! currency's minor unit, half away from zero ("HALF_UP" in Kill Bill's terms).
//! Totals are sums of already-rounded lines, so lines always add up to the total.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in minor units of `Currency` (cents for EUR).
pub type Cents = i64;

/// ISO 4217 code; fleetsim only needs two-decimal currencies today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(pub String);

impl Currency {
    pub fn minor_digits(&self) -> u32 {
        2
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A price per unit, in major units (e.g. `3.85` EUR), kept exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitPrice(pub Decimal);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("amount overflows 64-bit cents")]
    Overflow,
}

impl UnitPrice {
    /// Parses a decimal price such as `"3.85"`; at most 6 decimal places are meaningful.
    pub fn parse(text: &str) -> Option<UnitPrice> {
        text.trim().parse::<Decimal>().ok().map(UnitPrice)
    }

    /// `quantity × self` for a signed quantity (a credit is negative). Half away from zero is
    /// symmetric, so a credit of `q` is exactly minus the charge for `q`.
    pub fn signed_line_amount(
        self,
        quantity: i64,
        currency: &Currency,
    ) -> Result<Cents, MoneyError> {
        let magnitude = self.line_amount(quantity.unsigned_abs(), currency)?;
        Ok(if quantity < 0 { -magnitude } else { magnitude })
    }

    /// `quantity × self`, rounded half away from zero to minor units.
    pub fn line_amount(self, quantity: u64, currency: &Currency) -> Result<Cents, MoneyError> {
        let exact = Decimal::from(quantity)
            .checked_mul(self.0)
            .ok_or(MoneyError::Overflow)?;
        let minor = exact
            .checked_mul(Decimal::from(10_i64.pow(currency.minor_digits())))
            .ok_or(MoneyError::Overflow)?;
        minor
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .to_i64()
            .ok_or(MoneyError::Overflow)
    }
}

impl UnitPrice {
    /// `quantity × self × numerator / denominator` exact, rounded once half away from zero: a
    /// prorated fee (`quantity` = days covered, `denominator` = days in the month). The exact
    /// fraction is rounded directly, never a rounded daily rate times days.
    pub fn signed_prorated_amount(
        self,
        quantity: i64,
        denominator: u32,
        currency: &Currency,
    ) -> Result<Cents, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::Overflow);
        }
        let minor = Decimal::from(quantity)
            .checked_mul(self.0)
            .and_then(|d| d.checked_mul(Decimal::from(10_i64.pow(currency.minor_digits()))))
            .ok_or(MoneyError::Overflow)?;
        // `minor / denominator` may not terminate: round the exact quotient via integer
        // arithmetic on the scaled mantissa instead of a truncated decimal.
        round_div(minor, denominator).ok_or(MoneyError::Overflow)
    }
}

/// `value / divisor` rounded half away from zero to an integer, exactly.
fn round_div(value: Decimal, divisor: u32) -> Option<Cents> {
    // value = mantissa / 10^scale; value / divisor = mantissa / (divisor × 10^scale).
    let mantissa = value.mantissa();
    let den = i128::from(divisor).checked_mul(10_i128.checked_pow(value.scale())?)?;
    let (q, r) = (mantissa / den, mantissa % den);
    let rounded = if 2 * r.abs() >= den {
        q + mantissa.signum()
    } else {
        q
    };
    i64::try_from(rounded).ok()
}

/// At least two decimals (`3.20`), more only when the price has them (`4.455`).
impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0.normalize();
        if d.scale() < 2 {
            d.rescale(2);
        }
        write!(f, "{d}")
    }
}

/// Formats cents as a major-unit decimal string, e.g. `41580` → `"415.80"`.
pub fn format_cents(cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency("EUR".into())
    }

    #[test]
    fn line_amount_is_exact_for_whole_cents() {
        let p = UnitPrice::parse("3.85").unwrap();
        assert_eq!(p.line_amount(108, &eur()), Ok(41_580));
        assert_eq!(p.line_amount(0, &eur()), Ok(0));
    }

    #[test]
    fn half_cent_rounds_away_from_zero() {
        // 3 × 0.005 = 0.015 EUR = 1.5 cents → 2 cents.
        let p = UnitPrice::parse("0.005").unwrap();
        assert_eq!(p.line_amount(3, &eur()), Ok(2));
        // 1 × 0.004 = 0.4 cent → 0.
        assert_eq!(
            UnitPrice::parse("0.004").unwrap().line_amount(1, &eur()),
            Ok(0)
        );
        // 1 × 2.345 = 234.5 cents → 235.
        assert_eq!(
            UnitPrice::parse("2.345").unwrap().line_amount(1, &eur()),
            Ok(235)
        );
    }

    #[test]
    fn a_credit_is_minus_the_charge() {
        let p = UnitPrice::parse("2.345").unwrap();
        assert_eq!(p.signed_line_amount(-1, &eur()), Ok(-235));
        assert_eq!(p.signed_line_amount(1, &eur()), Ok(235));
        assert_eq!(
            p.signed_line_amount(i64::MIN, &eur()),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let p = UnitPrice::parse("79228162514264337593543950335").unwrap();
        assert_eq!(p.line_amount(u64::MAX, &eur()), Err(MoneyError::Overflow));
    }

    #[test]
    fn prices_show_at_least_two_decimals() {
        assert_eq!(UnitPrice::parse("3.2").unwrap().to_string(), "3.20");
        assert_eq!(UnitPrice::parse("3.2000").unwrap().to_string(), "3.20");
        assert_eq!(UnitPrice::parse("4.455").unwrap().to_string(), "4.455");
        assert_eq!(UnitPrice::parse("4").unwrap().to_string(), "4.00");
    }

    #[test]
    fn prorated_amounts_round_the_exact_fraction_once() {
        let fee = UnitPrice::parse("99.00").unwrap();
        // 99 × 17 / 31 = 54.2903… → 54.29.
        assert_eq!(fee.signed_prorated_amount(17, 31, &eur()), Ok(5_429));
        assert_eq!(fee.signed_prorated_amount(31, 31, &eur()), Ok(9_900));
        // 0.01 × 15 / 30 = 0.005 exactly → 1 cent (half away from zero), -1 for a credit.
        let cent = UnitPrice::parse("0.01").unwrap();
        assert_eq!(cent.signed_prorated_amount(15, 30, &eur()), Ok(1));
        assert_eq!(cent.signed_prorated_amount(-15, 30, &eur()), Ok(-1));
        // 0.01 × 14 / 30 = 0.00466… → 0.
        assert_eq!(cent.signed_prorated_amount(14, 30, &eur()), Ok(0));
    }

    #[test]
    fn formats_cents() {
        assert_eq!(format_cents(41_580), "415.80");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(-105), "-1.05");
    }
}
