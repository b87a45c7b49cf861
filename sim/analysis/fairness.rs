//! How evenly a tariff charges a fleet (field-notes.md, "Pricing fairness"): the
//! volume-weighted Gini of the effective price per mounting and its Lorenz curve, weighted
//! quantiles, the spread of a shop's monthly bills, and the rank correlation of price with cost.
//!
//! These are statistics, so they are `f64`; the money they start from is integer cents.
//! Every sum runs in a fixed order (sorted by value, then by index), so a result is the same
//! bits on every platform and whatever order the shops came in.

/// One shop as the statistics see it: its bill (cents) and its mountings (the weight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payer {
    pub bill_cents: i64,
    pub mountings: u64,
}

impl Payer {
    /// The effective price per mounting, in cents.
    fn price(&self) -> f64 {
        self.bill_cents as f64 / self.mountings as f64
    }
}

/// The payers with mountings, as (price per mounting, weight), sorted by price (ties: input
/// order). A shop without mountings has no price and weighs nothing.
fn priced(payers: &[Payer]) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64, usize)> = payers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.mountings > 0)
        .map(|(i, p)| (p.price(), p.mountings as f64, i))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    v.into_iter().map(|(x, w, _)| (x, w)).collect()
}

/// G = ΣᵢΣⱼ wᵢwⱼ|xᵢ − xⱼ| / (2 (Σw)² μ), xᵢ = bill ÷ mountings, wᵢ = mountings, μ the
/// weighted mean price. Computed in one pass over the sorted prices: with Bⱼ and Aⱼ the
/// weight below and above xⱼ, the double sum is 2 Σⱼ wⱼxⱼ (Bⱼ − Aⱼ). 0 when every shop pays
/// the same per mounting (or nobody pays anything: no dispersion to measure).
pub fn gini(payers: &[Payer]) -> f64 {
    let v = priced(payers);
    let total: f64 = v.iter().map(|&(_, w)| w).sum();
    let paid: f64 = v.iter().map(|&(x, w)| x * w).sum();
    if total == 0.0 || paid == 0.0 {
        return 0.0;
    }
    let mut below = 0.0;
    let mut sum = 0.0;
    for &(x, w) in &v {
        let above = total - below - w;
        sum += w * x * (below - above);
        below += w;
    }
    sum / (total * paid)
}

/// The Lorenz curve of payments against mountings: from (0, 0), the cumulative share of
/// mountings and of the money paid, shops taken from the cheapest price per mounting up.
/// Ends at (1, 1); the diagonal is perfect equality.
pub fn lorenz(payers: &[Payer]) -> Vec<(f64, f64)> {
    let v = priced(payers);
    let total: f64 = v.iter().map(|&(_, w)| w).sum();
    let paid: f64 = v.iter().map(|&(x, w)| x * w).sum();
    let mut curve = vec![(0.0, 0.0)];
    if total == 0.0 {
        return curve;
    }
    let (mut w_sum, mut p_sum) = (0.0, 0.0);
    for &(x, w) in &v {
        w_sum += w;
        p_sum += x * w;
        let share = if paid == 0.0 {
            w_sum / total
        } else {
            p_sum / paid
        };
        curve.push((w_sum / total, share));
    }
    curve
}

/// The price per mounting (cents) below which a share `q` (0–1) of the mountings is charged:
/// the lowest price whose cumulative weight reaches q × Σw. `None` without mountings.
pub fn weighted_quantile(payers: &[Payer], q: f64) -> Option<f64> {
    let v = priced(payers);
    let total: f64 = v.iter().map(|&(_, w)| w).sum();
    let target = q.clamp(0.0, 1.0) * total;
    let mut cumulative = 0.0;
    for &(x, w) in &v {
        cumulative += w;
        if cumulative >= target {
            return Some(x);
        }
    }
    v.last().map(|&(x, _)| x)
}

/// The coefficient of variation of a shop's monthly bills (population standard deviation ÷
/// mean): how predictable its invoice is. `None` without months or with a zero mean.
pub fn coefficient_of_variation(monthly_cents: &[i64]) -> Option<f64> {
    if monthly_cents.is_empty() {
        return None;
    }
    let n = monthly_cents.len() as f64;
    let mean = monthly_cents.iter().map(|&c| c as f64).sum::<f64>() / n;
    if mean == 0.0 {
        return None;
    }
    let var = monthly_cents
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    Some(var.sqrt() / mean.abs())
}

/// Spearman's rank correlation of two paired samples (ties get their average rank): +1 when
/// one always grows with the other. `None` for fewer than two pairs or a constant sample.
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let xs = ranks(pairs.iter().map(|p| p.0));
    let ys = ranks(pairs.iter().map(|p| p.1));
    pearson(&xs, &ys)
}

/// 1-based ranks, ties averaged.
fn ranks(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<(f64, usize)> = values.enumerate().map(|(i, x)| (x, i)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = vec![0.0; v.len()];
    let mut start = 0;
    while start < v.len() {
        let mut end = start + 1;
        while end < v.len() && v[end].0 == v[start].0 {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &(_, i) in &v[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payer(bill_cents: i64, mountings: u64) -> Payer {
        Payer {
            bill_cents,
            mountings,
        }
    }

    /// The definition, term by term.
    fn gini_by_definition(payers: &[Payer]) -> f64 {
        let v: Vec<(f64, f64)> = payers
            .iter()
            .filter(|p| p.mountings > 0)
            .map(|p| (p.bill_cents as f64 / p.mountings as f64, p.mountings as f64))
            .collect();
        let w: f64 = v.iter().map(|p| p.1).sum();
        let mu = v.iter().map(|p| p.0 * p.1).sum::<f64>() / w;
        let mut double = 0.0;
        for a in &v {
            for b in &v {
                double += a.1 * b.1 * (a.0 - b.0).abs();
            }
        }
        double / (2.0 * w * w * mu)
    }

    #[test]
    fn identical_shops_have_a_gini_of_zero() {
        let fleet = vec![payer(38_500, 100); 50];
        assert_eq!(gini(&fleet), 0.0);
        // Same price per mounting at any volume: still no dispersion.
        let scaled: Vec<Payer> = (1..=20).map(|k| payer(385 * k, k as u64)).collect();
        assert!(gini(&scaled).abs() < 1e-12, "{}", gini(&scaled));
    }

    #[test]
    fn one_shop_paying_everything_has_a_gini_of_one_minus_one_over_n() {
        for n in [2usize, 3, 10, 400] {
            let mut fleet = vec![payer(0, 120); n];
            fleet[n / 2] = payer(1_000_000, 120);
            let expected = 1.0 - 1.0 / n as f64;
            assert!(
                (gini(&fleet) - expected).abs() < 1e-12,
                "n = {n}: {}",
                gini(&fleet)
            );
        }
    }

    #[test]
    fn a_two_shop_fleet_by_hand() {
        // 100 mountings at 2.00 and 300 at 4.00: W = 400, μ = 3.50 (350 cents),
        // ΣΣ = 2 × 100 × 300 × 200 = 12,000,000; G = 12e6 / (2 × 400² × 350) = 3/28.
        let fleet = [payer(20_000, 100), payer(120_000, 300)];
        assert!(
            (gini(&fleet) - 3.0 / 28.0).abs() < 1e-12,
            "{}",
            gini(&fleet)
        );
        // Lorenz: the cheap shop has 1/4 of the mountings and 20,000 / 140,000 of the money.
        let curve = lorenz(&fleet);
        assert_eq!(curve.len(), 3);
        assert_eq!(curve[1].0, 0.25);
        assert!((curve[1].1 - 1.0 / 7.0).abs() < 1e-12);
        assert_eq!(curve[2], (1.0, 1.0));
        assert_eq!(weighted_quantile(&fleet, 0.10), Some(200.0));
        assert_eq!(weighted_quantile(&fleet, 0.25), Some(200.0));
        assert_eq!(weighted_quantile(&fleet, 0.50), Some(400.0));
    }

    #[test]
    fn shops_without_mountings_weigh_nothing() {
        let fleet = [payer(20_000, 100), payer(120_000, 300)];
        let with_idle = [payer(20_000, 100), payer(5_000, 0), payer(120_000, 300)];
        assert_eq!(gini(&fleet), gini(&with_idle));
        assert_eq!(lorenz(&fleet), lorenz(&with_idle));
    }

    #[test]
    fn monthly_bills_spread_and_rank_correlation_by_hand() {
        assert_eq!(coefficient_of_variation(&[100, 100, 100]), Some(0.0));
        // Mean 200, deviations ±100: σ = 100, CV = 0.5.
        assert_eq!(coefficient_of_variation(&[100, 300]), Some(0.5));
        assert_eq!(coefficient_of_variation(&[]), None);
        assert_eq!(coefficient_of_variation(&[0, 0]), None);
        let rising = [(1.0, 10.0), (2.0, 20.0), (3.0, 25.0), (4.0, 100.0)];
        assert_eq!(spearman(&rising), Some(1.0));
        let falling: Vec<_> = rising.iter().map(|&(x, y)| (x, -y)).collect();
        assert_eq!(spearman(&falling), Some(-1.0));
        // Ties share their mean rank: x ranks 1.5, 1.5, 3; y ranks 1, 2, 3.
        let tied = [(5.0, 1.0), (5.0, 2.0), (9.0, 3.0)];
        let r = spearman(&tied).unwrap();
        assert!((r - 0.75f64.sqrt()).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    proptest! {
        #[test]
        fn the_one_pass_gini_is_the_definition(
            shops in prop::collection::vec((0i64..2_000_000, 0u64..5_000), 1..60)
        ) {
            let fleet: Vec<Payer> = shops.iter().map(|&(b, m)| payer(b, m)).collect();
            let priced = fleet.iter().any(|p| p.mountings > 0 && p.bill_cents > 0);
            prop_assume!(priced);
            let fast = gini(&fleet);
            let slow = gini_by_definition(&fleet);
            prop_assert!((fast - slow).abs() < 1e-9, "{} vs {}", fast, slow);
            prop_assert!((0.0..1.0).contains(&fast));
            // The order of the shops changes nothing.
            let mut reversed = fleet.clone();
            reversed.reverse();
            prop_assert!((gini(&reversed) - fast).abs() < 1e-12);
        }
    }
}
