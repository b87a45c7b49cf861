//! Everything a run writes to its output folder. Deterministic for a scenario and seed,
//! except `summary.json`'s `/run` section (wall-clock timings).

pub mod alternatives;
mod chart;
pub mod compare;
mod figure;
mod html;
pub mod load;
mod png;
mod service;
mod summary;
mod tables;

pub use service::{LOST_MOUNTINGS_CSV, REPAIRS_CSV, SERVICE_MONTHLY_CSV, SERVICE_VS_QUOTE_CSV};
pub use summary::Summary;

pub use figure::{Figure, CHARTS_DIR};

use crate::actors::SimOutcome;
use crate::billing::{Contract, Invoice, PriceBook};
use crate::calendar::Calendar;
use crate::calendar::Period;
use crate::fleet::Fleet;
use crate::metering::{CounterUsageRow, IngestReceipt, UsageRow};
use crate::reconcile::Reconciliation;
use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

pub const SUMMARY_JSON: &str = "summary.json";
pub const INVOICES_CSV: &str = "invoices.csv";
pub const SHOPS_CSV: &str = "shops.csv";
pub const INDEX_HTML: &str = "index.html";
/// Written when the scenario has `[quote]`.
pub const QUOTES_CSV: &str = "quotes.csv";
/// Written when plan invoices carry notes.
pub const INVOICE_NOTES_CSV: &str = "invoice_notes.csv";

/// `[quote]`: the quotes, the contracts they set, and how they fared out of sample.
pub struct QuoteData {
    /// Index of the first period billed at the quoted prices.
    pub first_period: usize,
    /// Per shop, from `first_period` on.
    pub contracts: Vec<Contract>,
    pub outcomes: Vec<crate::quote::backtest::Outcome>,
    pub summary: crate::quote::backtest::QuoteSummary,
    pub model: crate::quote::CostModel,
}

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub wall_seconds: f64,
    pub simulate_seconds: f64,
    pub threads: usize,
    /// Per day batch through the metering engine: p50, p99, max (µs).
    pub batch_latency_us: [u64; 3],
    /// `budget::estimate`'s total for the scenario, and the process's peak RSS before the
    /// reports are written (where the system tells it).
    pub memory_estimate_bytes: u64,
    pub peak_rss_bytes: Option<u64>,
}

/// Everything known at the end of a run.
pub struct RunData<'a> {
    pub scenario: &'a Scenario,
    pub fleet: &'a Fleet,
    pub calendar: &'a Calendar,
    pub periods: &'a [Period],
    pub outcome: &'a SimOutcome,
    pub usage: &'a [Vec<UsageRow>],
    /// Per period: counter usage after VEE, as the engine answered.
    pub counters: &'a [Vec<CounterUsageRow>],
    /// Per period, per shop id: the invoice the engine issued.
    pub invoices: &'a [Vec<Option<Invoice>>],
    /// Per period: plan invoices' notes (what is included and not, proration, …), by shop.
    pub notes: &'a [std::collections::BTreeMap<crate::event::ShopId, Vec<String>>],
    /// Per shop id.
    pub contracts: &'a [Contract],
    pub book: &'a PriceBook,
    pub receipt: IngestReceipt,
    pub reconciliation: &'a Reconciliation,
    pub timing: Timing,
    /// `[quote]` runs only.
    pub quotes: Option<&'a QuoteData>,
    /// `[service]` runs only: cost to serve and the field's figures.
    pub service: Option<&'a crate::service::outcome::FieldOutcome>,
    /// `[[alternative]]` runs only: every pricing billed, reconciled and judged.
    pub pricings: Option<&'a crate::pricing::Evaluation>,
}

/// Writes summary.json, invoices.csv, shops.csv, the field's CSVs (`[service]` runs), the
/// alternatives' CSVs (`[[alternative]]` runs) and (unless disabled) index.html with its
/// main charts as `charts/<slug>.png`.
pub fn write_all(dir: &Path, data: &RunData) -> Result<Summary, (PathBuf, std::io::Error)> {
    let mut priced = data.pricings.map(|e| alternatives::view(data, e));
    let summary = Summary::build(
        data,
        priced.as_mut().map(|v| std::mem::take(&mut v.summary)),
    );
    let json =
        serde_json::to_string_pretty(&summary).map_err(|e| (dir.join(SUMMARY_JSON), e.into()))?;
    write(dir, SUMMARY_JSON, &(json + "\n"))?;
    let path = dir.join(INVOICES_CSV);
    let base = [(String::new(), data.invoices)];
    tables::write_invoice_lines(&path, tables::INVOICE_LINE_HEADER, data.fleet, &base)
        .map_err(|e| (path, e))?;
    write(dir, SHOPS_CSV, &tables::shops_csv(data))?;
    if data.notes.iter().any(|per| !per.is_empty()) {
        write(dir, INVOICE_NOTES_CSV, &tables::invoice_notes_csv(data))?;
    }
    if let Some(q) = data.quotes {
        let csv = crate::quote::backtest::quotes_csv(&q.outcomes, data.fleet, &q.model);
        write(dir, QUOTES_CSV, &csv)?;
    }
    let field = data.service.map(|f| service::view(data, f));
    for (name, content) in field.iter().flat_map(|v| &v.files) {
        write(dir, name, content)?;
    }
    for (name, content) in priced.iter().flat_map(|v| &v.files) {
        write(dir, name, content)?;
    }
    if let Some(e) = data.pricings {
        alternatives::write_invoices(dir, data, e)
            .map_err(|err| (dir.join(alternatives::ALTERNATIVE_INVOICES_CSV), err))?;
    }
    if data.scenario.output.html {
        let sections: Vec<&str> = [
            &field.as_ref().map(|v| &v.html),
            &priced.as_ref().map(|v| &v.html),
        ]
        .into_iter()
        .flatten()
        .map(|h| h.as_str())
        .collect();
        let page = html::page(data, &summary, &sections);
        let figures = field.iter().flat_map(|v| &v.figures);
        let figures = figures.chain(priced.iter().flat_map(|v| &v.figures));
        write_pngs(dir, page.figures.iter().chain(figures))?;
        write(dir, INDEX_HTML, &page.html)?;
    }
    Ok(summary)
}

/// The main figures as `charts/<slug>.png`, the files index.html links to.
fn write_pngs<'a>(
    dir: &Path,
    figures: impl Iterator<Item = &'a Figure>,
) -> Result<(), (PathBuf, std::io::Error)> {
    let folder = dir.join(CHARTS_DIR);
    let mut made = false;
    for f in figures {
        let (Some(name), Ok(svg)) = (f.png_path(), &f.svg) else {
            continue;
        };
        let path = dir.join(name);
        if !made {
            std::fs::create_dir_all(&folder).map_err(|e| (folder.clone(), e))?;
            made = true;
        }
        let bytes = png::png(svg).map_err(|e| (path.clone(), std::io::Error::other(e)))?;
        std::fs::write(&path, bytes).map_err(|e| (path, e))?;
    }
    Ok(())
}

fn write(dir: &Path, name: &str, content: &str) -> Result<(), (PathBuf, std::io::Error)> {
    let path = dir.join(name);
    std::fs::write(&path, content).map_err(|e| (path, e))
}
