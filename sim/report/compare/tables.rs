//! comparison.csv: one row per run and pricing, comparison.json's `/rows` in the same order
//! and units (cents; prices per mounting in cents with four decimals); a figure the run did
//! not compute is empty.

use super::{Comparison, Row};
use crate::report::tables::csv_field;
use std::fmt::Write;

pub const HEADER: &str = "label,run,pricing,description,reconciled,invoices,revenue_cents,\
     cost_cents,margin_cents,shops_at_loss,at_loss_mountings_share,mountings,\
     price_per_mounting_cents,gini,p10_cents,p50_cents,p90_cents,regret_cents,\
     shops_failing_stand_alone,shops_failing_incremental,same_fleet";

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn float4(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

pub fn comparison_csv(c: &Comparison) -> String {
    let mut out = format!("{HEADER}\n");
    for r in &c.rows {
        row(&mut out, c, r);
    }
    out
}

fn row(out: &mut String, c: &Comparison, r: &Row) {
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        csv_field(&r.label),
        csv_field(&c.runs[r.run].label),
        csv_field(&r.pricing),
        csv_field(&r.description),
        r.reconciled,
        r.invoices,
        r.revenue_cents,
        opt(r.cost_cents),
        opt(r.margin_cents),
        opt(r.shops_at_loss),
        float4(r.at_loss_mountings_share),
        r.mountings,
        float4(r.price_per_mounting_cents),
        float4(r.gini),
        float4(r.p10_cents),
        float4(r.p50_cents),
        float4(r.p90_cents),
        opt(r.regret_cents),
        opt(r.shops_failing_stand_alone),
        opt(r.shops_failing_incremental),
        c.same_fleet,
    );
}
