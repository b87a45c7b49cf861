//! Plan contracts in the embedded engine (issue #4): a counters-basis subscription through an
//! estimate and its true-up, re-rated at the estimated period's prices, identical after a
//! restart. Every number is worked out by hand in the comments.

use super::sqlite::SqliteEngine;
use super::*;
use crate::billing::LineKind;
use crate::event::{EventBody, Frame, Material};
use chrono::NaiveDate;

const CATALOGUE: &str = r#"
[catalogue]
currency = "EUR"
vat_percent = "20"

[contract_defaults]
term_months = 12

[[plan]]
id = "sub"
kind = "subscription"
monthly_fee = "100.00"
included_mountings = 10
overage_price = "2.00"
"#;

const JAN_1: i64 = 1_704_067_200;
const DAY: i64 = 86_400;

fn reading(seq: u64, time: i64, mountings: u64) -> UsageEvent {
    UsageEvent {
        machine: MachineId(0),
        seq,
        time,
        shop: ShopId(0),
        body: EventBody::Counter {
            total_cycles: mountings,
            mountings,
            trace_only: 0,
            removal: false,
            health: None,
        },
    }
}

fn jan() -> Period {
    Period {
        year: 2024,
        month: 1,
    }
}

fn lines(inv: &Invoice) -> Vec<(LineKind, String, i64, String, i64)> {
    inv.lines
        .iter()
        .map(|l| {
            (
                l.kind,
                l.usage_period.to_string(),
                l.quantity,
                l.unit_price.to_string(),
                l.amount_cents,
            )
        })
        .collect()
}

fn row(
    kind: LineKind,
    p: &str,
    q: i64,
    price: &str,
    cents: i64,
) -> (LineKind, String, i64, String, i64) {
    (kind, p.to_string(), q, price.to_string(), cents)
}

#[test]
fn a_counters_plan_bills_the_estimate_then_corrects_it_at_the_estimated_period_prices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = SqliteEngine::open(&path).unwrap();
    e.provision(&[(MachineId(0), ShopId(0))]).unwrap();
    assert!(
        matches!(
            e.set_plan_contracts(&[agreement("sub")]),
            Err(MeteringError::Catalogue(_))
        ),
        "no catalogue yet"
    );
    e.set_catalogue(CATALOGUE).unwrap();
    match e.set_plan_contracts(&[agreement("sub"), agreement("nope")]) {
        Err(MeteringError::Contract {
            index,
            shop,
            message,
        }) => {
            assert_eq!((index, shop), (1, ShopId(0)));
            assert!(message.contains("no plan `nope`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    e.set_plan_contracts(&[agreement("sub")]).unwrap();

    // January: baseline 0 on Jan 1 00:00, 20 on Jan 11 00:00 (2 a day), then silence. The
    // unread tail Jan 11 → Feb 1 (21 days) is estimated at 2 a day: 42.
    e.ingest(&[reading(1, JAN_1, 0), reading(2, JAN_1 + 10 * DAY, 20)])
        .unwrap();
    e.commit().unwrap();
    let issued = e.close_period(jan()).unwrap();
    assert_eq!(issued.len(), 1);
    // 20 + 42 = 62 mountings: 10 included, 52 over at 2.00 = 104.00; the fee 100.00 for 31 of
    // 31 days; net 204.00, VAT 20 % = 40.80, total 244.80.
    assert_eq!(
        lines(&issued[0]),
        vec![
            row(LineKind::Included, "2024-01", 10, "0.00", 0),
            row(LineKind::Overage, "2024-01", 52, "2.00", 10_400),
            row(LineKind::TraceOnly, "2024-01", 0, "0.00", 0),
            row(LineKind::Subscription, "2024-01", 31, "100.00", 10_000),
            row(LineKind::Vat, "2024-01", 1, "40.80", 4_080),
        ]
    );
    assert_eq!(issued[0].basis, Basis::Counters);
    assert_eq!(issued[0].total_cents, 24_480);
    assert!(issued[0].is_consistent());

    // February: 100 on Feb 11 00:00, a step of 80 that reverses all 42 of January's estimate.
    // The 28-day window now holds only that step, 80 units over 31 days; the tail Feb 11 →
    // Mar 1 (19 days, 2024 is a leap year) is estimated at 80 × 19 / 31 = 49.03 → 49.
    e.ingest(&[reading(3, JAN_1 + 41 * DAY, 100)]).unwrap();
    e.commit().unwrap();
    let feb = e.close_period(jan().next()).unwrap();
    // Own usage 80 + 49 = 129: 10 included, 119 over = 238.00. January re-rated from 62 billed
    // to 20: 42 fewer over the allowance at January's 2.00 = −84.00. Fee 29 of 29 days 100.00.
    // Net 238.00 − 84.00 + 100.00 = 254.00, VAT 50.80, total 304.80.
    assert_eq!(
        lines(&feb[0]),
        vec![
            row(LineKind::Included, "2024-02", 10, "0.00", 0),
            row(LineKind::Overage, "2024-02", 119, "2.00", 23_800),
            row(LineKind::TraceOnly, "2024-02", 0, "0.00", 0),
            row(LineKind::EstimateCorrection, "2024-01", -42, "2.00", -8_400),
            row(LineKind::Subscription, "2024-02", 29, "100.00", 10_000),
            row(LineKind::Vat, "2024-02", 1, "50.80", 5_080),
        ]
    );
    assert_eq!(feb[0].total_cents, 30_480);
    let notes = e.invoice_notes(jan().next()).unwrap();
    let notes = &notes[&ShopId(0)];
    assert!(
        notes
            .iter()
            .any(|n| n.contains("2024-01: -42 mountings (estimate corrected)")),
        "{notes:?}"
    );

    // A restart gives the same invoices and notes, and closing again issues nothing.
    drop(e);
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(e.invoices(jan()).unwrap(), issued);
    assert_eq!(e.invoices(jan().next()).unwrap(), feb);
    assert_eq!(e.invoice_notes(jan().next()).unwrap()[&ShopId(0)], *notes);
    assert!(e.close_period(jan().next()).unwrap().is_empty());
    assert_eq!(e.catalogue().unwrap().as_deref(), Some(CATALOGUE));

    // Incidents for a closed period are refused; replacing the catalogue with one that lacks
    // the contract's plan is refused too.
    let refused = e.record_incidents(ShopId(0), jan(), &[Incident::default()]);
    assert!(
        matches!(refused, Err(MeteringError::PeriodClosed { .. })),
        "{refused:?}"
    );
    let refused = e.set_catalogue(&CATALOGUE.replace("\"sub\"", "\"other\""));
    assert!(
        matches!(refused, Err(MeteringError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(e.catalogue().unwrap().as_deref(), Some(CATALOGUE));
}

#[test]
fn periods_outside_the_term_issue_no_invoice_and_a_price_contract_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = SqliteEngine::open(&dir.path().join("m.sqlite")).unwrap();
    e.provision(&[(MachineId(0), ShopId(0)), (MachineId(1), ShopId(1))])
        .unwrap();
    e.set_catalogue(CATALOGUE).unwrap();
    let mut late_start = agreement("sub");
    late_start.basis = Basis::Events;
    late_start.terms.start = NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
    e.set_plan_contracts(&[late_start]).unwrap();
    e.set_contracts(&[Contract {
        shop: ShopId(1),
        basis: Basis::Events,
        price_per_mounting: crate::money::UnitPrice::parse("3.85").unwrap(),
        currency: crate::money::Currency("EUR".into()),
    }])
    .unwrap();
    let mounting = |machine: u32, seq: u64| UsageEvent {
        machine: MachineId(machine),
        seq,
        time: JAN_1 + DAY,
        shop: ShopId(machine),
        body: EventBody::Mounting {
            frame: Frame::FullRim,
            material: Material::Index150,
            remake: false,
        },
    };
    e.ingest(&[mounting(0, 1), mounting(1, 1), mounting(1, 2)])
        .unwrap();
    e.commit().unwrap();
    let issued = e.close_period(jan()).unwrap();
    // Shop 0's contract starts in February: no January invoice. Shop 1 as ever: 2 × 3.85.
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].shop, ShopId(1));
    assert_eq!(issued[0].total_cents, 770);
    assert!(e.invoice_notes(jan()).unwrap().is_empty());
    // February: shop 0's first month; January's usage is outside its term, never billed.
    e.ingest(&[mounting(0, 2)]).unwrap();
    e.commit().unwrap();
    let feb = e.close_period(jan().next()).unwrap();
    assert_eq!(feb[0].shop, ShopId(0));
    assert!(feb[0].lines.iter().all(|l| l.usage_period == jan().next()));
    // 0 mountings in the allowance, fee 100.00, VAT 20.00.
    assert_eq!(feb[0].total_cents, 12_000);
}

fn agreement(plan: &str) -> PlanAgreement {
    PlanAgreement {
        shop: ShopId(0),
        basis: Basis::Counters,
        terms: PlanTerms {
            plan: plan.to_string(),
            segment: None,
            price_override: None,
            service: None,
            options: Vec::new(),
            start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            term_months: None,
            terminated_on: None,
        },
    }
}

/// The latest period holding data: usage whatever its date (counted in memory before a
/// checkpoint, or in the table after one), or a plan contract's start, whichever is later.
#[test]
fn the_latest_data_period_is_the_latest_usage_or_plan_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let mut e = SqliteEngine::open(&path).unwrap();
    e.provision(&[(MachineId(0), ShopId(0))]).unwrap();
    assert_eq!(e.latest_data_period().unwrap(), None, "an empty store");
    let march = JAN_1 + 60 * DAY;
    e.ingest(&[reading(1, march, 0)]).unwrap();
    let p = |year, month| Some(Period { year, month });
    assert_eq!(
        e.latest_data_period().unwrap(),
        p(2024, 3),
        "not committed yet"
    );
    e.ingest(&[reading(2, JAN_1, 0)]).unwrap();
    e.commit().unwrap();
    e.usage(jan()).unwrap(); // a checkpoint: usage moves from memory to the table
    assert_eq!(
        e.latest_data_period().unwrap(),
        p(2024, 3),
        "an older event"
    );
    e.set_catalogue(CATALOGUE).unwrap();
    let mut later = agreement("sub");
    later.terms.start = NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
    e.set_plan_contracts(&[later]).unwrap();
    assert_eq!(
        e.latest_data_period().unwrap(),
        p(2025, 6),
        "a plan starting later"
    );
    drop(e);
    let mut e = SqliteEngine::open(&path).unwrap();
    assert_eq!(
        e.latest_data_period().unwrap(),
        p(2025, 6),
        "after a reopen"
    );
}
