//! Sharing an amount out exactly: the largest-remainder method (Hamilton's), deterministic.
//!
//! Used wherever one amount is billed in parts, e.g. a full-service lump sum over the months of
//! its term: the parts always add up to the whole, to the cent.

use crate::money::Cents;

/// Splits `total` in proportion to `weights`: each share is first the floor of its exact
/// proportional part; the cents left over go one each to the shares with the largest
/// remainders, ties broken by the lower index. A negative total is split as its magnitude
/// and negated, so a credit splits exactly like the matching charge.
///
/// The shares always sum to `total`, and the result depends only on the arguments.
///
/// # Panics
/// If `weights` is empty or they sum to zero (there is nothing to share in proportion to).
pub fn split_largest_remainder(total: Cents, weights: &[u64]) -> Vec<Cents> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    assert!(
        sum > 0,
        "split_largest_remainder: weights must not all be zero"
    );
    let magnitude = u128::from(total.unsigned_abs());
    let mut shares: Vec<u128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = magnitude * u128::from(w);
        shares.push(exact / sum);
        remainders.push((exact % sum, i));
    }
    let given: u128 = shares.iter().sum();
    let left = (magnitude - given) as usize;
    debug_assert!(left < weights.len());
    // Largest remainder first; equal remainders by index.
    remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(left) {
        shares[i] += 1;
    }
    let sign = if total < 0 { -1 } else { 1 };
    let out: Vec<Cents> = shares.into_iter().map(|s| sign * s as Cents).collect();
    debug_assert_eq!(
        out.iter().map(|&c| i128::from(c)).sum::<i128>(),
        i128::from(total)
    );
    out
}

/// `total` in `parts` equal-weight shares (the first shares get the extra cents).
pub fn split_evenly(total: Cents, parts: usize) -> Vec<Cents> {
    split_largest_remainder(total, &vec![1; parts])
}

/// Share `index` of [`split_evenly`]`(total, parts)` without building the others: with equal
/// weights every remainder is equal, so the first `|total| mod parts` shares get the extra cent.
pub fn even_share(total: Cents, parts: usize, index: usize) -> Cents {
    assert!(parts > 0, "even_share: no parts");
    let magnitude = total.unsigned_abs();
    let n = parts as u64;
    let share = magnitude / n + u64::from((index as u64) < magnitude % n);
    let share = share as Cents;
    if total < 0 {
        -share
    } else {
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_lump_sum_over_48_months() {
        // 7,200.01 EUR over 48 months: 15.000208… each → 15.00 × 47 + 15.01 once (index 0).
        let shares = split_evenly(720_001, 48);
        assert_eq!(shares[0], 15_001);
        assert!(shares[1..].iter().all(|&s| s == 15_000));
        assert_eq!(shares.iter().sum::<i64>(), 720_001);
    }

    #[test]
    fn largest_remainders_get_the_cents_ties_by_index() {
        // 100 cents by 1:1:1 → 33.33… each, one cent left for index 0.
        assert_eq!(split_largest_remainder(100, &[1, 1, 1]), vec![34, 33, 33]);
        // 10 by 3:3:4 → 3, 3, 4 exactly.
        assert_eq!(split_largest_remainder(10, &[3, 3, 4]), vec![3, 3, 4]);
        // 10 by 1:2:4 → 1.43, 2.86, 5.71 → floors 1, 2, 5; two left: .86 (index 1), .71 (2).
        assert_eq!(split_largest_remainder(10, &[1, 2, 4]), vec![1, 3, 6]);
        // zero weights get nothing.
        assert_eq!(split_largest_remainder(5, &[0, 1, 0]), vec![0, 5, 0]);
    }

    #[test]
    fn a_credit_splits_like_the_charge() {
        assert_eq!(
            split_largest_remainder(-100, &[1, 1, 1]),
            vec![-34, -33, -33]
        );
    }

    #[test]
    #[should_panic(expected = "must not all be zero")]
    fn zero_weights_are_a_bug() {
        split_largest_remainder(1, &[0, 0]);
    }

    proptest! {
        #[test]
        fn even_share_is_the_split_s_share(total in -10_000_000_i64..10_000_000, parts in 1_usize..60) {
            let all = split_evenly(total, parts);
            for (i, &s) in all.iter().enumerate() {
                prop_assert_eq!(even_share(total, parts, i), s);
            }
        }

        #[test]
        fn shares_sum_exactly_and_are_deterministic(
            total in -10_000_000_000_i64..10_000_000_000,
            weights in proptest::collection::vec(0_u64..1_000_000, 1..60),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let a = split_largest_remainder(total, &weights);
            prop_assert_eq!(a.iter().sum::<i64>(), total);
            prop_assert_eq!(&a, &split_largest_remainder(total, &weights));
            // Each share is within one cent of its exact proportional part.
            let sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            for (share, &w) in a.iter().zip(&weights) {
                let exact_num = i128::from(total) * i128::from(w);
                let diff = i128::from(*share) * sum - exact_num;
                prop_assert!(diff.abs() < sum, "share {} weight {}", share, w);
            }
        }
    }
}
