//! `fleetsim compare RUN_DIR...`: one report from several runs' folders, every pricing of
//! every run side by side. [`build`] reads the folders (`summary.json`, checked against
//! `alternatives.csv`) into a [`Comparison`]; [`write`] writes comparison.csv,
//! comparison.json, index.html and the main charts as `charts/<slug>.png`. Nothing is
//! simulated or billed again: every figure is one a run wrote.
//!
//! - `input`: what is read of a run folder;
//! - `tables`: comparison.csv;
//! - `charts`, `page`: the SVG charts and index.html.

mod charts;
mod input;
mod page;
mod tables;

use input::{Alternative, Read, RunFile};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const COMPARISON_CSV: &str = "comparison.csv";
pub const COMPARISON_JSON: &str = "comparison.json";

/// What the banner and comparison.json say when the runs did not simulate one fleet.
pub const DIFFERENT_FLEETS: &str = "different fleets: differences are not from pricing alone";

/// Why runs could not be compared, or the comparison not written.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(
        "compare needs at least 2 run folders, got {0}: fleetsim compare RUN_DIR RUN_DIR... \
         [--out DIR]"
    )]
    TooFew(usize),
    #[error(
        "{}: not a run folder: {why} (a folder written by `fleetsim run SCENARIO --out DIR`)",
        path.display()
    )]
    NotARunFolder { path: PathBuf, why: String },
    #[error("{}: not a fleetsim run's file: {why}", path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("{} and {} are the same run folder: give each run once", .0.display(), .1.display())]
    Twice(PathBuf, PathBuf),
    #[error(
        "{} bills in {}, {} in {}: amounts in different currencies cannot be compared",
        .0.display(), .1, .2.display(), .3
    )]
    Currencies(PathBuf, String, PathBuf, String),
    #[error(
        "--out {}: is the run folder {}; the comparison would overwrite that run's index.html \
         and charts: choose another folder",
        .0.display(), .1.display()
    )]
    OutIsARun(PathBuf, PathBuf),
    #[error("{}: {}", .0.display(), .1)]
    Read(PathBuf, std::io::Error),
    /// Writing the comparison failed (a runtime failure, not bad input).
    #[error("{}: {}", .0.display(), .1)]
    Write(PathBuf, std::io::Error),
}

impl CompareError {
    /// Whether the caller can fix it by changing the arguments or the folders (else: I/O).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, CompareError::Write(..))
    }
}

/// comparison.json.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub runs: Vec<Run>,
    /// Every run simulated the same fleet (scenario seed, start, months, shops, machines and
    /// billable mountings all equal): the pricings differ by pricing alone.
    pub same_fleet: bool,
    /// [`DIFFERENT_FLEETS`] and what differs, empty when `same_fleet`.
    pub warnings: Vec<String>,
    pub currency: String,
    /// One per run and pricing, runs in the order given, a run's pricings base first.
    pub rows: Vec<Row>,
    #[serde(skip)]
    canonical: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The scenario's name, with its folder's name when two runs have the same.
    pub label: String,
    /// The folder as given on the command line.
    pub dir: String,
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub start: String,
    pub months: u32,
    pub shops: u64,
    pub machines: u64,
    pub billable_mountings: u64,
    /// The run priced `[[alternative]]`s (else its one pricing is its `[pricing]`).
    pub alternatives: bool,
}

/// One pricing of one run. Money in cents, net of VAT; a figure the run did not compute
/// (no field simulated, no alternatives) is null.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `<run label>/<pricing id>`; a run without alternatives is `<run label>/base`.
    pub label: String,
    /// Index into `runs`.
    pub run: usize,
    pub pricing: String,
    pub description: String,
    pub reconciled: bool,
    pub invoices: u64,
    pub revenue_cents: i64,
    pub cost_cents: Option<i64>,
    pub margin_cents: Option<i64>,
    pub shops_at_loss: Option<usize>,
    pub at_loss_mountings_share: Option<f64>,
    pub mountings: u64,
    pub price_per_mounting_cents: Option<f64>,
    pub gini: Option<f64>,
    pub p10_cents: Option<f64>,
    pub p50_cents: Option<f64>,
    pub p90_cents: Option<f64>,
    /// Within its own run's set of pricings (0 for the one pricing of a run without
    /// alternatives would say nothing: null).
    pub regret_cents: Option<i64>,
    pub shops_failing_stand_alone: Option<usize>,
    pub shops_failing_incremental: Option<usize>,
}

/// Reads every run folder and lines their pricings up.
pub fn build(dirs: &[PathBuf]) -> Result<Comparison, CompareError> {
    if dirs.len() < 2 {
        return Err(CompareError::TooFew(dirs.len()));
    }
    let read = dirs
        .iter()
        .map(|d| input::read(d))
        .collect::<Result<Vec<_>, _>>()?;
    refuse_twice(&read)?;
    let currency = one_currency(&read)?;
    let labels = labels(&read);
    let runs: Vec<Run> = read
        .iter()
        .zip(&labels)
        .map(|(r, label)| run_of(r, label))
        .collect();
    let warnings = fleet_differences(&runs);
    let rows = read
        .iter()
        .enumerate()
        .flat_map(|(i, r)| rows_of(i, &runs[i].label, &r.file))
        .collect();
    Ok(Comparison {
        same_fleet: warnings.is_empty(),
        warnings,
        currency,
        rows,
        canonical: read.into_iter().map(|r| r.canonical).collect(),
        runs,
    })
}

fn refuse_twice(read: &[Read]) -> Result<(), CompareError> {
    for (i, a) in read.iter().enumerate() {
        if let Some(b) = read[..i].iter().find(|b| b.canonical == a.canonical) {
            return Err(CompareError::Twice(b.given.clone(), a.given.clone()));
        }
    }
    Ok(())
}

fn one_currency(read: &[Read]) -> Result<String, CompareError> {
    let first = &read[0];
    match read
        .iter()
        .find(|r| r.file.billed.currency != first.file.billed.currency)
    {
        Some(other) => Err(CompareError::Currencies(
            first.given.clone(),
            first.file.billed.currency.clone(),
            other.given.clone(),
            other.file.billed.currency.clone(),
        )),
        None => Ok(first.file.billed.currency.clone()),
    }
}

/// The scenario's name; where two runs share it, `name (folder)`, and where the folders'
/// names are the same too, `name (folder as given)`.
fn labels(read: &[Read]) -> Vec<String> {
    let shared = |r: &Read| {
        read.iter()
            .filter(|o| o.file.scenario == r.file.scenario)
            .count()
            > 1
    };
    let folder = |r: &Read| {
        r.canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let first: Vec<String> = read
        .iter()
        .map(|r| match shared(r) {
            true => format!("{} ({})", r.file.scenario, folder(r)),
            false => r.file.scenario.clone(),
        })
        .collect();
    first
        .iter()
        .zip(read)
        .map(
            |(label, r)| match first.iter().filter(|l| *l == label).count() {
                1 => label.clone(),
                _ => format!("{} ({})", r.file.scenario, r.given.display()),
            },
        )
        .collect()
}

fn run_of(r: &Read, label: &str) -> Run {
    let f = &r.file;
    Run {
        label: label.to_string(),
        dir: r.given.display().to_string(),
        scenario: f.scenario.clone(),
        description: f.description.clone(),
        seed: f.seed,
        start: f.start.clone(),
        months: f.months,
        shops: f.shops,
        machines: f.machines,
        billable_mountings: f.truth.billable_mountings,
        alternatives: f.alternatives.is_some(),
    }
}

/// A figure of a run that tells fleets apart, as text.
type Figure = fn(&Run) -> String;

/// What tells the fleets apart, one sentence per differing figure (nothing when the same).
fn fleet_differences(runs: &[Run]) -> Vec<String> {
    let figures: [(&str, Figure); 6] = [
        ("seed", |r| r.seed.to_string()),
        ("start", |r| r.start.clone()),
        ("months", |r| r.months.to_string()),
        ("shops", |r| r.shops.to_string()),
        ("machines", |r| r.machines.to_string()),
        ("billable mountings", |r| r.billable_mountings.to_string()),
    ];
    let mut differ = Vec::new();
    for (name, of) in figures {
        if runs.iter().any(|r| of(r) != of(&runs[0])) {
            let each: Vec<String> = runs
                .iter()
                .map(|r| format!("{} {}", r.label, of(r)))
                .collect();
            differ.push(format!("{name}: {}", each.join(", ")));
        }
    }
    if differ.is_empty() {
        return differ;
    }
    let mut warnings = vec![DIFFERENT_FLEETS.to_string()];
    warnings.extend(differ);
    warnings
}

fn rows_of(run: usize, label: &str, f: &RunFile) -> Vec<Row> {
    match &f.alternatives {
        Some(alternatives) => alternatives
            .iter()
            .map(|a| alternative_row(run, label, a))
            .collect(),
        None => vec![pricing_row(run, label, f)],
    }
}

fn alternative_row(run: usize, label: &str, a: &Alternative) -> Row {
    let c = a.costs.as_ref();
    Row {
        label: format!("{label}/{}", a.id),
        run,
        pricing: a.id.clone(),
        description: a.description.clone(),
        reconciled: a.reconciled,
        invoices: a.invoices,
        revenue_cents: a.revenue_cents,
        cost_cents: c.map(|c| c.cost_cents),
        margin_cents: c.map(|c| c.margin_cents),
        shops_at_loss: c.map(|c| c.shops_at_loss),
        at_loss_mountings_share: c.map(|c| c.at_loss_mountings_share),
        mountings: a.mountings,
        price_per_mounting_cents: a.price_per_mounting_cents,
        gini: Some(a.gini),
        p10_cents: a.p10_cents,
        p50_cents: a.p50_cents,
        p90_cents: a.p90_cents,
        regret_cents: Some(a.regret_cents),
        shops_failing_stand_alone: c.map(|c| c.shops_failing_stand_alone),
        shops_failing_incremental: c.map(|c| c.shops_failing_incremental),
    }
}

/// A run without alternatives: its `[pricing]` from the billed totals. Revenue is net of
/// VAT, like the alternatives'; the per-shop figures (Gini, quantiles, losses) were not
/// computed by the run and stay null.
fn pricing_row(run: usize, label: &str, f: &RunFile) -> Row {
    let vat = f.billed.by_group.get("vat").copied().unwrap_or(0);
    let revenue = f.billed.total_cents - vat;
    let mountings = f.truth.billable_mountings;
    let cost = f.service.as_ref().map(|s| s.cost_cents);
    Row {
        label: format!("{label}/base"),
        run,
        pricing: "base".into(),
        description: f.description.clone(),
        reconciled: f.reconciliation.ok,
        invoices: f.billed.invoices,
        revenue_cents: revenue,
        cost_cents: cost,
        margin_cents: cost.map(|c| revenue - c),
        shops_at_loss: None,
        at_loss_mountings_share: None,
        mountings,
        // As `analysis::tariffs` computes it: revenue ÷ the truth's billable mountings.
        price_per_mounting_cents: (mountings > 0)
            .then(|| round4(revenue as f64 / mountings as f64)),
        gini: None,
        p10_cents: None,
        p50_cents: None,
        p90_cents: None,
        regret_cents: None,
        shops_failing_stand_alone: None,
        shops_failing_incremental: None,
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Writes comparison.csv, comparison.json, index.html and `charts/<slug>.png` into `out`
/// (created if missing), which must not be one of the runs' folders.
pub fn write(out: &Path, c: &Comparison) -> Result<(), CompareError> {
    refuse_out_in_runs(out, c)?;
    std::fs::create_dir_all(out).map_err(|e| CompareError::Write(out.to_path_buf(), e))?;
    let json = serde_json::to_string_pretty(c)
        .map_err(|e| CompareError::Write(out.join(COMPARISON_JSON), e.into()))?;
    put(out, COMPARISON_JSON, &(json + "\n"))?;
    put(out, COMPARISON_CSV, &tables::comparison_csv(c))?;
    let page = page::page(c);
    super::write_pngs(out, page.figures.iter()).map_err(|(p, e)| CompareError::Write(p, e))?;
    put(out, super::INDEX_HTML, &page.html)
}

fn refuse_out_in_runs(out: &Path, c: &Comparison) -> Result<(), CompareError> {
    // A folder that does not exist yet is none of the runs' (they exist).
    let Ok(canonical) = out.canonicalize() else {
        return Ok(());
    };
    match c.canonical.iter().position(|r| *r == canonical) {
        Some(i) => Err(CompareError::OutIsARun(
            out.to_path_buf(),
            PathBuf::from(&c.runs[i].dir),
        )),
        None => Ok(()),
    }
}

fn put(dir: &Path, name: &str, content: &str) -> Result<(), CompareError> {
    let path = dir.join(name);
    std::fs::write(&path, content).map_err(|e| CompareError::Write(path, e))
}
