//! The field's CSVs: repairs.csv, service_monthly.csv, lost_mountings.csv. Fields are
//! identifiers, integers, decimals and UTC times rendered here: nothing needs quoting.

use super::figures::{self, Month, ShopMonth};
use crate::event::ShopId;
use crate::report::RunData;
use crate::service::dispatch::hours_between;
use crate::service::start::promise_of;
use crate::service::Repair;
use chrono::DateTime;
use std::fmt::Write;

pub const REPAIRS_HEADER: &str = "shop,machine,period,cause,failed_at,responded_at,restored_at,returned_at,response_hours,repair_hours,remote,visits,loaner,labour_minutes,travel_km,parts_cents,within_promise";

/// One row per repair, by failure time (then shop, machine).
pub fn repairs_csv(d: &RunData) -> String {
    let mut out = String::from(REPAIRS_HEADER);
    out.push('\n');
    for r in figures::sorted_repairs(&d.outcome.repairs) {
        repair_row(&mut out, d, r);
    }
    out
}

fn repair_row(out: &mut String, d: &RunData, r: &Repair) {
    let f = &r.failure;
    let incident = r.incident();
    let promise = promise_of(d.scenario, f.shop.0);
    let period = &d.periods[d.calendar.period_of(f.day) as usize];
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        f.shop,
        f.machine,
        period,
        f.cause.as_str(),
        utc(f.time),
        utc(r.responded),
        utc(r.restored),
        utc(r.returned),
        incident.response_hours,
        incident.repair_hours,
        r.remote,
        r.visits,
        r.loaner.map(|m| m.to_string()).unwrap_or_default(),
        r.labour_minutes,
        r.travel_km,
        f.parts_cents,
        figures::within_promise(r, &promise),
    );
}

/// Unix seconds as `2024-01-05T10:23:00Z`.
fn utc(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// One row per month: incidents by cause, downtime, lost and waited mountings, the repairs'
/// cost by component.
pub fn monthly_csv(d: &RunData, months: &[Month]) -> String {
    let mut out = String::from("period,incidents");
    for cause in figures::cause_names() {
        let _ = write!(out, ",{cause}");
    }
    out.push_str(",downtime_hours,lost_mountings,waited_mountings,parts_cents,labour_cents,travel_cents,loaner_cents,repair_cost_cents\n");
    for (period, m) in d.periods.iter().zip(months) {
        let _ = write!(out, "{period},{}", m.incident_count());
        for n in m.incidents {
            let _ = write!(out, ",{n}");
        }
        let c = &m.repairs;
        let _ = writeln!(
            out,
            ",{},{},{},{},{},{},{},{}",
            hours_between(0, m.downtime_seconds),
            m.lost,
            m.waited,
            c.parts_cents,
            c.labour_cents,
            c.travel_cents,
            c.loaner_cents,
            c.total()
        );
    }
    out
}

/// One row per shop and month with a lost or waited mounting.
pub fn lost_csv(d: &RunData, rows: &[ShopMonth]) -> String {
    let mut out = String::from("shop,period,lost,waited\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            ShopId(r.shop),
            &d.periods[r.period],
            r.lost,
            r.waited
        );
    }
    out
}
