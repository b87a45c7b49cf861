//! The reference rater on hand-computed invoices (the arithmetic in comments; the same cases
//! as `tests/plans.rs`, where `billing::plans` is checked), and its building blocks against
//! brute force and against the `money` and `split` rules they restate.

use super::*;
use crate::billing::catalogue_file;
use crate::billing::split::split_evenly;
use crate::money::{Currency, UnitPrice};
use proptest::prelude::*;
use std::path::Path;

const CATALOGUE: &str = r#"
[catalogue]
currency = "EUR"
vat_percent = "20"

[contract_defaults]
term_months = 48
indexation_percent = "2.0"
early_termination_percent = "50"

[[option]]
id = "remote_support"
name = "remote support"
monthly_fee = "19.00"

[[option]]
id = "loaner"
name = "loaner machine"
monthly_fee = "25.00"

[[option]]
id = "consumables"
name = "consumables"
monthly_fee = "35.00"

[[plan]]
id = "ppm"
kind = "per_mounting"
price = "3.85"
segment_prices = { chain = "3.40" }
minimum_monthly = "150.00"
includes = ["consumables"]

[[plan]]
id = "ppm_included"
kind = "per_mounting"
price = "4.00"
included_mountings = 20

[[plan]]
id = "sub"
kind = "subscription"
monthly_fee = "349.00"
included_mountings = 100
overage_price = "3.20"

[[plan]]
id = "grad"
kind = "graduated"
tiers = [ { up_to = 60, price = "4.50" }, { up_to = 200, price = "3.60" }, { price = "2.90" } ]

[[plan]]
id = "vol"
kind = "volume"
tiers = [
  { up_to = 60, price = "4.20" },
  { up_to = 200, price = "3.80", flat_fee = "25.00" },
  { price = "3.40", flat_fee = "105.00" },
]

[[plan]]
id = "pack"
kind = "package"
package_size = 50
package_price = "180.00"

[[service]]
id = "tm"
level = 1
kind = "time_and_materials"
hourly_rate = "85.00"
travel_per_visit = "95.00"
parts_markup_percent = "25"
response_hours = 72
repair_hours = 168

[[service]]
id = "maint"
level = 2
kind = "maintenance"
monthly_fee = "100.00"
parts_markup_percent = "15"
response_hours = 48
repair_hours = 96
includes = ["remote_support"]

[[service]]
id = "full"
level = 3
kind = "full_service"
years = 1
lump_sum = "1000.00"
response_hours = 24
repair_hours = 48
includes = ["remote_support", "loaner"]
"#;

fn catalogue() -> Catalogue {
    catalogue_file::parse(Path::new("reference_test.toml"), CATALOGUE).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn p(y: i32, m: u32) -> Period {
    Period { year: y, month: m }
}

fn terms(plan: &str, start: NaiveDate, edit: impl FnOnce(&mut PlanTerms)) -> PlanTerms {
    let mut t = PlanTerms {
        plan: plan.to_string(),
        segment: None,
        price_override: None,
        service: None,
        options: Vec::new(),
        start,
        term_months: None,
        terminated_on: None,
    };
    edit(&mut t);
    t
}

/// The expected cents of `period` for `terms` on the test catalogue.
fn expect(terms: &PlanTerms, period: Period, usage: &Usage) -> Expected {
    let cat = catalogue();
    let c = Contract::resolve(&cat, terms).unwrap();
    rate(&c, period, usage)
        .unwrap()
        .expect("the period is covered")
}

fn mountings(n: u64) -> Usage<'static> {
    Usage {
        mountings: n,
        ..Usage::default()
    }
}

#[test]
fn the_readme_invoice_of_quickstart_plans() {
    // scenarios/quickstart_plans.toml, shop S000002, March 2024: graduated tiers with four-year
    // full service from 1 January. 226 mountings: 60 × 4.50 + 140 × 3.60 + 26 × 2.90 = 849.40;
    // instalment 7,200.00 / 48 = 150.00; net 999.40; VAT 199.88; total 1,199.28.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalogue/default.toml");
    let cat = catalogue_file::load(&path).unwrap();
    let t = terms("graduated", d(2024, 1, 1), |t| {
        t.service = Some("full_service".into())
    });
    let c = Contract::resolve(&cat, &t).unwrap();
    let e = rate(&c, p(2024, 3), &mountings(226)).unwrap().unwrap();
    assert_eq!(
        e,
        Expected {
            usage: 84_940,
            service: 15_000,
            vat: 19_988,
            ..Expected::default()
        }
    );
    assert_eq!((e.net(), e.total()), (99_940, 119_928));
}

#[test]
fn per_mounting_plans() {
    // 30 × 3.85 = 115.50 under the minimum 150.00: true-up 34.50; VAT 30.00.
    let e = expect(
        &terms("ppm", d(2024, 1, 1), |_| {}),
        p(2024, 1),
        &mountings(30),
    );
    assert_eq!(
        (e.usage, e.minimum, e.vat, e.total()),
        (11_550, 3_450, 3_000, 18_000)
    );
    // Above it: 100 × 3.85 = 385.00 + VAT 77.00.
    let e = expect(
        &terms("ppm", d(2024, 1, 1), |_| {}),
        p(2024, 1),
        &mountings(100),
    );
    assert_eq!((e.minimum, e.total()), (0, 46_200));
    // A chain's segment price, then an audited price: 340.00 + 68.00; 295.00 + 59.00.
    let chain = terms("ppm", d(2024, 1, 1), |t| t.segment = Some("chain".into()));
    assert_eq!(expect(&chain, p(2024, 1), &mountings(100)).total(), 40_800);
    let audited = terms("ppm", d(2024, 1, 1), |t| {
        t.price_override = UnitPrice::parse("2.95")
    });
    assert_eq!(
        expect(&audited, p(2024, 1), &mountings(100)).total(),
        35_400
    );
    // 20 included: 25 mountings bill 5 × 4.00 = 20.00 + VAT 4.00.
    let inc = terms("ppm_included", d(2024, 1, 1), |_| {});
    assert_eq!(expect(&inc, p(2024, 1), &mountings(25)).total(), 2_400);
}

#[test]
fn subscription_tiers_and_packages() {
    // February 2024: 130 = 100 included + 30 × 3.20 = 96.00; fee 349.00; VAT 89.00.
    let e = expect(
        &terms("sub", d(2024, 1, 1), |_| {}),
        p(2024, 2),
        &mountings(130),
    );
    assert_eq!(
        (e.usage, e.subscription, e.total()),
        (9_600, 34_900, 53_400)
    );
    // Graduated 250: 60 × 4.50 + 140 × 3.60 + 50 × 2.90 = 919.00; VAT 183.80.
    let e = expect(
        &terms("grad", d(2024, 1, 1), |_| {}),
        p(2024, 1),
        &mountings(250),
    );
    assert_eq!((e.usage, e.total()), (91_900, 110_280));
    // Volume 150: 150 × 3.80 = 570.00, tier fee 25.00; VAT 119.00. 60: 252.00; 61: 256.80.
    let vol = terms("vol", d(2024, 1, 1), |_| {});
    let e = expect(&vol, p(2024, 1), &mountings(150));
    assert_eq!(
        (e.usage, e.subscription, e.total()),
        (57_000, 2_500, 71_400)
    );
    assert_eq!(expect(&vol, p(2024, 1), &mountings(60)).net(), 25_200);
    assert_eq!(expect(&vol, p(2024, 1), &mountings(61)).net(), 25_680);
    assert_eq!(expect(&vol, p(2024, 1), &mountings(0)).net(), 0);
    // Packages: 101 start 3 blocks × 180.00 = 540.00; 100 fill 2 exactly.
    let pack = terms("pack", d(2024, 1, 1), |_| {});
    assert_eq!(
        expect(&pack, p(2024, 1), &mountings(101)).subscription,
        54_000
    );
    assert_eq!(
        expect(&pack, p(2024, 1), &mountings(100)).subscription,
        36_000
    );
}

#[test]
fn service_tiers_incidents_and_sla_credits() {
    // Full service 1,000.00 over 12: 83.34 for the first four months, 83.33 after, 0 past
    // month 12. January: 385.00 + 83.34 = 468.34; VAT 93.668 → 93.67; total 562.01.
    let full = terms("ppm", d(2024, 1, 1), |t| t.service = Some("full".into()));
    let mut period = p(2024, 1);
    let mut sum = 0;
    for month in 0..14 {
        let share = expect(&full, period, &mountings(100)).service;
        let want = match month {
            0..=3 => 8_334,
            4..=11 => 8_333,
            _ => 0,
        };
        assert_eq!(share, want, "{period}");
        sum += share;
        period = period.next();
    }
    assert_eq!(sum, 100_000);
    assert_eq!(expect(&full, p(2024, 1), &mountings(100)).total(), 56_201);

    // Maintenance: fee 100.00, parts 200.00 × 1.15 = 230.00; no breach. VAT 143.00.
    let maint = terms("ppm", d(2024, 1, 1), |t| t.service = Some("maint".into()));
    let parts = [Incident {
        response_hours: Decimal::from(20),
        repair_hours: Decimal::from(30),
        labour_minutes: 120,
        visits: 1,
        parts_cost: "200.00".parse().unwrap(),
    }];
    let usage = Usage {
        mountings: 100,
        incidents: &parts,
        ..Usage::default()
    };
    let e = expect(&maint, p(2024, 3), &usage);
    assert_eq!((e.service, e.credits, e.total()), (33_000, 0, 85_800));

    // Time and materials: 7 + 2 quarter hours × 21.25 = 191.25, travel 95.00, parts 40.00 ×
    // 1.25 = 50.00; one breach: 10 % of 286.25 = 28.625 → -28.63. Net 692.62; total 831.14.
    let tm = terms("ppm", d(2024, 1, 1), |t| t.service = Some("tm".into()));
    let incidents = [
        Incident {
            response_hours: Decimal::from(80),
            repair_hours: Decimal::from(100),
            labour_minutes: 100,
            visits: 1,
            parts_cost: "40.00".parse().unwrap(),
        },
        Incident {
            response_hours: Decimal::from(10),
            repair_hours: Decimal::from(20),
            labour_minutes: 30,
            visits: 0,
            parts_cost: Decimal::ZERO,
        },
    ];
    let usage = Usage {
        mountings: 100,
        incidents: &incidents,
        ..Usage::default()
    };
    let e = expect(&tm, p(2024, 4), &usage);
    assert_eq!(
        (e.service, e.credits, e.net(), e.total()),
        (33_625, -2_863, 69_262, 83_114)
    );

    // Six breaches × 10 % of 100.00 = 60.00 above the 50 % cap: -50.00. Three: -30.00.
    let late = Incident {
        response_hours: Decimal::from(49),
        repair_hours: Decimal::from(50),
        ..Incident::default()
    };
    let six = vec![late.clone(); 6];
    let usage = Usage {
        mountings: 100,
        incidents: &six,
        ..Usage::default()
    };
    assert_eq!(expect(&maint, p(2024, 3), &usage).credits, -5_000);
    let usage = Usage {
        incidents: &six[..3],
        ..usage
    };
    assert_eq!(expect(&maint, p(2024, 3), &usage).credits, -3_000);
}

#[test]
fn options_proration_and_indexation() {
    // Consumables come with the plan, loaner and remote support are billed: 25.00 + 19.00.
    let opts = terms("ppm", d(2024, 1, 1), |t| {
        t.options = vec![
            "loaner".into(),
            "consumables".into(),
            "remote_support".into(),
        ]
    });
    let e = expect(&opts, p(2024, 1), &mountings(100));
    assert_eq!((e.options, e.total()), (4_400, 51_480));
    // With maintenance, remote support is the tier's: only the loaner is billed.
    let with_tier = PlanTerms {
        service: Some("maint".into()),
        ..opts
    };
    assert_eq!(
        expect(&with_tier, p(2024, 1), &mountings(100)).options,
        2_500
    );

    // A one-day month (start on the 31st): 349.00 × 1/31 = 11.258… → 11.26; floor(100/31) = 3
    // included; VAT 2.252 → 2.25.
    let one_day = terms("sub", d(2024, 1, 31), |_| {});
    let e = expect(&one_day, p(2024, 1), &mountings(3));
    assert_eq!((e.net(), e.vat, e.total()), (1_126, 225, 1_351));
    // From 15 January: 17/31 of 349.00 = 191.39; floor(100 × 17/31) = 54 included, 6 × 3.20;
    // VAT 42.118 → 42.12; total 252.71.
    let mid = terms("sub", d(2024, 1, 15), |_| {});
    assert_eq!(expect(&mid, p(2024, 1), &mountings(60)).total(), 25_271);
    let cat = catalogue();
    let c = Contract::resolve(&cat, &mid).unwrap();
    assert_eq!(rate(&c, p(2023, 12), &mountings(0)), Ok(None));
    assert!(rate(&c, p(2028, 1), &mountings(0)).unwrap().is_some());
    assert_eq!(rate(&c, p(2028, 2), &mountings(0)), Ok(None));
    // Per mounting: minimum 150.00 × 17/31 = 82.26; 10 × 3.85 = 38.50: true-up 43.76.
    let e = expect(
        &terms("ppm", d(2024, 1, 15), |_| {}),
        p(2024, 1),
        &mountings(10),
    );
    assert_eq!((e.minimum, e.net()), (4_376, 8_226));

    // Indexation: 3.85 until December 2024; × 1.02 = 3.927 from January 2025 (the minimum
    // 153.00: 10 × 3.927 = 39.27, true-up 113.73); 3.85 × 1.02² = 4.00554 → 4.0055 in 2026.
    let ppm = terms("ppm", d(2024, 1, 1), |_| {});
    assert_eq!(expect(&ppm, p(2024, 12), &mountings(100)).net(), 38_500);
    assert_eq!(
        expect(&ppm, p(2025, 1), &mountings(100)).total(),
        39_270 + 7_854
    );
    assert_eq!(expect(&ppm, p(2025, 1), &mountings(10)).minimum, 11_373);
    assert_eq!(expect(&ppm, p(2026, 2), &mountings(100)).net(), 40_055);
    let sub = terms("sub", d(2024, 1, 1), |_| {});
    assert_eq!(expect(&sub, p(2025, 1), &mountings(0)).subscription, 35_598);
}

#[test]
fn early_termination_fees() {
    // Subscription + maintenance terminated 15 June 2025 (index year 1): fees 355.98 and 102.00
    // × 15/30 = 177.99 and 51.00; 30 months left × 50 % × 457.98 = 6,869.70. Total 8,518.43.
    let t = terms("sub", d(2024, 1, 1), |t| {
        t.service = Some("maint".into());
        t.terminated_on = Some(d(2025, 6, 15));
    });
    let e = expect(&t, p(2025, 6), &mountings(40));
    assert_eq!(
        (e.subscription, e.service, e.termination, e.total()),
        (17_799, 5_100, 686_970, 851_843)
    );
    let cat = catalogue();
    assert_eq!(
        rate(
            &Contract::resolve(&cat, &t).unwrap(),
            p(2025, 7),
            &mountings(0)
        ),
        Ok(None)
    );
    // Full service terminated 31 March 2024: 50 % of 83.34 + 8 × 83.33 = 374.99, and of the
    // minimum 150.00 × 45 months left = 3,375.00.
    let t = terms("ppm", d(2024, 1, 1), |t| {
        t.service = Some("full".into());
        t.terminated_on = Some(d(2024, 3, 31));
    });
    assert_eq!(
        expect(&t, p(2024, 3), &mountings(100)).termination,
        337_500 + 37_499
    );
    // A contract that runs to its term's end pays no fee.
    let t = terms("ppm", d(2024, 1, 1), |t| {
        t.terminated_on = Some(d(2027, 12, 31))
    });
    assert_eq!(expect(&t, p(2027, 12), &mountings(100)).termination, 0);
}

#[test]
fn corrections_re_rate_their_period() {
    // 5 late mountings of February: 19.25; an estimate 10 too high for January: -38.50.
    let ppm = terms("ppm", d(2024, 1, 1), |_| {});
    let corrections = [
        Correction {
            usage_period: p(2024, 2),
            billed: 100,
            delta: 5,
        },
        Correction {
            usage_period: p(2024, 1),
            billed: 100,
            delta: -10,
        },
    ];
    let usage = Usage {
        mountings: 100,
        corrections: &corrections,
        ..Usage::default()
    };
    assert_eq!(expect(&ppm, p(2024, 3), &usage).net(), 36_575);
    // Graduated 58 → 63: 2 at 4.50 + 3 at 3.60 = 19.80. Volume 58 → 63: mountings 63 × 3.80 −
    // 58 × 4.20 = 239.40 − 243.60 = −4.20, plus the tier fee 25.00 (subscription group): 20.80.
    let late = |billed, delta| {
        [Correction {
            usage_period: p(2024, 1),
            billed,
            delta,
        }]
    };
    let c = late(58, 5);
    let usage = Usage {
        corrections: &c,
        ..Usage::default()
    };
    assert_eq!(
        expect(&terms("grad", d(2024, 1, 1), |_| {}), p(2024, 2), &usage).net(),
        1_980
    );
    let vol = terms("vol", d(2024, 1, 1), |_| {});
    let e = expect(&vol, p(2024, 2), &usage);
    assert_eq!((e.usage, e.subscription), (-420, 2_500));
    assert_eq!(e.net(), 2_080);
    // Below zero, or not an earlier period of the contract: refused.
    let cat = catalogue();
    let c = Contract::resolve(&cat, &vol).unwrap();
    for (period, corr) in [(p(2024, 2), late(3, -4)), (p(2024, 1), late(3, 1))] {
        let usage = Usage {
            corrections: &corr,
            ..Usage::default()
        };
        assert!(matches!(
            rate(&c, period, &usage),
            Err(RefError::Correction(_))
        ));
    }
}

#[test]
fn an_absurd_quantity_is_refused_not_counted() {
    let cat = catalogue();
    let c = Contract::resolve(&cat, &terms("grad", d(2024, 1, 1), |_| {})).unwrap();
    assert_eq!(
        rate(&c, p(2024, 1), &mountings(MAX_MOUNTINGS + 1)),
        Err(RefError::TooMany(MAX_MOUNTINGS + 1))
    );
    // At the bound, still counted: 60 × 4.50 + 140 × 3.60 + 999,800 × 2.90.
    let e = rate(&c, p(2024, 1), &mountings(MAX_MOUNTINGS))
        .unwrap()
        .unwrap();
    assert_eq!(e.usage, 27_000 + 50_400 + 289_942_000);
}

#[test]
fn the_calendar_counted_day_by_day() {
    let t = Dates::new(d(2024, 1, 15), 48, None);
    assert_eq!(t.first_full, p(2024, 2));
    assert_eq!(t.natural_end, d(2028, 1, 31));
    assert_eq!(
        [p(2023, 12), p(2024, 1), p(2024, 2), p(2028, 1), p(2028, 2)].map(|m| t.days_covered(m)),
        [0, 17, 29, 31, 0]
    );
    // Indexed from February 2025 (12 months after the first full month), not January.
    assert_eq!(
        [p(2025, 1), p(2025, 2), p(2027, 2)].map(|m| t.index_year(m)),
        [0, 1, 3]
    );
    assert_eq!(t.period_index(p(2025, 1)), 12);
    // Terminated 30 June 2025: July 2025 to January 2028 left = 31 months.
    let cut = Dates::new(d(2024, 1, 15), 48, Some(d(2025, 6, 30)));
    assert_eq!((cut.months_left(), cut.days_covered(p(2025, 7))), (31, 0));
    assert_eq!(t.months_left(), 0);
    let first = Dates::new(d(2024, 1, 1), 12, None);
    assert_eq!(
        (first.first_full, first.natural_end),
        (p(2024, 1), d(2024, 12, 31))
    );
}

#[test]
fn rounding_is_half_away_from_zero_once() {
    let cents = |s: &str| Exact::of(s.parse().unwrap()).cents().unwrap();
    assert_eq!(
        [
            cents("0.015"),
            cents("-0.015"),
            cents("0.0149"),
            cents("2.345")
        ],
        [2, -2, 1, 235]
    );
    // 99.00 × 17/31 = 54.2903… → 54.29; 0.01 × 15/30 = 0.005 → 0.01.
    assert_eq!(
        prorated(Exact::of("99.00".parse().unwrap()), 17, 31),
        Ok(5_429)
    );
    assert_eq!(prorated(Exact::of("0.01".parse().unwrap()), 15, 30), Ok(1));
    assert_eq!(prorated(Exact::of("0.01".parse().unwrap()), 14, 30), Ok(0));
}

#[test]
fn tiers_and_blocks_by_brute_force() {
    let cat = catalogue();
    let Pricing::Graduated { tiers } = &cat.plans.iter().find(|p| p.id == "grad").unwrap().pricing
    else {
        unreachable!()
    };
    assert_eq!(per_tier(tiers, 0), vec![0, 0, 0]);
    assert_eq!(per_tier(tiers, 60), vec![60, 0, 0]);
    assert_eq!(per_tier(tiers, 61), vec![60, 1, 0]);
    assert_eq!(per_tier(tiers, 250), vec![60, 140, 50]);
    assert_eq!(
        [tier_of(tiers, 60), tier_of(tiers, 61), tier_of(tiers, 201)],
        [0, 1, 2]
    );
    assert_eq!(
        [blocks(0, 50), blocks(1, 50), blocks(50, 50), blocks(51, 50)],
        [0, 1, 1, 2]
    );
}

#[test]
fn instalments_are_the_cents_dealt_in_turn() {
    // Deal the cents literally, one at a time, and compare with the formula.
    for total in 0..130_i64 {
        for n in 1..13_usize {
            let mut dealt = vec![0; n];
            for cent in 0..total {
                dealt[cent as usize % n] += 1;
            }
            let formula: Vec<Cents> = (0..n).map(|k| instalment(total, n, k)).collect();
            assert_eq!(formula, dealt, "{total} over {n}");
        }
    }
}

proptest! {
    /// The reference's rounding is `money`'s rule, restated: q × price, rounded once.
    #[test]
    fn rounding_agrees_with_money(q in -100_000_i64..100_000, mantissa in 0_i64..100_000_000, scale in 0_u32..7) {
        let price = Decimal::new(mantissa, scale);
        let eur = Currency("EUR".into());
        prop_assert_eq!(
            amount(i128::from(q), Exact::of(price)),
            Ok(UnitPrice(price).signed_line_amount(q, &eur).unwrap())
        );
    }

    /// Dealing the cents gives the largest-remainder split of `billing::split`.
    #[test]
    fn instalments_agree_with_the_largest_remainder_split(total in -10_000_000_i64..10_000_000, n in 1_usize..250) {
        let dealt: Vec<Cents> = (0..n).map(|k| instalment(total, n, k)).collect();
        prop_assert_eq!(dealt, split_evenly(total, n));
    }
}
