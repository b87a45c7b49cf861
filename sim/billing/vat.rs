//! VAT: computed once per invoice on the net total (the sum of the already-rounded net lines),
//! per rate, as EU invoicing does — never per line, so VAT does not accumulate per-line rounding.
//! A plan contract has one rate (the catalogue's `vat_percent`), so an invoice has one VAT line:
//! quantity 1, unit price the exact VAT `net × rate / 100`, amount that rounded once, half away
//! from zero. A net credit gets negative VAT, exactly minus the VAT of the matching charge.

use crate::money::{Cents, UnitPrice};
use rust_decimal::Decimal;

/// The exact VAT on `net_cents` at `percent`, in major units (the VAT line's unit price).
pub fn exact_vat(net_cents: Cents, percent: Decimal) -> UnitPrice {
    UnitPrice(Decimal::new(net_cents, 2) * percent / Decimal::ONE_HUNDRED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn vat_is_on_the_total_rounded_once() {
        let eur = Currency("EUR".into());
        let pct: Decimal = "20".parse().unwrap();
        // Three lines of 0.02: per-line VAT would be 3 × round(0.004) = 0; on the total
        // 0.06 × 20 % = 0.012 → 0.01.
        let v = exact_vat(6, pct);
        assert_eq!(v.0, "0.012".parse().unwrap());
        assert_eq!(v.line_amount(1, &eur), Ok(1));
        // 417.29 × 20 % = 83.458 → 83.46; a credit of the same is -83.46.
        assert_eq!(exact_vat(41_729, pct).line_amount(1, &eur), Ok(8_346));
        assert_eq!(
            exact_vat(-41_729, pct).signed_line_amount(1, &eur),
            Ok(-8_346)
        );
        // 5.5 %: 10.01 × 5.5 % = 0.55055 → 0.55.
        let reduced: Decimal = "5.5".parse().unwrap();
        assert_eq!(exact_vat(1_001, reduced).line_amount(1, &eur), Ok(55));
    }
}
