//! Properties of plan invoices (proptest): lines add up, VAT is the rounded rate of the net,
//! mountings are conserved, tiered lines agree with a brute-force per-unit computation, and
//! nothing is lost or created by rounding over a 48-month contract (lump sum, proration).

use chrono::{Datelike, NaiveDate};
use fleetsim::billing::catalogue::{
    Catalogue, ContractSpec, PlanContract, Pricing, ServicePricing,
};
use fleetsim::billing::catalogue_file;
use fleetsim::billing::plans::{rate, Correction, CorrectionCause, PeriodUsage};
use fleetsim::billing::service::Incident;
use fleetsim::billing::tiers::{graduated_exact, volume_exact};
use fleetsim::billing::LineKind;
use fleetsim::calendar::Period;
use fleetsim::event::ShopId;
use fleetsim::money::UnitPrice;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::path::Path;

fn catalogue() -> Catalogue {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalogue/default.toml");
    catalogue_file::load(&path).unwrap()
}

const PLANS: [&str; 5] = [
    "per_mounting",
    "subscription_100",
    "graduated",
    "volume",
    "package_50",
];
const SERVICES: [Option<&str>; 4] = [
    None,
    Some("time_and_materials"),
    Some("maintenance"),
    Some("full_service"),
];
const OPTIONS: [&str; 4] = [
    "remote_support",
    "software_updates",
    "loaner",
    "consumables",
];

fn date(day_of_2024: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(u64::from(day_of_2024))
}

/// Round half away from zero of `num / den` for num ≥ 0, den > 0.
fn round_half_up(num: i128, den: i128) -> i128 {
    (2 * num + den) / (2 * den)
}

fn arb_incident() -> impl Strategy<Value = Incident> {
    (0_u32..200, 0_u32..400, 0_u32..600, 0_u32..3, 0_i64..100_000).prop_map(
        |(resp, rep, minutes, visits, parts)| Incident {
            response_hours: Decimal::from(resp),
            repair_hours: Decimal::from(rep),
            labour_minutes: minutes,
            visits,
            parts_cost: Decimal::new(parts, 2),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invoices_add_up_and_conserve_mountings(
        plan in 0_usize..5,
        service in 0_usize..4,
        options in proptest::collection::vec(0_usize..4, 0..3),
        start_day in 0_u32..366,
        month in 0_u32..49,
        mountings in 0_u64..1_500,
        trace in 0_u64..300,
        incidents in proptest::collection::vec(arb_incident(), 0..4),
        corrections in proptest::collection::vec((1_u32..6, 0_u64..400, -400_i64..400, any::<bool>()), 0..3),
        terminate_after in proptest::option::of(0_u32..1_500),
    ) {
        let start = date(start_day);
        let mut spec = ContractSpec::new(ShopId(1), PLANS[plan], start);
        spec.service = SERVICES[service].map(str::to_string);
        spec.options = options.iter().map(|&i| OPTIONS[i].to_string()).collect();
        spec.terminated_on = terminate_after.map(|d| start + chrono::Days::new(u64::from(d)));
        let c = catalogue().contract(&spec).unwrap();
        let mut period = Period::of_date(start);
        for _ in 0..month {
            period = period.next();
        }
        let term = c.term();
        let corrections: Vec<Correction> = corrections
            .into_iter()
            .filter_map(|(back, billed, delta, late)| {
                let mut p = period;
                for _ in 0..back {
                    p = Period { year: if p.month == 1 { p.year - 1 } else { p.year }, month: if p.month == 1 { 12 } else { p.month - 1 } };
                }
                let delta = delta.max(-(billed as i64));
                (term.days_covered(p) > 0).then_some(Correction {
                    usage_period: p,
                    billed,
                    delta,
                    cause: if late { CorrectionCause::Late } else { CorrectionCause::Estimate },
                })
            })
            .collect();
        let input = PeriodUsage { mountings, trace_only: trace, corrections: corrections.clone(), incidents };
        let result = rate(&c, period, &input);
        if term.days_covered(period) == 0 {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let inv = result.unwrap();
        prop_assert!(inv.is_consistent(), "{:?}", inv);
        let sum: i64 = inv.invoice.lines.iter().map(|l| l.amount_cents).sum();
        prop_assert_eq!(sum, inv.invoice.total_cents);
        // VAT = the net × 20 % rounded once, half away from zero (symmetric for credits).
        let net = i128::from(inv.net_cents);
        let vat = round_half_up(net.abs() * 20, 100) * net.signum();
        prop_assert_eq!(i128::from(inv.vat_cents), vat);
        // Every mounting, corrections included, is on exactly one mountings line.
        let deltas: i64 = corrections.iter().map(|c| c.delta).sum();
        prop_assert_eq!(inv.invoice.billed_mountings(), mountings as i64 + deltas);
        let t = inv.invoice.lines.iter().find(|l| l.kind == LineKind::TraceOnly).unwrap();
        prop_assert_eq!((t.quantity, t.amount_cents), (trace as i64, 0));
    }

    #[test]
    fn tiered_invoices_agree_with_per_unit_pricing(mountings in 0_u64..1_500, volume in any::<bool>()) {
        let cat = catalogue();
        let id = if volume { "volume" } else { "graduated" };
        let c = cat.contract(&ContractSpec::new(ShopId(1), id, date(0))).unwrap();
        let (Pricing::Graduated { tiers } | Pricing::Volume { tiers }) = &c.plan.pricing else {
            unreachable!()
        };
        let inv = rate(&c, Period { year: 2024, month: 1 }, &PeriodUsage { mountings, ..PeriodUsage::default() }).unwrap();
        // Per unit: price each mounting at its tier (graduated) or at the total's (volume).
        let mut exact = Decimal::ZERO;
        let total_tier = tiers.iter().position(|t| t.up_to.is_none_or(|u| mountings <= u)).unwrap();
        let mut reached = vec![false; tiers.len()];
        for unit in 1..=mountings {
            let i = if volume { total_tier } else { tiers.iter().position(|t| t.up_to.is_none_or(|u| unit <= u)).unwrap() };
            exact += tiers[i].price.0;
            reached[i] = true;
        }
        exact += tiers.iter().zip(&reached).filter(|(_, r)| **r).map(|(t, _)| t.flat_fee.0).sum::<Decimal>();
        let expected = if volume { volume_exact(tiers, mountings) } else { graduated_exact(tiers, mountings) };
        prop_assert_eq!(exact, expected);
        // The catalogue's tier prices are whole cents, so each line is exact and the net is the
        // per-unit sum to the cent.
        prop_assert_eq!(Decimal::new(inv.net_cents, 2), exact);
    }

    #[test]
    fn nothing_is_lost_or_created_over_a_48_month_contract(
        start_day in 0_u32..366,
        fee_ten_thousandths in 1_i64..10_000_000,
        lump_cents in 1_i64..5_000_000,
        years in 1_u32..5,
    ) {
        let start = date(start_day);
        let mut c: PlanContract = catalogue()
            .contract(&ContractSpec { service: Some("full_service".into()), ..ContractSpec::new(ShopId(1), "subscription_100", start) })
            .unwrap();
        c.indexation_percent = Decimal::ZERO;
        let fee = UnitPrice(Decimal::new(fee_ten_thousandths, 4));
        if let Pricing::Subscription { monthly_fee, .. } = &mut c.plan.pricing {
            *monthly_fee = fee;
        }
        if let Some(s) = &mut c.service {
            s.pricing = ServicePricing::FullService { years, lump_sum: UnitPrice(Decimal::new(lump_cents, 2)) };
        }
        let term = c.term();
        let mut period = Period::of_date(start);
        let (mut subscription, mut instalments, mut periods) = (0_i128, 0_i64, 0);
        while term.days_covered(period) > 0 {
            let inv = rate(&c, period, &PeriodUsage::default()).unwrap();
            subscription += i128::from(inv.amount_of(LineKind::Subscription));
            instalments += inv.amount_of(LineKind::ServiceInstalment);
            periods += 1;
            period = period.next();
        }
        let stub = start.day() != 1;
        prop_assert_eq!(periods, if stub { 49 } else { 48 });
        // The lump sum, split by largest remainder, is billed to the cent.
        prop_assert_eq!(instalments, lump_cents);
        // The fee: 48 full months exactly, plus the stub prorated and rounded once.
        let full = 48 * i128::from(fee_ten_thousandths);
        let first = Period::of_date(start);
        let stub_days = i128::from(term.days_covered(first));
        let dim = i128::from(first.days());
        let stub_cents = if stub { round_half_up(i128::from(fee_ten_thousandths) * stub_days, 100 * dim) } else { 0 };
        // Full months: each is fee × 1 rounded once; with a 4-decimal fee that is
        // round(fee in cents), 48 times.
        let month_cents = round_half_up(i128::from(fee_ten_thousandths), 100);
        prop_assert_eq!(subscription, 48 * month_cents + stub_cents);
        // And the rounding of a full month never exceeds half a cent.
        prop_assert!((48 * month_cents * 100 - full).abs() <= 48 * 50);
    }

    #[test]
    fn a_mid_month_start_is_prorated_exactly(
        start_day in 0_u32..366,
        fee_ten_thousandths in 0_i64..100_000_000,
    ) {
        let start = date(start_day);
        let mut c = catalogue().contract(&ContractSpec::new(ShopId(1), "subscription_100", start)).unwrap();
        if let Pricing::Subscription { monthly_fee, .. } = &mut c.plan.pricing {
            *monthly_fee = UnitPrice(Decimal::new(fee_ten_thousandths, 4));
        }
        let p = Period::of_date(start);
        let inv = rate(&c, p, &PeriodUsage::default()).unwrap();
        let days = i128::from(c.term().days_covered(p));
        prop_assert_eq!(days, i128::from(p.days() - start.day() + 1));
        // fee × days / days-in-month in cents, computed with integers, rounded once.
        let expected = round_half_up(i128::from(fee_ten_thousandths) * days, 100 * i128::from(p.days()));
        prop_assert_eq!(i128::from(inv.amount_of(LineKind::Subscription)), expected);
    }
}
