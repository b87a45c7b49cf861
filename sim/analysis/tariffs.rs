//! Judging pricing alternatives on one fleet: for each, what the provider earns against the
//! cost to serve, how evenly it charges (`fairness`), who subsidises whom (`subsidy`, on the
//! cost game below), and each shop's regret. A pure function of the shops' monthly bills,
//! their mountings and their costs: nothing here knows engines or the simulation.
//!
//! **The cost game** C(S), the cost of serving a set S of shops alone (README, "Fairness"):
//! every shop's own costs (its machine, consumables, parts, technician time on site, loaner
//! logistics, preventive visits) are its alone; technicians' travel is what shops share. A
//! region's `k` technicians each cover area ÷ k, so a trip's length grows as √(area ÷ k): a
//! coalition served alone needs technicians in proportion to its share of the region's travel
//! (at least one), and its trips are longer by √(k ÷ k(S)). So
//! C(S) = Σᵢ∈S ownᵢ + Σ_r travel_r(S) · √(k_r ÷ k_r(S)), k_r(S) = max(1, ⌈k_r · travel_r(S) ÷
//! travel_r(N)⌉), rounded once to cents. C(N) is the simulated cost to serve; a shop alone pays
//! its own trips at a lone technician's distance (√k_r longer); without one shop the others'
//! trips do not change, so its incremental cost is its own cost to serve.

use super::fairness::{self, Payer};
use super::subsidy::{self, Coalition, SubsidyReport};
use crate::money::Cents;
use crate::quote::costs::sqrt;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// One shop as the judgement sees it.
#[derive(Clone, Debug)]
pub struct Shop {
    pub name: String,
    pub segment: &'static str,
    /// Billable mountings over the run (the truth).
    pub mountings: u64,
    /// Its cost to serve, when the field is simulated.
    pub cost: Option<ShopCost>,
    /// What it edges: pairs over the run, and those on the harder frames and materials.
    pub mix: ShopMix,
}

/// Which of a shop's pairs a mix segment counts.
pub type MixPart = fn(&ShopMix) -> u64;

/// A shop's mix, in pairs edged over the run (the truth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShopMix {
    pub pairs: u64,
    /// Grooved (semi-rimless) and drilled (rimless) frames: the tools wear, the job takes longer.
    pub grooved_or_drilled: u64,
    /// High-index (1.67 and above) and polycarbonate lenses: harder to edge.
    pub high_index_or_poly: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShopCost {
    /// Everything but technicians' travel.
    pub own_cents: Cents,
    /// Technicians' travel to it: km and road time.
    pub travel_cents: Cents,
    /// Its region, by index into `Fleet::technicians`.
    pub region: usize,
}

impl ShopCost {
    pub fn total(&self) -> Cents {
        self.own_cents + self.travel_cents
    }
}

/// The fleet being judged.
pub struct FleetView {
    pub shops: Vec<Shop>,
    /// Per region: its technicians and its name.
    pub regions: Vec<(u32, String)>,
}

/// One pricing's bills: per shop, per period, what the invoice earns, net of VAT (0 where none
/// was issued).
pub struct Bills<'a> {
    pub id: &'a str,
    pub monthly_cents: Vec<Vec<Cents>>,
}

/// One pricing judged.
#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    pub id: String,
    pub revenue_cents: Cents,
    pub mountings: u64,
    /// Revenue ÷ mountings, in cents.
    pub price_per_mounting_cents: Option<f64>,
    pub gini: f64,
    pub p10_cents: Option<f64>,
    pub p50_cents: Option<f64>,
    pub p90_cents: Option<f64>,
    /// The median over shops of the coefficient of variation of their monthly bills.
    pub bill_cv_median: Option<f64>,
    /// Regret if every shop were on it: Σ (its bill here − its cheapest bill in the set).
    pub regret_cents: Cents,
    /// Shops for which it is the cheapest of the set (ties count for each).
    pub cheapest_for: usize,
    pub costs: Option<CostJudgement>,
    /// (share of mountings, share of revenue), from the lowest price per mounting up.
    #[serde(skip)]
    pub lorenz: Vec<(f64, f64)>,
    /// Per shop, in shop order.
    #[serde(skip)]
    pub shops: Vec<ShopBill>,
}

/// What needs the cost to serve.
#[derive(Clone, Debug, Serialize)]
pub struct CostJudgement {
    pub cost_cents: Cents,
    pub margin_cents: Cents,
    pub shops_at_loss: usize,
    pub at_loss_mountings_share: f64,
    /// Spearman's ρ of price per mounting against cost to serve per mounting.
    pub spearman_price_cost: Option<f64>,
    pub subsidy: SubsidyReport,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShopBill {
    pub invoiced_cents: Cents,
    pub regret_cents: Cents,
}

/// Judges every pricing; `bills[0]` is the one the shops are on (the base).
pub fn judge(fleet: &FleetView, bills: &[Bills]) -> Vec<Judgement> {
    let totals: Vec<Vec<Cents>> = bills
        .iter()
        .map(|b| b.monthly_cents.iter().map(|m| m.iter().sum()).collect())
        .collect();
    let cheapest: Vec<Cents> = (0..fleet.shops.len())
        .map(|s| totals.iter().map(|t| t[s]).min().unwrap_or(0))
        .collect();
    let coalitions = coalitions(fleet);
    bills
        .iter()
        .zip(&totals)
        .map(|(b, t)| judge_one(fleet, b, t, &cheapest, &coalitions))
        .collect()
}

fn judge_one(
    fleet: &FleetView,
    bills: &Bills,
    totals: &[Cents],
    cheapest: &[Cents],
    coalitions: &[Coalition],
) -> Judgement {
    let payers: Vec<Payer> = fleet
        .shops
        .iter()
        .zip(totals)
        .map(|(s, &bill_cents)| Payer {
            bill_cents,
            mountings: s.mountings,
        })
        .collect();
    let revenue: Cents = totals.iter().sum();
    let mountings: u64 = fleet.shops.iter().map(|s| s.mountings).sum();
    let mut cvs: Vec<f64> = bills
        .monthly_cents
        .iter()
        .filter_map(|m| fairness::coefficient_of_variation(m))
        .collect();
    cvs.sort_by(f64::total_cmp);
    let shops: Vec<ShopBill> = totals
        .iter()
        .zip(cheapest)
        .map(|(&bill, &low)| ShopBill {
            invoiced_cents: bill,
            regret_cents: bill - low,
        })
        .collect();
    Judgement {
        id: bills.id.to_string(),
        revenue_cents: revenue,
        mountings,
        price_per_mounting_cents: (mountings > 0).then(|| revenue as f64 / mountings as f64),
        gini: fairness::gini(&payers),
        p10_cents: fairness::weighted_quantile(&payers, 0.1),
        p50_cents: fairness::weighted_quantile(&payers, 0.5),
        p90_cents: fairness::weighted_quantile(&payers, 0.9),
        bill_cv_median: median(&cvs),
        regret_cents: shops.iter().map(|s| s.regret_cents).sum(),
        cheapest_for: shops.iter().filter(|s| s.regret_cents == 0).count(),
        costs: costs(fleet, totals, coalitions),
        lorenz: fairness::lorenz(&payers),
        shops,
    }
}

fn median(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn costs(fleet: &FleetView, totals: &[Cents], coalitions: &[Coalition]) -> Option<CostJudgement> {
    let costs: Vec<ShopCost> = fleet.shops.iter().map(|s| s.cost).collect::<Option<_>>()?;
    let cost: Cents = costs.iter().map(ShopCost::total).sum();
    let mountings: u64 = fleet.shops.iter().map(|s| s.mountings).sum();
    let at_loss: Vec<usize> = (0..costs.len())
        .filter(|&i| totals[i] < costs[i].total())
        .collect();
    let lost_mountings: u64 = at_loss.iter().map(|&i| fleet.shops[i].mountings).sum();
    let pairs: Vec<(f64, f64)> = fleet
        .shops
        .iter()
        .zip(totals)
        .zip(&costs)
        .filter(|((s, _), _)| s.mountings > 0)
        .map(|((s, &bill), c)| {
            let m = s.mountings as f64;
            (bill as f64 / m, c.total() as f64 / m)
        })
        .collect();
    let game = CostGame::new(&costs, &fleet.regions);
    Some(CostJudgement {
        cost_cents: cost,
        margin_cents: totals.iter().sum::<Cents>() - cost,
        shops_at_loss: at_loss.len(),
        at_loss_mountings_share: if mountings == 0 {
            0.0
        } else {
            lost_mountings as f64 / mountings as f64
        },
        spearman_price_cost: fairness::spearman(&pairs),
        subsidy: subsidy::test_coalitions(totals, coalitions, |s| game.cost(s)),
    })
}

/// The coalitions tested: each shop alone (first, in shop order), chains, independents,
/// volume deciles, frame mix terciles (by the share of grooved and drilled pairs), material
/// mix terciles (by the share of high-index and polycarbonate pairs), regions.
pub fn coalitions(fleet: &FleetView) -> Vec<Coalition> {
    let mut out = subsidy::single_shops(fleet.shops.len(), |i| fleet.shops[i].name.clone());
    for segment in ["chain", "independent"] {
        let members: Vec<usize> = (0..fleet.shops.len())
            .filter(|&i| fleet.shops[i].segment == segment)
            .collect();
        if !members.is_empty() {
            out.push(Coalition {
                name: format!("segment:{segment}"),
                members,
            });
        }
    }
    for (d, members) in volume_deciles(fleet).into_iter().enumerate() {
        if !members.is_empty() {
            out.push(Coalition {
                name: format!("volume_decile:{}", d + 1),
                members,
            });
        }
    }
    let mixes: [(&str, MixPart); 2] = [
        ("frame_mix", |m| m.grooved_or_drilled),
        ("material_mix", |m| m.high_index_or_poly),
    ];
    for (kind, part) in mixes {
        for (t, members) in mix_terciles(fleet, part).into_iter().enumerate() {
            if !members.is_empty() {
                out.push(Coalition {
                    name: format!("{kind}:{}", t + 1),
                    members,
                });
            }
        }
    }
    if fleet.shops.iter().all(|s| s.cost.is_some()) {
        for (r, (_, name)) in fleet.regions.iter().enumerate() {
            let members: Vec<usize> = (0..fleet.shops.len())
                .filter(|&i| fleet.shops[i].cost.is_some_and(|c| c.region == r))
                .collect();
            if !members.is_empty() {
                out.push(Coalition {
                    name: format!("region:{name}"),
                    members,
                });
            }
        }
    }
    out
}

/// Shops by mountings, lowest first (ties by shop), cut into ten groups as equal as can be.
pub fn volume_deciles(fleet: &FleetView) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..fleet.shops.len()).collect();
    order.sort_by_key(|&i| (fleet.shops[i].mountings, i));
    let n = order.len();
    let mut deciles = vec![Vec::new(); 10];
    for (rank, shop) in order.into_iter().enumerate() {
        deciles[rank * 10 / n.max(1)].push(shop);
    }
    for d in &mut deciles {
        d.sort_unstable();
    }
    deciles
}

/// Shops by the share of their pairs that `part` counts, lowest first (ties, and shops that
/// edged nothing, by shop), cut into three groups as equal as can be. Shares are compared as
/// exact fractions.
pub fn mix_terciles(fleet: &FleetView, part: MixPart) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..fleet.shops.len()).collect();
    let share = |i: usize| {
        let m = &fleet.shops[i].mix;
        (u128::from(part(m)), u128::from(m.pairs.max(1)))
    };
    order.sort_by(|&a, &b| {
        let ((pa, qa), (pb, qb)) = (share(a), share(b));
        (pa * qb).cmp(&(pb * qa)).then(a.cmp(&b))
    });
    let n = order.len();
    let mut terciles = vec![Vec::new(); 3];
    for (rank, shop) in order.into_iter().enumerate() {
        terciles[rank * 3 / n.max(1)].push(shop);
    }
    for t in &mut terciles {
        t.sort_unstable();
    }
    terciles
}

/// C(S) of the module's docs.
pub struct CostGame<'a> {
    costs: &'a [ShopCost],
    /// Per region: technicians, and the fleet's travel there.
    regions: Vec<(u32, Cents)>,
}

impl<'a> CostGame<'a> {
    pub fn new(costs: &'a [ShopCost], regions: &[(u32, String)]) -> CostGame<'a> {
        let mut travel = vec![0; regions.len()];
        for c in costs {
            travel[c.region] += c.travel_cents;
        }
        CostGame {
            costs,
            regions: regions
                .iter()
                .zip(travel)
                .map(|((k, _), t)| (*k, t))
                .collect(),
        }
    }

    /// C(S) in cents, rounded once (half away from zero).
    pub fn cost(&self, members: &[usize]) -> Cents {
        let mut own: Cents = 0;
        let mut travel = vec![0 as Cents; self.regions.len()];
        for &i in members {
            own += self.costs[i].own_cents;
            travel[self.costs[i].region] += self.costs[i].travel_cents;
        }
        let mut shared = Decimal::ZERO;
        for (&(k, fleet_travel), &t) in self.regions.iter().zip(&travel) {
            if t == 0 || fleet_travel == 0 {
                continue;
            }
            let k = Decimal::from(k.max(1));
            let alone = (k * Decimal::from(t) / Decimal::from(fleet_travel))
                .ceil()
                .max(Decimal::ONE);
            shared += Decimal::from(t) * sqrt(k / alone);
        }
        own + shared
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .to_i64()
            .unwrap_or(Cents::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(name: &str, segment: &'static str, mountings: u64, cost: Option<ShopCost>) -> Shop {
        Shop {
            name: name.into(),
            segment,
            mountings,
            cost,
            mix: ShopMix::default(),
        }
    }

    fn cost(own: Cents, travel: Cents, region: usize) -> Option<ShopCost> {
        Some(ShopCost {
            own_cents: own,
            travel_cents: travel,
            region,
        })
    }

    /// Terciles by the share of pairs on hard frames: exact fractions (2/6 ties 1/3: by shop
    /// id), a shop that edged nothing counts as share 0, and the
    /// material count is not the frame count.
    #[test]
    fn mix_terciles_rank_by_exact_share() {
        let mixes = [
            (10, 3, 9),
            (6, 2, 0),
            (0, 0, 0),
            (10, 1, 5),
            (3, 1, 1),
            (10, 9, 0),
        ];
        let shops = mixes
            .iter()
            .enumerate()
            .map(|(i, &(pairs, hard, high))| Shop {
                mix: ShopMix {
                    pairs,
                    grooved_or_drilled: hard,
                    high_index_or_poly: high,
                },
                ..shop(&format!("s{i}"), "chain", pairs, None)
            })
            .collect();
        let fleet = FleetView {
            shops,
            regions: Vec::new(),
        };
        // Frames: s2 0, s3 .1, s0 .3, s1 2/6, s4 1/3, s5 .9.
        let frames = mix_terciles(&fleet, |m| m.grooved_or_drilled);
        assert_eq!(frames, vec![vec![2, 3], vec![0, 1], vec![4, 5]]);
        // Materials: s1 0, s2 0, s5 0, s4 1/3, s3 .5, s0 .9.
        let materials = mix_terciles(&fleet, |m| m.high_index_or_poly);
        assert_eq!(materials, vec![vec![1, 2], vec![4, 5], vec![0, 3]]);
        let names: Vec<String> = coalitions(&fleet).into_iter().map(|c| c.name).collect();
        for name in ["frame_mix:1", "frame_mix:3", "material_mix:2"] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
    }

    /// Two regions by hand: region 0 has 4 technicians and shops A (travel 300) and B (100);
    /// region 1 has 1 technician and shop C (travel 50).
    #[test]
    fn the_cost_game_by_hand() {
        let costs = [
            cost(1000, 300, 0).unwrap(),
            cost(2000, 100, 0).unwrap(),
            cost(500, 50, 1).unwrap(),
        ];
        let regions = vec![(4, "r0".to_string()), (1, "r1".to_string())];
        let game = CostGame::new(&costs, &regions);
        // Everyone: the simulated costs.
        assert_eq!(game.cost(&[0, 1, 2]), 1000 + 300 + 2000 + 100 + 500 + 50);
        // A alone: k(S) = ⌈4 · 300/400⌉ = 3, trips √(4/3) longer: 300 · 1.1547 = 346.41.
        assert_eq!(game.cost(&[0]), 1000 + 346);
        // B alone: k(S) = ⌈4 · 100/400⌉ = 1, trips √4 = 2 × longer.
        assert_eq!(game.cost(&[1]), 2000 + 200);
        // C is alone in its region already.
        assert_eq!(game.cost(&[2]), 550);
        // Without B, A needs 3 technicians: its trips grow; B's incremental cost is less than
        // its own cost by A's growth.
        assert_eq!(game.cost(&[0, 2]), 1000 + 346 + 550);
    }

    #[test]
    fn regret_is_the_bill_above_the_cheapest_alternative() {
        let fleet = FleetView {
            shops: vec![
                shop("a", "chain", 10, None),
                shop("b", "independent", 10, None),
            ],
            regions: Vec::new(),
        };
        let base = Bills {
            id: "base",
            monthly_cents: vec![vec![100, 100], vec![300, 300]],
        };
        let flat = Bills {
            id: "flat",
            monthly_cents: vec![vec![150, 150], vec![150, 150]],
        };
        let j = judge(&fleet, &[base, flat]);
        assert_eq!(j[0].shops[0].regret_cents, 0);
        assert_eq!(j[0].shops[1].regret_cents, 300);
        assert_eq!(j[1].shops[0].regret_cents, 100);
        assert_eq!(j[0].regret_cents, 300);
        assert_eq!(j[1].regret_cents, 100);
        assert_eq!((j[0].cheapest_for, j[1].cheapest_for), (1, 1));
        // The same price per mounting for both: no dispersion; base's is uneven.
        assert_eq!(j[1].gini, 0.0);
        assert!(j[0].gini > 0.0);
        assert!(j[0].costs.is_none());
    }

    #[test]
    fn shops_at_a_loss_and_the_subsidy_tests_follow_the_costs() {
        let fleet = FleetView {
            shops: vec![
                shop("a", "chain", 100, cost(1000, 0, 0)),
                shop("b", "independent", 100, cost(1000, 0, 0)),
            ],
            regions: vec![(1, "r".into())],
        };
        let bills = Bills {
            id: "base",
            monthly_cents: vec![vec![1500], vec![500]],
        };
        let j = &judge(&fleet, &[bills])[0];
        let c = j.costs.as_ref().unwrap();
        assert_eq!(
            (c.cost_cents, c.margin_cents, c.shops_at_loss),
            (2000, 0, 1)
        );
        assert_eq!(c.at_loss_mountings_share, 0.5);
        // a pays 500 above its stand-alone cost, b 500 below its incremental cost.
        assert_eq!(
            (c.subsidy.overpaid_cents, c.subsidy.subsidised_cents),
            (500, 500)
        );
    }
}
