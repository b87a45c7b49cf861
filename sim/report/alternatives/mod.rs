//! `[[alternative]]` runs: every pricing billed on the one fleet, side by side. One entry
//! point, [`view`], gives the page's section and the CSVs it links to; [`summary`] gives
//! summary.json's `/alternatives`. Everything comes from the run's `pricing::Evaluation` (the
//! bills, their reconciliations, the judgements) and `RunData` (the fleet, the truth).
//!
//! - `sides`: each pricing's figures per month and per shop, from its invoices;
//! - `tables`, `charts`: the CSVs and the SVG charts;
//! - `page`: the HTML section.

mod charts;
mod page;
mod sides;
mod tables;

use super::figure::Figure;
use crate::pricing::Evaluation;
use crate::report::RunData;
use serde::Serialize;
use sides::Side;

pub const ALTERNATIVES_CSV: &str = "alternatives.csv";
pub const ALTERNATIVE_INVOICES_CSV: &str = "alternative_invoices.csv";
pub const ALTERNATIVE_SHOPS_CSV: &str = "alternative_shops.csv";
pub const ALTERNATIVE_SEGMENTS_CSV: &str = "alternative_segments.csv";
pub const ALTERNATIVE_MONTHLY_CSV: &str = "alternative_monthly.csv";

/// The alternatives section of index.html, its charts and the files it links to, (name,
/// content).
pub struct View {
    pub html: String,
    pub figures: Vec<Figure>,
    pub files: Vec<(&'static str, String)>,
    /// summary.json's `/alternatives`.
    pub summary: Vec<AlternativeSummary>,
}

/// alternative_invoices.csv in `dir`: streamed, not part of the view's files (it is the
/// largest file a run writes).
pub fn write_invoices(dir: &std::path::Path, d: &RunData, e: &Evaluation) -> std::io::Result<()> {
    tables::write_invoices(&dir.join(ALTERNATIVE_INVOICES_CSV), d, e)
}

pub fn view(d: &RunData, e: &Evaluation) -> View {
    let sides = sides::sides(d, e);
    let files = vec![
        (ALTERNATIVES_CSV, tables::alternatives_csv(&sides)),
        (ALTERNATIVE_SHOPS_CSV, tables::shops_csv(d, e, &sides)),
        (ALTERNATIVE_SEGMENTS_CSV, tables::segments_csv(e, &sides)),
        (ALTERNATIVE_MONTHLY_CSV, tables::monthly_csv(d, &sides)),
    ];
    let (html, figures) = page::section(d, e, &sides);
    View {
        html,
        figures,
        files,
        summary: sides.iter().map(Side::summary).collect(),
    }
}

/// summary.json's `/alternatives/N`: one pricing, base first.
#[derive(Clone, Debug, Serialize)]
pub struct AlternativeSummary {
    pub id: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSummary>,
    /// Its reconciliation passed (the base's is the run's).
    pub reconciled: bool,
    /// Findings of its catalogue's consistency check (absent: no catalogue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalogue_findings: Option<usize>,
    pub invoices: u64,
    /// Invoiced net of VAT.
    pub revenue_cents: i64,
    /// SLA and other credits (negative lines), included in the revenue.
    pub credits_cents: i64,
    pub mountings: u64,
    pub price_per_mounting_cents: Option<f64>,
    pub gini: f64,
    pub p10_cents: Option<f64>,
    pub p50_cents: Option<f64>,
    pub p90_cents: Option<f64>,
    pub bill_cv_median: Option<f64>,
    pub regret_cents: i64,
    pub cheapest_for: usize,
    /// The month it invoices most, and how much.
    pub peak_month: Option<String>,
    pub peak_month_cents: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub costs: Option<CostSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepSummary {
    pub sweep: String,
    pub field: &'static str,
    /// As in the alternative's id: `3.00`, `0.15`, `120`.
    pub value: String,
    /// What the value counts: `EUR per mounting`, `margin`, `mountings included`.
    pub unit: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct CostSummary {
    pub cost_cents: i64,
    pub margin_cents: i64,
    pub shops_at_loss: usize,
    pub at_loss_mountings_share: f64,
    pub spearman_price_cost: Option<f64>,
    /// Single shops paying above their stand-alone cost, and below their incremental cost.
    pub shops_failing_stand_alone: usize,
    pub shops_failing_incremental: usize,
    /// Segments (chains, independents, volume deciles, regions) failing each test.
    pub segments_failing_stand_alone: Vec<String>,
    pub segments_failing_incremental: Vec<String>,
    pub overpaid_cents: i64,
    pub subsidised_cents: i64,
    /// What the mountings lost to downtime would have paid at each shop's price per mounting.
    pub revenue_lost_to_failures_cents: i64,
    /// The provider's cash over the term: the lowest the cumulative margin falls (what it
    /// must fund; 0 when it never goes below), and in which month.
    pub cumulative_margin_low_cents: i64,
    pub cumulative_margin_low_month: Option<String>,
    /// Months whose revenue is below that month's cost to serve.
    pub months_at_loss: usize,
    /// The month from which the cumulative margin stays at or above 0 (absent: it ends
    /// below, or never rises above after falling).
    pub break_even_month: Option<String>,
}
