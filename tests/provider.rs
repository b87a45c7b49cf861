//! The provider's view of a run with alternatives (issue 12, item 5), from its files alone:
//! month by month the cost to serve adds up to the shops' costs, a repair's parts, travel and
//! loaner land in the month its machine failed, margins and the cash position follow from
//! revenue and cost as `summary.json` says; the frame and material mix segments partition the
//! fleet.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

const SMALL: &str = "tests/data/alternatives_small.toml";

fn rows_of<'a>(csv: &'a Csv, alternative: &str) -> Vec<&'a BTreeMap<String, String>> {
    csv.rows
        .iter()
        .filter(|r| r["alternative"] == alternative)
        .collect()
}

/// The cash position computed again from the monthly rows: the lowest cumulative margin and
/// its month, the months at a loss, and the month after the last one below 0.
fn cash(rows: &[&BTreeMap<String, String>]) -> (i64, Value, i64, Value) {
    let (mut sum, mut low, mut low_month) = (0i64, 0i64, Value::Null);
    let (mut at_loss, mut break_even) = (0, Value::String(rows[0]["period"].clone()));
    for (i, r) in rows.iter().enumerate() {
        let margin = cell_i64(r, "revenue_cents") - cell_i64(r, "cost_cents");
        sum += margin;
        at_loss += i64::from(margin < 0);
        if sum < low {
            (low, low_month) = (sum, Value::String(r["period"].clone()));
        }
        if sum < 0 {
            break_even = rows
                .get(i + 1)
                .map_or(Value::Null, |n| Value::String(n["period"].clone()));
        }
    }
    (low, low_month, at_loss, break_even)
}

#[test]
fn the_provider_month_adds_up_and_bears_its_repairs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert_exit(&run_quiet(SMALL, &out, &[]), 0, SMALL);
    let summary = read_json(&out.join("summary.json"));
    let monthly = read_csv(&out.join("alternative_monthly.csv"));
    let service = read_csv(&out.join("service_monthly.csv"));
    let fleet_cost = summary["service"]["cost_cents"]
        .as_i64()
        .expect("/service/cost_cents");

    let pricings = summary["alternatives"].as_array().unwrap();
    assert!(pricings.len() >= 3);
    let base = rows_of(&monthly, "base");
    for (i, p) in pricings.iter().enumerate() {
        let id = p["id"].as_str().unwrap();
        let rows = rows_of(&monthly, id);
        assert_eq!(rows.len(), service.rows.len(), "{id}: a row a month");
        let (mut cost, mut revenue, mut cumulative) = (0, 0, 0);
        for (r, b) in rows.iter().zip(&base) {
            let margin = cell_i64(r, "revenue_cents") - cell_i64(r, "cost_cents");
            assert_eq!(cell_i64(r, "margin_cents"), margin, "{id} {r:?}");
            cumulative += margin;
            assert_eq!(cell_i64(r, "cumulative_margin_cents"), cumulative);
            // The cost to serve is the fleet's, whichever pricing bills it.
            assert_eq!(r["cost_cents"], b["cost_cents"], "{id}");
            cost += cell_i64(r, "cost_cents");
            revenue += cell_i64(r, "revenue_cents");
        }
        let c = &p["costs"];
        assert_eq!(
            cost, fleet_cost,
            "{id}: the months add up to the shops' costs"
        );
        assert_eq!(cost, c["cost_cents"].as_i64().unwrap());
        assert_eq!(revenue, p["revenue_cents"].as_i64().unwrap(), "{id}");
        assert_eq!(revenue - cost, c["margin_cents"].as_i64().unwrap());
        let (low, low_month, at_loss, break_even) = cash(&rows);
        let at = format!("/alternatives/{i}/costs");
        assert_eq!(c["cumulative_margin_low_cents"].as_i64(), Some(low), "{at}");
        assert_eq!(c["cumulative_margin_low_month"], low_month, "{at}");
        assert_eq!(c["months_at_loss"].as_i64(), Some(at_loss), "{at}");
        assert_eq!(c["break_even_month"], break_even, "{at}");
    }

    // What a month's repairs cost (service_monthly.csv, by failure month) is inside that
    // month's cost; the rest is the lease and the pairs' consumables. Every shop has its
    // machines the whole run (checked), and a full month's lease is the same whatever its
    // length: the rest of a month is the fleet's lease ÷ months plus some consumables. A
    // repair billed to another month shows as a swing of its cost.
    let shops_csv = read_csv(&out.join("shops.csv"));
    let first = &service.rows[0]["period"];
    for shop in &shops_csv.rows {
        assert!(shop["start"].starts_with(first.as_str()), "{shop:?}");
        assert!(shop["terminated_on"].is_empty(), "{shop:?}");
    }
    let component = |c: &str| {
        summary["service"]["cost_by_component"][c]
            .as_i64()
            .unwrap_or_else(|| panic!("/service/cost_by_component/{c}"))
    };
    let months = service.rows.len() as i64;
    let lease = component("machine_cents") / months;
    let consumables = component("consumables_cents");
    let mut repair_months = 0;
    for (r, s) in base.iter().zip(&service.rows) {
        assert_eq!(r["period"], s["period"]);
        let repairs = cell_i64(s, "repair_cost_cents");
        repair_months += i64::from(repairs > 0);
        // Labour is rounded once a month there and once a shop here: a few cents apart.
        let rest = cell_i64(r, "cost_cents") - repairs - lease;
        assert!(
            (-100..=consumables / 2).contains(&rest),
            "{}: {rest} of consumables besides repairs of {repairs} and a lease of {lease}",
            r["period"]
        );
    }
    assert!(
        repair_months >= 3,
        "the scenario has repairs in several months"
    );
}

#[test]
fn the_mix_segments_partition_the_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert_exit(&run_quiet(SMALL, &out, &[]), 0, SMALL);
    let segments = read_csv(&out.join("alternative_segments.csv"));
    let shops = read_csv(&out.join("alternative_shops.csv"));
    let base_shops = rows_of(&shops, "base");
    for kind in ["frame_mix", "material_mix"] {
        let mut members = 0;
        let mut mountings = 0;
        for t in 1..=3 {
            let name = format!("{kind}:{t}");
            let row = rows_of(&segments, "base")
                .into_iter()
                .find(|r| r["segment"] == name)
                .unwrap_or_else(|| panic!("{name} is tested"));
            // The shops file says which tercile each shop is in: the same shops.
            let in_it: Vec<_> = base_shops
                .iter()
                .filter(|s| s[kind] == t.to_string())
                .collect();
            assert_eq!(cell_i64(row, "shops"), in_it.len() as i64, "{name}");
            let m: i64 = in_it.iter().map(|s| cell_i64(s, "mountings")).sum();
            assert_eq!(cell_i64(row, "mountings"), m, "{name}");
            members += in_it.len();
            mountings += m;
        }
        assert_eq!(members, base_shops.len(), "{kind}: every shop once");
        let all: i64 = base_shops.iter().map(|s| cell_i64(s, "mountings")).sum();
        assert_eq!(mountings, all);
        // Terciles as equal as can be.
        let sizes: Vec<usize> = (1..=3)
            .map(|t| {
                base_shops
                    .iter()
                    .filter(|s| s[kind] == t.to_string())
                    .count()
            })
            .collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }
}
