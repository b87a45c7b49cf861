//! Hand-computed plan invoices: one shop per plan kind and rule, the arithmetic in comments.
//! VAT is 20 % of the net total in every case; indexation 2.0 % a year; early termination 50 %.

use chrono::NaiveDate;
use fleetsim::billing::catalogue::{Catalogue, ContractSpec, PlanContract};
use fleetsim::billing::catalogue_file;
use fleetsim::billing::plans::{rate, Correction, CorrectionCause, PeriodUsage, PlanInvoice};
use fleetsim::billing::service::Incident;
use fleetsim::billing::LineKind;
use fleetsim::calendar::Period;
use fleetsim::event::ShopId;
use rust_decimal::Decimal;
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
id = "software_updates"
name = "software updates"
monthly_fee = "12.00"

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
includes = ["software_updates", "remote_support"]

[[service]]
id = "full"
level = 3
kind = "full_service"
years = 1
lump_sum = "1000.00"
response_hours = 24
repair_hours = 48
includes = ["software_updates", "remote_support", "loaner"]
"#;

fn catalogue() -> Catalogue {
    catalogue_file::parse(Path::new("plans_test.toml"), CATALOGUE).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn p(y: i32, m: u32) -> Period {
    Period { year: y, month: m }
}

fn contract(plan: &str, start: NaiveDate, edit: impl FnOnce(&mut ContractSpec)) -> PlanContract {
    let mut spec = ContractSpec::new(ShopId(7), plan, start);
    edit(&mut spec);
    catalogue().contract(&spec).unwrap()
}

fn usage(mountings: u64) -> PeriodUsage {
    PeriodUsage {
        mountings,
        ..PeriodUsage::default()
    }
}

/// (kind, quantity, unit price, cents) of each line, VAT included.
fn lines(inv: &PlanInvoice) -> Vec<(LineKind, i64, String, i64)> {
    assert!(inv.is_consistent());
    inv.invoice
        .lines
        .iter()
        .map(|l| (l.kind, l.quantity, l.unit_price.to_string(), l.amount_cents))
        .collect()
}

fn line(kind: LineKind, q: i64, price: &str, cents: i64) -> (LineKind, i64, String, i64) {
    (kind, q, price.to_string(), cents)
}

use LineKind::*;

#[test]
fn per_mounting_with_minimum_true_up() {
    let c = contract("ppm", d(2024, 1, 1), |_| {});
    let inv = rate(
        &c,
        p(2024, 1),
        &PeriodUsage {
            mountings: 30,
            trace_only: 5,
            ..PeriodUsage::default()
        },
    )
    .unwrap();
    // 30 × 3.85 = 115.50; minimum 150.00 → true-up 34.50; net 150.00; VAT 30.00.
    assert_eq!(
        lines(&inv),
        vec![
            line(Usage, 30, "3.85", 11_550),
            line(TraceOnly, 5, "0.00", 0),
            line(MinimumTrueUp, 1, "34.50", 3_450),
            line(Vat, 1, "30.00", 3_000),
        ]
    );
    assert_eq!(
        (inv.net_cents, inv.vat_cents, inv.invoice.total_cents),
        (15_000, 3_000, 18_000)
    );
    assert!(inv.notes.contains(&"included: consumables".to_string()));
    assert!(inv
        .notes
        .contains(&"not included: remote support, software updates, loaner machine".to_string()));

    // Above the minimum: 100 × 3.85 = 385.00, no true-up; VAT 77.00; total 462.00.
    let inv = rate(&c, p(2024, 1), &usage(100)).unwrap();
    assert_eq!(inv.amount_of(MinimumTrueUp), 0);
    assert_eq!(inv.invoice.total_cents, 46_200);

    // A chain pays its segment's price: 100 × 3.40 = 340.00 + VAT 68.00 = 408.00.
    let chain = contract("ppm", d(2024, 1, 1), |s| s.segment = Some("chain".into()));
    assert_eq!(
        rate(&chain, p(2024, 1), &usage(100))
            .unwrap()
            .invoice
            .total_cents,
        40_800
    );
    // A shop's audited price overrides both: 100 × 2.95 = 295.00 + 59.00 = 354.00.
    let audited = contract("ppm", d(2024, 1, 1), |s| {
        s.price_override = fleetsim::money::UnitPrice::parse("2.95")
    });
    assert_eq!(
        rate(&audited, p(2024, 1), &usage(100))
            .unwrap()
            .invoice
            .total_cents,
        35_400
    );
}

#[test]
fn per_mounting_with_included_mountings() {
    let c = contract("ppm_included", d(2024, 1, 1), |_| {});
    // 25 mountings: 20 included (0.00), 5 × 4.00 = 20.00; VAT 4.00.
    let inv = rate(&c, p(2024, 1), &usage(25)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Included, 20, "0.00", 0),
            line(Usage, 5, "4.00", 2_000),
            line(TraceOnly, 0, "0.00", 0),
            line(Vat, 1, "4.00", 400),
        ]
    );
    assert_eq!(inv.invoice.billed_mountings(), 25);
}

#[test]
fn subscription_with_overage() {
    let c = contract("sub", d(2024, 1, 1), |_| {});
    // February 2024 (29 days, all covered): 130 mountings = 100 included + 30 × 3.20 = 96.00;
    // fee 349.00 × 29/29 = 349.00; net 445.00; VAT 89.00; total 534.00.
    let inv = rate(&c, p(2024, 2), &usage(130)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Included, 100, "0.00", 0),
            line(Overage, 30, "3.20", 9_600),
            line(TraceOnly, 0, "0.00", 0),
            line(Subscription, 29, "349.00", 34_900),
            line(Vat, 1, "89.00", 8_900),
        ]
    );
    assert_eq!(inv.invoice.total_cents, 53_400);
    assert_eq!(inv.invoice.billed_mountings(), 130);
}

#[test]
fn graduated_tiers() {
    let c = contract("grad", d(2024, 1, 1), |_| {});
    // 250 mountings: 60 × 4.50 = 270.00; 140 × 3.60 = 504.00; 50 × 2.90 = 145.00;
    // net 919.00; VAT 183.80; total 1,102.80.
    let inv = rate(&c, p(2024, 1), &usage(250)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Usage, 60, "4.50", 27_000),
            line(Usage, 140, "3.60", 50_400),
            line(Usage, 50, "2.90", 14_500),
            line(TraceOnly, 0, "0.00", 0),
            line(Vat, 1, "183.80", 18_380),
        ]
    );
    assert_eq!(inv.invoice.total_cents, 110_280);
}

#[test]
fn volume_tiers() {
    let c = contract("vol", d(2024, 1, 1), |_| {});
    // 150 mountings all at the second tier: 150 × 3.80 = 570.00 + its flat fee 25.00 = 595.00;
    // VAT 119.00; total 714.00.
    let inv = rate(&c, p(2024, 1), &usage(150)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Usage, 150, "3.80", 57_000),
            line(TierFee, 1, "25.00", 2_500),
            line(TraceOnly, 0, "0.00", 0),
            line(Vat, 1, "119.00", 11_900),
        ]
    );
    // 60 mountings: 60 × 4.20 = 252.00, no fee; 61: 61 × 3.80 + 25.00 = 256.80 (no drop).
    assert_eq!(rate(&c, p(2024, 1), &usage(60)).unwrap().net_cents, 25_200);
    assert_eq!(rate(&c, p(2024, 1), &usage(61)).unwrap().net_cents, 25_680);
}

#[test]
fn package_pricing_bills_a_started_block_whole() {
    let c = contract("pack", d(2024, 1, 1), |_| {});
    // 101 mountings = 3 packages of 50 (the third started) × 180.00 = 540.00; VAT 108.00.
    let inv = rate(&c, p(2024, 1), &usage(101)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Included, 101, "0.00", 0),
            line(Package, 3, "180.00", 54_000),
            line(TraceOnly, 0, "0.00", 0),
            line(Vat, 1, "108.00", 10_800),
        ]
    );
    assert_eq!(inv.invoice.billed_mountings(), 101);
    // 100 fill two packages exactly: 360.00.
    assert_eq!(rate(&c, p(2024, 1), &usage(100)).unwrap().net_cents, 36_000);
}

#[test]
fn full_service_lump_sum_in_exact_instalments() {
    let c = contract("ppm", d(2024, 1, 1), |s| s.service = Some("full".into()));
    // 1,000.00 over 12 months = 83.333…: floors 83.33 × 12 = 999.96, the 4 cents left go to
    // the first four instalments (equal remainders, lower index first): 4 × 83.34 + 8 × 83.33.
    let mut sum = 0;
    let mut period = p(2024, 1);
    for month in 0..14 {
        let inv = rate(&c, period, &usage(100)).unwrap();
        let share = inv.amount_of(ServiceInstalment);
        let expected = match month {
            0..=3 => 8_334,
            4..=11 => 8_333,
            _ => 0,
        };
        assert_eq!(share, expected, "instalment of {period}");
        sum += share;
        period = period.next();
    }
    assert_eq!(sum, 100_000);
    // January: 100 × 3.85 = 385.00 + 83.34 = 468.34; VAT 93.668 → 93.67; total 562.01.
    let inv = rate(&c, p(2024, 1), &usage(100)).unwrap();
    assert_eq!(inv.invoice.total_cents, 56_201);
    assert!(inv.notes.contains(
        &"included: consumables, software updates, remote support, loaner machine".to_string()
    ));
    assert!(inv.notes.contains(&"not included: nothing".to_string()));
}

#[test]
fn maintenance_with_parts_at_cost_plus_markup() {
    let c = contract("ppm", d(2024, 1, 1), |s| s.service = Some("maint".into()));
    let input = PeriodUsage {
        mountings: 100,
        incidents: vec![Incident {
            response_hours: Decimal::from(20),
            repair_hours: Decimal::from(30),
            labour_minutes: 120,
            visits: 1,
            parts_cost: "200.00".parse().unwrap(),
        }],
        ..PeriodUsage::default()
    };
    // March 2024: 385.00 usage; fee 100.00 × 31/31; labour and travel included; parts
    // 200.00 × 1.15 = 230.00; net 715.00; VAT 143.00; total 858.00. No breach (20 ≤ 48, 30 ≤ 96).
    let inv = rate(&c, p(2024, 3), &input).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Usage, 100, "3.85", 38_500),
            line(TraceOnly, 0, "0.00", 0),
            line(ServiceFee, 31, "100.00", 10_000),
            line(Parts, 1, "230.00", 23_000),
            line(Vat, 1, "143.00", 14_300),
        ]
    );
    assert!(inv
        .notes
        .contains(&"not included: loaner machine".to_string()));
}

#[test]
fn time_and_materials_with_an_sla_credit() {
    let c = contract("ppm", d(2024, 1, 1), |s| s.service = Some("tm".into()));
    let input = PeriodUsage {
        mountings: 100,
        incidents: vec![
            // Response 80 h > 72 h promised: breached. 100 min = 7 started quarter hours.
            Incident {
                response_hours: Decimal::from(80),
                repair_hours: Decimal::from(100),
                labour_minutes: 100,
                visits: 1,
                parts_cost: "40.00".parse().unwrap(),
            },
            // Fixed remotely within the promises: 30 min = 2 quarter hours.
            Incident {
                response_hours: Decimal::from(10),
                repair_hours: Decimal::from(20),
                labour_minutes: 30,
                visits: 0,
                parts_cost: Decimal::ZERO,
            },
        ],
        ..PeriodUsage::default()
    };
    // Labour 9 × 85.00/4 = 9 × 21.25 = 191.25; travel 1 × 95.00; parts 40.00 × 1.25 = 50.00.
    // SLA base = labour + travel = 286.25; 1 breach × 10 % = 28.625 (cap 50 % = 143.125 not
    // reached) → -28.63 (half away from zero). Net 385.00 + 191.25 + 95.00 + 50.00 - 28.63 =
    // 692.62; VAT 138.524 → 138.52; total 831.14.
    let inv = rate(&c, p(2024, 4), &input).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Usage, 100, "3.85", 38_500),
            line(TraceOnly, 0, "0.00", 0),
            line(Labour, 9, "21.25", 19_125),
            line(Travel, 1, "95.00", 9_500),
            line(Parts, 1, "50.00", 5_000),
            line(SlaCredit, -1, "28.625", -2_863),
            line(Vat, 1, "138.524", 13_852),
        ]
    );
    assert_eq!(inv.invoice.total_cents, 83_114);
}

#[test]
fn sla_credits_are_capped_per_month() {
    let c = contract("ppm", d(2024, 1, 1), |s| s.service = Some("maint".into()));
    let late = Incident {
        response_hours: Decimal::from(49),
        repair_hours: Decimal::from(50),
        ..Incident::default()
    };
    // 6 breaches × 10 % of 100.00 = 60.00 > cap 50 % = 50.00 → one line -1 × 50.00.
    let inv = rate(
        &c,
        p(2024, 3),
        &PeriodUsage {
            mountings: 100,
            incidents: vec![late; 6],
            ..PeriodUsage::default()
        },
    )
    .unwrap();
    assert_eq!(inv.amount_of(SlaCredit), -5_000);
    assert!(inv.notes.iter().any(|n| n == "SLA credit capped"));
    // 3 breaches: 3 × 10.00 = 30.00, not capped.
    let inv = rate(
        &c,
        p(2024, 3),
        &PeriodUsage {
            mountings: 100,
            incidents: vec![
                Incident {
                    response_hours: Decimal::from(10),
                    repair_hours: Decimal::from(97),
                    ..Incident::default()
                };
                3
            ],
            ..PeriodUsage::default()
        },
    )
    .unwrap();
    assert_eq!(
        inv.invoice
            .lines
            .iter()
            .find(|l| l.kind == SlaCredit)
            .map(|l| (l.quantity, l.amount_cents)),
        Some((-3, -3_000))
    );
}

#[test]
fn options_bought_separately() {
    let c = contract("ppm", d(2024, 1, 1), |s| {
        s.options = vec![
            "loaner".into(),
            "consumables".into(),
            "remote_support".into(),
        ]
    });
    // Consumables are in the plan: not billed twice. January: 385.00 + loaner 25.00 × 31/31
    // + remote support 19.00 = 429.00; VAT 85.80; total 514.80.
    let inv = rate(&c, p(2024, 1), &usage(100)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Usage, 100, "3.85", 38_500),
            line(TraceOnly, 0, "0.00", 0),
            line(OptionFee, 31, "25.00", 2_500),
            line(OptionFee, 31, "19.00", 1_900),
            line(Vat, 1, "85.80", 8_580),
        ]
    );
    assert!(inv
        .notes
        .contains(&"options billed: loaner machine, remote support".to_string()));
    assert!(inv
        .notes
        .contains(&"not included: software updates".to_string()));
}

#[test]
fn vat_is_on_the_net_total_once() {
    // One VAT line on the net total, its price the exact VAT (see also billing::vat's tests).
    // A subscription month of 1 day (start on the 31st): 349.00 × 1/31 = 11.258… → 11.26;
    // included floor(100 × 1/31) = 3; 3 mountings included; VAT 11.26 × 20 % = 2.252 → 2.25.
    let c = contract("sub", d(2024, 1, 31), |_| {});
    let inv = rate(&c, p(2024, 1), &usage(3)).unwrap();
    assert_eq!(inv.net_cents, 1_126);
    assert_eq!(inv.vat_cents, 225);
    assert_eq!(inv.invoice.total_cents, 1_351);
    let vat = inv.invoice.lines.last().unwrap();
    assert_eq!(
        (vat.kind, vat.unit_price.to_string()),
        (Vat, "2.252".to_string())
    );
}

#[test]
fn mid_month_start_is_prorated_exactly() {
    // Subscription from 15 January 2024: 17 of 31 days. Fee 349.00 × 17/31 = 191.387… → 191.39;
    // allowance floor(100 × 17/31) = floor(54.8…) = 54; 60 mountings → 54 included, 6 × 3.20 =
    // 19.20; net 210.59; VAT 42.118 → 42.12; total 252.71.
    let c = contract("sub", d(2024, 1, 15), |_| {});
    let inv = rate(&c, p(2024, 1), &usage(60)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Included, 54, "0.00", 0),
            line(Overage, 6, "3.20", 1_920),
            line(TraceOnly, 0, "0.00", 0),
            line(Subscription, 17, "349.00", 19_139),
            line(Vat, 1, "42.118", 4_212),
        ]
    );
    assert_eq!(inv.invoice.total_cents, 25_271);
    // The month before is outside the contract.
    assert!(rate(&c, p(2023, 12), &usage(0)).is_err());
    // The term runs 48 full months after the stub: through January 2028, not February.
    assert!(rate(&c, p(2028, 1), &usage(0)).is_ok());
    assert!(rate(&c, p(2028, 2), &usage(0)).is_err());

    // Per mounting with a minimum: 150.00 × 17/31 = 82.258… → 82.26; 10 × 3.85 = 38.50;
    // true-up 43.76; net 82.26.
    let c = contract("ppm", d(2024, 1, 15), |_| {});
    let inv = rate(&c, p(2024, 1), &usage(10)).unwrap();
    assert_eq!(inv.amount_of(MinimumTrueUp), 4_376);
    assert_eq!(inv.net_cents, 8_226);
}

#[test]
fn indexation_after_12_months() {
    let c = contract("ppm", d(2024, 1, 1), |_| {});
    // December 2024: base price 3.85 × 100 = 385.00.
    assert_eq!(
        rate(&c, p(2024, 12), &usage(100)).unwrap().net_cents,
        38_500
    );
    // January 2025, first anniversary: 3.85 × 1.02 = 3.927; 100 × 3.927 = 392.70; VAT 78.54.
    let inv = rate(&c, p(2025, 1), &usage(100)).unwrap();
    assert_eq!(inv.invoice.lines[0].unit_price.to_string(), "3.927");
    assert_eq!(inv.invoice.total_cents, 39_270 + 7_854);
    // The minimum is indexed too: 150.00 × 1.02 = 153.00; 10 × 3.927 = 39.27 → true-up 113.73.
    assert_eq!(
        rate(&c, p(2025, 1), &usage(10))
            .unwrap()
            .amount_of(MinimumTrueUp),
        11_373
    );
    // February 2026, second: 3.85 × 1.02² = 4.00554 → 4.0055 (4 decimals); 100 × = 400.55.
    assert_eq!(rate(&c, p(2026, 2), &usage(100)).unwrap().net_cents, 40_055);
    // A subscription fee: 349.00 × 1.02 = 355.98 from January 2025.
    let s = contract("sub", d(2024, 1, 1), |_| {});
    assert_eq!(
        rate(&s, p(2025, 1), &usage(0))
            .unwrap()
            .amount_of(Subscription),
        35_598
    );
}

#[test]
fn early_termination() {
    let c = contract("sub", d(2024, 1, 1), |s| {
        s.service = Some("maint".into());
        s.terminated_on = Some(d(2025, 6, 15));
    });
    // June 2025 (index year 1), 15 of 30 days: fee 355.98 × 15/30 = 177.99; maintenance
    // 102.00 × 15/30 = 51.00; allowance floor(100 × 15/30) = 50 ≥ 40 mountings, overage 0 at
    // 3.264. Months left: July 2025 to December 2027 = 30. Fee 50 % × (355.98 + 102.00) =
    // 228.99 a month × 30 = 6,869.70. Net 7,098.69; VAT 1,419.738 → 1,419.74; total 8,518.43.
    let inv = rate(&c, p(2025, 6), &usage(40)).unwrap();
    assert_eq!(
        lines(&inv),
        vec![
            line(Included, 40, "0.00", 0),
            line(Overage, 0, "3.264", 0),
            line(TraceOnly, 0, "0.00", 0),
            line(Subscription, 15, "355.98", 17_799),
            line(ServiceFee, 15, "102.00", 5_100),
            line(EarlyTermination, 30, "228.99", 686_970),
            line(Vat, 1, "1419.738", 141_974),
        ]
    );
    assert_eq!(inv.invoice.total_cents, 851_843);
    assert!(rate(&c, p(2025, 7), &usage(0)).is_err());

    // With full service, half the instalments not yet billed are due too: 1,000.00 over 12
    // months from January 2024, terminated 31 March 2024: instalments 4..12 = 83.34 + 8 × 83.33
    // = 749.98 unbilled → 374.99; plus 50 % × minimum 150.00 × 45 months left = 3,375.00.
    let c = contract("ppm", d(2024, 1, 1), |s| {
        s.service = Some("full".into());
        s.terminated_on = Some(d(2024, 3, 31));
    });
    let inv = rate(&c, p(2024, 3), &usage(100)).unwrap();
    let etf: Vec<_> = inv
        .invoice
        .lines
        .iter()
        .filter(|l| l.kind == EarlyTermination)
        .map(|l| (l.quantity, l.amount_cents))
        .collect();
    assert_eq!(etf, vec![(45, 337_500), (1, 37_499)]);
}

#[test]
fn corrections_are_re_rated_at_their_period() {
    // Per mounting: 5 late mountings of February on March's invoice: 5 × 3.85 = 19.25, a line
    // naming February; an estimate 10 too high: -10 × 3.85 = -38.50.
    let c = contract("ppm", d(2024, 1, 1), |_| {});
    let input = PeriodUsage {
        mountings: 100,
        corrections: vec![
            Correction {
                usage_period: p(2024, 2),
                billed: 100,
                delta: 5,
                cause: CorrectionCause::Late,
            },
            Correction {
                usage_period: p(2024, 1),
                billed: 100,
                delta: -10,
                cause: CorrectionCause::Estimate,
            },
        ],
        ..PeriodUsage::default()
    };
    let inv = rate(&c, p(2024, 3), &input).unwrap();
    let corr: Vec<_> = inv
        .invoice
        .lines
        .iter()
        .filter(|l| l.usage_period != p(2024, 3))
        .map(|l| (l.kind, l.usage_period, l.quantity, l.amount_cents))
        .collect();
    assert_eq!(
        corr,
        vec![
            (LateUsage, p(2024, 2), 5, 1_925),
            (EstimateCorrection, p(2024, 1), -10, -3_850),
        ]
    );
    // 385.00 + 19.25 - 38.50 = 365.75 net; billed mountings 100 + 5 - 10.
    assert_eq!(inv.net_cents, 36_575);
    assert_eq!(inv.invoice.billed_mountings(), 95);

    // Graduated, crossing a tier: billed 58, +5 → 63: 2 more at 4.50 = 9.00, 3 at 3.60 = 10.80.
    let g = contract("grad", d(2024, 1, 1), |_| {});
    let late = |billed, delta| PeriodUsage {
        corrections: vec![Correction {
            usage_period: p(2024, 1),
            billed,
            delta,
            cause: CorrectionCause::Late,
        }],
        ..PeriodUsage::default()
    };
    let inv = rate(&g, p(2024, 2), &late(58, 5)).unwrap();
    assert_eq!(inv.net_cents, 900 + 1_080);
    // Volume, crossing a tier: total(63) = 63 × 3.80 + 25.00 = 264.40; total(58) = 58 × 4.20 =
    // 243.60; difference 20.80 in three lines (63 at 3.80, the tier fee, -58 at 4.20).
    let v = contract("vol", d(2024, 1, 1), |_| {});
    let inv = rate(&v, p(2024, 2), &late(58, 5)).unwrap();
    assert_eq!(inv.net_cents, 2_080);
    assert_eq!(inv.invoice.billed_mountings(), 5);
    // A correction may not make a period's usage negative, nor be for a later period.
    assert!(rate(&v, p(2024, 2), &late(3, -4)).is_err());
    assert!(rate(&v, p(2023, 12), &late(3, 1)).is_err());
}

#[test]
fn trace_only_cycles_are_shown_never_billed() {
    for plan in ["ppm", "sub", "grad", "vol", "pack"] {
        let c = contract(plan, d(2024, 1, 1), |_| {});
        let a = rate(&c, p(2024, 1), &usage(70)).unwrap();
        let b = rate(
            &c,
            p(2024, 1),
            &PeriodUsage {
                mountings: 70,
                trace_only: 1_000,
                ..PeriodUsage::default()
            },
        )
        .unwrap();
        assert_eq!(a.invoice.total_cents, b.invoice.total_cents, "{plan}");
        let t = b
            .invoice
            .lines
            .iter()
            .find(|l| l.kind == TraceOnly)
            .unwrap();
        assert_eq!((t.quantity, t.amount_cents), (1_000, 0));
    }
}

#[test]
fn contracts_that_cannot_be_rated_are_refused() {
    let cat = catalogue();
    let spec = |edit: &dyn Fn(&mut ContractSpec)| {
        let mut s = ContractSpec::new(ShopId(1), "ppm", d(2024, 3, 1));
        edit(&mut s);
        cat.contract(&s)
    };
    assert!(spec(&|_| {}).is_ok());
    let err = |edit: &dyn Fn(&mut ContractSpec)| spec(edit).unwrap_err();
    assert!(err(&|s| s.plan = "gold".into()).contains("no plan `gold`"));
    assert!(err(&|s| s.service = Some("platinum".into())).contains("no service tier"));
    assert!(err(&|s| s.options = vec!["coffee".into()]).contains("no option `coffee`"));
    assert!(err(&|s| s.segment = Some("mall".into())).contains("no price for segment `mall`"));
    assert!(err(&|s| s.terminated_on = Some(d(2024, 2, 1))).contains("before it starts"));
    assert!(err(&|s| {
        s.plan = "sub".into();
        s.price_override = fleetsim::money::UnitPrice::parse("3.00");
    })
    .contains("only per_mounting plans"));
    // A 1-year full-service tier fits a 12-month term, not an 11-month one.
    assert!(spec(&|s| {
        s.service = Some("full".into());
        s.term_months = Some(12);
    })
    .is_ok());
    assert!(err(&|s| {
        s.service = Some("full".into());
        s.term_months = Some(11);
    })
    .contains("does not fit"));
}
