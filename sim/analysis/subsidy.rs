//! Cross-subsidy in Faulhaber's sense ("Cross-subsidization: pricing in public enterprises",
//! AER 65(5), 1975; field-notes.md). With C(S) the cost of serving the set S of shops alone
//! and R(S) what they pay:
//! - **stand-alone cost test**: R(S) ≤ C(S) — nobody pays more than serving it alone would cost;
//! - **incremental cost test**: R(S) ≥ C(N) − C(N∖S) — everybody pays at least what the fleet's
//!   cost falls by without it.
//!
//! A tariff is subsidy-free when both hold for every S. There are 2ⁿ coalitions: the caller
//! names the ones tested (each shop alone, and segments such as chains or volume deciles), and
//! the report lists them. Money is cents throughout.

use serde::Serialize;

/// A set of shops tested together, by index into the revenue vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coalition {
    pub name: String,
    pub members: Vec<usize>,
}

/// One coalition's two tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubsidyRow {
    pub coalition: String,
    pub shops: usize,
    pub revenue_cents: i64,
    /// C(S): serving the coalition alone.
    pub stand_alone_cents: i64,
    /// C(N) − C(N∖S): what the fleet's cost falls by without it.
    pub incremental_cents: i64,
    /// R(S) − C(S) where positive: paid beyond its stand-alone cost (it subsidises others).
    pub above_stand_alone_cents: i64,
    /// C(N) − C(N∖S) − R(S) where positive: paid less than it costs the fleet (subsidised).
    pub below_incremental_cents: i64,
}

impl SubsidyRow {
    pub fn fails_stand_alone(&self) -> bool {
        self.above_stand_alone_cents > 0
    }

    pub fn fails_incremental(&self) -> bool {
        self.below_incremental_cents > 0
    }
}

/// The tests over every coalition named, and the money that flows: what the shops failing the
/// stand-alone test pay beyond it, and what the shops failing the incremental test fall short
/// (each over single-shop coalitions only, so no shop counts twice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubsidyReport {
    pub rows: Vec<SubsidyRow>,
    pub fleet_cost_cents: i64,
    pub fleet_revenue_cents: i64,
    pub overpaid_cents: i64,
    pub subsidised_cents: i64,
}

/// Runs both tests on each coalition. `cost(S)` is C(S) for any set of shop indices (sorted,
/// without repeats); it is asked for N, for each S and for each N∖S.
pub fn test_coalitions(
    revenue_cents: &[i64],
    coalitions: &[Coalition],
    cost: impl Fn(&[usize]) -> i64,
) -> SubsidyReport {
    let everyone: Vec<usize> = (0..revenue_cents.len()).collect();
    let fleet_cost = cost(&everyone);
    let rows: Vec<SubsidyRow> = coalitions
        .iter()
        .map(|c| row(revenue_cents, c, &cost, fleet_cost))
        .collect();
    // A segment of one shop is that shop again: each shop counts once.
    let mut seen = std::collections::BTreeSet::new();
    let singles = rows
        .iter()
        .zip(coalitions)
        .filter(|(r, c)| r.shops == 1 && seen.insert(c.members[0]))
        .map(|(r, _)| r);
    let (overpaid, subsidised) = singles.fold((0, 0), |(o, s), r| {
        (o + r.above_stand_alone_cents, s + r.below_incremental_cents)
    });
    SubsidyReport {
        fleet_cost_cents: fleet_cost,
        fleet_revenue_cents: revenue_cents.iter().sum(),
        overpaid_cents: overpaid,
        subsidised_cents: subsidised,
        rows,
    }
}

/// Each shop alone, named by `name(index)`: the coalitions every report tests.
pub fn single_shops(shops: usize, name: impl Fn(usize) -> String) -> Vec<Coalition> {
    (0..shops)
        .map(|i| Coalition {
            name: name(i),
            members: vec![i],
        })
        .collect()
}

fn row(
    revenue_cents: &[i64],
    c: &Coalition,
    cost: &impl Fn(&[usize]) -> i64,
    fleet_cost: i64,
) -> SubsidyRow {
    let mut members = c.members.clone();
    members.sort_unstable();
    members.dedup();
    let rest: Vec<usize> = (0..revenue_cents.len())
        .filter(|i| members.binary_search(i).is_err())
        .collect();
    let revenue: i64 = members.iter().map(|&i| revenue_cents[i]).sum();
    let stand_alone = cost(&members);
    let incremental = fleet_cost - cost(&rest);
    SubsidyRow {
        coalition: c.name.clone(),
        shops: members.len(),
        revenue_cents: revenue,
        stand_alone_cents: stand_alone,
        incremental_cents: incremental,
        above_stand_alone_cents: (revenue - stand_alone).max(0),
        below_incremental_cents: (incremental - revenue).max(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three shops with costs of their own (machine, consumables, parts) and a technician's
    /// round trip they share: serving any non-empty set costs its own costs plus 150.
    fn cost(members: &[usize]) -> i64 {
        const OWN: [i64; 3] = [100, 200, 300];
        let own: i64 = members.iter().map(|&i| OWN[i]).sum();
        own + if members.is_empty() { 0 } else { 150 }
    }

    #[test]
    fn a_three_shop_fleet_where_one_shop_fails_each_test() {
        // C(N) = 750, paid in full. Shop 0: SA = 250, IC = 750 − C({1,2}) = 100; it pays 300,
        // 50 above its stand-alone cost. Shop 1: SA = 350, IC = 750 − C({0,2}) = 200; it pays
        // 140, 60 below its incremental cost. Shop 2: SA = 450, IC = 300, pays 310: passes.
        let revenue = [300, 140, 310];
        let mut coalitions = single_shops(3, |i| format!("S{i}"));
        coalitions.push(Coalition {
            name: "first two".into(),
            members: vec![1, 0],
        });
        let r = test_coalitions(&revenue, &coalitions, cost);
        assert_eq!((r.fleet_cost_cents, r.fleet_revenue_cents), (750, 750));
        let by_name = |n: &str| r.rows.iter().find(|row| row.coalition == n).unwrap();
        let s0 = by_name("S0");
        assert_eq!((s0.stand_alone_cents, s0.incremental_cents), (250, 100));
        assert!(s0.fails_stand_alone() && !s0.fails_incremental());
        assert_eq!(s0.above_stand_alone_cents, 50);
        let s1 = by_name("S1");
        assert_eq!((s1.stand_alone_cents, s1.incremental_cents), (350, 200));
        assert!(s1.fails_incremental() && !s1.fails_stand_alone());
        assert_eq!(s1.below_incremental_cents, 60);
        let s2 = by_name("S2");
        assert_eq!((s2.stand_alone_cents, s2.incremental_cents), (450, 300));
        assert!(!s2.fails_stand_alone() && !s2.fails_incremental());
        // Together, shops 0 and 1 pay 440, within C({0,1}) = 450 and above the 300 they add.
        let pair = by_name("first two");
        assert_eq!(pair.shops, 2);
        assert_eq!(
            (
                pair.revenue_cents,
                pair.stand_alone_cents,
                pair.incremental_cents
            ),
            (440, 450, 300)
        );
        assert!(!pair.fails_stand_alone() && !pair.fails_incremental());
        // Shop 0 pays 50 too much, shop 1 60 too little (shop 2's 10 above its IC covers it).
        assert_eq!((r.overpaid_cents, r.subsidised_cents), (50, 60));
    }

    #[test]
    fn prices_at_each_shops_own_cost_plus_a_share_of_the_shared_cost_are_subsidy_free() {
        // Shared 150 split equally: every shop pays between its incremental and stand-alone cost.
        let revenue = [150, 250, 350];
        let r = test_coalitions(&revenue, &single_shops(3, |i| i.to_string()), cost);
        assert!(r
            .rows
            .iter()
            .all(|row| !row.fails_stand_alone() && !row.fails_incremental()));
        assert_eq!((r.overpaid_cents, r.subsidised_cents), (0, 0));
    }
}
