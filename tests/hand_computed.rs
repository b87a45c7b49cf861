//! Invoices computed by hand. Fixed demand makes every count exact, so each expected number
//! below is worked out on paper (in the comments) rather than by calling fleetsim's own code.
//!
//! Calendar facts used throughout (2024 is a leap year; 2024-01-01 was a Monday):
//! - January 2024: 31 days; Sundays 7, 14, 21, 28 → 4 Sundays → 27 open days.
//! - February 2024: 29 days; Sundays 4, 11, 18, 25 → 4 Sundays → 25 open days.
//! - August 2024: 31 days (the 1st is a Thursday); Sundays 4, 11, 18, 25 → 27 open days.

mod common;

use common::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

type Row = BTreeMap<String, String>;

/// Runs a scenario through the binary into `out`; returns (invoices.csv, shops.csv, summary).
fn run_fixed(scenario: &str, out: &Path) -> (Vec<Row>, Vec<Row>, serde_json::Value) {
    let output = run_quiet(&data(scenario), out, &[]);
    assert_exit(&output, 0, scenario);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(
        summary["reconciliation"]["ok"], true,
        "{scenario}: {}",
        summary["reconciliation"]
    );
    (
        one_row_per_invoice(&read_csv(&out.join("invoices.csv")).rows),
        read_csv(&out.join("shops.csv")).rows,
        summary,
    )
}

/// invoices.csv has a row per invoice line: folds each invoice's lines into one row with
/// billable_mountings (every mountings line), trace_only, unit_price (of the mountings),
/// amount_cents and amount (the invoice total), currency.
fn one_row_per_invoice(lines: &[Row]) -> Vec<Row> {
    let mut invoices: BTreeMap<(String, String), Row> = BTreeMap::new();
    for line in lines {
        let key = (line["shop"].clone(), line["period"].clone());
        let row = invoices.entry(key).or_insert_with(|| {
            let mut row = Row::new();
            for field in ["shop", "segment", "period", "currency"] {
                row.insert(field.into(), line[field].clone());
            }
            row.insert("billable_mountings".into(), "0".into());
            row.insert("trace_only".into(), "0".into());
            row.insert("amount_cents".into(), line["invoice_total_cents"].clone());
            row
        });
        let quantity: i64 = line["quantity"].parse().unwrap();
        let field = if line["kind"] == "trace_only" {
            "trace_only"
        } else {
            "billable_mountings"
        };
        let sum = row[field].parse::<i64>().unwrap() + quantity;
        row.insert(field.into(), sum.to_string());
        if line["kind"] != "trace_only" {
            row.insert("unit_price".into(), line["unit_price"].clone());
        }
    }
    for row in invoices.values_mut() {
        let cents: i64 = row["amount_cents"].parse().unwrap();
        row.insert(
            "amount".into(),
            format!("{}.{:02}", cents / 100, cents % 100),
        );
    }
    invoices.into_values().collect()
}

fn invoice<'a>(rows: &'a [Row], shop: &str, period: &str) -> &'a Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r["shop"] == shop && r["period"] == period)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one invoice row for {shop} {period}"
    );
    found[0]
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

/// Asserts one invoices.csv row field by field.
#[track_caller]
fn assert_invoice(
    row: &Row,
    mountings: u64,
    trace_only: u64,
    unit_price: &str,
    cents: i64,
    amount: &str,
) {
    let place = format!("{} {}", row["shop"], row["period"]);
    assert_eq!(
        row["billable_mountings"],
        mountings.to_string(),
        "{place}: billable_mountings"
    );
    assert_eq!(
        row["trace_only"],
        trace_only.to_string(),
        "{place}: trace_only"
    );
    assert_eq!(
        dec(&row["unit_price"]),
        dec(unit_price),
        "{place}: unit_price {}",
        row["unit_price"]
    );
    assert_eq!(
        row["amount_cents"],
        cents.to_string(),
        "{place}: amount_cents"
    );
    assert_eq!(row["amount"], amount, "{place}: amount");
    assert_eq!(row["currency"], "EUR", "{place}: currency");
}

#[test]
fn two_months_of_fixed_demand_are_invoiced_to_the_cent() {
    let tmp = tempfile::tempdir().unwrap();
    let (invoices, shops, summary) = run_fixed("fixed_two_months.toml", &tmp.path().join("out"));
    assert_eq!(invoices.len(), 3 * 2, "3 shops × 2 months");

    // Shop 0, audited price 3.85 EUR per mounting.
    //   January:  27 open days × 4 = 108 mountings × 3.85 = 415.80 EUR = 41580 cents;
    //             27 open days × 1 =  27 trace-only cycles, not billed.
    //   February: 25 open days × 4 = 100 mountings × 3.85 = 385.00 EUR = 38500 cents; 25 trace-only.
    assert_invoice(
        invoice(&invoices, "S000000", "2024-01"),
        108,
        27,
        "3.85",
        41_580,
        "415.80",
    );
    assert_invoice(
        invoice(&invoices, "S000000", "2024-02"),
        100,
        25,
        "3.85",
        38_500,
        "385.00",
    );

    // Shop 1, audited price 2.345: 108 × 2.345 = 253.260 → 25326 cents; 100 × 2.345 = 234.500.
    assert_invoice(
        invoice(&invoices, "S000001", "2024-01"),
        108,
        27,
        "2.345",
        25_326,
        "253.26",
    );
    assert_invoice(
        invoice(&invoices, "S000001", "2024-02"),
        100,
        25,
        "2.345",
        23_450,
        "234.50",
    );

    // Shop 2 has no override: its segment's price applies.
    //   chain 3.20:       108 × 3.20 = 345.60; 100 × 3.20 = 320.00
    //   independent 3.80: 108 × 3.80 = 410.40; 100 × 3.80 = 380.00
    let jan = invoice(&invoices, "S000002", "2024-01");
    match jan["segment"].as_str() {
        "chain" => {
            assert_invoice(jan, 108, 27, "3.20", 34_560, "345.60");
            assert_invoice(
                invoice(&invoices, "S000002", "2024-02"),
                100,
                25,
                "3.20",
                32_000,
                "320.00",
            );
        }
        "independent" => {
            assert_invoice(jan, 108, 27, "3.80", 41_040, "410.40");
            assert_invoice(
                invoice(&invoices, "S000002", "2024-02"),
                100,
                25,
                "3.80",
                38_000,
                "380.00",
            );
        }
        other => panic!("unknown segment {other}"),
    }

    // shops.csv, shop 0: 27 + 25 = 52 open days (Mondays open: fixed mode ignores the
    // "every shop closes on Monday" setting); jobs = 208 mountings + 52 trace-only = 260;
    // invoiced 41580 + 38500 = 80080 cents; 800.80 / 208 = 3.85 per mounting, / 260 = 3.08 per job.
    let s0 = &shops[0];
    assert_eq!(s0["shop"], "S000000");
    assert_eq!(s0["machines"], "1");
    assert_eq!(s0["open_days"], "52");
    assert_eq!(s0["jobs"], "260");
    assert_eq!(s0["mountings"], "208");
    assert_eq!(s0["remakes"], "0");
    assert_eq!(s0["trace_only"], "52");
    assert_eq!(s0["invoiced_cents"], "80080");
    // All of it is usage at a price per mounting, without VAT.
    assert_eq!(s0["net_cents"], "80080");
    assert_eq!(s0["vat_cents"], "0");
    assert_eq!(s0["usage_cents"], "80080");
    assert_split_adds_up(&read_csv(&tmp.path().join("out/shops.csv")));
    assert_eq!(dec(&s0["effective_price_per_mounting"]), dec("3.85"));
    assert_eq!(dec(&s0["effective_price_per_job"]), dec("3.08"));

    // Summary: 3 shops × 52 open days = 156 end-of-day counter reads, plus 3 commissioning
    // reads; 3 × 208 mountings; 3 × 52 trace-only.
    assert_eq!(summary["truth"]["billable_mountings"], 624);
    assert_eq!(summary["truth"]["trace_only"], 156);
    assert_eq!(summary["truth"]["counter_reads"], 159);
    assert_eq!(summary["truth"]["remakes"], 0);
    let total: i64 = invoices
        .iter()
        .map(|r| r["amount_cents"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(summary["billed"]["total_cents"], total);
    assert_eq!(summary["billed"]["invoices"], 6);
}

#[test]
fn a_half_cent_on_an_invoice_rounds_away_from_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let (invoices, _, _) = run_fixed("fixed_half_cent.toml", &tmp.path().join("out"));
    assert_eq!(invoices.len(), 2);
    // January: 27 open days × 3 = 81 mountings × 2.345 = 189.945 EUR = 18994.5 cents → 18995
    // (half away from zero; banker's rounding would give 18994, truncation 18994).
    // 27 × 2 = 54 trace-only cycles, not billed.
    assert_invoice(
        invoice(&invoices, "S000000", "2024-01"),
        81,
        54,
        "2.345",
        18_995,
        "189.95",
    );
    // February: 25 × 3 = 75 mountings × 2.345 = 175.875 EUR = 17587.5 cents → 17588
    // (truncation would give 17587). 25 × 2 = 50 trace-only.
    assert_invoice(
        invoice(&invoices, "S000000", "2024-02"),
        75,
        50,
        "2.345",
        17_588,
        "175.88",
    );
}

#[test]
fn trace_only_cycles_are_on_the_invoice_but_billed_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (invoices, shops, summary) = run_fixed("fixed_trace_only.toml", &tmp.path().join("out"));
    // February 2024: 25 open days × 3 trace-only = 75 cycles; no mountings; 0.00 EUR.
    assert_eq!(invoices.len(), 1);
    assert_invoice(&invoices[0], 0, 75, "3.85", 0, "0.00");
    assert_eq!(shops[0]["trace_only"], "75");
    assert_eq!(
        shops[0]["jobs"], "75",
        "a remote-edged order is a customer job"
    );
    assert_eq!(shops[0]["invoiced_cents"], "0");
    assert_eq!(
        shops[0]["effective_price_per_mounting"], "",
        "no mountings: no price per mounting"
    );
    assert_eq!(dec(&shops[0]["effective_price_per_job"]), dec("0"));
    assert_eq!(summary["billed"]["total_cents"], 0);
    assert_eq!(summary["metered"]["trace_only"], 75);
}

#[test]
fn fixed_demand_ignores_random_monday_and_summer_closures() {
    let tmp = tempfile::tempdir().unwrap();
    let (invoices, shops, _) = run_fixed("fixed_summer.toml", &tmp.path().join("out"));
    // Every shop would close on Mondays and from 1 to 21 August in calibrated mode; in fixed
    // mode only Sundays close: 27 open days × 4 = 108 mountings × 1.00 = 108.00 EUR each.
    assert_eq!(invoices.len(), 4);
    for row in &invoices {
        assert_eq!(row["period"], "2024-08");
        assert_invoice(row, 108, 27, "1.00", 10_800, "108.00");
    }
    for row in &shops {
        assert_eq!(row["open_days"], "27", "{}", row["shop"]);
    }
}

#[test]
fn fixed_demand_is_per_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let (invoices, shops, summary) = run_fixed("fixed_two_machines.toml", &tmp.path().join("out"));
    // Two machines × 4 mountings × 27 open days = 216 mountings × 3.85 = 831.60 EUR;
    // two machines × 1 × 27 = 54 trace-only; each machine reports its counter once per open day
    // (54) plus once when commissioned, before its first job (2).
    assert_eq!(shops[0]["machines"], "2");
    assert_eq!(
        shops[0]["open_days"], "27",
        "open days count the shop, not its machines"
    );
    assert_invoice(&invoices[0], 216, 54, "3.85", 83_160, "831.60");
    assert_eq!(summary["machines"], 2);
    assert_eq!(summary["truth"]["counter_reads"], 56);
}

/// Cents for `count` mountings at `mills`/1000 EUR each, rounded half away from zero, in
/// integer arithmetic: the amount in tenths of a cent is `count × mills`.
fn cents_by_hand(count: u64, mills: u64) -> i64 {
    ((count * mills + 5) / 10) as i64
}

#[test]
fn cents_by_hand_rounds_half_up() {
    assert_eq!(cents_by_hand(81, 2345), 18_995);
    assert_eq!(cents_by_hand(1, 4), 0);
    assert_eq!(cents_by_hand(1, 5), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any price with up to 3 decimals and any daily count: January's invoice is the count
    /// (27 open days × per day) times the price, rounded once, half away from zero.
    #[test]
    fn january_invoice_matches_integer_arithmetic(per_day in 0u32..12, mills in 0u64..20_000) {
        let price = format!("{}.{:03}", mills / 1000, mills % 1000);
        let text = format!(
            "[scenario]\nname = \"prop\"\nseed = 9\n[calendar]\nstart = \"2024-01-01\"\nmonths = 1\n\
             [fleet]\nshops = 1\nsecond_machine_above = 1000.0\n\
             [demand]\nmode = \"fixed\"\nfixed_mountings_per_day = {per_day}\nfixed_trace_only_per_day = 1\n\
             [closures]\nclosed_weekdays = [\"sun\"]\n[pricing]\nbasis = \"events\"\nchain = \"{price}\"\nindependent = \"{price}\"\n"
        );
        let scenario = fleetsim::scenario::parse(Path::new("prop.toml"), &text).expect("valid scenario");
        let tmp = tempfile::tempdir().unwrap();
        let opts = fleetsim::run::RunOptions { out: Some(tmp.path().join("out")), seed: None, threads: 1, quiet: true };
        let result = fleetsim::run::run(scenario, &opts).expect("the run completes");
        prop_assert!(result.reconciliation.ok);
        let rows = one_row_per_invoice(&read_csv(&result.out_dir.join("invoices.csv")).rows);
        prop_assert_eq!(rows.len(), 1);
        let count = 27 * u64::from(per_day);
        prop_assert_eq!(&rows[0]["billable_mountings"], &count.to_string());
        prop_assert_eq!(&rows[0]["amount_cents"], &cents_by_hand(count, mills).to_string());
        prop_assert_eq!(result.summary.billed.total_cents, cents_by_hand(count, mills));
    }
}
