//! The agreement check: the reconciliation's reference rater (`reconcile::reference`) and the
//! billing engine's `billing::plans::rate` give the same cents, line group by line group, on
//! random catalogues (every plan kind and service tier, prices with up to 6 decimals, VAT,
//! indexation and termination percentages), random contract dates and random usage
//! (corrections, incidents). Where one refuses (a period outside the contract, a correction
//! that is not for an earlier period or leaves its usage below zero), so does the other.

use chrono::NaiveDate;
use fleetsim::billing::catalogue::{
    Catalogue, ConsistencySettings, ContractDefaults, OptionItem, Plan, Pricing, ServicePricing,
    ServiceTier, SlaRule,
};
use fleetsim::billing::plans::{self, CorrectionCause, PeriodUsage};
use fleetsim::billing::service::Incident;
use fleetsim::billing::tiers::Tier;
use fleetsim::billing::{GroupCents, LineGroup, PlanTerms};
use fleetsim::calendar::Period;
use fleetsim::event::ShopId;
use fleetsim::money::UnitPrice;
use fleetsim::reconcile::reference::{self, Correction, Usage};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A price with up to `max_scale` decimals, below 10^digits.
fn arb_price(max_scale: u32) -> impl Strategy<Value = UnitPrice> {
    (0_i64..1_000_000, 0..=max_scale).prop_map(|(m, s)| UnitPrice(Decimal::new(m, s)))
}

fn arb_percent() -> impl Strategy<Value = Decimal> {
    (0_i64..1000, 0_u32..3).prop_map(|(m, s)| Decimal::new(m, s).min(Decimal::ONE_HUNDRED))
}

fn arb_tiers() -> impl Strategy<Value = Vec<Tier>> {
    proptest::collection::vec((1_u64..80, arb_price(4), arb_price(2), any::<bool>()), 1..5)
        .prop_map(|v| {
            let n = v.len();
            let mut bound = 0;
            v.into_iter()
                .enumerate()
                .map(|(i, (width, price, fee, has_fee))| {
                    bound += width;
                    Tier {
                        up_to: (i + 1 < n).then_some(bound),
                        price,
                        flat_fee: if has_fee {
                            fee
                        } else {
                            UnitPrice(Decimal::ZERO)
                        },
                    }
                })
                .collect()
        })
}

fn arb_pricing() -> impl Strategy<Value = Pricing> {
    prop_oneof![
        (arb_price(6), arb_price(4), 0_u64..60).prop_map(|(price, chain, included)| {
            Pricing::PerMounting {
                price,
                segment_prices: BTreeMap::from([("chain".to_string(), chain)]),
                included_mountings: included,
            }
        }),
        (arb_price(4), 0_u64..200, arb_price(4)).prop_map(|(fee, included, overage)| {
            Pricing::Subscription {
                monthly_fee: fee,
                included_mountings: included,
                overage_price: overage,
            }
        }),
        arb_tiers().prop_map(|tiers| Pricing::Graduated { tiers }),
        arb_tiers().prop_map(|tiers| Pricing::Volume { tiers }),
        (1_u64..80, arb_price(2)).prop_map(|(size, price)| Pricing::Package { size, price }),
    ]
}

fn arb_service_pricing() -> impl Strategy<Value = ServicePricing> {
    prop_oneof![
        (1_u32..4, 0_i64..1_000_000).prop_map(|(years, cents)| ServicePricing::FullService {
            years,
            lump_sum: UnitPrice(Decimal::new(cents, 2)),
        }),
        (arb_price(4), arb_percent()).prop_map(|(fee, markup)| ServicePricing::Maintenance {
            monthly_fee: fee,
            parts_markup_percent: markup,
        }),
        (arb_price(4), arb_price(4), arb_percent()).prop_map(|(hourly, travel, markup)| {
            ServicePricing::TimeAndMaterials {
                hourly_rate: hourly,
                travel_per_visit: travel,
                parts_markup_percent: markup,
            }
        }),
    ]
}

const OPTIONS: [&str; 3] = ["loaner", "remote_support", "consumables"];

fn arb_includes() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(OPTIONS.to_vec(), 0..=2)
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

fn arb_catalogue() -> impl Strategy<Value = Catalogue> {
    (
        (
            arb_pricing(),
            proptest::option::of(arb_price(4)),
            arb_includes(),
        ),
        (
            arb_service_pricing(),
            1_u32..100,
            1_u32..200,
            arb_includes(),
        ),
        (arb_percent(), arb_percent()),
        proptest::collection::vec(arb_price(4), 3),
        (arb_percent(), arb_percent(), arb_percent()),
    )
        .prop_map(
            |(
                (pricing, minimum, plan_includes),
                (service, response, repair, service_includes),
                (credit, cap),
                option_fees,
                (vat, indexation, termination),
            )| Catalogue {
                currency: fleetsim::money::Currency("EUR".into()),
                vat_percent: vat,
                defaults: ContractDefaults {
                    term_months: 48,
                    indexation_percent: indexation.min(Decimal::from(10)),
                    early_termination_percent: termination,
                },
                plans: vec![Plan {
                    id: "plan".into(),
                    pricing,
                    minimum_monthly: minimum,
                    includes: plan_includes,
                }],
                services: vec![ServiceTier {
                    id: "service".into(),
                    level: 1,
                    pricing: service,
                    response_hours: response,
                    repair_hours: repair,
                    includes: service_includes,
                    sla: SlaRule {
                        credit_percent: credit,
                        cap_percent: cap,
                    },
                }],
                options: OPTIONS
                    .iter()
                    .zip(option_fees)
                    .map(|(id, fee)| OptionItem {
                        id: id.to_string(),
                        name: id.to_string(),
                        monthly_fee: fee,
                    })
                    .collect(),
                ladders: Vec::new(),
                consistency: ConsistencySettings {
                    max_mountings: 100,
                    incidents_per_year: Decimal::ONE,
                    labour_minutes_per_incident: 60,
                    visits_per_incident: Decimal::ONE,
                },
            },
        )
}

fn arb_incident() -> impl Strategy<Value = Incident> {
    (0_u32..300, 0_u32..400, 0_u32..600, 0_u32..3, 0_i64..100_000).prop_map(
        |(resp, rep, minutes, visits, parts)| Incident {
            response_hours: Decimal::new(i64::from(resp), 1),
            repair_hours: Decimal::from(rep),
            labour_minutes: minutes,
            visits,
            parts_cost: Decimal::new(parts, 2),
        },
    )
}

fn months_back(mut p: Period, back: u32) -> Period {
    for _ in 0..back {
        p = if p.month == 1 {
            Period {
                year: p.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: p.year,
                month: p.month - 1,
            }
        };
    }
    p
}

fn months_on(mut p: Period, n: u32) -> Period {
    for _ in 0..n {
        p = p.next();
    }
    p
}

/// What one random case rates: the shop's terms, the period, and its usage.
#[derive(Clone, Debug)]
struct Case {
    terms: PlanTerms,
    period: Period,
    mountings: u64,
    /// (months back, billed, delta).
    corrections: Vec<(u32, u64, i64)>,
    incidents: Vec<Incident>,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        (0_u32..400, 1_u32..61, proptest::option::of(0_u32..1_900)),
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(arb_price(4)),
        ),
        arb_includes(),
        (0_u32..64, 0_u64..1_500),
        proptest::collection::vec((1_u32..8, 0_u64..400, -400_i64..400), 0..3),
        proptest::collection::vec(arb_incident(), 0..4),
    )
        .prop_map(
            |(
                (start_day, term, end_after),
                (chain, service, own_price),
                options,
                (month, mountings),
                corrections,
                incidents,
            )| {
                let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                    + chrono::Days::new(u64::from(start_day));
                let terms = PlanTerms {
                    plan: "plan".into(),
                    segment: chain.then(|| "chain".to_string()),
                    price_override: own_price,
                    service: service.then(|| "service".to_string()),
                    options,
                    start,
                    term_months: Some(term),
                    terminated_on: end_after.map(|d| start + chrono::Days::new(u64::from(d))),
                };
                Case {
                    terms,
                    period: months_on(Period::of_date(start), month),
                    mountings,
                    corrections,
                    incidents,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_reference_rater_agrees_with_billing_plans(catalogue in arb_catalogue(), case in arb_case()) {
        // The engine refuses terms the catalogue cannot resolve (a segment price or an own
        // price on a plan that has none, full service longer than the term): nothing to rate.
        let spec = case.terms.spec(ShopId(1));
        let Ok(contract) = catalogue.contract(&spec) else {
            return Ok(());
        };
        let corrections: Vec<(Period, u64, i64)> = case
            .corrections
            .iter()
            .map(|&(back, billed, delta)| (months_back(case.period, back), billed, delta))
            .collect();
        // One correction per earlier period, as an invoice has.
        let mut seen = std::collections::BTreeSet::new();
        let corrections: Vec<_> = corrections.into_iter().filter(|c| seen.insert(c.0)).collect();
        let billed = plans::rate(&contract, case.period, &PeriodUsage {
            mountings: case.mountings,
            trace_only: 7,
            corrections: corrections
                .iter()
                .map(|&(usage_period, billed, delta)| plans::Correction {
                    usage_period,
                    billed,
                    delta,
                    cause: if delta % 2 == 0 { CorrectionCause::Late } else { CorrectionCause::Estimate },
                })
                .collect(),
            incidents: case.incidents.clone(),
        });
        let ours = reference::Contract::resolve(&catalogue, &case.terms).unwrap();
        let ref_corrections: Vec<Correction> = corrections
            .iter()
            .map(|&(usage_period, billed, delta)| Correction { usage_period, billed, delta })
            .collect();
        let expected = reference::rate(&ours, case.period, &Usage {
            mountings: case.mountings,
            corrections: &ref_corrections,
            incidents: &case.incidents,
        });
        match (billed, expected) {
            (Ok(inv), Ok(Some(e))) => {
                let got = GroupCents::of([&inv.invoice]);
                for g in LineGroup::ALL {
                    prop_assert_eq!(e.group(g), got.get(g), "group {} of {:?}", g.name(), inv.invoice);
                }
                prop_assert_eq!(e.total(), inv.invoice.total_cents);
            }
            // Outside the contract: billing refuses, the reference expects no invoice.
            (Err(_), Ok(None)) => prop_assert_eq!(contract.term().days_covered(case.period), 0),
            // A correction the engine would never issue: both refuse it.
            (Err(_), Err(reference::RefError::Correction(_))) => {}
            (billed, expected) => prop_assert!(false, "billing {billed:?}, reference {expected:?}"),
        }
    }
}

/// The generators reach every plan kind and service tier, every refusal and every line group:
/// without this, a narrowed strategy could make the agreement check vacuous.
#[test]
fn the_random_cases_cover_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut groups = std::collections::BTreeSet::new();
    let (mut outside, mut refused, mut rated) = (0, 0, 0);
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let catalogue = arb_catalogue().new_tree(&mut runner).unwrap().current();
        let case = arb_case().new_tree(&mut runner).unwrap().current();
        let Ok(contract) = catalogue.contract(&case.terms.spec(ShopId(1))) else {
            continue;
        };
        let corrections: Vec<Correction> = case
            .corrections
            .iter()
            .take(1)
            .map(|&(back, billed, delta)| Correction {
                usage_period: months_back(case.period, back),
                billed,
                delta,
            })
            .collect();
        let ours = reference::Contract::resolve(&catalogue, &case.terms).unwrap();
        let usage = Usage {
            mountings: case.mountings,
            corrections: &corrections,
            incidents: &case.incidents,
        };
        match reference::rate(&ours, case.period, &usage) {
            Ok(Some(e)) => {
                rated += 1;
                kinds.insert((
                    contract.plan.pricing.kind_name(),
                    contract.service.as_ref().map(|s| s.pricing.kind_name()),
                ));
                for g in LineGroup::ALL {
                    if e.group(g) != 0 {
                        groups.insert(g.name());
                    }
                }
            }
            Ok(None) => outside += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        rated > 500 && outside > 50 && refused > 50,
        "{rated} {outside} {refused}"
    );
    assert_eq!(
        kinds.len(),
        5 * 4,
        "every plan kind with every service tier and none: {kinds:?}"
    );
    let every_net_group_but_other_and_vat: Vec<&str> = LineGroup::ALL
        .iter()
        .filter(|g| **g != LineGroup::Other)
        .map(|g| g.name())
        .collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), {
        let mut all = every_net_group_but_other_and_vat;
        all.sort_unstable();
        all
    });
}
