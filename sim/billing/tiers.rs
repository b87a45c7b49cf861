//! Price tiers, in Kill Bill's two modes.
//!
//! - **Graduated** (ALL_TIER): each mounting is priced at the tier it falls in: the first 50 at
//!   the first tier's price, the next ones at the second's, and so on.
//! - **Volume** (TOP_TIER): every mounting of the month is priced at the tier the month's total
//!   falls in.
//!
//! A tier may carry a flat fee, charged once in a month whose usage reaches the tier (graduated:
//! every tier reached; volume: the tier of the total). Quantities are per billing period; tier
//! bounds are not prorated.

use crate::money::UnitPrice;
use rust_decimal::Decimal;

/// One tier. `up_to` is the last mounting (inclusive, counted from 1) in the tier; the last
/// tier has none. Tiers are listed in increasing `up_to` (checked when a catalogue loads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub up_to: Option<u64>,
    pub price: UnitPrice,
    pub flat_fee: UnitPrice,
}

/// A tier's share of a month's usage: `(tier index, mountings in it)`.
pub type TierShare = (usize, u64);

/// Graduated: the mountings in each tier reached, in tier order. The first tier is always
/// listed (with 0 mountings in an idle month); later tiers only once reached.
pub fn graduated(tiers: &[Tier], quantity: u64) -> Vec<TierShare> {
    let mut out = Vec::with_capacity(tiers.len());
    let mut lower = 0_u64;
    for (i, tier) in tiers.iter().enumerate() {
        if i > 0 && quantity <= lower {
            break;
        }
        let upper = tier.up_to.unwrap_or(u64::MAX);
        let in_tier = quantity.min(upper).saturating_sub(lower);
        out.push((i, in_tier));
        lower = upper;
    }
    out
}

/// Volume: the index of the tier that a month's total falls in (tier 0 for an idle month).
pub fn volume(tiers: &[Tier], quantity: u64) -> usize {
    tiers
        .iter()
        .position(|t| t.up_to.is_none_or(|u| quantity <= u))
        .unwrap_or(tiers.len().saturating_sub(1))
}

/// The exact (unrounded) graduated charge, flat fees included: for tests and checks.
pub fn graduated_exact(tiers: &[Tier], quantity: u64) -> Decimal {
    graduated(tiers, quantity)
        .into_iter()
        .map(|(i, q)| {
            let fee = if q > 0 {
                tiers[i].flat_fee.0
            } else {
                Decimal::ZERO
            };
            Decimal::from(q) * tiers[i].price.0 + fee
        })
        .sum()
}

/// The exact (unrounded) volume charge, flat fee included (none for an idle month).
pub fn volume_exact(tiers: &[Tier], quantity: u64) -> Decimal {
    let t = &tiers[volume(tiers, quantity)];
    let fee = if quantity > 0 {
        t.flat_fee.0
    } else {
        Decimal::ZERO
    };
    Decimal::from(quantity) * t.price.0 + fee
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> UnitPrice {
        UnitPrice::parse(s).unwrap()
    }

    fn tiers() -> Vec<Tier> {
        vec![
            Tier {
                up_to: Some(50),
                price: p("4.50"),
                flat_fee: p("0"),
            },
            Tier {
                up_to: Some(150),
                price: p("3.60"),
                flat_fee: p("10"),
            },
            Tier {
                up_to: None,
                price: p("2.90"),
                flat_fee: p("0"),
            },
        ]
    }

    #[test]
    fn graduated_fills_tiers_in_order() {
        assert_eq!(graduated(&tiers(), 0), vec![(0, 0)]);
        assert_eq!(graduated(&tiers(), 50), vec![(0, 50)]);
        assert_eq!(graduated(&tiers(), 51), vec![(0, 50), (1, 1)]);
        assert_eq!(graduated(&tiers(), 200), vec![(0, 50), (1, 100), (2, 50)]);
        // 50 × 4.50 + 100 × 3.60 + 10 + 50 × 2.90 = 225 + 360 + 10 + 145 = 740.
        assert_eq!(graduated_exact(&tiers(), 200), Decimal::from(740));
    }

    #[test]
    fn volume_prices_everything_at_the_tier_of_the_total() {
        assert_eq!(volume(&tiers(), 0), 0);
        assert_eq!(volume(&tiers(), 50), 0);
        assert_eq!(volume(&tiers(), 51), 1);
        assert_eq!(volume(&tiers(), 151), 2);
        // 151 × 2.90 = 437.90.
        assert_eq!(volume_exact(&tiers(), 151), "437.90".parse().unwrap());
    }

    /// Brute force: price each mounting one by one.
    fn per_unit_graduated(tiers: &[Tier], q: u64) -> Decimal {
        let mut total = Decimal::ZERO;
        let mut reached = vec![false; tiers.len()];
        for unit in 1..=q {
            let i = tiers
                .iter()
                .position(|t| t.up_to.is_none_or(|u| unit <= u))
                .unwrap();
            total += tiers[i].price.0;
            reached[i] = true;
        }
        let fees: Decimal = tiers
            .iter()
            .zip(&reached)
            .filter(|(_, &r)| r)
            .map(|(t, _)| t.flat_fee.0)
            .sum();
        total + fees
    }

    fn per_unit_volume(tiers: &[Tier], q: u64) -> Decimal {
        if q == 0 {
            return Decimal::ZERO;
        }
        let i = tiers
            .iter()
            .position(|t| t.up_to.is_none_or(|u| q <= u))
            .unwrap();
        (1..=q).map(|_| tiers[i].price.0).sum::<Decimal>() + tiers[i].flat_fee.0
    }

    fn arb_tiers() -> impl Strategy<Value = Vec<Tier>> {
        proptest::collection::vec((1_u64..80, 0_i64..900, 0_i64..3000), 1..5).prop_map(|v| {
            let mut bound = 0;
            let n = v.len();
            v.into_iter()
                .enumerate()
                .map(|(i, (width, cents, fee))| {
                    bound += width;
                    Tier {
                        up_to: (i + 1 < n).then_some(bound),
                        price: UnitPrice(Decimal::new(cents, 2)),
                        flat_fee: UnitPrice(Decimal::new(fee, 2)),
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn graduated_agrees_with_brute_force(tiers in arb_tiers(), q in 0_u64..400) {
            prop_assert_eq!(graduated_exact(&tiers, q), per_unit_graduated(&tiers, q));
            let shares = graduated(&tiers, q);
            prop_assert_eq!(shares.iter().map(|s| s.1).sum::<u64>(), q);
        }

        #[test]
        fn volume_agrees_with_brute_force(tiers in arb_tiers(), q in 0_u64..400) {
            prop_assert_eq!(volume_exact(&tiers, q), per_unit_volume(&tiers, q));
        }
    }
}
